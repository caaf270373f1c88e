"""Faults on a simulated three-node cluster: a shard whose process is killed is restarted from its
folder and loses no acknowledged face; a search during an outage waits within its timeout, or says
which shards it is missing (partial=True), never silently fewer faces; a lost node's shard comes
back on another node."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ray_helpers import LOOPBACK, node_of, ray, simulated_cluster

from collection_helpers import SYNTHETIC, unit_vectors
from faceindex.distributed import ShardedCollection, ShardUnavailableError

FACES = 240
SHARDS = 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with simulated_cluster(nodes=3) as running:
        yield running


def _filled(home: Path) -> tuple[ShardedCollection, np.ndarray]:
    sharded = ShardedCollection.create(home, "faults", SHARDS, SYNTHETIC, timeout_s=60)
    vectors = unit_vectors(FACES, seed=4)
    # Acknowledged: index_embeddings has returned, so every one of these must survive.
    sharded.index_embeddings(vectors, pack=SYNTHETIC, external_image_id=[f"f{i}" for i in range(FACES)],
                             image_id=[f"f{i}" for i in range(FACES)])
    return sharded, vectors


def _top(sharded: ShardedCollection, query: np.ndarray, **options: Any) -> Any:
    return sharded.search_faces_by_embedding(query, pack=SYNTHETIC, max_faces=FACES, threshold=-1.0, **options)


def _names(result: Any) -> list[str]:
    return [m.face.external_image_id for m in result.face_matches]


def test_a_killed_shard_restarts_from_its_folder(cluster: Any, tmp_path: Path) -> None:
    sharded, vectors = _filled(tmp_path)
    infos = sharded.describe_shards()
    # One shard a node: the cluster has four (the head and three workers) for three shards.
    assert len({info.node_id for info in infos}) == SHARDS
    before = _names(_top(sharded, vectors[0]))
    assert len(before) == FACES

    os.kill(infos[1].pid, signal.SIGKILL)
    # Searched at once: the search waits for the restart, within its timeout, and misses nothing.
    during = _top(sharded, vectors[0], timeout_s=60)
    assert during.partial is False and _names(during) == before
    after = sharded.describe_shards()
    assert after[1].pid != infos[1].pid and [i.faces for i in after] == [i.faces for i in infos]
    sharded.close()


def test_an_unavailable_shard_is_named_never_silently_missing(cluster: Any, tmp_path: Path) -> None:
    sharded, vectors = _filled(tmp_path)
    infos = sharded.describe_shards()
    everything = _names(_top(sharded, vectors[0]))
    ray.kill(sharded.actors[2], no_restart=True)  # down for good (as long as this handle lives)

    with pytest.raises(ShardUnavailableError, match=r"shard\(s\) \[2\]") as error:
        _top(sharded, vectors[0], timeout_s=2)
    assert error.value.shards == (2,)
    partial = _top(sharded, vectors[0], timeout_s=2, allow_partial=True)
    assert partial.partial is True and partial.missing_shards == (2,)
    assert partial.searched_faces == FACES - infos[2].faces
    on_two = {f"f{i}" for i in range(FACES)} - set(_names(partial))
    assert len(on_two) == infos[2].faces
    assert _names(partial) == [name for name in everything if name not in on_two]

    sharded.timeout_s = 2
    sharded.close()
    # Nothing was lost: opened again, the third shard is back from its folder.
    with ShardedCollection(tmp_path, "faults", timeout_s=60) as reopened:
        assert len(reopened) == FACES
        assert _names(_top(reopened, vectors[0])) == everything


def test_a_lost_node_s_shard_comes_back_on_another_node(cluster: Any, tmp_path: Path) -> None:
    sharded, vectors = _filled(tmp_path)
    infos = sharded.describe_shards()
    before = _names(_top(sharded, vectors[1]))
    # A shard on a worker node (the head node, which stays, may hold one too).
    shard = next(i for i, info in enumerate(infos) if node_of(cluster, info.node_id) is not None)
    cluster.remove_node(node_of(cluster, infos[shard].node_id), allow_graceful=False)
    try:
        # The actor's process outlives its raylet for a moment; every search until (and after) it is
        # back on another node answers in full.
        deadline = time.monotonic() + 90
        while True:
            during = _top(sharded, vectors[1], timeout_s=60)
            assert during.partial is False and _names(during) == before
            after = sharded.describe_shards()
            if after[shard].node_id != infos[shard].node_id or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert after[shard].node_id != infos[shard].node_id and after[shard].faces == infos[shard].faces
        sharded.close()
    finally:
        cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK)


def test_losing_a_worker_node_mid_ingestion_loses_and_duplicates_nothing(cluster: Any, data_dir: Path,
                                                                          tmp_path: Path) -> None:
    from collections import Counter

    from faceindex import FaceEngine
    from faceindex.collection import Collections
    from faceindex.collection.ingest import index_paths
    from faceindex.distributed.ingestion import ImageFaces, IngestionReport, ingest, sources_of

    folder = data_dir / "lfw" / "images"
    if not folder.is_dir():
        pytest.skip(f"no LFW photos in {folder}")
    photos = sources_of([str(folder)])[:12]
    engine = FaceEngine(pack="dlib")
    with Collections(tmp_path / "single").create_collection("lfw", engine=engine) as single:
        index_paths(single, [Path(p) for p in photos])
        expected = Counter(r.external_image_id for r in single.iter_faces())
    lost: list[str] = []

    def lose_a_worker_node(image: ImageFaces, report: IngestionReport) -> None:
        if report.images == 3 and image.node_id is not None and node_of(cluster, image.node_id) is not None:
            lost.append(image.node_id)
            cluster.remove_node(node_of(cluster, image.node_id), allow_graceful=False)

    try:
        with ShardedCollection.create(tmp_path, "lfw", SHARDS, engine.pack, timeout_s=60) as sharded:
            report = ingest(sharded, photos, workers=2, batch_size=2, on_image=lose_a_worker_node, timeout_s=120)
            assert lost, "no worker node was lost: the test did not test anything"
            assert report.images == len(photos) and report.failed == []
            stored = []
            for shard in range(SHARDS):
                with Collections(sharded.shard_directory(shard)).collection("lfw") as on_disk:
                    stored += list(on_disk.iter_faces())
            assert Counter(r.external_image_id for r in stored) == expected
            assert report.indexed_faces == len(stored)
    finally:
        if lost:
            cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK)
