"""The interface every model pack implements."""

from __future__ import annotations

from typing import Protocol

from faceindex.detections import Detections
from faceindex.images import RGBImage
from faceindex.types import FloatArray, PackInfo


class ModelPack(Protocol):
    """A detector and a recognizer that belong together.

    `detect` returns the faces of one image as arrays (boxes, scores, landmarks; quality
    and poses when the pack measures them itself, else the engine measures quality), in
    the detector's own order; `embed` returns one unit vector per face, float32
    [len(detections), info.embedding_size], computed from the faces' landmarks.
    """

    info: PackInfo

    def detect(self, image: RGBImage) -> Detections: ...

    def embed(self, image: RGBImage, detections: Detections) -> FloatArray: ...
