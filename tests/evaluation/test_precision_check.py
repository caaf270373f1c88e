"""How precision verification matches faces, counts decisions and applies the rule, and what
a record's verdict says (synthetic boxes and records, no models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceindex.evaluation.lfw import LfwPair
from faceindex.evaluation.precision_check import (EmbeddingFigures, FaceFigures, Flips, LfwFigures, PhotoFigures,
                                                  criteria, decision_flips, face_shift, iou, lfw_figures,
                                                  match_faces)
from faceindex.thresholds import precision_records as rule
from faceindex.types import Face, PackRef

BOXES = np.array([[10.0, 10.0, 110.0, 120.0], [300.0, 40.0, 360.0, 110.0], [500.0, 500.0, 540.0, 548.0]])


def test_iou_of_a_box_with_itself_a_shifted_one_and_a_distant_one() -> None:
    shifted = BOXES[:1] + [10.0, 0.0, 10.0, 0.0]  # 100 px wide, moved 10 px: 90 x 110 shared
    out = iou(BOXES[:1], np.vstack([BOXES[:1], shifted, BOXES[2:]]))
    np.testing.assert_allclose(out[0], [1.0, 90 * 110 / (2 * 100 * 110 - 90 * 110), 0.0])


def test_faces_match_one_to_one_at_the_iou_bound() -> None:
    pairs = match_faces(BOXES, BOXES[::-1].copy(), 0.9)
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 2), (1, 1), (2, 0)]
    # Moved by 5% of its width, a 100 px box keeps IoU 0.905; by 6%, 0.887: no longer the same face.
    for dx, matched in ((5.0, True), (6.0, False)):
        moved = BOXES[:1] + [dx, 0.0, dx, 0.0]
        assert bool(match_faces(BOXES[:1], moved, 0.9)) == matched, dx
    assert match_faces(BOXES, np.zeros((0, 4)), 0.9) == []


def face(bbox: tuple[float, float, float, float], landmarks: list[list[float]]) -> Face:
    return Face(bbox=bbox, score=0.9, landmarks=np.array(landmarks, dtype=np.float32))


def test_shift_is_the_largest_box_edge_or_landmark_move_over_the_face_width() -> None:
    points = [[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 90.0], [75.0, 90.0]]
    a = face((10.0, 10.0, 110.0, 120.0), points)
    b = face((11.0, 10.0, 110.0, 121.5), points)
    assert face_shift(a, b) == pytest.approx(1.5 / 100)
    moved = [list(p) for p in points]
    moved[2][1] += 2.5  # the nose moves further than any edge
    assert face_shift(a, face(b.bbox, moved)) == pytest.approx(2.5 / 100)


def pair(same: bool, fold: int = 0) -> LfwPair:
    return LfwPair(fold, Path("a.jpg"), Path("b.jpg"), same)


def test_decision_flips_count_both_ways() -> None:
    pairs = [pair(True), pair(True), pair(False), pair(False), pair(True)]
    ref = np.array([0.9, 0.5, 0.2, 0.6, -np.inf])
    cand = np.array([0.4, 0.5, 0.7, 0.6, 0.9])
    flips = decision_flips(ref, cand, pairs, 0.5)
    assert (flips.flipped, flips.genuine_lost, flips.impostor_gained) == (3, 1, 1)
    assert flips.share == pytest.approx(3 / 5)


def test_fnmr_at_a_threshold_comes_with_its_interval() -> None:
    pairs = [pair(i % 2 == 0, fold=i % 3) for i in range(200)]
    similarity = np.where([p.same for p in pairs], 0.8, 0.1)
    similarity[:20:2] = 0.3  # 10 genuine pairs of 100 below the threshold
    similarity[1] = 0.95  # one impostor above it
    figures = lfw_figures(similarity, pairs, 400, 0, {1e-3: 0.5})
    fnmr = figures.fnmr["1e-03"]
    assert (fnmr["errors"], fnmr["trials"], fnmr["value"]) == (10, 100, 0.1)
    assert fnmr["low"] < 0.1 < fnmr["high"] and figures.false_matches == {"1e-03": 1}


def photos(min_cosine: float, shift: float, missing: int = 0, extra: int = 0) -> PhotoFigures:
    faces = FaceFigures(30, 60, 60 - missing, tuple(f"p.jpg: face {i}" for i in range(missing)),
                        tuple(f"q.jpg: face {i}" for i in range(extra)), 2, 0.95, shift, "b.jpg")
    return PhotoFigures(faces, EmbeddingFigures(190, 400, min_cosine, min_cosine, "a.jpg"), ())


def lfw(fnmr: float, low: float, high: float) -> LfwFigures:
    rates = {name: {"value": fnmr, "low": low, "high": high, "errors": 0, "trials": 1958} for name in ("1e-03", "1e-04")}
    return LfwFigures(3916, 5082, 2, 0.98, rates, {"1e-03": 2, "1e-04": 0})


def test_each_criterion_at_its_bound() -> None:
    ref = lfw(0.05, 0.04, 0.06)
    ok = criteria(photos(0.99, 0.03), ref, lfw(0.06, 0, 0), Flips(0.4, 1000, 5, 3, 2))
    assert all(c["passed"] for c in ok.values()), ok
    bad = criteria(photos(0.9899, 0.0301, missing=1), ref, lfw(0.0601, 0, 0), Flips(0.4, 1000, 6, 3, 3))
    assert not any(c["passed"] for c in bad.values()), bad
    assert not criteria(photos(1.0, 0.0, extra=1), ref, ref, Flips(0.4, 1000, 0, 0, 0))["same_faces"]["passed"]
    below = criteria(photos(1.0, 0.0), ref, lfw(0.0399, 0, 0), Flips(0.4, 1000, 0, 0, 0))
    assert not below["lfw_fnmr_at_fmr_1e-03"]["passed"]  # better is also a changed decision


def test_unmeasured_lfw_fails() -> None:
    assert not criteria(photos(1.0, 0.0), None, None, None)["lfw"]["passed"]


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path))
    return tmp_path


def write(folder: Path, pack: PackRef, record: dict[str, object]) -> None:
    (folder / rule.record_file_name(pack)).write_text(json.dumps({"pack": {"name": pack.name, "version": pack.version},
                                                                  **record}))


def test_a_failed_pair_is_refused_with_the_figure_that_failed(records: Path) -> None:
    pack = PackRef("p", "1")
    checks = criteria(photos(0.9612, 0.021), lfw(0.05, 0.04, 0.06), lfw(0.05, 0, 0), Flips(0.4, 3916, 28, 20, 8))
    write(records, pack, {"format": rule.FORMAT, "candidates": [
        {"backend": "openvino", "precision": "int8", "date": "d", "criteria": checks, "passed": False}]})
    verdict = rule.verdict(pack, "openvino", "int8")
    assert verdict.passed is False
    assert "embedding_cosine 0.9612 (needs >= 0.99)" in verdict.reason
    assert "lfw_decision_flips 0.00715 (needs <= 0.005" in verdict.reason
    assert "face_shift" not in verdict.reason  # only what failed
    assert rule.verdict(pack, "openvino", "bf16").passed is None


def test_a_record_of_the_old_pixel_rule_is_not_offered(records: Path) -> None:
    pack = PackRef("old", "1")
    passed = {"embedding_cosine": {"value": 0.9995, "bound": ">= 0.999", "passed": True}}
    write(records, pack, {"candidates": [{"backend": "openvino", "precision": "bf16", "criteria": passed,
                                          "passed": True}]})
    verdict = rule.verdict(pack, "openvino", "bf16")
    assert verdict.passed is None and "format 1 (an older rule), not 2" in verdict.reason
    assert "make verify-precision" in verdict.reason


def test_a_precision_not_measured_here_says_why(records: Path) -> None:
    pack = PackRef("unmeasured", "1")
    write(records, pack, {"format": rule.FORMAT, "candidates": [
        {"backend": "openvino", "precision": "bf16", "measured": False, "why": "no AVX-512 BF16 here"}]})
    verdict = rule.verdict(pack, "openvino", "bf16")
    assert verdict.passed is None and "not measured for pack unmeasured 1: no AVX-512 BF16 here" in verdict.reason
