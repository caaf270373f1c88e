"""Joining a Ray cluster, or starting one on this machine bound to loopback.

Ray (2.x on Linux) swaps a loopback node address for the machine's interface address and
binds there, which would open a local instance's ports to the network. Ray keeps loopback
only where it takes the machine for a single-node one (its "no multi-node cluster" switch,
read when ray is first imported): `loopback_only()` sets that switch, so a local instance
binds to 127.0.0.1 and a driver that joins a cluster at 127.0.0.1 looks for it there.
Multi-node clusters started in-process (ray.cluster_utils, the tests' simulated nodes) still
work on loopback.
"""

from __future__ import annotations

import os
import socket
import sys

LOOPBACK = "127.0.0.1"
# Ray reads it at import (ray_constants.ENABLE_RAY_CLUSTER); "0": resolve this machine to loopback.
_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(address: str) -> bool:
    """'local', or an address (host:port, with or without a scheme) on this machine's loopback."""
    rest = address.split("://", 1)[-1]
    host = rest if rest.count(":") > 1 and not rest.startswith("[") else rest.rsplit(":", 1)[0]
    return address == "local" or host in _LOOPBACK_HOSTS


def loopback_only() -> None:
    """Make Ray keep loopback addresses as they are. Effective only before ray is imported."""
    if "ray" in sys.modules:
        from ray._private import ray_constants

        if ray_constants.ENABLE_RAY_CLUSTER and os.environ.get(_SINGLE_MACHINE) != "0":
            raise RuntimeError("Ray was imported before faceindex could keep it on 127.0.0.1: call "
                               "faceindex.distributed.connect.loopback_only() (or set "
                               f"{_SINGLE_MACHINE}=0) before importing ray")
    os.environ[_SINGLE_MACHINE] = "0"


def before_ray(address: str | None) -> None:
    """What must happen before ray is imported, for this address (see the module's doc)."""
    if address is not None and is_loopback(address):
        loopback_only()


def host_and_port(address: str) -> tuple[str, int] | None:
    """The host and port of 'host:port' or 'ray://host:port'; None for 'auto', 'local' and the like."""
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ConnectionError naming the address when nothing accepts a connection there: ray.init would
    otherwise wait minutes for a cluster that is not there."""
    target = host_and_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout_s).close()
    except OSError as e:
        raise ConnectionError(f"no Ray cluster answers at {address} ({e.strerror or e}): is the address right, "
                              "and is the cluster running?") from None


def connect(address: str | None, *, namespace: str | None = None) -> None:
    """ray.init quietly (no dashboard, no worker logs on this process's output) for the CLI and the
    endpoint: an address, 'auto', or 'local' (a Ray instance of this machine on 127.0.0.1, ended
    with this process). ImportError naming the extra when Ray is not installed."""
    if address is None:
        raise ValueError("--shards needs --ray ADDRESS (an address, 'auto', or 'local')")
    before_ray(address)
    check_reachable(address)
    try:
        import ray
    except ImportError as e:
        raise ImportError("Ray is needed for sharded collections: pip install 'faceindex[ray]'") from e
    local = address == "local"
    ray.init(address=None if local else address, namespace=namespace, include_dashboard=False, log_to_driver=False,
             configure_logging=False, _node_ip_address=LOOPBACK if local else None)
    if local:
        nodes = ray.nodes()  # type: ignore[no-untyped-call]
        exposed = sorted({n["NodeManagerAddress"] for n in nodes if n["Alive"]} - {LOOPBACK})
        if exposed:
            ray.shutdown()
            raise RuntimeError(f"the local Ray instance bound to {', '.join(exposed)}, not {LOOPBACK} only")
