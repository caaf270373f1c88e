"""Typed wrappers over the dlib pack's compiled kernels (`faceindex._core.vision`).

The only module of the dlib pack that touches `_core`; the compiled side
validates shapes and types and raises ValueError/TypeError.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt

from faceindex import _core
from faceindex.images import RGBImage

_vision = _core.vision


def pyramid_up(image: RGBImage) -> RGBImage:
    """The image upsampled 2x as dlib's pyramid_up does."""
    up: RGBImage = _vision.dlib_pyramid_up(image)
    return up


def pyramid(image: RGBImage, means: Sequence[float], padding: int, outer_padding: int
            ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """The mmod detector's input canvas float32 [1, 3, H, W] and where each pyramid level lies
    in it, int64 [levels, 4] (left, top, right, bottom)."""
    canvas, levels = _vision.dlib_pyramid(image, list(means), padding, outer_padding)
    return canvas, levels


def mmod_decode(scores: npt.NDArray[np.float32], levels: npt.NDArray[np.int64], canvas_size: tuple[int, int],
                windows: npt.NDArray[np.int64], mapping: Sequence[int], threshold: float, nms_iou: float,
                nms_covered: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Detections from the score map: boxes int64 [n, 4] (inclusive) and scores, best first."""
    boxes, found = _vision.dlib_mmod_decode(scores, levels, canvas_size, windows, tuple(mapping), threshold,
                                            nms_iou, nms_covered)
    return boxes, found


class ShapePredictor:
    """dlib's regression-tree cascade, run in C++."""

    def __init__(self, initial_shape: np.ndarray, anchors: np.ndarray, deltas: np.ndarray, split_idx: np.ndarray,
                 split_thresh: np.ndarray, leaves: np.ndarray) -> None:
        self._predictor = _vision.DlibShapePredictor(initial_shape, anchors, deltas, split_idx, split_thresh, leaves)

    def predict(self, image: RGBImage, boxes: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Landmarks float32 [n, parts, 2] for boxes int64 [n, 4] (left, top, right, bottom, inclusive)."""
        points: npt.NDArray[np.float32] = self._predictor.predict(image, np.ascontiguousarray(boxes, dtype=np.int64))
        return points


def face_chips(image: RGBImage, landmarks: npt.NDArray[np.float32], size: int, padding: float
               ) -> npt.NDArray[np.uint8]:
    """Aligned chips uint8 [n, size, size, 3] cut as dlib's get_face_chip does."""
    chips: npt.NDArray[np.uint8] = _vision.dlib_face_chips(image, landmarks, size, padding)
    return chips


def chips_to_tensor(chips: npt.NDArray[np.uint8], means: Sequence[float]) -> npt.NDArray[np.float32]:
    """(chip - mean) / 256 as the recognizer's float32 [n, 3, h, w] input."""
    tensor: npt.NDArray[np.float32] = _vision.dlib_chips_to_tensor(chips, list(means))
    return tensor
