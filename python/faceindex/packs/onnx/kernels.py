"""Typed wrappers over the compiled kernels of the ONNX packs (`faceindex._core.vision`).

The only module of the ONNX packs that touches `_core`: each function checks
nothing itself; the compiled side validates and raises ValueError/TypeError.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceindex import _core
from faceindex.images import RGBImage
from faceindex.types import FloatArray

Triple = tuple[float, float, float]

_vision = _core.vision


def letterbox(
    image: RGBImage, canvas: tuple[int, int], bgr: bool, mean: Triple, std: Triple, into: FloatArray | None = None,
    fit: tuple[int, int] | None = None,
) -> tuple[FloatArray, float, tuple[int, int]]:
    """(1, 3, H, W) detector input for canvas (W, H), the scale image -> canvas, and the content size.
    The image is scaled to fit `fit` (W, H; default the canvas). With `into`, that (1, 3, H, W)
    float32 buffer is filled and returned."""
    tensor, scale, content = _vision.letterbox(image, canvas, bgr, mean, std, into, fit)
    return tensor, float(scale), (int(content[0]), int(content[1]))


def decode_scrfd(
    scores: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray] | None,
    strides: Sequence[int],
    anchors: int,
    canvas: tuple[int, int],
    scale: float,
    score_threshold: float,
    nms_threshold: float,
) -> FloatArray:
    out: FloatArray = _vision.decode_scrfd(
        list(scores), list(boxes), None if landmarks is None else list(landmarks), list(strides), anchors,
        canvas, scale, score_threshold, nms_threshold,
    )
    return out


def decode_yunet(
    cls: Sequence[np.ndarray],
    obj: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray],
    strides: Sequence[int],
    canvas: tuple[int, int],
    scale: float,
    score_threshold: float,
    nms_threshold: float,
) -> FloatArray:
    out: FloatArray = _vision.decode_yunet(
        list(cls), list(obj), list(boxes), list(landmarks), list(strides), canvas, scale, score_threshold,
        nms_threshold,
    )
    return out


def decode_retinaface(
    loc: np.ndarray,
    conf: np.ndarray,
    landmarks: np.ndarray,
    canvas: tuple[int, int],
    scale: float,
    score_threshold: float,
    nms_threshold: float,
) -> FloatArray:
    out: FloatArray = _vision.decode_retinaface(loc, conf, landmarks, canvas, scale, score_threshold, nms_threshold)
    return out


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> npt.NDArray[np.int64]:
    keep: npt.NDArray[np.int64] = _vision.nms(boxes, scores, iou_threshold)
    return keep


def similarity_transform(src: FloatArray, dst: FloatArray) -> npt.NDArray[np.float64]:
    matrix: npt.NDArray[np.float64] = _vision.similarity_transform(src, dst)
    return matrix


def align_chips(image: RGBImage, landmarks: FloatArray, template: FloatArray, size: int) -> npt.NDArray[np.uint8]:
    chips: npt.NDArray[np.uint8] = _vision.align_chips(image, landmarks, template, size)
    return chips


def align_tensor(
    image: RGBImage, landmarks: FloatArray, template: FloatArray, size: int, bgr: bool, mean: Triple, std: Triple
) -> FloatArray:
    tensor: FloatArray = _vision.align_tensor(image, landmarks, template, size, bgr, mean, std)
    return tensor
