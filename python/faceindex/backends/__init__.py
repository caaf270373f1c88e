"""Inference backends: one small interface, `run(inputs) -> outputs`."""

from __future__ import annotations

from pathlib import Path

from faceindex.backends.base import Session, TensorSpec

BACKENDS = ("auto", "onnxruntime", "openvino", "tensorrt")


def open_session(model_path: str | Path, backend: str = "auto", precision: str | None = None) -> Session:
    """Open an ONNX model on the named backend ("auto": TensorRT where it and a GPU exist,
    else ONNX Runtime) at a precision: None (the backend's default), "f32" or "bf16"
    (OpenVINO only). Packs choose backend and precision with backends.precision.choose."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in (None, "f32", "bf16"):
        raise ValueError(f"precision {precision!r} cannot be opened directly; use None, 'f32' or 'bf16' "
                         "(packs resolve 'auto' from their verification records)")
    if backend == "openvino":
        from faceindex.backends.openvino import OpenVinoSession

        return OpenVinoSession(Path(model_path), precision or "f32")
    if precision == "bf16":
        raise ValueError(f"precision 'bf16' runs on backend='openvino', not {backend!r}")
    if backend in ("auto", "tensorrt"):
        from faceindex.backends import tensorrt

        if tensorrt.available():
            return tensorrt.TensorRTSession(Path(model_path), "fp32" if precision == "f32" else "fp16")
        if backend == "tensorrt":
            raise RuntimeError(f"the TensorRT backend is not usable here: {tensorrt.why_unavailable()}")
    from faceindex.backends.onnxruntime import OnnxRuntimeSession

    return OnnxRuntimeSession(Path(model_path))


__all__ = ["BACKENDS", "Session", "TensorSpec", "open_session"]
