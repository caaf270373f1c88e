"""The service's own small SQLite databases (the video jobs, the stream processors): an owner-only
file, one connection shared by the request threads and the runners under a lock, WAL with
synchronous FULL (a job or processor the server answered for survives a crash)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from faceindex.collection import permissions


class PrivateDatabase:
    def __init__(self, path: Path, schema: str) -> None:
        if not path.exists():
            permissions.create_private_file(path)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.executescript(schema)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE), committed when the block ends, rolled back on an error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        """Every row a read gives."""
        with self._lock:
            return self._conn.execute(sql, parameters).fetchall()
