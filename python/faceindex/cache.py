"""Where faceindex keeps files it derives from models (converted networks, engines), and how it writes them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from collections.abc import Callable


def cache_dir(part: str) -> Path:
    """`$FACEINDEX_CACHE/part`, else the platform's user cache directory for faceindex."""
    configured = os.environ.get("FACEINDEX_CACHE")
    if configured:
        return Path(configured) / part
    import platformdirs

    return Path(platformdirs.user_cache_dir("faceindex")) / part


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """write(temporary path) beside `path`, then rename it over `path`: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
