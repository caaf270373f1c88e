"""Inference backends: ONNX Runtime runs real models and its pools rest between runs; TensorRT
says why it cannot run here."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

import numpy as np
import pytest

import faceindex
from faceindex.backends import open_session, tensorrt
from idle_cpu import idle_cpu_ms_after_a_run


def test_onnxruntime_runs_a_real_model(data_file: Callable[[str], Path]) -> None:
    model = data_file("models/mobilefacenet/mobilefacenet.onnx")
    session = open_session(model, backend="onnxruntime")
    assert session.backend == "onnxruntime"
    (spec,) = session.inputs
    assert spec.shape[1:] == (3, 112, 112) and spec.dtype == "float32"
    chip = np.random.default_rng(0).standard_normal((1, 3, 112, 112)).astype(np.float32)
    (out,) = session.run({spec.name: chip})
    assert out.shape == (1, 128) and np.isfinite(out).all()


def test_onnxruntime_pools_do_not_spin_between_runs(data_file: Callable[[str], Path]) -> None:
    """A pipeline alternates sessions, faceindex's C++ threads and a video decode thread: a pool
    that goes on spinning after its run would take their cores."""
    import onnxruntime as ort

    model = data_file("models/scrfd/det_500m.onnx")
    frame = {"input.1": np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)}
    before = faceindex.get_num_threads()
    try:
        faceindex.set_num_threads(2)  # a pool: one thread has none
        ours = open_session(model, backend="onnxruntime")
    finally:
        faceindex.set_num_threads(before)
    defaults = ort.SessionOptions()
    defaults.intra_op_num_threads = 2
    defaults.log_severity_level = 3
    spinning = ort.InferenceSession(str(model), defaults, providers=["CPUExecutionProvider"])
    # The measurement can see spinning: ONNX Runtime's default pool spins on after each run.
    assert idle_cpu_ms_after_a_run(lambda: spinning.run(None, frame)) > 25
    idle_ms = idle_cpu_ms_after_a_run(lambda: ours.run(frame))
    assert idle_ms < 10, f"faceindex's pool took {idle_ms:.1f} ms of CPU in the 0.3 s after a run"


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
