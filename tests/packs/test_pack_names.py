"""A pack name is one folder under the models directory, and a pack.json names files inside that
folder: no name reaches outside its root (synthetic models, no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceindex.errors import InputError, ModelFileError
from faceindex.packs.onnx.models_dir import find_pack
from synthetic_onnx import constant_scrfd, pooled_recognizer

ESCAPES = ["../outside", "..", ".", "a/b", "/abs", "a\\b", "x\x00y", "", "a\nb", "p" * 256, 3, None]


def pack_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    constant_scrfd(folder / "det.onnx", 64, True, (8, 2, 2))
    pooled_recognizer(folder / "rec.onnx", batch="n")
    return folder


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """A models directory with pack "good", and a valid pack folder beside it (outside the root)."""
    root = tmp_path / "models"
    pack_folder(root / "good")
    pack_folder(tmp_path / "outside")
    return root, tmp_path / "outside"


def test_a_plain_name_is_found(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    found = find_pack("good", root)
    assert (found.detector.name, found.recognizer.name) == ("det.onnx", "rec.onnx")
    assert found.folder.parent == root


@pytest.mark.parametrize("bad", ESCAPES, ids=repr)
def test_pack_names_that_could_escape_are_refused(roots: tuple[Path, Path], bad: object) -> None:
    root, _ = roots
    with pytest.raises(InputError, match="pack name"):
        find_pack(bad, root)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["../outside/det.onnx", "..", "/etc/passwd", "sub/det.onnx", "det.onnx\x00", "",
                                 "d" * 256, 5], ids=repr)
def test_pack_json_names_only_files_in_the_pack_folder(roots: tuple[Path, Path], bad: object) -> None:
    root, _ = roots
    (root / "good" / "pack.json").write_text(json.dumps({"detector": bad, "recognizer": "rec.onnx"}))
    with pytest.raises(ModelFileError, match="'detector' must name an .onnx file in the pack folder"):
        find_pack("good", root)
