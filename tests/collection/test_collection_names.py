"""A collection id is one plain name under the home's collections folder: no id reaches outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceindex import Collections
from faceindex.errors import InputError
from collection_helpers import SYNTHETIC

ESCAPES = [
    "../x", "a/b", "/etc", "/tmp/x", "a\\b", "x\x00y", "\x00", "", "a\nb", "name\n", " ", "~x", "~.x",
    "." + "a" * 254, "a" * 256, "é", "a b", 7, None, b"bytes",
]


@pytest.mark.parametrize("bad", ESCAPES, ids=repr)
def test_names_that_could_escape_or_hide_are_refused_everywhere(tmp_path: Path, bad: object) -> None:
    home = tmp_path / "home"
    collections = Collections(home)
    for call in (collections.path_of, lambda c: collections.create_collection(c, SYNTHETIC),
                 collections.collection, collections.describe_collection, collections.delete_collection):
        with pytest.raises(InputError, match="collection id"):
            call(bad)  # type: ignore[arg-type]
    # Nothing was written anywhere: not in the home, not beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == (["home"] if home.exists() else [])
    assert not home.exists() or list(home.rglob("*")) in ([], [home / "collections"])


@pytest.mark.parametrize("dotted", [".", "..", ".hidden", ".creating-0123", ".deleting-0123", "." + "d" * 253])
def test_ids_starting_with_a_dot_live_in_their_own_folder(tmp_path: Path, dotted: str) -> None:
    # Rekognition's pattern allows them; the home's own folders start with '.', and '.' and '..' are
    # no folder names: such an id lives in '~' + id, inside the collections folder.
    collections = Collections(tmp_path)
    plain = collections.create_collection("plain", SYNTHETIC)
    plain.close()
    collections.create_collection(dotted, SYNTHETIC).close()
    assert collections.path_of(dotted) == collections.root / f"~{dotted}"
    assert collections.list_collections() == sorted(["plain", dotted])
    assert collections.describe_collection(dotted).collection_id == dotted
    with collections.collection(dotted) as opened:
        assert opened.collection_id == dotted
    collections.delete_collection(dotted)
    assert collections.list_collections() == ["plain"]
    assert sorted(p.name for p in collections.root.iterdir()) == ["plain"]


def test_the_longest_id_is_created_listed_and_deleted(tmp_path: Path) -> None:
    # 255 bytes is NAME_MAX: the staging and deleting folders must not add to it.
    longest = "L" * 255
    collections = Collections(tmp_path)
    collections.create_collection(longest, SYNTHETIC).close()
    assert collections.list_collections() == [longest]
    collections.delete_collection(longest)
    assert collections.list_collections() == [] and list(collections.root.iterdir()) == []


def test_a_trailing_newline_is_not_a_valid_id(tmp_path: Path) -> None:
    # A "$"-anchored pattern matches before a final newline; the id would have named another folder.
    with pytest.raises(InputError):
        Collections(tmp_path).create_collection("people\n", SYNTHETIC)
    assert not (tmp_path / "collections" / "people\n").exists()
