"""Which files are photos and which are videos, by name: the one list that every folder scan
(indexing, ingestion through Ray, evaluation, int8 calibration media) goes by."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv",
                            ".wmv"})


def suffix_of(name: str | os.PathLike[str]) -> str:
    """The lower-case suffix of a file name or URL (its query left out)."""
    return PurePosixPath(str(name).split("?", 1)[0]).suffix.lower()


def is_image(name: str | os.PathLike[str]) -> bool:
    return suffix_of(name) in IMAGE_SUFFIXES


def is_video(name: str | os.PathLike[str]) -> bool:
    return suffix_of(name) in VIDEO_SUFFIXES
