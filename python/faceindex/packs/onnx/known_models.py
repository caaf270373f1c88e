"""Known model files and faceindex's measurements of them, from the manifest in models/.

A file is identified by its sha256. A file carrying the name of an official
release file with other content is refused (a corrupt download or a
substitute); a file faceindex has measured (models/onnx_models.json's "measurements": its
input convention and threshold) loads quietly; any other file loads with an
UnverifiedModelWarning.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from faceindex.errors import ModelFileError, ModelHashError, UnverifiedModelWarning

MANIFEST = "onnx_models.json"


@dataclass(frozen=True)
class KnownModel:
    """An official release file: where it comes from, what it is and needs."""

    names: tuple[str, ...]
    sha256: str
    size: int | None
    role: str  # "detector" | "recognizer"
    family: str
    packs: tuple[str, ...]
    license: str
    source: str
    needs: str


@dataclass(frozen=True)
class Measurement:
    """What faceindex measured for one file (by sha256): its recognizer input and threshold."""

    sha256: str
    file: str
    recognizer_input: dict[str, Any] | None
    threshold: float | None
    threshold_source: str


@dataclass(frozen=True)
class Identity:
    """One model file as loaded: its content hash and what we know of it."""

    path: Path
    sha256: str
    known: KnownModel | None
    measurement: Measurement | None

    @property
    def short(self) -> str:
        return self.sha256[:12]

    def describe(self) -> str:
        status = "known" if self.known else "measured" if self.measurement else "unverified"
        return f"{self.path.name} (sha256 {self.short}…, {status})"


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    text = (resources.files("faceindex") / "models" / MANIFEST).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def known_models() -> tuple[KnownModel, ...]:
    return tuple(
        KnownModel(
            names=tuple(m["names"]), sha256=m["sha256"], size=m.get("size"), role=m["role"], family=m["family"],
            packs=tuple(m.get("packs", ())), license=m["license"], source=m["source"], needs=m["needs"],
        )
        for m in _manifest()["models"]
    )


@lru_cache(maxsize=1)
def measurements() -> tuple[Measurement, ...]:
    return tuple(
        Measurement(
            sha256=m["sha256"], file=m["file"], recognizer_input=m.get("recognizer_input"),
            threshold=m.get("threshold"), threshold_source=m["threshold_source"],
        )
        for m in _manifest()["measurements"]
    )


_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _hash_cache.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = _hash_cache[key] = h.hexdigest()
    return digest


def identify(path: Path, stacklevel: int = 2) -> Identity:
    """Hash a model file and match it against the manifest; refuse an official name with
    the wrong content, warn for a file nobody vouches for (neither an official release file
    nor one faceindex measured)."""
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise IsADirectoryError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path} is empty (0 bytes): an interrupted download?")
    digest = file_sha256(path)
    known = next((m for m in known_models() if m.sha256 == digest), None)
    measured = next((m for m in measurements() if m.sha256 == digest), None)
    if known is None:
        namesake = next((m for m in known_models() if path.name in m.names), None)
        if namesake is not None:
            raise ModelHashError(
                f"{path} has the name of the official {path.name} ({namesake.source}) but not its content: "
                f"sha256 {digest}, expected {namesake.sha256}"
                + (f" ({path.stat().st_size} bytes, expected {namesake.size})" if namesake.size else "")
                + ". Refusing a corrupt or substituted file; download it again, or rename it if it is "
                "a different model on purpose."
            )
    if known is None and measured is None:
        warnings.warn(
            UnverifiedModelWarning(
                f"{path} (sha256 {digest}) is not one of the model files faceindex knows; it is loaded "
                "unverified"
            ),
            stacklevel=stacklevel + 1,
        )
    return Identity(path, digest, known, measured)
