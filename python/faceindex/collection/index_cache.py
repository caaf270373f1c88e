"""The FlatIndex over a collection's embeddings: in memory, and cached in a file beside the database.

The database is the truth; the index is derived from it. A cache file is named
for what it reflects: index-<key>-g<generation>.fidx, where key hashes the
database's identity (its store UUID), the model pack's name and version and the
index layout. A file is used only when its key is ours, its generation lies
between the last deletion and now, its bytes pass FlatIndex's checksum, and
after catching up on faces added since, its ids are the database's (their
count, and the id digest the database keeps in step with every change).
Anything else is rebuilt from the database and logged, never trusted.

Cache files are written under an exclusive file lock (cache.lock), and every
write removes all other cache files: a deletion rewrites the cache, so no file
keeps an erased embedding.

An encrypted collection's cache files hold the same bytes sealed with AES-256-GCM
(sealed_index.py); one that does not decrypt is rebuilt like any damaged file.

The cache holds i8 codes by default (f16 or f32 on request): searches answer from
them exactly as from f32 (matching.best_faces). The layout, and with it the key, names
the format version and the precision: a cache of an older format or another precision
is never a candidate, so it is rebuilt from the database and removed, never misread.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from faceindex.collection import sealed_index, store
from faceindex.collection.encryption import CollectionKey
from faceindex.collection.rwlock import ReadWriteLock
from faceindex.errors import IndexFileError
from faceindex.flat_index import FlatIndex

log = logging.getLogger("faceindex.collection")

INDEX_METRIC: Literal["cosine"] = "cosine"
CacheDType = Literal["i8", "f16", "f32"]
CACHE_DTYPES: tuple[CacheDType, ...] = ("i8", "f16", "f32")
DEFAULT_CACHE_DTYPE: CacheDType = "i8"
# Format 1: f32 only (searched as it is). Format 2: the precision is part of the layout.
_FORMAT = "faceindex-cache-2"
_NAME = re.compile(r"^index-([0-9a-f]{16})-g(\d{12})\.fidx$")
LOCK_NAME = "cache.lock"

T = TypeVar("T")


def cache_key(store_uuid: str, pack: str, pack_version: str, dim: int, dtype: CacheDType) -> str:
    layout = f"{_FORMAT}/{INDEX_METRIC}/{dtype}"
    text = "\0".join((layout, store_uuid, pack, pack_version, str(dim)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_cache_dtype(dtype: object) -> CacheDType:
    for known in CACHE_DTYPES:
        if dtype == known:
            return known
    raise ValueError(f"cache_dtype must be one of {', '.join(CACHE_DTYPES)}, got {dtype!r}")


def cache_path(directory: Path, key: str, generation: int) -> Path:
    return directory / f"index-{key}-g{generation:012d}.fidx"


@dataclass(frozen=True)
class CacheFile:
    path: Path
    key: str
    generation: int


def cache_files(directory: Path) -> list[CacheFile]:
    found = []
    for entry in os.scandir(directory):
        match = _NAME.match(entry.name)
        if match:
            found.append(CacheFile(Path(entry.path), match.group(1), int(match.group(2))))
    return sorted(found, key=lambda f: f.generation)


def cache_bytes(directory: Path) -> int:
    return sum(f.path.stat().st_size for f in cache_files(directory) if f.path.exists())


@contextmanager
def cache_lock(directory: Path, blocking: bool = True) -> Iterator[bool]:
    """Exclusive across threads and processes; yields False if not blocking and taken."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class OpenReport:
    """How the index was obtained when the collection opened."""

    source: str  # "cache" (used as saved), "cache+catch-up", "rebuilt"
    cached_generation: int | None  # generation of the cache file used
    caught_up_faces: int  # faces added from the database on top of the cache
    reason: str  # why the cache was not used as saved ("" when it was)


class IndexCache:
    """The collection's FlatIndex, kept at one database generation.

    Searches hold the shared lock and see the index at exactly the generation of
    their read transaction; updates hold the exclusive lock.
    """

    def __init__(self, directory: Path, key: str, dim: int, encryption_key: CollectionKey | None = None,
                 dtype: CacheDType = DEFAULT_CACHE_DTYPE) -> None:
        self.directory = directory
        self.key = key
        self.dim = dim
        self.dtype = check_cache_dtype(dtype)
        self._encryption_key = encryption_key  # None: the file is the FlatIndex file, memory-mapped
        self._index = FlatIndex(dim, INDEX_METRIC, self.dtype)
        self._generation = -1  # nothing loaded yet
        self._max_id = 0
        self._saved_generation = -1
        self._lock = ReadWriteLock()
        self.report = OpenReport("rebuilt", None, 0, "not opened")

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def unsaved(self) -> bool:
        return self._generation != self._saved_generation

    def __len__(self) -> int:
        return len(self._index)

    # -- opening -------------------------------------------------------------------

    def open(self, conn: sqlite3.Connection) -> OpenReport:
        """Load the best cache file and bring it to the database's generation (in a read transaction)."""
        with store.read_transaction(conn):
            gens = store.generations(conn)
            candidates = [
                f for f in cache_files(self.directory)
                if f.key == self.key and gens.erase_generation <= f.generation <= gens.generation
            ]
            reason = "no cache file"
            with self._lock.exclusive():
                for candidate in reversed(candidates):
                    reason = self._load(candidate, conn, gens)
                    if not reason:
                        break
                else:
                    self._rebuild(conn, gens, reason)
            report = self.report
        log.debug("collection index at %s: %s", self.directory, report)
        return report

    def _load(self, candidate: CacheFile, conn: sqlite3.Connection, gens: store.Generations) -> str:
        """Empty string when candidate became the index; otherwise why it could not."""
        try:
            if self._encryption_key is None:
                index = FlatIndex.load(candidate.path, mmap=True)
            else:
                index = sealed_index.load(candidate.path, self._encryption_key)
        except (IndexFileError, OSError) as e:
            return f"cache file {candidate.path.name} unreadable: {e}"
        if (index.dim, index.metric, index.dtype) != (self.dim, INDEX_METRIC, self.dtype):
            return (f"cache file {candidate.path.name} has dim {index.dim}, {index.metric}, {index.dtype}; "
                    f"expected {self.dim}, {INDEX_METRIC}, {self.dtype}")
        ids = index.ids()
        self._index, self._max_id = index, int(ids.max()) if len(ids) else 0
        added = self._add_after(conn, self._max_id)
        if (len(self._index) != store.face_count(conn)
                or store.id_digest(self._index.ids()) != store.stored_id_digest(conn)):
            return f"cache file {candidate.path.name} does not hold the database's faces"
        self._generation = gens.generation
        self._saved_generation = candidate.generation if added == 0 else -1
        source = "cache" if added == 0 and candidate.generation == gens.generation else "cache+catch-up"
        self.report = OpenReport(source, candidate.generation, added, "")
        return ""

    def _rebuild(self, conn: sqlite3.Connection, gens: store.Generations, reason: str) -> None:
        if reason != "no cache file":
            log.warning("rebuilding the index of %s from its database: %s", self.directory, reason)
        self._index = FlatIndex(self.dim, INDEX_METRIC, self.dtype)
        self._index.reserve(store.face_count(conn))  # memory grows once, to its size
        self._max_id = 0
        self._add_after(conn, 0)
        self._generation = gens.generation
        self._saved_generation = -1
        self.report = OpenReport("rebuilt", None, len(self._index), reason)

    def _add_after(self, conn: sqlite3.Connection, after_id: int) -> int:
        added = 0
        for ids, vectors in store.embeddings_after(conn, after_id, self.dim):
            self._index.add(ids, vectors)
            self._max_id = int(ids[-1])
            added += len(ids)
        return added

    # -- keeping up with the database ---------------------------------------------

    def read(self, conn: sqlite3.Connection, fn: Callable[[FlatIndex, sqlite3.Connection], T]) -> T:
        """fn(index, conn) inside one read transaction, with the index at that transaction's generation."""
        while True:
            with store.read_transaction(conn):
                gens = store.generations(conn)
                with self._lock.shared():
                    if self._generation == gens.generation:
                        return fn(self._index, conn)
                with self._lock.exclusive():
                    if self._generation < gens.generation:
                        self._sync(conn, gens)
                with self._lock.shared():
                    if self._generation == gens.generation:
                        return fn(self._index, conn)
            # Another thread moved the index past our snapshot: take a newer one.

    def _sync(self, conn: sqlite3.Connection, gens: store.Generations) -> None:
        """Bring the in-memory index from its generation to gens (exclusive lock held)."""
        if self._generation < gens.erase_generation:
            # Faces were deleted since: drop whatever the database no longer has.
            gone = np.setdiff1d(self._index.ids().astype(np.int64), store.all_face_ids(conn), assume_unique=True)
            if len(gone):
                self._index.remove(gone.astype(np.uint64))
        self._add_after(conn, self._max_id)
        self._generation = gens.generation

    def apply_added(self, before: int, after: int, ids: npt.NDArray[np.uint64], vectors: npt.NDArray[np.float32]) -> None:
        """The writer committed generation `after` = `before` + these faces."""
        with self._lock.exclusive():
            if self._generation == before:
                self._index.add(ids, vectors)
                self._max_id = max(self._max_id, int(ids[-1])) if len(ids) else self._max_id
                self._generation = after
            # Otherwise the index is behind other changes too; the next read syncs it.

    def apply_removed(self, before: int, after: int, ids: npt.NDArray[np.uint64]) -> None:
        with self._lock.exclusive():
            if self._generation == before:
                self._index.remove(ids)
                self._generation = after

    # -- the cache file -------------------------------------------------------------

    def save(self, conn: sqlite3.Connection, blocking: bool = True) -> Path | None:
        """Write the index at the database's current generation, then remove every other cache file.

        Returns the path written, or None when not blocking and another saver holds the lock.
        """
        with cache_lock(self.directory, blocking) as locked:
            if not locked:
                return None
            with store.read_transaction(conn):
                gens = store.generations(conn)
                with self._lock.exclusive():
                    if self._generation < gens.generation:
                        self._sync(conn, gens)
            with self._lock.shared():
                generation = self._generation
                path = cache_path(self.directory, self.key, generation)
                # A file of this generation that we did not load may be a damaged one: write over it.
                if self._saved_generation != generation or not path.exists():
                    if self._encryption_key is None:
                        self._index.save(path)
                    else:
                        sealed_index.save(self._index, path, self._encryption_key)
                self._saved_generation = generation
            self._prune(keep=path)
            return path

    def prune(self, conn: sqlite3.Connection) -> None:
        """Remove cache files that can never be used (other keys, erased faces, from the future)."""
        with cache_lock(self.directory):
            with store.read_transaction(conn):
                gens = store.generations(conn)
            usable = [
                f for f in cache_files(self.directory)
                if f.key == self.key and gens.erase_generation <= f.generation <= gens.generation
            ]
            self._prune(keep=usable[-1].path if usable else None)

    def _prune(self, keep: Path | None) -> None:
        """With the cache lock held: nobody else is writing, so stray temp files are dead too."""
        for entry in os.scandir(self.directory):
            name = entry.name
            if (_NAME.match(name) and Path(entry.path) != keep) or (name.startswith("index-") and ".fidx.tmp-" in name):
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
