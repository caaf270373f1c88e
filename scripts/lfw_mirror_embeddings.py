"""Measurement only (issue 29): the largest face of every LFW image of folds 0-6 through the
default pack, its dlib descriptor and the descriptor of its mirrored chip (the aligned chip
flipped left-right), cached as one .npz outside the repository. The pack is not changed: the
mirror-averaged embedding is computed here, for the figures of docs/score-normalisation.md only.

    .venv/bin/python scripts/lfw_mirror_embeddings.py ../shared/data/lfw/images /work/cache/i29/lfw.npz
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import faceindex
from faceindex.evaluation.calibrate import labelled_photos
from faceindex.packs.dlib import kernels
from faceindex.packs.dlib.pack import RECOGNIZER_BATCH


def main(images: Path, out: Path) -> None:
    engine = faceindex.FaceEngine()
    pack = engine._pack  # the dlib pack: its chips and recognizer, for the mirrored chip
    photos = labelled_photos(images)
    plain = np.zeros((len(photos), 128), np.float32)
    mirrored = np.zeros((len(photos), 128), np.float32)
    has_face = np.zeros(len(photos), bool)
    start = time.time()
    for i, (path, _) in enumerate(photos):
        found = engine.find(path, embed="largest")
        if len(found.detections):
            chips = pack.face_chips(found.rgb, found.detections)
            both = np.concatenate([chips, chips[:, :, ::-1, :]])  # the chip and its mirror image
            tensor = kernels.chips_to_tensor(np.ascontiguousarray(both), pack._rec_means)
            assert len(both) <= RECOGNIZER_BATCH
            d = pack._recognizer.run({"chips": tensor})[0]
            plain[i], mirrored[i] = d[0], d[1]
            has_face[i] = True
            assert np.allclose(d[0] / np.linalg.norm(d[0]), found.detections.embeddings[0], atol=1e-5)
        if i % 250 == 0:
            print(f"{i}/{len(photos)} {time.time() - start:.0f} s", flush=True)
    np.savez(out, paths=np.array([str(p.relative_to(images)) for p, _ in photos]),
             labels=np.array([label for _, label in photos]), plain=plain, mirrored=mirrored, has_face=has_face,
             pack=np.array(f"{engine.pack.name} {engine.pack.version}"))
    print(f"done: {len(photos)} photos, {int(has_face.sum())} with a face, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
