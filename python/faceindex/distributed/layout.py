"""Where sharded collections live on disk, and what can be read of them without Ray.

A sharded collection is the folder <home>/sharded/<collection_id>: layout.json (its id and
number of shards) and one ordinary collection per shard, shard-000 .... This module imports no
Ray, so the endpoint can list, describe and delete sharded collections (and say which fix a
server started without --ray needs) without the faceindex[ray] extra.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from faceindex import thresholds
from faceindex.collection import CollectionDescription, Collections, validation
from faceindex.collection.home import default_home
from faceindex.errors import CollectionNotFoundError
from faceindex.paths import child_path

LAYOUT_NAME = "layout.json"
SHARDED_FOLDER = "sharded"


def sharded_root(home: str | os.PathLike[str] | None) -> Path:
    return (Path(home) if home is not None else default_home()) / SHARDED_FOLDER


def sharded_path(home: str | os.PathLike[str] | None, collection_id: str) -> Path:
    """Where a sharded collection lives: <home>/sharded/<collection_id>."""
    return child_path(sharded_root(home), validation.collection_folder(collection_id), "collection id")


def shard_directory(directory: Path, shard: int) -> Path:
    return directory / f"shard-{shard:03d}"


def is_sharded(home: str | os.PathLike[str] | None, collection_id: str) -> bool:
    """Whether the home holds a sharded collection of this id (its layout written: created whole)."""
    return (sharded_path(home, collection_id) / LAYOUT_NAME).is_file()


def list_sharded(home: str | os.PathLike[str] | None) -> list[str]:
    """The ids of the home's sharded collections, sorted."""
    root = sharded_root(home)
    if not root.is_dir():
        return []
    found = [(validation.collection_of_folder(entry.name), entry) for entry in os.scandir(root)]
    return sorted(collection_id for collection_id, entry in found
                  if collection_id is not None and os.path.isfile(os.path.join(entry.path, LAYOUT_NAME)))


def shard_count(home: str | os.PathLike[str] | None, collection_id: str) -> int:
    layout = sharded_path(home, collection_id) / LAYOUT_NAME
    if not layout.is_file():
        raise CollectionNotFoundError(f"no sharded collection {collection_id!r} in {layout.parent.parent}")
    return int(json.loads(layout.read_text(encoding="utf-8"))["shards"])


def describe_sharded(home: str | os.PathLike[str] | None, collection_id: str) -> CollectionDescription:
    """The whole collection's description, summed over its shards' databases (read directly: each
    is an ordinary collection, and SQLite readers never wait for the shards' writers). Created
    at: the first shard's creation."""
    directory = sharded_path(home, collection_id)
    parts = [Collections(shard_directory(directory, i)).describe_collection(collection_id)
             for i in range(shard_count(home, collection_id))]
    first = parts[0]
    faces = sum(p.face_count for p in parts)
    pack = Collections(shard_directory(directory, 0)).pack_of(collection_id)
    return CollectionDescription(
        collection_id=collection_id, pack=first.pack, embedding_size=first.embedding_size,
        default_threshold=first.default_threshold, face_count=faces,
        user_count=sum(p.user_count for p in parts), created_at=first.created_at, path=str(directory),
        database_bytes=sum(p.database_bytes for p in parts), cache_bytes=sum(p.cache_bytes for p in parts),
        encrypted=first.encrypted, compare_threshold=first.compare_threshold,
        search_threshold=thresholds.for_search(pack, faces))  # a search covers every shard's faces


def delete_sharded(home: str | os.PathLike[str] | None, collection_id: str) -> None:
    """Remove a sharded collection's folder (close its ShardedCollection first: its actors hold the shards)."""
    directory = sharded_path(home, collection_id)
    if not (directory / LAYOUT_NAME).is_file():
        raise CollectionNotFoundError(f"no sharded collection {collection_id!r} in {directory.parent}")
    # Renamed out of sight first, so no one opens a half-deleted collection.
    doomed = directory.parent / f".deleting-{uuid.uuid4().hex}"
    os.rename(directory, doomed)
    shutil.rmtree(doomed)
