"""LFW verification with a model pack, shared by the ONNX tests (a sample) and
benchmarks (every pair): one embedding per photo, one similarity per pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Iterable, Sequence

import numpy as np

from faceindex import load_image
from faceindex.evaluation.lfw import LfwPair
from faceindex.types import Face

# A pair with no face found in one of its photos scores this: rejected, and
# counted in every rate rather than dropped.
NO_FACE_SIMILARITY = -1.0


def central_face(faces: Sequence[Face], width: int, height: int) -> Face | None:
    """The subject of a portrait crop: large and near the centre (insightface's max_num
    ranking: area minus twice the squared offset of the box centre)."""
    if not faces:
        return None

    def rank(face: Face) -> float:
        cx, cy = (face.bbox[0] + face.bbox[2]) / 2, (face.bbox[1] + face.bbox[3]) / 2
        return face.area - 2.0 * ((cx - width / 2) ** 2 + (cy - height / 2) ** 2)

    return max(faces, key=rank)


def embed_subjects(pack: Any, paths: Iterable[Path]) -> tuple[dict[Path, np.ndarray], list[Path]]:
    """One embedding per photo (its central face), and the photos where no face was found."""
    embeddings: dict[Path, np.ndarray] = {}
    missed: list[Path] = []
    for path in paths:
        rgb = load_image(path)
        face = central_face(pack.detect(rgb), rgb.shape[1], rgb.shape[0])
        if face is None:
            missed.append(path)
        else:
            embeddings[path] = pack.embed(rgb, [face])[0]
    return embeddings, missed


def pair_similarities(pack: Any, pairs: Sequence[LfwPair]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Path]]:
    """similarity, same, fold per pair (NO_FACE_SIMILARITY where a photo has no face found),
    and the photos without a face."""
    paths = sorted({p for pair in pairs for p in (pair.image_a, pair.image_b)})
    embeddings, missed = embed_subjects(pack, paths)
    similarity = np.array([
        float(embeddings[p.image_a] @ embeddings[p.image_b])
        if p.image_a in embeddings and p.image_b in embeddings else NO_FACE_SIMILARITY
        for p in pairs
    ])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    return similarity, same, folds, missed
