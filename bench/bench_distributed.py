"""Beyond one machine (issue 16): search over shards on Ray actors, and ingestion through Ray workers.

Search: FACEINDEX_BENCH_SHARDED_VECTORS (default 10,000,000) random 128-d vectors as i8, in one
FlatIndex and in a ShardedFlatIndex of 4 actors on this machine (the scatter/merge layer
ShardedCollection uses, over bare FlatIndex shards); 1, 16 and 256 queries, k=10.
Target: sharded <= 1.3x the single index at 1 query.

Ingestion: the first FACEINDEX_BENCH_INGEST_IMAGES (default 400) LFW photos with the dlib pack:
single-process index_paths (as `faceindex index`), and ingest() through Ray with 1 and 2
workers into a fresh 2-shard collection each (worker start and engine load included: they
are part of a run). Target: 2 workers >= 1.7x 1 worker on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import Ratio, bench_size

ray = pytest.importorskip("ray", reason="faceindex[ray] is not installed")

from faceindex import FaceEngine, FlatIndex  # noqa: E402
from faceindex.collection import Collections  # noqa: E402
from faceindex.collection.ingest import index_paths  # noqa: E402
from faceindex.distributed import ShardedCollection  # noqa: E402
from faceindex.distributed.ingestion import ingest, sources_of  # noqa: E402
from faceindex.distributed.sharded_index import ShardedFlatIndex  # noqa: E402

VECTORS = bench_size("FACEINDEX_BENCH_SHARDED_VECTORS", full=10_000_000, quick=200_000)
IMAGES = bench_size("FACEINDEX_BENCH_INGEST_IMAGES", full=400, quick=16)
SHARDS = 4
DIM = 128
K = 10
CHUNK = 250_000

RATIOS = [
    Ratio(f"4 Ray shards / one FlatIndex, {VECTORS:,} i8, 1 query", "sharded-q1", "flat-q1", "<= 1.3"),
    Ratio(f"4 Ray shards / one FlatIndex, {VECTORS:,} i8, 16 queries", "sharded-q16", "flat-q16"),
    Ratio(f"4 Ray shards / one FlatIndex, {VECTORS:,} i8, 256 queries", "sharded-q256", "flat-q256"),
]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    temp = tempfile.mkdtemp(prefix="fi-bench-ray-", dir="/tmp")
    ray.init(num_cpus=os.cpu_count() or 2, _temp_dir=temp, include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=1 << 30)
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def indexes(ray_instance: None) -> Iterator[tuple[FlatIndex, ShardedFlatIndex]]:
    rng = np.random.default_rng(0)
    single = FlatIndex(DIM, "cosine", "i8")
    sharded = ShardedFlatIndex(SHARDS, DIM, "cosine", "i8")
    for start in range(0, VECTORS, CHUNK):
        n = min(CHUNK, VECTORS - start)
        vectors = rng.standard_normal((n, DIM), dtype=np.float32)
        ids = np.arange(start, start + n, dtype=np.uint64)
        single.add(ids, vectors)
        sharded.add(ids, vectors)
    yield single, sharded
    sharded.close()


def _queries(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, DIM), dtype=np.float32)


@pytest.mark.parametrize("n", [1, 16, 256])
def test_flat(indexes: tuple[FlatIndex, ShardedFlatIndex], benchmark: Any, n: int) -> None:
    single, sharded = indexes
    benchmark.extra_info["key"] = f"flat-q{n}"
    queries = _queries(n)
    ids, _ = benchmark.pedantic(lambda: single.search(queries, K), rounds=5 if n < 256 else 3, warmup_rounds=1)
    # Exactly the same answer from the shards (checked once, outside the timing).
    np.testing.assert_array_equal(sharded.search(queries, K)[0], ids)


@pytest.mark.parametrize("n", [1, 16, 256])
def test_sharded(indexes: tuple[FlatIndex, ShardedFlatIndex], benchmark: Any, n: int) -> None:
    _, sharded = indexes
    benchmark.extra_info["key"] = f"sharded-q{n}"
    queries = _queries(n)
    ids, _ = benchmark.pedantic(lambda: sharded.search(queries, K), rounds=5 if n < 256 else 3, warmup_rounds=1)
    assert ids.shape == (n, K)


@pytest.fixture(scope="module")
def photos() -> list[str]:
    folder = Path(os.environ.get("FACEINDEX_TEST_DATA", "../shared/data")) / "lfw" / "images"
    if not folder.is_dir():
        pytest.skip(f"no LFW photos in {folder}")
    return sources_of([str(folder)])[:IMAGES]


def test_ingestion(ray_instance: None, photos: list[str], tmp_path: Path, record: Any) -> None:
    engine = FaceEngine(pack="dlib")
    with Collections(tmp_path / "single").create_collection("lfw", engine=engine) as collection:
        t = time.perf_counter()
        report = index_paths(collection, [Path(p) for p in photos])
        single_s = time.perf_counter() - t
    single_faces = report.indexed_faces
    record("ingest single process", images=len(photos), faces=single_faces, seconds=single_s,
           faces_per_s=single_faces / single_s)
    rates = {}
    for workers in (1, 2):
        with ShardedCollection.create(tmp_path / f"ray{workers}", "lfw", 2, engine.pack) as sharded:
            run = ingest(sharded, photos, workers=workers, batch_size=8)
        assert run.indexed_faces == single_faces and run.failed == []
        rates[workers] = run.faces_per_s
        record(f"ingest ray {workers} worker(s)", images=len(photos), faces=run.indexed_faces, seconds=run.seconds,
               faces_per_s=run.faces_per_s, vs_single_process=run.faces_per_s / (single_faces / single_s))
    record("ingest speed-up, 2 workers / 1 worker", value=rates[2] / rates[1], target=">= 1.7",
           cores=os.cpu_count())
