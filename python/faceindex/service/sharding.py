"""`faceindex serve --ray ADDRESS [--shards N]`: the endpoint's collections sharded over Ray.

The server connects to Ray once, at start; a collection held in the home as a sharded one
(distributed/layout.py) is opened as a ShardedCollection, and with --shards N CreateCollection
makes sharded collections of N shards. Ray is imported only here, only with --ray: a server
without it serves plain collections as before and answers a sharded one with an error that
names the fix. The shard actors are named in the server's Ray namespace
("faceindex-serve:<collection>/shard-NNN"), so that `ray list actors` shows whose they are
and a second server on the same cluster cannot open the same shards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceindex.engine import FaceEngine
from faceindex.service.config import ServiceConfig
from faceindex.service.errors import ServiceError

if TYPE_CHECKING:
    from faceindex.distributed.sharded_collection import ShardedCollection

NAMESPACE = "faceindex-serve"
ACTOR_NAMES = "faceindex-serve:"


def not_served(collection_id: str) -> ServiceError:
    """A sharded collection asked of a server started without --ray (Rekognition's error for a
    resource that exists but is not deployed)."""
    return ServiceError("ResourceNotReadyException",
                        f"collection {collection_id!r} is sharded over Ray and this server was started without "
                        "Ray: restart it with `faceindex serve --ray ADDRESS` (a Ray address, 'auto', or 'local') "
                        "to serve it")


class Sharding:
    """The server's link to Ray, made at start (a failure to connect stops the start)."""

    def __init__(self, config: ServiceConfig) -> None:
        from faceindex.distributed.connect import connect

        assert config.ray_address is not None
        self.config = config
        connect(config.ray_address, namespace=NAMESPACE)

    @property
    def address(self) -> str:
        """The Ray cluster's address (with --ray local, the one this server started), for `ray.init(address=...)`."""
        import ray

        return str(ray.get_runtime_context().gcs_address)

    def open(self, collection_id: str, engine: FaceEngine | None) -> ShardedCollection:
        from faceindex.distributed.sharded_collection import ShardedCollection

        return ShardedCollection(self.config.home, collection_id, engine=engine, timeout_s=self.config.shard_timeout_s,
                                 actor_names=ACTOR_NAMES)

    def create(self, collection_id: str, engine: FaceEngine) -> ShardedCollection:
        from faceindex.distributed.sharded_collection import ShardedCollection

        assert self.config.shards is not None
        return ShardedCollection.create(self.config.home, collection_id, self.config.shards, engine.pack,
                                        engine=engine, timeout_s=self.config.shard_timeout_s, actor_names=ACTOR_NAMES)

    def close(self) -> None:
        import ray

        ray.shutdown()
