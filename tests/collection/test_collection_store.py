"""Collections on disk: lifecycle, pack binding, the cache beside the database, and bad files."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import faceindex
from faceindex import (
    CollectionExistsError,
    CollectionFileError,
    CollectionNotFoundError,
    Collections,
    FlatIndex,
    PackMismatchError,
)
from collection_helpers import DIM, SYNTHETIC, ScriptedEngine, face, unit_vectors


@pytest.fixture
def home(tmp_path: Path) -> Collections:
    return Collections(tmp_path / "home")


def cache_files(collections: Collections, collection_id: str) -> list[Path]:
    return sorted(collections.path_of(collection_id).glob("index-*.fidx"))


def test_create_list_describe_delete(home: Collections) -> None:
    assert home.list_collections() == []
    with home.create_collection("people", SYNTHETIC) as people:
        people.index_embeddings(unit_vectors(5, 0), pack=SYNTHETIC)
    home.create_collection("pets", SYNTHETIC).close()
    assert home.list_collections() == ["people", "pets"]
    description = home.describe_collection("people")
    assert (description.collection_id, description.face_count, description.user_count) == ("people", 5, 0)
    assert (description.pack.name, description.pack.version, description.embedding_size) == ("synthetic", "1", DIM)
    assert description.default_threshold == SYNTHETIC.default_threshold
    assert description.database_bytes > 0 and description.cache_bytes > 0
    home.delete_collection("people")
    assert home.list_collections() == ["pets"]
    assert not home.path_of("people").exists()
    with pytest.raises(CollectionNotFoundError, match="no collection 'people'.*pets"):
        home.collection("people")


def test_home_defaults_to_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEINDEX_HOME", str(tmp_path / "elsewhere"))
    assert Collections().home == tmp_path / "elsewhere"
    Collections().create_collection("c", SYNTHETIC).close()
    assert (tmp_path / "elsewhere" / "collections" / "c" / "collection.db").is_file()


def test_create_refuses_a_taken_id_and_bad_ids(home: Collections) -> None:
    home.create_collection("c", SYNTHETIC).close()
    with pytest.raises(CollectionExistsError, match="already exists"):
        home.create_collection("c", SYNTHETIC)
    for bad in ["", "~x", "a/b", "with space", "x" * 256, 7]:  # ".." is an id (Rekognition's pattern): in "~.."
        with pytest.raises(ValueError, match="collection id"):
            home.create_collection(bad, SYNTHETIC)  # type: ignore[arg-type]
    assert home.list_collections() == ["c"]
    assert [p.name for p in home.root.iterdir()] == ["c"]  # no staging folders left behind


def test_missing_collection_is_a_clear_error_everywhere(home: Collections) -> None:
    for call in (home.collection, home.describe_collection, home.delete_collection):
        with pytest.raises(CollectionNotFoundError, match="no collection 'ghost'.*none yet"):
            call("ghost")


def test_faces_survive_reopening_and_the_cache_is_used_as_saved(home: Collections) -> None:
    vectors = unit_vectors(300, 1)
    with home.create_collection("c", SYNTHETIC) as c:
        records = c.index_embeddings(vectors, pack=SYNTHETIC, external_image_id="img")
    with home.collection("c") as c:
        assert c.open_report.source == "cache"
        assert len(c) == 300
        hit = c.search_faces_by_embedding(vectors[123], pack=SYNTHETIC).best
        assert hit is not None and hit.face.face_id == records[123].face_id
        assert hit.similarity == pytest.approx(1.0, abs=1e-6)


def test_the_collection_is_bound_to_its_pack(home: Collections) -> None:
    other_version = replace(SYNTHETIC, version="2")
    other_name = replace(SYNTHETIC, name="arcface")
    with home.create_collection("c", SYNTHETIC) as c:
        for wrong in (other_version, other_name, ("synthetic", "2")):
            with pytest.raises(PackMismatchError, match="synthetic 1"):
                c.index_embeddings(unit_vectors(1, 2), pack=wrong)
            with pytest.raises(PackMismatchError):
                c.search_faces_by_embedding(unit_vectors(1, 2)[0], pack=wrong)
        assert len(c) == 0
        c.index_embeddings(unit_vectors(1, 2), pack=("synthetic", "1"))
    with pytest.raises(PackMismatchError, match="the engine runs synthetic 2"):
        home.collection("c", engine=ScriptedEngine({}, pack=other_version))
    wider = replace(SYNTHETIC, embedding_size=512)
    with pytest.raises(PackMismatchError, match="512-d"):
        home.collection("c", engine=ScriptedEngine({}, pack=wider))


def test_embeddings_of_the_wrong_shape_or_values_are_refused(home: Collections) -> None:
    with home.create_collection("c", SYNTHETIC) as c:
        with pytest.raises(ValueError, match=r"shape \[n, 128\]"):
            c.index_embeddings(np.ones((2, 64), np.float32), pack=SYNTHETIC)
        bad = unit_vectors(3, 3)
        bad[1, 5] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            c.index_embeddings(bad, pack=SYNTHETIC)
        with pytest.raises(ValueError, match="row 0 is all zeros"):
            c.index_embeddings(np.zeros((1, DIM)), pack=SYNTHETIC)
        with pytest.raises(ValueError, match="2 faces for 3 embeddings"):
            c.index_embeddings(unit_vectors(3, 3), pack=SYNTHETIC, faces=[None, None])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="external_image_id has 2 items for 3"):
            c.index_embeddings(unit_vectors(3, 3), pack=SYNTHETIC, external_image_id=["a", "b"])
        with pytest.raises(ValueError, match="external_image_id"):
            c.index_embeddings(unit_vectors(1, 3), pack=SYNTHETIC, external_image_id="bad\nname")
        assert len(c) == 0  # nothing half-stored


def test_embeddings_are_stored_as_unit_vectors(home: Collections) -> None:
    with home.create_collection("c", SYNTHETIC) as c:
        raw = np.random.default_rng(4).standard_normal((2, DIM)) * 7.0
        records = c.index_embeddings(raw, pack=SYNTHETIC)
        hit = c.search_faces_by_embedding(raw[1] * 0.01, pack=SYNTHETIC).best
        assert hit is not None and hit.face.face_id == records[1].face_id
        assert hit.similarity == pytest.approx(1.0, abs=1e-6)


def test_a_stale_cache_is_caught_up_from_the_database(home: Collections) -> None:
    vectors = unit_vectors(200, 5)
    with home.create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(vectors[:100], pack=SYNTHETIC)
    old = cache_files(home, "c")
    # Another writer adds faces and never saves the cache (as after a crash).
    writer = home.collection("c")
    late = writer.index_embeddings(vectors[100:], pack=SYNTHETIC)
    writer._closed = True  # simulate a process that died without close()
    assert cache_files(home, "c") == old
    with home.collection("c") as c:
        report = c.open_report
        assert (report.source, report.caught_up_faces) == ("cache+catch-up", 100)
        hit = c.search_faces_by_embedding(vectors[150], pack=SYNTHETIC).best
        assert hit is not None and hit.face.face_id == late[50].face_id


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "garbage", "empty"])
def test_a_corrupt_cache_is_rebuilt(home: Collections, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    vectors = unit_vectors(100, 6)
    with home.create_collection("c", SYNTHETIC) as c:
        records = c.index_embeddings(vectors, pack=SYNTHETIC)
    (path,) = cache_files(home, "c")
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "garbage":
        data = bytearray(b"not an index" * 100)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="faceindex.collection"):
        c = home.collection("c")
    with c:
        assert c.open_report.source == "rebuilt"
        assert path.name in c.open_report.reason
        assert "rebuilding the index" in caplog.text
        hit = c.search_faces_by_embedding(vectors[42], pack=SYNTHETIC).best
        assert hit is not None and hit.face.face_id == records[42].face_id
    # The rebuilt index was saved over the damaged file.
    (fresh,) = cache_files(home, "c")
    assert FlatIndex.load(fresh).ids().size == 100


def test_a_cache_that_lies_about_its_contents_is_rebuilt(home: Collections) -> None:
    """A well-formed cache file under the right name, but with other vectors: the ids check catches it."""
    vectors = unit_vectors(50, 7)
    with home.create_collection("c", SYNTHETIC) as c:
        records = c.index_embeddings(vectors, pack=SYNTHETIC)
    (path,) = cache_files(home, "c")
    forged = FlatIndex(DIM, "cosine", "i8")  # the cache's own layout, so only the ids can tell
    forged.add(np.arange(1000, 1050, dtype=np.uint64), unit_vectors(50, 8))
    path.unlink()
    forged.save(path)
    with home.collection("c") as c:
        assert c.open_report.source == "rebuilt"
        assert "does not hold the database's faces" in c.open_report.reason
        hit = c.search_faces_by_embedding(vectors[7], pack=SYNTHETIC).best
        assert hit is not None and hit.face.face_id == records[7].face_id


def test_cache_files_of_another_database_or_generation_are_not_used(home: Collections) -> None:
    with home.create_collection("a", SYNTHETIC) as a:
        a.index_embeddings(unit_vectors(10, 9), pack=SYNTHETIC)
    with home.create_collection("b", SYNTHETIC) as b:
        b.index_embeddings(unit_vectors(10, 10), pack=SYNTHETIC)
    (a_cache,) = cache_files(home, "a")
    (b_cache,) = cache_files(home, "b")
    # b's cache copied into a, and a's own cache renamed to a generation from the future.
    (home.path_of("a") / b_cache.name).write_bytes(b_cache.read_bytes())
    a_cache.rename(a_cache.with_name(a_cache.name.replace("-g000000000001", "-g000000000099")))
    with home.collection("a") as a:
        assert a.open_report.source == "rebuilt"
        assert a.open_report.reason == "no cache file"
    # Unusable files were removed; only the rebuilt cache remains.
    assert [p.name for p in cache_files(home, "a")] == [a_cache.name]


def test_a_foreign_database_is_refused(home: Collections) -> None:
    directory = home.root / "foreign"
    directory.mkdir(parents=True)
    conn = sqlite3.connect(directory / "collection.db")
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO photos (name) VALUES ('holiday')")
    conn.commit()
    conn.close()
    before = (directory / "collection.db").read_bytes()
    with pytest.raises(CollectionFileError, match="not a faceindex collection"):
        home.collection("foreign")
    with pytest.raises(CollectionFileError, match="not a faceindex collection"):
        home.describe_collection("foreign")
    conn = sqlite3.connect(directory / "collection.db")
    assert conn.execute("SELECT name FROM photos").fetchall() == [("holiday",)]  # left as it was
    conn.close()
    assert before[:16] == b"SQLite format 3\x00"


def test_a_file_that_is_not_a_database_is_refused(home: Collections) -> None:
    directory = home.root / "junk"
    directory.mkdir(parents=True)
    (directory / "collection.db").write_bytes(b"this is not SQLite at all, just some text " * 200)
    with pytest.raises(CollectionFileError, match="not a faceindex collection database"):
        home.collection("junk")


def test_a_database_from_a_newer_faceindex_is_refused(home: Collections) -> None:
    home.create_collection("c", SYNTHETIC).close()
    conn = sqlite3.connect(home.path_of("c") / "collection.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(CollectionFileError, match="schema version 99.*upgrade faceindex"):
        home.collection("c")


def test_the_database_runs_in_wal_mode_with_durable_commits_and_secure_delete(home: Collections) -> None:
    with home.create_collection("c", SYNTHETIC) as c:
        conn = c._state.conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_a_closed_collection_says_so(home: Collections) -> None:
    c = home.create_collection("c", SYNTHETIC)
    c.close()
    with pytest.raises(ValueError, match="'c' is closed"):
        c.list_faces()


def test_public_names(home: Collections) -> None:
    """The names the documentation imports are the types the results come in."""
    from faceindex.collection import FaceRecord, FaceSearchResult, IndexFacesResult

    assert faceindex.Collections is Collections
    engine = ScriptedEngine({1: [(face(0, 0, 60), unit_vectors(1, 1)[0])]})
    with home.create_collection("c", engine=engine) as c:
        indexed = c.index_faces(np.full((32, 32, 3), 1, np.uint8))
        assert type(indexed) is IndexFacesResult and [type(r) for r in indexed.face_records] == [FaceRecord]
        found = c.search_faces_by_embedding(unit_vectors(1, 1)[0], pack=SYNTHETIC)
        assert type(found) is FaceSearchResult and found.face_matches[0].face == indexed.face_records[0]


def test_the_id_digest_follows_every_insert_and_delete(home: Collections) -> None:
    from faceindex.collection import store

    with home.create_collection("c", SYNTHETIC) as c:
        conn = c._state.conn()
        records = []
        for seed in range(5):
            records += c.index_embeddings(unit_vectors(37, seed), pack=SYNTHETIC)
            c.delete_faces([r.face_id for r in records[seed * 7: seed * 7 + 5]])
            ids = store.all_face_ids(conn)
            assert store.stored_id_digest(conn) == store.id_digest(ids) != 0
        assert len(ids) == 5 * 37 - 25
        assert store.id_digest([1, 2]) == store.id_digest([2, 1]) != store.id_digest([1, 3])


def test_faces_stored_under_the_ids_the_caller_chose(home: Collections) -> None:
    import uuid

    ids = [str(uuid.uuid4()) for _ in range(3)]
    with home.create_collection("chosen", SYNTHETIC) as chosen:
        records = chosen.index_embeddings(unit_vectors(3, 7), pack=SYNTHETIC, face_ids=ids)
        assert [r.face_id for r in records] == ids
        assert sorted(chosen.get_faces(ids)) == sorted(ids)
        # An id already stored refuses the whole call: nothing of it is stored.
        with pytest.raises(faceindex.FaceIdTakenError, match="already stored"):
            chosen.index_embeddings(unit_vectors(2, 8), pack=SYNTHETIC, face_ids=[str(uuid.uuid4()), ids[0]])
        assert len(chosen) == 3
        with pytest.raises(ValueError, match="UUIDs"):
            chosen.index_embeddings(unit_vectors(1, 9), pack=SYNTHETIC, face_ids=["not-a-uuid"])
        with pytest.raises(ValueError, match="distinct"):
            twice = str(uuid.uuid4())
            chosen.index_embeddings(unit_vectors(2, 9), pack=SYNTHETIC, face_ids=[twice, twice])
        with pytest.raises(ValueError, match="2 face ids for 3"):
            chosen.index_embeddings(unit_vectors(3, 9), pack=SYNTHETIC, face_ids=ids[:2])
        assert len(chosen) == 3
