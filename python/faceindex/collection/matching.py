"""The match algorithms: pure functions over a FlatIndex of the collection's faces
(ids are database row ids) and the database snapshot it reflects.

Every search goes through best_faces, whose answer is the f32 scan's whatever the index
holds: an f16 or i8 index scans its codes and re-scores, from the f32 embeddings in the
database, every face whose score could still reach the threshold or the k best
(FlatIndex.search_exact; the bound is proved in docs/ARCHITECTURE.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceindex.collection import store
from faceindex.collection.results import FaceMatch, UserMatch
from faceindex.flat_index import FlatIndex
from faceindex.types import FloatArray


def similarity(score: float) -> float:
    """A cosine similarity as results report it: float32 dot products of unit vectors
    can land a hair outside [-1, 1]."""
    return min(1.0, max(-1.0, float(score)))


def best_faces(index: FlatIndex, conn: sqlite3.Connection, queries: FloatArray, k: int,
               threshold: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each query's k best faces that may reach the threshold, best first: row ids (-1 past the
    last) and f32 cosine scores (-inf there), the same to the bit from an f32, f16 or i8 index.

    Callers judge each score as reported (in double, clipped to [-1, 1]): every score that could
    then reach the threshold is kept here, a score a hair below -1 included at a threshold of -1,
    and the callers' own comparison decides."""
    floor = -np.inf if threshold <= -1.0 else min(threshold, float(np.float32(threshold)))
    if index.dtype == "f32":
        ids, scores = index.search(queries, k)
        below = ~(scores.astype(np.float64) >= floor)
        ids[below], scores[below] = -1, -np.inf
        return ids, scores

    def embeddings(rows: npt.NDArray[np.int64]) -> FloatArray:
        return store.embeddings_of(conn, rows.tolist(), index.dim)

    return index.search_exact(queries, k, embeddings, floor)


def face_matches(index: FlatIndex, conn: sqlite3.Connection, queries: FloatArray, max_faces: int, threshold: float,
                 exclude: Sequence[int | None]) -> list[tuple[list[FaceMatch], FaceMatch | None]]:
    """For each query, its best faces at or above threshold, best first, at most
    max_faces, and its nearest face whatever the threshold (a near miss when no face
    reaches it); exclude[i] is a row left out of query i's (the face searched with)."""
    k = min(max_faces + 1, len(index))
    if k == 0:
        return [([], None) for _ in queries]
    ids, scores = best_faces(index, conn, queries, k, threshold)
    chosen: list[list[tuple[int, float]]] = []
    nearest: list[tuple[int, float] | None] = []
    for row_ids, row_scores, left_out in zip(ids, scores, exclude):
        # Judged as reported: a face at similarity -1 (or 1) matches a threshold of -1 (or 1).
        candidates = [(int(i), similarity(s)) for i, s in zip(row_ids, row_scores) if i >= 0 and i != left_out]
        chosen.append([(i, s) for i, s in candidates if s >= threshold][:max_faces])
        nearest.append(candidates[0] if candidates else None)
    # A query with no face left at the threshold still has a nearest face: the two best
    # (one may be the face searched with) without a floor, exact from any index.
    missing = [q for q, near in enumerate(nearest) if near is None]
    if missing:
        near_ids, near_scores = best_faces(index, conn, queries[missing], min(2, len(index)), -np.inf)
        for q, row_ids, row_scores in zip(missing, near_ids, near_scores):
            below = [(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0 and i != exclude[q]]
            nearest[q] = below[0] if below else None
    records = store.faces_by_row_ids(conn, [i for picked in chosen for i, _ in picked]
                                     + [n[0] for n in nearest if n is not None])
    return [([FaceMatch(similarity(s), records[i]) for i, s in picked],
             FaceMatch(similarity(near[1]), records[near[0]]) if near is not None else None)
            for picked, near in zip(chosen, nearest)]


def user_matches(index: FlatIndex, conn: sqlite3.Connection, queries: FloatArray, max_users: int, threshold: float,
                 exclude_user: str | None = None, exclude_row: int | None = None) -> list[UserMatch]:
    """Users ranked by their best face against any query face.

    Deepens the face search until the ranking is exact: a user whose best
    seen face scores at least every query's k-th score cannot have a better
    face beyond the k searched. (A query with fewer than k faces at the
    threshold has all of them: its k-th is padding, -inf.)
    """
    n = len(index)
    if n == 0:
        return []
    k = min(n, max(64, 8 * max_users))
    while True:
        ids, scores = best_faces(index, conn, queries, k, threshold)
        # As face_matches judges: in float64 (float32 would round a threshold a hair above a score down
        # to it), and within [-1, 1] as reported.
        valid = (ids >= 0) & (np.clip(scores.astype(np.float64), -1.0, 1.0) >= threshold)
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
    return [UserMatch(similarity(score), users[user], records[row]) for user, (score, row) in top]
