"""Encryption at rest: Collections(key=...) / FACEINDEX_KEY_FILE.

The database goes through SQLCipher and the index cache is sealed with AES-256-GCM: no
file of an encrypted collection holds an embedding, a name or the SQLite header in the
clear; a missing, wrong or unneeded key is a CollectionKeyError that never shows the key;
a tampered cache is rebuilt; and erasure still holds inside the encrypted pages (checked
by decrypting every page of the database and its WAL with the key, as someone who later
obtains the key could).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("sqlcipher3", reason="the encryption extra (sqlcipher3-binary) is not installed")
pytest.importorskip("cryptography", reason="the encryption extra (cryptography) is not installed")

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

from faceindex import CollectionFileError, CollectionKeyError, Collections, FaceEngine  # noqa: E402
from faceindex.cli import main  # noqa: E402
from faceindex.collection import Collection, schema, sealed_index  # noqa: E402
from faceindex.collection.encryption import KEY_FILE_ENV, CollectionKey, read_key_file  # noqa: E402
from faceindex.collection.index_cache import cache_files  # noqa: E402
from faceindex.collection.permissions import exposed  # noqa: E402
from faceindex.errors import EXIT_BAD_INPUT, EXIT_OK  # noqa: E402
from collection_helpers import SYNTHETIC, collection_files, require_pack, unit_vectors  # noqa: E402
from test_collection_concurrency import WORKER  # noqa: E402
from test_collection_erasure import holds_vector, populate  # noqa: E402

DataFile = Callable[[str], Path]
SQLITE_HEADER = b"SQLite format 3\0"
PAGE, RESERVE = 4096, 80  # SQLCipher 4 pages: the last 80 bytes hold the IV (16) and the HMAC-SHA512 (64)


def write_key_file(path: Path, key: bytes, mode: int = 0o600, as_hex: bool = False) -> Path:
    path.write_bytes(key.hex().encode() + b"\n" if as_hex else key)
    path.chmod(mode)
    return path


def decrypted_pages(path: Path, key: bytes) -> bytes:
    """Every page of an SQLCipher database or WAL file, decrypted with the raw key (AES-256-CBC):
    what someone holding the key would read, freed pages and old WAL frames included."""
    data = path.read_bytes()
    if path.name.endswith("-wal"):
        frames = range(32, len(data) - PAGE - 24 + 1, PAGE + 24)  # WAL header, then 24-byte frame headers
        pages = [(int.from_bytes(data[f:f + 4], "big"), data[f + 24:f + 24 + PAGE]) for f in frames]
    else:
        pages = [(1 + off // PAGE, data[off:off + PAGE]) for off in range(0, len(data) - PAGE + 1, PAGE)]
    plain = []
    for number, page in pages:
        start = 16 if number == 1 else 0  # page 1 begins with the database's salt
        decryptor = Cipher(algorithms.AES(key), modes.CBC(page[PAGE - RESERVE:PAGE - RESERVE + 16])).decryptor()
        plain.append(decryptor.update(page[start:PAGE - RESERVE]) + decryptor.finalize())
    return b"".join(plain)


def stored_embedding(collection: Collection, key: bytes, face_id: str) -> tuple[int, bytes]:
    conn = schema.connect(collection.directory / schema.DATABASE_NAME, key=CollectionKey(key))
    try:
        row_id, blob = conn.execute("SELECT id, embedding FROM faces WHERE face_id = ?", (face_id,)).fetchone()
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the page in the database file and the WAL both
    finally:
        conn.close()
    return row_id, blob


def raw_leaks(directory: Path, needles: dict[str, bytes | np.ndarray]) -> list[str]:
    """'file: what' for each needle found in the raw bytes of each file of the collection."""
    found = []
    for path in collection_files(directory):
        data = path.read_bytes()
        for what, needle in needles.items():
            if (data.find(needle) != -1) if isinstance(needle, bytes) else holds_vector(data, needle):
                found.append(f"{path.name}: {what}")
    return found


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


# -- real photos, a real pack ---------------------------------------------------------------


@pytest.fixture(scope="module")
def dlib_engine() -> FaceEngine:
    return require_pack("dlib")


def test_real_photos_in_an_encrypted_collection(dlib_engine: FaceEngine, data_file: DataFile, tmp_path: Path,
                                                key: bytes) -> None:
    train = data_file("images/face_recognition/knn_examples/train")
    test = data_file("images/face_recognition/knn_examples/test")
    key_file = write_key_file(tmp_path / "collections.key", key)
    home = Collections(tmp_path / "home", key_file=key_file)
    with home.create_collection("friends", engine=dlib_engine) as c:
        for person in sorted(p for p in train.iterdir() if p.is_dir()):
            for photo in sorted(person.iterdir()):
                c.index_faces(photo, external_image_id=f"person-{person.name}", max_faces=1)
        found = c.search_faces_by_image(test / "obama1.jpg")
        assert found.best is not None and found.best.face.external_image_id == "person-obama"
        obama_ids = [r.face_id for r in c.list_faces().faces if r.external_image_id == "person-obama"]
        indexed = len(c)
        c.save_cache()
        directory = c.directory
    assert obama_ids
    # Every file of the collection is ciphertext: no embedding (as stored, or in the index's panel
    # layout), no external image id, no SQLite header.
    needles: dict[str, bytes | np.ndarray] = {"SQLite header": SQLITE_HEADER, "external image id": b"person-obama"}
    for face_id in obama_ids:
        _, blob = stored_embedding(c, key, face_id)
        needles[f"embedding of {face_id}"] = np.frombuffer(blob, dtype=np.float32)
    names = {p.name for p in collection_files(directory)}
    assert {"collection.db", "encryption.json"} <= names and any(n.startswith("index-") for n in names)
    assert exposed(directory) == []  # owner-only, encryption.json included
    assert raw_leaks(directory, needles) == []
    # The same search through a new Collections (reading the key file again) and the saved cache.
    reopened_home = Collections(tmp_path / "home", key_file=key_file)
    with reopened_home.collection("friends", engine=dlib_engine) as c:
        assert c.open_report.source == "cache"
        again = c.search_faces_by_image(test / "obama1.jpg")
        assert again.best is not None and again.best.face.face_id == found.best.face.face_id
        assert again.best.similarity == pytest.approx(found.best.similarity, abs=1e-6)
        assert sorted(c.delete_faces(obama_ids).deleted_faces) == sorted(obama_ids)
        after = c.search_faces_by_image(test / "obama1.jpg")
        assert all(m.face.external_image_id != "person-obama" for m in after.face_matches)
    description = reopened_home.describe_collection("friends")
    assert description.encrypted and description.face_count == indexed - len(obama_ids)
    assert raw_leaks(directory, needles) == []


def test_the_command_line_with_a_key_file(dlib_engine: FaceEngine, data_file: DataFile, tmp_path: Path,
                                          key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = write_key_file(tmp_path / "k.hex", key, as_hex=True)
    home = str(tmp_path / "home")
    photo = data_file("images/face_recognition/knn_examples/test/obama1.jpg")

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main([*argv, "--home", home], stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    code, out, err = run("collection", "create", "c", "--key-file", str(key_file))
    assert code == EXIT_OK, err
    assert "created encrypted collection c" in out
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))  # the environment variable, as a deployment sets it
    code, out, err = run("index", "c", str(photo))
    assert code == EXIT_OK, err
    code, out, err = run("search", "c", str(photo), "--json")
    assert code == EXIT_OK, err
    assert json.loads(out)["face_matches"][0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    code, out, _ = run("collection", "describe", "c")
    assert code == EXIT_OK and "encrypted   yes" in out and "faces       1" in out
    monkeypatch.delenv(KEY_FILE_ENV)
    code, out, err = run("collection", "describe", "c", "--json")
    assert code == EXIT_BAD_INPUT
    assert "is encrypted: open it with its key" in err
    assert json.loads(out)["error"]["type"] == "CollectionKeyError"
    code, _, err = run("search", "c", str(photo), "--key-file", str(write_key_file(tmp_path / "other", os.urandom(32))))
    assert code == EXIT_BAD_INPUT and "wrong key" in err
    assert key.hex() not in err


# -- keys -------------------------------------------------------------------------------------


def test_no_key_a_wrong_key_and_a_key_for_a_plain_collection(tmp_path: Path, key: bytes) -> None:
    encrypted = Collections(tmp_path, key=key)
    encrypted.create_collection("secret", SYNTHETIC).close()
    plain = Collections(tmp_path)
    plain.create_collection("open", SYNTHETIC).close()
    wrong = Collections(tmp_path, key=os.urandom(32))
    failures = {
        "no key": (lambda: plain.collection("secret"), "collection 'secret' is encrypted: open it with its key"),
        "wrong key": (lambda: wrong.collection("secret"), "collection 'secret': wrong key"),
        "describe, wrong key": (lambda: wrong.describe_collection("secret"), "wrong key"),
        "key for a plain one": (lambda: encrypted.collection("open"), "collection 'open' is not encrypted"),
    }
    messages = []
    for what, (open_it, message) in failures.items():
        with pytest.raises(CollectionKeyError, match=message) as caught:
            open_it()
        assert caught.value.exit_code == EXIT_BAD_INPUT, what
        messages.append(str(caught.value))
    # The key itself shows nowhere: messages, reprs, descriptions.
    shown = " ".join([*messages, repr(encrypted), repr(encrypted.key), str(encrypted.key),
                      repr(encrypted.describe_collection("secret"))])
    for form in (key.hex(), key.hex().upper(), repr(key)):
        assert form not in shown
    assert repr(encrypted) == f"Collections(home={str(tmp_path)!r}, encrypted)"
    with pytest.raises(TypeError, match="not pickled"):
        import pickle

        pickle.dumps(encrypted.key)
    # Each side still opens with the right Collections.
    with encrypted.collection("secret") as c, plain.collection("open") as p:
        assert len(c) == len(p) == 0
    assert encrypted.describe_collection("secret").encrypted and not plain.describe_collection("open").encrypted
    # Without its record an encrypted collection looks damaged; the error says what may have happened.
    record = encrypted.path_of("secret") / "encryption.json"
    saved = record.read_bytes()
    record.unlink()
    with pytest.raises(CollectionFileError, match="not a plain SQLite file: if it is an encrypted collection whose "
                                                  "encryption.json was lost, restore that file"):
        plain.collection("secret")
    with pytest.raises(CollectionKeyError, match="'secret' is not encrypted, but a key was given"):
        encrypted.collection("secret")
    record.write_bytes(saved)
    record.chmod(0o600)
    with encrypted.collection("secret") as c:
        assert len(c) == 0


def test_key_files(tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = write_key_file(tmp_path / "raw.key", key)
    hexed = write_key_file(tmp_path / "hex.key", key, as_hex=True)
    assert read_key_file(raw).raw == read_key_file(hexed).raw == key
    with pytest.raises(CollectionKeyError, match="does not exist"):
        read_key_file(tmp_path / "absent.key")
    with pytest.raises(CollectionKeyError, match=r"must hold 32 raw bytes or 64 hex digits; it holds 16 bytes"):
        read_key_file(write_key_file(tmp_path / "short.key", key[:16]))
    with pytest.raises(CollectionKeyError, match="must hold 32 raw bytes or 64 hex digits"):
        read_key_file(write_key_file(tmp_path / "nothex.key", b"z" * 64))
    exposed = write_key_file(tmp_path / "exposed.key", key, mode=0o644)
    with pytest.raises(CollectionKeyError, match=r"open to group or others \(mode 0644\): run `chmod 600"):
        read_key_file(exposed)
    with pytest.raises(CollectionKeyError, match="must be 32 bytes .AES-256., got 31 bytes"):
        Collections(tmp_path, key=key[:31])
    with pytest.raises(CollectionKeyError, match="must be 32 bytes, got str"):
        Collections(tmp_path, key=key.hex())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        Collections(tmp_path, key=key, key_file=raw)
    monkeypatch.setenv(KEY_FILE_ENV, str(hexed))
    from_env = Collections(tmp_path)
    assert from_env.encrypted and from_env.key is not None and from_env.key.raw == key
    monkeypatch.setenv(KEY_FILE_ENV, str(exposed))
    with pytest.raises(CollectionKeyError, match="open to group or others"):
        Collections(tmp_path)


# -- the sealed index cache ------------------------------------------------------------------------


def test_a_tampered_or_foreign_cache_is_rebuilt(tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small chunks, so that the file has many and the chunk order and count are tested too
    # (the i8 cache of 300 faces is 45 kB).
    monkeypatch.setattr(sealed_index, "CHUNK_BYTES", 1024)
    home = Collections(tmp_path, key=key)
    with home.create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(unit_vectors(300, 3), pack=SYNTHETIC)
        cache = c.save_cache()
    sealed = cache.read_bytes()
    header, chunk = sealed_index._HEADER.size, 1024 + 16
    assert sealed[:8] == b"FIDXSEAL" and (len(sealed) - header) // chunk >= 30

    def reopened_with(data: bytes) -> str:
        for f in cache_files(cache.parent):
            f.path.unlink()
        cache.write_bytes(data)
        with home.collection("c") as again:
            assert len(again) == 300
            hit = again.search_faces_by_embedding(unit_vectors(300, 3)[17], pack=SYNTHETIC).best
            assert hit is not None and hit.similarity == pytest.approx(1.0, abs=1e-6)
            report = again.open_report
            assert report.source == ("cache" if data == sealed else "rebuilt"), report
            return report.reason

    assert reopened_with(sealed) == ""
    flipped = bytearray(sealed)
    flipped[header + 5 * chunk + 100] ^= 1
    swapped = sealed[:header] + sealed[header + chunk:header + 2 * chunk] + sealed[header:header + chunk] + \
        sealed[header + 2 * chunk:]
    last_chunk_dropped = sealed[:header + ((len(sealed) - header - 1) // chunk) * chunk]
    salt_changed = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
    for altered in (bytes(flipped), swapped, last_chunk_dropped, salt_changed, sealed[:-1]):
        assert "does not decrypt with this collection's key" in reopened_with(altered)
    # The cache of another encrypted collection (another key), under this one's file name.
    other = Collections(tmp_path / "other", key=os.urandom(32))
    with other.create_collection("c", SYNTHETIC) as o:
        o.index_embeddings(unit_vectors(300, 3), pack=SYNTHETIC)
        foreign = o.save_cache().read_bytes()
    assert "does not decrypt with this collection's key" in reopened_with(foreign)
    # A plain FlatIndex file is no sealed one either.
    with Collections(tmp_path / "plain").create_collection("c", SYNTHETIC) as p:
        p.index_embeddings(unit_vectors(300, 3), pack=SYNTHETIC)
        assert "bad magic" in reopened_with(p.save_cache().read_bytes())


def test_a_damaged_encrypted_database_is_a_collection_file_error(tmp_path: Path, key: bytes) -> None:
    """A page that fails SQLCipher's HMAC is damage (the key check passed): CollectionFileError, never a crash."""
    home = Collections(tmp_path, key=key)
    with home.create_collection("c", SYNTHETIC) as c:
        c.index_embeddings(unit_vectors(2000, 1), pack=SYNTHETIC)
        db = c.directory / "collection.db"
        # The meta table is read at every open; where its root page lies depends on the schema's tables.
        meta_root = c._open().conn().execute("SELECT rootpage FROM sqlite_master WHERE name = 'meta'").fetchone()[0]
    intact = db.read_bytes()
    for page, when in ((0, "open"), (meta_root - 1, "open"), (60, "listing")):
        damaged = bytearray(intact)
        damaged[page * PAGE + 200] ^= 0x55
        db.write_bytes(bytes(damaged))
        with pytest.raises(CollectionFileError, match="collection.db.*(not a database|malformed)"):
            with home.collection("c") as c:
                assert when == "listing", f"page {page} damaged, yet the collection opened"
                c.list_faces(max_results=1000)
        db.write_bytes(intact)
    with home.collection("c") as c:
        assert len(c.list_faces(max_results=1000).faces) == 1000


# -- processes ---------------------------------------------------------------------------------------


def test_another_process_writes_with_the_key_file(tmp_path: Path, key: bytes) -> None:
    key_file = write_key_file(tmp_path / "k", key)
    home = Collections(tmp_path, key_file=key_file)
    home.create_collection("c", SYNTHETIC).close()
    env = {**os.environ, KEY_FILE_ENV: str(key_file)}
    done = subprocess.run([sys.executable, WORKER, "write", str(tmp_path), "c", "0", "6", "5", "3"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(written) == 6
    with home.collection("c") as c:
        assert len(c) == 30 and c.open_report.source in ("cache", "cache+catch-up")
        assert all(c.get_faces(line["face_ids"]).keys() == set(line["face_ids"]) for line in written)
    # Without the key the child fails with the key error, naming the variable to set.
    env.pop(KEY_FILE_ENV)
    refused = subprocess.run([sys.executable, WORKER, "write", str(tmp_path), "c", "0", "7", "5", "0", "6"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "CollectionKeyError" in refused.stderr and KEY_FILE_ENV in refused.stderr
    assert key.hex() not in refused.stderr


# -- erasure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["delete_faces", "delete_user"])
def test_erasure_inside_the_encrypted_files(tmp_path: Path, key: bytes, how: str) -> None:
    home = Collections(tmp_path, key=key)
    collection = home.create_collection("c", SYNTHETIC)
    secret_name = "secret-image-7f3a9c.jpg"
    face_id = populate(collection, secret_name)
    if how == "delete_user":
        collection.create_user("leaving-user-42")
        collection.associate_faces("leaving-user-42", [face_id])
    row_id, blob = stored_embedding(collection, key, face_id)
    cache_vector = sealed_index.load(collection.save_cache(), CollectionKey(key)).reconstruct(row_id)
    db, wal = collection.directory / "collection.db", collection.directory / "collection.db-wal"
    needles: dict[str, bytes | np.ndarray] = {
        "embedding": blob, "face id": face_id.encode(), "external image id": secret_name.encode()}

    def decrypted() -> dict[str, bytes]:
        (cache,) = cache_files(collection.directory)
        index = sealed_index.load(cache.path, CollectionKey(key))
        return {"collection.db": decrypted_pages(db, key), "collection.db-wal": decrypted_pages(wal, key),
                "cache": b"" if row_id not in index else index.reconstruct(row_id).tobytes()}

    # The search can fail: decrypted, the pages and the cache hold the face; raw, nothing does.
    before = decrypted()
    for where in ("collection.db", "collection.db-wal"):
        assert all(needle in before[where] for needle in needles.values()), where  # type: ignore[operator]
    assert before["cache"] == cache_vector.tobytes()
    assert raw_leaks(collection.directory, {**needles, "cache vector": cache_vector}) == []

    if how == "delete_faces":
        assert collection.delete_faces([face_id]).deleted_faces == [face_id]
    else:
        assert collection.delete_user("leaving-user-42").deleted_faces == [face_id]

    # secure_delete zeroes the rows inside the encrypted pages: the key opens no trace of them.
    after = decrypted()
    for where in ("collection.db", "collection.db-wal"):
        assert [w for w, n in needles.items() if n in after[where]] == [], where  # type: ignore[operator]
    assert after["cache"] == b""
    assert not holds_vector(after["collection.db"] + after["collection.db-wal"], cache_vector)
    assert raw_leaks(collection.directory, {**needles, "cache vector": cache_vector}) == []
    assert len(collection) == 500
    collection.close()
    with home.collection("c") as reopened:
        assert reopened.open_report.source == "cache"
        assert len(reopened) == 500 and reopened.get_faces(face_id) == {}
