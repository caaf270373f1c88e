"""OpenVINO on the CPU: the same ONNX files, f32 or bf16 (INFERENCE_PRECISION_HINT).

openvino is an optional dependency (`pip install faceindex[openvino]`), imported only
when this backend is asked for. Compiled models are cached under the faceindex cache
folder (OpenVINO's CACHE_DIR); OpenVINO keys each blob by a hash of the model's content,
the options that shape the blob and its own version and CPU, so a changed file or an
upgrade compiles afresh. The CPU blob is shared by f32 and bf16: the precision hint
applies when a blob is loaded (tests/packs/test_openvino.py checks each precision's
results through the cache against uncached ones).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from faceindex.backends.base import TensorSpec
from faceindex.cache import cache_dir

# OpenVINO's names for the precisions faceindex offers on this backend.
_HINTS = {"f32": "f32", "bf16": "bf16"}
_OV_TYPES = {
    "f32": "float32",
    "f16": "float16",
    "f64": "float64",
    "u8": "uint8",
    "i8": "int8",
    "i32": "int32",
    "i64": "int64",
    "boolean": "bool",
}


def why_unavailable() -> str:
    """Empty when the backend can run here, else the reason."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "the openvino package is not installed (pip install 'faceindex[openvino]')"
    return ""


def compiled_cache_dir() -> Path:
    return cache_dir("openvino")


def _onnx_names(path: Path) -> tuple[list[str], list[str]]:
    """The graph's input and output names, as ONNX Runtime reports them."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [v.name for v in graph.input if v.name not in initializers], [v.name for v in graph.output]


def _spec(port: Any, onnx_name: str | None) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    element = port.get_element_type().get_type_name()
    # A fused tensor has several names and get_any_name() may pick another one than the
    # ONNX file's (SCRFD's first output: "442" for "443"); callers know the file's names.
    names = port.get_names()
    name = onnx_name if onnx_name is not None and onnx_name in names else str(port.get_any_name())
    return TensorSpec(name, shape, _OV_TYPES.get(element, element))


class OpenVinoSession:
    """One compiled model and one infer request; `run` is serialised by a lock."""

    backend = "openvino"

    def __init__(self, model_path: Path, precision: str = "f32", threads: int | None = None,
                 cache: bool = True) -> None:
        reason = why_unavailable()
        if reason:
            raise RuntimeError(f"the OpenVINO backend is not usable here: {reason}")
        if precision not in _HINTS:
            raise ValueError(f"the OpenVINO backend runs {' or '.join(_HINTS)}, not {precision!r}")
        import openvino as ov

        from faceindex.runtime import get_num_threads

        self.model_path = Path(model_path)
        self.precision = precision
        self.threads = int(threads or get_num_threads())
        core = ov.Core()
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "INFERENCE_NUM_THREADS": self.threads,
            # One stream, tuned for one request at a time: a pipeline alternates the
            # detector, the recognizer and faceindex's own C++ threads, and idle pools
            # held busy for throughput would take their cores.
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
        }
        if cache:
            config["CACHE_DIR"] = str(compiled_cache_dir())
        # Compiling the read model (not the path) makes the cache key hash the model's content.
        model = core.read_model(str(self.model_path))
        self._compiled = core.compile_model(model, "CPU", config)
        # On a CPU without AVX-512 BF16 or AMX, OpenVINO drops a bf16 hint and computes in f32
        # (it reports f32 back): refused, so that no result or figure is called bf16 that was not.
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        ran = str(hint.get_type_name()) if hasattr(hint, "get_type_name") else str(hint)
        if precision == "bf16" and ran != "bf16":
            raise RuntimeError(f"OpenVINO would run this bf16 request in {ran} on this CPU "
                               "(no AVX-512 BF16 or AMX), so it is refused")
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        onnx_inputs, onnx_outputs = _onnx_names(self.model_path)
        ins, outs = self._compiled.inputs, self._compiled.outputs
        self.inputs = tuple(_spec(p, onnx_inputs[i] if len(ins) == len(onnx_inputs) else None)
                            for i, p in enumerate(ins))
        self.outputs = tuple(_spec(p, onnx_outputs[i] if len(outs) == len(onnx_outputs) else None)
                             for i, p in enumerate(outs))

    def property(self, name: str) -> Any:
        """A property of the compiled model as OpenVINO reports it (e.g. INFERENCE_NUM_THREADS)."""
        return self._compiled.get_property(name)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = {}
        for spec in self.inputs:
            if spec.name not in feeds:
                raise ValueError(f"missing input {spec.name!r}")
            arrays[spec.name] = np.ascontiguousarray(feeds[spec.name], dtype=spec.dtype)
        with self._lock:
            results = self._request.infer({port: arrays[spec.name] for port, spec in zip(self._compiled.inputs,
                                                                                       self.inputs)})
            # Copies: the request reuses its output buffers on the next call.
            return [np.array(results[port]) for port in self._compiled.outputs]
