"""Names a user gives (a collection id, a pack name) turned into paths that stay inside their root."""

from __future__ import annotations

import os
from pathlib import Path

from faceindex.errors import InputError

NAME_MAX = 255  # bytes in one path component (Linux, macOS)


def child_path(root: Path, name: object, what: str) -> Path:
    """root / name, where name must be one plain path component: InputError otherwise.

    Refused: non-strings, empty names, '.', '..', separators, NUL and other control
    characters, and names over NAME_MAX bytes. The result is checked lexically to lie
    directly under root, so no name can reach outside it.
    """
    if not isinstance(name, str):
        raise InputError(f"{what} must be a string, got {type(name).__name__}")
    problem = None
    if not name:
        problem = "is empty"
    elif name in (".", ".."):
        problem = "is '.' or '..'"
    elif "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        problem = "contains a path separator"
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        problem = "contains a NUL or control character"
    elif len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
        problem = f"is over {NAME_MAX} bytes"
    if problem:
        raise InputError(f"{what} {name!r} {problem}: it must be a single file or folder name directly inside {root}")
    path = root / name
    if path.parent != root or os.path.normpath(path) != os.path.join(os.path.normpath(root), name):
        raise InputError(f"{what} {name!r} does not name an entry directly inside {root}")
    return path


def fsync_directory(path: Path) -> None:
    """Make a rename or unlink inside `path` durable (the directory's entry is on disk)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
