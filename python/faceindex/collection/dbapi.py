"""Which DB-API module a collection's database goes through, and the exception classes to catch.

A plain collection uses the standard library's sqlite3, exactly as before encryption
existed. An encrypted one uses sqlcipher3 (the sqlite3 module built against SQLCipher,
from the `encryption` extra): the same API, but its exception classes are its own, not
sqlite3's. Code that catches database errors catches errors() / database_errors() /
operational_errors(), which add sqlcipher3's classes once it has been loaded (until an
encrypted collection is opened it is not imported, so it cannot have raised anything).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import cast

_SQLCIPHER = "sqlcipher3.dbapi2"
ErrorClasses = tuple[type[Exception], ...]


def _classes(name: str) -> ErrorClasses:
    cipher = sys.modules.get(_SQLCIPHER)
    own: type[Exception] = getattr(sqlite3, name)
    return (own, getattr(cipher, name)) if cipher is not None else (own,)


def errors() -> ErrorClasses:
    """sqlite3.Error and its sqlcipher3 twin."""
    return _classes("Error")


def database_errors() -> ErrorClasses:
    """sqlite3.DatabaseError and its sqlcipher3 twin."""
    return _classes("DatabaseError")


def operational_errors() -> ErrorClasses:
    """sqlite3.OperationalError and its sqlcipher3 twin."""
    return _classes("OperationalError")


def sqlcipher() -> ModuleType:
    """sqlcipher3's DB-API module; ImportError saying how to install it when it is absent."""
    try:
        from sqlcipher3 import dbapi2
    except ImportError as e:
        raise ImportError(
            "encrypted collections need SQLCipher: pip install 'faceindex[encryption]' "
            f"(sqlcipher3-binary and cryptography) ({e})") from e
    return cast(ModuleType, dbapi2)


def open_database(path: Path, busy_timeout_s: float, sqlcipher_key: str | None) -> sqlite3.Connection:
    """A connection in autocommit mode; with sqlcipher_key (a `PRAGMA key` statement) through SQLCipher.

    sqlcipher3's Connection is typed as sqlite3's: it is the same class compiled against
    SQLCipher, with the same methods.
    """
    module = sqlite3 if sqlcipher_key is None else sqlcipher()
    conn = module.connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    if sqlcipher_key is None:
        return cast(sqlite3.Connection, conn)
    try:
        # The key must be the first statement. A wrong key is caught before this (the collection's
        # key check), so SQLCipher's own log lines on stderr would only repeat our error.
        conn.execute(sqlcipher_key)
        conn.execute("PRAGMA cipher_log_level = NONE")
        # SQLCipher 4's settings (AES-256-CBC pages, HMAC-SHA512, 4 KiB pages) pinned, so a later
        # SQLCipher with other defaults still opens the collections made now.
        conn.execute("PRAGMA cipher_compatibility = 4")
    except BaseException:
        conn.close()
        raise
    return cast(sqlite3.Connection, conn)
