"""Fuzz harness: the dlib .dat readers on arbitrary bytes; a shape predictor that reads is then
built and run in C++ (the landmark kernel) on a small image.

The first byte picks the reader: 0 shape predictor, 1 MMOD detector network, 2 ResNet
recognizer network. Accepted outcomes: DlibFormatError, or a model the C++ kernel takes
and runs to finite landmarks.
"""

from __future__ import annotations

import numpy as np

from faceindex.errors import DlibFormatError
from faceindex.packs.dlib import kernels
from faceindex.packs.dlib.networks import read_detector, read_recognizer
from faceindex.packs.dlib.shape_predictor import read_shape_predictor

_IMAGE = np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)
_BOXES = np.array([[8, 4, 40, 36], [-10, -10, 100, 100]], dtype=np.int64)


def check(data: bytes) -> None:
    if not data:
        return
    reader, body = data[0] % 3, data[1:]
    try:
        if reader == 1:
            read_detector(body)
        elif reader == 2:
            read_recognizer(body)
        else:
            sp = read_shape_predictor(body)
            # A shape predictor the reader accepts must be one the C++ kernel accepts and runs.
            predictor = kernels.ShapePredictor(sp.initial_shape, sp.anchors, sp.deltas, sp.split_idx,
                                               sp.split_thresh, sp.leaves)
            points = predictor.predict(_IMAGE, _BOXES)
            assert points.shape == (2, sp.num_parts, 2) and np.all(np.isfinite(points)), points
    except DlibFormatError:
        return


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
