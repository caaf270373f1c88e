"""Bad input to the dlib pack and its kernels: clear exceptions, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

from faceindex import _core
from faceindex.images import load_image
from faceindex.packs.dlib import DlibPack
from faceindex.types import Face

vision = _core.vision


@pytest.fixture(scope="module")
def photo(data_file: Callable[[str], Path]) -> np.ndarray:
    return load_image(data_file("images/insightface/t1.jpg"))


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (28, 40), (40, 28), (60, 60)])
def test_tiny_images_give_no_faces(dlib_pack: Any, size: tuple[int, int]) -> None:
    rgb = np.full(size + (3,), 128, np.uint8)
    assert len(dlib_pack.detect(rgb)) == 0


def test_blank_and_noise_images(dlib_pack: Any) -> None:
    assert len(dlib_pack.detect(np.zeros((300, 400, 3), np.uint8))) == 0
    rng = np.random.default_rng(0)
    faces = dlib_pack.detect(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    assert all(np.isfinite(f.score) for f in faces)


def test_faces_cut_by_the_border(dlib_pack: Any, photo: np.ndarray) -> None:
    faces = dlib_pack.detect(photo)
    for face in faces:  # crop through the middle of each face: left half, top half
        x1, y1, x2, y2 = (int(v) for v in face.bbox)
        for crop in (photo[:, : (x1 + x2) // 2], photo[: (y1 + y2) // 2]):
            crop = np.ascontiguousarray(crop)
            found = dlib_pack.detect(crop)
            emb = dlib_pack.embed(crop, found) if found else np.zeros((0, 128), np.float32)
            assert emb.shape == (len(found), 128) and np.all(np.isfinite(emb))
            np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, rtol=1e-5)


def test_landmarks_far_outside_the_image_give_black_chips(dlib_pack: Any, photo: np.ndarray) -> None:
    lm = np.array([[[5e6, 5e6], [5e6 + 30, 5e6], [5e6 - 60, 5e6], [5e6 - 30, 5e6], [5e6, 5e6 + 40]]], np.float32)
    chips = vision.dlib_face_chips(photo, lm)
    assert chips.shape == (1, 150, 150, 3) and chips.max() == 0
    same_point = np.full((1, 5, 2), 100, np.float32)  # degenerate: every part on one pixel
    assert vision.dlib_face_chips(photo, same_point).shape == (1, 150, 150, 3)


def test_embed_refuses_faces_without_dlib_landmarks(dlib_pack: Any, photo: np.ndarray) -> None:
    bad = Face(bbox=(0, 0, 10, 10), score=1.0, landmarks=np.zeros((68, 2), np.float32))
    with pytest.raises(ValueError, match=r"shape \(5, 2\)"):
        dlib_pack.embed(photo, [bad])
    nan = Face(bbox=(0, 0, 10, 10), score=1.0, landmarks=np.full((5, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        dlib_pack.embed(photo, [nan])
    assert dlib_pack.embed(photo, []).shape == (0, 128)


def mmod(means: Any = (0.0, 0.0, 0.0), nms_iou: float = 0.3) -> Any:
    """A DlibMmodDetector with one 80x80 window (the shape of dlib's)."""
    return vision.DlibMmodDetector(list(means), 10, 11, np.array([[80, 80]], np.int64), (8, 14, 8, 14), nms_iou, 1.0)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda img: mmod().prepare(img.astype(np.float32)), TypeError),
        (lambda img: mmod().prepare(img[:, :, :2].copy()), ValueError),
        (lambda img: mmod().prepare(img[:, ::2]), ValueError),
        (lambda img: mmod().prepare(np.zeros((0, 5, 3), np.uint8)), ValueError),
        (lambda img: mmod(means=[0, 0]), ValueError),
        (lambda img: mmod(means=[0, 0, np.nan]), ValueError),
        (lambda img: vision.dlib_face_chips(img, np.zeros((1, 4, 2), np.float32)), ValueError),
        (lambda img: vision.dlib_face_chips(img, np.zeros((1, 5, 2), np.float64)), TypeError),
        (lambda img: vision.dlib_face_chips(img, np.full((1, 5, 2), np.inf, np.float32)), ValueError),
        (lambda img: vision.dlib_face_chips(img, np.zeros((1, 5, 2), np.float32), size=0), ValueError),
        (lambda img: vision.dlib_chips_to_tensor(np.zeros((1, 4, 4, 4), np.uint8), [0, 0, 0]), ValueError),
        # Two score channels for a detector with one window.
        (lambda img: mmod().decode(np.zeros((1, 2, 3, 3), np.float32), mmod().prepare(img)[1], 0.0), ValueError),
        # A score map larger than the canvas it is said to come from.
        (lambda img: mmod().decode(np.zeros((1, 1, 3, 99999), np.float32), mmod().prepare(img)[1], 0.0), ValueError),
        (lambda img: mmod(nms_iou=1.5), ValueError),
    ],
)
def test_kernels_validate_their_arguments(photo: np.ndarray, call: Callable[[np.ndarray], Any], error: type) -> None:
    with pytest.raises(error):
        call(photo)


def test_shape_predictor_validates_model_and_boxes(dlib_pack: Any, photo: np.ndarray) -> None:
    init = np.zeros(10, np.float32)
    anchors = np.zeros((1, 4), np.uint32)
    deltas = np.zeros((1, 4, 2), np.float32)
    idx = np.zeros((1, 2, 3, 2), np.uint32)
    thr = np.zeros((1, 2, 3), np.float32)
    leaves = np.zeros((1, 2, 4, 10), np.float32)
    ok = vision.DlibShapePredictor(init, anchors, deltas, idx, thr, leaves)
    assert ok.predict(photo, np.array([[-50, -50, 5000, 5000]], np.int64)).shape == (1, 5, 2)
    with pytest.raises(ValueError, match="anchor"):
        vision.DlibShapePredictor(init, anchors + 7, deltas, idx, thr, leaves)
    with pytest.raises(ValueError, match="split feature"):
        vision.DlibShapePredictor(init, anchors, deltas, idx + 9, thr, leaves)
    with pytest.raises(ValueError, match="leaves"):
        vision.DlibShapePredictor(init, anchors, deltas, idx, thr, leaves[:, :, :3])
    with pytest.raises(ValueError, match="boxes"):
        dlib_pack.landmarks(photo, np.array([[0, 0, 10**9, 10]], np.int64))
    with pytest.raises(ValueError, match="boxes"):
        dlib_pack.landmarks(photo, np.zeros((1, 3), np.int64))


@pytest.mark.parametrize("upsample", [-1, 9, 1.5])
def test_pack_options_are_checked(dlib_cache: Path, upsample: Any) -> None:
    with pytest.raises(ValueError, match="upsample"):
        DlibPack(upsample=upsample, cache_dir=dlib_cache)
