"""Every SIMD level, forced in turn, against the scalar kernels and a float64 brute force."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faceindex
from faceindex.flat_index import set_simd_level
from flat_reference import (
    LEVELS,
    assert_same_ranking,
    brute_force,
    reference_scores,
    tolerance,
)

DIMS = [1, 3, 7, 15, 17, 127, 128, 129, 512, 513]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def restore_simd_level() -> Iterator[None]:
    yield
    set_simd_level("auto")


@st.composite
def cases(draw: st.DrawFn, dtypes: tuple[str, ...]) -> dict:
    dim = draw(st.sampled_from(DIMS))
    n = draw(st.integers(0, 200))
    return {
        "dim": dim,
        "n": n,
        # Screened scans on AVX-512: i8 from 4 queries, f32 and f16 from 24.
        "nq": draw(st.sampled_from([1, 2, 3, 5, 13, 24, 40])),
        "k": draw(st.integers(1, 24)),
        "metric": draw(st.sampled_from(["cosine", "ip", "l2"])),
        "dtype": draw(st.sampled_from(dtypes)),
        "scale": draw(st.sampled_from([1e-3, 1.0, 30.0])),
        "duplicates": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def make_data(case: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case["seed"])
    stored = (rng.standard_normal((case["n"], case["dim"])) * case["scale"]).astype(np.float32)
    if case["duplicates"] and case["n"] >= 4:
        # Exact ties: equal vectors must come back ordered by id on every level.
        stored[1::4] = stored[0]
    ids = rng.permutation(10 * case["n"] + 1)[: case["n"]].astype(np.uint64)
    queries = (rng.standard_normal((case["nq"], case["dim"])) * case["scale"]).astype(np.float32)
    return stored, ids, queries


def search_on(level: str, case: dict, stored: np.ndarray, ids: np.ndarray, queries: np.ndarray):
    set_simd_level(level)
    index = faceindex.FlatIndex(case["dim"], case["metric"], case["dtype"])
    index.add(ids, stored)
    return index.search(queries, case["k"])


@SETTINGS
@given(cases(("f32",)))
def test_f32_every_level_matches_float64_brute_force(case: dict) -> None:
    stored, ids, queries = make_data(case)
    expected_ids, expected_scores = brute_force(stored, ids, queries, case["k"], case["metric"])
    ref = reference_scores(stored, queries, case["metric"])
    tol = tolerance(stored, queries, case["metric"])
    row_of = {int(i): r for r, i in enumerate(ids)}
    for level in LEVELS:
        got_ids, got_scores = search_on(level, case, stored, ids, queries)
        assert got_ids.shape == got_scores.shape == (case["nq"], case["k"])
        assert got_ids.dtype == np.int64 and got_scores.dtype == np.float32
        # Padding where fewer than k are stored.
        assert (got_ids[:, case["n"] :] == -1).all()
        pad = got_scores[:, case["n"] :]
        assert (np.isnan(pad) if case["metric"] == "l2" else np.isneginf(pad)).all()
        assert_same_ranking(got_ids, expected_ids, ref, row_of, case["metric"], tol)
        found = got_ids >= 0
        np.testing.assert_allclose(got_scores[found], expected_scores[found], rtol=0, atol=tol)


@SETTINGS
@given(cases(("f32", "f16", "i8")))
def test_simd_levels_match_the_scalar_kernels(case: dict) -> None:
    stored, ids, queries = make_data(case)
    scalar_ids, scalar_scores = search_on("scalar", case, stored, ids, queries)
    ref = reference_scores(stored, queries, case["metric"])
    tol = tolerance(stored, queries, case["metric"])
    row_of = {int(i): r for r, i in enumerate(ids)}
    simd = {level: search_on(level, case, stored, ids, queries) for level in LEVELS if level != "scalar"}
    for level, (got_ids, got_scores) in simd.items():
        if case["dtype"] == "i8":
            # Integer dot products and the same float steps: identical to the bit.
            np.testing.assert_array_equal(got_ids, scalar_ids, err_msg=level)
            np.testing.assert_array_equal(got_scores, scalar_scores, err_msg=level)
        else:
            assert_same_ranking(got_ids, scalar_ids, ref, row_of, case["metric"], tol)
            found = got_ids >= 0
            np.testing.assert_allclose(got_scores[found], scalar_scores[found], rtol=0, atol=tol)
    if "avx2" in simd and "avx512" in simd:
        # Both accumulate each lane in dimension order with FMA (the AVX-512 bf16
        # screen re-scores its survivors the same way): the same bits.
        np.testing.assert_array_equal(simd["avx2"][0], simd["avx512"][0])
        np.testing.assert_array_equal(simd["avx2"][1], simd["avx512"][1])


def test_forcing_a_level_is_reported() -> None:
    for level in LEVELS:
        set_simd_level(level)
        assert faceindex.simd_level() == level
    set_simd_level("auto")
    assert faceindex.simd_level() == LEVELS[-1]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SIMD level"):
        set_simd_level("avx1024")


@pytest.mark.skipif("avx2" not in LEVELS, reason="this CPU has no AVX2")
@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_screened_scan_is_exact_on_near_ties(dtype: str) -> None:
    # Hundreds of stored vectors within bf16 (or 8-bit query code) rounding of
    # each query: the screen cannot tell them apart, the exact re-scoring must.
    rng = np.random.default_rng(7)
    dim, nq = 256, 32
    queries = rng.standard_normal((nq, dim)).astype(np.float32)
    near = np.repeat(queries, 40, axis=0) + rng.standard_normal((nq * 40, dim)).astype(np.float32) * 1e-4
    stored = np.concatenate([near, rng.standard_normal((2000, dim)).astype(np.float32)])
    ids = np.arange(len(stored), dtype=np.uint64)
    results = {}
    for level in LEVELS:
        if level == "scalar":
            continue
        set_simd_level(level)
        index = faceindex.FlatIndex(dim, "ip", dtype)
        index.add(ids, stored)
        results[level] = index.search(queries, 25)
    for level, (got_ids, got_scores) in results.items():
        np.testing.assert_array_equal(got_ids, results["avx2"][0], err_msg=level)
        np.testing.assert_array_equal(got_scores, results["avx2"][1], err_msg=level)


@pytest.mark.parametrize("dim", [4, 5, 1031, 4099])
def test_screened_i8_is_the_scan_at_any_dim(dim: int) -> None:
    # The 8-bit screen's bound must hold where sums outgrow float precision
    # (thousands of dimensions): results identical to the scalar scan, bit for bit.
    rng = np.random.default_rng(dim)
    nq = 30
    queries = rng.standard_normal((nq, dim)).astype(np.float32) * 30
    near = np.repeat(queries, 8, axis=0) * 0.9 + rng.standard_normal((nq * 8, dim)).astype(np.float32)
    stored = np.concatenate([near, rng.standard_normal((700, dim)).astype(np.float32) * 30])
    ids = np.arange(len(stored), dtype=np.uint64)
    results = {}
    for level in LEVELS:
        set_simd_level(level)
        index = faceindex.FlatIndex(dim, "l2", "i8")
        index.add(ids, stored)
        results[level] = index.search(queries, 12)
    for level, (got_ids, got_scores) in results.items():
        np.testing.assert_array_equal(got_ids, results["scalar"][0], err_msg=level)
        np.testing.assert_array_equal(got_scores, results["scalar"][1], err_msg=level)
