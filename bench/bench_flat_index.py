"""FlatIndex against faiss-cpu, usearch and a memory-bound numpy reference, in one run.

1,000,000 x 512 random unit vectors (FACEINDEX_BENCH_N overrides the count),
k = 10, batches of 1, 16, 64 and 256 queries. Ratios are medians of this run.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

import faceindex
from conftest import Ratio, bench_size, quick

N = bench_size("FACEINDEX_BENCH_N", full=1_000_000, quick=30_000)
DIM = 512
K = 10
BATCHES = (1, 16, 64, 256)

RATIOS = [
    Ratio("f32 1 query / numpy X @ q (memory-bound reference)", "faceindex-f32-q1", "numpy-matvec", "<= 1.3"),
    Ratio("faiss IndexFlatIP 1 query / f32 1 query (speed-up)", "faiss-flat-q1", "faceindex-f32-q1", ">= 2"),
    Ratio("faiss IndexFlatIP 16 queries / f32 16 queries (speed-up)", "faiss-flat-q16", "faceindex-f32-q16", ">= 5"),
    Ratio("faiss IndexFlatIP 64 queries / f32 64 queries (speed-up)", "faiss-flat-q64", "faceindex-f32-q64", ">= 1"),
    Ratio("faiss IndexFlatIP 256 queries / f32 256 queries (speed-up)", "faiss-flat-q256", "faceindex-f32-q256", ">= 1"),
    Ratio("usearch exact 1 query / f32 1 query (speed-up)", "usearch-exact-q1", "faceindex-f32-q1", ">= 1"),
    Ratio("usearch exact 16 queries / f32 16 queries (speed-up)", "usearch-exact-q16", "faceindex-f32-q16", ">= 1"),
    Ratio("usearch exact 256 queries / f32 256 queries (speed-up)", "usearch-exact-q256", "faceindex-f32-q256", ">= 1"),
    Ratio("f16 1 query / f32 1 query", "faceindex-f16-q1", "faceindex-f32-q1", "<= 0.55"),
    Ratio("i8 1 query / f32 1 query", "faceindex-i8-q1", "faceindex-f32-q1", "<= 0.35"),
    Ratio("faiss SQfp16 1 query / f16 1 query (speed-up)", "faiss-sq-fp16-q1", "faceindex-f16-q1", ">= 1"),
    Ratio("faiss SQ8 1 query / i8 1 query (speed-up)", "faiss-sq-8bit-q1", "faceindex-i8-q1", ">= 1"),
    Ratio("faiss SQfp16 256 queries / f16 256 queries (speed-up)", "faiss-sq-fp16-q256", "faceindex-f16-q256", ">= 1"),
    Ratio("faiss SQ8 256 queries / i8 256 queries (speed-up)", "faiss-sq-8bit-q256", "faceindex-i8-q256", ">= 1"),
    Ratio("16 queries / 1 query, f32 (cost of a query block)", "faceindex-f32-q16", "faceindex-f32-q1", "",
          better="lower"),
]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(12345)
    vectors = unit(rng, N)
    queries = {b: unit(rng, b) for b in BATCHES}
    return {"vectors": vectors, "queries": queries, "ids": np.arange(N, dtype=np.uint64)}


@pytest.fixture(scope="module")
def ours(data: dict[str, Any]) -> dict[str, faceindex.FlatIndex]:
    indexes = {}
    for dtype in ("f32", "f16", "i8"):
        index = faceindex.FlatIndex(DIM, "ip", dtype)
        index.add(data["ids"], data["vectors"])
        indexes[dtype] = index
    return indexes


@pytest.fixture(scope="module")
def faiss_indexes(data: dict[str, Any]) -> dict[str, Any]:
    faiss = pytest.importorskip("faiss")
    flat = faiss.IndexFlatIP(DIM)
    flat.add(data["vectors"])
    out = {"flat": flat}
    for name, qtype in (("sq-fp16", faiss.ScalarQuantizer.QT_fp16), ("sq-8bit", faiss.ScalarQuantizer.QT_8bit)):
        sq = faiss.IndexScalarQuantizer(DIM, qtype, faiss.METRIC_INNER_PRODUCT)
        sq.train(data["vectors"])
        sq.add(data["vectors"])
        out[name] = sq
    return out


def rounds_for(batch: int, slow: bool = False) -> int:
    if slow:
        return 1
    if quick():  # bench-check: its rounds come from running the suite's benchmarks in turn
        return 5 if batch == 1 else 3 if batch <= 16 else 2
    return 15 if batch == 1 else 5 if batch <= 16 else 3


def run(benchmark: Any, key: str, fn: Callable[[], Any], rounds: int) -> Any:
    benchmark.extra_info["key"] = key
    benchmark.group = key.rsplit("-", 1)[-1]
    return benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1 if rounds > 1 else 0, iterations=1)


def test_numpy_matvec(benchmark: Any, data: dict[str, Any]) -> None:
    x, q = data["vectors"], data["queries"][1][0]
    run(benchmark, "numpy-matvec", lambda: x @ q, 15)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_faceindex(benchmark: Any, ours: dict[str, faceindex.FlatIndex], data: dict[str, Any], dtype: str,
                   batch: int) -> None:
    index, q = ours[dtype], data["queries"][batch]
    ids, _ = run(benchmark, f"faceindex-{dtype}-q{batch}", lambda: index.search(q, K), rounds_for(batch))
    assert ids.shape == (batch, K)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("kind", ["flat", "sq-fp16", "sq-8bit"])
def test_faiss(benchmark: Any, faiss_indexes: dict[str, Any], data: dict[str, Any], kind: str, batch: int) -> None:
    if kind != "flat" and batch not in (1, 256):
        pytest.skip("scalar quantizers are compared at 1 and 256 queries")
    index, q = faiss_indexes[kind], data["queries"][batch]
    run(benchmark, f"faiss-{kind}-q{batch}", lambda: index.search(q, K), rounds_for(batch))


@pytest.mark.parametrize("batch", [1, 16, 256])
def test_usearch_exact(benchmark: Any, data: dict[str, Any], batch: int) -> None:
    usearch_index = pytest.importorskip("usearch.index")
    x, q = data["vectors"], data["queries"][batch]
    run(benchmark, f"usearch-exact-q{batch}",
        lambda: usearch_index.search(x, q, K, usearch_index.MetricKind.IP, exact=True),
        rounds_for(batch, slow=batch == 256))


def float64_truth(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    best_scores = np.full((len(queries), 0), -np.inf)
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    q = queries.astype(np.float64)
    for start in range(0, len(vectors), 100_000):
        scores = q @ vectors[start : start + 100_000].astype(np.float64).T
        top = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], axis=1)
        best_ids = np.concatenate([best_ids, top + start], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :K]
        best_scores = np.take_along_axis(best_scores, keep, 1)
        best_ids = np.take_along_axis(best_ids, keep, 1)
    return best_ids


def test_recall(record: Callable[..., None], ours: dict[str, faceindex.FlatIndex], faiss_indexes: dict[str, Any],
                data: dict[str, Any]) -> None:
    queries = data["queries"][256]
    truth = float64_truth(data["vectors"], queries)

    def recall(ids: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids, truth)]))

    results = {f"faceindex-{d}": recall(ours[d].search(queries, K)[0]) for d in ("f32", "f16", "i8")}
    results.update({f"faiss-{k}": recall(faiss_indexes[k].search(queries, K)[1]) for k in faiss_indexes})
    record("recall@10 vs float64 truth (256 queries)", **results)
    record("memory bytes", **{f"faceindex-{d}": ours[d].memory_bytes for d in ours})
    record("simd", level=faceindex.simd_level(), features=faceindex.flat_index.simd_features(),
           threads=faceindex.get_num_threads(), n=N, dim=DIM)
    assert results["faceindex-f32"] == 1.0
    assert results["faceindex-f16"] >= 0.99
    assert results["faceindex-i8"] >= 0.95
