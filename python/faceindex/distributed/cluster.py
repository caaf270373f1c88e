"""Connecting this process to Ray: ADDRESS is a cluster's address, 'auto' (the cluster this
machine belongs to), or 'local' (a Ray instance started here, ended with this process)."""

from __future__ import annotations


def connect(address: str, *, namespace: str | None = None) -> None:
    """ray.init quietly (no dashboard, no worker logs on this process's output). ImportError
    naming the extra when Ray is not installed."""
    try:
        import ray
    except ImportError as e:
        raise ImportError("Ray is needed for sharded collections: pip install 'faceindex[ray]'") from e
    ray.init(address=None if address == "local" else address, namespace=namespace, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
