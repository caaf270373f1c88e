"""Calibration tables: the rates they give, where they stop, the thresholds chosen from them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from faceindex import CalibrationError, PackRef
from faceindex import thresholds
from faceindex.evaluation.calibrate import tail_check
from faceindex.evaluation.table_builder import build_table, pair_scores
from faceindex.thresholds import CalibrationTable
from faceindex.thresholds.intervals import rate, wilson_interval
from faceindex.types import PackInfo

PACK = PackInfo(name="calibrated-test", version="7", embedding_size=8, default_threshold=0.5,
                threshold_source="tests", detector="-", recognizer="-", license="-")


def synthetic_scores(n_impostor: int = 400_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.1, n_impostor), rng.normal(0.6, 0.1, 5000)


@pytest.fixture(scope="module")
def table() -> CalibrationTable:
    impostor, genuine = synthetic_scores()
    # The fitted tail is used only where its own check (fitted on a tenth of the pairs) trusts it.
    return build_table(impostor, genuine, PACK.ref, {"dataset": "normal scores", "tail_check": tail_check(impostor)})


def test_the_table_reproduces_counted_rates(table: CalibrationTable) -> None:
    impostor, genuine = synthetic_scores()
    for fmr in (0.1, 1e-2, 1e-3, 1e-4, 2e-5):
        t, beyond = table.threshold_for_fmr(fmr)
        counted = np.count_nonzero(impostor >= t)
        assert not beyond
        assert counted <= fmr * len(impostor) * 1.02 + 1, (fmr, counted)
        assert counted >= fmr * len(impostor) * 0.9 - 1, (fmr, counted)
        estimate = table.fmr_at(t)
        assert estimate.low <= counted / len(impostor) <= estimate.high and not estimate.beyond_table
        fnmr = table.fnmr_at(t)
        assert abs(fnmr.value - np.mean(genuine < t)) <= 2e-3


def test_rates_below_the_resolution_come_from_the_fitted_tail_and_say_so(table: CalibrationTable) -> None:
    assert table.resolved_fmr == pytest.approx(3 / 400_000)
    t, beyond = table.threshold_for_fmr(1e-7)
    assert beyond and t > table.threshold_for_fmr(1e-5)[0]
    estimate = table.fmr_at(t)
    assert estimate.beyond_table and estimate.low <= estimate.value <= estimate.high
    assert estimate.value == pytest.approx(1e-7, rel=1e-6)
    # Normal scores fall off faster than exponential: the fitted tail over-estimates, so the
    # threshold is stricter than the true one (1 - Phi(t/0.1) = 1e-7 at t = 0.52).
    assert t > 0.52
    with pytest.raises(CalibrationError, match="not trusted further"):
        table.threshold_for_fmr(1e-10)


def test_an_untrusted_tail_refuses_rates_beyond_the_resolution(table: CalibrationTable) -> None:
    impostor, genuine = synthetic_scores()
    untested = build_table(impostor, genuine, PACK.ref, {})  # no check of its tail: not trusted
    assert table.tail_trusted and not untested.tail_trusted
    with pytest.raises(CalibrationError, match="will not extrapolate"):
        untested.threshold_for_fmr(1e-7)
    value, beyond = untested.threshold_for_fmr(1e-7, at_limit=True)
    assert beyond and value == untested.limit_threshold and value > impostor.max()
    estimate = untested.fmr_at(value)
    assert estimate.value == 0 and estimate.high == pytest.approx(3 / len(impostor), rel=0.3) and estimate.beyond_table


def test_the_file_round_trips_and_damage_is_caught(table: CalibrationTable, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    table.save(path)
    again = CalibrationTable.load(path)
    assert again.pack == table.pack and again.threshold_for_fmr(1e-3) == table.threshold_for_fmr(1e-3)
    assert path.stat().st_size < 100_000
    data = json.loads(path.read_text())
    data["impostor"]["counts_at_or_above"][5] += 10**9
    path.write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match="damaged"):
        CalibrationTable.load(path)
    path.write_text("{not json")
    with pytest.raises(CalibrationError, match="cannot read"):
        CalibrationTable.load(path)


def test_pair_scores_are_every_pair_once() -> None:
    rng = np.random.default_rng(1)
    v = rng.standard_normal((40, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    labels = np.repeat(np.arange(10), 4)
    impostor, genuine = pair_scores(v, labels)
    full = v @ v.T
    i, j = np.triu_indices(40, 1)
    same = labels[i] == labels[j]
    assert len(genuine) == same.sum() == 60 and len(impostor) == (~same).sum()
    np.testing.assert_allclose(np.sort(impostor), np.sort(full[i, j][~same]), atol=1e-5)


def test_the_fpir_threshold_follows_the_gallery_size(table: CalibrationTable, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path))
    table.save(tmp_path / thresholds.table_file_name(PACK.ref))
    thresholds.forget_loaded_tables()
    try:
        chosen = [thresholds.for_search(PACK, n, max_fpir=0.01) for n in (1, 100, 10_000, 1_000_000)]
        values = [c.value for c in chosen]
        assert values == sorted(values) and values[0] < values[-1]
        impostor, _ = synthetic_scores()
        for c, n in zip(chosen, (1, 100, 10_000, 1_000_000)):
            assert c.chosen_by == "fpir" and c.gallery_size == n and c.requested == 0.01
            assert c.fmr is not None and c.fpir is not None
            # Against the definitions, not the code: FPIR 1% over n faces allows FMR 1 - 0.99^(1/n) per
            # comparison; the impostor scores counted at the threshold stay within it (to the table's
            # resolution), and the FPIR reported is 1 - (1 - FMR)^n of the FMR reported.
            allowed = 1 - 0.99 ** (1 / n)
            counted = np.count_nonzero(impostor >= c.value) / len(impostor)
            assert counted <= allowed * 1.05 + 3 / len(impostor), (n, counted, allowed)
            assert c.fpir.value == pytest.approx(1 - (1 - c.fmr.value) ** n, rel=1e-6)
            assert c.fpir.low <= 0.01 * 1.05
        # The default: FPIR 1% at the size, and never looser than FMR 1e-4 per comparison.
        small, large = thresholds.for_search(PACK, 3), thresholds.for_search(PACK, 1_000_000)
        assert small.chosen_by == "fmr" and small.requested == 1e-4
        assert large.chosen_by == "fpir" and large.requested == 0.01
        assert thresholds.for_comparison(PACK).requested == 1e-4
        fixed = thresholds.for_comparison(PACK, threshold=0.3)
        assert fixed.chosen_by == "fixed" and fixed.fmr is not None and fixed.fmr.value == pytest.approx(
            1 - 0.99865, abs=2e-4)
        with pytest.raises(ValueError, match="not both"):
            thresholds.for_comparison(PACK, threshold=0.3, max_fmr=1e-3)
        with pytest.raises(ValueError, match="max_fpir"):
            thresholds.for_search(PACK, 10, max_fpir=1.5)
    finally:
        thresholds.forget_loaded_tables()


def test_an_uncalibrated_pack_says_so_and_refuses_rates() -> None:
    other = PackInfo(name="never-measured", version="1", embedding_size=8, default_threshold=0.42,
                     threshold_source="placeholder", detector="-", recognizer="-", license="-")
    choice = thresholds.for_comparison(other)
    assert choice.chosen_by == "uncalibrated default" and choice.value == 0.42 and choice.fmr is None
    assert "no calibration table" in choice.calibration
    with pytest.raises(CalibrationError, match="no calibration table"):
        thresholds.for_search(other, 10, max_fpir=0.01)


def test_similarity_0_100_is_defined_through_the_fmr() -> None:
    assert thresholds.fmr_of_similarity(80) == pytest.approx(1e-6)
    assert thresholds.fmr_of_similarity(99) <= 1e-7
    assert thresholds.similarity_of_fmr(1e-6) == pytest.approx(80)
    grid = np.linspace(0, 100, 201)
    fmrs = [thresholds.fmr_of_similarity(s) for s in grid]
    assert all(a > b for a, b in zip(fmrs, fmrs[1:]))
    assert all(abs(thresholds.similarity_of_fmr(f) - s) < 1e-9 for s, f in zip(grid, fmrs))


def test_wilson_intervals() -> None:
    low, high = wilson_interval(0, 1000)
    assert low == 0 and 0.002 < high < 0.004
    r = rate(50, 1000)
    assert r.low < 0.05 < r.high and math.isclose(r.value, 0.05)
    assert str(PackRef("a", "1")) == "a 1"
