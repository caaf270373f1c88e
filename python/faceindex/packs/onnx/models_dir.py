"""Where pack folders live, and which files in a pack folder are its detector and recognizer.

The models directory is `models_dir=` if given, else $FACEINDEX_MODELS, else
~/.cache/faceindex/models. A pack folder (as insightface's buffalo_l) holds a
detector and a recognizer, and may hold other models, which are ignored. An
optional `pack.json` names the two and may set det_size, det_threshold and mirror;
without it, files are told apart by their ONNX signature.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceindex.errors import InputError, ModelFileError, PackNotFoundError, UnknownModelError
from faceindex.paths import child_path
from faceindex.packs.onnx.known_models import file_sha256, known_models
from faceindex.packs.onnx.signature import DetectorSignature, RecognizerSignature, read_signature, recognise

ENV_VAR = "FACEINDEX_MODELS"
DEFAULT_MODELS_DIR = Path("~/.cache/faceindex/models")
PACK_MANIFEST = "pack.json"
_MANIFEST_KEYS = {"detector", "recognizer", "det_size", "det_threshold", "version", "mirror"}


@dataclass(frozen=True)
class PackFolder:
    name: str
    folder: Path
    detector: Path
    recognizer: Path
    options: dict[str, Any] = field(default_factory=dict)  # det_size / det_threshold / mirror from pack.json
    version: str | None = None


def models_dir(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The models directory and what chose it ("models_dir=", "$FACEINDEX_MODELS" or "default")."""
    if explicit is not None:
        return Path(explicit).expanduser(), "models_dir="
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return DEFAULT_MODELS_DIR.expanduser(), "default"


def find_pack(name: str, models_root: str | os.PathLike[str] | None = None) -> PackFolder:
    root, chosen_by = models_dir(models_root)
    folder = child_path(root, name, "pack name")  # one folder name: never a path out of the models directory
    if not folder.is_dir():
        available = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise PackNotFoundError(
            f"no pack folder {name!r} in the models directory {root} (chosen by {chosen_by}; set models_dir= "
            f"or ${ENV_VAR} to look elsewhere). "
            + (f"Packs there: {', '.join(available)}." if available else "It holds no pack folders.")
            + " faceindex downloads nothing: put the pack's ONNX files there yourself."
        )
    manifest = folder / PACK_MANIFEST
    if manifest.exists():
        return _from_manifest(name, folder, manifest)
    return _by_signature(name, folder)


def _from_manifest(name: str, folder: Path, manifest: Path) -> PackFolder:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{manifest}: not readable JSON ({e})") from e
    if not isinstance(data, dict):
        raise ModelFileError(f"{manifest}: expected a JSON object")
    unknown = set(data) - _MANIFEST_KEYS
    if unknown:
        raise ModelFileError(f"{manifest}: unknown keys {sorted(unknown)}; allowed: {sorted(_MANIFEST_KEYS)}")
    paths = {}
    for role in ("detector", "recognizer"):
        value = data.get(role)
        try:
            paths[role] = child_path(folder, value, f"{manifest}: {role}")
        except InputError as e:
            raise ModelFileError(f"{manifest}: {role!r} must name an .onnx file in the pack folder ({e})") from e
        if not paths[role].is_file():
            raise PackNotFoundError(f"{manifest} names {role} {value!r}, which is not in {folder}")
    options: dict[str, Any] = {}
    if "det_size" in data:
        size = data["det_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            raise ModelFileError(f"{manifest}: det_size must be [width, height]")
        options["det_size"] = (size[0], size[1])
    if "det_threshold" in data:
        if not isinstance(data["det_threshold"], (int, float)):
            raise ModelFileError(f"{manifest}: det_threshold must be a number")
        options["det_threshold"] = float(data["det_threshold"])
    if "mirror" in data:
        if not isinstance(data["mirror"], bool):
            raise ModelFileError(f"{manifest}: mirror must be true or false")
        options["mirror"] = data["mirror"]
    version = data.get("version")
    return PackFolder(name, folder, paths["detector"], paths["recognizer"], options,
                      None if version is None else str(version))


def _by_signature(name: str, folder: Path) -> PackFolder:
    files = sorted(folder.glob("*.onnx"))
    roles: dict[str, list[Path]] = {"detector": [], "recognizer": []}
    seen = []
    by_hash = {m.sha256: m.role for m in known_models()}
    for path in files:
        role = by_hash.get(file_sha256(path)) if path.stat().st_size else None
        if role is None:
            try:
                signature = recognise(*read_signature(path), what=str(path))
            except (UnknownModelError, ModelFileError):
                role = None  # landmark, attribute and other models share pack folders; skip them
            else:
                if isinstance(signature, DetectorSignature):
                    role = "detector"
                elif isinstance(signature, RecognizerSignature):
                    role = "recognizer"
        seen.append(f"{path.name}: {role or 'neither'}")
        if role:
            roles[role].append(path)
    for role, found in roles.items():
        if len(found) != 1:
            problem = "no" if not found else f"{len(found)} candidate"
            raise PackNotFoundError(
                f"pack folder {folder} has {problem} {role}s ({'; '.join(seen) or 'no .onnx files'}). "
                f"Name them in {folder / PACK_MANIFEST}: {{\"detector\": \"...\", \"recognizer\": \"...\"}}"
            )
    return PackFolder(name, folder, roles["detector"][0], roles["recognizer"][0])
