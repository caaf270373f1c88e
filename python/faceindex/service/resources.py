"""What every request of the service shares: the home's Collections, one open Collection per id
(a ShardedCollection for a sharded one, with --ray: sharding.py), one FaceEngine per pack (loaded
on first use), the stored-video job queue, the stream processors, the page-token key and the
SNS / Kinesis clients."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pathlib import Path

from faceindex.collection import CollectionDescription, Collections, schema
from faceindex.distributed import layout
from faceindex.engine import FaceEngine
from faceindex.errors import CollectionExistsError, CollectionNotFoundError
from faceindex.service.config import ServiceConfig
from faceindex.collection.contract import FaceCollection
from faceindex.service import tags
from faceindex.service.errors import ServiceError, not_found
from faceindex.service.jobs import JobStore
from faceindex.service.outputs import KinesisRecords, Notifications
from faceindex.service.page_tokens import PageTokens
from faceindex.service.sharding import Sharding, not_served
from faceindex.service.stream_processors import StreamProcessors, load_stream_sources
from faceindex.service.video_jobs import VideoJobs

# A collection's identity: which kind it is and its database (or layout) file's (device, inode).
Identity = tuple[str, int, int]

DEFAULT_PACK = "dlib"


class SharedResources:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.collections = Collections(config.home)
        self._open: dict[str, tuple[FaceCollection, Identity | None]] = {}  # with its file's identity
        self._open_lock = threading.Lock()  # the dict only, held briefly
        self._stripes = [threading.Lock() for _ in range(64)]  # opening and closing, per id (a bounded set)
        self._engines: dict[str, FaceEngine] = {}
        self._engine_lock = threading.Lock()
        self.video_jobs: VideoJobs | None = None
        self.sharding = Sharding(config) if config.ray_address is not None else None
        self.page_tokens = PageTokens(config.home / "service")
        self.notifications = Notifications(config.sns_endpoint_url)
        self.kinesis = KinesisRecords(config.kinesis_endpoint_url)
        self.stream_processors: StreamProcessors | None = None

    def start_video_jobs(self) -> VideoJobs:
        """Open the job queue in <home>/service and run its jobs (those an earlier server left first)."""
        private = [(str(self.config.s3_root), "the S3 root")] if self.config.s3_root is not None else []
        private += [(str(self.collections.root), "the server's home"), (str(self.config.home), "the server's home")]
        self.video_jobs = VideoJobs(JobStore(self.config.home / "service"), self.open_collection,
                                    self.default_engine, self.notifications, private)
        self.video_jobs.start()
        return self.video_jobs

    def start_stream_processors(self) -> StreamProcessors:
        """Open the stream processors' store in <home>/service and run again those that were running."""
        self.stream_processors = StreamProcessors(self.config.home / "service",
                                                  load_stream_sources(self.config.stream_sources), self.kinesis,
                                                  self.open_collection, self.config.region)
        self.stream_processors.resume()
        return self.stream_processors

    @property
    def default_pack(self) -> str:
        return self.config.pack or DEFAULT_PACK

    def engine(self, pack: str) -> FaceEngine:
        """The service's engine for a pack (made once; FaceEngine is shared by threads)."""
        with self._engine_lock:
            engine = self._engines.get(pack)
            if engine is None:
                engine = self._engines[pack] = FaceEngine(pack=pack)
            return engine

    def default_engine(self) -> FaceEngine:
        return self.engine(self.default_pack)

    def _identity(self, collection_id: str) -> Identity | None:
        for kind, path in (("plain", self.collections.path_of(collection_id) / schema.DATABASE_NAME),
                           ("sharded", layout.sharded_path(self.config.home, collection_id) / layout.LAYOUT_NAME)):
            try:
                found = os.stat(path)
            except FileNotFoundError:
                continue
            return kind, found.st_dev, found.st_ino
        return None

    def _engine_for(self, name: str, version: str) -> FaceEngine | None:
        """The service's engine for a collection of its pack (another pack's collection makes its own)."""
        if name == self.default_pack:
            candidate = self.default_engine()
            if candidate.pack.version == version:
                return candidate
        return None

    def open_collection(self, collection_id: str) -> FaceCollection:
        with _missing_as_not_found(collection_id):
            return self._open_collection(collection_id)

    def _open_collection(self, collection_id: str) -> FaceCollection:
        """The open Collection of that id, opened on first use and kept open for the next requests.
        A collection of the service's pack runs the service's engine; another makes its own.
        One deleted (or deleted and made again) since it was opened, here or by another process,
        is closed and opened anew: its database file is not the one it holds."""
        # Opening can take long (an index cache rebuilt): it holds only its id's stripe, so requests
        # on other collections go on meanwhile.
        with self._stripe(collection_id):
            identity = self._identity(collection_id)
            with self._open_lock:
                held = self._open.get(collection_id)
            if held is not None and held[1] == identity:
                return held[0]
            if held is not None:
                with self._open_lock:
                    self._open.pop(collection_id, None)
                held[0].close()
            collection: FaceCollection
            if identity is not None and identity[0] == "sharded":
                if self.sharding is None:
                    raise not_served(collection_id)
                pack = layout.describe_sharded(self.config.home, collection_id).pack
                collection = self.sharding.open(collection_id, self._engine_for(pack.name, pack.version))
            else:
                pack = self.collections.describe_collection(collection_id).pack
                collection = self.collections.collection(
                    collection_id, engine=self._engine_for(pack.name, pack.version))
            with self._open_lock:
                self._open[collection_id] = (collection, self._identity(collection_id))
            return collection

    # -- the collections of the home, plain and sharded --------------------------------------

    def create_collection(self, collection_id: str) -> FaceCollection:
        """A new collection of the service's pack: sharded with --shards, else plain. The id is
        taken by a collection of either kind."""
        with self._stripe(collection_id):
            if self._identity(collection_id) is not None:
                raise CollectionExistsError(f"collection {collection_id!r} already exists in {self.config.home}")
            engine = self.default_engine()
            collection: FaceCollection
            if self.sharding is not None and self.config.shards is not None:
                collection = self.sharding.create(collection_id, engine)
            else:
                collection = self.collections.create_collection(collection_id, engine=engine)
            with self._open_lock:
                self._open[collection_id] = (collection, self._identity(collection_id))
            return collection

    def list_collections(self) -> list[str]:
        return sorted(set(self.collections.list_collections()) | set(layout.list_sharded(self.config.home)))

    def describe_collection(self, collection_id: str) -> CollectionDescription:
        """Read from the files (a sharded collection's shards summed), so that even a server
        without Ray describes a sharded collection."""
        with _missing_as_not_found(collection_id):
            if layout.is_sharded(self.config.home, collection_id):
                return layout.describe_sharded(self.config.home, collection_id)
            return self.collections.describe_collection(collection_id)

    def delete_collection(self, collection_id: str) -> None:
        self.forget_collection(collection_id)
        with self._stripe(collection_id), _missing_as_not_found(collection_id):
            if layout.is_sharded(self.config.home, collection_id):
                layout.delete_sharded(self.config.home, collection_id)
            else:
                self.collections.delete_collection(collection_id)

    # -- tags, kept in the collection's folder (service/tags.py) -----------------------------

    def _folder(self, collection_id: str) -> Path:
        if self._identity(collection_id) is None:
            raise collection_not_found(collection_id)
        if layout.is_sharded(self.config.home, collection_id):
            return layout.sharded_path(self.config.home, collection_id)
        return self.collections.path_of(collection_id)

    def collection_tags(self, collection_id: str) -> dict[str, str]:
        with self._stripe(collection_id):
            return tags.read_tags(self._folder(collection_id))

    def change_collection_tags(self, collection_id: str, added: dict[str, str], removed: list[str]) -> None:
        with self._stripe(collection_id):
            folder = self._folder(collection_id)
            current = tags.read_tags(folder)
            changed = tags.merged({k: v for k, v in current.items() if k not in removed}, added)
            if changed != current:
                tags.write_tags(folder, changed)

    def forget_collection(self, collection_id: str) -> None:
        """Close the open Collection of that id, if any (before the collection is deleted)."""
        with self._stripe(collection_id):
            with self._open_lock:
                held = self._open.pop(collection_id, None)
            if held is not None:
                held[0].close()

    def _stripe(self, collection_id: str) -> threading.Lock:
        return self._stripes[hash(collection_id) % len(self._stripes)]

    def close(self) -> None:
        """Stop the video jobs (one running is interrupted and runs again at the next start), then close
        every open collection (their index caches are saved)."""
        if self.stream_processors is not None:
            self.stream_processors.close()
        if self.video_jobs is not None:
            self.video_jobs.stop()
            self.video_jobs.store.close()
        with self._open_lock:
            held, self._open = list(self._open.values()), {}
        for collection, _ in held:
            collection.close()
        if self.sharding is not None:
            self.sharding.close()


def collection_not_found(collection_id: str) -> ServiceError:
    """AWS's words, naming no other collection (those may be another tenant's)."""
    return not_found(f"The collection id: {collection_id} does not exist")


@contextmanager
def _missing_as_not_found(collection_id: str) -> Iterator[None]:
    """CollectionNotFoundError (whose message lists the home's collections, for the CLI) answered
    in AWS's words instead."""
    try:
        yield
    except CollectionNotFoundError:
        raise collection_not_found(collection_id) from None
