"""CreateCollection, DeleteCollection, ListCollections, DescribeCollection.

CollectionArn: "aws:rekognition:<region>:000000000000:collection/<id>", the form Rekognition
answers (no "arn:" prefix there), with the service's --region and account 000000000000 (there is
no AWS account). FaceModelVersion: the collection's model pack and its version ("dlib 1.1").
ListCollections' NextToken is the last id of the page before (ids are listed in sorted order).
"""

from __future__ import annotations

import re
from typing import Any

from faceindex.errors import CollectionNotFoundError
from faceindex.collection.validation import collection_id as checked_collection_id
from faceindex.service.context import RequestContext
from faceindex.service.errors import ServiceError, invalid_parameter
from faceindex.service.operations.registry import operation

ACCOUNT = "000000000000"
DEFAULT_MAX_RESULTS = 1000
_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,255}\Z")


def collection_arn(ctx: RequestContext, collection_id: str) -> str:
    return f"aws:rekognition:{ctx.config.region}:{ACCOUNT}:collection/{collection_id}"


@operation("CreateCollection")
def create_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("Tags"):
        raise invalid_parameter("Tags are not supported by faceindex (they would not be stored)")
    collection_id = checked_collection_id(params["CollectionId"])
    pack = ctx.catalog.create_collection(collection_id).pack  # kept open for the requests to come
    return {"StatusCode": 200, "CollectionArn": collection_arn(ctx, collection_id),
            "FaceModelVersion": f"{pack.name} {pack.version}"}


@operation("DeleteCollection")
def delete_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = checked_collection_id(params["CollectionId"])
    ctx.catalog.delete_collection(collection_id)
    return {"StatusCode": 200}


@operation("ListCollections")
def list_collections(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    after = params.get("NextToken")
    if after is not None and not _TOKEN.match(after):
        raise ServiceError("InvalidPaginationTokenException", f"NextToken {after[:100]!r} is not one this server gave")
    limit = params.get("MaxResults") or DEFAULT_MAX_RESULTS
    ids = [i for i in ctx.catalog.list_collections() if after is None or i > after]
    page = ids[:limit] if params.get("MaxResults") != 0 else []
    versions = []
    listed = []
    for collection_id in page:
        try:
            pack = ctx.catalog.describe_collection(collection_id).pack
        except CollectionNotFoundError:
            continue  # deleted since it was listed
        listed.append(collection_id)
        versions.append(f"{pack.name} {pack.version}")
    result: dict[str, Any] = {"CollectionIds": listed, "FaceModelVersions": versions}
    if page and len(ids) > len(page):
        result["NextToken"] = page[-1]
    return result


@operation("DescribeCollection")
def describe_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    description = ctx.catalog.describe_collection(checked_collection_id(params["CollectionId"]))
    return {
        "FaceCount": description.face_count,
        "UserCount": description.user_count,
        "FaceModelVersion": f"{description.pack.name} {description.pack.version}",
        "CollectionARN": collection_arn(ctx, description.collection_id),
        "CreationTimestamp": description.created_at,
    }
