"""Building a calibration table from a labelled folder of photos (`faceindex calibrate`,
`make calibrate`): one embedding per photo (its largest face), every pair of photos
scored, impostor pairs (different identities) and genuine pairs (the same one).

The fitted tail is checked on the spot: fitted again on a tenth of the impostor pairs,
it predicts the FMR at thresholds that only the whole set resolves; the predictions and
what was counted go into the table's provenance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceindex.engine import FaceEngine
from faceindex.errors import CalibrationError, FaceIndexError
from faceindex.media_files import IMAGE_SUFFIXES
from faceindex.evaluation.table_builder import build_table, pair_scores, provenance
from faceindex.thresholds.calibration_table import TAIL_SCORES, CalibrationTable
from faceindex.types import PackRef



def labelled_photos(folder: Path) -> list[tuple[Path, str]]:
    """(photo, identity) for every image in folder/<identity>/, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"{folder} is not a folder of identity sub-folders")
    photos = [(p, person.name) for person in sorted(folder.iterdir()) if person.is_dir()
              for p in sorted(person.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if len({label for _, label in photos}) < 2:
        raise CalibrationError(f"{folder} needs photos of at least two identities, one sub-folder each")
    return photos


def embed_photos(engine: FaceEngine, photos: Sequence[tuple[Path, str]],
                 on_photo: Callable[[Path], None] | None = None) -> tuple[np.ndarray, list[str], int]:
    """Embeddings of the largest face of each photo, their labels, and how many photos had no face
    (or could not be read): those are left out of the pairs and counted in the provenance."""
    vectors, labels, missed = [], [], 0
    for path, label in photos:
        try:
            found = engine.find(path, embed="largest").detections
        except FaceIndexError:
            found = None
        if found is not None and len(found) and found.embeddings is not None:
            vectors.append(found.embeddings[0])
            labels.append(label)
        else:
            missed += 1
        if on_photo is not None:
            on_photo(path)
    if len(vectors) < 3:
        raise CalibrationError(f"faces were found in only {len(vectors)} of {len(photos)} photos")
    return np.stack(vectors).astype(np.float32), labels, missed


def tail_check(impostor: np.ndarray, seed: int = 0) -> list[dict[str, Any]]:
    """The tail fitted on a tenth of the impostor pairs, against the counts of all of them at the
    thresholds where all of them still see 30, 10 and 3 pairs."""
    rng = np.random.default_rng(seed)
    part = impostor[rng.random(len(impostor)) < 0.1]
    if len(part) < 5 * TAIL_SCORES:
        return []  # too few pairs for a check (a small folder of one's own)
    fitted = build_table(part, np.zeros(10), PackRef("tail-check", "0"), {})
    ranked = np.sort(impostor)[::-1]
    checks = []
    for count in (30, 10, 3):
        if count > len(ranked):
            continue
        t = float(ranked[count - 1])
        estimate = fitted.fmr_at(t)
        checks.append({"threshold": round(t, 6), "counted_fmr": count / len(impostor),
                       "fitted_on_a_tenth": estimate.value, "interval": [estimate.low, estimate.high],
                       "from_tail": estimate.beyond_table})
    return checks


def calibrate(engine: FaceEngine, folder: Path, dataset: str, on_photo: Callable[[Path], None] | None = None
              ) -> CalibrationTable:
    photos = labelled_photos(folder)
    vectors, labels, missed = embed_photos(engine, photos, on_photo)
    impostor, genuine = pair_scores(vectors, labels)
    info = provenance(dataset, images=len(photos), identities=len({label for _, label in photos}),
                      faces_found=len(photos) - missed,
                      pipeline=f"FaceEngine defaults, the largest face of each photo; pack {engine.pack.name} "
                               f"{engine.pack.version} ({engine.pack.detector}; {engine.pack.recognizer})")
    info["tail_check"] = tail_check(impostor)
    return build_table(impostor, genuine, engine.pack.ref, info)

