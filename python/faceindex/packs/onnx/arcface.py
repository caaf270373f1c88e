"""ArcFace-style recognizers: five landmarks aligned onto the 112x112 template, one unit embedding per face."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceindex.backends.base import Session
from faceindex.images import RGBImage
from faceindex.packs.onnx import kernels
from faceindex.packs.onnx.kernels import Triple
from faceindex.types import FloatArray
from faceindex.packs.onnx.signature import RecognizerSignature

# insightface's arcface_dst: where the eyes, nose tip and mouth corners of the
# training chips lie (image left first).
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

MAX_BATCH = 64  # faces per network call when the batch axis is dynamic


@dataclass(frozen=True)
class RecognizerInput:
    """How aligned pixels become network input."""

    bgr: bool
    mean: Triple
    std: Triple
    source: str  # where these values come from

    @staticmethod
    def insightface(normalised_in_graph: bool) -> RecognizerInput:
        if normalised_in_graph:
            return RecognizerInput(False, (0.0,) * 3, (1.0,) * 3, "graph normalises itself (insightface's rule)")
        return RecognizerInput(False, (127.5,) * 3, (127.5,) * 3, "insightface's ArcFace convention")


def arcface_template(size: int) -> FloatArray:
    """The template for a size x size chip, scaled as insightface's estimate_norm does."""
    if size % 112 == 0:
        scaled: FloatArray = (ARCFACE_TEMPLATE_112 * (size / 112)).astype(np.float32)
    else:
        scaled = ((ARCFACE_TEMPLATE_112 + np.array([8.0, 0.0], dtype=np.float32)) * (size / 128)).astype(np.float32)
    return scaled


class ArcFaceRecognizer:
    """mirror: each embedding from the sum of the chip's and its mirror image's outputs, both in
    the one pass of the network over the faces (2n chips)."""

    def __init__(self, session: Session, signature: RecognizerSignature, pixels: RecognizerInput,
                 mirror: bool = False) -> None:
        self.session = session
        self.signature = signature
        self.pixels = pixels
        self.mirror = mirror
        self.template = arcface_template(signature.input_size)
        self.embedding_size = signature.embedding_size

    def align(self, image: RGBImage, landmarks: FloatArray) -> np.ndarray:
        """uint8 chips (n, S, S, 3) as the network sees them (before normalisation)."""
        return kernels.align_chips(image, _landmarks(landmarks), self.template, self.signature.input_size)

    def embed(self, image: RGBImage, landmarks: FloatArray) -> FloatArray:
        """float32 (n, D) unit vectors, one per face's (5, 2) landmarks."""
        landmarks = _landmarks(landmarks)
        faces = len(landmarks)
        batch = MAX_BATCH if self.signature.batch is None else self.signature.batch
        p = self.pixels
        # All chips in one call; the network then takes them `batch` at a time.
        chips = kernels.align_tensor(image, landmarks, self.template, self.signature.input_size, p.bgr, p.mean, p.std)
        if self.mirror:
            chips = np.ascontiguousarray(np.concatenate([chips, chips[..., ::-1]]))
        n = len(chips)
        out = np.empty((n, self.embedding_size), dtype=np.float32)
        for start in range(0, n, batch):
            tensor = chips[start : start + batch]
            count = len(tensor)
            if count < batch and self.signature.batch is not None:
                # A fixed-batch model: pad the last call with copies of the first chip.
                tensor = np.concatenate([tensor, np.repeat(tensor[:1], batch - count, axis=0)])
            raw = self.session.run({self.signature.input_name: tensor})[0]
            out[start : start + count] = raw.reshape(len(tensor), -1)[:count]
        if self.mirror:
            out = out[:faces] + out[faces:]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ValueError("the recognizer returned a zero or non-finite embedding")
        result: FloatArray = out / norms
        return result


def _landmarks(landmarks: FloatArray) -> FloatArray:
    array = np.ascontiguousarray(landmarks, dtype=np.float32)
    if array.ndim != 3 or array.shape[1:] != (5, 2):
        raise ValueError(f"landmarks must have shape (n, 5, 2), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("landmarks hold NaN or inf: this detector gives no landmarks, so faces cannot be aligned")
    return array
