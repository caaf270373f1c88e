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
from faceindex.collection.quality_filter import QualityFilterSpec, quality_reasons, resolve_quality_filter
from faceindex.collection.results import (
    FaceMatch,
    FaceSearchResult,
    UnsearchedFace,
    UserMatch,
    UserSearchResult,
)
from faceindex.collection.state import CollectionState, PackIdentity
from faceindex.collection.users import require_user
from faceindex.engine import FaceEngine
from faceindex.errors import CollectionError, FaceNotFoundError, FaceQualityError, NoFaceError
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
    # False for a shard's part of a sharded search: the sharded collection logs the whole search once.
    record: bool = True

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


@dataclass(frozen=True)
class SearchedFaces:
    """The faces of an image a search by image searches with, and their embeddings (rows in the
    same order), and the image's faces it does not search with."""

    faces: list[Face]
    embeddings: FloatArray
    unsearched: list[UnsearchedFace]


def searched_faces(engine: FaceEngine, image: Any, all_faces: bool = False,
                   quality_filter: QualityFilterSpec = None) -> SearchedFaces:
    """What a search by image searches with: the largest face (as on Rekognition), or every face
    with all_faces=True, largest first, held to quality_filter ("none", "auto", "low", "medium",
    "high" or a QualityFilter; None: no filter) before anything is embedded or searched.

    NoFaceError when the image holds no face; FaceQualityError when the largest face fails the
    filter (with all_faces, when no face passes it: those that fail are left unsearched). The
    image is decoded once; only the faces searched with are embedded. The sharded collection
    uses this too."""
    found = engine.find(image)
    detections = found.detections
    if len(detections) == 0:
        raise NoFaceError("no face found in the image")
    bounds = resolve_quality_filter(quality_filter)
    rows = list(range(len(detections))) if all_faces else [0]
    reasons = quality_reasons(detections.take(rows), bounds)
    if not all_faces and reasons[0]:
        raise FaceQualityError(f"the largest face in the image does not pass the quality filter "
                               f"({_filter_name(quality_filter)}): {', '.join(reasons[0])}", reasons[0])
    passing = [row for row, failed in zip(rows, reasons) if not failed]
    if not passing:
        raise FaceQualityError(f"no face in the image passes the quality filter ({_filter_name(quality_filter)})")
    searched = detections.take(passing)
    unsearched = [UnsearchedFace(failed, detections[row]) for row, failed in zip(rows, reasons) if failed]
    if not all_faces:
        unsearched += [UnsearchedFace(("FACE_NOT_LARGEST",), detections[row]) for row in range(1, len(detections))]
    return SearchedFaces(searched.faces(), engine.embed(found.rgb, searched), unsearched)


def _filter_name(spec: QualityFilterSpec) -> str:
    return spec.upper() if isinstance(spec, str) else "NONE" if spec is None else "custom"


def _face_search(state: CollectionState, operation: str, criteria: Criteria, queries: FloatArray | None,
                 max_faces: int, exclude_face_id: str | None = None
                 ) -> tuple[list[tuple[list[FaceMatch], FaceMatch | None]], ThresholdChoice, ScoreNormalisation]:
    """Face matches and the nearest face for each query (or for the stored face exclude_face_id),
    their threshold and normalisation, logged (the matches: a nearest face below the threshold is
    not a candidate)."""
    max_faces = validation.count(max_faces, "max_faces")
    criteria.check(state)
    chosen: list[tuple[ThresholdChoice, ScoreNormalisation]] = []

    def search(index: FlatIndex, conn: sqlite3.Connection) -> list[tuple[list[FaceMatch], FaceMatch | None]]:
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
    if criteria.record:
        audit.record(state, operation, chosen[0][0], [m.face.face_id for per_query, _ in matches for m in per_query],
                     criteria.purpose, criteria.reference)
    return matches, chosen[0][0], chosen[0][1]


def faces_by_image(state: CollectionState, image: Any, max_faces: int, criteria: Criteria,
                   all_faces: bool, quality_filter: QualityFilterSpec = None) -> list[FaceSearchResult]:
    validation.count(max_faces, "max_faces")
    criteria.check(state)
    found = searched_faces(state.engine, image, all_faces, quality_filter)
    queries = state.unit_vectors(found.embeddings, "engine embeddings")
    matches, choice, normalisation = _face_search(state, "search_faces_by_image", criteria, queries, max_faces)
    return [FaceSearchResult(m, choice.value, state.pack.ref, choice, searched_face=face, normalisation=normalisation,
                             unsearched_faces=found.unsearched, nearest=near)
            for face, (m, near) in zip(found.faces, matches)]


def faces_by_face_id(state: CollectionState, face_id: str, max_faces: int, criteria: Criteria) -> FaceSearchResult:
    if not isinstance(face_id, str) or not face_id:
        raise TypeError(f"face_id must be a non-empty string, got {face_id!r}")
    matches, choice, normalisation = _face_search(state, "search_faces", criteria, None, max_faces,
                                                  exclude_face_id=face_id)
    (found, near), = matches
    return FaceSearchResult(found, choice.value, state.pack.ref, choice, searched_face_id=face_id,
                            normalisation=normalisation, nearest=near)


def faces_by_embedding(state: CollectionState, embedding: npt.ArrayLike, pack: PackIdentity, max_faces: int,
                       criteria: Criteria) -> FaceSearchResult:
    state.check_pack(pack)
    query = state.unit_vectors(embedding, "embedding")
    if len(query) != 1:
        raise ValueError(f"give one embedding, got {len(query)}")
    matches, choice, normalisation = _face_search(state, "search_faces_by_embedding", criteria, query, max_faces)
    (found, near), = matches
    return FaceSearchResult(found, choice.value, state.pack.ref, choice, normalisation=normalisation, nearest=near)


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
    if criteria.record:
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


def users_by_image(state: CollectionState, image: Any, max_users: int, criteria: Criteria,
                   quality_filter: QualityFilterSpec = None) -> UserSearchResult:
    validation.count(max_users, "max_users")
    criteria.check(state)
    found = searched_faces(state.engine, image, False, quality_filter)
    query = state.unit_vectors(found.embeddings, "engine embeddings")
    matches, choice, normalisation = _user_search(state, "search_users_by_image", criteria, max_users,
                                                  lambda conn: (query, None, None))
    return UserSearchResult(matches, choice.value, state.pack.ref, choice, searched_face=found.faces[0],
                            unsearched_faces=found.unsearched, normalisation=normalisation)


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
