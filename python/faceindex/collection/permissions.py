"""Owner-only permissions for everything a collection writes: embeddings are biometric data.

Folders are made 0700 and files 0600 whatever the process umask is (the mode is set
explicitly after creation, since a umask can only take bits away and a umask of 0 would
leave a file as open as its create mode). SQLite gives its -wal, -shm and journal files
the database file's mode, so creating the database file 0600 covers them too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(path: Path) -> None:
    """mkdir path (its parent must exist) as 0700; FileExistsError if it is there."""
    os.mkdir(path, PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)


def ensure_private_dir(path: Path) -> None:
    """path and any missing parents; the folders made here are 0700, existing ones are left as they are."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            make_private_dir(folder)
        except FileExistsError:
            pass  # another process made it first


def create_private_file(path: Path) -> None:
    """An empty file at path, 0600; FileExistsError if it is there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def exposed(directory: Path) -> list[tuple[Path, int]]:
    """The folder itself and the files in it that group or others may read, write or enter, with their modes."""
    found = []
    for path in [directory, *sorted(directory.iterdir())]:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            continue  # removed meanwhile (a checkpointed -wal, a pruned cache file)
        if mode & 0o077 and not path.is_symlink():
            found.append((path, mode))
    return found


def exposure_warning(directory: Path) -> str | None:
    """A one-line warning naming what is open to others, or None when all is owner-only."""
    found = exposed(directory)
    if not found:
        return None
    listing = ", ".join(f"{p.name if p != directory else p} ({mode:04o})" for p, mode in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return (f"collection {directory} holds biometric data readable by group or others: {listing}{more}; "
            f"run `chmod -R go-rwx {directory}` to make it owner-only")
