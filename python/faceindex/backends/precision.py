"""Which backend and numeric precision a pack's networks run at, and why.

precision=None keeps each backend's own default (f32 on ONNX Runtime and OpenVINO,
fp16 on TensorRT, as before). "f32", "bf16" and "int8" (both networks), "bf16-detector",
"bf16-recognizer", "int8-detector" and "int8-recognizer" (that network reduced, the other
f32) are explicit requests. bf16 runs on OpenVINO and only on a CPU that does bf16
natively (AVX-512 BF16 or AMX), since elsewhere it is emulated and slower than f32, or (without
AVX-512) computed in f32 by OpenVINO, which reports f32 back. int8
runs networks quantized once into the cache (faceindex.backends.quantization), on ONNX
Runtime or OpenVINO (INT8_BACKEND under backend="auto", the faster here), only on a CPU
with VNNI (AVX-512 VNNI or AVX-VNNI: int8 dot products in one instruction). "auto" takes the
fastest precision this machine runs natively whose verification record for the pack passed
(faceindex.thresholds.precision_records), else f32, and says why.

A reduced precision without a passing record still runs when asked for by name, but
its results carry the pack version "<version>+<precision>-unverified": collections and
calibration tables of the f32 pack keep them apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from faceindex.types import PackRef

PRECISIONS = ("auto", "f32", "bf16", "bf16-detector", "bf16-recognizer", "int8", "int8-detector", "int8-recognizer")
BF16 = ("bf16", "bf16-detector", "bf16-recognizer")
INT8 = ("int8", "int8-detector", "int8-recognizer")
REDUCED = BF16 + INT8
# What auto tries, fastest first (bench/bench_precision.py): both networks, then the
# detector (it runs once per image, on the largest input), then the recognizer; int8
# before bf16 at each step.
AUTO_ORDER = ("int8", "bf16", "int8-detector", "bf16-detector", "int8-recognizer", "bf16-recognizer")
# Where int8 runs under backend="auto", on the same quantized files: OpenVINO runs dlib's
# detector, the costliest step, in half ONNX Runtime int8's time; on SCRFD + MobileFaceNet
# the two are close (bench/results/bench_precision.json, on the performance page of the docs).
INT8_BACKEND = "openvino"
# For measuring int8's decisions on a CPU without VNNI (scripts/verify_precision.py sets it):
# an explicit int8 request then runs the same quantized networks computed exactly in f32
# (OnnxRuntimeSession's exact_int8), as a VNNI CPU computes them. Not the CPU's own AVX2 int8
# kernels: their pairwise 16-bit sums saturate (MobileFaceNet's worst cosine to f32 on the test
# photos: 0.85 on OpenVINO's, 0.88 on ONNX Runtime's, 0.963 computed exactly). Slow; auto never
# takes int8 without VNNI. bf16 has no such switch: without AVX-512 BF16 or AMX, OpenVINO
# computes a bf16 request in f32.
INT8_WITHOUT_VNNI = "FACEINDEX_INT8_WITHOUT_VNNI"


def int8_computed_exactly() -> bool:
    """Whether int8 networks run computed exactly in f32 here (no VNNI, and asked to)."""
    return bool(why_not_native("int8")) and os.environ.get(INT8_WITHOUT_VNNI) == "1"


@dataclass(frozen=True)
class PrecisionChoice:
    backend: str  # a concrete backend: onnxruntime, openvino or tensorrt
    precision: str  # what the networks run at: f32, a name of REDUCED (or TensorRT's fp16 / fp32)
    verified: bool  # f32, TensorRT as before, or a passing verification record
    reason: str  # why this backend and precision
    # Where the f32 network of a one-network mix runs: under backend="auto", ONNX Runtime,
    # which runs dlib's detector faster than OpenVINO f32 does (bench/bench_precision.py).
    f32_backend: str = ""

    @property
    def detector_backend(self) -> str:
        return self.f32_backend if self.f32_backend and self.detector == "f32" else self.backend

    @property
    def recognizer_backend(self) -> str:
        return self.f32_backend if self.f32_backend and self.recognizer == "f32" else self.backend

    @property
    def backends(self) -> str:
        """What PackInfo.backend shows: one backend, or which network runs where."""
        if self.detector_backend == self.recognizer_backend:
            return self.backend
        return f"{self.detector_backend} (detector), {self.recognizer_backend} (recognizer)"

    @property
    def detector(self) -> str | None:
        """The detector's precision as open_session takes it (int8: a quantized copy the pack
        makes with faceindex.packs.int8): a -recognizer mix keeps it at f32."""
        return "f32" if self.precision.endswith("-recognizer") else self._network

    @property
    def recognizer(self) -> str | None:
        return "f32" if self.precision.endswith("-detector") else self._network

    @property
    def _network(self) -> str | None:
        if self.precision in REDUCED:
            return self.precision.split("-")[0]
        # TensorRT: fp16 is its session's default (None); fp32 is asked for as f32.
        return {"fp16": None, "fp32": "f32"}.get(self.precision, self.precision)

    def pack_version(self, version: str) -> str:
        """The version results of this choice carry: unverified precisions are kept apart."""
        return version if self.verified else f"{version}+{self.precision}-unverified"


def check_precision(precision: str | None) -> None:
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)} (or None)")


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def why_not_native(precision: str) -> str:
    """Empty when this CPU runs the precision natively, else the reason."""
    if precision == "f32":
        return ""
    if precision in INT8:
        flags = _cpu_flags()
        if {"avx512_vnni", "avx_vnni", "amx_int8"} & flags:
            return ""
        return "this CPU has neither AVX-512 VNNI nor AVX-VNNI, so int8 would run without its fast dot products"
    if precision in BF16:
        from faceindex.runtime import build_info

        if build_info()["cpu"]["avx512_bf16"] or "amx_bf16" in _cpu_flags():
            return ""
        if "avx512f" not in _cpu_flags():
            return "this CPU has neither AVX-512 BF16 nor AMX (nor AVX-512 at all), so OpenVINO would compute bf16 in f32"
        return "this CPU has neither AVX-512 BF16 nor AMX, so bf16 would be emulated (slower than f32)"
    return f"{precision} is not offered on the CPU"


def choose(backend: str, precision: str | None, pack: PackRef) -> PrecisionChoice:
    """The backend and precision for a pack's networks (backend as open_session takes it)."""
    from faceindex.backends import BACKENDS

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    check_precision(precision)
    if backend in ("auto", "tensorrt") and precision in (None, "auto", "f32"):
        from faceindex.backends import tensorrt

        if tensorrt.available():
            trt = "fp32" if precision == "f32" else "fp16"
            return PrecisionChoice("tensorrt", trt, True, f"TensorRT on the GPU at {trt}")
        if backend == "tensorrt":
            raise RuntimeError(f"the TensorRT backend is not usable here: {tensorrt.why_unavailable()}")
    if backend == "tensorrt":
        raise ValueError(f"the TensorRT backend runs fp16 or f32, not {precision!r}")
    if precision in (None, "f32"):
        concrete = "onnxruntime" if backend == "auto" else backend
        return PrecisionChoice(concrete, "f32", True, "f32, the reference precision")
    if precision in INT8:
        return _explicit_int8(backend, precision, pack)
    if precision in BF16:
        return _explicit(backend, precision, pack)
    return _auto(backend, pack)


def _openvino_missing() -> str:
    from faceindex.backends import openvino

    return openvino.why_unavailable()


def _explicit(backend: str, precision: str, pack: PackRef) -> PrecisionChoice:
    from faceindex.thresholds.precision_records import verdict

    if backend == "onnxruntime":
        raise ValueError(f"the ONNX Runtime backend runs no bf16; {precision} needs backend='openvino'")
    missing = _openvino_missing()
    if missing:
        raise RuntimeError(f"bf16 runs on the OpenVINO backend, which is not usable here: {missing}")
    native = why_not_native(precision)
    if native:
        raise RuntimeError(f"precision {precision!r} refused: {native}")
    v = verdict(pack, "openvino", precision)
    return PrecisionChoice("openvino", precision, v.passed is True, v.reason)


def _int8_backend(backend: str) -> str:
    return INT8_BACKEND if backend == "auto" else backend


def why_not_int8(backend: str) -> str:
    """Empty when int8 can run on the backend here (native, its package, calibration media), else why."""
    from faceindex.backends.calibration_media import locate
    from faceindex.errors import QuantizationDataError

    native = why_not_native("int8")
    if native:
        return native
    if _int8_backend(backend) == "openvino" and _openvino_missing():
        return f"int8 runs on OpenVINO here, which is not usable: {_openvino_missing()}"
    try:
        locate()
    except QuantizationDataError as e:
        return str(e)
    return ""


def _explicit_int8(backend: str, precision: str, pack: PackRef) -> PrecisionChoice:
    from faceindex.thresholds.precision_records import verdict

    concrete = _int8_backend(backend)
    if concrete == "openvino" and _openvino_missing():
        raise RuntimeError(f"int8 runs on the OpenVINO backend here, which is not usable: {_openvino_missing()}")
    native = why_not_native(precision)
    if native and os.environ.get(INT8_WITHOUT_VNNI) != "1":
        raise RuntimeError(f"precision {precision!r} refused: {native} (set {INT8_WITHOUT_VNNI}=1 to compute "
                           "it exactly in f32, for measuring its results, not its speed)")
    v = verdict(pack, concrete, precision)
    if native:
        v = type(v)(v.passed, f"{v.reason}; int8 computed exactly in f32 on ONNX Runtime ({native})")
    # Calibration media are looked for when the pack quantizes (a cached file needs none).
    return PrecisionChoice(concrete, precision, v.passed is True, v.reason,
                           "onnxruntime" if backend == "auto" else "")


def _auto(backend: str, pack: PackRef) -> PrecisionChoice:
    from faceindex.thresholds.precision_records import verdict

    fallback = "openvino" if backend == "openvino" else "onnxruntime"
    refused: list[str] = []
    unusable: dict[str, str] = {}
    if backend == "onnxruntime":
        unusable["bf16"] = "ONNX Runtime runs no bf16"
    else:
        missing = _openvino_missing()
        if missing and backend == "openvino":
            raise RuntimeError(f"the OpenVINO backend is not usable here: {missing}")
        unusable["bf16"] = f"bf16 runs on OpenVINO, which is not usable: {missing}" if missing \
            else why_not_native("bf16")
    unusable["int8"] = why_not_int8(backend)
    refused += [f"{family} not offered: {why}" for family, why in unusable.items() if why]
    for precision in AUTO_ORDER:
        family = precision.split("-")[0]
        if unusable[family]:
            continue
        concrete = _int8_backend(backend) if family == "int8" else "openvino"
        v = verdict(pack, concrete, precision)
        if v.passed is True:
            return PrecisionChoice(concrete, precision, True, f"auto: {precision}, since {v.reason}"
                                   + "".join(f"; {r}" for r in refused),
                                   "onnxruntime" if backend == "auto" else "")
        refused.append(v.reason)
    return PrecisionChoice(fallback, "f32", True, f"auto: f32, int8 and bf16 refused: {'; '.join(refused)}")
