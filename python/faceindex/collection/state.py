"""What every operation on an open collection shares: its directory, database
connections (one per thread and process), the model pack it is bound to, the
FlatIndex cache, and the engine that runs its pack."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceindex.collection import encryption, schema, store
from faceindex.collection.encryption import CollectionKey
from faceindex.collection.index_cache import DEFAULT_CACHE_DTYPE, CacheDType, IndexCache, cache_key
from faceindex.collection.score_norm import ScoreNormState
from faceindex.engine import FaceEngine
from faceindex.errors import PackMismatchError
from faceindex.packs import what_changed
from faceindex.types import FloatArray, PackInfo, PackRef

PackIdentity = PackInfo | PackRef | tuple[str, str]  # a PackInfo, a PackRef, or (name, version)


class CollectionState:
    def __init__(self, directory: Path, engine: FaceEngine | None, busy_timeout_s: float,
                 key: CollectionKey | None = None, cache_dtype: CacheDType = DEFAULT_CACHE_DTYPE) -> None:
        self.directory = Path(directory)
        self.db_path = self.directory / schema.DATABASE_NAME
        self.busy_timeout_s = busy_timeout_s
        encryption.check_key(self.directory, self.directory.name, key)
        self.key = key  # None for a plain collection
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self.closed = False
        self._engine: FaceEngine | None = None
        self._engine_lock = threading.Lock()
        meta = schema.check(self.conn(), self.db_path)
        self.collection_id = str(meta["collection_id"])
        self.pack = schema.pack_of(meta)
        self.cache = IndexCache(self.directory, cache_key(str(meta["store_uuid"]), self.pack.name, self.pack.version,
                                                         self.pack.embedding_size, cache_dtype),
                                self.pack.embedding_size, key, cache_dtype)
        self.score_norm = ScoreNormState(self.pack)  # issue 29: AS-norm's cohort and lines, kept like the cache
        if engine is not None:
            self.check_engine(engine)
            self._engine = engine

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (a forked child opens its own)."""
        if self.closed:
            raise ValueError(f"collection {getattr(self, 'collection_id', self.directory)!r} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = schema.connect(self.db_path, self.busy_timeout_s, self.key)
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def close_connections(self) -> None:
        self.closed = True
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # -- the pack ------------------------------------------------------------------------

    @property
    def engine(self) -> FaceEngine:
        """The engine that runs this collection's pack (made on first use)."""
        with self._engine_lock:
            if self._engine is None:
                engine = FaceEngine(pack=self.pack.name)
                self.check_engine(engine)
                self._engine = engine
            return self._engine

    def check_engine(self, engine: FaceEngine) -> None:
        info = engine.pack
        if (info.name, info.version) != (self.pack.name, self.pack.version):
            changed = what_changed(self.pack.name, self.pack.version) if info.name == self.pack.name else ""
            raise PackMismatchError(
                f"collection {self.collection_id!r} holds embeddings of pack {self.pack.name} {self.pack.version}; "
                f"the engine runs {info.name} {info.version}. "
                + (f"{changed}." if changed else "Open it with an engine of that pack, or index the faces into a "
                   "new collection.")
            )
        if info.embedding_size != self.pack.embedding_size:
            raise PackMismatchError(
                f"engine pack {info.name} {info.version} gives {info.embedding_size}-d embeddings; "
                f"collection {self.collection_id!r} holds {self.pack.embedding_size}-d ones"
            )

    def check_pack(self, pack: PackIdentity) -> None:
        """Embeddings handed in must come from this collection's pack."""
        name, version = (pack.name, pack.version) if isinstance(pack, (PackInfo, PackRef)) else tuple(pack)
        if (name, version) != (self.pack.name, self.pack.version):
            raise PackMismatchError(
                f"collection {self.collection_id!r} holds embeddings of pack {self.pack.name} {self.pack.version}; "
                f"these are from {name} {version}: embeddings of different packs cannot be compared"
            )

    def unit_vectors(self, embeddings: npt.ArrayLike, name: str) -> FloatArray:
        """[n, embedding_size] float32 rows of unit length (one vector becomes one row)."""
        array = np.asarray(embeddings)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be numeric, got {array.dtype}")
        if array.ndim == 1:
            array = array[None, :]
        size = self.pack.embedding_size
        if array.ndim != 2 or array.shape[1] != size:
            raise ValueError(
                f"{name} must have shape [n, {size}] for pack {self.pack.name}, got {np.shape(embeddings)}")
        vectors = array.astype(np.float32)
        if not np.all(np.isfinite(vectors)):
            raise ValueError(f"{name} hold NaN or inf")
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
        if np.any(norms == 0):
            raise ValueError(f"{name} row {int(np.argmax(norms == 0))} is all zeros")
        return np.ascontiguousarray((vectors / norms[:, None]).astype(np.float32))

    def face_count(self) -> int:
        conn = self.conn()
        with store.read_transaction(conn):
            return store.face_count(conn)
