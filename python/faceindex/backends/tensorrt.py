"""TensorRT on an NVIDIA GPU.

Engines are built from the same ONNX files ONNX Runtime runs, once, and cached
under the user cache directory keyed by the ONNX sha256, the TensorRT
version, the GPU's compute capability, the precision and the shape profile
(DESIGN: convention 6). Device memory and streams come from faceindex's own
CUDA build (`_core.cuda`), so nothing beyond the `tensorrt` package is needed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from faceindex import _core
from faceindex.cache import atomic_write, cache_dir
from faceindex.backends.base import TensorSpec

# Dynamic axes get this range unless the caller gives a profile: the batch
# axis (0) 1..32, spatial axes 32..1920 (optimised for 640).
DEFAULT_MAX_BATCH = 32
DEFAULT_SPATIAL = (32, 640, 1920)

Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


def why_unavailable() -> str:
    """Empty when the backend can run here, else the reason."""
    try:
        import tensorrt as trt
    except ImportError:
        return "the tensorrt package is not installed"
    if not hasattr(trt, "Builder"):
        return "the tensorrt package here is only type stubs"
    if not _core.cuda.compiled:
        return "faceindex was built without CUDA (no nvcc at build time)"
    info = _core.build_info()["cuda"]
    if not info["gpu_found"]:
        return f"no GPU found ({info.get('why_no_gpu', 'no device')})"
    return ""


def available() -> bool:
    return why_unavailable() == ""


def engine_cache_dir() -> Path:
    return cache_dir("tensorrt")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class TensorRTSession:
    """One TensorRT engine and execution context; `run` is serialised by a lock."""

    backend = "tensorrt"

    def __init__(self, model_path: Path, precision: str = "fp16", profile: Profile | None = None) -> None:
        reason = why_unavailable()
        if reason:
            raise RuntimeError(f"the TensorRT backend is not usable here: {reason}")
        import tensorrt as trt

        if precision not in ("fp16", "fp32"):
            raise ValueError(f"precision must be fp16 or fp32, got {precision!r}")
        self._trt = trt
        self.model_path = Path(model_path)
        self._logger = trt.Logger(trt.Logger.WARNING)
        device = _core.build_info()["cuda"]["devices"][0]
        major, minor = device["compute_capability"]
        onnx_inputs = self._onnx_inputs()
        self.profile = profile or self._default_profile(onnx_inputs)
        key = json.dumps(
            {
                "onnx_sha256": _sha256(self.model_path),
                "tensorrt": trt.__version__,
                "compute_capability": f"{major}.{minor}",
                "precision": precision,
                "profile": {k: [list(s) for s in v] for k, v in sorted(self.profile.items())},
            },
            sort_keys=True,
        )
        path = engine_cache_dir() / f"{self.model_path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.engine"
        serialized = path.read_bytes() if path.exists() else self._build_and_cache(path, precision)
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(serialized)
        if self._engine is None:
            raise RuntimeError(f"TensorRT could not load the engine {path} (delete it to rebuild)")
        self._context = self._engine.create_execution_context()
        self._stream = _core.cuda.Stream()
        self._buffers: dict[str, Any] = {}
        self._lock = threading.Lock()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        mode = trt.TensorIOMode
        self.inputs = tuple(self._spec(n) for n in names if self._engine.get_tensor_mode(n) == mode.INPUT)
        self.outputs = tuple(self._spec(n) for n in names if self._engine.get_tensor_mode(n) == mode.OUTPUT)

    def _onnx_inputs(self) -> dict[str, tuple[int | None, ...]]:
        import onnx

        model = onnx.load(str(self.model_path), load_external_data=False)
        initializers = {i.name for i in model.graph.initializer}
        shapes = {}
        for value in model.graph.input:
            if value.name in initializers:
                continue
            dims = value.type.tensor_type.shape.dim
            shapes[value.name] = tuple(d.dim_value if d.dim_value > 0 else None for d in dims)
        return shapes

    @staticmethod
    def _default_profile(inputs: dict[str, tuple[int | None, ...]]) -> Profile:
        profile: Profile = {}
        for name, dims in inputs.items():
            ranges = []
            for axis, d in enumerate(dims):
                if d is not None:
                    ranges.append((d, d, d))
                elif axis == 0:
                    ranges.append((1, 1, DEFAULT_MAX_BATCH))
                else:
                    ranges.append(DEFAULT_SPATIAL)
            profile[name] = (tuple(r[0] for r in ranges), tuple(r[1] for r in ranges), tuple(r[2] for r in ranges))
        return profile

    def _build_and_cache(self, path: Path, precision: str) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(self.model_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"TensorRT could not parse {self.model_path}: {errors}")
        config = builder.create_builder_config()
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        optimization = builder.create_optimization_profile()
        for name, (low, opt, high) in self.profile.items():
            optimization.set_shape(name, trt.Dims(low), trt.Dims(opt), trt.Dims(high))
        config.add_optimization_profile(optimization)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f"TensorRT could not build an engine for {self.model_path}")
        data = bytes(serialized)
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        return data

    def _spec(self, name: str) -> TensorSpec:
        dims = self._engine.get_tensor_shape(name)
        shape = tuple(dims[i] if dims[i] >= 0 else None for i in range(len(dims)))
        trt_type = self._engine.get_tensor_dtype(name)
        numpy_types = {
            self._trt.DataType.FLOAT: "float32",
            self._trt.DataType.HALF: "float16",
            self._trt.DataType.INT8: "int8",
            self._trt.DataType.INT32: "int32",
            self._trt.DataType.INT64: "int64",
            self._trt.DataType.BOOL: "bool",
            self._trt.DataType.UINT8: "uint8",
        }
        if trt_type not in numpy_types:
            raise RuntimeError(f"tensor {name!r} has TensorRT type {trt_type}, which has no numpy equivalent here")
        return TensorSpec(name, shape, numpy_types[trt_type])

    def _buffer(self, name: str, nbytes: int) -> Any:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.nbytes < nbytes:
            buffer = _core.cuda.DeviceBuffer(max(nbytes, 1))
            self._buffers[name] = buffer
        return buffer

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            keep_alive = []
            for spec in self.inputs:
                if spec.name not in feeds:
                    raise ValueError(f"missing input {spec.name!r}")
                host = np.ascontiguousarray(feeds[spec.name], dtype=spec.dtype)
                keep_alive.append(host)
                if not self._context.set_input_shape(spec.name, host.shape):
                    raise ValueError(f"input {spec.name!r} shape {host.shape} is outside the engine's profile")
                device = self._buffer(spec.name, host.nbytes)
                device.copy_from_host(host, self._stream)
                self._context.set_tensor_address(spec.name, device.address)
            results = []
            for spec in self.outputs:
                dims = self._context.get_tensor_shape(spec.name)
                shape = tuple(dims[i] for i in range(len(dims)))
                host = np.empty(shape, dtype=spec.dtype)
                device = self._buffer(spec.name, host.nbytes)
                self._context.set_tensor_address(spec.name, device.address)
                results.append((host, device))
            if not self._context.execute_async_v3(self._stream.handle):
                raise RuntimeError(f"TensorRT execution failed for {self.model_path}")
            for host, device in results:
                device.copy_to_host(host, self._stream)
            self._stream.synchronize()
            return [host for host, _ in results]
