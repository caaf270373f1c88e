"""Starting and stopping Ray for the distributed tests: one local instance (or simulated
cluster) per test module, its session files in a short private temp folder (Ray's unix
sockets must fit in 107 bytes), every wait bounded."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="faceindex[ray] is not installed")

# Ray 2.60 turns a loopback node address into the host's own interface address
# (services.resolve_ip_for_localhost); the tests check that every node is on that one address.
LOCAL = "127.0.0.1"
QUIET = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}


@contextmanager
def local_ray(num_cpus: int = 2) -> Iterator[None]:
    temp = tempfile.mkdtemp(prefix="fi-ray-", dir="/tmp")
    try:
        ray.init(num_cpus=num_cpus, _node_ip_address=LOCAL, _temp_dir=temp, namespace="faceindex-tests", **QUIET)
        nodes = [n for n in ray.nodes() if n["Alive"]]
        assert len(nodes) == 1, nodes
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def simulated_cluster(nodes: int, cpus_per_node: int = 1) -> Iterator[Any]:
    """A head node holding no CPU (so work lands on the worker nodes) and `nodes` worker nodes."""
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="fi-rc-", dir="/tmp")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "node_ip_address": LOCAL, "temp_dir": temp, "include_dashboard": False})
    try:
        workers = [cluster.add_node(num_cpus=cpus_per_node, node_ip_address=LOCAL) for _ in range(nodes)]
        ray.init(address=cluster.address, namespace="faceindex-tests", **QUIET)
        cluster.wait_for_nodes(timeout=60)
        alive = [n for n in ray.nodes() if n["Alive"]]
        assert len(alive) == nodes + 1 and len({n["NodeManagerAddress"] for n in alive}) == 1, alive
        cluster.worker_nodes_list = workers
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
