"""YuNet (OpenCV Zoo, 2023 format): BGR 0..255, cls/obj/bbox/kps per stride."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from faceindex.packs.onnx import kernels
from faceindex.packs.onnx.family import Family
from faceindex.packs.onnx.kernels import FloatArray
from faceindex.packs.onnx.signature import YUNET, DetectorSignature


def decode(
    outputs: Sequence[np.ndarray],
    signature: DetectorSignature,
    canvas: tuple[int, int],
    scale: float,
    score_threshold: float,
    nms_threshold: float,
) -> FloatArray:
    def role(name: str) -> list[np.ndarray]:
        return [np.ascontiguousarray(outputs[i], dtype=np.float32) for i in signature.outputs[name]]

    return kernels.decode_yunet(
        role("cls"), role("obj"), role("boxes"), role("landmarks"), signature.strides, canvas, scale,
        score_threshold, nms_threshold,
    )


FAMILY = Family(
    name=YUNET,
    bgr=True,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    score_threshold=0.6,
    score_threshold_source="PLACEHOLDER",
    nms_threshold=0.3,
    decode=decode,
)
