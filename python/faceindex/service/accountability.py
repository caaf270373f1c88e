"""Rekognition's 0-100 thresholds (FaceMatchThreshold, SimilarityThreshold, UserMatchThreshold) to
faceindex's choice of threshold, and back out as X-Faceindex-* response headers: what Rekognition's
shapes cannot carry (the cosine threshold, how it was chosen, the false-match rates estimated at
it, the pack, the calibration table).

A Similarity S stands for the per-comparison false-match rate fmr_of_similarity(S) on the pack's
calibration table (thresholds/choice.py), so a search asks the collection for max_fmr= that
rate and every match returned has a Similarity of at least S. Where the table cannot resolve the
rate (its fitted tail is not trusted that far), the threshold is the table's limit, fixed; a pack
never calibrated compares cosine x 100 with S.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from faceindex import rekognition_shapes as shapes
from faceindex.errors import CalibrationError
from faceindex import thresholds
from faceindex.thresholds import table_for
from faceindex.types import PackInfo, RateEstimate, ThresholdChoice

# Rekognition's defaults where the request gives none.
DEFAULT_FACE_MATCH_THRESHOLD = 80.0  # SearchFaces, SearchFacesByImage, CompareFaces, SearchUsers(ByImage)
DEFAULT_USER_MATCH_THRESHOLD = 75.0  # AssociateFaces


@dataclass(frozen=True)
class Requested:
    """A 0-100 threshold as the collection's search takes it: max_fmr= or threshold= (one is None)."""

    similarity: float
    max_fmr: float | None
    threshold: float | None


def requested(pack: PackInfo, similarity: float | None, default: float = DEFAULT_FACE_MATCH_THRESHOLD) -> Requested:
    """What a Similarity threshold (None: Rekognition's default) asks of this pack."""
    s = default if similarity is None else float(similarity)
    if s <= 0:  # 0 asks for every face, as on AWS (MaxFaces still bounds them)
        return Requested(s, None, -1.0)
    table = table_for(pack)
    if table is None:
        return Requested(s, None, s / 100.0)
    fmr = thresholds.fmr_of_similarity(s)
    try:
        table.threshold_for_fmr(fmr)  # resolvable as a rate: the collection chooses (and logs) by it
        return Requested(s, fmr, None)
    except CalibrationError:
        return Requested(s, None, thresholds.threshold_for_similarity(pack, s).value)


def comparison_choice(pack: PackInfo, wanted: Requested) -> ThresholdChoice:
    """The 1:1 threshold (CompareFaces) for a Requested."""
    return thresholds.for_comparison(pack, threshold=wanted.threshold, max_fmr=wanted.max_fmr)


_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _text(value: str) -> str:
    """A header value: printable ASCII only (a calibration source may name a non-ASCII path)."""
    return _UNSAFE.sub("?", value)


def _rate(rate: RateEstimate) -> str:
    return f"{rate.value:.6g}"


def headers(pack: PackInfo, choice: ThresholdChoice, wanted: Requested | None = None) -> dict[str, str]:
    """The X-Faceindex-* headers of a search or compare judged by `choice`."""
    out = {
        "X-Faceindex-Pack": _text(shapes.pack_name_and_version(pack)),
        "X-Faceindex-Threshold": f"{choice.value:.6f}",
        "X-Faceindex-Threshold-Score": choice.score,  # issue 29: "cosine" or "as-norm", the scale of the threshold
        "X-Faceindex-Threshold-Chosen-By": choice.chosen_by,
        "X-Faceindex-Calibration": _text(choice.calibration),
        "X-Faceindex-Similarity-Scale": shapes.similarity_scale(pack),
    }
    if wanted is not None:
        out["X-Faceindex-Requested-Similarity"] = f"{wanted.similarity:g}"
    if choice.requested is not None:
        out["X-Faceindex-Requested-Rate"] = f"{choice.requested:.6g}"
    if choice.fmr is not None:
        out["X-Faceindex-Estimated-FMR"] = _rate(choice.fmr)
        out["X-Faceindex-Estimated-FMR-Interval"] = f"{choice.fmr.low:.6g} {choice.fmr.high:.6g}"
    if choice.fpir is not None:
        out["X-Faceindex-Estimated-FPIR"] = _rate(choice.fpir)
    if choice.gallery_size is not None:
        out["X-Faceindex-Gallery-Size"] = str(choice.gallery_size)
    out["X-Faceindex-Beyond-Table"] = "true" if choice.beyond_table else "false"
    return out
