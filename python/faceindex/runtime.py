"""What the compiled core was built with, what this machine offers, and its thread count."""

from __future__ import annotations

from typing import TypedDict

from faceindex import _core


class CpuInfo(TypedDict):
    avx2: bool
    avx512: bool  # F, BW, DQ, VL
    avx512_vnni: bool
    avx512_bf16: bool
    avx512_fp16: bool
    cores: int  # cores this process may use


class GpuInfo(TypedDict):
    name: str
    compute_capability: tuple[int, int]
    memory_bytes: int


class _CudaDetails(TypedDict, total=False):
    toolkit: str  # CUDA toolkit version it was built with (CUDA builds)
    why_no_gpu: str  # the runtime's reason when a CUDA build found no GPU


class CudaInfo(_CudaDetails):
    compiled: bool  # CUDA sources were built into this module
    devices: list[GpuInfo]  # GPUs found at run time
    gpu_found: bool


class BuildInfo(TypedDict):
    version: str
    compiler: str
    build_type: str
    isas: list[str]  # instruction sets the search kernels were compiled for
    cpu: CpuInfo  # what this machine's CPU offers
    cuda: CudaInfo


def build_info() -> BuildInfo:
    """Version, compiler, compiled ISAs, CPU features found, and the CUDA build and GPUs found."""
    info: BuildInfo = _core.build_info()
    return info


def set_num_threads(n: int) -> None:
    """Threads used by search and image kernels (and ONNX Runtime sessions opened later)."""
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    return int(_core.get_num_threads())
