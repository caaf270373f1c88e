"""The `faceindex` command on collections: output (human and --json), exit codes, messages for bad input."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceindex import Collections
from faceindex.cli import main
from faceindex.collection.ingest import external_id_of, image_files, index_paths
from collection_helpers import SYNTHETIC, ScriptedEngine, face, near, scene_image, unit_vectors


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> tuple[int, object]:
    code, out, _ = run(*argv, "--json")
    return code, json.loads(out)


@pytest.fixture
def home(tmp_path: Path) -> str:
    """A home with collection "people": 3 faces of "ann" (a user) and 20 others."""
    collections = Collections(tmp_path)
    with collections.create_collection("people", SYNTHETIC) as c:
        centre = unit_vectors(1, 0)[0]
        ann = c.index_embeddings(np.array([near(centre, 0.9, seed=i) for i in range(3)]), pack=SYNTHETIC,
                                 faces=[face(0, 0, 50 + i) for i in range(3)], external_image_id="ann.jpg")
        c.index_embeddings(unit_vectors(20, 1), pack=SYNTHETIC, external_image_id="crowd.jpg")
        c.create_user("ann")
        c.associate_faces("ann", [r.face_id for r in ann])
    return str(tmp_path)


def face_ids(home: str, *extra: str) -> list[str]:
    code, page = run_json("faces", "list", "people", "--home", home, *extra)
    assert code == 0
    return [f["face_id"] for f in page["faces"]]  # type: ignore[index]


def test_collection_list_describe_delete(home: str) -> None:
    assert run_json("collection", "list", "--home", home) == (0, {"collections": ["people"]})
    code, out, _ = run("--home", home, "collection", "list")  # options before the command work too
    assert (code, out) == (0, "people\n")
    code, described = run_json("collection", "describe", "people", "--home", home)
    assert code == 0
    assert {k: described[k] for k in ("collection_id", "face_count", "user_count", "pack")} == {  # type: ignore[index]
        "collection_id": "people", "face_count": 23, "user_count": 1, "pack": {"name": "synthetic", "version": "1"}}
    code, out, _ = run("collection", "describe", "people", "--home", home)
    assert "faces       23" in out and "pack        synthetic 1 (128-d" in out
    assert run("collection", "delete", "people", "--home", home)[0] == 0
    assert run_json("collection", "list", "--home", home) == (0, {"collections": []})


def test_a_missing_collection_exits_3_with_a_message(home: str) -> None:
    for argv in (["collection", "describe", "nope"], ["collection", "delete", "nope"], ["faces", "list", "nope"],
                 ["users", "list", "nope"], ["search", "nope", "x.jpg"], ["index", "nope", home]):
        code, out, err = run(*argv, "--home", home)
        assert code == 3, argv
        assert "faceindex: error: no collection 'nope'" in err and "people" in err
        assert out == ""
    code, out, err = run("faces", "list", "nope", "--home", home, "--json")
    assert code == 3
    assert json.loads(out)["error"]["type"] == "CollectionNotFoundError"


def test_faces_list_pages_and_filters(home: str) -> None:
    code, page = run_json("faces", "list", "people", "--home", home, "--max-results", "5")
    assert code == 0 and len(page["faces"]) == 5 and page["next_token"]  # type: ignore[index]
    rest = face_ids(home, "--next-token", page["next_token"], "--max-results", "100")  # type: ignore[index]
    assert len(rest) == 18
    assert len(face_ids(home, "--user", "ann")) == 3
    assert len(face_ids(home, "--external-image-id", "crowd.jpg")) == 20
    record = run_json("faces", "list", "people", "--home", home, "--max-results", "1")[1]["faces"][0]  # type: ignore[index]
    assert set(record) >= {"face_id", "external_image_id", "image_id", "face", "user_id", "created_at"}
    assert set(record["face"]) >= {"bbox", "score", "landmarks", "face_size", "sharpness", "brightness", "pose"}
    assert record["face"]["bbox"] == [0.0, 0.0, 50.0, 50.0] and len(record["face"]["landmarks"]) == 5


def test_faces_delete_reports_unknown_ids_with_exit_1(home: str) -> None:
    victim = face_ids(home, "--external-image-id", "crowd.jpg")[0]
    code, result = run_json("faces", "delete", "people", victim, "not-a-face", "--home", home)
    assert code == 1
    assert result == {"deleted_faces": [victim], "unsuccessful_face_deletions": [
        {"face_id": "not-a-face", "reasons": ["FACE_NOT_FOUND"], "user_id": None}]}
    assert victim not in face_ids(home)
    code, _, _ = run("faces", "delete", "people", face_ids(home)[-1], "--home", home)
    assert code == 0


def test_users_commands(home: str) -> None:
    assert run("users", "create", "people", "bob", "--home", home)[0] == 0
    code, _, err = run("users", "create", "people", "bob", "--home", home)
    assert code == 5 and "'bob' already exists" in err
    code, _, err = run("users", "create", "people", "bad id", "--home", home)
    assert code == 4 and "user id must be" in err
    code, users = run_json("users", "list", "people", "--home", home)
    assert users == {"users": [
        {"user_id": "ann", "face_count": 3, "created_at": users["users"][0]["created_at"]},  # type: ignore[index]
        {"user_id": "bob", "face_count": 0, "created_at": users["users"][1]["created_at"]}],  # type: ignore[index]
        "next_token": None}
    crowd = face_ids(home, "--external-image-id", "crowd.jpg")
    code, result = run_json("users", "associate", "people", "bob", crowd[0], "ghost", "--home", home)
    assert code == 1 and result["associated_faces"] == [crowd[0]]  # type: ignore[index]
    assert result["unsuccessful_face_associations"][0]["reasons"] == ["FACE_NOT_FOUND"]  # type: ignore[index]
    ann_face = face_ids(home, "--user", "ann")[0]
    code, found = run_json("users", "search", "people", "--face", ann_face, "--home", home)
    assert code == 0 and [m["user"]["user_id"] for m in found["user_matches"]] == ["ann"]  # type: ignore[index]
    assert found["threshold"] == SYNTHETIC.default_threshold and found["pack"]["name"] == "synthetic"  # type: ignore[index]
    code, out, _ = run("users", "search", "people", "--user", "bob", "--home", home)
    assert code == 0 and "no match" in out
    assert run("users", "disassociate", "people", "bob", crowd[0], "--home", home)[0] == 0
    code, result = run_json("users", "delete", "people", "ann", "--home", home)
    assert code == 0 and len(result["deleted_faces"]) == 3  # type: ignore[index]
    assert face_ids(home, "--user", "ann") == []
    code, _, err = run("users", "delete", "people", "ann", "--home", home)
    assert code == 3 and "'ann' is not in collection" in err


def test_search_by_face_id(home: str) -> None:
    ann = face_ids(home, "--user", "ann")
    code, result = run_json("search", "people", ann[0], "--face-id", "--home", home)
    assert code == 0
    assert {m["face"]["face_id"] for m in result["face_matches"]} == set(ann[1:])  # type: ignore[index]
    assert all(m["similarity"] >= result["threshold"] for m in result["face_matches"])  # type: ignore[index]
    code, _, err = run("search", "people", "no-such-face", "--face-id", "--home", home)
    assert code == 3 and "face 'no-such-face' is not in collection" in err


def test_usage_errors_exit_2(home: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("search", "people", "x", "--threshold", "7", "--home", home)[0] == 2
    assert "a cosine similarity from -1 to 1" in capsys.readouterr().err
    assert run("faces", "list", "people", "--max-results", "0", "--home", home)[0] == 2
    assert run("frobnicate")[0] == 2
    assert run("users", "search", "people", "--home", home)[0] == 2  # one of --user/--face/--image


def test_damaged_and_foreign_collection_files_exit_4(home: str) -> None:
    db = Path(home) / "collections" / "people" / "collection.db"
    for wal in db.parent.glob("collection.db-*"):
        wal.unlink()
    db.write_bytes(b"garbage" * 1000)
    code, out, err = run("collection", "describe", "people", "--home", home, "--json")
    assert code == 4 and "not a faceindex collection database" in err
    assert json.loads(out)["error"]["exit_code"] == 4
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    code, _, err = run("faces", "list", "people", "--home", home)
    assert code == 4 and "not a faceindex collection" in err


def test_index_reports_missing_paths_and_empty_folders(home: str, tmp_path: Path) -> None:
    code, _, err = run("index", "people", str(tmp_path / "nowhere"), "--home", home)
    assert code == 3 and "no such file or folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run("index", "people", str(empty), "--home", home)
    assert code == 3 and "no photos or videos found" in err


def test_index_paths_walks_folders_and_names_images(tmp_path: Path) -> None:
    """The file handling of `faceindex index`, through a scripted engine (no model pack needed)."""
    vectors = unit_vectors(3, 5)
    engine = ScriptedEngine({10: [(face(0, 0, 30), vectors[0])], 11: [(face(0, 0, 30), vectors[1]),
                                                                     (face(40, 0, 5), vectors[2])]})
    photos = tmp_path / "photos"
    (photos / "ann").mkdir(parents=True)
    (photos / "bob" / "deeper").mkdir(parents=True)
    Image.fromarray(scene_image(10)).save(photos / "ann" / "a1.png")
    Image.fromarray(scene_image(11)).save(photos / "bob" / "deeper" / "b1.PNG")
    (photos / "notes.txt").write_text("not an image, skipped by suffix")
    (photos / "bob" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    files = image_files([photos])
    assert [f.relative_to(photos).as_posix() for f in files] == ["ann/a1.png", "bob/broken.jpg", "bob/deeper/b1.PNG"]
    assert external_id_of(files[2], "parent-dir") == "deeper" and external_id_of(files[2], "filename") == "b1.PNG"
    with Collections(tmp_path / "home").create_collection("c", engine=engine) as c:
        seen = []
        report = index_paths(c, files, "parent-dir", on_file=seen.append)
        assert [f.path for f in seen] == [str(f) for f in files]
        assert report.indexed_faces == 2 and report.unindexed_faces == 1
        assert [f.path for f in report.failed] == [str(files[1])] and "cannot decode" in str(report.failed[0].error)
        assert sorted(r.external_image_id for r in c) == ["ann", "deeper"]


def test_the_console_script_is_installed(home: str) -> None:
    script = Path(sys.executable).with_name("faceindex")
    done = subprocess.run([str(script), "collection", "list", "--json", "--home", home],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"collections": ["people"]}
    done = subprocess.run([str(script), "collection", "describe", "ghost", "--home", home],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and "no collection 'ghost'" in done.stderr and "Traceback" not in done.stderr
