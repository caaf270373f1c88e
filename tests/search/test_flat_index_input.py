"""Bad input gets a clear exception and leaves the index as it was."""

from __future__ import annotations

import numpy as np
import pytest

from faceindex import FlatIndex
from flat_reference import brute_force

DIM = 8


@pytest.fixture
def index() -> FlatIndex:
    idx = FlatIndex(DIM, "cosine", "f32")
    idx.add(np.arange(10, dtype=np.uint64), np.random.default_rng(0).standard_normal((10, DIM)).astype(np.float32))
    return idx


def vectors(n: int, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((0,), ValueError, "dim must be in"),
        ((-3,), ValueError, "dim must be in"),
        ((70_000,), ValueError, "dim must be in"),
        ((8.0,), TypeError, "dim must be an int"),
        ((8, "euclid"), ValueError, "unknown metric"),
        ((8, "cosine", "f64"), ValueError, "unknown dtype"),
    ],
)
def test_bad_construction(args: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        FlatIndex(*args)


@pytest.mark.parametrize(
    ("ids", "data", "error", "message"),
    [
        (np.arange(100, 103, dtype=np.uint64), vectors(3, DIM + 1), ValueError, "dimension 9, the index has 8"),
        (np.arange(100, 103, dtype=np.uint64), vectors(2), ValueError, "got 3 ids for 2 vectors"),
        (np.arange(100, 103, dtype=np.uint64), vectors(3)[:, :, None], ValueError, "must have shape"),
        (np.arange(100, 103, dtype=np.uint64), np.asfortranarray(vectors(3)), ValueError, "C-contiguous"),
        (np.arange(100, 103, dtype=np.uint64), vectors(6)[::2], ValueError, "C-contiguous"),
        (np.arange(100, 103, dtype=np.uint64), vectors(3).astype(np.int32), TypeError, "must be a float array"),
        (np.arange(100, 103, dtype=np.uint64), vectors(3).astype(np.complex64), TypeError, "must be a float array"),
        (np.array([100, 101, 100], dtype=np.uint64), vectors(3), ValueError, "duplicate id 100"),
        (np.array([100, 5, 101], dtype=np.uint64), vectors(3), ValueError, "id 5 is already in the index"),
        (np.array([100, -1, 101]), vectors(3), ValueError, "must be non-negative"),
        (np.array([100, 2**63, 101], dtype=np.uint64), vectors(3), ValueError, "below 2\\*\\*63"),
        (np.array([1.0, 2.0, 3.0]), vectors(3), TypeError, "integer array"),
        (np.arange(300, 303, dtype=np.uint64).reshape(3, 1), vectors(3), ValueError, "must be 1-D"),
        (np.arange(300, 303, dtype=np.uint64)[::-1], vectors(3), ValueError, "C-contiguous"),
    ],
)
def test_bad_add_changes_nothing(index: FlatIndex, ids: np.ndarray, data: np.ndarray, error: type, message: str) -> None:
    before = index.search(vectors(2), 10)
    with pytest.raises(error, match=message):
        index.add(ids, data)
    assert len(index) == 10
    after = index.search(vectors(2), 10)
    np.testing.assert_array_equal(before[0], after[0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_vectors_and_queries(index: FlatIndex, bad: float) -> None:
    data = vectors(4)
    data[2, 5] = bad
    with pytest.raises(ValueError, match="vector 2 holds NaN or inf"):
        index.add(np.arange(50, 54, dtype=np.uint64), data)
    assert len(index) == 10
    with pytest.raises(ValueError, match="query 2 holds NaN or inf"):
        index.search(data, 3)


def test_float64_is_converted_and_out_of_range_refused() -> None:
    idx = FlatIndex(DIM, "ip", "f32")
    data64 = vectors(3).astype(np.float64)
    idx.add(np.arange(3), data64)
    np.testing.assert_array_equal(idx.reconstruct(1), data64[1].astype(np.float32))
    data64[0, 0] = 1e300
    with pytest.raises(ValueError, match="beyond the float32 range"):
        idx.add(np.arange(3, 6), data64)
    idx.add(np.arange(10, 13), vectors(3).astype(np.float16))
    assert len(idx) == 6
    big_endian = vectors(2).astype(">f4")
    idx.add([20, 21], big_endian)
    np.testing.assert_array_equal(idx.reconstruct(21), big_endian[1].astype(np.float32))


def test_zero_vectors_have_no_cosine(index: FlatIndex) -> None:
    with pytest.raises(ValueError, match="all zeros"):
        index.add([77], np.zeros((1, DIM), dtype=np.float32))
    with pytest.raises(ValueError, match="all zeros"):
        index.search(np.zeros(DIM, dtype=np.float32), 1)
    ip = FlatIndex(DIM, "ip")
    ip.add([1], np.zeros((1, DIM), dtype=np.float32))  # an inner product of zero is fine
    assert ip.search(np.ones(DIM, dtype=np.float32), 1)[1][0] == 0.0


def test_values_beyond_half_range_and_huge_norms() -> None:
    with pytest.raises(ValueError, match="float16 range"):
        FlatIndex(DIM, "ip", "f16").add([1], np.full((1, DIM), 70_000, dtype=np.float32))
    FlatIndex(DIM, "cosine", "f16").add([1], np.full((1, DIM), 70_000, dtype=np.float32))  # normalised first
    with pytest.raises(ValueError, match="norm too large"):
        FlatIndex(DIM, "l2").add([1], np.full((1, DIM), 1e18, dtype=np.float32))


@pytest.mark.parametrize(("k", "error"), [(0, ValueError), (-1, ValueError), (2.5, TypeError), ("3", TypeError)])
def test_bad_k(index: FlatIndex, k: object, error: type) -> None:
    with pytest.raises(error, match="k must be"):
        index.search(vectors(1), k)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        (np.ones(DIM + 2, dtype=np.float32), "dimension 10, the index has 8"),
        (np.ones((2, 3, DIM), dtype=np.float32), "must have shape"),
        (np.ones((4, DIM), dtype=np.float32)[::2], "C-contiguous"),
        (np.float32(1.0), "must have shape"),
    ],
)
def test_bad_queries(index: FlatIndex, queries: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        index.search(queries, 3)


def test_empty_index_and_k_beyond_size() -> None:
    empty = FlatIndex(DIM, "cosine", "i8")
    ids, scores = empty.search(vectors(3), 4)
    assert ids.shape == (3, 4) and (ids == -1).all() and np.isneginf(scores).all()
    one = FlatIndex(DIM, "ip")
    one.add([42], vectors(1))
    ids, scores = one.search(vectors(1)[0], 3)
    assert ids.shape == (3,) and ids[0] == 42 and (ids[1:] == -1).all() and np.isneginf(scores[1:]).all()
    ids, _ = one.search(np.zeros((0, DIM), dtype=np.float32), 5)
    assert ids.shape == (0, 5)


def test_lists_are_accepted_and_membership(index: FlatIndex) -> None:
    index.add([1000, 1001], vectors(2).tolist())
    assert 1000 in index and 1001 in index and 99 not in index and -1 not in index and "x" not in index
    with pytest.raises(KeyError, match="not in the index"):
        index.reconstruct(99)
    with pytest.raises(KeyError):
        index.reconstruct(-5)


def test_remove_then_search_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    data = rng.standard_normal((500, 33)).astype(np.float32)
    ids = rng.permutation(5000)[:500].astype(np.uint64)
    for dtype in ("f32", "i8"):
        idx = FlatIndex(33, "l2", dtype)
        idx.add(ids, data)
        gone = np.ascontiguousarray(ids[::3])
        assert idx.remove(gone) == len(gone)
        assert idx.remove(gone) == 0  # already removed
        assert idx.remove(np.array([], dtype=np.uint64)) == 0
        keep = np.ones(500, dtype=bool)
        keep[::3] = False
        assert len(idx) == keep.sum() and set(idx.ids().tolist()) == set(ids[keep].tolist())
        for removed in gone[:20]:
            assert int(removed) not in idx
        queries = rng.standard_normal((7, 33)).astype(np.float32)
        got, _ = idx.search(queries, 15)
        if dtype == "f32":
            expected, _ = brute_force(data[keep], ids[keep], queries, 15, "l2")
            np.testing.assert_array_equal(got, expected)
        assert not np.isin(got, gone).any()
        # Re-adding removed ids works.
        idx.add(gone[:5], np.ascontiguousarray(data[::3][:5]))
        assert len(idx) == keep.sum() + 5


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_reserve_grows_memory_once_to_the_size_asked(dtype: str) -> None:
    rng = np.random.default_rng(6)
    data = rng.standard_normal((1000, 64)).astype(np.float32)
    grown, reserved = FlatIndex(64, "cosine", dtype), FlatIndex(64, "cosine", dtype)
    reserved.reserve(1000)
    for start in range(0, 1000, 100):  # adds in batches grow the store by halves
        grown.add(np.arange(start, start + 100, dtype=np.uint64), data[start:start + 100])
        reserved.add(np.arange(start, start + 100, dtype=np.uint64), data[start:start + 100])
    assert reserved.memory_bytes < grown.memory_bytes
    reserved.reserve(10)  # less than held: nothing changes
    np.testing.assert_array_equal(reserved.search(data[:5], 7)[0], grown.search(data[:5], 7)[0])
    with pytest.raises(ValueError, match="n must be >= 0"):
        reserved.reserve(-1)
    with pytest.raises(TypeError, match="n must be an int"):
        reserved.reserve(10.0)  # type: ignore[arg-type]
