"""A collection whose database is damaged opens (or fails) with CollectionFileError naming the damage,
never a bare sqlite3, numpy or Python error (found by tests/fuzz/fuzz_collection_open.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from faceindex import Collections
from faceindex.errors import CollectionFileError
from collection_helpers import SYNTHETIC, unit_vectors


def make(tmp_path: Path) -> Path:
    with Collections(tmp_path).create_collection("c", SYNTHETIC) as collection:
        collection.index_embeddings(unit_vectors(3, seed=5), pack=SYNTHETIC)
    return tmp_path / "collections" / "c" / "collection.db"


@pytest.mark.parametrize(("key", "value", "said"), [
    ("embedding_size", 0, "embedding_size is 0"), ("embedding_size", 10**11, "embedding_size"),
    ("embedding_size", "128", "embedding_size is '128'"), ("generation", "abc", "generation"),
    ("generation", -1, "generation is -1"), ("erase_generation", 99, "erase_generation is after generation"),
    ("id_digest", "zz", "id_digest"), ("default_threshold", None, "default_threshold is None"),
    ("created_at", 1e300, "created_at"), ("pack", b"\xff", "pack is b'\\xff'"), ("store_uuid", "", "store_uuid"),
])
def test_damaged_metadata_is_named(tmp_path: Path, key: str, value: object, said: str) -> None:
    db_path = make(tmp_path)
    db = sqlite3.connect(db_path)
    db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.commit()
    db.close()
    for open_it in (lambda: Collections(tmp_path).collection("c"), lambda: Collections(tmp_path).describe_collection("c")):
        with pytest.raises(CollectionFileError, match="damaged collection database") as raised:
            open_it()
        assert said in str(raised.value)


def test_a_malformed_page_met_by_a_write_is_a_collection_file_error(tmp_path: Path) -> None:
    db_path = make(tmp_path)
    db = sqlite3.connect(db_path)
    # The audit log's root page: opening and reading faces never touch it; the first search's audit row does.
    page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit'").fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(db_path.read_bytes())
    data[(page - 1) * page_size:(page - 1) * page_size + 8] = b"\xff" * 8  # not a b-tree page type
    db_path.write_bytes(bytes(data))
    with Collections(tmp_path).collection("c") as collection:
        assert len(collection) == 3
        with pytest.raises(CollectionFileError, match="damaged collection database: database disk image is malformed"):
            collection.search_faces_by_embedding(unit_vectors(1, seed=6)[0], pack=SYNTHETIC)


def test_stored_values_of_the_wrong_size_or_type_are_named(tmp_path: Path) -> None:
    db_path = make(tmp_path)
    db = sqlite3.connect(db_path)
    db.execute("UPDATE meta SET value = 2 WHERE key = 'embedding_size'")  # in range, but not what rows hold
    db.commit()
    with pytest.raises(CollectionFileError, match="face row 1 holds a 512 bytes embedding; the collection's are 8"):
        Collections(tmp_path).collection("c")
    db.execute("UPDATE meta SET value = 128 WHERE key = 'embedding_size'")
    db.execute("UPDATE faces SET landmarks = x'00' WHERE id = 2")
    db.execute("UPDATE faces SET created_at = 'yesterday' WHERE id = 3")
    db.commit()
    db.close()
    with Collections(tmp_path).collection("c") as collection:
        with pytest.raises(CollectionFileError, match="face row 2 cannot be read"):
            collection.list_faces()


def test_an_altered_table_definition_is_named_on_open(tmp_path: Path) -> None:
    # Found by fuzz_collection_open: a column renamed in sqlite_master failed the first search's audit row.
    db_path = make(tmp_path)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA writable_schema = ON")
    db.execute("UPDATE sqlite_master SET sql = replace(sql, 'beyond_table', 'beyond_tablX') WHERE name = 'audit'")
    db.commit()
    db.close()
    with pytest.raises(CollectionFileError, match="schema of audit is not ours"):
        Collections(tmp_path).collection("c")


def test_text_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    # Found by fuzz_collection_open: sqlite3's "Could not decode to UTF-8 column" (an OperationalError).
    db_path = make(tmp_path)
    db = sqlite3.connect(db_path)
    db.execute("UPDATE faces SET image_id = CAST(x'35ff35' AS TEXT) WHERE id = 2")
    db.commit()
    db.close()
    with Collections(tmp_path).collection("c") as collection:
        with pytest.raises(CollectionFileError, match="damaged collection database: Could not decode to UTF-8"):
            collection.list_faces()
