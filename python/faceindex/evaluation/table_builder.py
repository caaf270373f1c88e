"""Building a calibration table from labelled photos' embeddings: every pair scored, the
impostor and genuine distributions at knots, the fitted tail (faceindex.thresholds reads it)."""

from __future__ import annotations

import math
import platform
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from faceindex.errors import CalibrationError
from faceindex.thresholds.calibration_table import GENUINE_QUANTILES, KNOTS_PER_DECADE, TAIL_SCORES, CalibrationTable, Tail
from faceindex.types import PackRef, ScoreKind


def pair_scores(embeddings: npt.NDArray[np.float32], labels: npt.ArrayLike
                ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Every impostor and every genuine score among the photos (each unordered pair once),
    computed exactly with FlatIndex, a block of queries at a time."""
    from faceindex.flat_index import FlatIndex

    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    ids = np.asarray(labels)
    n = len(vectors)
    if n < 3 or len(ids) != n:
        raise CalibrationError(f"calibration needs at least 3 photos with one label each, got {n} and {len(ids)}")
    index = FlatIndex(vectors.shape[1], metric="cosine")
    index.add(np.arange(n, dtype=np.uint64), vectors)
    impostor, genuine = [], []
    block = max(1, min(n, 4_000_000 // n))
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        found, scores = index.search(vectors[rows], n)
        for r, (f, s) in enumerate(zip(found, scores)):
            i = rows[r]
            later = f > i  # each unordered pair once
            same = ids[f[later]] == ids[i]
            impostor.append(s[later][~same])
            genuine.append(s[later][same])
    return np.concatenate(impostor), np.concatenate(genuine)


def build_table(impostor: npt.ArrayLike, genuine: npt.ArrayLike, pack: PackRef,
                provenance: dict[str, Any], score: ScoreKind = "cosine") -> CalibrationTable:
    imp = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]  # descending
    gen = np.sort(np.asarray(genuine, dtype=np.float64))
    n = len(imp)
    if n < 10 * TAIL_SCORES // 2 or len(gen) < 10:
        raise CalibrationError(f"too few pairs to calibrate: {n} impostor, {len(gen)} genuine "
                               f"(at least {10 * TAIL_SCORES // 2} and 10)")
    # Knots at FMR = 10^(-k/KNOTS_PER_DECADE) down to the 3rd highest score, plus the top scores.
    decades = math.log10(n / 3)
    counts = {int(round(n * 10 ** (-k / KNOTS_PER_DECADE))) for k in range(int(decades * KNOTS_PER_DECADE) + 1)}
    counts |= {1, 2, 3, n}
    knots: dict[float, int] = {}
    for c in sorted(c for c in counts if 1 <= c <= n):
        at = float(imp[c - 1])
        knots[at] = int(np.count_nonzero(imp >= at))  # exact, ties included
    scores = np.array(sorted(knots), dtype=np.float64)
    m = min(TAIL_SCORES, n // 10)
    start = float(imp[m])
    tail = Tail(start=start, fmr_at_start=m / n, scale=float(np.mean(imp[:m] - start)), count=m)
    quantiles = np.unique(np.linspace(0, len(gen) - 1, min(GENUINE_QUANTILES, len(gen))).round().astype(np.int64))
    gen_scores = gen[quantiles]
    gen_below = np.searchsorted(gen, gen_scores, side="left")
    return CalibrationTable(pack, n, len(gen), scores, np.array([knots[s] for s in scores], dtype=np.int64), tail,
                            gen_scores, gen_below.astype(np.int64), provenance, score)


def provenance(dataset: str, images: int, identities: int, faces_found: int, pipeline: str) -> dict[str, Any]:
    import faceindex

    return {"dataset": dataset, "images": images, "identities": identities, "photos_with_a_face": faces_found,
            "pipeline": pipeline, "faceindex_version": faceindex.__version__,
            "date": datetime.now(timezone.utc).date().isoformat(), "python": platform.python_version(),
            "machine": platform.machine()}
