"""Searching a collection: for faces and for users, by image, stored face or user, or
embedding. Each search runs in one database snapshot with the index at exactly that
snapshot's generation (IndexCache.read)."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy.typing as npt

from faceindex.collection import matching, store, validation
from faceindex.collection.results import FaceMatch, FaceSearchResult, UserMatch, UserSearchResult
from faceindex.collection.state import CollectionState, PackIdentity
from faceindex.collection.users import require_user
from faceindex.errors import FaceNotFoundError, NoFaceError
from faceindex.flat_index import FlatIndex
from faceindex.types import Face, FloatArray


def _faces_in(state: CollectionState, image: Any, all_faces: bool) -> tuple[list[Face], FloatArray]:
    """The faces of an image to search with (the largest, or all, largest first) and their embeddings."""
    found = state.engine._find(image, embed="all" if all_faces else "largest").detections
    if len(found) == 0:
        raise NoFaceError("no face found in the image")
    assert found.embeddings is not None
    return found.faces(), state.unit_vectors(found.embeddings, "engine embeddings")


def faces_by_image(state: CollectionState, image: Any, max_faces: int, threshold: float | None,
                   all_faces: bool) -> list[FaceSearchResult]:
    max_faces = validation.count(max_faces, "max_faces")
    cut = validation.threshold(threshold, state.pack.default_threshold)
    faces, queries = _faces_in(state, image, all_faces)
    matches = state.cache.read(state.conn(), lambda index, conn: matching.face_matches(
        index, conn, queries, max_faces, cut, [None] * len(faces)))
    return [FaceSearchResult(m, cut, state.pack.ref, searched_face=face) for face, m in zip(faces, matches)]


def faces_by_face_id(state: CollectionState, face_id: str, max_faces: int,
                     threshold: float | None) -> FaceSearchResult:
    max_faces = validation.count(max_faces, "max_faces")
    cut = validation.threshold(threshold, state.pack.default_threshold)
    if not isinstance(face_id, str) or not face_id:
        raise TypeError(f"face_id must be a non-empty string, got {face_id!r}")

    def search(index: FlatIndex, conn: sqlite3.Connection) -> list[FaceMatch]:
        row_id = _row_of(state, conn, face_id)
        query = store.embeddings_of(conn, [row_id], state.pack.embedding_size)
        return matching.face_matches(index, conn, query, max_faces, cut, [row_id])[0]

    return FaceSearchResult(state.cache.read(state.conn(), search), cut, state.pack.ref, searched_face_id=face_id)


def faces_by_embedding(state: CollectionState, embedding: npt.ArrayLike, pack: PackIdentity, max_faces: int,
                       threshold: float | None) -> FaceSearchResult:
    state.check_pack(pack)
    max_faces = validation.count(max_faces, "max_faces")
    cut = validation.threshold(threshold, state.pack.default_threshold)
    query = state.unit_vectors(embedding, "embedding")
    if len(query) != 1:
        raise ValueError(f"give one embedding, got {len(query)}")
    matches = state.cache.read(state.conn(), lambda index, conn: matching.face_matches(
        index, conn, query, max_faces, cut, [None])[0])
    return FaceSearchResult(matches, cut, state.pack.ref)


def users_by_user_or_face(state: CollectionState, user_id: str | None, face_id: str | None, max_users: int,
                          threshold: float | None) -> UserSearchResult:
    if (user_id is None) == (face_id is None):
        raise ValueError("give exactly one of user_id= and face_id=")
    max_users = validation.count(max_users, "max_users")
    cut = validation.threshold(threshold, state.pack.default_threshold)
    dim = state.pack.embedding_size
    if user_id is not None:
        validation.user_id(user_id)

    def search(index: FlatIndex, conn: sqlite3.Connection) -> list[UserMatch]:
        if user_id is not None:
            require_user(state, user_id)
            rows = [row for row, _ in store.rows_of_user(conn, user_id)]
            if not rows:
                return []
            return matching.user_matches(index, conn, store.embeddings_of(conn, rows, dim), max_users, cut,
                                         exclude_user=user_id)
        assert face_id is not None
        row = _row_of(state, conn, face_id)
        return matching.user_matches(index, conn, store.embeddings_of(conn, [row], dim), max_users, cut,
                                     exclude_row=row)

    return UserSearchResult(state.cache.read(state.conn(), search), cut, state.pack.ref,
                            searched_face_id=face_id, searched_user_id=user_id)


def users_by_image(state: CollectionState, image: Any, max_users: int,
                   threshold: float | None) -> UserSearchResult:
    max_users = validation.count(max_users, "max_users")
    cut = validation.threshold(threshold, state.pack.default_threshold)
    (face,), query = _faces_in(state, image, all_faces=False)
    matches = state.cache.read(state.conn(), lambda index, conn: matching.user_matches(
        index, conn, query, max_users, cut))
    return UserSearchResult(matches, cut, state.pack.ref, searched_face=face)


def users_by_embedding(state: CollectionState, embedding: npt.ArrayLike, pack: PackIdentity, max_users: int,
                       threshold: float | None) -> UserSearchResult:
    state.check_pack(pack)
    max_users = validation.count(max_users, "max_users")
    cut = validation.threshold(threshold, state.pack.default_threshold)
    query = state.unit_vectors(embedding, "embedding")
    matches = state.cache.read(state.conn(), lambda index, conn: matching.user_matches(
        index, conn, query, max_users, cut))
    return UserSearchResult(matches, cut, state.pack.ref)


def _row_of(state: CollectionState, conn: sqlite3.Connection, face_id: str) -> int:
    found = store.faces_by_face_ids(conn, [face_id])
    if face_id not in found:
        raise FaceNotFoundError(f"face {face_id!r} is not in collection {state.collection_id!r}")
    return found[face_id][0]
