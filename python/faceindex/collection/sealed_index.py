"""A FlatIndex file encrypted with AES-256-GCM: an encrypted collection's index cache.

The plaintext is the FlatIndex file format itself, written into a memfd (memory, never a
file on disk), encrypted from there in chunks, and on load decrypted back into a memfd
that FlatIndex maps: no plaintext copy of the index ever reaches the disk.

Layout: header (magic "FIDXSEAL", version, chunk size, 32-byte salt), then the chunks,
each AES-256-GCM ciphertext + 16-byte tag. The chunk key is HKDF-SHA256(collection key,
salt): a fresh random salt per file, so nonces never repeat under one key, and each
nonce is the chunk's number and a last-chunk flag (the STREAM construction), so chunks
cannot be reordered, dropped or the file cut at a chunk boundary. Every chunk
authenticates the header. Any failure is IndexFileError: the caller rebuilds from the
database, as for any damaged cache file.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from faceindex.collection.encryption import CollectionKey
from faceindex.errors import IndexFileError
from faceindex.flat_index import FlatIndex

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"FIDXSEAL"
_VERSION = 1
_HEADER = struct.Struct("<8sII32s")  # magic, version, chunk size, salt
CHUNK_BYTES = 4 << 20  # 4 MiB: AES-GCM's per-call limit is far away, and a chunk's copy stays small
_TAG = 16
_INFO = b"faceindex index cache 1"


def _aead(key: CollectionKey, salt: bytes) -> AESGCM:
    # Imported here: a plain collection never loads cryptography.
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError as e:
        raise ImportError(f"encrypted collections need cryptography: pip install 'faceindex[encryption]' ({e})") from e

    chunk_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key.raw)
    return AESGCM(chunk_key)


def _nonce(number: int, last: bool) -> bytes:
    return number.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def save(index: FlatIndex, path: Path, key: CollectionKey) -> None:
    """Write index to path encrypted, atomically (temporary file, fsync, rename), owner-only."""
    salt = os.urandom(32)
    header = _HEADER.pack(MAGIC, _VERSION, CHUNK_BYTES, salt)
    aead = _aead(key, salt)
    plain = os.memfd_create("faceindex-index", os.MFD_CLOEXEC)
    try:
        index.save_to_fd(plain)
        size = os.lseek(plain, 0, os.SEEK_END)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(out, 0o600)
            _write_all(out, header)
            for number, offset in enumerate(range(0, size, CHUNK_BYTES)):
                chunk = os.pread(plain, CHUNK_BYTES, offset)
                _write_all(out, aead.encrypt(_nonce(number, offset + len(chunk) >= size), chunk, header))
            os.fsync(out)
            os.close(out)
            out = -1
            os.rename(tmp, path)
        except BaseException:
            if out >= 0:
                os.close(out)
            tmp.unlink(missing_ok=True)
            raise
    finally:
        os.close(plain)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: Path, key: CollectionKey) -> FlatIndex:
    """The index in an encrypted file; IndexFileError if it is damaged, altered or under another key."""
    with open(path, "rb") as f:
        header = f.read(_HEADER.size)
        if len(header) != _HEADER.size:
            raise IndexFileError(f"not an encrypted faceindex index (too short): {path}")
        magic, version, chunk_bytes, salt = _HEADER.unpack(header)
        if magic != MAGIC:
            raise IndexFileError(f"not an encrypted faceindex index (bad magic): {path}")
        if version != _VERSION or not 0 < chunk_bytes <= 1 << 30:
            raise IndexFileError(f"unsupported encrypted index (version {version}, chunk size {chunk_bytes}): {path}")
        aead = _aead(key, salt)
        from cryptography.exceptions import InvalidTag

        plain = os.memfd_create("faceindex-index", os.MFD_CLOEXEC)
        try:
            number, sealed = 0, f.read(chunk_bytes + _TAG)
            if not sealed:
                raise IndexFileError(f"encrypted index holds no data: {path}")
            while sealed:
                following = f.read(chunk_bytes + _TAG)
                try:
                    chunk = aead.decrypt(_nonce(number, not following), sealed, header)
                except InvalidTag:
                    raise IndexFileError(
                        f"encrypted index does not decrypt with this collection's key (altered, cut short, "
                        f"or written under another key): {path}") from None
                _write_all(plain, chunk)
                number, sealed = number + 1, following
            # FlatIndex checks the decrypted bytes as for any index file, and maps them from memory.
            return FlatIndex.load(f"/proc/self/fd/{plain}", mmap=True)
        finally:
            os.close(plain)  # the mapping keeps the memory until the index lets go of it


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
