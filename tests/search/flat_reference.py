"""Float64 brute force, and the tie-aware comparison the FlatIndex tests share."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import faceindex

LEVELS = faceindex.flat_index.supported_simd_levels()


def reference_scores(stored: np.ndarray, queries: np.ndarray, metric: str) -> npt.NDArray[np.float64]:
    """[q, n] float64 scores: cosine similarity, inner product or squared L2 distance."""
    x = stored.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        return q @ x.T
    if metric == "ip":
        return q @ x.T
    return (q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * q @ x.T


def best_first(scores: npt.NDArray[np.float64], metric: str) -> npt.NDArray[np.float64]:
    """Scores turned so that higher is better for every metric."""
    return -scores if metric == "l2" else scores


def tolerance(stored: np.ndarray, queries: np.ndarray, metric: str) -> float:
    """Scores closer than this may be ordered either way by float32 arithmetic."""
    x = stored.astype(np.float64)
    q = queries.astype(np.float64)
    if len(x) == 0 or len(q) == 0:
        return 0.0
    if metric == "cosine":
        scale = 1.0
    elif metric == "ip":
        scale = float(np.linalg.norm(q, axis=1).max() * np.linalg.norm(x, axis=1).max())
    else:
        scale = float((q * q).sum(1).max() + (x * x).sum(1).max())
    return 2e-5 * max(scale, 1e-30) * max(1.0, x.shape[1] / 128)


def assert_same_ranking(
    ids: np.ndarray,
    expected_ids: np.ndarray,
    ref: npt.NDArray[np.float64],
    id_to_row: dict[int, int],
    metric: str,
    tol: float,
) -> None:
    """ids may differ from expected_ids only where the reference scores tie within tol."""
    good = best_first(ref, metric)
    for qi in range(ids.shape[0]):
        for rank in range(ids.shape[1]):
            got, want = int(ids[qi, rank]), int(expected_ids[qi, rank])
            if got == want:
                continue
            assert got >= 0 and want >= 0, f"query {qi} rank {rank}: got id {got}, expected {want}"
            gap = abs(good[qi, id_to_row[got]] - good[qi, id_to_row[want]])
            assert gap <= tol, (
                f"query {qi} rank {rank}: got id {got}, expected {want}; their reference scores differ "
                f"by {gap:.3g} > {tol:.3g}, so this is not a tie"
            )


def brute_force(
    stored: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int, metric: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The exact answer, ties broken by smaller id (as FlatIndex does)."""
    ref = reference_scores(stored, queries, metric)
    good = best_first(ref, metric)
    out_ids = np.full((len(queries), k), -1, dtype=np.int64)
    out_scores = np.full((len(queries), k), np.nan)
    for qi in range(len(queries)):
        order = np.lexsort((ids, -good[qi]))[:k]
        out_ids[qi, : len(order)] = ids[order]
        out_scores[qi, : len(order)] = ref[qi, order]
    return out_ids, out_scores


def recall_at(ids: np.ndarray, expected_ids: np.ndarray) -> float:
    hits = sum(len(set(a[a >= 0]) & set(b[b >= 0])) for a, b in zip(ids, expected_ids))
    return hits / max(1, int((expected_ids >= 0).sum()))


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> npt.NDArray[np.float32]:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
