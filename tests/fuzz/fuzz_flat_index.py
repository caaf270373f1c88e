"""Fuzz harness: FlatIndex.load on arbitrary file bytes, copied and memory-mapped, then used.

Each input is loaded as it is, and again with its trailing checksum recomputed, so that
mutations reach the C++ header and row checks behind the checksum (the C++ is not
coverage-instrumented: without this nearly every mutant stops at "checksum mismatch").
Accepted outcomes: IndexFileError, or an index whose every operation works on what it holds.
"""

from __future__ import annotations

import os
import struct
import tempfile

import numpy as np
import xxhash

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


def checksum(data: bytes) -> int:
    """The file format's checksum (cpp/search/index_file.cpp): xxh64 of each 1 MiB block seeded
    with its number, then xxh64 of those digests and the byte count."""
    digests = [xxhash.xxh64_intdigest(data[i:i + (1 << 20)], seed=n) for n, i in enumerate(range(0, len(data), 1 << 20))]
    digests.append(len(data))
    return xxhash.xxh64_intdigest(struct.pack(f"<{len(digests)}Q", *digests), seed=0x66616365696478)


def check(data: bytes) -> None:
    variants = [data]
    if len(data) > 72:
        variants.append(data[:-8] + struct.pack("<Q", checksum(data[:-8])))
    for variant in variants:
        with open(_PATH, "wb") as f:
            f.write(variant)
        for mmap in (False, True):
            try:
                index = FlatIndex.load(_PATH, mmap=mmap)
            except IndexFileError:
                continue
            _use(index)


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
