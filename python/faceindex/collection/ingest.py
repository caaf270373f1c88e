"""Indexing files and folders into a collection: which files, which external ids, what happened to each."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from collections.abc import Callable, Iterable, Sequence

from faceindex.collection.collection import Collection
from faceindex.errors import ImageError
from faceindex.collection.quality_filter import QualityFilterSpec
from faceindex.collection.results import IndexFacesResult
from faceindex.media_files import IMAGE_SUFFIXES

ExternalIdFrom = Literal["filename", "parent-dir", "none"]


@dataclass(frozen=True)
class FileOutcome:
    path: str
    external_image_id: str | None
    result: IndexFacesResult | None = None
    error: str | None = None  # why the file could not be indexed


@dataclass
class IngestReport:
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def indexed_faces(self) -> int:
        return sum(len(f.result.face_records) for f in self.files if f.result)

    @property
    def unindexed_faces(self) -> int:
        return sum(len(f.result.unindexed_faces) for f in self.files if f.result)

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.error is not None]


def image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly, and images (by suffix) found recursively in folders, in sorted order.

    FileNotFoundError for a path that does not exist.
    """
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def external_id_of(path: Path, source: ExternalIdFrom) -> str | None:
    if source == "filename":
        return path.name
    if source == "parent-dir":
        return path.resolve().parent.name
    if source == "none":
        return None
    raise ValueError(f"external id source must be filename, parent-dir or none, got {source!r}")


def index_paths(
    collection: Collection,
    files: Sequence[Path],
    external_id_from: ExternalIdFrom = "filename",
    max_faces: int | None = None,
    quality_filter: QualityFilterSpec = "auto",
    on_file: Callable[[FileOutcome], None] | None = None,
) -> IngestReport:
    """index_faces on every file; a file that is not a readable image is reported, not fatal."""
    report = IngestReport()
    for path in files:
        external_id = external_id_of(path, external_id_from)
        try:
            outcome = FileOutcome(str(path), external_id, collection.index_faces(
                path, external_image_id=external_id, max_faces=max_faces, quality_filter=quality_filter))
        except (ImageError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
            outcome = FileOutcome(str(path), external_id, error=str(e))
        report.files.append(outcome)
        if on_file is not None:
            on_file(outcome)
    return report
