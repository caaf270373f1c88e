"""What a detector family expects and how it is decoded: one `Family` per file
(scrfd.py, yunet.py, retinaface.py)."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Sequence

import numpy as np

from faceindex.packs.onnx.kernels import Triple
from faceindex.types import FloatArray
from faceindex.packs.onnx.signature import DetectorSignature

# outputs of one run, the signature, canvas (w, h), scale, score and NMS thresholds -> (n, 15)
Decoder = Callable[[Sequence[np.ndarray], DetectorSignature, tuple[int, int], float, float, float], FloatArray]


@dataclass(frozen=True)
class Family:
    name: str
    bgr: bool  # channel order the network was trained on
    mean: Triple  # per network input channel
    std: Triple
    score_threshold: float  # default det_threshold
    score_threshold_source: str
    nms_threshold: float
    decode: Decoder
