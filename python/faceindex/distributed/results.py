"""What a sharded search returns: the single collection's results, and whether every shard answered."""

from __future__ import annotations

from dataclasses import dataclass

from faceindex.collection.results import FaceSearchResult, UserSearchResult
from faceindex.errors import CollectionError


@dataclass(frozen=True)
class ShardedFaceSearchResult(FaceSearchResult):
    # partial=True: the shards named in missing_shards did not answer within the timeout, and
    # their faces were not searched (only when the search was made with allow_partial=True).
    partial: bool = False
    missing_shards: tuple[int, ...] = ()
    searched_faces: int = 0  # faces in the shards that answered: the gallery size the threshold was chosen for


@dataclass(frozen=True)
class ShardedUserSearchResult(UserSearchResult):
    partial: bool = False
    missing_shards: tuple[int, ...] = ()
    searched_faces: int = 0


class ShardUnavailableError(CollectionError, TimeoutError):
    """Shards did not answer within the timeout (a search without allow_partial, or a write)."""

    def __init__(self, message: str, shards: tuple[int, ...]) -> None:
        super().__init__(message)
        self.shards = shards
