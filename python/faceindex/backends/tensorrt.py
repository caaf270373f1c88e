"""TensorRT on an NVIDIA GPU (written in a later step; reports itself unavailable until then)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceindex.backends.base import TensorSpec


def why_unavailable() -> str:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt package is not installed"
    return "the TensorRT backend is not implemented in this version"


def available() -> bool:
    return False


class TensorRTSession:
    backend = "tensorrt"
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()

    def __init__(self, model_path: Path) -> None:
        raise RuntimeError(why_unavailable())

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise RuntimeError(why_unavailable())
