"""FlatIndex: exact nearest-neighbour search over embeddings, on our SIMD kernels."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from faceindex import _core

Metric = Literal["cosine", "ip", "l2"]
DType = Literal["f32", "f16", "i8"]

_search = _core.search


@dataclass(frozen=True)
class Candidates:
    """What an exact search from codes must re-score: ids[offsets[j]:offsets[j + 1]] for query j, ascending."""

    offsets: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def of(self, query: int) -> npt.NDArray[np.int64]:
        return self.ids[self.offsets[query]:self.offsets[query + 1]]


class FlatIndex:
    """Exact search over vectors stored as f32, f16 (IEEE half) or i8 (per-vector scale).

    Scores: cosine similarity for "cosine" (vectors and queries normalised),
    inner product for "ip" (higher first), squared Euclidean distance for
    "l2" (lower first). Searching for more neighbours than are stored pads
    ids with -1 and scores with -inf (cosine, ip) or NaN (l2).
    """

    def __init__(self, dim: int, metric: Metric = "cosine", dtype: DType = "f32") -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"dim must be an int, got {type(dim).__name__}")
        self._index = _search.FlatIndex(int(dim), metric, dtype)

    @classmethod
    def _wrap(cls, index: Any) -> FlatIndex:
        self = cls.__new__(cls)
        self._index = index
        return self

    @property
    def dim(self) -> int:
        return int(self._index.dim)

    @property
    def metric(self) -> str:
        return str(self._index.metric)

    @property
    def dtype(self) -> str:
        return str(self._index.dtype)

    @property
    def memory_bytes(self) -> int:
        """Bytes of memory the index holds (a memory-mapped file counts as 0: the page cache holds it)."""
        return int(self._index.memory_bytes)

    @property
    def is_mapped(self) -> bool:
        """True while the vectors are read from a memory-mapped file (until the first change)."""
        return bool(self._index.is_mapped)

    def __len__(self) -> int:
        return int(len(self._index))

    def __contains__(self, id: object) -> bool:
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)) or id < 0 or id >= 2**63:
            return False
        return bool(self._index.contains(int(id)))

    def __repr__(self) -> str:
        return f"FlatIndex(dim={self.dim}, metric={self.metric!r}, dtype={self.dtype!r}, size={len(self)})"

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Store vectors under ids (uint64, below 2**63, new and distinct).

        Vectors: float32 [n, dim] (float16 and float64 are converted; values
        float32 cannot hold are refused). Nothing is stored if any input is bad.
        """
        self._index.add(_as_ids(ids), _as_floats(vectors, "vectors"))

    def search(self, queries: npt.ArrayLike, k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The k best stored vectors for each query, best first.

        queries [q, dim] -> (ids int64 [q, k], scores float32 [q, k]); a single
        query [dim] -> ([k], [k]).
        """
        ids, scores = self._index.search(_as_floats(queries, "queries"), _as_k(k))
        return ids, scores

    def candidates(self, queries: npt.ArrayLike, k: int, min_score: float = -math.inf) -> Candidates:
        """For an f16 or i8 cosine index: for each query, every stored id whose f32 score could be
        among the k best at or above min_score (docs/ARCHITECTURE.md, "Exact search from compressed
        codes", proves the bound that decides it). A single query [dim] gives one list."""
        offsets, ids = self._index.candidates(_as_floats(queries, "queries"), _as_k(k), _as_min_score(min_score))
        return Candidates(offsets, ids)

    def rescore(self, queries: npt.ArrayLike, candidates: Candidates, vector_ids: npt.ArrayLike,
                vectors: npt.ArrayLike, k: int,
                min_score: float = -math.inf) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The k best candidates of each query at or above min_score, best first, scored at full
        precision by the f32 kernel from vectors[i], the f32 vector given to add() for vector_ids[i].
        Shapes and padding as search()'s; every candidate needs a vector (else ValueError)."""
        return self._index.rescore(_as_floats(queries, "queries"), candidates.offsets, candidates.ids,
                                   _as_ids(vector_ids), _as_floats(vectors, "vectors"), _as_k(k),
                                   _as_min_score(min_score))

    def search_exact(self, queries: npt.ArrayLike, k: int,
                     vectors_of: Callable[[npt.NDArray[np.int64]], npt.ArrayLike],
                     min_score: float = -math.inf) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """search() on an f32 index of the same vectors, from this f16 or i8 index's codes, less the
        scores below min_score: the same ids, order and scores to the bit. vectors_of(ids) returns
        the f32 vectors given to add() for those ids (ascending), [len(ids), dim]."""
        found = self.candidates(queries, k, min_score)
        wanted = np.unique(found.ids)
        return self.rescore(queries, found, wanted, vectors_of(wanted), k, min_score)

    def reserve(self, n: int) -> None:
        """Make room for n vectors in all, so that adding up to them grows memory once, to n
        (without it, memory grows by halves and is copied each time)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        self._index.reserve(int(n))

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove ids; those not present are ignored. Returns how many were removed."""
        return int(self._index.remove(_as_ids(ids)))

    def reconstruct(self, id: int) -> npt.NDArray[np.float32]:
        """The stored vector (normalised for cosine, decoded for f16 and i8). KeyError if absent."""
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)):
            raise TypeError(f"id must be an int, got {type(id).__name__}")
        if id < 0 or id >= 2**63:
            raise KeyError(f"id {id} is not in the index")
        vector: npt.NDArray[np.float32] = self._index.reconstruct(int(id))
        return vector

    def ids(self) -> npt.NDArray[np.uint64]:
        """Every stored id, in storage order."""
        stored: npt.NDArray[np.uint64] = self._index.ids()
        return stored

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to path atomically (temporary file, fsync, rename)."""
        self._index.save(os.fspath(path))

    def save_to_fd(self, fd: int) -> None:
        """Write the bytes save() would to an open file descriptor, at its offset, with no flush:
        an encrypted collection writes them to a memfd and encrypts them from there."""
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"fd must be an int, got {type(fd).__name__}")
        self._index.save_to_fd(fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> FlatIndex:
        """Read an index saved by save(). With mmap=True the vectors stay in the file's
        pages until the index is changed. Every byte is verified: a truncated,
        altered or foreign file raises IndexFileError (a ValueError)."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"index file not found: {path}")
        return cls._wrap(_search.FlatIndex.load(path, bool(mmap)))


def simd_level() -> str:
    """The SIMD level whose kernels run now: "scalar", "avx2" or "avx512"."""
    return str(_search.simd_level())


def simd_features() -> str:
    """The instruction-set extensions the running kernels use, e.g. "avx512+vnni+bf16"."""
    return str(_search.simd_features())


def set_simd_level(level: str) -> None:
    """Force "scalar", "avx2" or "avx512" (or "auto") for later searches and adds.

    The FACEINDEX_SIMD environment variable does the same at import time. A
    level this CPU cannot run raises ValueError.
    """
    _search.set_simd_level(level)


def supported_simd_levels() -> list[str]:
    return str(_search.supported_simd_levels()).split(",")


def _as_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    return int(k)


def _as_min_score(min_score: float) -> float:
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float, np.integer, np.floating)):
        raise TypeError(f"min_score must be a number, got {type(min_score).__name__}")
    if math.isnan(min_score):
        raise ValueError("min_score must not be NaN")
    return float(min_score)


def _as_ids(ids: npt.ArrayLike) -> np.ndarray:
    if isinstance(ids, np.ndarray):
        return ids
    if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
        return np.array([ids], dtype=np.uint64) if ids >= 0 else np.array([ids], dtype=np.int64)
    array = np.asarray(ids)
    if array.size == 0:
        return array.astype(np.uint64)
    if array.dtype == object:
        raise TypeError("ids must be integers")
    return array


def _as_floats(values: npt.ArrayLike, what: str) -> np.ndarray:
    array = values if isinstance(values, np.ndarray) else np.asarray(values)
    if array.dtype.kind == "f" and not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype.kind in "iub" and not isinstance(values, np.ndarray):
        array = array.astype(np.float32)  # Python lists of numbers
    return array
