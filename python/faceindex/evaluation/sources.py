"""What `faceindex eval` reads: a folder of identities or a pairs file, a groups file, and the
provenance of a run (machine, pack, versions, date) so a report can be reproduced."""

from __future__ import annotations

import csv
import hashlib
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceindex.engine import FaceEngine
from faceindex.errors import FaceIndexError, InputError
from faceindex.media_files import IMAGE_SUFFIXES



@dataclass(frozen=True)
class Embedded:
    """One row per image: its identity, its largest face's embedding (zeros without a face)."""

    paths: list[Path]
    identities: list[str]
    embeddings: npt.NDArray[np.float32]
    has_face: npt.NDArray[np.bool_]
    failures: list[str]  # "path: why" for images that could not be read (counted as without a face)


def identity_folder(root: str | Path) -> list[tuple[Path, str]]:
    """(image, identity) for each image in each sub-folder of root (the sub-folder names the person)."""
    root = Path(root)
    found = [(p, person.name) for person in sorted(root.iterdir()) if person.is_dir()
             for p in sorted(person.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise InputError(f"{root}: no images in sub-folders (expected one sub-folder per identity)")
    return found


def embed_images(engine: FaceEngine, items: Sequence[tuple[Path, str]],
                 on_image: Callable[[Path], None] = lambda _: None, root: Path | None = None) -> Embedded:
    """The largest face of each image; an image without a face (or unreadable) is kept, marked.
    root: unreadable images are named relative to it (a report names no folder of the machine it ran on)."""
    dim = engine.pack.embedding_size
    embeddings = np.zeros((len(items), dim), dtype=np.float32)
    has_face = np.zeros(len(items), dtype=bool)
    failures = []
    for i, (path, _) in enumerate(items):
        try:
            faces = engine.analyze(path)
        except (FaceIndexError, OSError) as error:
            name = _relative(path, root)
            failures.append(f"{name}: {str(error).replace(str(path), name)}")
            faces = []
        if faces and faces[0].embedding is not None:
            embeddings[i] = faces[0].embedding
            has_face[i] = True
        on_image(path)
    return Embedded([p for p, _ in items], [name for _, name in items], embeddings, has_face, failures)


def read_groups(path: str | Path) -> dict[str, str]:
    """identity -> group from `identity,group` rows (a header row `identity,group` is skipped)."""
    groups: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), 1):
            if not row or row[0].startswith("#") or (line_no == 1 and [c.strip().lower() for c in row] ==
                                                      ["identity", "group"]):
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise InputError(f"{path}:{line_no}: expected `identity,group`, got {row!r}")
            groups[row[0].strip()] = row[1].strip()
    if not groups:
        raise InputError(f"{path}: no `identity,group` rows")
    return groups


def _relative(path: Path, root: Path | None) -> str:
    try:
        return path.relative_to(root).as_posix() if root is not None else path.name
    except ValueError:
        return path.name


def source_fingerprint(source: Path, images: Sequence[Path]) -> str:
    """sha256 of what was evaluated: each image's path relative to the source's folder and its
    size, and the pairs file's bytes. The same photos give the same fingerprint on any machine;
    the report names no folder of the machine it ran on."""
    root = source if source.is_dir() else source.parent
    digest = hashlib.sha256()
    if source.is_file():
        digest.update(source.read_bytes())
    for path in sorted(images):
        size = path.stat().st_size if path.is_file() else -1
        digest.update(f"{_relative(path, root)}\t{size}\n".encode())
    return "sha256:" + digest.hexdigest()


def provenance(engine: FaceEngine, source: Path, images: Sequence[Path], identities: int, mode: str,
               options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a report was made from and with. The source by its name and a fingerprint of its
    contents, never by its path: a report is shared, the folders it was made in are not."""
    import faceindex

    pack = engine.pack
    return {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "faceindex": faceindex.__version__,
        "build": dict(faceindex.build_info()),
        "pack": {"name": pack.name, "version": pack.version, "embedding_size": pack.embedding_size,
                 "default_threshold": pack.default_threshold, "threshold_source": pack.threshold_source,
                 "detector": pack.detector, "recognizer": pack.recognizer},
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "source": {"name": source.name, "fingerprint": source_fingerprint(source, images)},
        "mode": mode,
        "images": len(images),
        "identities": identities,
        "options": dict(options or {}),
    }
