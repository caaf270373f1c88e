"""Choosing a decision threshold by the error rate it accepts.

1:1 (compare, associating a face with a user): `max_fmr`, the per-comparison false-match
rate. 1:N (searches): `max_fpir`, the chance that a search of someone who is not in the
collection returns any false candidate; with N faces searched, FPIR = 1 - (1 - FMR)^N,
so the per-comparison rate, and with it the threshold, follows the collection's size.

Defaults, chosen by error rate: compare at FMR 1e-4; search at FPIR 1% for the
collection's size, and never looser than FMR 1e-4 per comparison (small collections).
A pack without a calibration table keeps its placeholder threshold, flagged
"uncalibrated default" in every result; asking it for a rate is an error.

score="as-norm": the decision is on AS-norm scores (thresholds/score_norm.py), and the rates
come from the pack's AS-norm table; a given threshold= is always a cosine similarity, so a
caller that gives one decides on cosines (score="cosine"). The rates mean the same on both
scales: max_fmr=1e-4 is FMR 1e-4 whichever score it is judged on.
"""

from __future__ import annotations

import math

from faceindex.errors import CalibrationError
from faceindex.thresholds.calibration_table import CalibrationTable
from faceindex.thresholds.tables import table_for
from faceindex.types import PackInfo, RateEstimate, ScoreKind, ThresholdChoice

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


def no_table_message(pack: PackInfo, score: ScoreKind = "cosine") -> str:
    kind = "" if score == "cosine" else f" of {score} scores"
    return (f"pack {pack.name} {pack.version} has no calibration table{kind}: its error rates are not measured "
            "(faceindex calibrate builds one from your own labelled photos)")


def require_table(pack: PackInfo, what: str, score: ScoreKind = "cosine") -> CalibrationTable:
    table = table_for(pack, score)
    if table is None:
        raise CalibrationError(f"{what} needs a calibration table, and {no_table_message(pack, score)}; "
                               "give threshold= instead")
    return table


def can_normalise(pack: PackInfo) -> bool:
    """Whether decisions on AS-norm scores can be calibrated for this pack (it has both tables)."""
    return table_for(pack, "as-norm") is not None and table_for(pack) is not None


def for_comparison(pack: PackInfo, threshold: float | None = None, max_fmr: float | None = None,
                   score: ScoreKind = "cosine") -> ThresholdChoice:
    """The threshold of a 1:1 decision: given (a cosine), chosen by max_fmr on the table of `score`,
    or the default (FMR 1e-4)."""
    threshold = _check_threshold(threshold)
    max_fmr = _rate(max_fmr, "max_fmr", high_inclusive=True)
    if threshold is not None and max_fmr is not None:
        raise ValueError("give threshold= or max_fmr=, not both")
    if threshold is not None:
        score = "cosine"
    table = table_for(pack, score) if score == "cosine" else require_table(pack, "an AS-norm decision", score)
    if threshold is not None:
        return ThresholdChoice(threshold, "fixed", None, table.fmr_at(threshold) if table else None,
                               calibration=table.source if table else no_table_message(pack))
    if table is None:
        if max_fmr is not None:
            require_table(pack, "max_fmr", score)
        return ThresholdChoice(pack.default_threshold, "uncalibrated default", None, None,
                               calibration=no_table_message(pack, score))
    requested = DEFAULT_MAX_FMR if max_fmr is None else max_fmr
    value, _ = table.threshold_for_fmr(requested, at_limit=max_fmr is None)
    return ThresholdChoice(value, "fmr", requested, table.fmr_at(value), calibration=table.source, score=score)


def for_search(pack: PackInfo, gallery_size: int, threshold: float | None = None, max_fmr: float | None = None,
               max_fpir: float | None = None, score: ScoreKind = "cosine") -> ThresholdChoice:
    """The threshold of a 1:N search over gallery_size faces: given (a cosine), by max_fmr, by
    max_fpir, or the default (FPIR 1% at this size, and no looser than FMR 1e-4), on the table of
    `score`."""
    threshold = _check_threshold(threshold)
    max_fmr = _rate(max_fmr, "max_fmr", high_inclusive=True)
    max_fpir = _rate(max_fpir, "max_fpir", high_inclusive=False)
    if sum(v is not None for v in (threshold, max_fmr, max_fpir)) > 1:
        raise ValueError("give at most one of threshold=, max_fmr= and max_fpir=")
    if threshold is not None:
        score = "cosine"
    n = max(0, int(gallery_size))
    table = table_for(pack, score) if score == "cosine" else require_table(pack, "an AS-norm search", score)

    def choice(value: float, chosen_by: str, requested: float | None) -> ThresholdChoice:
        if table is None:
            return ThresholdChoice(value, chosen_by, requested, None, None, n,  # type: ignore[arg-type]
                                   no_table_message(pack, score), score)
        fmr = table.fmr_at(value)
        return ThresholdChoice(value, chosen_by, requested, fmr, fpir_for_fmr(fmr, n), n,  # type: ignore[arg-type]
                               table.source, score)

    if threshold is not None:
        return choice(threshold, "fixed", None)
    if table is None:
        if max_fmr is not None or max_fpir is not None:
            require_table(pack, "max_fmr" if max_fmr is not None else "max_fpir", score)
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
