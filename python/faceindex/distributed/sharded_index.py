"""ShardedFlatIndex: a FlatIndex spread over Ray actors, searched exactly (bring your own ids and vectors).

The bare-vector form of ShardedCollection's scatter and merge, for users of FlatIndex
(and the benchmark of that layer): vector id i lives on shard i mod N; a search asks every
shard for its k best and merges them into the global k best, which is exactly what one
FlatIndex holding every vector returns (scores are per vector, so a shard computes each
one as the whole index would).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import ray

from faceindex.flat_index import DType, FlatIndex, Metric


class IndexShard:
    """One shard's FlatIndex (the plain class; ShardedFlatIndex runs it as a threaded Ray actor)."""

    def __init__(self, dim: int, metric: Metric, dtype: DType) -> None:
        self.index = FlatIndex(dim, metric, dtype)

    def add(self, ids: npt.NDArray[np.uint64], vectors: npt.NDArray[np.float32]) -> int:
        self.index.add(ids, vectors)
        return len(self.index)

    def search(self, queries: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        return self.index.search(queries, k)

    def size(self) -> int:
        return len(self.index)

    def memory_bytes(self) -> int:
        return self.index.memory_bytes


def merge_top_k(parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]], k: int
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The k best of each query's candidates from every shard ([q, k] each), best first; ties by
    id, and -1 / -inf where fewer than k vectors exist (as FlatIndex pads)."""
    ids = np.concatenate([p[0] for p in parts], axis=1)
    scores = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((ids, -scores), axis=1)[:, :k]
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)


class ShardedFlatIndex:
    """FlatIndex's add/search over `shards` Ray actors (Ray must be initialised)."""

    def __init__(self, shards: int, dim: int, metric: Metric = "cosine", dtype: DType = "f32",
                 actor_options: dict[str, Any] | None = None) -> None:
        if not isinstance(shards, int) or shards < 1:
            raise ValueError(f"shards must be a positive integer, got {shards!r}")
        settings: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 8}
        settings.update(actor_options or {})
        actor: Any = ray.remote(**settings)(IndexShard)
        self.shards = shards
        self.dim = dim
        self.actors: list[Any] = [actor.remote(dim, metric, dtype) for _ in range(shards)]

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Store vectors under ids (as FlatIndex.add), id i on shard i mod shards."""
        id_array = np.ascontiguousarray(ids, dtype=np.uint64)
        vector_array = np.ascontiguousarray(vectors, dtype=np.float32)
        if vector_array.ndim != 2 or len(vector_array) != len(id_array):
            raise ValueError(f"give [n, {self.dim}] vectors for n ids, got {vector_array.shape} for {len(id_array)}")
        where = id_array % np.uint64(self.shards)
        futures = [self.actors[s].add.remote(id_array[where == s], vector_array[where == s])
                   for s in range(self.shards) if np.any(where == s)]
        ray.get(futures, timeout=600)

    def search(self, queries: npt.ArrayLike, k: int, timeout_s: float = 60.0
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The k best vectors over every shard for each query: ([q, k], [q, k]), or ([k], [k]) for one [dim] query."""
        query_array = np.ascontiguousarray(queries, dtype=np.float32)
        single = query_array.ndim == 1
        query_array = query_array[None, :] if single else query_array
        parts = ray.get([actor.search.remote(query_array, k) for actor in self.actors], timeout=timeout_s)
        ids, scores = merge_top_k(parts, k)
        return (ids[0], scores[0]) if single else (ids, scores)

    def __len__(self) -> int:
        return int(sum(ray.get([actor.size.remote() for actor in self.actors], timeout=60)))

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
