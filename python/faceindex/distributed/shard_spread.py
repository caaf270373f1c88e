"""Where a sharded collection's actors run: spread over the cluster's nodes, so that one node's
loss takes as few shards as possible.

One placement group per open collection, a bundle per shard, strategy SPREAD: the GCS places
the bundles on distinct nodes while there are enough (several per node when there are more
shards than nodes), and when a node is lost it places that node's bundles again on the live
ones, where Ray restarts their actors. (Soft node affinity, tried first, was decided by each
raylet's view of the cluster and put all three shards on one node in about 1 start in 4.)

A bundle must reserve something: each reserves SHARD_MEMORY of Ray's `memory` resource, which
every node has and that a shard's actor claims (a scheduling token; Ray enforces no limit).
"""

from __future__ import annotations

from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

SHARD_MEMORY = 64 * 2**20


def spread_placement(shards: int, timeout_s: float, actor_options: dict[str, Any]) -> PlacementGroup | None:
    """The placement group for `shards` shard actors (each asking what actor_options ask: num_cpus,
    num_gpus, resources), ready; None when Ray could not place it in timeout_s (the caller names
    the shards that did not start)."""
    bundle = {"memory": float(_memory(actor_options)), "CPU": float(actor_options.get("num_cpus") or 0),
              "GPU": float(actor_options.get("num_gpus") or 0), **actor_options.get("resources", {})}
    group: PlacementGroup = placement_group([{k: v for k, v in bundle.items() if v}] * shards, strategy="SPREAD")
    ready, _ = ray.wait([group.ready()], timeout=timeout_s)
    if not ready:
        remove_placement_group(group)
        return None
    return group


def shard_options(group: PlacementGroup, shard: int, actor_options: dict[str, Any]) -> dict[str, Any]:
    """The actor options that put shard `shard` in its bundle."""
    return {"memory": _memory(actor_options),
            "scheduling_strategy": PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=shard)}


def _memory(actor_options: dict[str, Any]) -> int:
    return int(actor_options.get("memory") or SHARD_MEMORY)


def release(group: PlacementGroup | None) -> None:
    if group is not None:
        remove_placement_group(group)
