"""Encryption at rest: the key, where it comes from, and which collections are encrypted.

A key is 32 random bytes (AES-256), given as bytes or read from a key file: key_file=,
else the file named by $FACEINDEX_KEY_FILE. A key file holds the 32 bytes raw
(`head -c 32 /dev/urandom`) or as 64 hex digits (`openssl rand -hex 32`). A key file
that group or others may read is refused, as ssh refuses such a private key: a key
anyone can read protects nothing, and a warning is easy to miss.

An encrypted collection has the file encryption.json beside its database, written when
it is created: the formats used and a key check (an HMAC of a fixed text under the key),
so that a missing key, a key for a plain collection and a wrong key are each told apart
from a damaged database. The key itself is never stored, logged or shown in a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

from faceindex.collection import permissions
from faceindex.errors import CollectionFileError, CollectionKeyError

KEY_FILE_ENV = "FACEINDEX_KEY_FILE"
KEY_BYTES = 32
MARKER_NAME = "encryption.json"
_FORMAT = 1
DATABASE_CIPHER = "sqlcipher-4/raw-key"
CACHE_CIPHER = "aes-256-gcm/hkdf-sha256"


class CollectionKey:
    """A 256-bit key for encrypted collections. Its repr and str never show the key."""

    __slots__ = ("_key", "source")

    def __init__(self, key: bytes, source: str = "the key given") -> None:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise CollectionKeyError(f"a collection key must be {KEY_BYTES} bytes, got {type(key).__name__}")
        raw = bytes(key)
        if len(raw) != KEY_BYTES:
            raise CollectionKeyError(f"a collection key must be {KEY_BYTES} bytes (AES-256), got {len(raw)} bytes")
        self._key = raw
        self.source = source  # where it came from, for messages: "the key given" or "the key in <file>"

    def __repr__(self) -> str:
        return f"CollectionKey(<{KEY_BYTES} bytes: {self.source}>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a CollectionKey is not pickled: pass its key file to the other process")

    @property
    def raw(self) -> bytes:
        """The 32 key bytes, for the ciphers only."""
        return self._key

    def sqlcipher_pragma(self) -> str:
        """SQLCipher's `PRAGMA key` for a raw 256-bit key (no passphrase derivation)."""
        return f"PRAGMA key = \"x'{self._key.hex()}'\""

    def check_value(self) -> str:
        """What encryption.json records to recognise this key; reveals nothing of it (HMAC-SHA256)."""
        return hmac.new(self._key, b"faceindex collection key check 1", hashlib.sha256).hexdigest()


def read_key_file(path: str | os.PathLike[str]) -> CollectionKey:
    """The key in a key file: 32 raw bytes or 64 hex digits, readable by its owner only."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise CollectionKeyError(f"key file {path} does not exist") from e
    except OSError as e:
        raise CollectionKeyError(f"cannot read key file {path}: {e.strerror}") from e
    if mode & 0o077:
        raise CollectionKeyError(
            f"key file {path} is open to group or others (mode {mode:04o}): run `chmod 600 {path}`")
    if len(data) == KEY_BYTES:
        return CollectionKey(data, f"the key in {path}")
    text = data.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return CollectionKey(bytes.fromhex(text.decode("ascii")), f"the key in {path}")
        except (UnicodeDecodeError, ValueError):
            pass
    raise CollectionKeyError(
        f"key file {path} must hold {KEY_BYTES} raw bytes or {2 * KEY_BYTES} hex digits; it holds {len(data)} bytes "
        "(make one with `head -c 32 /dev/urandom > FILE` or `openssl rand -hex 32 > FILE`)")


def resolve_key(key: bytes | CollectionKey | None, key_file: str | os.PathLike[str] | None) -> CollectionKey | None:
    """The key from key=, else key_file=, else $FACEINDEX_KEY_FILE; None for plain collections."""
    if key is not None and key_file is not None:
        raise ValueError("give key= or key_file=, not both")
    if isinstance(key, CollectionKey):
        return key
    if key is not None:
        return CollectionKey(key)
    if key_file is not None:
        return read_key_file(key_file)
    configured = os.environ.get(KEY_FILE_ENV)
    return read_key_file(configured) if configured else None


def write_marker(directory: Path, key: CollectionKey) -> None:
    """Record in a new collection's folder that it is encrypted, and with which key."""
    path = directory / MARKER_NAME
    permissions.create_private_file(path)
    text = json.dumps({"format": _FORMAT, "database": DATABASE_CIPHER, "cache": CACHE_CIPHER,
                       "key_check": key.check_value()}, indent=1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def is_encrypted(directory: Path) -> bool:
    return (directory / MARKER_NAME).is_file()


def check_key(directory: Path, collection_id: str, key: CollectionKey | None) -> None:
    """CollectionKeyError unless key opens the collection: None for a plain one, its own key for an encrypted one."""
    path = directory / MARKER_NAME
    if not path.is_file():
        if key is not None:
            raise CollectionKeyError(
                f"collection {collection_id!r} is not encrypted, but a key was given ({key.source}): "
                f"open it without a key (unset {KEY_FILE_ENV})")
        return
    if key is None:
        raise CollectionKeyError(
            f"collection {collection_id!r} is encrypted: open it with its key "
            f"(Collections(key=...) or key_file=, or {KEY_FILE_ENV} / --key-file for the command)")
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        expected = recorded["key_check"]
        known = (recorded["format"], recorded["database"], recorded["cache"]) == (_FORMAT, DATABASE_CIPHER, CACHE_CIPHER)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise CollectionFileError(f"{path}: damaged encryption record: {e}") from e
    if not known or not isinstance(expected, str):
        raise CollectionFileError(
            f"{path}: encryption format {recorded.get('format')!r} ({recorded.get('database')!r}, "
            f"{recorded.get('cache')!r}) is not one this faceindex reads: upgrade faceindex")
    if not hmac.compare_digest(expected, key.check_value()):
        raise CollectionKeyError(f"collection {collection_id!r}: wrong key ({key.source} is not this collection's key)")
