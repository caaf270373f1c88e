"""f16 and i8 stores on random unit vectors: recall@10 against the float64 truth, on every level."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import faceindex
from faceindex.flat_index import set_simd_level
from flat_reference import LEVELS, brute_force, recall_at, unit_vectors

N, DIM, QUERIES = 100_000, 512, 64
TARGETS = {"f32": 1.0, "f16": 0.99, "i8": 0.95}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    stored = unit_vectors(rng, N, DIM)
    queries = unit_vectors(rng, QUERIES, DIM)
    ids = np.arange(N, dtype=np.uint64)
    truth, _ = brute_force(stored, ids, queries, 10, "ip")
    return stored, ids, queries, truth


@pytest.fixture(autouse=True)
def restore_simd_level() -> Iterator[None]:
    yield
    set_simd_level("auto")


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_recall_at_10(dtype: str, data: tuple[np.ndarray, ...]) -> None:
    stored, ids, queries, truth = data
    index = faceindex.FlatIndex(DIM, "cosine", dtype)
    index.add(ids, stored)
    for level in LEVELS:
        set_simd_level(level)
        # One query at a time and the whole batch take different kernels.
        single = np.stack([index.search(q, 10)[0] for q in queries[:8]])
        batch, _ = index.search(queries, 10)
        np.testing.assert_array_equal(single, batch[:8])
        recall = recall_at(batch, truth)
        assert recall >= TARGETS[dtype], f"{dtype} on {level}: recall@10 {recall:.4f} < {TARGETS[dtype]}"


def test_stored_f16_is_ieee_half_and_i8_is_per_vector_scaled(data: tuple[np.ndarray, ...]) -> None:
    stored = data[0][:200]
    ids = np.arange(200, dtype=np.uint64)
    for level in LEVELS:
        set_simd_level(level)
        half = faceindex.FlatIndex(DIM, "ip", "f16")
        half.add(ids, stored * 300)  # values beyond 1 exercise the exponent range
        for i in (0, 57, 199):
            expected = (stored[i] * 300).astype(np.float16).astype(np.float32)
            np.testing.assert_array_equal(half.reconstruct(i), expected, err_msg=level)
        int8 = faceindex.FlatIndex(DIM, "ip", "i8")
        int8.add(ids, stored)
        for i in (0, 57, 199):
            scale = np.abs(stored[i]).max() / 127
            codes = np.clip(np.rint(stored[i].astype(np.float64) / scale), -127, 127)
            np.testing.assert_allclose(int8.reconstruct(i), codes * scale, rtol=1e-6, err_msg=level)
