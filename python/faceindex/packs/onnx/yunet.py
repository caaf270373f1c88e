"""YuNet (OpenCV Zoo, 2023 format): BGR 0..255, cls/obj/bbox/kps per stride."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceindex.packs.onnx import kernels
from faceindex.packs.onnx.family import Family
from faceindex.types import FloatArray
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
    # OpenCV Zoo's 0.9 is for faces at native resolution; letterboxed to 640x640,
    # t1.jpg's six faces score 0.88-0.93. 0.7 is the lowest threshold (0.1 steps)
    # with no unmatched detection on dlib's training.xml, all 18 faces found there.
    score_threshold=0.7,
    score_threshold_source="measured on dlib's training.xml (lowest 0.1 step with no unmatched detection)",
    nms_threshold=0.3,
    decode=decode,
)
