"""Collections sharded over a Ray cluster, and distributed ingestion (the optional extra faceindex[ray]).

Nothing else in faceindex imports Ray: the names here load it on first use, so the CLI's
hook (cli_distributed.py) costs nothing without it (pip install 'faceindex[ray]').
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faceindex.distributed.results import ShardedFaceSearchResult, ShardedUserSearchResult, ShardUnavailableError
    from faceindex.distributed.layout import sharded_path
    from faceindex.distributed.sharded_collection import ShardedCollection

__all__ = ["ShardedCollection", "ShardedFaceSearchResult", "ShardedUserSearchResult", "ShardUnavailableError",
           "sharded_path"]


def __getattr__(name: str) -> Any:
    if name in ("ShardedFaceSearchResult", "ShardedUserSearchResult", "ShardUnavailableError"):
        from faceindex.distributed import results

        return getattr(results, name)
    if name == "sharded_path":  # no Ray needed to find a sharded collection's folder
        from faceindex.distributed import layout

        return layout.sharded_path
    if name == "ShardedCollection":
        from faceindex.distributed import sharded_collection

        return getattr(sharded_collection, name)
    raise AttributeError(f"module 'faceindex.distributed' has no attribute {name!r}")
