"""A collection of 1,000,000 faces (synthetic embeddings inserted through the store).

Targets (issue 5): open with a valid cache < 2 s; search within 1.2x of a bare
FlatIndex over the same vectors; insert >= 20,000 faces/s with embeddings given;
database and cache sizes recorded. FACEINDEX_BENCH_COLLECTION_FACES sets the
size (default 1,000,000) for a quicker check.

Each measurement runs twice: on a plain collection and on an encrypted one
(Collections(key=...): SQLCipher database, AES-256-GCM cache), and the cost of
encryption is reported as ratios to the plain one (insert rate, cache save, open,
search). FACEINDEX_BENCH_COLLECTION_VARIANTS=plain skips the encrypted run.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any
from collections.abc import Iterator

import numpy as np
import pytest

from conftest import Ratio
from faceindex import Collections, FlatIndex, PackInfo
from faceindex.collection import Collection
from faceindex.types import Face

FACES = int(os.environ.get("FACEINDEX_BENCH_COLLECTION_FACES", 1_000_000))
VARIANTS = os.environ.get("FACEINDEX_BENCH_COLLECTION_VARIANTS", "plain,encrypted").split(",")
BATCH = 10_000  # faces per index_embeddings call (one transaction)
DIM = 128
PACK = PackInfo("bench-synthetic", "1", DIM, 0.6, "benchmark", "none", "none", "none")

RATIOS = [
    Ratio(f"collection search / bare FlatIndex search ({FACES:,} faces, k=10)", "collection_search", "flat_search",
          "<= 1.2"),
    Ratio(f"encrypted collection search / plain collection search ({FACES:,} faces, k=10)",
          "collection_search_encrypted", "collection_search", "<= 1.05"),
]
_measured: dict[str, dict[str, float]] = {}  # variant -> what the record calls gave, for the encryption ratios


def _compare(record: Any, what: str, higher_is_better: bool = False) -> None:
    """Once both variants have measured `what`: encrypted / plain (for rates, plain / encrypted: a cost > 1)."""
    plain, encrypted = _measured.get("plain", {}).get(what), _measured.get("encrypted", {}).get(what)
    if plain and encrypted:
        cost = plain / encrypted if higher_is_better else encrypted / plain
        record(f"encryption cost: {what}", plain=plain, encrypted=encrypted, cost=cost, faces=FACES)


def batch_of(start: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[Face], list[str]]:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    landmarks = np.zeros((5, 2), np.float32)
    faces = [Face(bbox=(10.0, 20.0, 110.0, 120.0), score=0.99, landmarks=landmarks, face_size=100.0,
                  sharpness=80.0, brightness=0.5) for _ in range(n)]
    return vectors, faces, [f"photo-{(start + i) // 3:07d}.jpg" for i in range(n)]


@pytest.fixture(scope="module", params=VARIANTS)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    variant = request.param
    if variant == "encrypted":
        pytest.importorskip("sqlcipher3", reason="the encryption extra is not installed")
    home = Collections(tmp_path_factory.mktemp(f"bench-home-{variant}"),
                       key=os.urandom(32) if variant == "encrypted" else None)
    rng = np.random.default_rng(0)
    insert_s = 0.0
    with home.create_collection("big", PACK) as collection:
        for start in range(0, FACES, BATCH):
            vectors, faces, names = batch_of(start, min(BATCH, FACES - start), rng)
            t = time.perf_counter()
            collection.index_embeddings(vectors, pack=PACK, faces=faces, external_image_id=names)
            insert_s += time.perf_counter() - t
        t = time.perf_counter()
        cache = collection.save_cache()
        save_s = time.perf_counter() - t
    yield {"home": home, "insert_s": insert_s, "save_s": save_s, "cache": cache, "variant": variant}


def test_insert_rate_and_sizes(built: dict[str, Any], record: Any) -> None:
    description = built["home"].describe_collection("big")
    assert description.face_count == FACES and description.encrypted == (built["variant"] == "encrypted")
    variant = built["variant"]
    _measured.setdefault(variant, {}).update(faces_per_s=FACES / built["insert_s"], cache_save_s=built["save_s"])
    suffix = "" if variant == "plain" else f" ({variant})"
    record("insert" + suffix, faces=FACES, seconds=built["insert_s"], faces_per_s=FACES / built["insert_s"],
           batch=BATCH, target_faces_per_s=20_000)
    record("sizes" + suffix, database_bytes=description.database_bytes, cache_bytes=description.cache_bytes,
           database_bytes_per_face=description.database_bytes / FACES,
           cache_bytes_per_face=description.cache_bytes / FACES, cache_save_s=built["save_s"])
    _compare(record, "faces_per_s", higher_is_better=True)
    _compare(record, "cache_save_s")


def test_open_with_a_valid_cache(built: dict[str, Any], record: Any) -> None:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        collection = built["home"].collection("big")
        times.append(time.perf_counter() - t)
        assert collection.open_report.source == "cache"
        collection.close()
    variant = built["variant"]
    _measured.setdefault(variant, {})["open_s"] = statistics.median(times)
    record("open" + ("" if variant == "plain" else f" ({variant})"), seconds_median=statistics.median(times),
           seconds_min=min(times), target_s=2.0, note="warm page cache: the cache file was just written")
    _compare(record, "open_s")


@pytest.fixture(scope="module")
def opened(built: dict[str, Any]) -> Iterator[tuple[str, Collection]]:
    with built["home"].collection("big") as collection:
        yield built["variant"], collection


def queries(n: int = 64) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, DIM), dtype=np.float32)


def test_collection_search(opened: tuple[str, Collection], benchmark: Any) -> None:
    variant, collection = opened
    benchmark.extra_info["key"] = "collection_search" + ("" if variant == "plain" else f"_{variant}")
    qs, i = queries(), [0]

    def search() -> Any:
        i[0] += 1
        return collection.search_faces_by_embedding(qs[i[0] % len(qs)], pack=PACK, max_faces=10, threshold=-1.0)

    result = benchmark(search)
    assert len(result.face_matches) == 10


def test_flat_search(built: dict[str, Any], benchmark: Any) -> None:
    if built["variant"] != "plain":
        pytest.skip("one bare FlatIndex is the reference for both variants")
    benchmark.extra_info["key"] = "flat_search"
    index = FlatIndex.load(built["cache"])
    qs, i = queries(), [0]

    def search() -> Any:
        i[0] += 1
        return index.search(qs[i[0] % len(qs)], 10)

    ids, _ = benchmark(search)
    assert (ids >= 0).all()
