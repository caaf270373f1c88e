"""CreateCollection, DeleteCollection, ListCollections, DescribeCollection.

CollectionArn: "aws:rekognition:<region>:000000000000:collection/<id>", the form Rekognition
answers (no "arn:" prefix there), with the service's --region and account 000000000000 (there is
no AWS account). FaceModelVersion: the number of the collection's model pack and its version
(rekognition_shapes.face_model_version: dlib 1.1 -> "1.101"); DescribeCollection adds FaceindexPack.
ListCollections' NextToken is the last id of the page before (ids are listed in sorted order) with a
keyed hash of it (page_tokens.py): a token this server did not give is InvalidPaginationTokenException,
an empty one is the first page. A key limited to some collections lists only those (access.py).
Tags (CreateCollection's, TagResource's) are kept in the collection's folder (tags.py).
"""

from __future__ import annotations

from typing import Any

from faceindex import rekognition_shapes as shapes
from faceindex.errors import CollectionNotFoundError
from faceindex.collection.validation import collection_id as checked_collection_id
from faceindex.service import access, tags
from faceindex.service.access import ACCOUNT
from faceindex.service.context import RequestContext
from faceindex.service.errors import ServiceError
from faceindex.service.operations.registry import operation

DEFAULT_MAX_RESULTS = 1000


def collection_arn(ctx: RequestContext, collection_id: str) -> str:
    """The collection's ARN as Rekognition's CreateCollection and DescribeCollection answer it (no "arn:")."""
    return f"aws:rekognition:{ctx.config.region}:{ACCOUNT}:collection/{collection_id}"


@operation("CreateCollection")
def create_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = checked_collection_id(params["CollectionId"])
    wanted_tags = tags.merged({}, params.get("Tags") or {})  # over the quota: refused before anything is made
    pack = ctx.catalog.create_collection(collection_id).pack  # kept open for the requests to come
    if wanted_tags:
        ctx.catalog.change_collection_tags(collection_id, wanted_tags, [])
    return {"StatusCode": 200, "CollectionArn": collection_arn(ctx, collection_id),
            "FaceModelVersion": shapes.face_model_version(pack)}


@operation("DeleteCollection")
def delete_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = checked_collection_id(params["CollectionId"])
    ctx.catalog.delete_collection(collection_id)
    return {"StatusCode": 200}


@operation("ListCollections")
def list_collections(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    every = access.visible(ctx.access, ctx.catalog.list_collections())
    after = ctx.catalog.page_tokens.read("ListCollections", params.get("NextToken"), every)
    limit = params.get("MaxResults") or DEFAULT_MAX_RESULTS
    ids = [i for i in every if after is None or i > after]
    page = ids[:limit] if params.get("MaxResults") != 0 else []
    versions = []
    listed = []
    for collection_id in page:
        try:
            pack = ctx.catalog.describe_collection(collection_id).pack
        except (CollectionNotFoundError, ServiceError) as e:
            if isinstance(e, ServiceError) and e.code != "ResourceNotFoundException":
                raise
            continue  # deleted since it was listed
        listed.append(collection_id)
        versions.append(shapes.face_model_version(pack))
    result: dict[str, Any] = {"CollectionIds": listed, "FaceModelVersions": versions}
    if page and len(ids) > len(page):
        result["NextToken"] = ctx.catalog.page_tokens.make("ListCollections", page[-1])
    return result


@operation("DescribeCollection")
def describe_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    description = ctx.catalog.describe_collection(checked_collection_id(params["CollectionId"]))
    return {
        "FaceCount": description.face_count,
        "UserCount": description.user_count,
        "FaceModelVersion": shapes.face_model_version(description.pack),
        "CollectionARN": collection_arn(ctx, description.collection_id),
        "CreationTimestamp": description.created_at,
        # faceindex's own: the pack by name (FaceModelVersion is its number). boto3 leaves it out of
        # the parsed answer (it is not in Rekognition's model); raw HTTP clients see it.
        "FaceindexPack": shapes.pack_name_and_version(description.pack),
    }
