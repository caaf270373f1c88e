"""What an operation handler is given besides its (validated) parameters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faceindex.collection import Collections
from faceindex.collection.contract import FaceCollection
from faceindex.engine import FaceEngine
from faceindex.service.access import AccessPolicy, check_collection
from faceindex.service.config import ServiceConfig

if TYPE_CHECKING:
    from faceindex.service.resources import SharedResources
    from faceindex.service.video_jobs import VideoJobs


@dataclass
class RequestContext:
    """One request: its id (x-amzn-RequestId, written to the audit log as the search's reference),
    the service's shared objects, and the X-Faceindex-* headers the handler adds to the answer."""

    request_id: str
    config: ServiceConfig
    collections: Collections
    # An open Collection per id, shared by every request (Collection is thread-safe); the server owns them.
    open_collection: Callable[[str], FaceCollection]
    # The engine of the service's pack, for DetectFaces / CompareFaces (loaded once, shared).
    default_engine: Callable[[], FaceEngine]
    # Closes the shared open Collection of an id (DeleteCollection, before the files go).
    forget_collection: Callable[[str], None]
    # The home's collections, plain and sharded: create, list, describe, delete (CreateCollection ...).
    catalog: SharedResources
    # The stored-video job queue and its runner (None: this server runs no video jobs).
    video_jobs: VideoJobs | None = None
    # The SDK's amz-sdk-invocation-id: one per call, the same on each of its retries (None: not sent).
    invocation_id: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    # Set by the server when the client has gone or the server is stopping.
    cancelled: threading.Event = field(default_factory=threading.Event)
    # What the signing key may do (None: every operation on every collection, as with --no-auth).
    access: AccessPolicy | None = None
    operation: str = ""  # the Rekognition operation being answered

    def require_collection(self, collection_id: str) -> None:
        """AccessDeniedException unless the key may use this collection (one a request names indirectly:
        a video job's, a stream processor's, an ARN's)."""
        check_collection(self.access, self.operation, collection_id, self.config.region)
