"""The arithmetic of decisions, against numbers worked out by hand from the definitions:
FPIR = 1 - (1 - FMR)^N for a search of N faces, its inverse, Wilson's interval, the 0-100
Similarity's anchors, and counting a table's impostor pairs at a threshold."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from faceindex import PackRef, thresholds
from faceindex.errors import CalibrationError
from faceindex.thresholds import fmr_for_fpir, fpir_for_fmr
from faceindex.thresholds.calibration_table import CalibrationTable, Tail
from faceindex.thresholds.intervals import rate, resolution, wilson_interval
from faceindex.thresholds.similarity import (
    decades_of_similarity,
    fmr_of_similarity,
    similarity_of_decades,
    similarity_of_fmr,
)
from faceindex.types import PackInfo, RateEstimate

# 1 - (1 - FMR)^N by the binomial expansion (or exactly, for small N), worked out by hand:
# N = 10:   10 x 1e-4 - 45 x 1e-8 + 120 x 1e-12 - 210 x 1e-16 = 9.9955011998e-4
# N = 2:    2 x 1e-3 - 1e-6 = 1.999e-3
# N = 1000: 1 - exp(1000 ln(1 - 1e-4)) = 1 - exp(-0.1000050003) = 0.0951671064
# N = 1e6:  1 - exp(1e6 ln(1 - 1e-6)) = 1 - exp(-1.0000005) = 0.6321207428
FPIR_BY_HAND = [
    (1e-4, 1, 1e-4),
    (1e-4, 10, 9.9955011998e-4),
    (1e-3, 2, 1.999e-3),
    (1e-4, 1000, 0.0951671064),
    (1e-6, 1_000_000, 0.6321207428),
]


@pytest.mark.parametrize("fmr, n, fpir", FPIR_BY_HAND)
def test_fpir_is_one_minus_the_chance_that_none_of_n_comparisons_false_matches(fmr: float, n: int, fpir: float) -> None:
    estimate = fpir_for_fmr(RateEstimate(fmr, fmr / 2, fmr * 2, beyond_table=False), n)
    assert estimate.value == pytest.approx(fpir, rel=1e-9)
    # The interval's ends go through the same formula, and the flag is kept.
    assert estimate.low == pytest.approx(1 - (1 - fmr / 2) ** n, rel=1e-9)
    assert estimate.high == pytest.approx(1 - (1 - fmr * 2) ** n, rel=1e-9)
    assert estimate.beyond_table is False
    assert fpir_for_fmr(RateEstimate(fmr, fmr, fmr, beyond_table=True), n).beyond_table is True


def test_fpir_at_the_edges() -> None:
    # An empty gallery is searched as one face (no search of nothing reports FPIR 0 as a rate).
    assert fpir_for_fmr(RateEstimate(1e-4, 1e-4, 1e-4, False), 0).value == pytest.approx(1e-4, rel=1e-12)
    # FMR 1 (every pair above the threshold): a false candidate is certain, not NaN.
    assert fpir_for_fmr(RateEstimate(1.0, 0.5, 1.0, False), 50).value == pytest.approx(1.0)
    assert fpir_for_fmr(RateEstimate(0.0, 0.0, 0.0, False), 10**9).value == 0.0


# The inverse, FMR = 1 - (1 - FPIR)^(1/N), by hand: N = 100, FPIR 1%: ln 0.99 = -0.01005033585,
# / 100 -> 1 - exp(-1.005033585e-4) = 1.004983082e-4; N = 1e6: 1.005033580e-8.
@pytest.mark.parametrize("fpir, n, fmr", [(0.01, 1, 0.01), (0.01, 100, 1.004983082e-4), (0.01, 1_000_000, 1.005033580e-8),
                                          (0.5, 2, 1 - math.sqrt(0.5))])
def test_the_fmr_of_an_fpir_is_its_inverse(fpir: float, n: int, fmr: float) -> None:
    assert fmr_for_fpir(fpir, n) == pytest.approx(fmr, rel=1e-8)
    assert fpir_for_fmr(RateEstimate(fmr, fmr, fmr, False), n).value == pytest.approx(fpir, rel=1e-8)


def test_an_fpir_outside_0_1_is_refused() -> None:
    for bad in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match="max_fpir must be in"):
            fmr_for_fpir(bad, 10)
    assert fmr_for_fpir(0.01, 0) == pytest.approx(0.01)  # no faces: searched as one


def test_wilson_interval_by_hand() -> None:
    # 5 errors in 100 trials, z = 1.96: centre (0.05 + 1.96^2/200) / (1 + 1.96^2/100) = 0.066647,
    # half-width 1.96 sqrt(0.05 x 0.95 / 100 + 1.96^2 / 40000) / 1.038415 = 0.045104.
    low, high = wilson_interval(5, 100)
    assert low == pytest.approx(0.021543, abs=1e-5) and high == pytest.approx(0.111751, abs=1e-5)
    # None of 1000: the upper end is about the rule of three (3/n), the lower end exactly 0.
    low, high = wilson_interval(0, 1000)
    assert low == 0.0 and high == pytest.approx(0.003827, abs=1e-5)
    # All of them: the upper end exactly 1.
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and low == pytest.approx(0.8389, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="errors must be in"):
        wilson_interval(11, 10)
    r = rate(5, 100)
    assert (r.value, r.errors, r.trials) == (0.05, 5, 100) and str(r) == "0.05 [0.0215, 0.112] (5/100)"
    assert rate(0, 0).value == 0.0
    assert resolution(300) == 0.01 and resolution(0) == 1.0


@pytest.mark.parametrize("decades, similarity", [
    (0.0, 0.0), (-1.0, 0.0), (3.0, 40.0), (6.0, 80.0),  # 80 d / 6 up to FMR 1e-6
    (6.5, 85.0), (7.0, 90.0), (7.8, 98.0),  # then 10 per decade up to 98
    (8.0, 99.0), (9.0, 100 - 2 / 7), (10.0, 100 - 2 / 12), (math.inf, 100.0),  # then 100 - 2 / (1 + 5 (d - 7.8))
])
def test_similarity_of_the_fmr_by_its_definition(decades: float, similarity: float) -> None:
    assert similarity_of_decades(decades) == pytest.approx(similarity, abs=1e-9)
    if decades >= 0:
        assert decades_of_similarity(similarity) == pytest.approx(decades, abs=1e-9)
        assert similarity_of_fmr(10.0 ** -decades) == pytest.approx(similarity, abs=1e-9)
        assert fmr_of_similarity(similarity) == pytest.approx(10.0 ** -decades, rel=1e-9)


def test_similarity_out_of_its_range_is_refused() -> None:
    assert similarity_of_fmr(0.0) == 100.0 and similarity_of_fmr(2.0) == 0.0
    for bad in (-0.1, 100.1, float("nan")):
        with pytest.raises(ValueError, match="0-100 scale"):
            decades_of_similarity(bad)
    with pytest.raises(ValueError, match="NaN"):
        similarity_of_decades(float("nan"))


def tiny_table(tail_checked: bool = True) -> CalibrationTable:
    """1000 impostor pairs counted at four knots, by hand: 1000 score >= 0.0, 100 >= 0.2, 10 >= 0.4,
    1 >= 0.6; a tail fitted from 0.4 (10 pairs, scale 0.05)."""
    check = [{"from_tail": True, "interval": [0.0, 0.02], "counted_fmr": 0.01}] if tail_checked else []
    return CalibrationTable(
        pack=PackRef("tiny", "1"), impostor_pairs=1000, genuine_pairs=100,
        impostor_scores=np.array([0.0, 0.2, 0.4, 0.6]), impostor_counts=np.array([1000, 100, 10, 1]),
        tail=Tail(start=0.4, fmr_at_start=0.01, scale=0.05, count=10),
        genuine_scores=np.array([0.3, 0.5, 0.7]), genuine_below=np.array([0, 50, 100]),
        provenance={"dataset": "by hand", "images": 10, "date": "today", "tail_check": check})


def test_a_table_counts_its_pairs_at_a_threshold_by_hand() -> None:
    table = tiny_table()
    assert table.resolved_fmr == 0.003
    # At the knots, the counts themselves; between them, log-linear: at 0.1, sqrt(1000 x 100) = 316.
    assert table.fmr_at(0.2).value == 0.1 and table.fmr_at(0.4).value == 0.01
    assert table.fmr_at(0.1).value == 0.316 and table.fmr_at(-1.0).value == 1.0
    assert not table.fmr_at(0.3).beyond_table and table.fmr_at(0.3).value == 0.031  # floor(sqrt(1000))
    # The threshold of a rate: FMR 1e-2 -> 10 pairs -> 0.4; 3.16e-2 -> 31.6 pairs -> halfway, 0.3.
    assert table.threshold_for_fmr(0.01) == (0.4, False)
    assert table.threshold_for_fmr(math.sqrt(10) / 100)[0] == pytest.approx(0.3)
    # Below 3 pairs: the fitted tail, 0.01 exp(-(t - 0.4) / 0.05) = 1e-4 at t = 0.4 + 0.05 ln 100.
    t, beyond = table.threshold_for_fmr(1e-4)
    assert beyond and t == pytest.approx(0.4 + 0.05 * math.log(100))
    estimate = table.fmr_at(t)
    assert estimate.beyond_table and estimate.value == pytest.approx(1e-4)
    assert estimate.low <= 1e-4 <= estimate.high
    # FNMR: genuine pairs below the threshold, interpolated: 25 of 100 at 0.4.
    assert table.fnmr_at(0.4).value == 0.25 and table.fnmr_at(0.2).value == 0.0 and table.fnmr_at(0.9).value == 1.0
    assert table.limit_threshold == float(np.nextafter(0.6, 1.0))
    assert "tiny 1 on by hand (10 images, 1,000 impostor and 100 genuine pairs, today)" in table.source


def test_an_unchecked_tail_gives_the_table_limit_or_refuses() -> None:
    table = tiny_table(tail_checked=False)
    assert not table.tail_trusted
    assert table.threshold_for_fmr(1e-4, at_limit=True) == (table.limit_threshold, True)
    with pytest.raises(CalibrationError, match="will not extrapolate"):
        table.threshold_for_fmr(1e-4)
    resolved = table.fmr_at(0.5)  # floor(sqrt(10 x 1)) = 3 pairs: still resolved
    assert resolved.value == 0.003 and not resolved.beyond_table
    counted = table.fmr_at(0.55)  # floor(10^0.25) = 1 pair: what was counted, flagged unresolved
    assert counted.value == 0.001 and counted.beyond_table
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(CalibrationError, match="max_fmr must be in"):
            table.threshold_for_fmr(bad)
    with pytest.raises(CalibrationError, match="not trusted further"):
        tiny_table().threshold_for_fmr(1e-10)


def test_the_fmr_curve_of_a_table_by_hand() -> None:
    """Similarity's curve: log FMR linear between the counted knots (at 0.3, halfway from 1e-1 to 1e-2:
    1.5 decades), the fitted tail beyond the resolved rate (at 0.6: 0.01 exp(-4), 2 + 4 / ln 10 decades),
    and below the first knot under FMR 1 an exponential toward 0 decades (at 0.0: e^-1)."""
    curve = tiny_table().fmr_curve
    assert curve.decades_at(0.3) == pytest.approx(1.5)
    assert curve.decades_at(0.6) == pytest.approx(2 + 4 / math.log(10))
    assert curve.decades_at(0.0) == pytest.approx(math.exp(-1))
    assert curve.score_at(1.5) == pytest.approx(0.3)
    assert curve.score_at(2 + 4 / math.log(10)) == pytest.approx(0.6)
    assert curve.score_at(math.exp(-1)) == pytest.approx(0.0)
    assert curve.score_at(0.0) == -math.inf and curve.score_at(math.inf) == math.inf
    with pytest.raises(ValueError, match="NaN"):
        curve.decades_at(float("nan"))
    # An untrusted tail: the counted knots to the last pair (1 of 1000 at 0.6: 3 decades), then the
    # tail's slope, 1 / (0.05 ln 10) decades per unit of score.
    untrusted = tiny_table(tail_checked=False).fmr_curve
    assert untrusted.decades_at(0.6) == pytest.approx(3.0)
    assert untrusted.decades_at(0.7) == pytest.approx(3 + 0.1 / (0.05 * math.log(10)))
    assert untrusted.score_at(3 + 0.1 / (0.05 * math.log(10))) == pytest.approx(0.7)


def test_similarity_and_its_threshold_through_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pack = PackInfo(name="tiny", version="1", embedding_size=8, default_threshold=0.5, threshold_source="-",
                    detector="-", recognizer="-", license="-")
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path))
    tiny_table().save(tmp_path / thresholds.table_file_name(pack.ref))
    thresholds.forget_loaded_tables()
    try:
        # 1.5 decades: Similarity 80 x 1.5 / 6 = 20; and Similarity 20 asks for the cosine 0.3.
        assert thresholds.rekognition_similarity(pack, 0.3) == pytest.approx(20.0)
        choice = thresholds.threshold_for_similarity(pack, 20.0)
        assert choice.value == pytest.approx(0.3) and choice.chosen_by == "fmr"
        assert choice.requested == pytest.approx(10 ** -1.5) and choice.fpir is None
        searched = thresholds.threshold_for_similarity(pack, 20.0, gallery_size=10)
        assert searched.gallery_size == 10 and searched.fmr is not None and searched.fpir is not None
        assert searched.fpir.value == pytest.approx(1 - (1 - searched.fmr.value) ** 10)
        # Beyond identical faces: a cosine is at most 1.
        assert thresholds.threshold_for_similarity(pack, 99.99).value == 1.0
        # A search's default: FPIR 1% at the gallery's size, no looser than FMR 1e-4 per comparison;
        # on this table 1e-4 needs the tail (0.4 + 0.05 ln 100), FPIR 1% at 10 faces allows 1.005e-3,
        # 1.005 pairs of 1000: the tail too, at 0.4 + 0.05 ln(0.01 / 1.005e-3).
        small = thresholds.for_search(pack, 10)
        assert small.chosen_by == "fmr" and small.value == pytest.approx(0.4 + 0.05 * math.log(100))
        large = thresholds.for_search(pack, 100_000)
        allowed = 1 - 0.99 ** (1 / 100_000)
        assert large.chosen_by == "fpir" and large.value == pytest.approx(0.4 + 0.05 * math.log(0.01 / allowed))
        assert thresholds.for_search(pack, 10, max_fmr=0.01).value == 0.4
        assert thresholds.for_search(pack, 10, threshold=0.2).fmr.value == 0.1  # type: ignore[union-attr]
        assert thresholds.for_comparison(pack).value == pytest.approx(0.4 + 0.05 * math.log(100))
        assert thresholds.for_comparison(pack, max_fmr=0.1).value == 0.2
    finally:
        thresholds.forget_loaded_tables()


def test_rates_and_thresholds_asked_for_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rate is a number in (0, 1) (FMR 1 allowed: every pair), a threshold a cosine in [-1, 1]; at most
    one of them per decision; an uncalibrated pack takes a threshold but no rate."""
    pack = PackInfo(name="tiny", version="1", embedding_size=8, default_threshold=0.5, threshold_source="-",
                    detector="-", recognizer="-", license="-")
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path))
    tiny_table().save(tmp_path / thresholds.table_file_name(pack.ref))
    thresholds.forget_loaded_tables()
    try:
        for bad in (0.0, 1.5, -0.1, float("nan"), float("inf"), True, "0.01"):
            with pytest.raises(ValueError, match="max_fmr must be"):
                thresholds.for_comparison(pack, max_fmr=bad)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="max_fpir must be"):
                thresholds.for_search(pack, 10, max_fpir=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_fpir must be"):
            thresholds.for_search(pack, 10, max_fpir=1.0)  # a false candidate certain is no rate to ask for
        assert thresholds.for_comparison(pack, max_fmr=1.0).value == 0.0  # every pair: the lowest knot
        assert thresholds.for_search(pack, 10, max_fmr=1).requested == 1.0
        for bad in (1.01, -1.01, float("nan"), True, "0.5"):
            with pytest.raises(ValueError, match="threshold is a cosine similarity from -1 to 1"):
                thresholds.for_comparison(pack, threshold=bad)  # type: ignore[arg-type]
        assert thresholds.for_comparison(pack, threshold=-1).value == -1.0
        assert thresholds.for_search(pack, 10, threshold=1).value == 1.0
        with pytest.raises(ValueError, match="at most one of"):
            thresholds.for_search(pack, 10, max_fmr=0.01, max_fpir=0.01)
        with pytest.raises(ValueError, match="at most one of"):
            thresholds.for_search(pack, 10, threshold=0.5, max_fpir=0.01)
        fixed = thresholds.for_search(pack, 10, threshold=0.2)
        assert (fixed.chosen_by, fixed.requested, fixed.gallery_size) == ("fixed", None, 10)
        assert fixed.fpir is not None and fixed.fpir.value == pytest.approx(1 - 0.9 ** 10)
        assert "by hand" in fixed.calibration
        assert thresholds.for_search(pack, -5).gallery_size == 0  # no faces: searched as one
    finally:
        thresholds.forget_loaded_tables()
    other = PackInfo(name="never-measured", version="1", embedding_size=8, default_threshold=0.42,
                     threshold_source="-", detector="-", recognizer="-", license="-")
    given = thresholds.for_search(other, 10, threshold=0.3)
    assert (given.value, given.chosen_by, given.fmr, given.fpir, given.gallery_size) == (0.3, "fixed", None, None, 10)
    assert "has no calibration table" in given.calibration
    assert thresholds.for_comparison(other, threshold=0.3).fmr is None
    default = thresholds.for_search(other, 10)
    assert (default.value, default.chosen_by) == (0.42, "uncalibrated default")
    with pytest.raises(CalibrationError, match="max_fmr needs a calibration table"):
        thresholds.for_search(other, 10, max_fmr=1e-3)
    with pytest.raises(CalibrationError, match="max_fpir needs a calibration table"):
        thresholds.for_search(other, 10, max_fpir=1e-3)
    with pytest.raises(CalibrationError, match="max_fmr needs a calibration table"):
        thresholds.for_comparison(other, max_fmr=1e-3)
    # A rate out of range is refused as such before any table is looked for.
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"^max_fmr must be in \(0, 1\), got "):
            thresholds.for_comparison(other, max_fmr=bad)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"^max_fpir must be in \(0, 1\), got "):
            thresholds.for_search(other, 10, max_fpir=bad)


def tiny_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: CalibrationTable) -> PackInfo:
    pack = PackInfo(name=table.pack.name, version=table.pack.version, embedding_size=8, default_threshold=0.5,
                    threshold_source="-", detector="-", recognizer="-", license="-")
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path))
    table.save(tmp_path / thresholds.table_file_name(pack.ref))
    thresholds.forget_loaded_tables()
    return pack


def test_a_match_exactly_at_the_threshold_of_a_similarity_has_that_similarity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny table's step: 3 pairs of 1000 score at or above 0.4 + 0.2 log10(10 / 3) = 0.504576 (2.5229
    decades, Similarity 33.64), where the fitted tail says 0.01 exp(-0.104576 / 0.05) = 1.2349e-3 (2.9083
    decades, Similarity 80 x 2.9083 / 6 = 38.78). A FaceMatchThreshold inside the step asks for 0.504576, and
    a face scoring exactly that has Similarity 38.78, not the 33.64 counted just below it."""
    pack = tiny_pack(tmp_path, monkeypatch, tiny_table())
    try:
        step = 0.4 + 0.2 * math.log10(10 / 3)
        tail_decades = -math.log10(0.01 * math.exp(-(step - 0.4) / 0.05))
        assert tail_decades == pytest.approx(2.90833, abs=1e-5)
        for asked in (34.0, 38.7, 80 * tail_decades / 6):
            choice = thresholds.threshold_for_similarity(pack, asked)
            assert choice.value == pytest.approx(step, abs=1e-12)
            assert thresholds.rekognition_similarity(pack, choice.value) == pytest.approx(80 * tail_decades / 6)
            assert thresholds.rekognition_similarity(pack, choice.value) >= asked - 1e-9
        curve = tiny_table().fmr_curve
        assert curve.beyond_score == pytest.approx(step, abs=1e-12)
        assert curve.decades_at(curve.beyond_score) == pytest.approx(tail_decades)
        # Just below it, what was counted: 3 pairs of 1000.
        assert curve.decades_at(np.nextafter(curve.beyond_score, 0.0)) == pytest.approx(math.log10(1000 / 3))
    finally:
        thresholds.forget_loaded_tables()


def test_a_similarity_threshold_says_how_it_was_chosen_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """Similarity 20 on the tiny table: 1.5 decades, FMR 10^-1.5 asked, the cosine 0.3, where
    floor(sqrt(1000 x 100)) = 31 pairs of 1000 were counted (FMR 0.031); a search of 10 faces there:
    FPIR 1 - 0.969^10; of no faces: the gallery size 0 as asked, FPIR as for one comparison."""
    pack = tiny_pack(tmp_path, monkeypatch, tiny_table())
    try:
        alone = thresholds.threshold_for_similarity(pack, 20.0)
        assert (alone.chosen_by, alone.requested, alone.fpir, alone.gallery_size) == ("fmr", 10 ** -1.5, None, None)
        assert alone.value == pytest.approx(0.3, abs=1e-12)
        assert alone.fmr == RateEstimate(0.031, *wilson_interval(31, 1000), beyond_table=False)
        assert "calibration of tiny 1 on by hand" in alone.calibration
        searched = thresholds.threshold_for_similarity(pack, 20.0, gallery_size=10)
        assert (searched.chosen_by, searched.requested, searched.gallery_size) == ("fmr", 10 ** -1.5, 10)
        assert searched.value == alone.value and searched.fmr == alone.fmr
        assert searched.fpir is not None and searched.fpir.value == pytest.approx(1 - 0.969 ** 10, rel=1e-12)
        assert searched.fpir.high == pytest.approx(1 - (1 - wilson_interval(31, 1000)[1]) ** 10, rel=1e-12)
        assert "calibration of tiny 1 on by hand" in searched.calibration
        empty = thresholds.threshold_for_similarity(pack, 20.0, gallery_size=0)
        assert empty.gallery_size == 0 and empty.fpir is not None and empty.fpir.value == pytest.approx(0.031)
        # Similarity 0 asks for every pair: the lowest cosine there is, -1.
        assert thresholds.threshold_for_similarity(pack, 0.0).value == -1.0
    finally:
        thresholds.forget_loaded_tables()
    other = PackInfo(name="never-measured", version="1", embedding_size=8, default_threshold=0.42,
                     threshold_source="-", detector="-", recognizer="-", license="-")
    with pytest.raises(CalibrationError, match="^Similarity needs a calibration table, and pack never-measured 1 has "
                       r"no calibration table: its error rates are not measured \(faceindex calibrate builds one "
                       r"from your own labelled photos\); give threshold= instead$"):
        thresholds.rekognition_similarity(other, 0.5)
    with pytest.raises(CalibrationError, match="^Similarity needs a calibration table"):
        thresholds.threshold_for_similarity(other, 80.0)


def test_fnmr_is_the_genuine_pairs_below_with_its_interval() -> None:
    """25 of 100 genuine pairs below 0.4 (halfway from 0 below 0.3 to 50 below 0.5); the highest genuine pair
    scores 0.7 (99 below it), so just above it all 100 are below."""
    table = dataclasses.replace(tiny_table(), genuine_below=np.array([0, 50, 99]))
    assert table.fnmr_at(0.4) == RateEstimate(0.25, *wilson_interval(25, 100), beyond_table=False)
    assert table.fnmr_at(0.7).value == 0.99 and table.fnmr_at(0.71).value == 1.0 and table.fnmr_at(0.2).value == 0.0


def test_the_fmr_curve_between_its_last_knots_and_below_its_first() -> None:
    """The tiny table (trusted tail): knots at 0.2, 0.4 and 0.504576 (1, 2 and log10(1000 / 3) decades, 0.2 of
    score per decade between the last two), so 2.3 decades at 0.46. A table whose first knot under FMR 1 is
    at 2 decades (10 of 1000 pairs at 0.3, 1 at 0.6: 10 / 3 decades per unit of score): below 0.3,
    2 exp((s - 0.3) (10 / 3) / 2), 2 e^-0.5 at 0.0. A table with one knot under FMR 1 (5 of 1000 at 0.5:
    log10 200 decades) goes below it at the tail's slope, 1 / (0.05 ln 10)."""
    curve = tiny_table().fmr_curve
    assert curve.score_at(2.3) == pytest.approx(0.46) and curve.decades_at(0.46) == pytest.approx(2.3)
    untrusted = dict(tail=Tail(start=0.3, fmr_at_start=0.01, scale=0.05, count=10), provenance={})
    two = dataclasses.replace(tiny_table(), impostor_scores=np.array([0.0, 0.3, 0.6]),
                              impostor_counts=np.array([1000, 10, 1]), **untrusted).fmr_curve
    assert two.decades_at(0.0) == pytest.approx(2 * math.exp(-0.5))
    assert two.score_at(2 * math.exp(-0.5)) == pytest.approx(0.0, abs=1e-12)
    assert two.score_at(2.5) == pytest.approx(0.45)
    one = dataclasses.replace(tiny_table(), impostor_scores=np.array([0.0, 0.5]), impostor_counts=np.array([1000, 5]),
                              **untrusted).fmr_curve
    d0, slope = math.log10(200), 1 / (0.05 * math.log(10))
    assert one.decades_at(0.4) == pytest.approx(d0 * math.exp(-0.1 * slope / d0))
    assert one.score_at(d0 * math.exp(-0.1 * slope / d0)) == pytest.approx(0.4)


def test_how_a_comparison_and_a_search_chose_their_threshold_by_hand(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field of the choice: on the tiny table FMR 1e-4 needs its tail (0.4 + 0.05 ln 100, flagged);
    with the tail unchecked the default takes the table's limit (the lowest score above its last pair)
    while a rate asked for beyond what it resolves is refused."""
    pack = tiny_pack(tmp_path, monkeypatch, tiny_table())
    try:
        default = thresholds.for_comparison(pack)
        assert (default.chosen_by, default.requested, default.fpir, default.gallery_size) == ("fmr", 1e-4, None, None)
        assert default.value == pytest.approx(0.4 + 0.05 * math.log(100))
        assert default.fmr is not None and default.fmr.beyond_table and default.fmr.value == pytest.approx(1e-4)
        assert "calibration of tiny 1 on by hand" in default.calibration
        given = thresholds.for_comparison(pack, threshold=0.2)
        assert (given.value, given.chosen_by, given.requested) == (0.2, "fixed", None)
        assert given.fmr == RateEstimate(0.1, *wilson_interval(100, 1000), beyond_table=False)
        assert "calibration of tiny 1 on by hand" in given.calibration
        searched = thresholds.for_search(pack, 10, max_fmr=0.01)
        assert (searched.value, searched.chosen_by, searched.requested, searched.gallery_size) == (0.4, "fmr", 0.01, 10)
        assert searched.fpir is not None and searched.fpir.value == pytest.approx(1 - 0.99 ** 10)
        with pytest.raises(ValueError, match=r"^max_fmr must be in \(0, 1\), got "):
            thresholds.for_search(pack, 10, max_fmr=0.0)
    finally:
        thresholds.forget_loaded_tables()
    unchecked = tiny_pack(tmp_path, monkeypatch, dataclasses.replace(tiny_table(tail_checked=False),
                                                                    pack=PackRef("unchecked", "1")))
    try:
        limit = thresholds.for_comparison(unchecked)
        assert (limit.value, limit.chosen_by, limit.requested) == (float(np.nextafter(0.6, 1.0)), "fmr", 1e-4)
        with pytest.raises(CalibrationError, match="will not extrapolate"):
            thresholds.for_comparison(unchecked, max_fmr=1e-4)
    finally:
        thresholds.forget_loaded_tables()


def test_the_interval_of_a_rate_in_the_fitted_tail_by_hand() -> None:
    """At 0.4 + 0.05 ln 100 the tail gives 1e-4; its interval takes the counted rate at the tail's start
    (Wilson's for 10 of 1000) and a scale one standard error (1.96 / sqrt(10) of it) shorter or longer,
    and never goes above what was counted there (no pair: Wilson's upper bound for 0 of 1000)."""
    t = 0.4 + 0.05 * math.log(100)
    low10, high10 = wilson_interval(10, 1000)
    spread = 1.959964 / math.sqrt(10)
    estimate = tiny_table().fmr_at(t)
    assert estimate.value == pytest.approx(1e-4)
    assert estimate.low == pytest.approx(low10 * math.exp(-(t - 0.4) / (0.05 * (1 - spread))), rel=1e-5)
    assert estimate.high == pytest.approx(min(high10 * math.exp(-(t - 0.4) / (0.05 * (1 + spread))),
                                              wilson_interval(0, 1000)[1]), rel=1e-5)
    assert estimate.low < 1e-4 < estimate.high


def test_where_a_table_is_found_and_how_it_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack's table file name keeps letters, digits and ._-+ and makes the rest _, at most 200 characters
    before .json; tables are looked for in $FACEINDEX_CALIBRATION, else the user data folder's calibration/;
    a table file is readable by all (0644), says how its tail was fitted, and a file of another format is
    refused as such."""
    from faceindex.thresholds.tables import table_file_name, table_for, user_dir

    assert table_file_name(PackRef("my pack/v", "1.0+x")) == "my_pack_v_1.0+x.json"  # "@" too
    assert table_file_name(PackRef("a" * 300, "1")) == "a" * 200 + ".json"
    monkeypatch.delenv("FACEINDEX_CALIBRATION", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert user_dir() == tmp_path / "data" / "faceindex" / "calibration"
    monkeypatch.setenv("FACEINDEX_CALIBRATION", str(tmp_path / "mine"))
    assert user_dir() == tmp_path / "mine"
    thresholds.forget_loaded_tables()
    try:
        assert table_for(PackRef("dlib", "1.1")) is not None  # a PackRef as well as a PackInfo
    finally:
        thresholds.forget_loaded_tables()
    path = tmp_path / "t.json"
    tiny_table().save(path)
    assert path.stat().st_mode & 0o777 == 0o644
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["tail"]["fit"] == "exponential (GPD, shape 0), maximum likelihood, highest scores"
    assert CalibrationTable.from_json(data).impostor_pairs == 1000
    with pytest.raises(CalibrationError, match="^calibration table is not a faceindex calibration table of version"):
        CalibrationTable.from_json(dict(data, format="another-format"))


def table_json(**changes: object) -> dict[str, object]:
    """The tiny table as its file holds it, with some of its parts changed."""
    data = tiny_table().to_json()
    impostor, genuine, tail = dict(data["impostor"]), dict(data["genuine"]), dict(data["tail"])
    for key, value in changes.items():
        part, _, name = key.partition("__")
        {"impostor": impostor, "genuine": genuine, "tail": tail, "top": data}[part][name] = value
    return dict(data, impostor=impostor, genuine=genuine, tail=tail)


@pytest.mark.parametrize("changes", [
    {"impostor__scores": [0.0, 0.2, 0.2, 0.6]},  # two knots at one score
    {"impostor__counts_at_or_above": [1000, 100, 101, 1]},  # a count rising
    {"impostor__counts_at_or_above": [1000, 100, 10, 0]},  # the last knot counts no pair
    {"impostor__counts_at_or_above": [1001, 100, 10, 1]},  # more pairs than there are
    {"tail__scale": 0.0},
    {"genuine__scores": [0.3, 0.5, 0.4]},
    {"impostor__scores": [0.0], "impostor__counts_at_or_above": [1000]},
])
def test_a_damaged_table_is_refused_by_its_name(changes: dict[str, object]) -> None:
    with pytest.raises(CalibrationError, match="^my-table.json is damaged: its curves are not monotone"):
        CalibrationTable.from_json(table_json(**changes), "my-table.json")


def test_a_table_at_the_bounds_of_what_is_allowed_is_read() -> None:
    """Two knots, equal counts at two knots, equal genuine scores, one genuine pair, no provenance."""
    two = CalibrationTable.from_json(table_json(impostor__scores=[0.0, 0.6], impostor__counts_at_or_above=[1000, 1]))
    assert len(two.impostor_scores) == 2 and two.fmr_at(0.0).value == 1.0
    flat = CalibrationTable.from_json(table_json(impostor__counts_at_or_above=[1000, 100, 100, 1]))
    assert flat.fmr_at(0.4).value == 0.1
    data = table_json(genuine__scores=[0.3, 0.3], genuine__counts_below=[0, 0], top__genuine_pairs=1)
    del data["provenance"]
    one = CalibrationTable.from_json(data)
    assert one.genuine_pairs == 1 and one.provenance == {} and one.fnmr_at(0.9).value == 1.0


def test_counting_at_the_first_and_last_knots_and_thresholds_between_them_by_hand() -> None:
    """A table whose first knot counts 900 of its 1000 pairs (the other 100 score below 0.0) and whose last
    counts 5 (at 0.6): at 0.0 exactly 900, below it all 1000; at 0.6 exactly 5, above it none. The threshold
    of FMR 1 is the lowest knot; of FMR 3e-3 (3 pairs, fewer than the last knot's 5) the last knot; of
    sqrt(0.1) (316.2 pairs) log-linear between 900 at 0.0 and 100 at 0.2."""
    table = dataclasses.replace(tiny_table(tail_checked=False), impostor_counts=np.array([900, 100, 10, 5]))
    assert table.fmr_at(0.0).value == 0.9 and table.fmr_at(-0.1).value == 1.0
    assert table.fmr_at(0.6).value == 0.005 and table.fmr_at(np.nextafter(0.6, 1.0)).value == 0.0
    assert table.threshold_for_fmr(1.0) == (0.0, False)
    assert table.threshold_for_fmr(0.003) == (0.6, False)
    t, beyond = table.threshold_for_fmr(math.sqrt(0.1))
    assert not beyond and t == pytest.approx(0.2 * math.log(9 / math.sqrt(10)) / math.log(9))
    assert tiny_table().threshold_for_fmr(math.sqrt(0.1))[0] == pytest.approx(0.1)
    # One pair counted at 0.6 of the tiny table, its tail unchecked: that pair, flagged, with its interval.
    assert tiny_table(tail_checked=False).fmr_at(0.6) == RateEstimate(0.001, *wilson_interval(1, 1000), True)


def test_the_rule_of_three_and_wilson_for_one_trial_by_hand() -> None:
    # 3 / n, and nothing resolved without trials; one trial without an error: 0 to z^2 / (1 + z^2).
    assert resolution(1) == 3.0 and resolution(0) == 1.0 and resolution(1000) == 0.003
    z2 = 1.959964 ** 2
    assert wilson_interval(0, 1) == pytest.approx((0.0, z2 / (1 + z2)), abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_defaults_beyond_an_unchecked_tail_take_the_limit_and_the_tails_floor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search's default on a table whose tail is unchecked: FPIR 1% at 10 faces (1.005 pairs of 1000) and
    FMR 1e-4 both lie beyond what it resolves, so both take the table's limit; at a tie the FPIR holds. A
    rate just below the resolved 3e-3 is never given a threshold below the 3-pair point the tail starts
    from; FMR 1e-9 itself is still allowed. Every wall at 1: 10 of 10 errors, an upper bound of exactly 1."""
    unchecked = tiny_pack(tmp_path, monkeypatch, dataclasses.replace(tiny_table(tail_checked=False),
                                                                    pack=PackRef("unchecked", "1")))
    try:
        default = thresholds.for_search(unchecked, 10)
        assert (default.value, default.chosen_by, default.requested) == (float(np.nextafter(0.6, 1.0)), "fpir", 0.01)
    finally:
        thresholds.forget_loaded_tables()
    assert tiny_table().threshold_for_fmr(0.0029) == (pytest.approx(0.4 + 0.2 * math.log10(10 / 3)), True)
    assert tiny_table().threshold_for_fmr(1e-9)[1] is True
    assert wilson_interval(10, 10)[1] == 1.0


def test_a_damaged_table_file_is_named_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(table_json(**{"tail__scale": 0.0})), encoding="utf-8")
    with pytest.raises(CalibrationError, match=f"^{path} is damaged"):
        CalibrationTable.load(path)
