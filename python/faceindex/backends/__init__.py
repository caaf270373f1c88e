"""Inference backends: one small interface, `run(inputs) -> outputs`."""

from __future__ import annotations

from pathlib import Path

from faceindex.backends.base import Session, TensorSpec

BACKENDS = ("auto", "onnxruntime", "tensorrt")


def open_session(model_path: str | Path, backend: str = "auto") -> Session:
    """Open an ONNX model on the named backend ("auto": TensorRT where it and a GPU exist)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend in ("auto", "tensorrt"):
        from faceindex.backends import tensorrt

        if tensorrt.available():
            return tensorrt.TensorRTSession(Path(model_path))
        if backend == "tensorrt":
            raise RuntimeError(f"the TensorRT backend is not usable here: {tensorrt.why_unavailable()}")
    from faceindex.backends.onnxruntime import OnnxRuntimeSession

    return OnnxRuntimeSession(Path(model_path))


__all__ = ["BACKENDS", "Session", "TensorSpec", "open_session"]
