"""The collection database's AS-norm tables (schema 4), one SQL concern per function.

score_cohort: the cohort's faces: a copy of each one's embedding, with the face id it copies
(NULL for a face of a cohort the user built, which is no face of the collection). A face
erased from the collection is erased from the cohort in the same transaction.
score_lines: each stored face's cohort statistics (the mean and spread of its top-K cosines
against the cohort when it was stored), the line its scores are normalised by.
meta score_cohort_source: what a cohort not of the collection's own faces is, in words;
meta score_cohort_policy: "own" (the collection keeps its cohort: its own faces once it has
enough, else the user's cohort for its pack) or "given" (set from outside: a shard of a sharded
collection, whose cohort is the whole collection's) or "off" (no cohort: searches stay on cosines);
meta score_norm_version: bumped whenever
the cohort or the lines change other than by new faces getting theirs, so readers reload.
Like store.py, every function runs inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from faceindex.errors import CollectionFileError

_CHUNK = 900

TABLES = (
    """CREATE TABLE score_cohort (
    slot INTEGER PRIMARY KEY,
    face_id TEXT UNIQUE,
    embedding BLOB NOT NULL
)""",
    """CREATE TABLE score_lines (
    id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    mean REAL NOT NULL,
    spread REAL NOT NULL
)""",
)
META = {"score_cohort_policy": "own", "score_cohort_source": "", "score_norm_version": 0}


def policy(conn: sqlite3.Connection) -> str:
    return str(conn.execute("SELECT value FROM meta WHERE key = 'score_cohort_policy'").fetchone()[0])


def set_policy(conn: sqlite3.Connection, value: str) -> None:
    conn.execute("UPDATE meta SET value = ? WHERE key = 'score_cohort_policy'", (value,))


def source(conn: sqlite3.Connection) -> str:
    """What a cohort the user built (or one given from outside) is, in words; "" for the own cohort."""
    return str(conn.execute("SELECT value FROM meta WHERE key = 'score_cohort_source'").fetchone()[0])


def set_source(conn: sqlite3.Connection, value: str) -> None:
    conn.execute("UPDATE meta SET value = ? WHERE key = 'score_cohort_source'", (value,))


def view_key(conn: sqlite3.Connection) -> tuple[int, int, int, str]:
    """generation, erase_generation, score_norm_version and policy, in one statement (every search reads them)."""
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'erase_generation', "
                             "'score_norm_version', 'score_cohort_policy')").fetchall())
    return (int(rows["generation"]), int(rows["erase_generation"]), int(rows["score_norm_version"]),
            str(rows["score_cohort_policy"]))


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = 'score_norm_version'").fetchone()[0])


def bump_version(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'score_norm_version'")


def cohort(conn: sqlite3.Connection, dim: int) -> tuple[list[str | None], npt.NDArray[np.float32]]:
    """The cohort's face ids (None: a face of the user's cohort) and embeddings, by slot."""
    rows = conn.execute("SELECT face_id, embedding FROM score_cohort ORDER BY slot").fetchall()
    for face_id, blob in rows:
        if not isinstance(blob, bytes) or len(blob) != 4 * dim:
            raise CollectionFileError(f"damaged collection database: cohort face {face_id} holds a malformed embedding")
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return [r[0] for r in rows], vectors


def cohort_size(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM score_cohort").fetchone()[0])


def set_cohort(conn: sqlite3.Connection, face_ids: Sequence[str | None], vectors: npt.NDArray[np.float32]) -> None:
    conn.execute("DELETE FROM score_cohort")
    add_to_cohort(conn, face_ids, vectors)


def add_to_cohort(conn: sqlite3.Connection, face_ids: Sequence[str | None], vectors: npt.NDArray[np.float32]) -> None:
    conn.executemany("INSERT INTO score_cohort (face_id, embedding) VALUES (?, ?)",
                     ((f, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for f, v in zip(face_ids, vectors)))


def forget_cohort_faces(conn: sqlite3.Connection, face_ids: Sequence[str]) -> int:
    """Erase the cohort's copies of these faces; how many there were."""
    gone = 0
    for start in range(0, len(face_ids), _CHUNK):
        chunk = list(face_ids[start:start + _CHUNK])
        gone += conn.execute(f"DELETE FROM score_cohort WHERE face_id IN ({','.join('?' * len(chunk))})",
                             chunk).rowcount
    return gone


def cohort_face_ids(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT face_id FROM score_cohort WHERE face_id IS NOT NULL")}


def insert_lines(conn: sqlite3.Connection, ids: npt.ArrayLike, mean: npt.ArrayLike, spread: npt.ArrayLike) -> None:
    conn.executemany("INSERT OR REPLACE INTO score_lines (id, mean, spread) VALUES (?, ?, ?)",
                     zip(np.asarray(ids, dtype=np.int64).tolist(), np.asarray(mean, dtype=np.float64).tolist(),
                         np.asarray(spread, dtype=np.float64).tolist()))


def clear_lines(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM score_lines")


def lines_after(conn: sqlite3.Connection, after_id: int, batch: int = 65536
                ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """(row ids, means, spreads) of the faces with id > after_id, ascending, in batches."""
    cursor = conn.execute("SELECT id, mean, spread FROM score_lines WHERE id > ? ORDER BY id", (after_id,))
    while rows := cursor.fetchmany(batch):
        array = np.array(rows, dtype=np.float64)
        yield array[:, 0].astype(np.int64), array[:, 1], array[:, 2]


def lines_of(conn: sqlite3.Connection, row_ids: Sequence[int]) -> dict[int, tuple[float, float]]:
    found: dict[int, tuple[float, float]] = {}
    for start in range(0, len(row_ids), _CHUNK):
        chunk = [int(i) for i in row_ids[start:start + _CHUNK]]
        for row, mean, spread in conn.execute(
                f"SELECT id, mean, spread FROM score_lines WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            found[int(row)] = (float(mean), float(spread))
    return found
