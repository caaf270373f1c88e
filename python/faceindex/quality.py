"""Quality fields of detected faces: size, sharpness, brightness."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from faceindex import _core
from faceindex.images import RGBImage
from faceindex.types import Face


def measure_quality(image: RGBImage, faces: Sequence[Face]) -> None:
    """Fill face_size, sharpness and brightness of each face in place."""
    if not faces:
        return
    boxes = np.array([f.bbox for f in faces], dtype=np.float32).reshape(-1, 4)
    measured = _core.vision.face_quality(image, boxes)
    for face, (sharpness, brightness) in zip(faces, measured):
        face.face_size = float(min(face.width, face.height))
        face.sharpness = float(sharpness)
        face.brightness = float(brightness)
