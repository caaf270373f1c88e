"""Exact search from f16 and i8 codes (FlatIndex.candidates / rescore / search_exact) against the f32
scan on every SIMD level: the same ids, order and scores to the bit, at every k and min_score,
with ties, vectors at and next to the threshold, and vectors whose quantization errors are as
large as the bound allows."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faceindex
from faceindex.flat_index import Candidates, set_simd_level
from flat_reference import LEVELS

DIMS = [1, 2, 3, 7, 17, 127, 128, 129, 512]
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def restore_simd_level() -> Iterator[None]:
    yield
    set_simd_level("auto")


def unit(v: np.ndarray) -> npt.NDArray[np.float32]:
    v = v.astype(np.float64)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def adversarial_i8(rng: np.random.Generator, query: np.ndarray, sign: float) -> np.ndarray:
    """A vector near the query whose i8 codes are each off by almost half a step, all towards
    (sign=1) or away from (sign=-1) the query: its code score errs by nearly the bound's h |q|_1,
    and the pair of opposite signs has equal codes but f32 scores 2 h |q|_1 apart."""
    x = unit(query + 0.05 * rng.standard_normal(len(query))).astype(np.float64)
    top = int(np.argmax(np.abs(x)))
    codes = np.round(127 * x / abs(x[top]))
    x = codes + 0.499 * sign * np.sign(query.astype(np.float64))
    x[top] = codes[top]  # the largest element fixes the scale, so the others keep their place
    return x


def adversarial_f16(rng: np.random.Generator, query: np.ndarray, sign: float) -> np.ndarray:
    """A unit vector near the query whose halves are each nearly half a gap away from it,
    towards or away from the query."""
    x = unit(query + 0.05 * rng.standard_normal(len(query)))
    for _ in range(3):  # normalising moves the values a little: aim again
        half = x.astype(np.float16)
        away = np.nextafter(half, (np.sign(query) * sign * np.inf).astype(np.float16))
        x = unit(half.astype(np.float64) + 0.49 * (away.astype(np.float64) - half.astype(np.float64)))
    return x


@st.composite
def cases(draw: st.DrawFn) -> dict:
    dim = draw(st.sampled_from(DIMS))
    return {
        "dim": dim,
        "n": draw(st.integers(0, 300)),
        # AVX-512 screens: i8 from 4 queries, f16 from 24.
        "nq": draw(st.sampled_from([1, 2, 3, 5, 13, 24, 40])),
        "k": draw(st.integers(1, 40)),
        "dtype": draw(st.sampled_from(["f16", "i8"])),
        # How tight the clusters are: scores a hair apart are where a bound too small shows.
        "spread": draw(st.sampled_from([1e-6, 1e-3, 0.05, 1.0])),
        "ties": draw(st.booleans()),
        "adversarial": draw(st.booleans()),
        "min_score": draw(st.sampled_from(["none", "at a score", "next to a score", "random"])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def make_data(case: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case["seed"])
    n, dim = case["n"], case["dim"]
    centres = rng.standard_normal((max(1, n // 8), dim))
    stored = centres[rng.integers(0, len(centres), n)] + case["spread"] * rng.standard_normal((n, dim))
    queries = unit(centres[rng.integers(0, len(centres), case["nq"])] + case["spread"] * rng.standard_normal(
        (case["nq"], dim)))
    if case["adversarial"] and n >= 4:
        make = adversarial_i8 if case["dtype"] == "i8" else adversarial_f16
        for i in range(0, n - 1, 6):  # pairs: the same base, errors of opposite signs
            stored[i] = make(np.random.default_rng(case["seed"] + i), queries[i % len(queries)], 1.0)
            stored[i + 1] = make(np.random.default_rng(case["seed"] + i), queries[i % len(queries)], -1.0)
    if case["ties"] and n >= 4:
        stored[1::4] = stored[0]  # equal vectors: ordered by id
    ids = rng.permutation(10 * n + 1)[:n].astype(np.uint64)
    return unit(stored), ids, queries


def min_score_of(case: dict, f32_scores: np.ndarray, rng: np.random.Generator) -> float:
    finite = f32_scores[np.isfinite(f32_scores)]
    if case["min_score"] == "none" or len(finite) == 0:
        return -math.inf
    at = float(finite[rng.integers(0, len(finite))])
    if case["min_score"] == "at a score":
        return at
    if case["min_score"] == "next to a score":
        return float(np.nextafter(np.float32(at), np.float32(np.inf if rng.integers(2) else -np.inf)))
    return float(rng.uniform(-1, 1))


def f32_answer(stored: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int,
               min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Today's answer: the f32 scan's k best, less those below min_score (padding -1 / -inf)."""
    index = faceindex.FlatIndex(stored.shape[1], "cosine", "f32")
    index.add(ids, stored)
    got_ids, got_scores = index.search(queries, k)
    below = ~(got_scores >= min_score)
    got_ids[below], got_scores[below] = -1, -np.inf
    return got_ids, got_scores


def assert_identical(got: tuple[np.ndarray, np.ndarray], expected: tuple[np.ndarray, np.ndarray]) -> None:
    assert got[0].dtype == np.int64 and got[1].dtype == np.float32
    assert got[0].shape == expected[0].shape
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1].view(np.uint32), expected[1].view(np.uint32))  # to the bit


@SETTINGS
@given(cases())
def test_search_exact_is_the_f32_scan_on_every_level(case: dict) -> None:
    stored, ids, queries = make_data(case)
    row_of = {int(i): r for r, i in enumerate(ids)}
    asked: list[np.ndarray] = []

    def vectors_of(wanted: np.ndarray) -> np.ndarray:
        asked.append(wanted)
        return stored[[row_of[int(i)] for i in wanted]]

    rng = np.random.default_rng(case["seed"] + 1)
    for level in LEVELS:
        set_simd_level(level)
        _, all_scores = f32_answer(stored, ids, queries, case["k"], -math.inf)
        min_score = min_score_of(case, all_scores, rng)
        expected = f32_answer(stored, ids, queries, case["k"], min_score)
        index = faceindex.FlatIndex(case["dim"], "cosine", case["dtype"])
        index.add(ids, stored)
        asked.clear()
        assert_identical(index.search_exact(queries, case["k"], vectors_of, min_score), expected)
        # Only candidates were fetched, each once, ascending; every answer was among them.
        (wanted,) = asked
        assert np.all(np.diff(wanted) > 0)
        found = index.candidates(queries, case["k"], min_score)
        assert len(found) == len(queries)
        for j in range(len(queries)):
            answer = expected[0][j][expected[0][j] >= 0]
            assert set(answer.tolist()) <= set(found.of(j).tolist())
            assert np.all(np.diff(found.of(j)) > 0)


def test_a_single_query_gives_one_row() -> None:
    stored, ids, queries = make_data({"dim": 64, "n": 500, "nq": 1, "dtype": "i8", "spread": 0.3, "ties": False,
                                      "adversarial": False, "seed": 3})
    index = faceindex.FlatIndex(64, "cosine", "i8")
    index.add(ids, stored)
    row_of = {int(i): r for r, i in enumerate(ids)}
    got = index.search_exact(queries[0], 7, lambda wanted: stored[[row_of[int(i)] for i in wanted]])
    assert got[0].shape == got[1].shape == (7,)
    expected = f32_answer(stored, ids, queries, 7, -math.inf)
    assert_identical((got[0][None], got[1][None]), expected)
    assert len(index.candidates(queries[0], 7)) == 1


def test_more_neighbours_than_stored_and_an_empty_index() -> None:
    stored, ids, queries = make_data({"dim": 16, "n": 5, "nq": 3, "dtype": "f16", "spread": 1.0, "ties": False,
                                      "adversarial": False, "seed": 4})
    index = faceindex.FlatIndex(16, "cosine", "f16")
    row_of = {int(i): r for r, i in enumerate(ids)}

    def vectors_of(wanted: np.ndarray) -> np.ndarray:
        return stored[[row_of[int(i)] for i in wanted]].reshape(len(wanted), 16)

    empty = index.search_exact(queries, 4, vectors_of)
    assert (empty[0] == -1).all() and (empty[1] == -np.inf).all()
    index.add(ids, stored)
    assert_identical(index.search_exact(queries, 9, vectors_of), f32_answer(stored, ids, queries, 9, -math.inf))


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_the_scan_keeps_few_candidates(dtype: str) -> None:
    """The bound is tight enough to matter: on 20,000 random 128-d unit vectors, the 10 best of
    a query are decided among a small share of them (a bound that kept every row would pass
    every equality test and save nothing)."""
    rng = np.random.default_rng(8)
    stored = unit(rng.standard_normal((20_000, 128)))
    index = faceindex.FlatIndex(128, "cosine", dtype)
    index.add(np.arange(20_000, dtype=np.uint64), stored)
    found = index.candidates(unit(rng.standard_normal((16, 128))), 10)
    share = len(found.ids) / (16 * 20_000)
    assert share < (0.01 if dtype == "i8" else 0.002), share
    # A threshold no score can reach within the bound leaves nothing to re-score, even for
    # queries that are stored vectors (score 1).
    assert len(index.candidates(stored[:16], 10, min_score=1.1).ids) == 0


def test_refusals() -> None:
    rng = np.random.default_rng(9)
    stored = unit(rng.standard_normal((50, 8)))
    ids = np.arange(50, dtype=np.uint64)
    queries = stored[:2]
    for metric, dtype, message in (("cosine", "f32", "f16 or i8 index"), ("ip", "i8", "cosine metric"),
                                   ("l2", "f16", "cosine metric")):
        index = faceindex.FlatIndex(8, metric, dtype)
        index.add(ids, stored)
        with pytest.raises(ValueError, match=message):
            index.candidates(queries, 3)
    index = faceindex.FlatIndex(8, "cosine", "i8")
    index.add(ids, stored)
    with pytest.raises(ValueError, match="NaN"):
        index.candidates(queries, 3, min_score=math.nan)
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.candidates(queries, 0)
    with pytest.raises(TypeError, match="min_score must be a number"):
        index.candidates(queries, 3, min_score="0.5")  # type: ignore[arg-type]
    found = index.candidates(queries, 3)
    wanted = np.unique(found.ids)
    with pytest.raises(ValueError, match=r"candidate id \d+ has no vector"):
        index.rescore(queries, found, wanted[1:], stored[wanted[1:]], 3)
    with pytest.raises(ValueError, match="given twice"):
        index.rescore(queries, found, np.concatenate([wanted, wanted[:1]]),
                      stored[np.concatenate([wanted, wanted[:1]])], 3)
    with pytest.raises(ValueError, match="vector ids for"):
        index.rescore(queries, found, wanted, stored[wanted[1:]], 3)
    with pytest.raises(ValueError, match="vector 0 holds NaN"):
        bad = stored[wanted].copy()
        bad[0, 0] = np.nan
        index.rescore(queries, found, wanted, bad, 3)
    for offsets in ([0, 1], [0, 5, 1], [1, 1, len(found.ids)], [0, 1, len(found.ids) + 1]):
        with pytest.raises(ValueError, match="candidate offsets"):
            index.rescore(queries, Candidates(np.array(offsets, np.int64), found.ids), wanted, stored[wanted], 3)
    with pytest.raises(ValueError, match="dimension"):
        index.candidates(rng.standard_normal((2, 9)).astype(np.float32), 3)
