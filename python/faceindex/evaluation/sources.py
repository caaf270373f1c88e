"""What `faceindex eval` reads: a folder of identities or a pairs file, a groups file, and the
provenance of a run (machine, pack, versions, date) so a report can be reproduced."""

from __future__ import annotations

import csv
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
                 on_image: Callable[[Path], None] = lambda _: None) -> Embedded:
    """The largest face of each image; an image without a face (or unreadable) is kept, marked."""
    dim = engine.pack.embedding_size
    embeddings = np.zeros((len(items), dim), dtype=np.float32)
    has_face = np.zeros(len(items), dtype=bool)
    failures = []
    for i, (path, _) in enumerate(items):
        try:
            faces = engine.analyze(path)
        except (FaceIndexError, OSError) as error:
            failures.append(f"{path}: {error}")
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


def provenance(engine: FaceEngine, source: Path, images: int, identities: int, mode: str) -> dict[str, Any]:
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
        "source": str(source.resolve()),
        "mode": mode,
        "images": images,
        "identities": identities,
        "command": " ".join(["faceindex", *sys.argv[1:]]) if sys.argv and "faceindex" in sys.argv[0] else None,
    }
