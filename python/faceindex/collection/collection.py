"""Collection: index faces under your own ids, search them by image, face or embedding, group them into users.

One collection is one directory: the SQLite database (the truth) and the
FlatIndex cache beside it. A Collection object may be shared by threads (each
gets its own database connection); other processes may open the same
collection at the same time. Every search runs in one database snapshot, with
the index at exactly that snapshot's generation, so a search during indexing
sees each index_faces call wholly or not at all.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal, Optional, Protocol, Sequence, Union, overload

import numpy as np
import numpy.typing as npt

from faceindex.collection import schema, store, validation
from faceindex.collection.errors import (
    ErasureIncompleteError,
    FaceNotFoundError,
    PackMismatchError,
    UserExistsError,
    UserNotFoundError,
)
from faceindex.collection.index_cache import IndexCache, OpenReport, cache_key
from faceindex.collection.quality_filter import QualityFilterSpec, resolve_quality_filter, select_faces
from faceindex.collection.results import (
    AssociateFacesResult,
    DeleteFacesResult,
    DeleteUserResult,
    DisassociateFacesResult,
    FaceMatch,
    FaceQuality,
    FaceRecord,
    FaceSearchResult,
    FacesPage,
    IndexFacesResult,
    UnindexedFace,
    UnsuccessfulFaceAssociation,
    UnsuccessfulFaceDeletion,
    UnsuccessfulFaceDisassociation,
    UserMatch,
    UsersPage,
    UserSearchResult,
)
from faceindex.engine import NoFaceError
from faceindex.flat_index import FlatIndex
from faceindex.images import load_image
from faceindex.types import Face, FloatArray, PackInfo


class FaceEngineLike(Protocol):
    """What a collection needs of an engine (faceindex.FaceEngine is one)."""

    @property
    def pack(self) -> PackInfo: ...

    def detect(self, image: Any) -> list[Face]: ...

    def embed(self, image: Any, faces: Sequence[Face]) -> FloatArray: ...


PackIdentity = Union[PackInfo, tuple[str, str]]  # a PackInfo, or (name, version)

_NO_LANDMARKS = np.zeros((5, 2), dtype=np.float32).tobytes()


class Collection:
    """A face collection on disk. Open it with `Collections(...).collection(id)`.

    Image operations run the collection's model pack: the engine given, or a
    FaceEngine of the collection's pack made on first use. An engine of another
    pack (name or version) is refused.
    """

    def __init__(self, directory: Path, engine: Optional[FaceEngineLike] = None,
                 busy_timeout_s: float = schema.DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.directory = Path(directory)
        self._db_path = self.directory / schema.DATABASE_NAME
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        conn = self._conn()
        try:
            meta = schema.check(conn, self._db_path)
            self.collection_id = str(meta["collection_id"])
            self.pack = schema.pack_of(meta)
            self._cache = IndexCache(
                self.directory, cache_key(str(meta["store_uuid"]), self.pack.name, self.pack.version,
                                          self.pack.embedding_size), self.pack.embedding_size)
            self._engine: Optional[FaceEngineLike] = None
            self._engine_lock = threading.Lock()
            if engine is not None:
                self._check_engine(engine)
                self._engine = engine
            report = self._cache.open(conn)
            # A cache file from before the last deletion may be on disk after a crash: remove it
            # now (finishing that erasure), and save the index when it had to be rebuilt.
            self._cache.prune(conn)
            # Likewise old page versions a deletion left in the WAL (its readers were busy then).
            store.checkpoint_truncate(conn, wait=False)
            rebuilt = report.source == "rebuilt" and (len(self._cache) > 0 or report.reason != "no cache file")
            if rebuilt or report.caught_up_faces > 10_000:
                self._cache.save(conn, blocking=False)
        except BaseException:
            self.close()
            raise

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Save the index cache if it is behind, and close every connection."""
        if self._closed:
            return
        try:
            if hasattr(self, "_cache"):
                if self._cache.unsaved:
                    self._cache.save(self._conn())
                store.checkpoint_truncate(self._conn(), wait=False)
        finally:
            self._closed = True
            with self._connections_lock:
                for conn in self._connections:
                    conn.close()
                self._connections.clear()

    def save_cache(self) -> Path:
        """Write the index cache now (close() does it too). Returns the cache file's path."""
        path = self._cache.save(self._conn())
        assert path is not None
        return path

    @property
    def open_report(self) -> OpenReport:
        """How the index was obtained on open: from the cache as saved, caught up, or rebuilt (and why)."""
        return self._cache.report

    def __repr__(self) -> str:
        return f"Collection({self.collection_id!r}, pack={self.pack.name} {self.pack.version}, path={str(self.directory)!r})"

    def __len__(self) -> int:
        conn = self._conn()
        with store.read_transaction(conn):
            return store.face_count(conn)

    def __iter__(self) -> Iterator[FaceRecord]:
        return self.iter_faces()

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise ValueError(f"collection {getattr(self, 'collection_id', self.directory)!r} is closed")
        conn: Optional[sqlite3.Connection] = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = schema.connect(self._db_path, self._busy_timeout_s)
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    # -- the engine ----------------------------------------------------------------------

    @property
    def engine(self) -> FaceEngineLike:
        """The engine that runs this collection's pack (made on first use)."""
        with self._engine_lock:
            if self._engine is None:
                from faceindex.engine import FaceEngine

                engine = FaceEngine(pack=self.pack.name)
                self._check_engine(engine)
                self._engine = engine
            return self._engine

    def _check_engine(self, engine: FaceEngineLike) -> None:
        info = engine.pack
        if (info.name, info.version) != (self.pack.name, self.pack.version):
            raise PackMismatchError(
                f"collection {self.collection_id!r} holds embeddings of pack {self.pack.name} {self.pack.version}; "
                f"the engine runs {info.name} {info.version}. Open it with an engine of that pack, or index the "
                "faces into a new collection."
            )
        if info.embedding_size != self.pack.embedding_size:
            raise PackMismatchError(
                f"engine pack {info.name} {info.version} gives {info.embedding_size}-d embeddings; "
                f"collection {self.collection_id!r} holds {self.pack.embedding_size}-d ones"
            )

    def _check_pack(self, pack: PackIdentity) -> None:
        name, version = (pack.name, pack.version) if isinstance(pack, PackInfo) else tuple(pack)
        if (name, version) != (self.pack.name, self.pack.version):
            raise PackMismatchError(
                f"collection {self.collection_id!r} holds embeddings of pack {self.pack.name} {self.pack.version}; "
                f"these are from {name} {version}: embeddings of different packs cannot be compared"
            )

    def _detect(self, image: Any) -> tuple[FaceEngineLike, Any, list[Face]]:
        engine = self.engine
        loader = getattr(engine, "load", None)
        rgb = loader(image) if callable(loader) else load_image(image)
        return engine, rgb, list(engine.detect(rgb))

    # -- indexing -----------------------------------------------------------------------

    def index_faces(self, image: Any, external_image_id: Optional[str] = None, max_faces: Optional[int] = None,
                    quality_filter: QualityFilterSpec = "auto") -> IndexFacesResult:
        """Detect the faces in an image and store those that pass the quality filter, largest first.

        quality_filter: "auto", "low", "medium", "high", "none" or a QualityFilter.
        Faces not stored come back in `unindexed_faces` with their reasons. The
        faces are on disk when this returns.
        """
        external_image_id = validation.external_image_id(external_image_id)
        bounds = resolve_quality_filter(quality_filter)
        engine, rgb, faces = self._detect(image)
        kept, dropped = select_faces(faces, max_faces, bounds)
        embeddings = (np.asarray(engine.embed(rgb, kept), dtype=np.float32) if kept
                      else np.zeros((0, self.pack.embedding_size), dtype=np.float32))
        if embeddings.shape != (len(kept), self.pack.embedding_size):
            raise ValueError(f"the engine returned embeddings of shape {embeddings.shape} for {len(kept)} faces")
        image_id = str(uuid.uuid4())
        records = self._insert(embeddings, kept, [image_id] * len(kept), [external_image_id] * len(kept))
        return IndexFacesResult(
            face_records=records,
            unindexed_faces=[UnindexedFace(reasons, face) for face, reasons in dropped],
            image_id=image_id,
            pack=self.pack.name,
            pack_version=self.pack.version,
        )

    def index_embeddings(
        self,
        embeddings: npt.ArrayLike,
        *,
        pack: PackIdentity,
        faces: Optional[Sequence[Face]] = None,
        external_image_id: Union[None, str, Sequence[Optional[str]]] = None,
        image_id: Union[None, str, Sequence[str]] = None,
    ) -> list[FaceRecord]:
        """Store embeddings you computed yourself with this collection's pack (bring your own embeddings).

        embeddings: [n, embedding_size] (or one [embedding_size] vector), stored
        normalised to unit length. pack: the PackInfo (or (name, version)) that
        made them; another pack is refused. faces: the detections they came from
        (bbox, score, landmarks, quality), in the same order; without them the
        faces have an empty box and confidence 0. external_image_id and
        image_id: one for all, or one per face; image_id defaults to one new id
        for the whole call. All faces are stored in one transaction, durably.
        """
        self._check_pack(pack)
        vectors = self._unit_vectors(embeddings, "embeddings")
        n = len(vectors)
        if faces is not None:
            faces = list(faces)
            if len(faces) != n:
                raise ValueError(f"{len(faces)} faces for {n} embeddings")
            for i, face in enumerate(faces):
                if not isinstance(face, Face):
                    raise TypeError(f"faces[{i}] is {type(face).__name__}, not a Face")
        externals = [validation.external_image_id(e) for e in validation.per_face(external_image_id, n, "external_image_id")]
        image_ids = validation.per_face(image_id if image_id is not None else str(uuid.uuid4()), n, "image_id")
        for value in image_ids:
            if not isinstance(value, str) or not value:
                raise ValueError(f"image ids must be non-empty strings, got {value!r}")
        return self._insert(vectors, faces, image_ids, externals)  # type: ignore[arg-type]

    def _unit_vectors(self, embeddings: npt.ArrayLike, name: str) -> FloatArray:
        array = np.asarray(embeddings)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be numeric, got {array.dtype}")
        if array.ndim == 1:
            array = array[None, :]
        size = self.pack.embedding_size
        if array.ndim != 2 or array.shape[1] != size:
            raise ValueError(f"{name} must have shape [n, {size}] for pack {self.pack.name}, got {np.shape(embeddings)}")
        vectors = array.astype(np.float32)
        if not np.all(np.isfinite(vectors)):
            raise ValueError(f"{name} hold NaN or inf")
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
        if np.any(norms == 0):
            raise ValueError(f"{name} row {int(np.argmax(norms == 0))} is all zeros")
        return np.ascontiguousarray((vectors / norms[:, None]).astype(np.float32))

    def _insert(self, vectors: FloatArray, faces: Optional[Sequence[Face]], image_ids: Sequence[str],
                externals: Sequence[Optional[str]]) -> list[FaceRecord]:
        if len(vectors) == 0:
            return []
        rows = []
        face_ids = new_face_ids(len(vectors))
        for i, vector in enumerate(vectors):
            face = faces[i] if faces is not None else None
            if face is None:
                rows.append(store.NewFace(face_ids[i], image_ids[i], externals[i], (0.0, 0.0, 0.0, 0.0), 0.0,
                                          _NO_LANDMARKS, 0.0, 0.0, 0.0, None, vector.tobytes()))
                continue
            landmarks = np.asarray(face.landmarks, dtype=np.float32)
            if len(face.bbox) != 4 or landmarks.shape != (5, 2):
                raise ValueError(f"face {i}: bbox must have 4 values and landmarks shape (5, 2)")
            x1, y1, x2, y2 = (float(v) for v in face.bbox)
            pose = None if face.pose is None else (float(face.pose[0]), float(face.pose[1]), float(face.pose[2]))
            rows.append(store.NewFace(
                face_ids[i], image_ids[i], externals[i], (x1, y1, x2, y2), float(face.score),
                landmarks.tobytes(), float(face.face_size), float(face.sharpness), float(face.brightness),
                pose, vector.tobytes(),
            ))
        conn = self._conn()
        now = time.time()
        with store.write_transaction(conn):
            before = store.generations(conn).generation
            row_ids = store.insert_faces(conn, rows, now)
            after = store.bump_generation(conn)
        self._cache.apply_added(before, after, row_ids, vectors)
        return [_record_of(row, now) for row in rows]

    # -- searching ------------------------------------------------------------------------

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: Optional[float] = None,
                              all_faces: Literal[False] = False) -> FaceSearchResult: ...

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: Optional[float] = None, *,
                              all_faces: Literal[True]) -> list[FaceSearchResult]: ...

    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: Optional[float] = None,
                              all_faces: bool = False) -> Union[FaceSearchResult, list[FaceSearchResult]]:
        """Search the collection for the largest face in the image (every face with all_faces=True,
        largest first). NoFaceError if the image holds none."""
        max_faces = validation.count(max_faces, "max_faces")
        threshold = validation.threshold(threshold, self.pack.default_threshold)
        engine, rgb, faces = self._detect(image)
        if not faces:
            raise NoFaceError("no face found in the image")
        faces.sort(key=lambda f: -f.area)
        searched = faces if all_faces else faces[:1]
        embeddings = self._unit_vectors(engine.embed(rgb, searched), "engine embeddings")
        for face, embedding in zip(searched, embeddings):
            face.embedding = embedding
        matches = self._cache.read(self._conn(), lambda index, conn: self._face_matches(
            index, conn, embeddings, max_faces, threshold, [None] * len(searched)))
        results = [self._face_result(m, threshold, searched_face=face) for face, m in zip(searched, matches)]
        return results if all_faces else results[0]

    def search_faces(self, face_id: str, max_faces: int = 10, threshold: Optional[float] = None) -> FaceSearchResult:
        """Faces like a stored one (the face itself is left out). FaceNotFoundError if it is not stored."""
        max_faces = validation.count(max_faces, "max_faces")
        threshold = validation.threshold(threshold, self.pack.default_threshold)
        if not isinstance(face_id, str) or not face_id:
            raise TypeError(f"face_id must be a non-empty string, got {face_id!r}")

        def search(index: FlatIndex, conn: sqlite3.Connection) -> list[FaceMatch]:
            row_id = self._row_of(conn, face_id)
            query = store.embeddings_of(conn, [row_id], self.pack.embedding_size)
            return self._face_matches(index, conn, query, max_faces, threshold, [row_id])[0]

        matches = self._cache.read(self._conn(), search)
        return self._face_result(matches, threshold, searched_face_id=face_id)

    def search_faces_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_faces: int = 10,
                                  threshold: Optional[float] = None) -> FaceSearchResult:
        """Search with an embedding you computed with this collection's pack."""
        self._check_pack(pack)
        max_faces = validation.count(max_faces, "max_faces")
        threshold = validation.threshold(threshold, self.pack.default_threshold)
        query = self._unit_vectors(embedding, "embedding")
        if len(query) != 1:
            raise ValueError(f"give one embedding, got {len(query)}")
        matches = self._cache.read(self._conn(), lambda index, conn: self._face_matches(
            index, conn, query, max_faces, threshold, [None])[0])
        return self._face_result(matches, threshold)

    def _face_matches(self, index: FlatIndex, conn: sqlite3.Connection, queries: FloatArray, max_faces: int,
                      threshold: float, exclude: Sequence[Optional[int]]) -> list[list[FaceMatch]]:
        k = min(max_faces + 1, len(index))
        if k == 0:
            return [[] for _ in queries]
        ids, scores = index.search(queries, k)
        chosen: list[list[tuple[int, float]]] = []
        for row_ids, row_scores, left_out in zip(ids, scores, exclude):
            picked = [(int(i), float(s)) for i, s in zip(row_ids, row_scores)
                      if i >= 0 and s >= threshold and i != left_out]
            chosen.append(picked[:max_faces])
        records = store.faces_by_row_ids(conn, [i for picked in chosen for i, _ in picked])
        return [[FaceMatch(_similarity(s), records[i]) for i, s in picked] for picked in chosen]

    def _face_result(self, matches: list[FaceMatch], threshold: float, searched_face: Optional[Face] = None,
                     searched_face_id: Optional[str] = None) -> FaceSearchResult:
        return FaceSearchResult(matches, threshold, self.pack.name, self.pack.version, searched_face, searched_face_id)

    def _row_of(self, conn: sqlite3.Connection, face_id: str) -> int:
        found = store.faces_by_face_ids(conn, [face_id])
        if face_id not in found:
            raise FaceNotFoundError(f"face {face_id!r} is not in collection {self.collection_id!r}")
        return found[face_id][0]

    # -- listing and deleting faces ---------------------------------------------------------

    def list_faces(self, max_results: int = 1000, next_token: Optional[str] = None, *,
                   user_id: Optional[str] = None, external_image_id: Optional[str] = None) -> FacesPage:
        """One page of stored faces in the order they were indexed; pass next_token for the next."""
        max_results = validation.count(max_results, "max_results", high=100_000)
        after = _decode_token(next_token, "f")
        conn = self._conn()
        with store.read_transaction(conn):
            rows = store.faces_page(conn, int(after or 0), max_results + 1, user_id, external_image_id)
        more = len(rows) > max_results
        rows = rows[:max_results]
        return FacesPage([record for _, record in rows], f"f{rows[-1][0]}" if more else None)

    def iter_faces(self, *, user_id: Optional[str] = None, external_image_id: Optional[str] = None,
                   page_size: int = 1000) -> Iterator[FaceRecord]:
        token: Optional[str] = None
        while True:
            page = self.list_faces(page_size, token, user_id=user_id, external_image_id=external_image_id)
            yield from page.faces
            if page.next_token is None:
                return
            token = page.next_token

    def get_faces(self, face_ids: Union[str, Sequence[str]]) -> dict[str, FaceRecord]:
        """The stored faces among face_ids (those not stored are absent from the result)."""
        ids = validation.face_ids(face_ids)
        conn = self._conn()
        with store.read_transaction(conn):
            return {face_id: record for face_id, (_, record) in store.faces_by_face_ids(conn, ids).items()}

    def delete_faces(self, face_ids: Union[str, Sequence[str]]) -> DeleteFacesResult:
        """Erase faces: their rows are overwritten in the database, the WAL is emptied and the
        index cache rewritten before this returns. Unknown ids come back as FACE_NOT_FOUND."""
        ids = validation.face_ids(face_ids)
        conn = self._conn()
        with store.write_transaction(conn):
            found = store.faces_by_face_ids(conn, ids)
            rows = [found[f][0] for f in ids if f in found]
            before = store.generations(conn).generation
            if rows:
                store.delete_rows(conn, rows)
                after = store.bump_generation(conn, erased=True)
        if rows:
            self._finish_erasure(before, after, rows)
        return DeleteFacesResult(
            deleted_faces=[f for f in ids if f in found],
            unsuccessful_face_deletions=[UnsuccessfulFaceDeletion(f, ("FACE_NOT_FOUND",)) for f in ids if f not in found],
        )

    def _finish_erasure(self, before: int, after: int, row_ids: Sequence[int]) -> None:
        """After a committed deletion: wipe the old page versions from the WAL, rewrite the cache."""
        conn = self._conn()
        self._cache.apply_removed(before, after, np.asarray(row_ids, dtype=np.uint64))
        self._cache.save(conn)
        deadline = time.monotonic() + self._busy_timeout_s
        while not store.checkpoint_truncate(conn):
            if time.monotonic() > deadline:
                raise ErasureIncompleteError(
                    f"{len(row_ids)} faces were deleted from {self.collection_id!r}, but readers kept the "
                    "write-ahead log busy: their old bytes are wiped by the next deletion or open"
                )
            time.sleep(0.05)

    # -- users -----------------------------------------------------------------------------

    def create_user(self, user_id: str) -> None:
        """A new user to associate faces with. UserExistsError if the id is taken."""
        user_id = validation.user_id(user_id)
        conn = self._conn()
        with store.write_transaction(conn):
            if not store.insert_user(conn, user_id):
                raise UserExistsError(f"user {user_id!r} already exists in collection {self.collection_id!r}")

    def delete_user(self, user_id: str, delete_faces: bool = True) -> DeleteUserResult:
        """Remove a user. With delete_faces=True (the default) the user's faces are erased with it,
        as delete_faces does; with False they stay in the collection, unassociated."""
        user_id = validation.user_id(user_id)
        conn = self._conn()
        with store.write_transaction(conn):
            if store.get_user(conn, user_id) is None:
                raise UserNotFoundError(f"user {user_id!r} is not in collection {self.collection_id!r}")
            owned = store.rows_of_user(conn, user_id)
            rows = [row for row, _ in owned]
            before = store.generations(conn).generation
            if delete_faces and rows:
                store.delete_rows(conn, rows)
                after = store.bump_generation(conn, erased=True)
            else:
                store.set_user_of_rows(conn, rows, None)
            store.delete_user_row(conn, user_id)
        if delete_faces and rows:
            self._finish_erasure(before, after, rows)
        elif not delete_faces:
            store.checkpoint_truncate(conn)  # the user's id itself is erased from the WAL too
        face_ids = [face_id for _, face_id in owned]
        return DeleteUserResult(user_id, face_ids if delete_faces else [], [] if delete_faces else face_ids)

    def list_users(self, max_results: int = 100, next_token: Optional[str] = None) -> UsersPage:
        max_results = validation.count(max_results, "max_results", high=100_000)
        after = _decode_token(next_token, "u")
        conn = self._conn()
        with store.read_transaction(conn):
            users = store.users_page(conn, after, max_results + 1)
        more = len(users) > max_results
        users = users[:max_results]
        return UsersPage(users, f"u{users[-1].user_id}" if more else None)

    def associate_faces(self, user_id: str, face_ids: Union[str, Sequence[str]],
                        user_match_threshold: Optional[float] = None) -> AssociateFacesResult:
        """Make faces the user's. When the user has faces already, a new face must reach
        user_match_threshold (default: the pack's threshold) against at least one of them."""
        user_id = validation.user_id(user_id)
        ids = validation.face_ids(face_ids)
        threshold = validation.threshold(user_match_threshold, self.pack.default_threshold, "user_match_threshold")
        conn = self._conn()
        dim = self.pack.embedding_size
        associated: list[str] = []
        failed: list[UnsuccessfulFaceAssociation] = []
        with store.write_transaction(conn):
            if store.get_user(conn, user_id) is None:
                raise UserNotFoundError(f"user {user_id!r} is not in collection {self.collection_id!r}")
            found = store.faces_by_face_ids(conn, ids)
            owned_rows = [row for row, _ in store.rows_of_user(conn, user_id)]
            owned = store.embeddings_of(conn, owned_rows, dim) if owned_rows else None
            to_set = []
            for face_id in ids:
                if face_id not in found:
                    failed.append(UnsuccessfulFaceAssociation(face_id, ("FACE_NOT_FOUND",)))
                    continue
                row, record = found[face_id]
                if record.user_id == user_id:
                    associated.append(face_id)
                    continue
                if record.user_id is not None:
                    failed.append(UnsuccessfulFaceAssociation(face_id, ("ASSOCIATED_TO_A_DIFFERENT_USER",),
                                                              user_id=record.user_id))
                    continue
                if owned is not None:
                    vector = store.embeddings_of(conn, [row], dim)[0]
                    similarity = _similarity(float(np.max(owned.astype(np.float64) @ vector.astype(np.float64))))
                    if similarity < threshold:
                        failed.append(UnsuccessfulFaceAssociation(face_id, ("LOW_MATCH_CONFIDENCE",),
                                                                  similarity=similarity))
                        continue
                to_set.append(row)
                associated.append(face_id)
            store.set_user_of_rows(conn, to_set, user_id)
        return AssociateFacesResult(user_id, associated, failed, threshold, self.pack.name, self.pack.version)

    def disassociate_faces(self, user_id: str, face_ids: Union[str, Sequence[str]]) -> DisassociateFacesResult:
        user_id = validation.user_id(user_id)
        ids = validation.face_ids(face_ids)
        conn = self._conn()
        done: list[str] = []
        failed: list[UnsuccessfulFaceDisassociation] = []
        with store.write_transaction(conn):
            if store.get_user(conn, user_id) is None:
                raise UserNotFoundError(f"user {user_id!r} is not in collection {self.collection_id!r}")
            found = store.faces_by_face_ids(conn, ids)
            rows = []
            for face_id in ids:
                if face_id not in found:
                    failed.append(UnsuccessfulFaceDisassociation(face_id, ("FACE_NOT_FOUND",)))
                elif found[face_id][1].user_id != user_id:
                    failed.append(UnsuccessfulFaceDisassociation(face_id, ("ASSOCIATED_TO_A_DIFFERENT_USER",),
                                                                 user_id=found[face_id][1].user_id))
                else:
                    rows.append(found[face_id][0])
                    done.append(face_id)
            store.set_user_of_rows(conn, rows, None)
        return DisassociateFacesResult(user_id, done, failed)

    def search_users(self, *, user_id: Optional[str] = None, face_id: Optional[str] = None, max_users: int = 10,
                     threshold: Optional[float] = None) -> UserSearchResult:
        """Users like a stored user (through all of its faces; the user itself is left out) or a stored face."""
        if (user_id is None) == (face_id is None):
            raise ValueError("give exactly one of user_id= and face_id=")
        max_users = validation.count(max_users, "max_users")
        threshold = validation.threshold(threshold, self.pack.default_threshold)
        dim = self.pack.embedding_size
        if user_id is not None:
            validation.user_id(user_id)

        def search(index: FlatIndex, conn: sqlite3.Connection) -> list[UserMatch]:
            if user_id is not None:
                if store.get_user(conn, user_id) is None:
                    raise UserNotFoundError(f"user {user_id!r} is not in collection {self.collection_id!r}")
                rows = [row for row, _ in store.rows_of_user(conn, user_id)]
                if not rows:
                    return []
                return self._user_matches(index, conn, store.embeddings_of(conn, rows, dim), max_users, threshold,
                                          exclude_user=user_id)
            assert face_id is not None
            row = self._row_of(conn, face_id)
            return self._user_matches(index, conn, store.embeddings_of(conn, [row], dim), max_users, threshold,
                                      exclude_row=row)

        matches = self._cache.read(self._conn(), search)
        return UserSearchResult(matches, threshold, self.pack.name, self.pack.version,
                                searched_face_id=face_id, searched_user_id=user_id)

    def search_users_by_image(self, image: Any, max_users: int = 10,
                              threshold: Optional[float] = None) -> UserSearchResult:
        """Users matching the largest face in the image. NoFaceError if it holds none."""
        max_users = validation.count(max_users, "max_users")
        threshold = validation.threshold(threshold, self.pack.default_threshold)
        engine, rgb, faces = self._detect(image)
        if not faces:
            raise NoFaceError("no face found in the image")
        face = max(faces, key=lambda f: f.area)
        query = self._unit_vectors(engine.embed(rgb, [face]), "engine embeddings")
        face.embedding = query[0]
        matches = self._cache.read(self._conn(), lambda index, conn: self._user_matches(
            index, conn, query, max_users, threshold))
        return UserSearchResult(matches, threshold, self.pack.name, self.pack.version, searched_face=face)

    def search_users_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_users: int = 10,
                                  threshold: Optional[float] = None) -> UserSearchResult:
        self._check_pack(pack)
        max_users = validation.count(max_users, "max_users")
        threshold = validation.threshold(threshold, self.pack.default_threshold)
        query = self._unit_vectors(embedding, "embedding")
        matches = self._cache.read(self._conn(), lambda index, conn: self._user_matches(
            index, conn, query, max_users, threshold))
        return UserSearchResult(matches, threshold, self.pack.name, self.pack.version)

    def _user_matches(self, index: FlatIndex, conn: sqlite3.Connection, queries: FloatArray, max_users: int,
                      threshold: float, exclude_user: Optional[str] = None,
                      exclude_row: Optional[int] = None) -> list[UserMatch]:
        """Users ranked by their best face against any query face.

        Deepens the face search until the ranking is exact: a user whose best
        seen face scores at least every query's k-th score cannot have a better
        face beyond the k searched.
        """
        n = len(index)
        if n == 0:
            return []
        k = min(n, max(64, 8 * max_users))
        while True:
            ids, scores = index.search(queries, k)
            valid = (ids >= 0) & (scores >= threshold)
            if exclude_row is not None:
                valid &= ids != exclude_row
            owners = store.user_of_rows(conn, np.unique(ids[valid]).tolist())
            best: dict[str, tuple[float, int]] = {}
            for row, score in zip(ids[valid].tolist(), scores[valid].tolist()):
                user = owners.get(row)
                if user is None or user == exclude_user:
                    continue
                if user not in best or score > best[user][0]:
                    best[user] = (score, row)
            bound = float(np.max(scores[:, -1])) if k < n else -np.inf
            ranked = sorted(best.items(), key=lambda item: -item[1][0])
            confirmed = [item for item in ranked if item[1][0] >= bound]
            if len(confirmed) >= max_users or k >= n or bound < threshold:
                top = confirmed[:max_users]
                break
            k = min(n, k * 4)
        users = store.users_by_id(conn, [user for user, _ in top])
        records = store.faces_by_row_ids(conn, [row for _, (_, row) in top])
        return [UserMatch(_similarity(score), users[user], records[row]) for user, (score, row) in top]


def new_face_ids(n: int) -> list[str]:
    """n UUIDs (version 7 layout): the millisecond timestamp, then 74 random bits.

    Time-ordered ids append to the face_id index instead of landing on random
    pages, which keeps inserting into a million-face collection fast.
    """
    stamp = format(time.time_ns() // 1_000_000, "012x")
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    text = os.urandom(10 * n).hex()
    # Per id: 3 random hex digits, the RFC 4122 variant (binary 10) over 2 random bits, then 15 more.
    return [f"{head}{text[i:i + 3]}-{_VARIANT[text[i + 3]]}{text[i + 4:i + 7]}-{text[i + 7:i + 19]}"
            for i in range(0, 20 * n, 20)]


_VARIANT = {d: "89ab"[int(d, 16) % 4] for d in "0123456789abcdef"}


def _similarity(score: float) -> float:
    # Float32 dot products of unit vectors can land a hair outside [-1, 1].
    return min(1.0, max(-1.0, float(score)))


def _record_of(row: store.NewFace, created_at: float) -> FaceRecord:
    return FaceRecord(
        face_id=row.face_id,
        external_image_id=row.external_image_id,
        image_id=row.image_id,
        bbox=row.bbox,
        confidence=row.confidence,
        landmarks=np.frombuffer(row.landmarks, dtype=np.float32).reshape(5, 2),
        quality=FaceQuality(row.face_size, row.sharpness, row.brightness, row.pose),
        user_id=None,
        created_at=datetime.fromtimestamp(created_at, tz=timezone.utc),
    )


def _decode_token(token: Optional[str], kind: str) -> Optional[str]:
    if token is None:
        return None
    if not isinstance(token, str) or not token.startswith(kind) or (kind == "f" and not token[1:].isdigit()):
        raise ValueError(f"next_token {token!r} is not one this listing returned")
    return token[1:]
