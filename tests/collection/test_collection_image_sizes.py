"""Collections remember each indexed image's size (schema 3), so a stored face's box can be given
as ratios of its image; a schema-2 (or 1) database is migrated on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from faceindex import CollectionFileError, Collections
from faceindex.collection import schema
from collection_helpers import SYNTHETIC, ScriptedEngine, face, unit_vectors

E = unit_vectors(4, 7)


def scene(number: int, width: int, height: int) -> np.ndarray:
    """An image of this size that the ScriptedEngine recognises as scene `number`."""
    return np.full((height, width, 3), number, dtype=np.uint8)


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine({1: [(face(10, 20, 40), E[0]), (face(100, 20, 30), E[1])], 2: [(face(5, 5, 50), E[2])]})


def test_index_faces_keeps_the_image_size_on_every_face(tmp_path: Path, engine: ScriptedEngine) -> None:
    home = Collections(tmp_path)
    with home.create_collection("c", engine=engine) as c:
        first = c.index_faces(scene(1, 640, 480))
        second = c.index_faces(scene(2, 200, 300))
        c.index_embeddings(E[3:4], pack=SYNTHETIC)
        assert [(r.image_width, r.image_height) for r in first.face_records] == [(640, 480)] * 2
        assert (second.face_records[0].image_width, second.face_records[0].image_height) == (200, 300)
        listed = {r.face_id: (r.image_width, r.image_height) for r in c.iter_faces()}
    # Read back from disk by a new process's view: every way of reading a face carries it.
    with home.collection("c", engine=engine) as c:
        assert {r.face_id: (r.image_width, r.image_height) for r in c.iter_faces()} == listed
        assert sorted(listed.values(), key=str) == sorted([(640, 480), (640, 480), (200, 300), (None, None)], key=str)
        got = c.get_faces([r.face_id for r in first.face_records])
        assert {(r.image_width, r.image_height) for r in got.values()} == {(640, 480)}
        match = c.search_faces_by_image(scene(2, 200, 300), threshold=0.5).face_matches[0]
        assert (match.face.image_width, match.face.image_height) == (200, 300)


def test_embeddings_brought_with_their_image_size(tmp_path: Path) -> None:
    with Collections(tmp_path).create_collection("c", SYNTHETIC) as c:
        records = c.index_embeddings(E[:2], pack=SYNTHETIC, image_id="frame", image_size=(1920, 1080))
        assert [(r.image_width, r.image_height) for r in records] == [(1920, 1080)] * 2
        assert {(r.image_width, r.image_height) for r in c.iter_faces()} == {(1920, 1080)}
        for bad in [(0, 10), (10,), (1.5, 2), ("640", 480), (True, 3), "640x480"]:
            with pytest.raises(ValueError, match="image_size must be"):
                c.index_embeddings(E[2:3], pack=SYNTHETIC, image_size=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="one image"):
            c.index_embeddings(E[2:4], pack=SYNTHETIC, image_id=["a", "b"], image_size=(10, 10))
        assert len(c) == 2, "a refused call stores nothing"


def test_an_image_size_goes_with_its_last_face(tmp_path: Path, engine: ScriptedEngine) -> None:
    with Collections(tmp_path).create_collection("c", engine=engine) as c:
        records = c.index_faces(scene(1, 640, 480)).face_records
        image_id = records[0].image_id
        conn = sqlite3.connect(str(c.directory / schema.DATABASE_NAME))
        try:
            c.delete_faces(records[0].face_id)
            assert conn.execute("SELECT width, height FROM images WHERE image_id = ?", (image_id,)).fetchall() \
                == [(640, 480)]
            c.delete_faces(records[1].face_id)
            assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 0
        finally:
            conn.close()


def make_old_database(home: Collections, engine: ScriptedEngine, version: int) -> tuple[str, Path]:
    """A collection as schema `version` (1 or 2) left it on disk: made by today's code, then
    the tables that version lacked dropped and its version number written back."""
    with home.create_collection("old", engine=engine) as c:
        face_id = c.index_faces(scene(1, 640, 480)).face_records[0].face_id
        path = c.directory / schema.DATABASE_NAME
    conn = sqlite3.connect(str(path))
    try:
        for table in ("score_lines", "score_cohort"):  # schema 4 (issue 29)
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM meta WHERE key LIKE 'score_%'")
        conn.execute("DROP INDEX faces_by_image")
        conn.execute("DROP TABLE images")
        if version == 1:
            for name in ("audit_candidates", "audit"):
                conn.execute(f"DROP TABLE {name}")
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
    finally:
        conn.close()
    return face_id, path


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_database_is_migrated_on_open(tmp_path: Path, engine: ScriptedEngine, version: int) -> None:
    home = Collections(tmp_path)
    face_id, path = make_old_database(home, engine, version)
    with home.collection("old", engine=engine) as c:
        old = c.get_faces(face_id)[face_id]
        assert (old.image_width, old.image_height) == (None, None)  # indexed before sizes were kept
        new = c.index_faces(scene(2, 200, 300)).face_records[0]
        assert (new.image_width, new.image_height) == (200, 300)
        c.delete_faces(face_id)  # the deletion path reads the new table and index
        c.search_faces_by_image(scene(2, 200, 300), threshold=0.5)  # and the audit log is there
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 4
        assert conn.execute("SELECT width, height FROM images").fetchall() == [(200, 300)]
    finally:
        conn.close()


def test_an_altered_images_table_is_refused(tmp_path: Path, engine: ScriptedEngine) -> None:
    home = Collections(tmp_path)
    with home.create_collection("c", engine=engine) as c:
        path = c.directory / schema.DATABASE_NAME
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("DROP TABLE images")
        conn.execute("CREATE TABLE images (image_id TEXT PRIMARY KEY, width REAL)")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(CollectionFileError, match="schema of images is not ours"):
        home.collection("c", engine=engine)
