"""Distributed ingestion: photos and videos from many files through FaceEngines on every node, into the shards.

Each worker is a Ray actor holding one FaceEngine; it takes a batch of files (paths or
http(s) URLs its node can read), hashes each file's bytes, and for those not ingested
before runs what indexing runs in one process: for a photo, detection, the quality filter
and embedding (faces_to_index, as Collection.index_faces does); for a video, face tracking
and one face per track (faceindex.video.video_faces). The driver sends each file's faces to
the shard its content hash places it on, where Shard.ingest_image stores them once. Both
queues are bounded with ray.wait (backpressure): at most `in_flight` batches per worker and
as many pending shard writes.

Resumable: a worker asks the shards (one call per shard and batch) which of its files'
content hashes they hold, and skips those before any detection. Interrupted anywhere, a
rerun stores each file once. Worker actors restart (max_restarts) and their lost batches
are retried by Ray (max_task_retries); a shard write whose actor died is sent again (it is
idempotent).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from faceindex.collection.faces import faces_to_index
from faceindex.collection.ingest import ExternalIdFrom, external_id_of, image_files
from faceindex.collection.quality_filter import QualityFilterSpec
from faceindex.distributed.placement import shard_of
from faceindex.distributed.results import ShardUnavailableError
from faceindex.distributed.sharded_collection import ABSENT, ShardedCollection
from faceindex.engine import FaceEngine
from faceindex.errors import ImageError, VideoError
from faceindex.types import Face, FloatArray
from faceindex.media_files import is_video, suffix_of
from faceindex.video.video_faces import face_external_id, video_faces_to_index, video_files

URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True)
class ImageFaces:
    """One file (a photo or a video) as a worker saw it: its content hash and the faces to store
    (or why it failed)."""

    source: str
    external_image_id: str | None
    content_hash: str | None = None  # None: the file could not be read
    embeddings: FloatArray | None = None
    faces: tuple[Face, ...] = ()
    unindexed_faces: int = 0
    already_ingested: bool = False
    error: str | None = None
    node_id: str | None = None  # the Ray node whose worker read it
    image_size: tuple[int, int] | None = None  # (width, height) of the photo or of the video's frames
    video: bool = False
    # A video's faces: each one's external image id, the video's with the millisecond it was seen.
    face_external_ids: tuple[str | None, ...] | None = None

    @property
    def external_ids(self) -> str | None | list[str | None]:
        """What the shard stores as external image ids: one for all faces, or one each."""
        return self.external_image_id if self.face_external_ids is None else list(self.face_external_ids)


@dataclass
class IngestionReport:
    images: int = 0  # sources handled in this run, photos and videos (stored, skipped or failed)
    skipped: int = 0  # stored by an earlier run: not detected again
    indexed_faces: int = 0
    unindexed_faces: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    seconds: float = 0.0
    workers: int = 0
    videos: int = 0  # of `images`, how many were videos

    @property
    def faces_per_s(self) -> float:
        return self.indexed_faces / self.seconds if self.seconds > 0 else 0.0


def content_hash(data: bytes) -> str:
    """A file's id in ingestion: the same bytes are the same image, whatever their name or node."""
    return hashlib.sha256(data).hexdigest()[:32]


def _file_hash(path: Path) -> str:
    """content_hash of a file read in chunks: a video need not fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def read_source(source: str, timeout_s: float = 60.0) -> bytes:
    if source.startswith(URL_PREFIXES):
        with urllib.request.urlopen(source, timeout=timeout_s) as response:  # noqa: S310 (http(s) only)
            data: bytes = response.read()
            return data
    return Path(source).read_bytes()


def _local_video(source: str, folder: Path, timeout_s: float = 60.0) -> Path:
    """A video as a file of this node: a path as it is, a URL downloaded into `folder` (decoding seeks)."""
    if not source.startswith(URL_PREFIXES):
        return Path(source)
    target = folder / f"video{len(list(folder.iterdir()))}{suffix_of(source)}"
    with urllib.request.urlopen(source, timeout=timeout_s) as response, open(target, "wb") as out:  # noqa: S310
        shutil.copyfileobj(response, out, 1 << 22)
    return target


class EmbedWorker:
    """Runs one FaceEngine (made once, from engine_options) over batches of sources."""

    def __init__(self, engine_options: dict[str, Any]) -> None:
        from faceindex.runtime import set_num_threads

        # As many threads as the CPUs Ray gave this worker: the workers of a node share its cores
        # instead of each running one thread per core on all of them.
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)  # type: ignore[no-untyped-call]
        set_num_threads(max(1, int(cpus)))
        self.engine = FaceEngine(**engine_options)

    def embed(self, batch: Sequence[tuple[str, str | None]], shards: Sequence[Any], max_faces: int | None,
              quality_filter: QualityFilterSpec) -> list[ImageFaces]:
        """The batch's files: each read (a video downloaded, if a URL) and hashed, the shards asked
        (one call each) which of them they hold already, and only the others analysed."""
        node = ray.get_runtime_context().get_node_id()
        with tempfile.TemporaryDirectory(prefix="faceindex-ingest-") as downloads:
            read: list[tuple[str, str | None, bytes | Path | str, str]] = []  # source, external, content, hash
            for source, external in batch:
                try:
                    if is_video(source):
                        path = _local_video(source, Path(downloads))
                        read.append((source, external, path, _file_hash(path)))
                    else:
                        data = read_source(source)
                        read.append((source, external, data, content_hash(data)))
                except OSError as e:
                    read.append((source, external, f"cannot read: {e}", ""))
            done = _ingested_among(sorted({digest for *_, digest in read if digest}), shards)
            found = []
            for source, external, content, digest in read:
                if isinstance(content, str):
                    found.append(ImageFaces(source, external, error=content, node_id=node, video=is_video(source)))
                elif digest in done:
                    found.append(ImageFaces(source, external, digest, already_ingested=True, node_id=node,
                                            video=isinstance(content, Path)))
                elif isinstance(content, Path):
                    found.append(self._video(source, external, content, digest, max_faces, quality_filter, node))
                else:
                    found.append(self._photo(source, external, content, digest, max_faces, quality_filter, node))
            return found

    def _photo(self, source: str, external: str | None, data: bytes, digest: str, max_faces: int | None,
               quality_filter: QualityFilterSpec, node: str) -> ImageFaces:
        try:
            faces, embeddings, unindexed, size = faces_to_index(self.engine, data, max_faces, quality_filter)
        except ImageError as e:
            return ImageFaces(source, external, digest, error=str(e), node_id=node)
        return ImageFaces(source, external, digest, embeddings, tuple(faces.faces()), len(unindexed), node_id=node,
                          image_size=size)

    def _video(self, source: str, external: str | None, path: Path, digest: str, max_faces: int | None,
               quality_filter: QualityFilterSpec, node: str) -> ImageFaces:
        try:
            seen = video_faces_to_index(self.engine, path, max_faces, quality_filter)
        except VideoError as e:
            return ImageFaces(source, external, digest, error=str(e), node_id=node, video=True)
        return ImageFaces(source, external, digest, seen.embeddings, tuple(seen.faces.faces()), len(seen.unindexed),
                          node_id=node, image_size=seen.frame_size, video=True,
                          face_external_ids=tuple(face_external_id(external, t) for t in seen.timestamps))


def _ingested_among(hashes: Sequence[str], shards: Sequence[Any], timeout_s: float = 30.0) -> set[str]:
    """Which of these content hashes their shards hold. A shard that does not answer counts as
    holding none: the image is detected again, and its shard still stores it only once."""
    groups: dict[int, list[str]] = {}
    for digest in hashes:
        groups.setdefault(shard_of(f"image:{digest}", len(shards)), []).append(digest)
    asked = {shards[s].ingested_among.remote(group): s for s, group in groups.items()}
    ready, _ = ray.wait(list(asked), num_returns=len(asked), timeout=timeout_s)
    done: set[str] = set()
    for ref in ready:
        try:
            done.update(ray.get(ref, timeout=timeout_s))
        except ABSENT:
            pass
    return done


def _external_id(source: str, external_id_from: ExternalIdFrom) -> str | None:
    """As `faceindex index` names a file; a URL by its last path segment (it has no folder)."""
    if not source.startswith(URL_PREFIXES):
        return external_id_of(Path(source), external_id_from)
    name = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or None if external_id_from == "filename" else None


def sources_of(paths: Sequence[str]) -> list[str]:
    """URLs as given; files named, and the photos and videos found in folders (recursively, sorted;
    photos as `faceindex index` finds them)."""
    urls = [p for p in paths if p.startswith(URL_PREFIXES)]
    local = [p for p in paths if not p.startswith(URL_PREFIXES)]
    return urls + [str(f) for f in image_files(local) + video_files(local)]


def ingest(
    collection: ShardedCollection,
    sources: Sequence[str],
    *,
    engine_options: dict[str, Any] | None = None,
    workers: int | None = None,
    batch_size: int = 8,
    in_flight: int = 2,
    external_id_from: ExternalIdFrom = "filename",
    max_faces: int | None = None,
    quality_filter: QualityFilterSpec = "auto",
    worker_options: dict[str, Any] | None = None,
    on_image: Callable[[ImageFaces, IngestionReport], None] | None = None,
    timeout_s: float = 600.0,
) -> IngestionReport:
    """Index every source (see sources_of) into a sharded collection through `workers` Ray actors
    (default: one per CPU of the cluster). engine_options: FaceEngine's arguments (default: the
    collection's pack). on_image is called on the driver after each image is stored (or skipped,
    or failed). timeout_s bounds each wait for a worker or a shard."""
    started = time.monotonic()
    if batch_size < 1 or in_flight < 1:
        raise ValueError(f"batch_size and in_flight must be at least 1, got {batch_size} and {in_flight}")
    options = dict(engine_options or {"pack": collection.pack.name})
    cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
    count = workers if workers is not None else max(1, int(cpus))
    if count < 1:
        raise ValueError(f"workers must be at least 1, got {count}")
    report = IngestionReport(workers=count)
    todo = [(source, _external_id(source, external_id_from)) for source in sources]
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    settings: dict[str, Any] = {"num_cpus": 1, "max_restarts": -1, "max_task_retries": -1}
    settings.update(worker_options or {})
    actor: Any = ray.remote(**settings)(EmbedWorker)
    pool: list[Any] = [actor.remote(options) for _ in range(count)]
    embedding: dict[Any, int] = {}  # future -> worker
    storing: dict[Any, ImageFaces] = {}  # future -> image
    failing_since: dict[str, float] = {}  # content hash -> when its write first failed
    next_batch = 0

    def store(image: ImageFaces, retry: bool = False) -> None:
        assert image.content_hash is not None and image.embeddings is not None
        shard = shard_of(f"image:{image.content_hash}", collection.shards)
        ref = collection.actors[shard].ingest_image.remote(image.content_hash, image.embeddings, list(image.faces),
                                                           image.external_ids, image.image_size, retry)
        storing[ref] = image

    def finish(image: ImageFaces, stored: int) -> None:
        report.images += 1
        report.videos += image.video
        report.indexed_faces += stored
        report.unindexed_faces += image.unindexed_faces
        if image.already_ingested:
            report.skipped += 1
        if image.error is not None:
            report.failed.append((image.source, image.error))
        report.seconds = time.monotonic() - started
        if on_image is not None:
            on_image(image, report)

    try:
        while next_batch < len(batches) or embedding or storing:
            # Keep every worker busy, up to in_flight batches each, while the shards keep up.
            busy = {w: 0 for w in range(count)}
            for w in embedding.values():
                busy[w] += 1
            while next_batch < len(batches) and len(storing) < count * in_flight * batch_size:
                worker = min(busy, key=lambda w: busy[w])
                if busy[worker] >= in_flight:
                    break
                ref = pool[worker].embed.remote(batches[next_batch], collection.actors, max_faces, quality_filter)
                embedding[ref] = worker
                busy[worker] += 1
                next_batch += 1
            ready, _ = ray.wait(list(embedding) + list(storing), num_returns=1, timeout=timeout_s)
            if not ready:
                raise ShardUnavailableError(f"no worker or shard answered within {timeout_s} s", ())
            for ref in ready:
                if ref in embedding:
                    del embedding[ref]
                    for image in ray.get(ref, timeout=timeout_s):
                        if image.error is None and not image.already_ingested:
                            store(image)
                        else:
                            finish(image, 0)
                    continue
                image = storing.pop(ref)
                try:
                    finish(image, ray.get(ref, timeout=timeout_s))
                except ABSENT:
                    # The shard's actor died during the write: send it again (ingest_image is idempotent)
                    # until it is back, for at most timeout_s.
                    assert image.content_hash is not None
                    first_failure = failing_since.setdefault(image.content_hash, time.monotonic())
                    if time.monotonic() - first_failure > timeout_s:
                        raise
                    time.sleep(0.2)
                    store(image, retry=True)
    finally:
        for ref in embedding:
            ray.cancel(ref)
        if storing:
            # Interrupted: the shard writes already sent land (or not) before this returns, so that
            # what the shards hold afterwards is settled (each image still stored at most once).
            ray.wait(list(storing), num_returns=len(storing), timeout=min(timeout_s, 30.0))
        for worker_actor in pool:
            ray.kill(worker_actor, no_restart=True)
        report.seconds = time.monotonic() - started
    return report
