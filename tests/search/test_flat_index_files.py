"""save / load: round trips, memory mapping, and files that must be refused."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
import xxhash

import faceindex
from faceindex import FlatIndex, IndexFileError

HEADER = struct.Struct("<8sIIIIIIQQ16s")
BLOCK = 1 << 20


def checksum(body: bytes) -> int:
    """The format's checksum, recomputed independently: XXH64 of the XXH64 digests of 1 MiB blocks."""
    digests = [xxhash.xxh64_intdigest(body[i : i + BLOCK], seed=b) for b, i in enumerate(range(0, len(body), BLOCK))]
    digests.append(len(body))
    return xxhash.xxh64_intdigest(struct.pack(f"<{len(digests)}Q", *digests), seed=0x66616365696478)


def rewrite(path: Path, body: bytes) -> None:
    path.write_bytes(body + struct.pack("<Q", checksum(body)))


def filled(metric: str = "cosine", dtype: str = "f32", n: int = 300, dim: int = 37, seed: int = 0) -> FlatIndex:
    rng = np.random.default_rng(seed)
    index = FlatIndex(dim, metric, dtype)
    index.add(rng.permutation(10_000)[:n].astype(np.uint64), rng.standard_normal((n, dim)).astype(np.float32))
    return index


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip(tmp_path: Path, metric: str, dtype: str, mmap: bool) -> None:
    index = filled(metric, dtype)
    path = tmp_path / "index.fidx"
    index.save(path)
    loaded = FlatIndex.load(path, mmap=mmap)
    assert (loaded.dim, loaded.metric, loaded.dtype, len(loaded)) == (index.dim, metric, dtype, len(index))
    assert loaded.is_mapped == mmap
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    queries = np.random.default_rng(1).standard_normal((30, index.dim)).astype(np.float32)
    for k in (1, 10, 400):
        a, b = index.search(queries, k), loaded.search(queries, k)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    some = int(index.ids()[5])
    np.testing.assert_array_equal(loaded.reconstruct(some), index.reconstruct(some))
    # Saving what was loaded writes the same bytes.
    loaded.save(tmp_path / "again.fidx")
    assert (tmp_path / "again.fidx").read_bytes() == path.read_bytes()


def test_checksum_is_xxh64_over_block_digests(tmp_path: Path) -> None:
    # Larger than one checksum block, so the block structure is exercised.
    index = filled(n=5000, dim=128)
    path = tmp_path / "big.fidx"
    index.save(path)
    data = path.read_bytes()
    assert len(data) > 2 * BLOCK
    assert struct.unpack("<Q", data[-8:])[0] == checksum(data[:-8])


def test_mapped_index_copies_on_first_change_and_leaves_the_file_alone(tmp_path: Path) -> None:
    index = filled(n=100)
    path = tmp_path / "index.fidx"
    index.save(path)
    before = path.read_bytes()
    loaded = FlatIndex.load(path)
    assert loaded.is_mapped and loaded.memory_bytes < 10_000
    loaded.add([999_999], np.ones((1, index.dim), dtype=np.float32))
    assert not loaded.is_mapped
    removed_id = int(index.ids()[0])
    assert loaded.remove([removed_id]) == 1
    assert removed_id not in loaded and 999_999 in loaded and len(loaded) == 100
    assert path.read_bytes() == before
    # The file still loads as it was.
    again = FlatIndex.load(path)
    assert len(again) == 100 and removed_id in again and 999_999 not in again


def test_empty_index_round_trip(tmp_path: Path) -> None:
    FlatIndex(8, "l2", "i8").save(tmp_path / "empty.fidx")
    loaded = FlatIndex.load(tmp_path / "empty.fidx")
    assert len(loaded) == 0 and loaded.metric == "l2" and loaded.dtype == "i8"
    ids, scores = loaded.search(np.ones(8, dtype=np.float32), 3)
    assert (ids == -1).all() and np.isnan(scores).all()


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "index.fidx"
    filled(n=10).save(path)
    filled(n=20, seed=3).save(path)
    assert len(FlatIndex.load(path)) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.fidx"]


def test_save_into_a_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot create"):
        filled(n=5).save(tmp_path / "no" / "such" / "dir" / "index.fidx")


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "index.fidx"
    filled(n=50, dim=20).save(path)
    return path, path.read_bytes()


@pytest.mark.parametrize("keep", [0, 1, 7, 63, 64, 71, 500, -9, -8, -1])
def test_truncated_files_are_refused(saved: tuple[Path, bytes], keep: int) -> None:
    path, data = saved
    path.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(IndexFileError, match="too short|truncated|bad magic|checksum"):
        FlatIndex.load(path)


def test_trailing_bytes_are_refused(saved: tuple[Path, bytes]) -> None:
    path, data = saved
    path.write_bytes(data + b"\0" * 16)
    with pytest.raises(IndexFileError, match="trailing bytes"):
        FlatIndex.load(path)


@pytest.mark.parametrize("offset", [0, 9, 16, 20, 32, 40, 64, 200, 1000, -20, -1])
def test_any_altered_byte_is_refused(saved: tuple[Path, bytes], offset: int) -> None:
    path, data = saved
    altered = bytearray(data)
    altered[offset] ^= 0x10
    path.write_bytes(bytes(altered))
    with pytest.raises(IndexFileError):
        FlatIndex.load(path, mmap=offset % 2 == 0)


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04" + b"\0" * 200, b"\x89PNG\r\n\x1a\n" + os.urandom(500), os.urandom(4096)],
    ids=["empty", "zip", "png", "random"],
)
def test_foreign_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "foreign.fidx"
    path.write_bytes(content)
    with pytest.raises(IndexFileError, match="not a faceindex FlatIndex file"):
        FlatIndex.load(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        FlatIndex.load(tmp_path / "missing.fidx")
    with pytest.raises(IndexFileError, match="not a regular file"):
        FlatIndex.load(tmp_path)


def edit_header(data: bytes, **changes: object) -> bytes:
    fields = dict(zip(["magic", "version", "header", "dim", "metric", "dtype", "panel", "count", "size", "reserved"],
                      HEADER.unpack_from(data)))
    fields.update(changes)
    return HEADER.pack(*fields.values()) + data[HEADER.size : -8]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": 2}, "unsupported FlatIndex format version 2"),
        ({"dim": 0}, "dim 0"),
        ({"dim": 21}, "file size field"),
        ({"metric": 7}, "metric 7"),
        ({"dtype": 3}, "dtype 3"),
        ({"panel": 8}, "panel width"),
        ({"count": 49}, "padding rows are not empty"),
        ({"count": 47}, "file size field"),
        ({"count": 2**62}, "cannot fit the file"),
        ({"reserved": b"\1" + b"\0" * 15}, "reserved"),
    ],
)
def test_inconsistent_headers_are_refused_even_with_a_valid_checksum(
    saved: tuple[Path, bytes], changes: dict[str, object], message: str
) -> None:
    path, data = saved
    rewrite(path, edit_header(data, **changes))
    with pytest.raises(IndexFileError, match=message):
        FlatIndex.load(path)


def test_duplicate_or_out_of_range_ids_are_refused_even_with_a_valid_checksum(saved: tuple[Path, bytes]) -> None:
    path, data = saved
    body = bytearray(data[:-8])
    body[64 + 8 : 64 + 16] = body[64:72]  # second id = first id
    rewrite(path, bytes(body))
    with pytest.raises(IndexFileError, match="stored twice"):
        FlatIndex.load(path)
    body = bytearray(data[:-8])
    body[64:72] = struct.pack("<Q", 2**63 + 5)
    rewrite(path, bytes(body))
    with pytest.raises(IndexFileError, match="out of range"):
        FlatIndex.load(path)


def test_a_damaged_index_file_is_bad_input_callers_can_catch_as_value_error(tmp_path: Path) -> None:
    """What IndexFileError is for: a file that is not a FlatIndex is refused with an error that names
    it, that `except ValueError` (bad input) catches, and that the CLI answers with its bad-input code."""
    from faceindex.errors import EXIT_BAD_INPUT

    path = tmp_path / "not-an-index.fidx"
    path.write_bytes(b"these bytes are no index file at all" * 4)
    with pytest.raises(ValueError) as caught:
        FlatIndex.load(path)
    assert type(caught.value) is faceindex.IndexFileError and caught.value.exit_code == EXIT_BAD_INPUT
    assert str(caught.value) == f"not a faceindex FlatIndex file (bad magic): {path}"


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_save_to_fd_writes_the_file_bytes_and_a_memfd_loads_back(tmp_path: Path, dtype: str) -> None:
    """save_to_fd gives what save() writes, at the descriptor's offset (an encrypted cache's plaintext)."""
    index = filled(dtype=dtype, n=333)
    index.save(tmp_path / "x.fidx")
    fd = os.memfd_create("test-index", os.MFD_CLOEXEC)
    try:
        os.write(fd, b"prefix")
        index.save_to_fd(fd)
        size = os.lseek(fd, 0, os.SEEK_END)
        assert os.pread(fd, size, 0) == b"prefix" + (tmp_path / "x.fidx").read_bytes()
        plain = os.memfd_create("test-index", os.MFD_CLOEXEC)
        index.save_to_fd(plain)
        loaded = FlatIndex.load(f"/proc/self/fd/{plain}", mmap=True)
        os.close(plain)  # the mapping outlives the descriptor
        assert loaded.is_mapped and np.array_equal(loaded.ids(), index.ids())
        queries = np.random.default_rng(1).standard_normal((4, 37)).astype(np.float32)
        assert np.array_equal(loaded.search(queries, 5)[0], index.search(queries, 5)[0])
    finally:
        os.close(fd)
    with pytest.raises(TypeError, match="fd must be an int"):
        index.save_to_fd("3")  # type: ignore[arg-type]
    with pytest.raises(OSError, match="cannot write index file: Bad file descriptor"):
        index.save_to_fd(999_999)
