"""Rekognition's Similarity over every calibration table shipped with faceindex: strictly increasing in
the score (two different scores never share a Similarity), inside (0, 100) for every finite score,
80 where the table's FMR is 1e-6, and the threshold a FaceMatchThreshold asks for lies exactly where
the Similarity reaches it. Property-tested with hypothesis."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceindex import thresholds
from faceindex.thresholds.calibration_table import CalibrationTable
from faceindex.thresholds.similarity import decades_of_similarity, similarity_of_decades
from faceindex.thresholds.tables import SHIPPED_DIR

SHIPPED = sorted(p for p in SHIPPED_DIR.glob("*.json") if not p.name.endswith(".precision.json"))
# Scores are cosines computed in float32 (resolution 6e-8 near 1) and may overshoot 1 a little:
# every two that differ by at least this are ordered.
GAP = 1e-7
SCORES = st.floats(min_value=-1.5, max_value=1.5, allow_nan=False)


def test_every_shipped_table_is_covered() -> None:
    # Today dlib 1.1's (a trusted tail) and the ONNX pack's (an untrusted one): both branches of the curve.
    assert len(SHIPPED) >= 2, SHIPPED


@functools.cache
def load(path: Path) -> CalibrationTable:
    return CalibrationTable.load(path)


def similarity(table: CalibrationTable, score: float) -> float:
    return similarity_of_decades(table.fmr_curve.decades_at(score))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
@settings(max_examples=400, deadline=None)
@given(low=SCORES, gap=st.floats(min_value=GAP, max_value=3.0))
def test_similarity_is_strictly_increasing_and_never_100(path: Path, low: float, gap: float) -> None:
    table = load(path)
    high = low + gap
    s_low, s_high = similarity(table, low), similarity(table, high)
    assert 0.0 < s_low < s_high < 100.0, (low, high, s_low, s_high)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
@settings(max_examples=300, deadline=None)
@given(asked=st.floats(min_value=0.01, max_value=99.999, allow_nan=False))
def test_the_threshold_of_a_similarity_is_where_it_is_reached(path: Path, asked: float) -> None:
    table = load(path)
    threshold = table.fmr_curve.score_at(decades_of_similarity(asked))
    assert math.isfinite(threshold)
    # At and above the threshold the Similarity is at least the one asked for, just below it less.
    assert similarity(table, threshold + 1e-9) >= asked - 1e-9
    assert similarity(table, threshold - GAP) < asked


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_80_is_fmr_1e_6_and_the_steps_are_gone(path: Path) -> None:
    table = load(path)
    at_1e_6, _ = table.threshold_for_fmr(1e-6)
    assert similarity(table, at_1e_6) == pytest.approx(80.0, abs=1e-9)
    assert thresholds.fmr_of_similarity(80) == pytest.approx(1e-6)
    # The scores that one step of the old mapping gave the same Similarity (seen: 0.969 and 0.970 ->
    # 83.3176 with dlib's table) now differ, and 1.0 (identical faces) stays under 100.
    grid = [0.5 + i * 1e-3 for i in range(501)]
    values = [similarity(table, s) for s in grid]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert similarity(table, 1.0) < 100.0


def test_the_mapping_of_fmr_keeps_its_anchors_and_never_reaches_100() -> None:
    assert similarity_of_decades(6.0) == 80.0 and similarity_of_decades(7.0) == 90.0
    assert similarity_of_decades(8.0) == pytest.approx(99.0)
    assert similarity_of_decades(300.0) < 100.0 and similarity_of_decades(math.inf) == 100.0
    for d in (0.5, 3.0, 6.0, 7.5, 7.8, 8.0, 12.0, 40.0):
        assert decades_of_similarity(similarity_of_decades(d)) == pytest.approx(d)
