"""The operations the endpoint serves, by Rekognition's name.

A handler takes the request context and the request's parameters, already validated
against botocore's service model (required members present, types, lengths, ranges and
patterns checked; blobs such as Image.Bytes decoded from base64 to bytes), and returns
the response's members as a dict (the protocol layer encodes them). It raises
ServiceError for a Rekognition error; faceindex's own errors are translated by the server.
"""

from __future__ import annotations

from faceindex.service.operations.registry import Handler


def load_all() -> dict[str, Handler]:
    """Import every operation module (each registers its handlers) and return the table."""
    from faceindex.service.operations import (  # noqa: F401
        collections, faces, images, stream_processors, tags, users, video)
    from faceindex.service.operations.registry import OPERATIONS

    return OPERATIONS
