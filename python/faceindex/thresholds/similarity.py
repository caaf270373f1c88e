"""Rekognition's 0-100 Similarity, defined through the calibrated false-match rate, so that it
means the same for every pack."""

from __future__ import annotations

import math

from faceindex.thresholds.calibration_table import MIN_TAIL_FMR
from faceindex.thresholds.choice import fpir_for_fmr, require_table
from faceindex.types import PackInfo, ScoreKind, ThresholdChoice

# Similarity is defined through the calibrated FMR, so it means the same for every pack:
# d = -log10(FMR); Similarity = 80 d / 6 up to FMR 1e-6 (d = 6 -> 80), then 80 + 10 (d - 6)
# (FMR 1e-7 -> 90, 1.3e-8 -> 99), capped to 0..100. Rekognition's default FaceMatchThreshold
# of 80 is FMR 1e-6; its public-safety advice of 99 is FMR 1.3e-8 (fitted tail: flagged).


def similarity_of_fmr(fmr: float) -> float:
    """Rekognition-style Similarity (0-100) of a pair whose score has this calibrated FMR."""
    d = -math.log10(max(fmr, 1e-300))
    return max(0.0, min(100.0, 80.0 * d / 6.0 if d <= 6.0 else 80.0 + 10.0 * (d - 6.0)))


def fmr_of_similarity(similarity: float) -> float:
    """The FMR a Similarity (0-100) stands for: the inverse of similarity_of_fmr."""
    if not 0 <= similarity <= 100 or math.isnan(similarity):
        raise ValueError(f"Similarity is on the 0-100 scale, got {similarity}")
    d = 6.0 * similarity / 80.0 if similarity <= 80.0 else 6.0 + (similarity - 80.0) / 10.0
    return float(10.0 ** -d)


def rekognition_similarity(pack: PackInfo, value: float, score: ScoreKind = "cosine") -> float:
    """Similarity (0-100) of a score from this pack: a cosine similarity, or an AS-norm z
    (score="as-norm"): the same FMR gives the same Similarity on either scale."""
    return similarity_of_fmr(require_table(pack, "Similarity", score).fmr_at(value).value)


def threshold_for_similarity(pack: PackInfo, similarity: float, gallery_size: int | None = None,
                             score: ScoreKind = "cosine") -> ThresholdChoice:
    """The threshold a FaceMatchThreshold (0-100) means for this pack: the FMR it stands for, or
    where the table cannot resolve that rate, the table's limit (flagged beyond_table)."""
    table = require_table(pack, "Similarity", score)
    fmr = fmr_of_similarity(similarity)
    value, _ = table.threshold_for_fmr(max(fmr, MIN_TAIL_FMR), at_limit=True)
    estimate = table.fmr_at(value)
    if gallery_size is None:
        return ThresholdChoice(value, "fmr", fmr, estimate, calibration=table.source, score=score)
    n = max(0, int(gallery_size))
    return ThresholdChoice(value, "fmr", fmr, estimate, fpir_for_fmr(estimate, n), n, table.source, score)


# Similarity -> the FMR it stands for, as the README's table shows it.
SIMILARITY_TABLE = tuple((float(s), fmr_of_similarity(s)) for s in (0, 20, 40, 50, 60, 70, 80, 90, 95, 99, 100))
