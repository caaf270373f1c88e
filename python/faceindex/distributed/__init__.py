"""Collections sharded over a Ray cluster, and distributed ingestion (the optional extra faceindex[ray]).

Nothing else in faceindex imports this package; it needs Ray (pip install 'faceindex[ray]').
"""

from faceindex.distributed.results import ShardedFaceSearchResult, ShardedUserSearchResult, ShardUnavailableError
from faceindex.distributed.sharded_collection import ShardedCollection, sharded_path

__all__ = ["ShardedCollection", "ShardedFaceSearchResult", "ShardedUserSearchResult", "ShardUnavailableError",
           "sharded_path"]
