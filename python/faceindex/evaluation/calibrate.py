"""Building a pack's calibration tables from a labelled folder of photos (`faceindex calibrate`,
`make calibrate`): one embedding per photo (its largest face), every pair of photos
scored, impostor pairs (different identities) and genuine pairs (the same one): a table of
the cosines, and one of the same pairs' AS-norm scores (issue 29).

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
from faceindex.evaluation.normalised_scores import normalised_pair_scores
from faceindex.evaluation.table_builder import build_table, pair_scores, provenance
from faceindex.thresholds.calibration_table import TAIL_SCORES, CalibrationTable
from faceindex.types import PackInfo, PackRef



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


def largest_faces(engine: FaceEngine, photos: Sequence[Path], on_photo: Callable[[Path], None] | None = None
                  ) -> tuple[list[np.ndarray], list[int], int]:
    """The embedding of the largest face of each photo that has one, the positions of those
    photos, and how many photos had no face (or could not be read)."""
    vectors, kept, missed = [], [], 0
    for i, path in enumerate(photos):
        try:
            found = engine.find(path, embed="largest").detections
        except FaceIndexError:
            found = None
        if found is not None and len(found) and found.embeddings is not None:
            vectors.append(found.embeddings[0])
            kept.append(i)
        else:
            missed += 1
        if on_photo is not None:
            on_photo(path)
    return vectors, kept, missed


def embed_photos(engine: FaceEngine, photos: Sequence[tuple[Path, str]],
                 on_photo: Callable[[Path], None] | None = None) -> tuple[np.ndarray, list[str], int]:
    """Embeddings of the largest face of each photo, their labels, and how many photos had no face
    (or could not be read): those are left out of the pairs and counted in the provenance."""
    vectors, kept, missed = largest_faces(engine, [path for path, _ in photos], on_photo)
    if len(vectors) < 3:
        raise CalibrationError(f"faces were found in only {len(vectors)} of {len(photos)} photos")
    return np.stack(vectors).astype(np.float32), [photos[i][1] for i in kept], missed


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
        if estimate.beyond_table:  # what the tail fitted on the tenth predicts there (it is not trusted yet)
            estimate = fitted.tail_estimate(t)
        checks.append({"threshold": round(t, 6), "counted_fmr": count / len(impostor),
                       "fitted_on_a_tenth": estimate.value, "interval": [estimate.low, estimate.high],
                       "from_tail": estimate.beyond_table})
    return checks


def calibrate(engine: FaceEngine, folder: Path, dataset: str, on_photo: Callable[[Path], None] | None = None,
              as_norm: bool = True) -> tuple[CalibrationTable, CalibrationTable | str | None]:
    """The pack's table of cosines and (as_norm) its table of AS-norm scores, from the same photos."""
    photos = labelled_photos(folder)
    vectors, labels, missed = embed_photos(engine, photos, on_photo)
    return tables_of(vectors, labels, engine.pack, dataset, len(photos), len({label for _, label in photos}), as_norm)


def tables_of(vectors: np.ndarray, labels: Sequence[str], pack: PackInfo, dataset: str, photos: int, identities: int,
              as_norm: bool = True) -> tuple[CalibrationTable, CalibrationTable | str | None]:
    """Both tables from the embeddings of the photos with a face (one per photo) and their labels
    (the second: why there is none, where the photos are too few for cohorts of other people).

    The AS-norm table scores the same pairs, each normalised against a cohort of 1,000 faces from
    the identity groups that hold neither of its faces (evaluation/normalised_scores.py)."""
    impostor, genuine = pair_scores(vectors, labels)
    info = provenance(dataset, images=photos, identities=identities, faces_found=len(vectors),
                      pipeline=f"FaceEngine defaults, the largest face of each photo; pack {pack.name} "
                               f"{pack.version} ({pack.detector}; {pack.recognizer})")
    info["tail_check"] = tail_check(impostor)
    cosine = build_table(impostor, genuine, pack.ref, info)
    if not as_norm:
        return cosine, None
    del impostor
    try:
        z_impostor, z_genuine, how = normalised_pair_scores(vectors, labels)
    except CalibrationError as e:
        return cosine, f"no table of AS-norm scores: {e}"
    normalised = dict(info, score_normalisation=how, tail_check=tail_check(z_impostor))
    return cosine, build_table(z_impostor, z_genuine, pack.ref, normalised, score="as-norm")

