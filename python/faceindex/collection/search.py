"""Searching a collection: for faces and for users, by image, stored face or user, or
embedding. Each search runs in one database snapshot with the index at exactly that
snapshot's generation (IndexCache.read); its threshold is chosen there, for the number
of faces searched (thresholds/choice.py), and every search is written to the audit log.
Where the collection has a cohort and the pack AS-norm tables, a search without threshold=
ranks and judges by AS-norm scores (score_norm.py), exactly; the result says which."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from faceindex.collection import audit, matching, score_norm, store, validation
from faceindex.collection.results import FaceMatch, FaceSearchResult, UserMatch, UserSearchResult
from faceindex.collection.state import CollectionState, PackIdentity
from faceindex.collection.users import require_user
from faceindex.errors import CollectionError, FaceNotFoundError, NoFaceError
from faceindex import thresholds
from faceindex.flat_index import FlatIndex
from faceindex.types import Face, FloatArray, ScoreKind, ScoreNormalisation, ThresholdChoice


@dataclass(frozen=True)
class Criteria:
    """What a match must reach (at most one of the three; none: the default by error rate),
    and the caller's notes for the audit log."""

    threshold: float | None = None
    max_fmr: float | None = None
    max_fpir: float | None = None
    purpose: str | None = None
    reference: str | None = None
    # A shard of a sharded collection: the threshold on AS-norm scores the collection chose for its
    # whole size (its shards share one cohort), and the choice it made.
    as_norm_choice: ThresholdChoice | None = None

    def choose(self, state: CollectionState, gallery_size: int, score: ScoreKind = "cosine") -> ThresholdChoice:
        if self.as_norm_choice is not None:
            return self.as_norm_choice
        return thresholds.for_search(state.pack, gallery_size, self.threshold, self.max_fmr, self.max_fpir, score)

    def view(self, state: CollectionState, conn: sqlite3.Connection
             ) -> tuple[score_norm.NormView | None, ScoreNormalisation]:
        view, normalisation = score_norm.search_view(state.score_norm, conn, self.threshold is not None)
        if self.as_norm_choice is not None and view is None:
            raise CollectionError(f"collection {state.collection_id!r} cannot judge on AS-norm scores: "
                                  f"{normalisation.cohort}")
        return view, normalisation

    def check(self, state: CollectionState) -> None:
        """Bad values fail before any work (the threshold itself is chosen in the snapshot)."""
        audit.note(self.purpose, "purpose")
        audit.note(self.reference, "reference")
        self.choose(state, 1)


def _faces_in(state: CollectionState, image: Any, all_faces: bool) -> tuple[list[Face], FloatArray]:
    """The faces of an image to search with (the largest, or all, largest first) and their embeddings."""
    found = state.engine.find(image, embed="all" if all_faces else "largest").detections
    if len(found) == 0:
        raise NoFaceError("no face found in the image")
    assert found.embeddings is not None
    return found.faces(), state.unit_vectors(found.embeddings, "engine embeddings")


def _face_search(state: CollectionState, operation: str, criteria: Criteria, queries: FloatArray | None,
                 max_faces: int, exclude_face_id: str | None = None
                 ) -> tuple[list[list[FaceMatch]], ThresholdChoice, ScoreNormalisation]:
    """Face matches for each query (or for the stored face exclude_face_id), their threshold and
    normalisation, logged."""
    max_faces = validation.count(max_faces, "max_faces")
    criteria.check(state)
    chosen: list[tuple[ThresholdChoice, ScoreNormalisation]] = []

    def search(index: FlatIndex, conn: sqlite3.Connection) -> list[list[FaceMatch]]:
        view, normalisation = criteria.view(state, conn)
        choice = criteria.choose(state, len(index), normalisation.score)
        chosen.append((choice, normalisation))
        exclude: list[int | None] = [None] * (1 if queries is None else len(queries))
        if exclude_face_id is not None:
            row_id = _row_of(state, conn, exclude_face_id)
            query = store.embeddings_of(conn, [row_id], state.pack.embedding_size)
            exclude = [row_id]
        else:
            assert queries is not None
            query = queries
        if view is not None:
            return score_norm.face_matches(index, conn, view, query, max_faces, choice.value, exclude)
        return matching.face_matches(index, conn, query, max_faces, choice.value, exclude)

    matches = state.cache.read(state.conn(), search)
    audit.record(state, operation, chosen[0][0], [m.face.face_id for per_query in matches for m in per_query],
                 criteria.purpose, criteria.reference)
    return matches, chosen[0][0], chosen[0][1]


def faces_by_image(state: CollectionState, image: Any, max_faces: int, criteria: Criteria,
                   all_faces: bool) -> list[FaceSearchResult]:
    validation.count(max_faces, "max_faces")
    criteria.check(state)
    faces, queries = _faces_in(state, image, all_faces)
    matches, choice, normalisation = _face_search(state, "search_faces_by_image", criteria, queries, max_faces)
    return [FaceSearchResult(m, choice.value, state.pack.ref, choice, searched_face=face, normalisation=normalisation)
            for face, m in zip(faces, matches)]


def faces_by_face_id(state: CollectionState, face_id: str, max_faces: int, criteria: Criteria) -> FaceSearchResult:
    if not isinstance(face_id, str) or not face_id:
        raise TypeError(f"face_id must be a non-empty string, got {face_id!r}")
    matches, choice, normalisation = _face_search(state, "search_faces", criteria, None, max_faces,
                                                  exclude_face_id=face_id)
    return FaceSearchResult(matches[0], choice.value, state.pack.ref, choice, searched_face_id=face_id,
                            normalisation=normalisation)


def faces_by_embedding(state: CollectionState, embedding: npt.ArrayLike, pack: PackIdentity, max_faces: int,
                       criteria: Criteria) -> FaceSearchResult:
    state.check_pack(pack)
    query = state.unit_vectors(embedding, "embedding")
    if len(query) != 1:
        raise ValueError(f"give one embedding, got {len(query)}")
    matches, choice, normalisation = _face_search(state, "search_faces_by_embedding", criteria, query, max_faces)
    return FaceSearchResult(matches[0], choice.value, state.pack.ref, choice, normalisation=normalisation)


def _user_search(state: CollectionState, operation: str, criteria: Criteria, max_users: int,
                 queries_of: Any) -> tuple[list[UserMatch], ThresholdChoice, ScoreNormalisation]:
    """User matches for the queries queries_of(index, conn) gives (with their exclusions), logged."""
    max_users = validation.count(max_users, "max_users")
    criteria.check(state)
    chosen: list[tuple[ThresholdChoice, ScoreNormalisation]] = []

    def search(index: FlatIndex, conn: sqlite3.Connection) -> list[UserMatch]:
        view, normalisation = criteria.view(state, conn)
        choice = criteria.choose(state, len(index), normalisation.score)
        chosen.append((choice, normalisation))
        queries, exclude_user, exclude_row = queries_of(conn)
        if queries is None:
            return []
        if view is not None:
            return score_norm.user_matches(index, conn, view, queries, max_users, choice.value,
                                           exclude_user=exclude_user, exclude_row=exclude_row)
        return matching.user_matches(index, conn, queries, max_users, choice.value, exclude_user=exclude_user,
                                     exclude_row=exclude_row)

    matches = state.cache.read(state.conn(), search)
    audit.record(state, operation, chosen[0][0], [m.face.face_id for m in matches], criteria.purpose,
                 criteria.reference)
    return matches, chosen[0][0], chosen[0][1]


def users_by_user_or_face(state: CollectionState, user_id: str | None, face_id: str | None, max_users: int,
                          criteria: Criteria) -> UserSearchResult:
    if (user_id is None) == (face_id is None):
        raise ValueError("give exactly one of user_id= and face_id=")
    if user_id is not None:
        validation.user_id(user_id)
    dim = state.pack.embedding_size

    def queries_of(conn: sqlite3.Connection) -> tuple[FloatArray | None, str | None, int | None]:
        if user_id is not None:
            require_user(state, user_id)
            rows = [row for row, _ in store.rows_of_user(conn, user_id)]
            return (store.embeddings_of(conn, rows, dim) if rows else None), user_id, None
        assert face_id is not None
        row = _row_of(state, conn, face_id)
        return store.embeddings_of(conn, [row], dim), None, row

    matches, choice, normalisation = _user_search(state, "search_users", criteria, max_users, queries_of)
    return UserSearchResult(matches, choice.value, state.pack.ref, choice, searched_face_id=face_id,
                            searched_user_id=user_id, normalisation=normalisation)


def users_by_image(state: CollectionState, image: Any, max_users: int, criteria: Criteria) -> UserSearchResult:
    validation.count(max_users, "max_users")
    criteria.check(state)
    (face,), query = _faces_in(state, image, all_faces=False)
    matches, choice, normalisation = _user_search(state, "search_users_by_image", criteria, max_users,
                                                  lambda conn: (query, None, None))
    return UserSearchResult(matches, choice.value, state.pack.ref, choice, searched_face=face,
                            normalisation=normalisation)


def users_by_embedding(state: CollectionState, embedding: npt.ArrayLike, pack: PackIdentity, max_users: int,
                       criteria: Criteria) -> UserSearchResult:
    state.check_pack(pack)
    query = state.unit_vectors(embedding, "embedding")
    matches, choice, normalisation = _user_search(state, "search_users_by_embedding", criteria, max_users,
                                                  lambda conn: (query, None, None))
    return UserSearchResult(matches, choice.value, state.pack.ref, choice, normalisation=normalisation)


def _row_of(state: CollectionState, conn: sqlite3.Connection, face_id: str) -> int:
    found = store.faces_by_face_ids(conn, [face_id])
    if face_id not in found:
        raise FaceNotFoundError(f"face {face_id!r} is not in collection {state.collection_id!r}")
    return found[face_id][0]
