"""What every request of the service shares: the home's Collections, one open Collection per id,
and one FaceEngine per pack (loaded on first use)."""

from __future__ import annotations

import threading

from faceindex.collection import Collection, Collections
from faceindex.engine import FaceEngine
from faceindex.service.config import ServiceConfig

DEFAULT_PACK = "dlib"


class SharedResources:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.collections = Collections(config.home)
        self._open: dict[str, Collection] = {}
        self._open_lock = threading.Lock()
        self._engines: dict[str, FaceEngine] = {}
        self._engine_lock = threading.Lock()

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

    def open_collection(self, collection_id: str) -> Collection:
        """The open Collection of that id, opened on first use and kept open for the next requests.
        A collection of the service's pack runs the service's engine; another makes its own."""
        with self._open_lock:
            collection = self._open.get(collection_id)
            if collection is None:
                pack = self.collections.describe_collection(collection_id).pack
                engine = None
                if pack.name == self.default_pack:
                    candidate = self.default_engine()
                    if candidate.pack.version == pack.version:
                        engine = candidate
                collection = self._open[collection_id] = self.collections.collection(collection_id, engine=engine)
            return collection

    def forget_collection(self, collection_id: str) -> None:
        """Close the open Collection of that id, if any (before the collection is deleted)."""
        with self._open_lock:
            collection = self._open.pop(collection_id, None)
        if collection is not None:
            collection.close()

    def close(self) -> None:
        """Close every open collection (their index caches are saved)."""
        with self._open_lock:
            collections, self._open = list(self._open.values()), {}
        for collection in collections:
            collection.close()
