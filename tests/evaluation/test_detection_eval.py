"""Detection measured on labelled faces (faceindex.evaluation.detection): dlib's XML, matching,
recall by size and the confidence curve packs map their scores through."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from faceindex.evaluation.detection import confidence_curve, match, read_imglab, recall_by_size
from faceindex.packs.confidence import ConfidenceCurve, curve_for


def test_dlibs_labelled_faces_are_read(data_file: Callable[[str], Path]) -> None:
    faces = data_file("images/dlib/faces/training.xml").parent
    images = read_imglab(faces / "training.xml") + read_imglab(faces / "testing.xml")
    assert len(images) == 9 and sum(len(i.boxes) for i in images) == 43
    first = images[0]
    assert first.path.name == "2007_007763.jpg" and first.path.is_file()
    np.testing.assert_array_equal(first.boxes[0], [194, 90, 231, 127])  # left 194, top 90, 37 x 37
    assert np.all(first.widths == first.boxes[:, 2] - first.boxes[:, 0])


def test_matching_is_one_to_one_best_overlap_first() -> None:
    labels = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    detections = np.array([[1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60], [21, 1, 31, 11]], float)
    found, used = match(labels, detections)
    assert found.tolist() == [True, True]
    assert used.tolist() == [False, True, False, True]  # the exact box wins the first label; the far one is false
    assert match(labels, np.zeros((0, 4)))[0].tolist() == [False, False]


def test_recall_by_size_bands() -> None:
    widths = np.array([37, 37, 44, 60, 90, 120])
    found = np.array([True, False, True, True, False, True])
    bands = recall_by_size(widths, found)
    assert bands["<40"] == {"found": 1, "labelled": 2, "recall": 0.5}
    assert bands["40-80"]["recall"] == 1.0 and bands[">=80"]["labelled"] == 2


def test_the_confidence_curve_is_the_precision_at_each_threshold() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.95, 0.5, 0.6])
    faces = np.array([False, False, True, False, True, True, True, False])
    knots, precision = confidence_curve(scores, faces)
    assert knots == sorted(knots) and precision == sorted(precision)
    at = dict(zip(knots, precision))
    assert at[0.1] == pytest.approx(4 / 8) and at[0.95] == 1.0
    # Of the detections scoring 0.6 or more, 2 of 3 were faces; 0.5 or more, 3 of 4; 0.4 or more, 3 of 5;
    # 0.3 or more, 4 of 6. The curve never says more than a higher threshold does: 2/3 at 0.5, 3/5 at 0.3.
    curve = ConfidenceCurve(tuple(knots), tuple(precision), "test")
    assert curve(0.6) == pytest.approx(2 / 3) and curve(0.5) == pytest.approx(2 / 3)
    assert curve(0.3) == pytest.approx(3 / 5) and curve(2.0) == 1.0 and curve(-1.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no detections of faces"):
        confidence_curve(np.array([0.3]), np.array([False]))
    with pytest.raises(ValueError, match="non-decreasing"):
        ConfidenceCurve((0.1, 0.2), (0.9, 0.5), "decreasing")


def test_the_shipped_curves_cover_the_detectors_faceindex_knows() -> None:
    for key in ("dlib:cascade", "dlib:mmod", "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
                "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a"):
        curve = curve_for(key)
        assert curve is not None and "hand-labelled" in curve.source
        assert curve(curve.scores[-1]) == 1.0 and 0 < curve(curve.scores[0]) < 1
    assert curve_for("0" * 64) is None
