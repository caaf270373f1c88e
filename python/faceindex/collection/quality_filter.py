"""Which detected faces index_faces stores: quality levels, reasons, max_faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceindex.collection.results import QualityReason, UnindexedReason
from faceindex.detections import Detections


@dataclass(frozen=True)
class QualityFilter:
    """Bounds a face must meet to be indexed; None turns a check off.

    Sharpness is the variance of the Laplacian of the face resampled to a fixed
    size (0..255 luma units): 300 LFW crops measured 10 at the lowest, a
    Gaussian blur of radius 8 brings a face to about 5.
    """

    min_face_size: float | None = None  # shorter side of the box, pixels
    min_confidence: float | None = None  # detector score
    min_sharpness: float | None = None
    min_brightness: float | None = None  # mean luma 0..1
    max_yaw: float | None = None  # degrees, when the pack gives pose
    max_pitch: float | None = None


# Rekognition's QualityFilter names. "auto" drops only faces the recognizer cannot
# be trusted on; the stricter levels trade recall for cleaner galleries.
QUALITY_LEVELS: dict[str, QualityFilter] = {
    "none": QualityFilter(),
    "auto": QualityFilter(min_face_size=20, min_sharpness=4, min_brightness=0.08, max_yaw=60, max_pitch=45),
    "low": QualityFilter(min_face_size=16, min_sharpness=2, min_brightness=0.05, max_yaw=75, max_pitch=60),
    "medium": QualityFilter(
        min_face_size=32, min_confidence=0.5, min_sharpness=8, min_brightness=0.12, max_yaw=45, max_pitch=35
    ),
    "high": QualityFilter(
        min_face_size=48, min_confidence=0.8, min_sharpness=20, min_brightness=0.2, max_yaw=30, max_pitch=25
    ),
}

QualityFilterSpec = str | QualityFilter | None


def resolve_quality_filter(spec: QualityFilterSpec) -> QualityFilter:
    if spec is None:
        return QUALITY_LEVELS["none"]
    if isinstance(spec, QualityFilter):
        return spec
    if isinstance(spec, str) and spec.lower() in QUALITY_LEVELS:
        return QUALITY_LEVELS[spec.lower()]
    raise ValueError(
        f"quality_filter must be one of {', '.join(map(repr, QUALITY_LEVELS))} or a QualityFilter, got {spec!r}"
    )


def quality_reasons(detections: Detections, bounds: QualityFilter) -> list[tuple[QualityReason, ...]]:
    """Every quality reason each face fails, in a fixed order."""
    n = len(detections)
    quality = detections.quality if detections.quality is not None else np.zeros((n, 3))
    sizes = np.where(quality[:, 0] > 0, quality[:, 0], detections.face_sizes)
    checks: list[tuple[QualityReason, np.ndarray]] = []
    if bounds.min_face_size is not None:
        checks.append(("SMALL_BOUNDING_BOX", sizes < bounds.min_face_size))
    if bounds.min_confidence is not None:
        checks.append(("LOW_CONFIDENCE", detections.scores < bounds.min_confidence))
    if bounds.min_sharpness is not None:
        checks.append(("LOW_SHARPNESS", quality[:, 1] < bounds.min_sharpness))
    if bounds.min_brightness is not None:
        checks.append(("LOW_BRIGHTNESS", quality[:, 2] < bounds.min_brightness))
    if detections.poses is not None:
        checks.append(("EXTREME_POSE", _extreme_pose(detections.poses, bounds)))
    return [tuple(reason for reason, failed in checks if failed[i]) for i in range(n)]


def _extreme_pose(poses: np.ndarray, bounds: QualityFilter) -> np.ndarray:
    """Faces whose yaw or pitch is beyond the bounds; an unknown (NaN) angle passes."""
    with np.errstate(invalid="ignore"):
        yaw = np.abs(poses[:, 0]) > bounds.max_yaw if bounds.max_yaw is not None else np.zeros(len(poses), bool)
        pitch = np.abs(poses[:, 1]) > bounds.max_pitch if bounds.max_pitch is not None else np.zeros(len(poses), bool)
    extreme: np.ndarray = yaw | pitch
    return extreme


def select_faces(
    detections: Detections, max_faces: int | None, bounds: QualityFilter
) -> tuple[list[int], list[tuple[int, tuple[UnindexedReason, ...]]]]:
    """Split faces into the rows kept (largest first) and the rows dropped, with reasons.

    As in Rekognition: low-quality faces go first; of the rest, the largest
    max_faces are kept and the others are EXCEEDS_MAX_FACES.
    """
    if max_faces is not None and (isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1):
        raise ValueError(f"max_faces must be a positive int or None, got {max_faces!r}")
    reasons = quality_reasons(detections, bounds)
    kept: list[int] = []
    dropped: list[tuple[int, tuple[UnindexedReason, ...]]] = []
    for i in detections.order_largest_first().tolist():
        if reasons[i]:
            dropped.append((i, reasons[i]))
        elif max_faces is not None and len(kept) >= max_faces:
            dropped.append((i, ("EXCEEDS_MAX_FACES",)))
        else:
            kept.append(i)
    return kept, dropped
