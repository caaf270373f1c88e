"""Rekognition's 0-100 Similarity, defined through the calibrated false-match rate, so that it
means the same for every pack."""

from __future__ import annotations

import math

from faceindex.thresholds.choice import fpir_for_fmr, require_table
from faceindex.types import PackInfo, ScoreKind, ThresholdChoice

# Similarity is defined through the calibrated FMR, so it means the same for every pack:
# d = -log10(FMR); Similarity = 80 d / 6 up to FMR 1e-6 (d = 6 -> 80), then 80 + 10 (d - 6) up to
# 98 (FMR 1e-7 -> 90, 10^-7.8 -> 98), then 100 - 2 / (1 + 5 (d - 7.8)), which goes on rising with
# the same slope at 98 and never reaches 100 (FMR 1e-8 -> 99, 1e-10 -> 99.83, 1e-20 -> 99.97).
# Rekognition's default FaceMatchThreshold of 80 is FMR 1e-6; its public-safety advice of 99 is
# FMR 1e-8 (fitted tail: flagged). The FMR of a score is the table's continuous curve (FmrCurve:
# log-linear between measured points, the fitted tail beyond), so Similarity is strictly increasing
# in the score: two different scores never share a Similarity, and no finite score reaches 100.
_LINEAR_END = 7.8  # decades where the linear part (10 per decade) hands over to the asymptote
_ASYMPTOTE = 2.0  # 100 - 98: what is left to climb beyond it


def similarity_of_decades(d: float) -> float:
    """Similarity (0-100) of a pair whose score has FMR 10^-d."""
    if math.isnan(d):
        raise ValueError("decades of FMR must be a number, got NaN")
    if d <= 0:
        return 0.0
    if d <= 6.0:
        return 80.0 * d / 6.0
    if d <= _LINEAR_END:
        return 80.0 + 10.0 * (d - 6.0)
    if math.isinf(d):
        return 100.0
    return 100.0 - _ASYMPTOTE / (1.0 + 5.0 * (d - _LINEAR_END))


def decades_of_similarity(similarity: float) -> float:
    """The inverse of similarity_of_decades: -log10 of the FMR a Similarity (0-100) stands for."""
    if not 0 <= similarity <= 100 or math.isnan(similarity):
        raise ValueError(f"Similarity is on the 0-100 scale, got {similarity}")
    if similarity <= 80.0:
        return 6.0 * similarity / 80.0
    if similarity <= 100.0 - _ASYMPTOTE:
        return 6.0 + (similarity - 80.0) / 10.0
    if similarity == 100.0:
        return math.inf
    return _LINEAR_END + (_ASYMPTOTE / (100.0 - similarity) - 1.0) / 5.0


def similarity_of_fmr(fmr: float) -> float:
    """Rekognition-style Similarity (0-100) of a pair whose score has this calibrated FMR."""
    if fmr <= 0:
        return 100.0
    return similarity_of_decades(-math.log10(min(fmr, 1.0)))


def fmr_of_similarity(similarity: float) -> float:
    """The FMR a Similarity (0-100) stands for: the inverse of similarity_of_fmr (0 for 100)."""
    return float(10.0 ** -decades_of_similarity(similarity))


def rekognition_similarity(pack: PackInfo, value: float, score: ScoreKind = "cosine") -> float:
    """Similarity (0-100) of a score from this pack: a cosine similarity, or an AS-norm z
    (score="as-norm"): the same FMR gives the same Similarity on either scale. Strictly increasing
    in the score, below 100 for every finite one."""
    return similarity_of_decades(require_table(pack, "Similarity", score).fmr_curve.decades_at(float(value)))


def threshold_for_similarity(pack: PackInfo, similarity: float, gallery_size: int | None = None,
                             score: ScoreKind = "cosine") -> ThresholdChoice:
    """The threshold a FaceMatchThreshold (0-100) means for this pack: the lowest score whose
    Similarity reaches it, on the same curve rekognition_similarity reads (so every match at or
    above the threshold has at least that Similarity). A cosine is at most 1: a Similarity above
    that of identical faces asks for 1.0. Rates beyond the measured pairs are flagged beyond_table."""
    table = require_table(pack, "Similarity", score)
    fmr = fmr_of_similarity(similarity)
    value = table.fmr_curve.score_at(decades_of_similarity(similarity))
    if score == "cosine":
        value = max(-1.0, min(1.0, value))
    estimate = table.fmr_at(value)
    if gallery_size is None:
        return ThresholdChoice(value, "fmr", fmr, estimate, calibration=table.source, score=score)
    n = max(0, int(gallery_size))
    return ThresholdChoice(value, "fmr", fmr, estimate, fpir_for_fmr(estimate, n), n, table.source, score)


# Similarity -> the FMR it stands for, as docs/thresholds.md prints it.
SIMILARITY_TABLE = tuple((float(s), fmr_of_similarity(s)) for s in (0, 20, 40, 50, 60, 70, 80, 90, 95, 99, 100))
