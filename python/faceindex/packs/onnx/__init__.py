"""ONNX model packs: SCRFD, YuNet and RetinaFace detectors with ArcFace-style recognizers."""

from faceindex.errors import (
    ModelFileError,
    ModelHashError,
    PackNotFoundError,
    UnknownModelError,
    UnverifiedModelWarning,
)
from faceindex.packs.onnx.models_dir import models_dir
from faceindex.packs.onnx.pack import OnnxPack

__all__ = [
    "ModelFileError",
    "ModelHashError",
    "OnnxPack",
    "PackNotFoundError",
    "UnknownModelError",
    "UnverifiedModelWarning",
    "models_dir",
]
