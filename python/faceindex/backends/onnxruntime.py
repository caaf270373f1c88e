"""ONNX Runtime on the CPU, with every core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faceindex.backends.base import TensorSpec

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


class OnnxRuntimeSession:
    """exact_int8: a quantized (QDQ) file run with graph optimisations off, so that its
    QuantizeLinear / DequantizeLinear pairs stay float operations around float kernels: the
    results int8 arithmetic with exact int32 sums gives (a VNNI CPU's), on a CPU whose own int8
    kernels would saturate (AVX2's pairwise 16-bit sums). For measuring int8's decisions, slow."""

    backend = "onnxruntime"

    def __init__(self, model_path: Path, threads: int | None = None, exact_int8: bool = False) -> None:
        import onnxruntime as ort

        from faceindex.runtime import get_num_threads

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL if exact_int8 \
            else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings are not ours to show
        # A pipeline alternates sessions (detector, recognizer) and our own C++
        # threads: idle pool threads that spin would steal their cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.model_path = model_path
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.inputs = tuple(_spec(a) for a in self._session.get_inputs())
        self.outputs = tuple(_spec(a) for a in self._session.get_outputs())
        self._output_names = [o.name for o in self.outputs]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = self._session.run(self._output_names, feeds)
        return [np.asarray(o) for o in outputs]
