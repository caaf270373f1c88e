"""Quality of detected faces, measured on the arrays: size, sharpness, brightness."""

from __future__ import annotations

import numpy as np

from faceindex import _core
from faceindex.detections import Detections
from faceindex.images import RGBImage


def measure_quality(image: RGBImage, detections: Detections) -> Detections:
    """The detections with quality set: [face_size, sharpness, brightness] per face.

    face_size is the shorter side of the box in pixels; sharpness the variance of the
    Laplacian and brightness the mean luma (0..1) of the face resampled to 64x64.
    """
    if len(detections) == 0:
        return detections.with_quality(np.zeros((0, 3)))
    boxes = np.ascontiguousarray(detections.boxes, dtype=np.float32)
    measured = _core.vision.face_quality(image, boxes)
    return detections.with_quality(np.column_stack([detections.face_sizes, measured]))
