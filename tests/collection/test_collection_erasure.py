"""Erasure: after delete_faces or delete_user, no file of the collection holds the deleted face's bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from faceindex import Collections, FlatIndex
from faceindex.collection import Collection
from collection_helpers import SYNTHETIC, collection_files, face, unit_vectors

PANEL = 16  # FlatIndex stores vectors in panels of 16, dimension-major: one vector's values are 16 apart
CACHES = ["i8", "f16", "f32"]


def holds_vector(data: bytes, vector: np.ndarray) -> bool:
    """True if the vector (float32, float16 or int8 codes) is in data, contiguous or in the FlatIndex
    panel layout (a panel row holds one value, or for int8 one pair of values, of 16 vectors)."""
    values = np.asarray(vector)
    unit = 2 if values.dtype == np.int8 else values.itemsize  # bytes a vector has in one panel row
    raw = values.tobytes()
    if len(raw) % unit:
        raw += bytes(unit - len(raw) % unit)  # an odd dimension's last pair is padded with 0
    units = len(raw) // unit
    first = raw[:unit]
    start = data.find(first)
    while start != -1:
        for stride in (unit, unit * PANEL):
            end = start + stride * (units - 1) + unit
            if end <= len(data):
                found = np.frombuffer(data[start:end], dtype=np.uint8)
                picked = np.lib.stride_tricks.as_strided(found, shape=(units, unit), strides=(stride, 1))
                if picked.tobytes() == raw:
                    return True
        start = data.find(first, start + 1)
    return False


def traces(directory: Path, needles: dict[str, object]) -> list[str]:
    """'file: what' for every needle found in every file of the collection."""
    found = []
    for path in collection_files(directory):
        data = path.read_bytes()
        for what, needle in needles.items():
            hit = data.find(needle) != -1 if isinstance(needle, bytes) else holds_vector(data, needle)
            if hit:
                found.append(f"{path.name}: {what}")
    return found


def stored_vectors(collection: Collection, face_id: str) -> tuple[bytes, np.ndarray]:
    """The embedding as the database holds it, and as the saved cache file holds it (float32,
    float16, or int8 codes)."""
    db = sqlite3.connect(collection.directory / "collection.db")
    row_id, blob = db.execute("SELECT id, embedding FROM faces WHERE face_id = ?", (face_id,)).fetchone()
    # Copy the WAL into the database file (the WAL keeps its frames): the bytes are then in both.
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    db.close()
    cache = FlatIndex.load(collection.save_cache())
    decoded = cache.reconstruct(row_id)
    if cache.dtype == "f16":
        return blob, decoded.astype(np.float16)
    if cache.dtype == "i8":  # codes times a scale; the largest code is 127
        scale = np.float32(np.abs(decoded).max() / 127)
        return blob, np.rint(decoded / scale).astype(np.int8)
    return blob, decoded


def populate(collection: Collection, secret_name: str) -> str:
    """A few hundred faces, several transactions (so the WAL and database both hold pages), one secret."""
    for batch in range(4):
        collection.index_embeddings(unit_vectors(100, batch), pack=SYNTHETIC, external_image_id=f"batch-{batch}")
    (secret,) = collection.index_embeddings(unit_vectors(1, 1234), pack=SYNTHETIC, faces=[face(5, 6, 70)],
                                            external_image_id=secret_name)
    collection.index_embeddings(unit_vectors(100, 9), pack=SYNTHETIC, external_image_id="after")
    return secret.face_id


@pytest.mark.parametrize("cache", CACHES)
@pytest.mark.parametrize("how", ["delete_faces", "delete_user"])
def test_deleted_faces_leave_no_bytes_in_any_file(tmp_path: Path, how: str, cache: str) -> None:
    home = Collections(tmp_path, cache_dtype=cache)
    collection = home.create_collection("c", SYNTHETIC)
    secret_name = "secret-image-7f3a9c.jpg"
    face_id = populate(collection, secret_name)
    if how == "delete_user":
        collection.create_user("leaving-user-42")
        collection.associate_faces("leaving-user-42", [face_id])
    db_vector, cache_vector = stored_vectors(collection, face_id)
    needles: dict[str, object] = {
        "embedding as stored in the database": db_vector,
        "embedding as stored in the cache": cache_vector,
        "face id": face_id.encode(),
        "external image id": secret_name.encode(),
    }
    if how == "delete_user":
        needles["user id"] = b"leaving-user-42"
    # The search can fail: before deletion every needle is somewhere in the collection's files.
    before = traces(collection.directory, needles)
    for what in needles:
        assert any(line.endswith(what) for line in before), f"{what} not found before deletion: {before}"
    for where in ("collection.db:", "collection.db-wal:", "index-"):
        assert any(line.startswith(where) and "embedding" in line for line in before), before

    if how == "delete_faces":
        assert collection.delete_faces([face_id]).deleted_faces == [face_id]
    else:
        assert collection.delete_user("leaving-user-42").deleted_faces == [face_id]

    assert traces(collection.directory, needles) == []
    # The rest is intact and searchable, in this process and after reopening.
    assert len(collection) == 500
    collection.close()
    assert traces(collection.directory, needles) == []
    with home.collection("c") as reopened:
        assert reopened.open_report.source == "cache"
        assert len(reopened) == 500 and reopened.get_faces(face_id) == {}
        hit = reopened.search_faces_by_embedding(unit_vectors(100, 2)[7], pack=SYNTHETIC).best
        assert hit is not None and hit.similarity == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("cache", CACHES)
@pytest.mark.parametrize("how", ["delete_faces", "delete_user"])
def test_a_cache_from_before_a_deletion_is_never_used_and_is_removed(tmp_path: Path, cache: str, how: str) -> None:
    """A crash between the deletion's commit and the cache rewrite leaves an old cache: opening finishes the erasure."""
    home = Collections(tmp_path, cache_dtype=cache)
    with home.create_collection("c", SYNTHETIC) as collection:
        face_id = populate(collection, "x.jpg")
        if how == "delete_user":
            collection.create_user("leaving")
            collection.associate_faces("leaving", [face_id])
        _, cache_vector = stored_vectors(collection, face_id)
        (old_cache,) = collection.directory.glob("index-*.fidx")
        stale_copy = old_cache.read_bytes()
        if how == "delete_user":
            collection.delete_user("leaving")
        else:
            collection.delete_faces([face_id])
    # Put the pre-deletion cache back, as if the rewrite had never happened.
    for path in collection.directory.glob("index-*.fidx"):
        path.unlink()
    old_cache.write_bytes(stale_copy)
    assert holds_vector(old_cache.read_bytes(), cache_vector)
    with home.collection("c") as reopened:
        assert reopened.open_report.source == "rebuilt"
        assert reopened.get_faces(face_id) == {}
        assert reopened.search_faces_by_embedding(unit_vectors(1, 1234)[0], pack=SYNTHETIC).face_matches == []
    assert traces(collection.directory, {"embedding": cache_vector}) == []


def test_an_erasure_blocked_by_a_reader_says_so_and_finishes_on_the_next_open(tmp_path: Path) -> None:
    from faceindex import ErasureIncompleteError  # noqa: F401 - public name
    from faceindex.collection import ErasureIncompleteError as Incomplete

    home = Collections(tmp_path, busy_timeout_s=0.3)
    collection = home.create_collection("c", SYNTHETIC)
    face_id = populate(collection, "y.jpg")
    db_vector, _ = stored_vectors(collection, face_id)
    # Another program holds a read snapshot of the database: the WAL cannot be emptied under it.
    reader = sqlite3.connect(collection.directory / "collection.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM faces").fetchone() == (501,)
    with pytest.raises(Incomplete, match="readers kept the write-ahead log busy"):
        collection.delete_faces([face_id])
    assert collection.get_faces(face_id) == {}  # the deletion itself is committed
    assert reader.execute("SELECT count(*) FROM faces").fetchone() == (501,)  # the reader's snapshot
    assert traces(collection.directory, {"embedding": db_vector}) != []
    reader.execute("COMMIT")
    reader.close()
    collection.close()
    assert traces(collection.directory, {"embedding": db_vector}) == []


@pytest.mark.parametrize("faces", ["kept", "none"])
def test_a_deleted_users_id_leaves_no_bytes_when_its_faces_are_kept_or_it_had_none(tmp_path: Path, faces: str) -> None:
    with Collections(tmp_path).create_collection("c", SYNTHETIC) as collection:
        face_id = populate(collection, "x.jpg")
        collection.create_user("leaving-user-42")
        if faces == "kept":
            collection.associate_faces("leaving-user-42", [face_id])
        assert traces(collection.directory, {"user id": b"leaving-user-42"}) != []
        result = collection.delete_user("leaving-user-42", delete_faces=faces == "none")
        assert result.disassociated_faces == ([face_id] if faces == "kept" else []) and result.deleted_faces == []
        assert traces(collection.directory, {"user id": b"leaving-user-42"}) == []
        assert collection.get_faces(face_id)[face_id].user_id is None


@pytest.mark.parametrize("how", ["delete_faces", "delete_user"])
def test_another_handle_never_finds_a_deleted_face(tmp_path: Path, how: str) -> None:
    """A second handle on the collection (another worker, say) opened before the deletion: its next search
    drops the deleted face, even after a new face has made the count what it was, and so does a reopening
    from the cache saved before the deletion."""
    home = Collections(tmp_path)
    with home.create_collection("c", SYNTHETIC) as writer, home.collection("c") as reader:
        face_id = populate(writer, "x.jpg")
        secret = unit_vectors(1, 1234)[0]
        assert reader.search_faces_by_embedding(secret, pack=SYNTHETIC).best.face.face_id == face_id  # type: ignore[union-attr]
        old_cache = writer.save_cache()
        stale_copy = old_cache.read_bytes()
        if how == "delete_user":
            writer.create_user("leaving")
            writer.associate_faces("leaving", [face_id])
            writer.delete_user("leaving")
        else:
            writer.delete_faces([face_id])
        writer.index_embeddings(unit_vectors(1, 99), pack=SYNTHETIC, external_image_id="newcomer")
        assert len(reader) == 501
        assert [m.face.face_id for m in reader.search_faces_by_embedding(secret, pack=SYNTHETIC).face_matches] == []
    for path in writer.directory.glob("index-*.fidx"):
        path.unlink()
    old_cache.write_bytes(stale_copy)  # as many faces as now, one of them deleted since
    with home.collection("c") as reopened:
        assert reopened.open_report.source == "rebuilt"
        assert reopened.search_faces_by_embedding(secret, pack=SYNTHETIC).face_matches == []
