"""RetinaFace (Pytorch_Retinaface layout): BGR minus (104, 117, 123), loc/conf/landmarks over priors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceindex.packs.onnx import kernels
from faceindex.packs.onnx.family import Family
from faceindex.types import FloatArray
from faceindex.packs.onnx.signature import RETINAFACE, DetectorSignature


def decode(
    outputs: Sequence[np.ndarray],
    signature: DetectorSignature,
    canvas: tuple[int, int],
    scale: float,
    score_threshold: float,
    nms_threshold: float,
) -> FloatArray:
    def role(name: str) -> np.ndarray:
        return np.ascontiguousarray(outputs[signature.outputs[name][0]], dtype=np.float32)

    return kernels.decode_retinaface(
        role("loc"), role("conf"), role("landmarks"), canvas, scale, score_threshold, nms_threshold
    )


FAMILY = Family(
    name=RETINAFACE,
    bgr=True,
    mean=(104.0, 117.0, 123.0),
    std=(1.0, 1.0, 1.0),
    score_threshold=0.6,
    score_threshold_source="Pytorch_Retinaface's vis_thres",
    nms_threshold=0.4,
    decode=decode,
)
