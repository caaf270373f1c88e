"""SCRFD (insightface): RGB, (x - 127.5) / 128, score/bbox/kps per stride, distance-to-box decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceindex.packs.onnx import kernels
from faceindex.errors import ModelFileError
from faceindex.packs.onnx.family import Family
from faceindex.types import FloatArray
from faceindex.packs.onnx.signature import SCRFD, DetectorSignature


def _by_stride(arrays: list[np.ndarray], role: str) -> list[np.ndarray]:
    """Per-stride outputs, finest stride first. Exporters keep the stride order within a
    role, but dynamic-shape files do not say so: more anchors means a finer stride."""
    sizes = [a.size for a in arrays]
    if len(set(sizes)) != len(sizes):
        raise ModelFileError(f"SCRFD {role} outputs have repeated sizes {sizes}: cannot tell the strides apart")
    return [np.ascontiguousarray(a, dtype=np.float32) for a in sorted(arrays, key=lambda a: -a.size)]


def decode(
    outputs: Sequence[np.ndarray],
    signature: DetectorSignature,
    canvas: tuple[int, int],
    scale: float,
    score_threshold: float,
    nms_threshold: float,
) -> FloatArray:
    group = {role: _by_stride([outputs[i] for i in idx], role) for role, idx in signature.outputs.items()}
    return kernels.decode_scrfd(
        group["scores"], group["boxes"], group.get("landmarks"), signature.strides, signature.anchors, canvas,
        scale, score_threshold, nms_threshold,
    )


FAMILY = Family(
    name=SCRFD,
    bgr=False,
    mean=(127.5, 127.5, 127.5),
    std=(128.0, 128.0, 128.0),
    score_threshold=0.5,
    score_threshold_source="insightface's FaceAnalysis default det_thresh",
    nms_threshold=0.4,
    decode=decode,
)
