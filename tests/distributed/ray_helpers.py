"""Starting and stopping Ray for the distributed tests: one local instance (or simulated
cluster) per test module, its session files in a short private temp folder (Ray's unix
sockets must fit in 107 bytes), every wait bounded."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="faceindex[ray] is not installed")

# Every node binds to 127.0.0.1 (tests/conftest.py keeps Ray from swapping loopback for the
# interface address), and the tests check that ray.nodes() says so.
LOOPBACK = "127.0.0.1"
QUIET = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}


@contextmanager
def local_ray(num_cpus: int = 2) -> Iterator[None]:
    temp = tempfile.mkdtemp(prefix="fi-ray-", dir="/tmp")
    try:
        ray.init(num_cpus=num_cpus, _temp_dir=temp, namespace="faceindex-tests", _node_ip_address=LOOPBACK,
                 **QUIET)
        nodes = [n for n in ray.nodes() if n["Alive"]]
        assert len(nodes) == 1 and nodes[0]["NodeManagerAddress"] == LOOPBACK, nodes
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def simulated_cluster(nodes: int, cpus_per_node: int = 1) -> Iterator[Any]:
    """A head node holding no CPU (so work lands on the worker nodes) and `nodes` worker nodes."""
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="fi-rc-", dir="/tmp")
    # Where Cluster writes its address file (otherwise /tmp/ray, shared with anyone on the machine).
    monkey = pytest.MonkeyPatch()
    monkey.setenv("RAY_TMPDIR", temp)
    os.makedirs(os.path.join(temp, "ray"))
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "temp_dir": temp, "include_dashboard": False, "node_ip_address": LOOPBACK})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=cpus_per_node, node_ip_address=LOOPBACK)
        ray.init(address=cluster.address, namespace="faceindex-tests", **QUIET)
        cluster.wait_for_nodes(timeout=60)
        alive = [n for n in ray.nodes() if n["Alive"]]
        assert len(alive) == nodes + 1 and {n["NodeManagerAddress"] for n in alive} == {LOOPBACK}, alive
        # Registered is not yet proven able to run work: one task pinned to each node, so that every
        # test starts on a cluster all of whose nodes have run something.
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.remote(num_cpus=0)(lambda: ray.get_runtime_context().get_node_id())
        ran = ray.get([here.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                       .remote() for n in alive], timeout=120)
        assert sorted(ran) == sorted(n["NodeID"] for n in alive)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        monkey.undo()
        shutil.rmtree(temp, ignore_errors=True)


def node_of(cluster: Any, node_id: str) -> Any:
    """The simulated worker node with this Ray node id (None: the head node)."""
    return next((node for node in cluster.worker_nodes if node.node_id == node_id), None)
