"""The interface every model pack implements."""

from __future__ import annotations

from typing import Protocol, Sequence

from faceindex.images import RGBImage
from faceindex.types import Face, FloatArray, PackInfo


class ModelPack(Protocol):
    """A detector and a recognizer that belong together.

    `detect` returns faces with bbox, score and landmarks set (quality fields are
    filled in by the engine); `embed` returns one unit vector per face, float32
    [n, info.embedding_size], computed from the face's landmarks.
    """

    info: PackInfo

    def detect(self, image: RGBImage) -> list[Face]: ...

    def embed(self, image: RGBImage, faces: Sequence[Face]) -> FloatArray: ...
