"""What the compiled core was built with, what this machine offers, and its thread count."""

from __future__ import annotations

from typing import Any

from faceindex import _core


def build_info() -> dict[str, Any]:
    """Version, compiler, compiled ISAs, CPU features found, and the CUDA build and GPUs found."""
    info: dict[str, Any] = _core.build_info()
    return info


def set_num_threads(n: int) -> None:
    """Threads used by search and image kernels (and ONNX Runtime sessions opened later)."""
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    return int(_core.get_num_threads())
