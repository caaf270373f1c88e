"""One shard of a sharded collection: an ordinary Collection in its own directory, served by a Ray actor.

The class is plain Python (ShardActor is its Ray actor form). Ray restarts a dead actor by
running __init__ again with the same arguments, which reopens the collection from its
directory: the SQLite database is the truth and every acknowledged face was committed
durably before the call returned, so a restart loses none. The actor is threaded
(max_concurrency): Collection gives each thread its own database connection, so one shard
serves concurrent searches.

Ingestion is idempotent per image: each image's content hash is its image id and is
noted in a small ledger beside the collection (pending before the faces are stored, done
after), so an image retried after a crash or a lost worker is stored once.

store_faces (a sharded index_faces: the caller detects, the shard stores) is idempotent per
write id: a caller that gave up waiting (a timeout, a 503 that an SDK retries) may send the
same write again while the first is still running or after it landed. The write's image id
is derived from its write id, the write id is noted in the ledger before the faces are
stored, and a repeat answers what the first stored (from memory, or after a restart from the
faces filed under that image id) instead of storing them twice. index_embeddings is
idempotent by the face ids its caller chose.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceindex.collection import CollectionDescription, Collection, Collections, audit, search
from faceindex.collection.audit import AuditEntry
from faceindex.collection.results import (
    AssociateFacesResult,
    DeleteFacesResult,
    UsersPage,
    DeleteUserResult,
    DisassociateFacesResult,
    FaceMatch,
    FaceRecord,
    IndexFacesResult,
    UnindexedFace,
    UserMatch,
)
from faceindex.collection.state import PackIdentity
from faceindex.collection.ids import page_token, write_image_id
from faceindex.collection.users import require_user
from faceindex.distributed.face_moves import MovedFace, drop_moved_faces, export_faces, import_faces
from faceindex.collection import score_norm
from faceindex.errors import FaceIdTakenError
from faceindex.types import Face, FloatArray, PackInfo, ScoreNormalisation, ThresholdChoice

LEDGER_NAME = "ingested.sqlite"
# A repeated write comes within an SDK's retries (seconds to minutes): answers are kept in memory
# for the most recent writes, and write ids in the ledger for a day.
ANSWERS_KEPT = 1024
WRITE_IDS_KEPT_S = 86_400.0
@dataclass(frozen=True)
class ShardInfo:
    pack: PackInfo
    faces: int
    pid: int  # the actor's process (the fault tests kill it)
    node_id: str  # the Ray node it runs on


class Shard:
    def __init__(self, directory: str, collection_id: str) -> None:
        """Open the shard's collection in `directory` (ShardedCollection.create made it)."""
        self.directory = Path(directory)
        self.collection: Collection = Collections(self.directory).collection(collection_id)
        self.pack = self.collection.pack
        # issue 29: the cohort is the whole collection's, set by ShardedCollection on every shard alike
        state = self.collection._open()
        score_norm.make_given(state.score_norm, state.conn())
        self._write_lock = threading.Lock()  # held while a write checks for its earlier self and stores
        self._local = threading.local()
        self._answers: OrderedDict[str, IndexFacesResult] = OrderedDict()
        with self._ledger() as ledger:
            ledger.execute("CREATE TABLE IF NOT EXISTS images (content_hash TEXT PRIMARY KEY, state TEXT NOT NULL)")
            ledger.execute("CREATE TABLE IF NOT EXISTS writes (write_id TEXT PRIMARY KEY, at REAL NOT NULL)")
            ledger.execute("DELETE FROM writes WHERE at < ?", (time.time() - WRITE_IDS_KEPT_S,))

    def _ledger(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "ledger", None)
        if conn is None:
            conn = sqlite3.connect(self.directory / LEDGER_NAME, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.ledger = conn
        return conn

    # -- about the shard --------------------------------------------------------------------

    def describe(self) -> ShardInfo:
        import ray

        return ShardInfo(self.pack, len(self.collection), os.getpid(), ray.get_runtime_context().get_node_id())

    def face_count(self) -> int:
        return len(self.collection)

    def description(self) -> CollectionDescription:
        return Collections(self.directory).describe_collection(self.collection.collection_id)

    # -- writing ----------------------------------------------------------------------------

    def index_embeddings(self, embeddings: npt.ArrayLike, pack: PackIdentity, faces: Sequence[Face] | None,
                         external_image_ids: Sequence[str | None], image_ids: Sequence[str],
                         user_id: str | None, face_ids: Sequence[str], image_size: tuple[int, int] | None = None,
                         repeat_answers: bool = True) -> list[FaceRecord]:
        """Store the faces under the face ids the caller chose, once: sent again (after this actor
        died under the first try), the write finds its faces stored and answers them. With
        repeat_answers=False (face ids the user gave, as Collection.index_embeddings takes them)
        an id stored already is FaceIdTakenError, as there."""
        if user_id is not None:
            self._require_user(user_id)
        try:
            records = self.collection.index_embeddings(
                embeddings, pack=pack, faces=faces, external_image_id=list(external_image_ids),
                image_id=list(image_ids), image_size=image_size, face_ids=list(face_ids))
        except FaceIdTakenError:  # stored by an earlier try of this write (one transaction: all or none)
            if not repeat_answers:
                raise
            stored = self.collection.get_faces(list(face_ids))
            if len(stored) != len(face_ids):
                raise ValueError(f"{len(stored)} of these {len(face_ids)} face ids are stored already: "
                                 "not a repeat of one write") from None
            records = [stored[f] for f in face_ids]
        return self._made_users(records, user_id)

    def store_faces(self, write_id: str, embeddings: FloatArray, pack: PackIdentity, faces: Sequence[Face],
                    unindexed: list[UnindexedFace], external_image_id: str | None, image_size: tuple[int, int],
                    user_id: str | None) -> IndexFacesResult:
        """Store what the caller's index_faces found in one image (faces_to_index), once per write:
        a repeat of write_id answers what the first stored (see the module's note); the faces are
        made user_id's when given."""
        if user_id is not None:
            self._require_user(user_id)
        image_id = write_image_id(write_id)
        with self._write_lock:
            result = self._answers.get(write_id) or self._stored_by_write(write_id, image_id, unindexed)
            if result is None:
                self._ledger().execute("INSERT OR REPLACE INTO writes VALUES (?, ?)", (write_id, time.time()))
                records = self.collection.index_embeddings(
                    embeddings, pack=pack, faces=list(faces), external_image_id=external_image_id,
                    image_id=image_id, image_size=image_size) if len(faces) else []
                result = IndexFacesResult(records, unindexed, image_id, self.pack.ref)
            result = dataclasses.replace(result, face_records=self._made_users(result.face_records, user_id))
            self._answers[write_id] = result
            self._answers.move_to_end(write_id)
            while len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)
        return result

    def _stored_by_write(self, write_id: str, image_id: str, unindexed: list[UnindexedFace]
                         ) -> IndexFacesResult | None:
        """What an earlier run of this write stored (before a restart, or long ago), None if it stored nothing."""
        if self._ledger().execute("SELECT 1 FROM writes WHERE write_id = ?", (write_id,)).fetchone() is None:
            return None
        from faceindex.collection import store

        conn = self.collection._open().conn()
        with store.read_transaction(conn):  # a scan (image ids are not indexed): only for a write seen before
            face_ids = [row[0] for row in conn.execute("SELECT face_id FROM faces WHERE image_id = ? ORDER BY id",
                                                       (image_id,))]
        if not face_ids:
            return None
        stored = self.collection.get_faces(face_ids)  # in the order stored: largest first
        return IndexFacesResult([stored[f] for f in face_ids], unindexed, image_id, self.pack.ref)

    def _made_users(self, records: list[FaceRecord], user_id: str | None) -> list[FaceRecord]:
        """The records with their faces made user_id's (those not yet: a repeat finds them done)."""
        if user_id is None or all(r.user_id == user_id for r in records):
            return records
        self._associate_new(user_id, [r for r in records if r.user_id != user_id])
        stored = self.collection.get_faces([r.face_id for r in records])
        return [stored[r.face_id] for r in records]

    def require_user(self, user_id: str) -> None:
        """UserNotFoundError unless the user is here."""
        self._require_user(user_id)

    def _require_user(self, user_id: str) -> None:
        require_user(self.collection._open(), user_id)

    def _associate_new(self, user_id: str, records: Sequence[FaceRecord]) -> None:
        # The caller said whose faces these are: no match against the user's other faces is asked.
        self.collection.associate_faces(user_id, [r.face_id for r in records], user_match_threshold=-1.0)

    def delete_faces(self, face_ids: Sequence[str], keep_user_faces: bool = False) -> DeleteFacesResult:
        return self.collection.delete_faces(list(face_ids), keep_user_faces=keep_user_faces)

    def export_faces(self, face_ids: Sequence[str]) -> list[MovedFace]:
        """The faces among face_ids held here and no user's, whole, to be moved to another shard."""
        return export_faces(self.collection, face_ids)

    def drop_moved_faces(self, face_ids: Sequence[str]) -> list[str]:
        """Erase faces moved to another shard (their audit mentions here stay)."""
        return drop_moved_faces(self.collection, face_ids)

    def import_faces(self, faces: Sequence[MovedFace]) -> list[str]:
        """Store faces moved here from another shard (same ids); those here already are kept."""
        return import_faces(self.collection, faces)

    def create_user(self, user_id: str) -> None:
        self.collection.create_user(user_id)

    def delete_user(self, user_id: str, delete_faces: bool) -> DeleteUserResult:
        return self.collection.delete_user(user_id, delete_faces)

    def disassociate_faces(self, user_id: str, face_ids: Sequence[str]) -> DisassociateFacesResult:
        return self.collection.disassociate_faces(user_id, list(face_ids))

    def user_ids(self) -> list[str]:
        """Every user on this shard, in id order."""
        found: list[str] = []
        token: str | None = None
        while True:
            page = self.collection.list_users(1000, token)
            found += [u.user_id for u in page.users]
            if page.next_token is None:
                return found
            token = page.next_token

    def associate_faces(self, user_id: str, face_ids: Sequence[str], user_match_threshold: float | None,
                        max_fmr: float | None, purpose: str | None = None,
                        reference: str | None = None) -> AssociateFacesResult:
        return self.collection.associate_faces(user_id, list(face_ids), user_match_threshold, max_fmr=max_fmr,
                                               purpose=purpose, reference=reference)

    def users_page(self, after: str | None, limit: int) -> UsersPage:
        """Up to `limit` users whose ids sort after `after`, in id order."""
        return self.collection.list_users(limit, None if after is None else page_token("u", after))

    # -- reading ----------------------------------------------------------------------------

    def get_faces(self, face_ids: Sequence[str]) -> dict[str, FaceRecord]:
        return self.collection.get_faces(list(face_ids))

    def faces_page(self, after_face_id: str, limit: int, user_id: str | None,
                   external_image_id: str | None = None) -> list[FaceRecord]:
        """Up to `limit` faces whose ids sort after after_face_id, in face id order (a sharded
        listing merges the shards' pages by face id)."""
        from faceindex.collection import store

        conn = self.collection._open().conn()
        with store.read_transaction(conn):
            return store.faces_page_by_face_id(conn, after_face_id, limit, user_id, external_image_id)

    def embedding_of_face(self, face_id: str) -> FloatArray | None:
        """The stored face's embedding, None when this shard does not hold it."""
        from faceindex.collection import store

        state = self.collection._open()
        conn = state.conn()
        with store.read_transaction(conn):
            found = store.faces_by_face_ids(conn, [face_id])
            if face_id not in found:
                return None
            return store.embeddings_of(conn, [found[face_id][0]], state.pack.embedding_size)

    def embeddings_of_user(self, user_id: str) -> FloatArray | None:
        """The user's faces' embeddings ([0, d] for a user without faces), None for no such user."""
        from faceindex.collection import store

        state = self.collection._open()
        conn = state.conn()
        with store.read_transaction(conn):
            if store.get_user(conn, user_id) is None:
                return None
            rows = [row for row, _ in store.rows_of_user(conn, user_id)]
            return store.embeddings_of(conn, rows, state.pack.embedding_size) if rows else np.zeros(
                (0, state.pack.embedding_size), np.float32)

    def search_faces(self, queries: FloatArray, pack: PackIdentity, max_faces: int, choice: ThresholdChoice,
                     exclude_face_id: str | None) -> tuple[list[list[FaceMatch]], ScoreNormalisation]:
        """Each query's best faces on this shard at or above the (collection-wide) threshold: a cosine, or
        on AS-norm scores against the shards' one cohort; and the normalisation they were judged by. Not
        logged here: the sharded collection logs the whole search once (record_search)."""
        asked = max_faces + (exclude_face_id is not None)
        criteria = self._criteria(choice)
        state = self.collection._open()
        found, normalisation = [], score_norm.not_normalised(score_norm.FIXED_THRESHOLD)
        for query in queries:
            result = search.faces_by_embedding(state, query, pack, asked, criteria)
            normalisation = result.normalisation
            found.append([m for m in result.face_matches if m.face.face_id != exclude_face_id][:max_faces])
        return found, normalisation

    def search_users(self, queries: FloatArray, pack: PackIdentity, max_users: int, choice: ThresholdChoice,
                     exclude_user_id: str | None, exclude_face_id: str | None
                     ) -> tuple[list[UserMatch], ScoreNormalisation]:
        asked = max_users + (exclude_user_id is not None or exclude_face_id is not None)
        result = search.users_by_embedding(self.collection._open(), queries, pack, asked, self._criteria(choice))
        return [m for m in result.user_matches if m.user.user_id != exclude_user_id
                and m.face.face_id != exclude_face_id][:max_users], result.normalisation

    @staticmethod
    def _criteria(choice: ThresholdChoice) -> search.Criteria:
        if choice.score == "as-norm":
            return search.Criteria(as_norm_choice=choice, record=False)
        return search.Criteria(threshold=choice.value, record=False)

    # -- the cohort (issue 29: one for the whole collection, the same on every shard) ----------------

    def cohort_status(self) -> tuple[int, str | None, int, list[str]]:
        """Faces here, the cohort's digest (None: none) and size, and this shard's faces in it."""
        state = self.collection._open()
        return score_norm.cohort_status(state.score_norm, state.conn())

    def sample_faces(self, k: int, leave_out: Sequence[str], seed: int | None = None) -> tuple[list[str], FloatArray]:
        state = self.collection._open()
        return score_norm.sample_faces(state.score_norm, state.conn(), k, leave_out, seed)

    def set_cohort(self, face_ids: Sequence[str], embeddings: FloatArray, source: str) -> str | None:
        state = self.collection._open()
        return score_norm.set_given_cohort(state.score_norm, state.conn(), list(face_ids), embeddings, source)

    def add_cohort_faces(self, face_ids: Sequence[str], embeddings: FloatArray) -> str | None:
        state = self.collection._open()
        return score_norm.add_given_faces(state.score_norm, state.conn(), list(face_ids), embeddings)

    def forget_cohort_faces(self, face_ids: Sequence[str]) -> None:
        """Erase this shard's copies of faces erased on another shard (a deleted user's)."""
        self.collection.delete_faces(list(face_ids))

    # -- the audit log ------------------------------------------------------------------------
    # A sharded search is logged once, on one shard (any: the sharded audit log merges them all),
    # with the threshold chosen for the whole collection and the merged candidates, which may be
    # faces of other shards: erasing a face therefore removes it from every shard's log.

    def record_search(self, operation: str, choice: ThresholdChoice, candidates: Sequence[str],
                      purpose: str | None, reference: str | None) -> None:
        audit.record(self.collection._open(), operation, choice, list(candidates), purpose, reference)

    def audit_log(self, since: float | None, limit: int | None) -> list[AuditEntry]:
        return self.collection.audit_log(since, limit)

    def forget_in_audit(self, face_ids: Sequence[str]) -> None:
        """Erased faces (wherever they were stored) leave this shard's audit log."""
        from faceindex.collection import store

        conn = self.collection._open().conn()
        with store.write_transaction(conn):
            audit.forget_faces(conn, list(face_ids))

    # -- ingestion --------------------------------------------------------------------------

    def ingested(self) -> list[str]:
        """The content hashes of the images stored here by ingestion (with or without faces)."""
        return [row[0] for row in self._ledger().execute("SELECT content_hash FROM images WHERE state = 'done'")]

    def ingested_among(self, hashes: Sequence[str]) -> list[str]:
        """Those of these content hashes whose images are stored here."""
        ledger = self._ledger()
        done: list[str] = []
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start:start + 500])
            marks = ",".join("?" * len(chunk))
            done += [row[0] for row in ledger.execute(
                f"SELECT content_hash FROM images WHERE state = 'done' AND content_hash IN ({marks})", chunk)]
        return done

    def ingest_image(self, content_hash: str, embeddings: FloatArray, faces: Sequence[Face],
                     external_image_id: str | None | Sequence[str | None],
                     image_size: tuple[int, int] | None = None, retry: bool = False) -> int:
        """Store an ingested image's (or video's) faces once: a second call with the same content
        hash stores nothing. external_image_id: one for all faces or one each (a video's faces
        carry their time); image_size: (width, height) of the image or the video's frames, so
        their boxes can be given as ratios (Rekognition's BoundingBox). Returns how many faces
        this call stored."""
        ledger = self._ledger()
        with self._write_lock:
            row = ledger.execute("SELECT state FROM images WHERE content_hash = ?", (content_hash,)).fetchone()
            # retry: the driver sends again a write whose shard died under it; what that write stored
            # counts as this call's (else the run's report would miss those faces).
            if row is not None and row[0] == "done":
                return self._stored_of_image(content_hash) if retry else 0
            stored_before = self._stored_of_image(content_hash) if row is not None else 0
            if stored_before:
                # Stored before a crash, not yet noted done.
                ledger.execute("UPDATE images SET state = 'done' WHERE content_hash = ?", (content_hash,))
                return stored_before if retry else 0
            ledger.execute("INSERT OR REPLACE INTO images VALUES (?, 'pending')", (content_hash,))
            stored = 0
            if len(faces):
                stored = len(self.collection.index_embeddings(embeddings, pack=self.pack, faces=list(faces),
                                                              external_image_id=external_image_id,
                                                              image_id=content_hash, image_size=image_size))
            ledger.execute("UPDATE images SET state = 'done' WHERE content_hash = ?", (content_hash,))
            return stored

    def _stored_of_image(self, image_id: str) -> int:
        """How many stored faces came from this image (a scan: image ids are not indexed)."""
        from faceindex.collection import store

        conn = self.collection._open().conn()
        with store.read_transaction(conn):
            return int(conn.execute("SELECT count(*) FROM faces WHERE image_id = ?", (image_id,)).fetchone()[0])

    def close(self) -> None:
        self.collection.close()
