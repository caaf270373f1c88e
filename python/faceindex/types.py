"""Public result types: typed dataclasses, never bare dicts.

Conventions shared by every stage: images are uint8 H x W x 3 RGB arrays; sizes are
(width, height), as PIL and insightface's det_size give them; boxes are x1, y1, x2, y2
pixel edges of the image they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageSize = tuple[int, int]  # (width, height)

# The 5 points ArcFace-style packs align with (SCRFD, YuNet, RetinaFace).
ARCFACE_LANDMARKS = ("left eye", "right eye", "nose tip", "left mouth corner", "right mouth corner")
# dlib's 5-point shape predictor: the corners of both eyes and the base of the nose.
DLIB_LANDMARKS = ("right eye outer corner", "right eye inner corner", "left eye outer corner",
                  "left eye inner corner", "nose base")


@dataclass(frozen=True)
class PackRef:
    """Which model pack made a result: its name and version (embeddings of different
    packs, or of different versions of one pack, cannot be compared)."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class PackInfo:
    """What a model pack is, and how its default decision threshold was chosen."""

    name: str
    version: str
    embedding_size: int
    default_threshold: float  # cosine similarity at or above which two faces match
    threshold_source: str  # how default_threshold was chosen (data set, rule, measured rates)
    detector: str
    recognizer: str
    license: str
    # What each of a Face's 5 landmarks is, in order; left and right as seen in the image.
    landmarks: tuple[str, ...] = ARCFACE_LANDMARKS

    @property
    def ref(self) -> PackRef:
        return PackRef(self.name, self.version)


def array_summary(value: Any) -> str:
    """How an embedding shows in a repr: its shape and dtype, not hundreds of floats."""
    if value is None:
        return "None"
    array = np.asarray(value)
    return f"<{array.dtype} array {tuple(array.shape)}>"


@dataclass
class Face:
    """One detected face, in the pixel coordinates of the image it came from."""

    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float  # detector confidence
    landmarks: FloatArray  # 5x2 pixels; which points they are: the pack's PackInfo.landmarks
    embedding: FloatArray | None = None  # unit vector from the pack's recognizer
    face_size: float = 0.0  # shorter side of the box, pixels
    sharpness: float = 0.0  # variance of the Laplacian of the face at a fixed scale
    brightness: float = 0.0  # mean luma of the face, 0..1
    pose: tuple[float, float, float] | None = None  # yaw, pitch, roll in degrees where the pack gives it

    def __repr__(self) -> str:
        shown = (f"{f.name}={array_summary(self.embedding) if f.name == 'embedding' else repr(getattr(self, f.name))}"
                 for f in fields(self))
        return f"Face({', '.join(shown)})"

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two faces, with everything it was judged by."""

    similarity: float  # cosine similarity of the two embeddings
    threshold: float  # the threshold it was judged against
    same_person: bool  # similarity >= threshold
    pack: PackRef  # the model pack that made both embeddings
    faces: tuple[Face | None, Face | None] = field(default=(None, None), compare=False)
