"""Typed wrappers over the dlib pack's compiled kernels (`faceindex._core.vision`).

The only module of the dlib pack that touches `_core`; the compiled side
validates shapes and types and raises ValueError/TypeError.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceindex import _core
from faceindex.images import RGBImage

_vision = _core.vision


class MmodDetector:
    """dlib's CNN detector around its network, in C++: image -> pyramid canvas, score map ->
    rectangles of the image. The canvas layout of an image size is kept across calls."""

    def __init__(self, means: Sequence[float], padding: int, outer_padding: int, windows: npt.NDArray[np.int64],
                 mapping: Sequence[int], nms_iou: float, nms_covered: float) -> None:
        scale_y, offset_y, scale_x, offset_x = (int(v) for v in mapping)
        self.means = (float(means[0]), float(means[1]), float(means[2]))  # RGB, what the network subtracts
        self._detector = _vision.DlibMmodDetector(list(means), padding, outer_padding,
                                                  np.ascontiguousarray(windows, dtype=np.int64),
                                                  (scale_y, offset_y, scale_x, offset_x), nms_iou, nms_covered)

    def prepare(self, image: RGBImage, upsample: int) -> tuple[npt.NDArray[np.float32], Any]:
        """The network's input float32 [1, 3, H, W] for the image upsampled 2x `upsample`
        times, and its layout (an opaque object for decode; .canvas_size is (width, height))."""
        canvas, layout = self._detector.prepare(image, upsample)
        return canvas, layout

    def decode(self, scores: npt.NDArray[np.float32], layout: Any, threshold: float
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Boxes int64 [n, 4] (left, top, right, bottom, inclusive, in the image given to
        prepare) and scores, best first."""
        boxes, found = self._detector.decode(np.ascontiguousarray(scores, dtype=np.float32), layout, threshold)
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
