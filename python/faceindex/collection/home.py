"""Collections: the home directory that holds one folder per collection."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from faceindex import thresholds
from faceindex.collection import dbapi, encryption, permissions, schema, store, validation
from faceindex.collection.collection import Collection
from faceindex.collection.encryption import CollectionKey
from faceindex.collection.index_cache import DEFAULT_CACHE_DTYPE, CacheDType, cache_bytes, check_cache_dtype
from faceindex.collection.results import CollectionDescription
from faceindex.engine import FaceEngine
from faceindex.errors import CollectionExistsError, CollectionFileError, CollectionNotFoundError
from faceindex.paths import child_path, fsync_directory
from faceindex.types import PackInfo

HOME_ENV = "FACEINDEX_HOME"
_COLLECTIONS = "collections"


def default_home() -> Path:
    """$FACEINDEX_HOME, else the platform's user data directory for faceindex."""
    configured = os.environ.get(HOME_ENV)
    return Path(configured) if configured else Path(platformdirs.user_data_dir("faceindex", appauthor=False))


class Collections:
    """The collections under one home: `Collections(home=None)` uses default_home().

    Each collection is the folder <home>/collections/<collection_id>.

    The index cache each collection keeps in memory (and in a file beside its database) holds
    `cache_dtype` codes: "i8" (the default, a quarter of f32's memory and scan), "f16", or "f32".
    Searches answer the same from each, to the last bit of every similarity: a compressed cache
    scans its codes, bounds each score's error, and re-scores the faces that could still match
    from their f32 embeddings in the database.

    Encryption at rest: with a key (key= 32 bytes, key_file=, else the file named by
    $FACEINDEX_KEY_FILE) new collections are encrypted (database through SQLCipher,
    index cache with AES-256-GCM) and encrypted ones are opened; without one, plain
    ones. Opening an encrypted collection without its key, or a plain one with a key,
    raises CollectionKeyError.
    """

    def __init__(self, home: str | os.PathLike[str] | None = None,
                 busy_timeout_s: float = schema.DEFAULT_BUSY_TIMEOUT_S, *,
                 key: bytes | CollectionKey | None = None, key_file: str | os.PathLike[str] | None = None,
                 cache_dtype: CacheDType = DEFAULT_CACHE_DTYPE) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.root = self.home / _COLLECTIONS
        self.busy_timeout_s = busy_timeout_s
        self.key = encryption.resolve_key(key, key_file)
        self.cache_dtype = check_cache_dtype(cache_dtype)

    @property
    def encrypted(self) -> bool:
        """True when this Collections holds a key: it creates and opens encrypted collections."""
        return self.key is not None

    def __repr__(self) -> str:
        encrypted = ", encrypted" if self.key is not None else ""
        return f"Collections(home={str(self.home)!r}{encrypted})"

    def path_of(self, collection_id: str) -> Path:
        return child_path(self.root, validation.collection_folder(collection_id), "collection id")

    def create_collection(self, collection_id: str, pack: str | PackInfo | None = None, *,
                          engine: FaceEngine | None = None, score_normalisation: bool = True) -> Collection:
        """A new, empty collection bound to a model pack: a pack name (its FaceEngine is loaded to
        learn its version), a PackInfo (for embeddings you bring), or the pack of `engine`.
        Default: the "dlib" pack. CollectionExistsError if the id is taken.

        score_normalisation: rank and judge searches by AS-norm scores once the collection has a
        cohort (collection/score_norm.py); False keeps them on cosines, and stores no cohort."""
        directory = self.path_of(collection_id)
        if engine is not None:
            if pack is not None and not (isinstance(pack, str) and pack == engine.pack.name) and pack != engine.pack:
                raise ValueError(f"pack={pack!r} disagrees with the engine's pack {engine.pack.name}")
            info = engine.pack
        elif isinstance(pack, PackInfo):
            info = pack
        else:
            engine = FaceEngine(pack=pack or "dlib")
            info = engine.pack
        if directory.exists():
            raise CollectionExistsError(f"collection {collection_id!r} already exists in {self.root}")
        permissions.ensure_private_dir(self.root)
        # Built in a private folder and renamed into place: a collection is there whole or not at all.
        # The staging name does not repeat the id, so a 255-byte id still fits NAME_MAX.
        staging = self.root / f".creating-{uuid.uuid4().hex}"
        permissions.make_private_dir(staging)
        try:
            if self.key is not None:
                encryption.write_marker(staging, self.key)
            schema.create(staging / schema.DATABASE_NAME, collection_id, info, self.key,
                          cohort_policy="own" if score_normalisation else "off")  # issue 29
            try:
                os.rename(staging, directory)
            except OSError as e:
                if directory.exists():
                    raise CollectionExistsError(f"collection {collection_id!r} already exists in {self.root}") from e
                raise
            fsync_directory(self.root)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return Collection(directory, engine, self.busy_timeout_s, self.key, self.cache_dtype)

    def collection(self, collection_id: str, *, engine: FaceEngine | None = None) -> Collection:
        """Open a collection. CollectionNotFoundError if there is none of that id;
        PackMismatchError if engine runs another pack than the collection's."""
        directory = self.path_of(collection_id)
        if not (directory / schema.DATABASE_NAME).is_file():
            raise CollectionNotFoundError(self._not_found(collection_id))
        return Collection(directory, engine, self.busy_timeout_s, self.key, self.cache_dtype)

    def list_collections(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = [(validation.collection_of_folder(entry.name), entry) for entry in os.scandir(self.root)]
        return sorted(collection_id for collection_id, entry in found if collection_id is not None and entry.is_dir()
                      and os.path.isfile(os.path.join(entry.path, schema.DATABASE_NAME)))

    def describe_collection(self, collection_id: str) -> CollectionDescription:
        pack, faces, users, created_at = self._read(collection_id)
        directory = self.path_of(collection_id)
        db_bytes = sum(p.stat().st_size for p in directory.glob(schema.DATABASE_NAME + "*") if p.is_file())
        return CollectionDescription(
            collection_id=collection_id,
            pack=pack.ref,
            embedding_size=pack.embedding_size,
            default_threshold=pack.default_threshold,
            face_count=faces,
            user_count=users,
            created_at=created_at,
            path=str(directory),
            database_bytes=db_bytes,
            cache_bytes=cache_bytes(directory),
            encrypted=self.key is not None,
            compare_threshold=thresholds.for_comparison(pack),
            search_threshold=thresholds.for_search(pack, faces),
        )

    def pack_of(self, collection_id: str) -> PackInfo:
        """The model pack a collection is bound to, read from its database without opening it."""
        return self._read(collection_id)[0]

    def _read(self, collection_id: str) -> tuple[PackInfo, int, int, datetime]:
        """A collection's pack, face and user counts, and creation time, from its database."""
        directory = self.path_of(collection_id)
        db_path = directory / schema.DATABASE_NAME
        if not db_path.is_file():
            raise CollectionNotFoundError(self._not_found(collection_id))
        encryption.check_key(directory, collection_id, self.key)
        conn = schema.connect(db_path, self.busy_timeout_s, self.key)
        try:
            meta = schema.check(conn, db_path)
            with store.read_transaction(conn):
                faces, users = store.face_count(conn), store.user_count(conn)
        except dbapi.database_errors() as e:
            raise CollectionFileError(f"{db_path}: damaged collection database: {e}") from e
        finally:
            conn.close()
        created_at = datetime.fromtimestamp(float(meta["created_at"]), tz=timezone.utc)  # type: ignore[arg-type]
        return schema.pack_of(meta), faces, users, created_at

    def delete_collection(self, collection_id: str) -> None:
        """Remove the collection's folder and every file in it."""
        directory = self.path_of(collection_id)
        if not (directory / schema.DATABASE_NAME).is_file():
            raise CollectionNotFoundError(self._not_found(collection_id))
        # Renamed out of sight first, so no one opens a half-deleted collection.
        doomed = self.root / f".deleting-{uuid.uuid4().hex}"
        os.rename(directory, doomed)
        shutil.rmtree(doomed)
        fsync_directory(self.root)

    def _not_found(self, collection_id: str) -> str:
        known = self.list_collections()
        listing = f"; collections here: {', '.join(known)}" if known else "; there are none yet"
        return f"no collection {collection_id!r} in {self.root}{listing}"
