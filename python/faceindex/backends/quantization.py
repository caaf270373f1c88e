"""int8 copies of ONNX networks: ONNX Runtime's post-training static quantization, cached.

QDQ format (QuantizeLinear / DequantizeLinear pairs around each quantized operation), int8
weights per output channel, uint8 activations with MinMax ranges from calibration feeds:
the layout both ONNX Runtime (QLinear kernels, VNNI on x86) and OpenVINO (FakeQuantize,
then its own int8 kernels) run as int8. A quantized file is written once into the
faceindex cache (cache_dir("int8")), named by the source file's sha256, the calibration
set's key, QUANTIZER and ONNX Runtime's version, atomically; a second engine with the same
inputs opens it again.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceindex.backends.base import Session
from faceindex.cache import atomic_write, cache_dir

# Part of every quantized file's name: a change of method or settings here makes new files.
QUANTIZER = "ort-qdq-pc-minmax-2"
PER_CHANNEL_OPSET = 13  # DequantizeLinear's axis (per-channel scales) needs opset 13
# Layers left in float where int8 costs accuracy: a recognizer's first and last three
# convolutions (its stem and its embedding head). MobileFaceNet's worst cosine to f32 over the
# test photos' faces, int8 computed exactly: all quantized 0.963, first 1 and last 2 in float
# 0.973, first 3 and last 3 0.991 (the rule asks 0.99); Percentile calibration instead of
# MinMax was worse (0.945). Detectors stay wholly quantized.
FLOAT_EDGE_LAYERS = {"recognizer": 3, "detector": 0}


class RecordingSession:
    """A session that keeps a copy of every feed it runs: the calibration data of its network."""

    def __init__(self, inner: Session) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.inputs = inner.inputs
        self.outputs = inner.outputs
        self.feeds: list[dict[str, np.ndarray]] = []

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.feeds.append({k: np.array(v, copy=True) for k, v in feeds.items()})
        return self.inner.run(feeds)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def quantized_path(source: Path, calibration_key: str) -> Path:
    """Where the int8 copy of `source` calibrated on `calibration_key` is (or will be) cached:
    named by the source's sha256, the key, QUANTIZER and the ONNX Runtime that quantized it."""
    import onnxruntime

    name = f"{source.stem}-{file_sha256(source)[:24]}-{calibration_key[:16]}-{QUANTIZER}-ort{onnxruntime.__version__}"
    return cache_dir("int8") / f"{name}.onnx"


def edge_layers(model: Any, count: int) -> list[str]:
    """The names of the first and last `count` convolutions / matrix products of a model."""
    layers = [n.name for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    return layers[:count] + layers[-count:] if count and len(layers) > 2 * count else []


def quantize(source: Path, target: Path, feeds: Sequence[dict[str, np.ndarray]], keep_float: int = 0) -> None:
    """Write the int8 QDQ copy of `source` to `target` (atomically), its activation ranges from `feeds`;
    its first and last `keep_float` convolutions stay float."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static
    import onnx
    import onnxruntime as ort

    if not feeds:
        raise ValueError(f"no calibration inputs for {source.name}: the calibration frames showed no faces")

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._items = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._items, None)

    def write(tmp: str) -> None:
        # Its calibration sessions warn of every dynamic shape (SCRFD's outputs): not ours to show.
        ort.set_default_logger_severity(3)
        with tempfile.TemporaryDirectory() as folder:
            model = _at_least_opset(source, PER_CHANNEL_OPSET)
            upgraded = Path(folder) / source.name
            onnx.save(model, str(upgraded))
            quantize_static(str(upgraded), tmp, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax,
                            nodes_to_exclude=edge_layers(model, keep_float))

    atomic_write(target, write)


def _at_least_opset(source: Path, opset: int) -> Any:
    """The model, converted to `opset` where its own is older (SCRFD's files are opset 11)."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(source))
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    return version_converter.convert_version(model, opset) if current < opset else model


def quantized(source: Path, calibration_key: str,
              feeds: Callable[[], Sequence[dict[str, np.ndarray]]], keep_float: int = 0) -> tuple[Path, bool]:
    """The cached int8 copy of `source` and whether it was made now (feeds() is called only then)."""
    # keep_float follows the network's role (FLOAT_EDGE_LAYERS), which QUANTIZER's version names.
    target = quantized_path(source, calibration_key)
    if target.is_file():
        return target, False
    quantize(source, target, feeds(), keep_float)
    return target, True


def calibration_key(*parts: Any) -> str:
    """A digest of what decides the calibration feeds: the media's digests and the pack's settings."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()
