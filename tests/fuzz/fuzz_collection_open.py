"""Fuzz harness: opening and using a collection whose database file, cache file or metadata is damaged.

The first byte picks what is damaged: 0 the SQLite file (the rest is its bytes), 1 the
FlatIndex cache file (the rest is its bytes, under the name the collection looks for),
2 one metadata value (the next byte picks the key, the rest is the value). Accepted
outcomes: a FaceIndexError (CollectionFileError for damage), or a collection that opens,
lists, searches and describes itself consistently.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from faceindex import Collections, PackInfo
from faceindex.collection import schema
from faceindex.collection.index_cache import cache_files
from faceindex.errors import FaceIndexError

DIM = 8
PACK = PackInfo(name="fuzz", version="1", embedding_size=DIM, default_threshold=0.5, threshold_source="fuzz",
                detector="none", recognizer="none", license="test only")
FACES = 6


@cache
def template() -> Path:
    """A small collection, closed cleanly (database checkpointed, cache saved): the undamaged original."""
    home = Path(tempfile.mkdtemp(prefix="fuzz-collection-"))
    vectors = np.random.default_rng(0).standard_normal((FACES, DIM)).astype(np.float32)
    with Collections(home / "template").create_collection("c", PACK) as collection:
        collection.index_embeddings(vectors, pack=PACK, external_image_id="x")
        collection.save_cache()
    return home / "template" / "collections" / "c"


def damaged_copy(data: bytes) -> Path:
    """A fresh home holding collection "c": the template with the damage data describes."""
    original = template()
    home = original.parent.parent.parent / "case"
    shutil.rmtree(home, ignore_errors=True)
    directory = home / "collections" / "c"
    shutil.copytree(original, directory)
    target, body = data[0] % 3, data[1:]
    if target == 0:
        (directory / schema.DATABASE_NAME).write_bytes(body)
    elif target == 1:
        (cache := cache_files(directory)[-1].path).write_bytes(body)
        assert cache.exists()
    elif body:
        key = schema.META_KEYS[body[0] % len(schema.META_KEYS)]
        conn = sqlite3.connect(directory / schema.DATABASE_NAME)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (_value(body[1:]), key))
        conn.commit()
        conn.close()
    return home


def _value(raw: bytes) -> object:
    """A metadata value of the type the bytes suggest: an integer, a float, text or a blob."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    try:
        number = int(text)
        return number if -2**63 <= number < 2**63 else text  # SQLite integers are 64-bit
    except ValueError:
        pass
    try:
        return float(text)
    except (ValueError, OverflowError):
        return text


def check(data: bytes) -> None:
    if not data:
        return
    home = damaged_copy(data)
    try:
        collections = Collections(home)
        description = collections.describe_collection("c")
        with collections.collection("c") as collection:
            faces = collection.list_faces(max_results=100).faces
            assert len(faces) == description.face_count == len(collection)
            query = np.ones(collection.pack.embedding_size, dtype=np.float32)
            result = collection.search_faces_by_embedding(query, pack=collection.pack, max_faces=10, threshold=-1.0)
            assert len(result.face_matches) == min(10, len(faces))
    except FaceIndexError:
        return


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
