"""CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers, SearchUsersByImage."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from faceindex import rekognition_shapes as shapes
from faceindex.collection.results import UserSearchResult
from faceindex.distributed.results import ShardUnavailableError
from faceindex.errors import UserExistsError, UserNotFoundError
from faceindex.service import accountability, idempotency
from faceindex.service.context import RequestContext
from faceindex.service.errors import ServiceError, invalid_parameter
from faceindex.service.image_input import decode
from faceindex.service.operations.registry import operation
from faceindex.service.operations.faces import invalid_pagination_token
from faceindex.types import PackInfo

DEFAULT_LIST_USERS = 100
DEFAULT_MAX_USERS = 10
ACTIVE = "ACTIVE"  # a user's changes are committed when the call returns: never CREATING or UPDATING


def conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message)


def _scope(ctx: RequestContext, operation_name: str, collection_id: str) -> tuple[str, ...]:
    return (str(ctx.config.home), collection_id, operation_name)


@operation("CreateUser")
def create_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id, user_id, token = params["CollectionId"], params["UserId"], params.get("ClientRequestToken")
    collection = ctx.open_collection(collection_id)
    scope = _scope(ctx, "CreateUser", collection_id)
    with idempotency.requests_with_tokens if token is not None else nullcontext():
        if idempotency.seen(scope, token, f"UserId={user_id}"):
            return {}
        try:
            collection.create_user(user_id)
        except UserExistsError as e:
            if not idempotency.was_in_doubt(scope, token, f"UserId={user_id}"):  # else: made by the first try
                raise conflict(str(e)) from e
        except ShardUnavailableError:
            idempotency.doubt(scope, token, f"UserId={user_id}")
            raise
        idempotency.remember(scope, token, f"UserId={user_id}")
    return {}


@operation("DeleteUser")
def delete_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id, user_id, token = params["CollectionId"], params["UserId"], params.get("ClientRequestToken")
    collection = ctx.open_collection(collection_id)
    scope = _scope(ctx, "DeleteUser", collection_id)
    with idempotency.requests_with_tokens if token is not None else nullcontext():
        if idempotency.seen(scope, token, f"UserId={user_id}"):
            return {}
        # As on AWS, the user's faces stay in the collection, no longer associated.
        try:
            collection.delete_user(user_id, delete_faces=False)
        except UserNotFoundError:
            if not idempotency.was_in_doubt(scope, token, f"UserId={user_id}"):  # else: deleted by the first try
                raise
        except ShardUnavailableError:
            idempotency.doubt(scope, token, f"UserId={user_id}")
            raise
        idempotency.remember(scope, token, f"UserId={user_id}")
    return {}


@operation("ListUsers")
def list_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    try:
        page = collection.list_users(params.get("MaxResults", DEFAULT_LIST_USERS), params.get("NextToken") or None)
    except ValueError as e:  # MaxResults is checked by the model (1-500): the token is what is left
        raise invalid_pagination_token(str(e)) from e
    answer: dict[str, Any] = {"Users": [{"UserId": u.user_id, "UserStatus": ACTIVE} for u in page.users]}
    if page.next_token is not None:
        answer["NextToken"] = page.next_token
    return answer


@operation("AssociateFaces")
def associate_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    pack = collection.pack
    wanted = accountability.requested(pack, params.get("UserMatchThreshold"),
                                      default=accountability.DEFAULT_USER_MATCH_THRESHOLD)
    result = collection.associate_faces(params["UserId"], params["FaceIds"], wanted.threshold,
                                        max_fmr=wanted.max_fmr, purpose="rekognition:AssociateFaces",
                                        reference=ctx.request_id)
    ctx.response_headers.update(accountability.headers(pack, result.threshold_choice, wanted))
    unsuccessful = []
    for failure in result.unsuccessful_face_associations:
        entry: dict[str, Any] = {"FaceId": failure.face_id, "Reasons": list(failure.reasons)}
        if failure.user_id is not None:
            entry["UserId"] = failure.user_id
        if failure.similarity is not None:
            entry["Confidence"] = shapes.match_similarity(pack, failure.similarity, failure.score)
        unsuccessful.append(entry)
    return {"AssociatedFaces": [{"FaceId": f} for f in result.associated_faces],
            "UnsuccessfulFaceAssociations": unsuccessful, "UserStatus": ACTIVE}


@operation("DisassociateFaces")
def disassociate_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    result = collection.disassociate_faces(params["UserId"], params["FaceIds"])
    unsuccessful = []
    for failure in result.unsuccessful_face_disassociations:
        entry: dict[str, Any] = {"FaceId": failure.face_id, "Reasons": list(failure.reasons)}
        if failure.user_id is not None:
            entry["UserId"] = failure.user_id
        unsuccessful.append(entry)
    return {"DisassociatedFaces": [{"FaceId": f} for f in result.disassociated_faces],
            "UnsuccessfulFaceDisassociations": unsuccessful, "UserStatus": ACTIVE}


def _user_matches(result: UserSearchResult, pack: PackInfo) -> list[dict[str, Any]]:
    return [{"Similarity": shapes.match_similarity(pack, m.similarity, m.score), "User": {"UserId": m.user.user_id,
                                                                          "UserStatus": ACTIVE}}
            for m in result.user_matches]


@operation("SearchUsers")
def search_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    user_id, face_id = params.get("UserId"), params.get("FaceId")
    if (user_id is None) == (face_id is None):
        raise invalid_parameter("SearchUsers needs exactly one of UserId and FaceId")
    pack = collection.pack
    wanted = accountability.requested(pack, params.get("UserMatchThreshold"))
    result = collection.search_users(user_id=user_id, face_id=face_id,
                                     max_users=params.get("MaxUsers", DEFAULT_MAX_USERS),
                                     threshold=wanted.threshold, max_fmr=wanted.max_fmr,
                                     purpose="rekognition:SearchUsers", reference=ctx.request_id)
    ctx.response_headers.update(accountability.headers(pack, result.threshold_choice, wanted))
    answer: dict[str, Any] = {"UserMatches": _user_matches(result, pack),
                              "FaceModelVersion": shapes.face_model_version(pack)}
    if user_id is not None:
        answer["SearchedUser"] = {"UserId": user_id}
    else:
        answer["SearchedFace"] = {"FaceId": face_id}
    return answer


@operation("SearchUsersByImage")
def search_users_by_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    pack = collection.pack
    wanted = accountability.requested(pack, params.get("UserMatchThreshold"))
    image = decode(ctx.config, params["Image"], max_pixels=collection.engine.max_pixels)
    result = collection.search_users_by_image(
        image.rgb, params.get("MaxUsers", DEFAULT_MAX_USERS), wanted.threshold, max_fmr=wanted.max_fmr,
        purpose="rekognition:SearchUsersByImage", reference=ctx.request_id,
        quality_filter=params.get("QualityFilter", "NONE").lower())
    ctx.response_headers.update(accountability.headers(pack, result.threshold_choice, wanted))
    searched = result.searched_face
    assert searched is not None  # a search by image always names the face it searched with
    w, h, live = image.width, image.height, collection.engine.pack  # the live pack names its landmarks
    return {"UserMatches": _user_matches(result, pack), "FaceModelVersion": shapes.face_model_version(pack),
            "SearchedFace": {"FaceDetail": shapes.face_detail_of(searched, live, w, h)},
            "UnsearchedFaces": [{"FaceDetails": shapes.face_detail_of(u.face, live, w, h), "Reasons": list(u.reasons)}
                                for u in result.unsearched_faces]}
