"""Reads and writes of the collection database, one SQL concern per function.

Every function takes an open connection and runs inside the caller's
transaction (read_transaction / write_transaction), so a caller sees one
snapshot across several calls.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from faceindex.collection import dbapi
from faceindex.collection.results import FaceRecord, User
from faceindex.errors import CollectionFileError
from faceindex.types import Face

# SQLite builds before 3.32 allow 999 bound parameters; stay under it.
_CHUNK = 900

_FACE_COLUMNS = (
    "id, face_id, image_id, external_image_id, user_id, x1, y1, x2, y2, confidence, landmarks, "
    "face_size, sharpness, brightness, yaw, pitch, roll, created_at, width, height"
)
# A face with its image's size where it is known (faces stored from embeddings have none).
_FACES = "faces LEFT JOIN images USING (image_id)"


@dataclass(frozen=True)
class Generations:
    generation: int  # bumped by every change to the set of faces
    erase_generation: int  # generation of the last deletion


@dataclass(frozen=True)
class NewFace:
    """One row to insert; the embedding is a float32 unit vector."""

    face_id: str
    image_id: str
    external_image_id: str | None
    bbox: tuple[float, float, float, float]
    confidence: float
    landmarks: bytes
    face_size: float
    sharpness: float
    brightness: float
    pose: tuple[float, float, float] | None
    embedding: bytes


# SQLite's result codes for a file that is damaged or not a database at all.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One consistent snapshot (WAL readers never wait for the writer)."""
    with _damage_reported(conn):
        conn.execute("BEGIN DEFERRED")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The database's single writer slot, waiting up to the busy timeout for it."""
    with _damage_reported(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextmanager
def _damage_reported(conn: sqlite3.Connection) -> Iterator[None]:
    """SQLite's "malformed" / "not a database" surface as CollectionFileError, wherever in an
    operation the damaged page is met (a page may be read by a write only, say the audit log's)."""
    try:
        yield
    except UnicodeDecodeError as e:  # faceindex writes only UTF-8 text: anything else is damage
        raise CollectionFileError(f"{_database_path(conn)}: damaged collection database: {e}") from e
    except dbapi.database_errors() as e:
        code = getattr(e, "sqlite_errorcode", None)  # Python 3.11+
        damaged = (code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB) if code is not None
                   else any(m in str(e) for m in ("malformed", "not a database")))
        # The sqlite3 module's own error for a TEXT value that is not UTF-8 (we write only UTF-8).
        damaged = damaged or str(e).startswith("Could not decode to UTF-8")
        if not damaged:
            raise
        raise CollectionFileError(f"{_database_path(conn)}: damaged collection database: {e}") from e


def _database_path(conn: sqlite3.Connection) -> str:
    try:
        return str(conn.execute("PRAGMA database_list").fetchone()[2])
    except dbapi.errors():
        return "collection database"


def generations(conn: sqlite3.Connection) -> Generations:
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'erase_generation')"))
    return Generations(int(rows["generation"]), int(rows["erase_generation"]))


def bump_generation(conn: sqlite3.Connection, erased: bool = False) -> int:
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
    if erased:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'erase_generation'", (generation,))
    return generation


def face_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM faces").fetchone()[0])


def user_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])


def insert_faces(conn: sqlite3.Connection, faces: Sequence[NewFace], created_at: float) -> npt.NDArray[np.uint64]:
    """Insert rows with consecutive new ids (we are the only writer) and return the ids."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'faces'").fetchone()
    first = (int(row[0]) if row else 0) + 1
    conn.executemany(
        "INSERT INTO faces (id, face_id, image_id, external_image_id, x1, y1, x2, y2, confidence, landmarks, "
        "face_size, sharpness, brightness, yaw, pitch, roll, embedding, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (first + i, f.face_id, f.image_id, f.external_image_id, *f.bbox, f.confidence, f.landmarks,
             f.face_size, f.sharpness, f.brightness, *(f.pose or (None, None, None)), f.embedding, created_at)
            for i, f in enumerate(faces)
        ),
    )
    ids = np.arange(first, first + len(faces), dtype=np.uint64)
    _adjust_id_digest(conn, ids, added=True)
    return ids


def all_face_ids(conn: sqlite3.Connection) -> npt.NDArray[np.int64]:
    """Every stored row id, ascending."""
    count = face_count(conn)
    # The face_id index holds every row id in a fraction of the table's pages.
    cursor = conn.execute("SELECT id FROM faces INDEXED BY sqlite_autoindex_faces_1")
    ids = np.fromiter((r[0] for r in cursor), dtype=np.int64, count=count)
    ids.sort()
    return ids


def id_digest(ids: npt.ArrayLike) -> int:
    """An order-free digest of a set of row ids: the sum of splitmix64(id), modulo 2**64.

    Adding or removing ids adds or subtracts their terms, so the database keeps
    it current in the same transaction as the change, and a cache's ids are
    compared against it without reading every row.
    """
    z = np.asarray(ids, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return int(np.sum(z, dtype=np.uint64)) if z.size else 0


def stored_id_digest(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = 'id_digest'").fetchone()[0], 16)


def _adjust_id_digest(conn: sqlite3.Connection, ids: npt.ArrayLike, added: bool) -> None:
    change = id_digest(ids)
    value = (stored_id_digest(conn) + (change if added else -change)) % 2**64
    conn.execute("UPDATE meta SET value = ? WHERE key = 'id_digest'", (f"{value:016x}",))


def embeddings_after(
    conn: sqlite3.Connection, after_id: int, dim: int, batch: int = 65536
) -> Iterator[tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]]:
    """Row ids and embeddings of the faces with id > after_id, ascending, in batches."""
    cursor = conn.execute("SELECT id, embedding FROM faces WHERE id > ? ORDER BY id", (after_id,))
    while rows := cursor.fetchmany(batch):
        ids = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
        vectors = np.frombuffer(b"".join(_embedding(r[0], r[1], dim) for r in rows), dtype=np.float32)
        yield ids, vectors.reshape(len(rows), dim)


def embeddings_of(conn: sqlite3.Connection, row_ids: Sequence[int], dim: int) -> npt.NDArray[np.float32]:
    """Embeddings of the given row ids, in that order (all must exist)."""
    found: dict[int, bytes] = {}
    for chunk in _chunks(list(row_ids)):
        marks = ",".join("?" * len(chunk))
        found.update(conn.execute(f"SELECT id, embedding FROM faces WHERE id IN ({marks})", chunk).fetchall())
    joined = b"".join(_embedding(int(i), found[int(i)], dim) for i in row_ids)
    return np.frombuffer(joined, dtype=np.float32).reshape(len(row_ids), dim)


def _embedding(row_id: int, blob: object, dim: int) -> bytes:
    """A stored embedding's bytes, checked: a value of another type or size is damage, not a vector."""
    if not isinstance(blob, bytes) or len(blob) != 4 * dim:
        size = f"{len(blob)} bytes" if isinstance(blob, bytes) else type(blob).__name__
        raise CollectionFileError(f"damaged collection database: face row {row_id} holds a {size} embedding; "
                                  f"the collection's are {4 * dim} bytes")
    return blob


def faces_by_row_ids(conn: sqlite3.Connection, row_ids: Sequence[int]) -> dict[int, FaceRecord]:
    found: dict[int, FaceRecord] = {}
    for chunk in _chunks([int(i) for i in row_ids]):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {_FACE_COLUMNS} FROM {_FACES} WHERE id IN ({marks})", chunk):
            found[row[0]] = _face_record(row)
    return found


def faces_by_face_ids(conn: sqlite3.Connection, face_ids: Sequence[str]) -> dict[str, tuple[int, FaceRecord]]:
    """face_id -> (row id, record) for those that exist."""
    found: dict[str, tuple[int, FaceRecord]] = {}
    for chunk in _chunks(list(face_ids)):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {_FACE_COLUMNS} FROM {_FACES} WHERE face_id IN ({marks})", chunk):
            found[row[1]] = (row[0], _face_record(row))
    return found


def faces_of_image(conn: sqlite3.Connection, image_id: str) -> list[FaceRecord]:
    """The stored faces of one image id, in the order they were stored (the faces_by_image index)."""
    rows = conn.execute(f"SELECT {_FACE_COLUMNS} FROM {_FACES} WHERE image_id = ? ORDER BY id", (image_id,))
    return [_face_record(row) for row in rows]


def has_image(conn: sqlite3.Connection, image_id: str) -> bool:
    """Whether any stored face came from this image id (a scan: image ids are not indexed)."""
    return conn.execute("SELECT 1 FROM faces WHERE image_id = ? LIMIT 1", (image_id,)).fetchone() is not None


def faces_page(
    conn: sqlite3.Connection, after_id: int, limit: int, user_id: str | None = None,
    external_image_id: str | None = None,
) -> list[tuple[int, FaceRecord]]:
    where, args = ["id > ?"], [after_id]
    if user_id is not None:
        where.append("user_id = ?")
        args.append(user_id)  # type: ignore[arg-type]
    if external_image_id is not None:
        where.append("external_image_id = ?")
        args.append(external_image_id)  # type: ignore[arg-type]
    rows = conn.execute(
        f"SELECT {_FACE_COLUMNS} FROM {_FACES} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*args, limit)
    )
    return [(row[0], _face_record(row)) for row in rows]


def faces_page_by_face_id(conn: sqlite3.Connection, after_face_id: str, limit: int, user_id: str | None = None,
                          external_image_id: str | None = None) -> list[FaceRecord]:
    """Faces whose face id sorts after after_face_id, in face id order (the face_id index's)."""
    where, args = "face_id > ?", [after_face_id]
    if user_id is not None:
        where += " AND user_id = ?"
        args.append(user_id)
    if external_image_id is not None:
        where += " AND external_image_id = ?"
        args.append(external_image_id)
    rows = conn.execute(f"SELECT {_FACE_COLUMNS} FROM {_FACES} WHERE {where} ORDER BY face_id LIMIT ?",
                        (*args, limit))
    return [_face_record(row) for row in rows]


def user_of_rows(conn: sqlite3.Connection, row_ids: Sequence[int]) -> dict[int, str]:
    """row id -> user_id, for the rows that belong to a user."""
    found: dict[int, str] = {}
    for chunk in _chunks([int(i) for i in row_ids]):
        marks = ",".join("?" * len(chunk))
        found.update(
            conn.execute(f"SELECT id, user_id FROM faces WHERE id IN ({marks}) AND user_id IS NOT NULL", chunk)
        )
    return found


def rows_of_user(conn: sqlite3.Connection, user_id: str) -> list[tuple[int, str]]:
    """(row id, face_id) of a user's faces."""
    return conn.execute("SELECT id, face_id FROM faces WHERE user_id = ? ORDER BY id", (user_id,)).fetchall()


def insert_image(conn: sqlite3.Connection, image_id: str, width: int, height: int) -> None:
    conn.execute("INSERT INTO images (image_id, width, height) VALUES (?, ?, ?)", (image_id, width, height))


def has_image_size(conn: sqlite3.Connection, image_id: str) -> bool:
    return conn.execute("SELECT 1 FROM images WHERE image_id = ?", (image_id,)).fetchone() is not None


def delete_rows(conn: sqlite3.Connection, row_ids: Sequence[int]) -> None:
    """Delete rows that exist (the caller found them in this transaction), and the size of
    each image whose last face they were."""
    image_ids: set[str] = set()
    for chunk in _chunks([int(i) for i in row_ids]):
        marks = ",".join("?" * len(chunk))
        image_ids.update(r[0] for r in conn.execute(f"SELECT image_id FROM faces WHERE id IN ({marks})", chunk))
        conn.execute(f"DELETE FROM faces WHERE id IN ({marks})", chunk)
    for chunk in _chunks(sorted(image_ids)):
        conn.execute(f"DELETE FROM images WHERE image_id IN ({','.join('?' * len(chunk))}) AND NOT EXISTS "
                     "(SELECT 1 FROM faces WHERE faces.image_id = images.image_id)", chunk)
    _adjust_id_digest(conn, np.asarray(row_ids, dtype=np.uint64), added=False)


def set_user_of_rows(conn: sqlite3.Connection, row_ids: Sequence[int], user_id: str | None) -> None:
    for chunk in _chunks([int(i) for i in row_ids]):
        conn.execute(f"UPDATE faces SET user_id = ? WHERE id IN ({','.join('?' * len(chunk))})", (user_id, *chunk))


def get_user(conn: sqlite3.Connection, user_id: str) -> User | None:
    row = conn.execute(
        "SELECT u.user_id, u.created_at, (SELECT count(*) FROM faces f WHERE f.user_id = u.user_id) "
        "FROM users u WHERE u.user_id = ?", (user_id,)
    ).fetchone()
    return None if row is None else _user(row)


def users_by_id(conn: sqlite3.Connection, user_ids: Iterable[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for chunk in _chunks(list(user_ids)):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            "SELECT u.user_id, u.created_at, (SELECT count(*) FROM faces f WHERE f.user_id = u.user_id) "
            f"FROM users u WHERE u.user_id IN ({marks})", chunk
        ):
            found[row[0]] = _user(row)
    return found


def insert_user(conn: sqlite3.Connection, user_id: str) -> bool:
    """False when the user exists already."""
    cursor = conn.execute("INSERT OR IGNORE INTO users (user_id, created_at) VALUES (?, ?)", (user_id, time.time()))
    return cursor.rowcount == 1


def delete_user_row(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,))


def users_page(conn: sqlite3.Connection, after: str | None, limit: int) -> list[User]:
    rows = conn.execute(
        "SELECT u.user_id, u.created_at, (SELECT count(*) FROM faces f WHERE f.user_id = u.user_id) "
        "FROM users u WHERE u.user_id > ? ORDER BY u.user_id LIMIT ?", (after or "", limit)
    )
    return [_user(row) for row in rows]


def checkpoint_truncate(conn: sqlite3.Connection, wait: bool = True) -> bool:
    """Copy the WAL into the database and truncate it to zero bytes; False if readers or a writer kept it.

    wait=False gives up at once instead of waiting up to the busy timeout.
    """
    if wait:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(busy == 0)
    timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except dbapi.operational_errors():  # locked by a writer
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return bool(busy == 0)


def _face_record(row: tuple) -> FaceRecord:  # type: ignore[type-arg]
    try:
        return _decode_face_record(row)
    except (TypeError, ValueError, OverflowError, OSError) as e:  # a value SQLite kept but we never wrote
        raise CollectionFileError(f"damaged collection database: face row {row[0]} cannot be read ({e})") from e


def _decode_face_record(row: tuple) -> FaceRecord:  # type: ignore[type-arg]
    (_id, face_id, image_id, external_image_id, user_id, x1, y1, x2, y2, confidence, landmarks,
     face_size, sharpness, brightness, yaw, pitch, roll, created_at, width, height) = row
    face = Face(bbox=(x1, y1, x2, y2), score=confidence,
                landmarks=np.frombuffer(landmarks, dtype=np.float32).reshape(5, 2).copy(), face_size=face_size,
                sharpness=sharpness, brightness=brightness, pose=None if yaw is None else (yaw, pitch, roll))
    return FaceRecord(face_id=face_id, external_image_id=external_image_id, image_id=image_id, face=face,
                      user_id=user_id, created_at=datetime.fromtimestamp(created_at, tz=timezone.utc),
                      image_width=None if width is None else int(width),
                      image_height=None if height is None else int(height))


def _user(row: tuple) -> User:  # type: ignore[type-arg]
    try:
        return _decode_user(row)
    except (TypeError, ValueError, OverflowError, OSError) as e:
        raise CollectionFileError(f"damaged collection database: user {row[0]!r} cannot be read ({e})") from e


def _decode_user(row: tuple) -> User:  # type: ignore[type-arg]
    return User(user_id=row[0], face_count=int(row[2]), created_at=datetime.fromtimestamp(row[1], tz=timezone.utc))


def _chunks(items: list) -> Iterator[list]:  # type: ignore[type-arg]
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]
