"""Fuzz harness: FlatIndex.load on arbitrary file bytes, copied and memory-mapped, then used.

Accepted outcomes: IndexFileError, or an index whose every operation works on what it holds.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from faceindex.errors import IndexFileError
from faceindex.flat_index import FlatIndex

_PATH = os.path.join(tempfile.mkdtemp(prefix="fuzz-flat-index-"), "input.fidx")


def _use(index: FlatIndex) -> None:
    ids = index.ids()
    assert len(ids) == len(index) and index.dim >= 1
    query = np.ones((2, index.dim), dtype=np.float32)
    found, scores = index.search(query, k=min(len(index), 5) or 1)
    assert found.shape == scores.shape == (2, min(len(index), 5) or 1), (found.shape, scores.shape)
    assert set(found[found >= 0].tolist()) <= set(ids.astype(np.int64).tolist())
    if len(ids):
        vector = index.reconstruct(int(ids[0]))
        assert vector.shape == (index.dim,)
        assert int(ids[0]) in index
        assert index.remove(ids[:1]) == 1 and len(index) == len(ids) - 1


def check(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    for mmap in (False, True):
        try:
            index = FlatIndex.load(_PATH, mmap=mmap)
        except IndexFileError:
            continue
        _use(index)


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
