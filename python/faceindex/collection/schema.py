"""The collection database: its file, pragmas, schema and version checks.

SQLite in WAL mode is the source of truth. Every connection runs with
synchronous=FULL (a commit is on disk when it returns), secure_delete=ON
(deleted rows are overwritten with zeros) and a busy timeout, so one writer at a
time waits for another instead of failing.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path

from faceindex.collection import dbapi, encryption, permissions
from faceindex.collection import score_norm_store  # issue 29: AS-norm tables (schema 4)
from faceindex.collection.encryption import CollectionKey
from faceindex.errors import CollectionFileError
from faceindex.types import PackInfo

DATABASE_NAME = "collection.db"
APPLICATION_ID = 0x46494458  # "FIDX": marks the file as a faceindex collection
SCHEMA_VERSION = 4  # 2: the audit log; 3: the indexed images' sizes; 4: AS-norm's cohort and lines
DEFAULT_BUSY_TIMEOUT_S = 60.0

# The audit log (schema 2): one row per search or compare through the collection, never an
# image or an embedding. A candidate's face id is kept in audit_candidates and removed when
# the face is deleted; candidate_count keeps the number returned.
_AUDIT = (
    """CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    operation TEXT NOT NULL,
    purpose TEXT,
    reference TEXT,
    threshold REAL NOT NULL,
    chosen_by TEXT NOT NULL,
    requested REAL,
    fmr REAL, fmr_low REAL, fmr_high REAL,
    fpir REAL,
    beyond_table INTEGER NOT NULL,
    gallery_size INTEGER,
    pack TEXT NOT NULL,
    pack_version TEXT NOT NULL,
    candidate_count INTEGER NOT NULL
)""",
    """CREATE TABLE audit_candidates (
    audit_id INTEGER NOT NULL REFERENCES audit(id),
    rank INTEGER NOT NULL,
    face_id TEXT NOT NULL,
    PRIMARY KEY (audit_id, rank)
) WITHOUT ROWID""",
    "CREATE INDEX audit_candidates_by_face ON audit_candidates(face_id)",
    "CREATE INDEX audit_by_time ON audit(at)",
)

# The indexed images' sizes (schema 3), so that a stored face's box can be given as ratios of
# its image (Rekognition's BoundingBox). One row per index_faces call that stored a face;
# faces stored from embeddings have none (their image is not known). Removed with its last face.
_IMAGES = (
    """CREATE TABLE images (
    image_id TEXT PRIMARY KEY,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
) WITHOUT ROWID""",
    # Deleting a face asks whether its image has faces left.
    "CREATE INDEX faces_by_image ON faces(image_id)",
)

_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);

-- id is the FlatIndex id. AUTOINCREMENT never reuses one, so "faces added since
-- the cache was saved" is "id above the cache's largest id".
CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    external_image_id TEXT,
    user_id TEXT REFERENCES users(user_id),
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    confidence REAL NOT NULL,
    landmarks BLOB NOT NULL,       -- float32 5x2
    face_size REAL NOT NULL,
    sharpness REAL NOT NULL,
    brightness REAL NOT NULL,
    yaw REAL, pitch REAL, roll REAL,
    embedding BLOB NOT NULL,       -- float32 unit vector, embedding_size values
    created_at REAL NOT NULL
);
CREATE INDEX faces_by_user ON faces(user_id) WHERE user_id IS NOT NULL;
CREATE INDEX faces_by_external_image ON faces(external_image_id) WHERE external_image_id IS NOT NULL;
""" + "\n" + "".join(s + ";\n" for s in (*_AUDIT, *_IMAGES, *score_norm_store.TABLES))

# meta keys. generation counts every change to the set of faces; erase_generation
# is the generation of the last deletion: a cache saved before it holds erased
# embeddings and is never used. id_digest summarises the set of face row ids
# (store.id_digest), so a cache's ids are checked without reading every row.
META_KEYS = (
    "collection_id", "store_uuid", "created_at", "pack", "pack_version", "embedding_size",
    "default_threshold", "threshold_source", "pack_detector", "pack_recognizer", "pack_license",
    "generation", "erase_generation", "id_digest",
    *score_norm_store.META,  # schema 4 (issue 29)
)


def connect(path: Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
            key: CollectionKey | None = None) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with our pragmas; through SQLCipher with key."""
    try:
        conn = dbapi.open_database(path, busy_timeout_s, key.sqlcipher_pragma() if key is not None else None)
    except dbapi.errors() as e:
        raise CollectionFileError(f"cannot open collection database {path}: {e}") from e
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise CollectionFileError(f"{path}: cannot switch the database to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        # Sorts and temporary indexes stay in memory, never in a temp file outside the collection's folder.
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: inserting into 1M-row indexes stays in memory
    except dbapi.database_errors() + (UnicodeDecodeError,) as e:  # a damaged header can yield undecodable text
        conn.close()
        raise CollectionFileError(f"{path} is not a faceindex collection database: {e}{_encrypted_hint(path, key)}") from e
    except BaseException:
        conn.close()
        raise
    return conn


def _encrypted_hint(path: Path, key: CollectionKey | None) -> str:
    """For a file without SQLite's header opened without a key: it may be an encrypted collection that lost its record."""
    try:
        with open(path, "rb") as f:
            plain = f.read(16) == b"SQLite format 3\0"
    except OSError:
        return ""
    if key is not None or plain:
        return ""
    return (f" (it is not a plain SQLite file: if it is an encrypted collection whose {encryption.MARKER_NAME} "
            "was lost, restore that file)")


def create(path: Path, collection_id: str, pack: PackInfo, key: CollectionKey | None = None,
           cohort_policy: str = "own") -> None:
    """Write a new, empty collection database at path (which must not exist); encrypted with key.
    cohort_policy: AS-norm's (score_norm_store.py): "own", "given" or "off"."""
    # Made 0600 before SQLite opens it: SQLite gives the -wal, -shm and journal files the same mode.
    permissions.create_private_file(path)
    conn = connect(path, key=key)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        # One statement at a time: executescript would commit the open transaction.
        for statement in _SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        values = {
            "collection_id": collection_id,
            "store_uuid": str(uuid.uuid4()),
            "created_at": time.time(),
            "pack": pack.name,
            "pack_version": pack.version,
            "embedding_size": int(pack.embedding_size),
            "default_threshold": float(pack.default_threshold),
            "threshold_source": pack.threshold_source,
            "pack_detector": pack.detector,
            "pack_recognizer": pack.recognizer,
            "pack_license": pack.license,
            "generation": 0,
            "erase_generation": 0,
            "id_digest": "0" * 16,
            **score_norm_store.META,
            "score_cohort_policy": cohort_policy,
        }
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", values.items())
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def check(conn: sqlite3.Connection, path: Path) -> dict[str, object]:
    """The meta values of a collection database; CollectionFileError if it is not one we can use."""
    try:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except dbapi.database_errors() + (UnicodeDecodeError,) as e:
        raise CollectionFileError(f"{path} is not a faceindex collection database: {e}") from e
    if application_id != APPLICATION_ID:
        raise CollectionFileError(
            f"{path} is an SQLite database but not a faceindex collection (application_id {application_id:#x})"
        )
    if version > SCHEMA_VERSION:
        raise CollectionFileError(
            f"{path} has collection schema version {version}; this faceindex reads up to {SCHEMA_VERSION}: upgrade faceindex"
        )
    if version < 1:
        raise CollectionFileError(f"{path}: collection schema version {version} is not valid")
    for migration, to_version in ((_add_audit_log, 2), (_add_image_sizes, 3), (_add_score_norm, 4)):
        if version < to_version:
            try:
                migration(conn)
            except dbapi.database_errors() as e:
                raise CollectionFileError(
                    f"{path}: damaged collection database (migrating to schema {to_version}: {e})") from e
    try:
        stored = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall())
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except dbapi.database_errors() + (UnicodeDecodeError,) as e:
        raise CollectionFileError(f"{path}: damaged collection database: {e}") from e
    # Our tables and indexes as we create them (others may be added beside them): a definition
    # altered on disk would fail statements far from here ("no column named ...").
    altered = [name for name, sql in _expected_schema().items() if stored.get(name) != sql]
    if altered:
        raise CollectionFileError(f"{path}: damaged collection database (schema of {', '.join(altered)} is not ours)")
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise CollectionFileError(f"{path}: damaged collection database (meta lacks {', '.join(missing)})")
    for key, valid, expected in _META_CHECKS:
        if not valid(meta[key]):
            raise CollectionFileError(
                f"{path}: damaged collection database (meta {key} is {meta[key]!r}; expected {expected})")
    if meta["erase_generation"] > meta["generation"]:
        raise CollectionFileError(f"{path}: damaged collection database (erase_generation is after generation)")
    return meta


@cache
def _expected_schema() -> dict[str, str]:
    """name -> CREATE statement, as SQLite records them for a database made by create() (current version)."""
    conn = sqlite3.connect(":memory:")
    try:
        for statement in _SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall())
    finally:
        conn.close()


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _count(high: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and 0 <= value <= high


# What each meta value must be; every later reader of meta (pack_of, store.generations,
# store.stored_id_digest, FlatIndex(dim)) relies on it.
_META_CHECKS: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    *((key, _text, "text") for key in ("collection_id", "store_uuid", "pack", "pack_version")),
    *((key, lambda v: isinstance(v, str), "text") for key in
      ("threshold_source", "pack_detector", "pack_recognizer", "pack_license")),
    ("created_at", lambda v: isinstance(v, (int, float)) and 0 <= v < 1e11, "seconds since 1970"),
    ("embedding_size", lambda v: isinstance(v, int) and 1 <= v <= 65536, "an integer in 1..65536"),
    ("default_threshold", lambda v: isinstance(v, (int, float)) and -1 <= v <= 1, "a similarity in -1..1"),
    ("generation", _count(2**62), "a non-negative integer"),
    ("erase_generation", _count(2**62), "a non-negative integer"),
    ("id_digest", lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{16}", v) is not None, "16 hex digits"),
    ("score_cohort_policy", lambda v: v in ("own", "given", "off"), "own, given or off"),
    ("score_cohort_source", lambda v: isinstance(v, str), "text"),
    ("score_norm_version", _count(2**62), "a non-negative integer"),
)


def _add_audit_log(conn: sqlite3.Connection) -> None:
    """Migration 1 -> 2: the audit log's tables (a collection made before it had none)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 1:  # another process may have migrated
            for statement in _AUDIT:
                conn.execute(statement)
            conn.execute("PRAGMA user_version = 2")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _add_image_sizes(conn: sqlite3.Connection) -> None:
    """Migration 2 -> 3: the images table (faces indexed before it keep an unknown image size)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 2:  # another process may have migrated
            for statement in _IMAGES:
                conn.execute(statement)
            conn.execute("PRAGMA user_version = 3")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _add_score_norm(conn: sqlite3.Connection) -> None:
    """Migration 3 -> 4 (issue 29): AS-norm's tables, empty (the collection forms its cohort, and
    computes every face's line, when it next stores faces)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 3:  # another process may have migrated
            for statement in score_norm_store.TABLES:
                conn.execute(statement)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", score_norm_store.META.items())
            conn.execute("PRAGMA user_version = 4")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def pack_of(meta: dict[str, object]) -> PackInfo:
    """The model pack a collection is bound to, as recorded when it was created."""
    return PackInfo(
        name=str(meta["pack"]),
        version=str(meta["pack_version"]),
        embedding_size=int(meta["embedding_size"]),  # type: ignore[call-overload]
        default_threshold=float(meta["default_threshold"]),  # type: ignore[arg-type]
        threshold_source=str(meta["threshold_source"]),
        detector=str(meta["pack_detector"]),
        recognizer=str(meta["pack_recognizer"]),
        license=str(meta["pack_license"]),
    )
