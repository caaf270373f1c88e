"""Inference backends: ONNX Runtime runs real models; TensorRT says why it cannot run here."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

import numpy as np
import pytest

import faceindex
from faceindex.backends import open_session, tensorrt


def test_onnxruntime_runs_a_real_model(data_file: Callable[[str], Path]) -> None:
    model = data_file("models/mobilefacenet/mobilefacenet.onnx")
    session = open_session(model, backend="onnxruntime")
    assert session.backend == "onnxruntime"
    (spec,) = session.inputs
    assert spec.shape[1:] == (3, 112, 112) and spec.dtype == "float32"
    chip = np.random.default_rng(0).standard_normal((1, 3, 112, 112)).astype(np.float32)
    (out,) = session.run({spec.name: chip})
    assert out.shape == (1, 128) and np.isfinite(out).all()


def test_auto_falls_back_to_onnxruntime_without_a_gpu(data_file: Callable[[str], Path]) -> None:
    if tensorrt.available():
        pytest.skip("TensorRT and a GPU are present: auto picks TensorRT")
    session = open_session(data_file("models/mobilefacenet/mobilefacenet.onnx"), backend="auto")
    assert session.backend == "onnxruntime"


def test_tensorrt_states_why_it_is_unavailable(data_file: Callable[[str], Path]) -> None:
    reason = tensorrt.why_unavailable()
    if not reason:
        pytest.skip("TensorRT is usable here")
    cuda = faceindex.build_info()["cuda"]
    assert reason in (
        "the tensorrt package is not installed",
        "the tensorrt package here is only type stubs",
        "faceindex was built without CUDA (no nvcc at build time)",
    ) or (reason.startswith("no GPU found") and not cuda["gpu_found"])
    with pytest.raises(RuntimeError, match="TensorRT backend is not usable here"):
        open_session(data_file("models/mobilefacenet/mobilefacenet.onnx"), backend="tensorrt")


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        open_session("model.onnx", backend="cuda")
