"""Model packs: which detector and recognizer a FaceEngine runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceindex.packs.base import ModelPack

DEFAULT_PACK = "dlib"


def load_pack(
    pack: str | None = DEFAULT_PACK,
    *,
    detector: str | Path | None = None,
    recognizer: str | Path | None = None,
    backend: str = "auto",
    models_dir: str | Path | None = None,
    **options: Any,
) -> ModelPack:
    """The built-in dlib pack, a pack folder under the models directory, or explicit ONNX files."""
    if detector is not None or recognizer is not None:
        if detector is None or recognizer is None:
            raise ValueError("give both detector= and recognizer= model paths, or neither")
        from faceindex.packs.onnx import OnnxPack

        return OnnxPack.from_files(Path(detector), Path(recognizer), backend=backend, **options)
    if pack is None:
        pack = DEFAULT_PACK
    if pack == "dlib":
        from faceindex.packs.dlib import DlibPack

        return DlibPack(backend=backend, **options)
    from faceindex.packs.onnx import OnnxPack

    return OnnxPack.from_folder(pack, models_dir=models_dir, backend=backend, **options)


def what_changed(name: str, version: str) -> str:
    """Why the current version of a built-in pack cannot read embeddings of `version`, and what to do
    (empty when faceindex has nothing to say about that version)."""
    if name == "dlib":
        from faceindex.packs.dlib.pack import SINCE

        return SINCE.get(version, "")
    return ""


__all__ = ["DEFAULT_PACK", "ModelPack", "load_pack", "what_changed"]
