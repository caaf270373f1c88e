"""Choosing a decision threshold by the error rate it accepts, and the Rekognition-style
0-100 Similarity defined through the calibrated false-match rate.

1:1 (compare, associating a face with a user): `max_fmr`, the per-comparison false-match
rate. 1:N (searches): `max_fpir`, the chance that a search of someone who is not in the
collection returns any false candidate; with N faces searched, FPIR = 1 - (1 - FMR)^N,
so the per-comparison rate, and with it the threshold, follows the collection's size.

Defaults, chosen by error rate: compare at FMR 1e-4; search at FPIR 1% for the
collection's size, and never looser than FMR 1e-4 per comparison (small collections).
A pack without a calibration table keeps its placeholder threshold, flagged
"uncalibrated default" in every result; asking it for a rate is an error.
"""

from __future__ import annotations

import math

from faceindex.errors import CalibrationError
from faceindex.evaluation.calibration import CalibrationTable, table_for
from faceindex.types import PackInfo, RateEstimate, ThresholdChoice

DEFAULT_MAX_FMR = 1e-4
DEFAULT_MAX_FPIR = 0.01


def fmr_for_fpir(max_fpir: float, gallery_size: int) -> float:
    """The per-comparison FMR at which N comparisons give a false candidate with chance max_fpir."""
    if not (0 < max_fpir < 1):
        raise ValueError(f"max_fpir must be in (0, 1), got {max_fpir}")
    n = max(1, int(gallery_size))
    return -math.expm1(math.log1p(-max_fpir) / n)


def fpir_for_fmr(fmr: RateEstimate, gallery_size: int) -> RateEstimate:
    n = max(1, int(gallery_size))

    def one(f: float) -> float:
        return -math.expm1(n * math.log1p(-min(f, 1 - 1e-16)))

    return RateEstimate(one(fmr.value), one(fmr.low), one(fmr.high), fmr.beyond_table)


def _rate(value: float | None, name: str, high_inclusive: bool) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    if not (0 < value < 1 or (high_inclusive and value == 1)):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def _check_threshold(threshold: float | None) -> float | None:
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or not -1 <= threshold <= 1:
        raise ValueError(f"threshold is a cosine similarity from -1 to 1, got {threshold!r}")
    return float(threshold)


def _no_table(pack: PackInfo) -> str:
    return (f"pack {pack.name} {pack.version} has no calibration table: its error rates are not measured "
            "(faceindex calibrate builds one from your own labelled photos)")


def _require(pack: PackInfo, what: str) -> CalibrationTable:
    table = table_for(pack)
    if table is None:
        raise CalibrationError(f"{what} needs a calibration table, and {_no_table(pack)}; give threshold= instead")
    return table


def for_comparison(pack: PackInfo, threshold: float | None = None, max_fmr: float | None = None) -> ThresholdChoice:
    """The threshold of a 1:1 decision: given, chosen by max_fmr, or the default (FMR 1e-4)."""
    threshold = _check_threshold(threshold)
    max_fmr = _rate(max_fmr, "max_fmr", high_inclusive=True)
    if threshold is not None and max_fmr is not None:
        raise ValueError("give threshold= or max_fmr=, not both")
    table = table_for(pack)
    if threshold is not None:
        return ThresholdChoice(threshold, "fixed", None, table.fmr_at(threshold) if table else None,
                               calibration=table.source if table else _no_table(pack))
    if table is None:
        if max_fmr is not None:
            _require(pack, "max_fmr")
        return ThresholdChoice(pack.default_threshold, "uncalibrated default", None, None, calibration=_no_table(pack))
    requested = DEFAULT_MAX_FMR if max_fmr is None else max_fmr
    value, _ = table.threshold_for_fmr(requested, at_limit=max_fmr is None)
    return ThresholdChoice(value, "fmr", requested, table.fmr_at(value), calibration=table.source)


def for_search(pack: PackInfo, gallery_size: int, threshold: float | None = None, max_fmr: float | None = None,
               max_fpir: float | None = None) -> ThresholdChoice:
    """The threshold of a 1:N search over gallery_size faces: given, by max_fmr, by max_fpir,
    or the default (FPIR 1% at this size, and no looser than FMR 1e-4)."""
    threshold = _check_threshold(threshold)
    max_fmr = _rate(max_fmr, "max_fmr", high_inclusive=True)
    max_fpir = _rate(max_fpir, "max_fpir", high_inclusive=False)
    if sum(v is not None for v in (threshold, max_fmr, max_fpir)) > 1:
        raise ValueError("give at most one of threshold=, max_fmr= and max_fpir=")
    n = max(0, int(gallery_size))
    table = table_for(pack)

    def choice(value: float, chosen_by: str, requested: float | None) -> ThresholdChoice:
        if table is None:
            return ThresholdChoice(value, chosen_by, requested, None, None, n, _no_table(pack))  # type: ignore[arg-type]
        fmr = table.fmr_at(value)
        return ThresholdChoice(value, chosen_by, requested, fmr, fpir_for_fmr(fmr, n), n,  # type: ignore[arg-type]
                               table.source)

    if threshold is not None:
        return choice(threshold, "fixed", None)
    if table is None:
        if max_fmr is not None or max_fpir is not None:
            _require(pack, "max_fmr" if max_fmr is not None else "max_fpir")
        return choice(pack.default_threshold, "uncalibrated default", None)
    if max_fmr is not None:
        return choice(table.threshold_for_fmr(max_fmr)[0], "fmr", max_fmr)
    if max_fpir is not None:
        return choice(table.threshold_for_fmr(fmr_for_fpir(max_fpir, n))[0], "fpir", max_fpir)
    # Defaults never fail: beyond what the table resolves they take its limit, flagged.
    by_fpir = table.threshold_for_fmr(fmr_for_fpir(DEFAULT_MAX_FPIR, n), at_limit=True)[0]
    by_fmr = table.threshold_for_fmr(DEFAULT_MAX_FMR, at_limit=True)[0]
    if by_fpir >= by_fmr:
        return choice(by_fpir, "fpir", DEFAULT_MAX_FPIR)
    return choice(by_fmr, "fmr", DEFAULT_MAX_FMR)


# -- Rekognition's Similarity (0-100) -------------------------------------------------------------

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


def rekognition_similarity(pack: PackInfo, cosine: float) -> float:
    """Similarity (0-100) of a cosine similarity from this pack."""
    return similarity_of_fmr(_require(pack, "Similarity").fmr_at(cosine).value)


def threshold_for_similarity(pack: PackInfo, similarity: float, gallery_size: int | None = None) -> ThresholdChoice:
    """The threshold a FaceMatchThreshold (0-100) means for this pack: the FMR it stands for, or
    where the table cannot resolve that rate, the table's limit (flagged beyond_table)."""
    table = _require(pack, "Similarity")
    fmr = fmr_of_similarity(similarity)
    value, _ = table.threshold_for_fmr(max(fmr, calibration_min_fmr()), at_limit=True)
    estimate = table.fmr_at(value)
    if gallery_size is None:
        return ThresholdChoice(value, "fmr", fmr, estimate, calibration=table.source)
    n = max(0, int(gallery_size))
    return ThresholdChoice(value, "fmr", fmr, estimate, fpir_for_fmr(estimate, n), n, table.source)


def calibration_min_fmr() -> float:
    from faceindex.evaluation.calibration import MIN_TAIL_FMR

    return MIN_TAIL_FMR


# Similarity -> the FMR it stands for, as the README's table shows it.
SIMILARITY_TABLE = tuple((float(s), fmr_of_similarity(s)) for s in (0, 20, 40, 50, 60, 70, 80, 90, 95, 99, 100))
