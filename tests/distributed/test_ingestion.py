"""Distributed ingestion of LFW photos through Ray workers (the dlib pack): the same faces as the
single-process `faceindex index`, resumable after an interruption without storing an image twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ray_helpers import local_ray

from faceindex import FaceEngine
from faceindex.collection import Collections
from faceindex.collection.ingest import index_paths
from faceindex.distributed import ShardedCollection
from faceindex.distributed.ingestion import ImageFaces, IngestionReport, ingest, sources_of

IMAGES = 16

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    with local_ray(num_cpus=2):
        yield


@pytest.fixture(scope="module")
def photos(data_dir: Path) -> list[str]:
    folder = data_dir / "lfw" / "images"
    if not folder.is_dir():
        pytest.skip(f"no LFW photos in {folder}")
    return sources_of([str(folder)])[:IMAGES]


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine(pack="dlib")


@pytest.fixture(scope="module")
def single_process(photos: list[str], engine: FaceEngine, tmp_path_factory: pytest.TempPathFactory) -> Counter[str]:
    """Faces per file as `faceindex index` stores them, in one process."""
    with Collections(tmp_path_factory.mktemp("single")).create_collection("lfw", engine=engine) as collection:
        index_paths(collection, [Path(p) for p in photos])
        return Counter(r.external_image_id for r in collection.iter_faces() if r.external_image_id)


def _size(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _stored(sharded: ShardedCollection) -> list[Any]:
    records = []
    for shard in range(sharded.shards):
        with Collections(sharded.shard_directory(shard)).collection(sharded.collection_id) as on_disk:
            records += list(on_disk.iter_faces())
    return records


def test_the_same_faces_as_one_process(ray_instance: None, photos: list[str], engine: FaceEngine,
                                       single_process: Counter[str], tmp_path: Path) -> None:
    with ShardedCollection.create(tmp_path, "lfw", 2, engine.pack) as sharded:
        report = ingest(sharded, photos, workers=2, batch_size=3)
        assert report.images == IMAGES and report.failed == [] and report.skipped == 0
        stored = _stored(sharded)
        assert Counter(r.external_image_id for r in stored) == single_process
        assert report.indexed_faces == len(stored) == sum(single_process.values()) > 0
        assert report.faces_per_s > 0
        # Each image's faces sit on the shard its content hash places it on, under that hash.
        assert len({r.image_id for r in stored}) == len(single_process)
        # With the image's size, as Collection.index_faces stores it (ratio boxes for the endpoint).
        sizes = {Path(p).name: _size(p) for p in photos}
        assert all((r.image_width, r.image_height) == sizes[r.external_image_id] for r in stored)
        # A photo searched by image finds itself first, wherever its shard is.
        for photo in photos[:3]:
            best = sharded.search_faces_by_image(photo, max_faces=1)
            assert best.best is not None and best.best.face.external_image_id == Path(photo).name
            assert best.best.similarity > 0.99 and best.searched_face is not None


def test_index_faces_runs_the_pack_on_the_shard(ray_instance: None, photos: list[str], engine: FaceEngine,
                                               single_process: Counter[str], tmp_path: Path) -> None:
    with ShardedCollection.create(tmp_path, "lfw", 2, engine.pack) as sharded:
        sharded.create_user("someone")
        result = sharded.index_faces(photos[0], external_image_id="first", user_id="someone")
        assert len(result.face_records) == single_process[Path(photos[0]).name]
        assert all(r.user_id == "someone" and r.external_image_id == "first" for r in result.face_records)
        found = sharded.search_users(face_id=result.face_records[0].face_id, threshold=-1.0)
        assert found.user_matches == []  # the only user's face was the one searched with


def test_an_interrupted_run_resumes_without_duplicates(ray_instance: None, photos: list[str], engine: FaceEngine,
                                                       single_process: Counter[str], tmp_path: Path) -> None:
    class Interrupted(Exception):
        pass

    def stop_after_five(image: ImageFaces, report: IngestionReport) -> None:
        if report.images == 5:
            raise Interrupted

    with ShardedCollection.create(tmp_path, "lfw", 3, engine.pack) as sharded:
        with pytest.raises(Interrupted):
            ingest(sharded, photos, workers=2, batch_size=2, on_image=stop_after_five)
        done_before = len(sharded.ingested())
        assert 5 <= done_before < IMAGES
        report = ingest(sharded, photos, workers=2, batch_size=2)
        assert report.skipped == done_before and report.images == IMAGES
        stored = _stored(sharded)
        assert Counter(r.external_image_id for r in stored) == single_process
        # A third run finds everything done and detects nothing.
        again = ingest(sharded, photos, workers=1)
        assert again.skipped == IMAGES and again.indexed_faces == 0 and len(_stored(sharded)) == len(stored)


def test_unreadable_files_are_reported_not_fatal(ray_instance: None, engine: FaceEngine, photos: list[str],
                                                 tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with ShardedCollection.create(tmp_path, "bad", 1, engine.pack) as sharded:
        report = ingest(sharded, [str(broken), photos[0], str(tmp_path / "gone.jpg")], workers=1)
        assert [source for source, _ in report.failed] == [str(broken), str(tmp_path / "gone.jpg")]
        assert report.indexed_faces == 1
    with pytest.raises(FileNotFoundError, match="no such file"):
        sources_of([str(tmp_path / "nowhere")])


def test_urls_the_workers_can_read(ray_instance: None, photos: list[str], engine: FaceEngine,
                                   single_process: Counter[str], tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    for photo in photos[:3]:
        (served / Path(photo).name).symlink_to(photo)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        urls = [f"{base}/{Path(p).name}" for p in photos[:3]] + [f"{base}/missing.jpg"]
        with ShardedCollection.create(tmp_path, "web", 2, engine.pack) as sharded:
            report = ingest(sharded, urls, workers=1)
            assert [source for source, _ in report.failed] == [f"{base}/missing.jpg"]
            assert Counter(r.external_image_id for r in _stored(sharded)) == \
                Counter({Path(p).name: single_process[Path(p).name] for p in photos[:3]})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_videos_store_one_face_per_track_and_resume(ray_instance: None, photos: list[str], engine: FaceEngine,
                                                    data_dir: Path, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    from faceindex.video.video_faces import video_faces_to_index

    clip = data_dir / "video" / "short_hamilton_clip.mp4"
    if not clip.is_file():
        pytest.skip(f"no video at {clip}")
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / clip.name).symlink_to(clip)
    (folder / Path(photos[0]).name).symlink_to(photos[0])
    sources = sources_of([str(folder)])
    assert sorted(Path(s).name for s in sources) == sorted([clip.name, Path(photos[0]).name])
    in_process = video_faces_to_index(engine, clip, None, "auto")
    with ShardedCollection.create(tmp_path, "archive", 2, engine.pack) as sharded:
        report = ingest(sharded, sources, workers=2, batch_size=1)
        assert report.failed == [] and report.images == 2 and report.videos == 1
        from_video = [r for r in _stored(sharded) if r.external_image_id.startswith(f"{clip.name}:")]
        # One face per track, as in one process (the worker runs one thread: allow one track's difference).
        assert abs(len(from_video) - len(in_process.faces)) <= 1 and from_video
        assert all((r.image_width, r.image_height) == (640, 360) for r in from_video)
        assert len({r.image_id for r in from_video}) == 1
        assert all(0 <= int(r.external_image_id.rsplit(":", 1)[1]) <= 10100 for r in from_video)
        # The clip's people are found among them (the embeddings are the worker's own, stored whole).
        match = sharded.search_faces_by_embedding(in_process.embeddings[0], pack=engine.pack, max_faces=1,
                                                  threshold=0.99)
        assert match.best is not None and match.best.face.external_image_id.startswith(clip.name)

        # The same bytes from a URL are the same video: downloaded, hashed, skipped.
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            again = ingest(sharded, [f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"], workers=1)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
        assert again.failed == [] and again.skipped == 1 and again.videos == 1 and again.indexed_faces == 0
        assert len(_stored(sharded)) == report.indexed_faces
