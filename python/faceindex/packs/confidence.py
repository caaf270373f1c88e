"""What a detector's score means: the share of its detections, at that score, that were faces.

Measured by faceindex (scripts/measure_detector_confidence.py, with
faceindex.evaluation.detection) on dlib's hand-labelled photos: every detection, down to
a low threshold, matched to the labelled faces; the share that matched, as a non-decreasing
function of the detector's raw score (isotonic regression), kept as knots in
models/detector_confidence.json. A pack maps its raw scores through its detector's curve
(linear between knots, the end values beyond them), so that Face.score is a measured
probability and Rekognition's Confidence (100 x score) means the same for every pack.
A detector faceindex has not measured keeps its raw score, clipped to 0..1, and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from faceindex.types import Float64Array

MANIFEST = "detector_confidence.json"


@dataclass(frozen=True)
class ConfidenceCurve:
    """Raw detector score -> share of detections that were faces (0..1), non-decreasing."""

    scores: tuple[float, ...]  # knots, increasing
    precision: tuple[float, ...]  # at each knot, non-decreasing
    source: str  # what was measured, on what

    def __post_init__(self) -> None:
        s, p = np.asarray(self.scores), np.asarray(self.precision)
        if len(s) < 1 or s.shape != p.shape or np.any(np.diff(s) <= 0) or np.any(np.diff(p) < 0) \
                or np.any((p < 0) | (p > 1)):
            raise ValueError("a confidence curve needs increasing scores and non-decreasing precisions in 0..1")

    def __call__(self, raw: npt.ArrayLike) -> Float64Array:
        values: Float64Array = np.interp(np.asarray(raw, dtype=np.float64), self.scores, self.precision)
        return values


UNMEASURED = "the detector's own score, clipped to 0..1 (faceindex has not measured this detector)"


def uncalibrated(raw: npt.ArrayLike) -> Float64Array:
    clipped: Float64Array = np.clip(np.asarray(raw, dtype=np.float64), 0.0, 1.0)
    return clipped


@lru_cache(maxsize=1)
def _curves() -> dict[str, Any]:
    text = (resources.files("faceindex") / "models" / MANIFEST).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)["detectors"]
    return data


def curve_for(detector: str) -> ConfidenceCurve | None:
    """The measured curve of a detector: "dlib:cascade", "dlib:mmod", or an ONNX file's sha256."""
    entry = _curves().get(detector)
    if entry is None:
        return None
    return ConfidenceCurve(tuple(float(v) for v in entry["scores"]), tuple(float(v) for v in entry["precision"]),
                           str(entry["source"]))


def describe(curve: ConfidenceCurve | None) -> str:
    """PackInfo.confidence_source for a pack whose detector has this curve."""
    if curve is None:
        return UNMEASURED
    return f"measured: {curve.source}"
