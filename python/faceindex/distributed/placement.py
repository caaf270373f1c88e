"""Which shard holds a face: a stable hash of its placement key, the same in every process and run.

The key is the face's user when it is indexed for one (so a user's faces stay on one shard
and a user search, merged over the shards, is exact), else its image (the image id, or the
content hash of an ingested file: re-ingesting a file finds it where it was put).
"""

from __future__ import annotations

import hashlib


def shard_of(key: str, shards: int) -> int:
    """The shard (0..shards-1) of a placement key. Python's hash() is salted per process: not usable here."""
    if shards < 1:
        raise ValueError(f"a sharded collection has at least 1 shard, got {shards}")
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def placement_key(user_id: str | None, image_id: str) -> str:
    return f"user:{user_id}" if user_id is not None else f"image:{image_id}"
