"""Biometric data at rest: a collection's folder is 0700 and every file in it 0600, whatever the
umask; the CLI warns when a collection it opens is readable by group or others."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from faceindex import Collections
from faceindex.cli import main
from faceindex.collection.permissions import exposure_warning
from collection_helpers import SYNTHETIC, unit_vectors


@pytest.fixture(params=[0o000, 0o022, 0o002], ids=["umask-000", "umask-022", "umask-002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_every_file_and_folder_is_owner_only(tmp_path: Path, umask: int) -> None:
    home = tmp_path / "home"
    collections = Collections(home)
    with collections.create_collection("people", SYNTHETIC) as collection:
        collection.index_embeddings(unit_vectors(40, seed=1), pack=SYNTHETIC, external_image_id="a")
        collection.search_faces_by_embedding(unit_vectors(1, seed=2)[0], pack=SYNTHETIC)  # an audit row
        collection.save_cache()
        directory = collection.directory
        # While the collection is open SQLite's -wal and -shm files exist: they hold embeddings too.
        names = {p.name for p in directory.iterdir()}
        assert {"collection.db", "collection.db-wal", "collection.db-shm", "cache.lock"} <= names, names
        assert any(n.startswith("index-") and n.endswith(".fidx") for n in names), names
        open_files = {p.name: mode(p) for p in directory.iterdir()}
    assert {name: m for name, m in open_files.items() if m != 0o600} == {}
    assert mode(directory) == 0o700
    assert mode(collections.root) == 0o700 and mode(home) == 0o700  # made here, so made private
    assert {p.name: mode(p) for p in directory.iterdir() if mode(p) != 0o600} == {}
    assert [p.name for p in collections.root.iterdir()] == ["people"]  # no staging folder left behind


def test_a_saved_flat_index_is_owner_only(tmp_path: Path, umask: int) -> None:
    from faceindex import FlatIndex
    import numpy as np

    index = FlatIndex(8)
    index.add(np.arange(3, dtype=np.uint64), unit_vectors(3, seed=3, dim=8))
    index.save(tmp_path / "x.fidx")
    assert mode(tmp_path / "x.fidx") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["x.fidx"]  # the temp file was renamed, not left


def test_an_existing_home_keeps_its_mode(tmp_path: Path) -> None:
    home = tmp_path / "shared-home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    Collections(home).create_collection("c", SYNTHETIC).close()
    assert mode(home) == 0o755  # not ours to change
    assert mode(home / "collections") == 0o700 and mode(home / "collections" / "c") == 0o700


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_warns_when_a_collection_is_readable_by_others(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Collections(home).create_collection("people", SYNTHETIC) as collection:
        collection.index_embeddings(unit_vectors(5, seed=4), pack=SYNTHETIC)
        directory = collection.directory
    code, _, err = cli("collection", "describe", "people", "--home", str(home))
    assert code == 0 and "warning" not in err, err
    assert exposure_warning(directory) is None

    os.chmod(directory / "collection.db", 0o644)
    code, out, err = cli("collection", "describe", "people", "--home", str(home))
    assert code == 0 and "faces       5" in out
    assert "faceindex: warning:" in err and "collection.db (0644)" in err and "chmod -R go-rwx" in err, err

    os.chmod(directory / "collection.db", 0o600)
    os.chmod(directory, 0o750)
    code, _, err = cli("faces", "list", "people", "--home", str(home))
    assert code == 0, err
    assert f"{directory} (0750)" in err, err
