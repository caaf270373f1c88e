"""The Rekognition endpoint's cost: SearchFacesByImage over HTTP with boto3 against the same
search in-process through the Python API, on a 1,000-face collection (issue 14).

Targets: HTTP overhead <= 15% per request at 1 client; throughput with 2 clients >= 1.7x that
of 1 client on a 2-core machine. Requests/s and p50/p99 latency are recorded. The collection
holds a few real faces (the query's person among them) and synthetic unit vectors up to 1,000
faces: an exact search costs the same whatever the vectors are.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import faceindex

from conftest import Ratio, bench_size
from onnx_bench_data import shared_data
from faceindex import Collections
from faceindex.collection import Collection

pytest.importorskip("boto3", reason="boto3 (the bench extra) is not installed")
from service_helpers import RunningServer, start_server  # noqa: E402

FACES = bench_size("FACEINDEX_BENCH_SERVICE_FACES", full=1000, quick=1000)
REQUESTS = bench_size("FACEINDEX_BENCH_SERVICE_REQUESTS", full=16, quick=4)  # per client in the throughput runs
SEARCH_ROUNDS = bench_size("FACEINDEX_BENCH_SERVICE_ROUNDS", full=15, quick=5)
THROUGHPUT_ROUNDS = bench_size("FACEINDEX_BENCH_SERVICE_THROUGHPUT_ROUNDS", full=3, quick=1)
WORKERS = 2
QUERY = "images/face_recognition/knn_examples/train/obama/obama2.jpg"
INDEXED = ["images/face_recognition/knn_examples/train/obama/obama.jpg",
           "images/face_recognition/knn_examples/train/biden/biden.jpg",
           "images/face_recognition/two_people.jpg"]

RATIOS = [
    Ratio("SearchFacesByImage: boto3 over HTTP / in-process API (1 client)", "http_search", "inprocess_search",
          "<= 1.15"),
    Ratio(f"throughput: 2 clients / 1 client ({2 * REQUESTS} requests)", "one_client", "two_clients", ">= 1.7"),
]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return shared_data(QUERY)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[tuple[Collection, RunningServer]]:
    home = tmp_path_factory.mktemp("service-bench")
    # The server gives each of its workers its share of the cores; the in-process engine gets the same.
    all_cores = faceindex.get_num_threads()
    faceindex.set_num_threads(max(1, all_cores // WORKERS))
    collection = Collections(home).create_collection("bench", "dlib")
    for path in INDEXED:
        collection.index_faces(data_dir / path, Path(path).name)
    filler = FACES - len(collection)
    rng = np.random.default_rng(0)
    collection.index_embeddings(rng.standard_normal((filler, collection.pack.embedding_size), dtype=np.float32),
                                pack=collection.pack, external_image_id="synthetic")
    collection.save_cache()
    server = start_server(home, workers=WORKERS, queue_size=16)
    try:
        yield collection, server
    finally:
        server.stop()
        collection.close()
        faceindex.set_num_threads(all_cores)


@pytest.fixture(scope="module")
def query(data_dir: Path) -> bytes:
    return (data_dir / QUERY).read_bytes()


def test_inprocess_search(served: tuple[Collection, RunningServer], query: bytes, benchmark: Any) -> None:
    """At the server's threads per request (set before the engine was made, as the server does), so
    that the ratio is the cost of HTTP, SigV4 and the protocol alone."""
    collection, _ = served
    benchmark.extra_info["key"] = "inprocess_search"
    result = benchmark.pedantic(lambda: collection.search_faces_by_image(query, max_faces=10),
                                rounds=SEARCH_ROUNDS, warmup_rounds=2)
    assert result.best is not None and result.best.face.external_image_id == "obama.jpg"


def test_http_search(served: tuple[Collection, RunningServer], query: bytes, benchmark: Any) -> None:
    _, server = served
    client = server.client()
    benchmark.extra_info["key"] = "http_search"
    response = benchmark.pedantic(
        lambda: client.search_faces_by_image(CollectionId="bench", Image={"Bytes": query}, MaxFaces=10),
        rounds=SEARCH_ROUNDS, warmup_rounds=2)
    assert response["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama.jpg"


def _clients_run(server: RunningServer, query: bytes, clients: int, requests_each: int) -> list[float]:
    """Latencies (s) of `clients` threads each sending requests_each searches at once."""
    latencies: list[float] = []
    lock = threading.Lock()
    boto_clients = [server.client() for _ in range(clients)]

    def run(client: Any) -> None:
        for _ in range(requests_each):
            t = time.perf_counter()
            client.search_faces_by_image(CollectionId="bench", Image={"Bytes": query}, MaxFaces=10)
            with lock:
                latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=run, args=(c,)) for c in boto_clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(latencies) == clients * requests_each
    return latencies


@pytest.mark.parametrize("clients", [1, 2])
def test_throughput(served: tuple[Collection, RunningServer], query: bytes, clients: int, benchmark: Any,
                    record: Any) -> None:
    _, server = served
    benchmark.extra_info["key"] = "one_client" if clients == 1 else "two_clients"
    runs: list[list[float]] = []
    benchmark.pedantic(lambda: runs.append(_clients_run(server, query, clients, 2 * REQUESTS // clients)),
                       rounds=THROUGHPUT_ROUNDS, warmup_rounds=0)
    latencies = sorted(x for run in runs for x in run)
    wall = benchmark.stats.stats.median
    record(f"{clients} client(s)", requests_per_s=2 * REQUESTS / wall,
           p50_ms=1e3 * statistics.median(latencies),
           p99_ms=1e3 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))])
