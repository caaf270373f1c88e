"""Collection: index faces under your own ids, search them by image, face or embedding, group them into users.

One collection is one directory: the SQLite database (the truth) and the
FlatIndex cache beside it. A Collection object may be shared by threads (each
gets its own database connection); other processes may open the same
collection at the same time. Every search runs in one database snapshot, with
the index at exactly that snapshot's generation, so a search during indexing
sees each index_faces call wholly or not at all.

This class is the front: each operation is one call into the module that does
that job (faces.py, users.py, search.py; the match algorithms in matching.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload
from collections.abc import Iterator, Sequence

import numpy.typing as npt

from faceindex.collection import faces as stored_faces
from faceindex.collection import audit, schema, search, store, users
from faceindex.collection.audit import AuditEntry
from faceindex.collection.contract import FaceCollection
from faceindex.collection.encryption import CollectionKey
from faceindex.collection.index_cache import OpenReport
from faceindex.collection.quality_filter import QualityFilterSpec
from faceindex.collection.results import (
    AssociateFacesResult,
    DeleteFacesResult,
    DeleteUserResult,
    DisassociateFacesResult,
    FaceRecord,
    FaceSearchResult,
    FacesPage,
    IndexFacesResult,
    UsersPage,
    UserSearchResult,
)
from faceindex.collection.state import CollectionState, PackIdentity
from faceindex.engine import FaceEngine
from faceindex.types import Face, PackInfo


class Collection:
    """A face collection on disk. Open it with `Collections(...).collection(id)`.

    Image operations run the collection's model pack: the engine given, or a
    FaceEngine of the collection's pack made on first use. An engine of another
    pack (name or version) is refused.
    """

    def __init__(self, directory: Path, engine: FaceEngine | None = None,
                 busy_timeout_s: float = schema.DEFAULT_BUSY_TIMEOUT_S, key: CollectionKey | None = None) -> None:
        self.directory = Path(directory)
        self._state: CollectionState | None = None
        try:
            self._state = state = CollectionState(self.directory, engine, busy_timeout_s, key)
            conn = state.conn()
            report = state.cache.open(conn)
            # A cache file from before the last deletion may be on disk after a crash: remove it
            # now (finishing that erasure), and save the index when it had to be rebuilt.
            state.cache.prune(conn)
            # Likewise old page versions a deletion left in the WAL (its readers were busy then).
            store.checkpoint_truncate(conn, wait=False)
            rebuilt = report.source == "rebuilt" and (len(state.cache) > 0 or report.reason != "no cache file")
            if rebuilt or report.caught_up_faces > 10_000:
                state.cache.save(conn, blocking=False)
        except BaseException:
            self.close()
            raise

    @property
    def collection_id(self) -> str:
        return self._open().collection_id

    @property
    def pack(self) -> PackInfo:
        return self._open().pack

    @property
    def engine(self) -> FaceEngine:
        """The engine that runs this collection's pack (made on first use)."""
        return self._open().engine

    def _open(self) -> CollectionState:
        if self._state is None:
            raise ValueError(f"collection at {str(self.directory)!r} is not open")
        return self._state

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Save the index cache if it is behind, and close every connection."""
        state = self._state
        if state is None or state.closed:
            return
        try:
            if hasattr(state, "cache"):
                if state.cache.unsaved:
                    state.cache.save(state.conn())
                store.checkpoint_truncate(state.conn(), wait=False)
        finally:
            state.close_connections()

    def save_cache(self) -> Path:
        """Write the index cache now (close() does it too). Returns the cache file's path."""
        state = self._open()
        path = state.cache.save(state.conn())
        assert path is not None
        return path

    @property
    def open_report(self) -> OpenReport:
        """How the index was obtained on open: from the cache as saved, caught up, or rebuilt (and why)."""
        return self._open().cache.report

    def __repr__(self) -> str:
        return f"Collection({self.collection_id!r}, pack={self.pack.name} {self.pack.version}, path={str(self.directory)!r})"

    def __len__(self) -> int:
        return self._open().face_count()

    def __iter__(self) -> Iterator[FaceRecord]:
        return self.iter_faces()

    # -- faces ----------------------------------------------------------------------------

    def index_faces(self, image: Any, external_image_id: str | None = None, max_faces: int | None = None,
                    quality_filter: QualityFilterSpec = "auto", *, write_id: str | None = None) -> IndexFacesResult:
        """Detect the faces in an image and store those that pass the quality filter, largest first.

        quality_filter: "auto", "low", "medium", "high", "none" or a QualityFilter.
        Faces not stored come back in `unindexed_faces` with their reasons. The
        faces are on disk when this returns.

        write_id: the caller's name for this write (up to 200 characters), for a caller that may
        send it again without knowing whether the first try landed (a timeout, a lost answer): a
        repeat answers the faces the first try stored instead of storing them again (the faces
        are filed under an image id derived from write_id).
        """
        return stored_faces.index_faces(self._open(), image, external_image_id, max_faces, quality_filter, write_id)

    def index_embeddings(
        self,
        embeddings: npt.ArrayLike,
        *,
        pack: PackIdentity,
        faces: Sequence[Face] | None = None,
        external_image_id: None | str | Sequence[str | None] = None,
        image_id: None | str | Sequence[str] = None,
        image_size: tuple[int, int] | None = None,
        face_ids: Sequence[str] | None = None,
    ) -> list[FaceRecord]:
        """Store embeddings you computed yourself with this collection's pack (bring your own embeddings).

        embeddings: [n, embedding_size] (or one [embedding_size] vector), stored
        normalised to unit length. pack: the PackInfo, PackRef or (name, version)
        that made them; another pack is refused. faces: the detections they came
        from (bbox, score, landmarks, quality), in the same order; without them the
        faces have an empty box and confidence 0. external_image_id and
        image_id: one for all, or one per face; image_id defaults to one new id
        for the whole call. image_size: (width, height) of the image they all came from,
        which gives their boxes as ratios (Rekognition's BoundingBox) like index_faces's.
        face_ids: the ids to store the faces under (distinct UUIDs, one per face; default: new
        ones), so that a caller sending the same write again can tell it landed; an id already
        stored refuses the whole call (FaceIdTakenError). All faces are stored in one transaction, durably.
        """
        return stored_faces.index_embeddings(self._open(), embeddings, pack, faces, external_image_id, image_id,
                                             image_size, face_ids)

    def list_faces(self, max_results: int = 1000, next_token: str | None = None, *,
                   user_id: str | None = None, external_image_id: str | None = None) -> FacesPage:
        """One page of stored faces in the order they were indexed; pass next_token for the next."""
        return stored_faces.list_faces(self._open(), max_results, next_token, user_id, external_image_id)

    def iter_faces(self, *, user_id: str | None = None, external_image_id: str | None = None,
                   page_size: int = 1000) -> Iterator[FaceRecord]:
        return stored_faces.every_face(self.list_faces, user_id, external_image_id, page_size)

    def get_faces(self, face_ids: str | Sequence[str]) -> dict[str, FaceRecord]:
        """The stored faces among face_ids (those not stored are absent from the result)."""
        return stored_faces.get_faces(self._open(), face_ids)

    def delete_faces(self, face_ids: str | Sequence[str], *, keep_user_faces: bool = False) -> DeleteFacesResult:
        """Erase faces: their rows are overwritten in the database, the WAL is emptied and the
        index cache rewritten before this returns. Unknown ids come back as FACE_NOT_FOUND; with
        keep_user_faces=True (Rekognition's rule) a user's face is kept, as ASSOCIATED_TO_AN_EXISTING_USER."""
        return stored_faces.delete_faces(self._open(), face_ids, keep_user_faces)

    # -- searching ------------------------------------------------------------------------
    # Every search takes at most one of threshold= (a cosine similarity), max_fmr= (the
    # per-comparison false-match rate) and max_fpir= (the chance that a search of someone
    # not in the collection returns any false candidate, for the number of faces searched);
    # without them, FPIR 1% and no looser than FMR 1e-4 (thresholds/choice.py). The
    # result's threshold_choice says which, with the rates estimated there. purpose= and
    # reference= are written to the audit log with the search.

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None,
                              all_faces: Literal[False] = False, *, max_fmr: float | None = None,
                              max_fpir: float | None = None, purpose: str | None = None,
                              reference: str | None = None, quality_filter: QualityFilterSpec = None
                              ) -> FaceSearchResult: ...

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None, *,
                              all_faces: Literal[True], max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None) -> list[FaceSearchResult]: ...

    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None,
                              all_faces: bool = False, *, max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None) -> FaceSearchResult | list[FaceSearchResult]:
        """Search the collection for the largest face in the image (every face with all_faces=True,
        largest first). NoFaceError if it holds none. quality_filter ("none", "auto", "low",
        "medium", "high" or a QualityFilter; default none): the largest face must pass it, else
        FaceQualityError and nothing is searched (with all_faces, faces that fail are left out).
        The result's unsearched_faces are the image's faces not searched with, and why."""
        criteria = search.Criteria(threshold, max_fmr, max_fpir, purpose, reference)
        results = search.faces_by_image(self._open(), image, max_faces, criteria, all_faces, quality_filter)
        return results if all_faces else results[0]

    def search_faces(self, face_id: str, max_faces: int = 10, threshold: float | None = None, *,
                     max_fmr: float | None = None, max_fpir: float | None = None, purpose: str | None = None,
                     reference: str | None = None) -> FaceSearchResult:
        """Faces like a stored one (the face itself is left out). FaceNotFoundError if it is not stored."""
        criteria = search.Criteria(threshold, max_fmr, max_fpir, purpose, reference)
        return search.faces_by_face_id(self._open(), face_id, max_faces, criteria)

    def search_faces_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_faces: int = 10,
                                  threshold: float | None = None, max_fmr: float | None = None,
                                  max_fpir: float | None = None, purpose: str | None = None,
                                  reference: str | None = None) -> FaceSearchResult:
        """Search with an embedding you computed with this collection's pack."""
        criteria = search.Criteria(threshold, max_fmr, max_fpir, purpose, reference)
        return search.faces_by_embedding(self._open(), embedding, pack, max_faces, criteria)

    def audit_log(self, since: datetime | float | None = None, limit: int | None = None) -> list[AuditEntry]:
        """The searches and compares made through this collection, oldest first (from `since` on)."""
        moment = since.timestamp() if isinstance(since, datetime) else since
        return audit.entries(self._open(), moment, limit)

    # -- users -----------------------------------------------------------------------------

    def create_user(self, user_id: str) -> None:
        """A new user to associate faces with. UserExistsError if the id is taken."""
        users.create_user(self._open(), user_id)

    def delete_user(self, user_id: str, delete_faces: bool = True) -> DeleteUserResult:
        """Remove a user. With delete_faces=True (the default) the user's faces are erased with it,
        as delete_faces does; with False they stay in the collection, unassociated."""
        return users.delete_user(self._open(), user_id, delete_faces)

    def list_users(self, max_results: int = 100, next_token: str | None = None) -> UsersPage:
        return users.list_users(self._open(), max_results, next_token)

    def associate_faces(self, user_id: str, face_ids: str | Sequence[str],
                        user_match_threshold: float | None = None, *, max_fmr: float | None = None,
                        purpose: str | None = None, reference: str | None = None) -> AssociateFacesResult:
        """Make faces the user's. When the user has faces already, a new face must reach the
        threshold against at least one of them: user_match_threshold (a cosine similarity), or
        the one of false-match rate max_fmr (default 1e-4) per comparison."""
        return users.associate_faces(self._open(), user_id, face_ids, user_match_threshold, max_fmr, purpose,
                                     reference)

    def disassociate_faces(self, user_id: str, face_ids: str | Sequence[str]) -> DisassociateFacesResult:
        return users.disassociate_faces(self._open(), user_id, face_ids)

    def search_users(self, *, user_id: str | None = None, face_id: str | None = None, max_users: int = 10,
                     threshold: float | None = None, max_fmr: float | None = None, max_fpir: float | None = None,
                     purpose: str | None = None, reference: str | None = None) -> UserSearchResult:
        """Users like a stored user (through all of its faces; the user itself is left out) or a stored face."""
        criteria = search.Criteria(threshold, max_fmr, max_fpir, purpose, reference)
        return search.users_by_user_or_face(self._open(), user_id, face_id, max_users, criteria)

    def search_users_by_image(self, image: Any, max_users: int = 10, threshold: float | None = None, *,
                              max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None) -> UserSearchResult:
        """Users matching the largest face in the image. NoFaceError if it holds none; FaceQualityError
        if that face fails quality_filter (as search_faces_by_image)."""
        criteria = search.Criteria(threshold, max_fmr, max_fpir, purpose, reference)
        return search.users_by_image(self._open(), image, max_users, criteria, quality_filter)

    def search_users_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_users: int = 10,
                                  threshold: float | None = None, max_fmr: float | None = None,
                                  max_fpir: float | None = None, purpose: str | None = None,
                                  reference: str | None = None) -> UserSearchResult:
        criteria = search.Criteria(threshold, max_fmr, max_fpir, purpose, reference)
        return search.users_by_embedding(self._open(), embedding, pack, max_users, criteria)


def _implements_the_contract(collection: Collection) -> FaceCollection:
    return collection  # mypy checks here that Collection is a FaceCollection
