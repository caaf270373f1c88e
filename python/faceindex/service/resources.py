"""What every request of the service shares: the home's Collections, one open Collection per id,
one FaceEngine per pack (loaded on first use), and the stored-video job queue."""

from __future__ import annotations

import os
import threading

from faceindex.collection import Collection, Collections, schema
from faceindex.engine import FaceEngine
from faceindex.service.config import ServiceConfig
from faceindex.service.jobs import JobStore
from faceindex.service.video_jobs import VideoJobs

DEFAULT_PACK = "dlib"


class SharedResources:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.collections = Collections(config.home)
        self._open: dict[str, tuple[Collection, tuple[int, int] | None]] = {}  # with its database file's identity
        self._open_lock = threading.Lock()  # the dict only, held briefly
        self._stripes = [threading.Lock() for _ in range(64)]  # opening and closing, per id (a bounded set)
        self._engines: dict[str, FaceEngine] = {}
        self._engine_lock = threading.Lock()
        self.video_jobs: VideoJobs | None = None

    def start_video_jobs(self) -> VideoJobs:
        """Open the job queue in <home>/service and run its jobs (those an earlier server left first)."""
        self.video_jobs = VideoJobs(JobStore(self.config.home / "service"), self.open_collection,
                                    self.default_engine)
        self.video_jobs.start()
        return self.video_jobs

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

    def _database_identity(self, collection_id: str) -> tuple[int, int] | None:
        try:
            found = os.stat(self.collections.path_of(collection_id) / schema.DATABASE_NAME)
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino

    def open_collection(self, collection_id: str) -> Collection:
        """The open Collection of that id, opened on first use and kept open for the next requests.
        A collection of the service's pack runs the service's engine; another makes its own.
        One deleted (or deleted and made again) since it was opened, here or by another process,
        is closed and opened anew: its database file is not the one it holds."""
        # Opening can take long (an index cache rebuilt): it holds only its id's stripe, so requests
        # on other collections go on meanwhile.
        with self._stripe(collection_id):
            identity = self._database_identity(collection_id)
            with self._open_lock:
                held = self._open.get(collection_id)
            if held is not None and held[1] == identity:
                return held[0]
            if held is not None:
                with self._open_lock:
                    self._open.pop(collection_id, None)
                held[0].close()
            pack = self.collections.describe_collection(collection_id).pack
            engine = None
            if pack.name == self.default_pack:
                candidate = self.default_engine()
                if candidate.pack.version == pack.version:
                    engine = candidate
            collection = self.collections.collection(collection_id, engine=engine)
            with self._open_lock:
                self._open[collection_id] = (collection, self._database_identity(collection_id))
            return collection

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
        if self.video_jobs is not None:
            self.video_jobs.stop()
            self.video_jobs.store.close()
        with self._open_lock:
            held, self._open = list(self._open.values()), {}
        for collection, _ in held:
            collection.close()
