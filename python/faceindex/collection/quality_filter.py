"""Which detected faces index_faces stores: quality levels, reasons, max_faces."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from faceindex.collection.results import UnindexedReason
from faceindex.types import Face


@dataclass(frozen=True)
class QualityFilter:
    """Bounds a face must meet to be indexed; None turns a check off.

    Sharpness is the variance of the Laplacian of the face resampled to a fixed
    size (0..255 luma units): 300 LFW crops measured 10 at the lowest, a
    Gaussian blur of radius 8 brings a face to about 5.
    """

    min_face_size: Optional[float] = None  # shorter side of the box, pixels
    min_confidence: Optional[float] = None  # detector score
    min_sharpness: Optional[float] = None
    min_brightness: Optional[float] = None  # mean luma 0..1
    max_yaw: Optional[float] = None  # degrees, when the pack gives pose
    max_pitch: Optional[float] = None


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

QualityFilterSpec = Union[str, QualityFilter, None]


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


def quality_reasons(face: Face, bounds: QualityFilter) -> tuple[UnindexedReason, ...]:
    """Every quality reason the face fails, in a fixed order."""
    reasons: list[UnindexedReason] = []
    size = face.face_size if face.face_size > 0 else min(face.width, face.height)
    if bounds.min_face_size is not None and size < bounds.min_face_size:
        reasons.append("SMALL_BOUNDING_BOX")
    if bounds.min_confidence is not None and face.score < bounds.min_confidence:
        reasons.append("LOW_CONFIDENCE")
    if bounds.min_sharpness is not None and face.sharpness < bounds.min_sharpness:
        reasons.append("LOW_SHARPNESS")
    if bounds.min_brightness is not None and face.brightness < bounds.min_brightness:
        reasons.append("LOW_BRIGHTNESS")
    if face.pose is not None and _extreme_pose(face.pose, bounds):
        reasons.append("EXTREME_POSE")
    return tuple(reasons)


def _extreme_pose(pose: tuple[float, float, float], bounds: QualityFilter) -> bool:
    yaw, pitch, _roll = pose
    if bounds.max_yaw is not None and not math.isnan(yaw) and abs(yaw) > bounds.max_yaw:
        return True
    return bounds.max_pitch is not None and not math.isnan(pitch) and abs(pitch) > bounds.max_pitch


def select_faces(
    faces: Sequence[Face], max_faces: Optional[int], bounds: QualityFilter
) -> tuple[list[Face], list[tuple[Face, tuple[UnindexedReason, ...]]]]:
    """Split faces into (kept, largest first) and (dropped, with reasons).

    As in Rekognition: low-quality faces go first; of the rest, the largest
    max_faces are kept and the others are EXCEEDS_MAX_FACES.
    """
    if max_faces is not None and (isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1):
        raise ValueError(f"max_faces must be a positive int or None, got {max_faces!r}")
    ordered = sorted(faces, key=lambda f: -f.area)
    kept: list[Face] = []
    dropped: list[tuple[Face, tuple[UnindexedReason, ...]]] = []
    for face in ordered:
        reasons = quality_reasons(face, bounds)
        if reasons:
            dropped.append((face, reasons))
        elif max_faces is not None and len(kept) >= max_faces:
            dropped.append((face, ("EXCEEDS_MAX_FACES",)))
        else:
            kept.append(face)
    return kept, dropped
