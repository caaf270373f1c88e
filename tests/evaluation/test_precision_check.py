"""How precision verification matches detections and applies the rule (synthetic boxes, no models)."""

from __future__ import annotations

import math

import numpy as np

from faceindex.evaluation.precision_check import LfwFigures, PhotoFigures, _box_shift, criteria

BOXES = np.array([[10.0, 10.0, 110.0, 120.0], [300.0, 40.0, 360.0, 110.0], [500.0, 500.0, 540.0, 548.0]])


def test_the_same_boxes_in_another_order_match_without_shift() -> None:
    assert _box_shift(BOXES, BOXES[::-1].copy()) == (True, 0.0)


def test_the_largest_edge_shift_is_reported() -> None:
    moved = BOXES.copy()
    moved[1, 2] += 0.75
    moved[2, 0] -= 0.25
    assert _box_shift(BOXES, moved[[2, 0, 1]]) == (True, 0.75)


def test_a_missing_or_different_face_is_not_the_same_faces() -> None:
    same, shift = _box_shift(BOXES, BOXES[:2])
    assert not same and math.isinf(shift)
    elsewhere = BOXES.copy()
    elsewhere[2] += 300.0  # as many faces, but one of them somewhere else
    assert not _box_shift(BOXES, elsewhere)[0]


def photos(min_cosine: float, shift: float) -> PhotoFigures:
    return PhotoFigures(3, 9, min_cosine, min_cosine, "a.jpg", 2, True, shift, True, shift, "b.jpg", ())


def lfw(accuracy: float, fnmr: float) -> LfwFigures:
    return LfwFigures(3916, 5082, 9, accuracy, fnmr, 0.9, 1)


def test_each_criterion_at_its_bound() -> None:
    ok = criteria(photos(0.999, 1.0), lfw(0.9824, 0.10), lfw(0.9814, 0.11))
    assert all(c["passed"] for c in ok.values()), ok
    bad = criteria(photos(0.9989, 1.01), lfw(0.9824, 0.10), lfw(0.9813, 0.111))
    assert not any(c["passed"] for name, c in bad.items() if name != "group_photo_faces"), bad


def test_unmeasured_lfw_fails() -> None:
    assert not criteria(photos(1.0, 0.0), None, None)["lfw"]["passed"]
