"""The endpoint in front of a sharded collection (issue 16): SearchFacesByImage over HTTP with
boto3 against `faceindex serve --ray ADDRESS` holding a 2-shard collection, and against a plain
`faceindex serve` holding the same 1,000 faces (a few real ones, the query's person among
them, and synthetic unit vectors: an exact search costs the same whatever the vectors are).

What it measures is the sharded path's own cost per request: one scatter for the shards'
sizes, one for the search, the merge. Target: sharded <= 1.2x plain (the query's embedding,
the same on both, is most of a request).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import Ratio, bench_size
from onnx_bench_data import shared_data

ray = pytest.importorskip("ray", reason="faceindex[ray] is not installed")
pytest.importorskip("boto3", reason="boto3 (the bench extra) is not installed")

import service_helpers  # noqa: E402
from faceindex import Collections  # noqa: E402
from faceindex.distributed import ShardedCollection  # noqa: E402
from service_helpers import RunningServer, start_server  # noqa: E402

FACES = bench_size("FACEINDEX_BENCH_SERVE_SHARDED_FACES", full=1000, quick=1000)
ROUNDS = bench_size("FACEINDEX_BENCH_SERVE_SHARDED_ROUNDS", full=20, quick=6)
SHARDS = 2
WORKERS = 2
QUERY = "images/face_recognition/knn_examples/train/obama/obama2.jpg"
INDEXED = ["images/face_recognition/knn_examples/train/obama/obama.jpg",
           "images/face_recognition/knn_examples/train/biden/biden.jpg",
           "images/face_recognition/two_people.jpg"]

RATIOS = [Ratio(f"SearchFacesByImage over HTTP: {SHARDS} Ray shards / plain collection ({FACES} faces)",
                "sharded_search", "plain_search", "<= 1.2")]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return shared_data(QUERY)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    """(sharded, plain) servers over the same faces; the sharded one on this process's Ray instance."""
    temp = tempfile.mkdtemp(prefix="fi-bench-ray-", dir="/tmp")
    ray.init(num_cpus=2, _temp_dir=temp, include_dashboard=False, log_to_driver=False, configure_logging=False)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(service_helpers, "START_TIMEOUT_S", 180.0)
    root = tmp_path_factory.mktemp("serve-sharded-bench")
    try:
        plain = Collections(root / "plain").create_collection("bench", "dlib")
        with ShardedCollection.create(root / "sharded", "bench", SHARDS, plain.pack) as sharded:
            for path in INDEXED:
                plain.index_faces(data_dir / path, Path(path).name)
                sharded.index_faces(data_dir / path, Path(path).name)
            filler = np.random.default_rng(0).standard_normal((FACES - len(plain), plain.pack.embedding_size),
                                                              dtype=np.float32)
            for collection in (plain, sharded):
                collection.index_embeddings(filler, pack=plain.pack, external_image_id="synthetic")
            assert len(sharded) == len(plain) == FACES
        plain.close()
        address = ray.get_runtime_context().gcs_address
        started = [start_server(root / "sharded", workers=WORKERS, extra_args=["--ray", address])]
        try:
            started.append(start_server(root / "plain", workers=WORKERS))
            yield started[0], started[1]
        finally:
            for server in started:
                server.stop()
    finally:
        monkey.undo()
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.parametrize("kind", ["plain", "sharded"])
def test_search(servers: tuple[RunningServer, RunningServer], data_dir: Path, kind: str, benchmark: Any) -> None:
    client = servers[kind == "plain"].client()
    query = {"Bytes": (data_dir / QUERY).read_bytes()}
    benchmark.extra_info["key"] = f"{kind}_search"
    response = benchmark.pedantic(lambda: client.search_faces_by_image(CollectionId="bench", Image=query, MaxFaces=10),
                                  rounds=ROUNDS, warmup_rounds=3)
    assert response["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama.jpg"
