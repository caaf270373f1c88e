"""`faceindex cohort build DIR`: a cohort for AS-norm (thresholds/score_norm.py) from the user's own
photos: the largest face of every photo under DIR, sampled down to COHORT_SIZE at random (seeded).

The photos should be of many different people, like the people the user compares or searches
(the same cameras, the same population), and ideally not the people themselves. The cohort is
written where compare and small collections find it (thresholds/cohorts.py), readable by its
owner only: it holds embeddings of real people.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from faceindex.engine import FaceEngine
from faceindex.errors import CalibrationError
from faceindex.evaluation.calibrate import largest_faces
from faceindex.media_files import IMAGE_SUFFIXES
from faceindex.thresholds.score_norm import COHORT_SIZE, MIN_COHORT_SIZE, Cohort


def photos_under(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def build_cohort(engine: FaceEngine, folder: Path, seed: int = 0,
                 on_photo: Callable[[Path], None] | None = None) -> tuple[Cohort, int, int]:
    """The cohort, how many photos were read and how many of them gave no face."""
    photos = photos_under(folder)
    vectors, _, missed = largest_faces(engine, photos, on_photo)
    if len(vectors) < MIN_COHORT_SIZE:
        raise CalibrationError(f"a cohort needs faces from at least {MIN_COHORT_SIZE:,} photos; {folder.name} gave "
                               f"{len(vectors)} (of {len(photos)} photos)")
    embeddings = np.stack(vectors).astype(np.float32)
    if len(embeddings) > COHORT_SIZE:
        embeddings = embeddings[np.sort(np.random.default_rng(seed).choice(len(embeddings), COHORT_SIZE,
                                                                           replace=False))]
    day = datetime.now(timezone.utc).date().isoformat()
    source = f"{len(embeddings):,} faces from the photos in {folder.name}, built {day}"
    return Cohort(np.ascontiguousarray(embeddings), engine.pack.ref, source), len(photos), missed
