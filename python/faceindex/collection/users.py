"""A collection's users: creating and deleting them, and which faces are theirs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceindex.collection import audit, score_norm, store, validation
from faceindex.collection.faces import finish_erasure
from faceindex.collection.ids import page_token, read_page_token
from faceindex.collection.matching import similarity
from faceindex.collection.results import (
    AssociateFacesResult,
    DeleteUserResult,
    DisassociateFacesResult,
    UnsuccessfulFaceAssociation,
    UnsuccessfulFaceDisassociation,
    UsersPage,
)
from faceindex.collection.state import CollectionState
from faceindex.errors import UserExistsError, UserNotFoundError
from faceindex import thresholds


def create_user(state: CollectionState, user_id: str) -> None:
    user_id = validation.user_id(user_id)
    conn = state.conn()
    with store.write_transaction(conn):
        if not store.insert_user(conn, user_id):
            raise UserExistsError(f"user {user_id!r} already exists in collection {state.collection_id!r}")


def delete_user(state: CollectionState, user_id: str, delete_faces: bool) -> DeleteUserResult:
    user_id = validation.user_id(user_id)
    conn = state.conn()
    with store.write_transaction(conn):
        require_user(state, user_id)
        owned = store.rows_of_user(conn, user_id)
        rows = [row for row, _ in owned]
        before = store.generations(conn).generation
        if delete_faces and rows:
            store.delete_rows(conn, rows)
            audit.forget_faces(conn, [face_id for _, face_id in owned])
            score_norm.forget_faces(state.score_norm, conn, [face_id for _, face_id in owned])  # issue 29: out of the cohort too
            after = store.bump_generation(conn, erased=True)
        else:
            store.set_user_of_rows(conn, rows, None)
        store.delete_user_row(conn, user_id)
    if delete_faces and rows:
        finish_erasure(state, before, after, rows)
    else:  # faces kept, or none to delete: the user's id itself is erased from the WAL too
        store.checkpoint_truncate(conn)
    face_ids = [face_id for _, face_id in owned]
    return DeleteUserResult(user_id, face_ids if delete_faces else [], [] if delete_faces else face_ids)


def require_user(state: CollectionState, user_id: str) -> None:
    """UserNotFoundError unless the user exists (inside the caller's transaction)."""
    if store.get_user(state.conn(), user_id) is None:
        raise UserNotFoundError(f"user {user_id!r} is not in collection {state.collection_id!r}")


def list_users(state: CollectionState, max_results: int, next_token: str | None) -> UsersPage:
    max_results = validation.count(max_results, "max_results", high=100_000)
    after = read_page_token(next_token, "u")
    conn = state.conn()
    with store.read_transaction(conn):
        users = store.users_page(conn, after, max_results + 1)
    more = len(users) > max_results
    users = users[:max_results]
    return UsersPage(users, page_token("u", users[-1].user_id) if more else None)


def associate_faces(state: CollectionState, user_id: str, face_ids: str | Sequence[str],
                    user_match_threshold: float | None, max_fmr: float | None, purpose: str | None,
                    reference: str | None) -> AssociateFacesResult:
    """A face joins a user whose faces it matches: a 1:1 decision (by default FMR 1e-4), on AS-norm
    scores where the collection has a cohort and the pack AS-norm tables (issue 29), unless
    user_match_threshold (a cosine) is given."""
    user_id = validation.user_id(user_id)
    ids = validation.face_ids(face_ids)
    purpose, reference = audit.note(purpose, "purpose"), audit.note(reference, "reference")
    try:
        choice = thresholds.for_comparison(state.pack, user_match_threshold, max_fmr)
    except ValueError as e:  # in the caller's terms, of the same type (a CalibrationError stays one)
        raise type(e)(str(e).replace("threshold", "user_match_threshold", 1)) from e
    conn = state.conn()
    dim = state.pack.embedding_size
    associated: list[str] = []
    failed: list[UnsuccessfulFaceAssociation] = []
    normalisation = score_norm.not_normalised(score_norm.FIXED_THRESHOLD)
    with store.write_transaction(conn):
        require_user(state, user_id)
        found = store.faces_by_face_ids(conn, ids)
        owned_rows = [row for row, _ in store.rows_of_user(conn, user_id)]
        owned = store.embeddings_of(conn, owned_rows, dim) if owned_rows else None
        normalised = None
        if user_match_threshold is None:  # issue 29: judged on AS-norm scores where the collection can
            normalised, normalisation = score_norm.association_view(state.score_norm, conn)
            if normalised is not None:
                choice = thresholds.for_comparison(state.pack, None, max_fmr, score="as-norm")
        threshold = choice.value
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
                cosines = owned.astype(np.float64) @ vector.astype(np.float64)
                best = similarity(float(np.max(cosines)))
                if normalised is not None:
                    z = score_norm.pair_scores(state.score_norm, conn, row, owned_rows, cosines)
                    if float(np.max(z)) < threshold:
                        failed.append(UnsuccessfulFaceAssociation(face_id, ("LOW_MATCH_CONFIDENCE",),
                                                                  similarity=best, score=float(np.max(z))))
                        continue
                elif best < threshold:
                    failed.append(UnsuccessfulFaceAssociation(face_id, ("LOW_MATCH_CONFIDENCE",), similarity=best))
                    continue
            to_set.append(row)
            associated.append(face_id)
        store.set_user_of_rows(conn, to_set, user_id)
    if owned is not None:  # a comparison was made: the user's faces were judged against the threshold
        audit.record(state, "associate_faces", choice, [f for f in associated], purpose, reference)
    return AssociateFacesResult(user_id, associated, failed, threshold, state.pack.ref, choice, normalisation)


def disassociate_faces(state: CollectionState, user_id: str,
                       face_ids: str | Sequence[str]) -> DisassociateFacesResult:
    user_id = validation.user_id(user_id)
    ids = validation.face_ids(face_ids)
    conn = state.conn()
    done: list[str] = []
    failed: list[UnsuccessfulFaceDisassociation] = []
    with store.write_transaction(conn):
        require_user(state, user_id)
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
