"""IndexFaces, ListFaces, DeleteFaces, SearchFaces, SearchFacesByImage."""

from __future__ import annotations

from typing import Any

from faceindex import rekognition_shapes as shapes
from faceindex.collection.results import FaceSearchResult
from faceindex.service import accountability
from faceindex.collection.contract import FaceCollection
from faceindex.service.context import RequestContext
from faceindex.service.errors import ServiceError, invalid_parameter
from faceindex.service.image_input import decode
from faceindex.service.operations.registry import operation

DEFAULT_LIST_FACES = 1000
DEFAULT_MAX_FACES = 10  # SearchFaces / SearchFacesByImage without MaxFaces


def invalid_pagination_token(message: str) -> ServiceError:
    return ServiceError("InvalidPaginationTokenException", message)


@operation("IndexFaces")
def index_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    image = decode(ctx.config, params["Image"], max_pixels=collection.engine.max_pixels)
    # write_id: the SDK's invocation id, the same on each of its retries, so a retry after a timeout
    # or a 503 (a shard that did not answer, though the write may land) is stored once.
    result = collection.index_faces(image.rgb, params.get("ExternalImageId"), params.get("MaxFaces"),
                                    params.get("QualityFilter", "AUTO").lower(), write_id=ctx.invocation_id)
    pack = collection.engine.pack  # the live pack: it knows which points its landmarks are
    # DetectionAttributes DEFAULT and ALL give the same FaceDetail: faceindex estimates no more.
    return {
        "FaceRecords": [{"Face": shapes.stored_face(record, pack),
                         "FaceDetail": shapes.face_detail_of(record.face, pack, image.width, image.height)}
                        for record in result.face_records],
        "UnindexedFaces": [{"Reasons": list(face.reasons),
                            "FaceDetail": shapes.face_detail_of(face.face, pack, image.width, image.height)}
                           for face in result.unindexed_faces],
        "FaceModelVersion": shapes.face_model_version(pack),
    }


@operation("ListFaces")
def list_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    max_results = params.get("MaxResults", DEFAULT_LIST_FACES)
    if max_results < 1:
        raise invalid_parameter(f"MaxResults must be at least 1, got {max_results}")
    user_id = params.get("UserId")
    pack = collection.pack
    face_ids = params.get("FaceIds")
    if face_ids is not None:  # the faces asked for, those stored, in the order asked; one page
        if params.get("NextToken"):
            raise invalid_pagination_token("ListFaces with FaceIds returns one page; NextToken does not apply")
        found = collection.get_faces(face_ids)
        records = [found[f] for f in dict.fromkeys(face_ids) if f in found
                   and (user_id is None or found[f].user_id == user_id)][:max_results]
        return {"Faces": [shapes.stored_face(r, pack) for r in records],
                "FaceModelVersion": shapes.face_model_version(pack)}
    try:
        page = collection.list_faces(max_results, params.get("NextToken") or None, user_id=user_id)
    except ValueError as e:  # the token is the only argument left unchecked here
        raise invalid_pagination_token(str(e)) from e
    answer: dict[str, Any] = {"Faces": [shapes.stored_face(r, pack) for r in page.faces],
                              "FaceModelVersion": shapes.face_model_version(pack)}
    if page.next_token is not None:
        answer["NextToken"] = page.next_token
    return answer


@operation("DeleteFaces")
def delete_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    # As on AWS, a face that belongs to a user is not deleted: disassociate it (or delete the user) first.
    result = collection.delete_faces(params["FaceIds"], keep_user_faces=True)
    unsuccessful = []
    for failure in result.unsuccessful_face_deletions:
        entry: dict[str, Any] = {"FaceId": failure.face_id, "Reasons": list(failure.reasons)}
        if failure.user_id is not None:
            entry["UserId"] = failure.user_id
        unsuccessful.append(entry)
    return {"DeletedFaces": result.deleted_faces, "UnsuccessfulFaceDeletions": unsuccessful}


def _matches(result: FaceSearchResult, collection: FaceCollection) -> list[dict[str, Any]]:
    pack = collection.pack
    return [{"Similarity": shapes.match_similarity(pack, m.similarity, m.score), "Face": shapes.stored_face(m.face, pack)}
            for m in result.face_matches]


@operation("SearchFaces")
def search_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    wanted = accountability.requested(collection.pack, params.get("FaceMatchThreshold"))
    result = collection.search_faces(params["FaceId"], params.get("MaxFaces", DEFAULT_MAX_FACES),
                                     threshold=wanted.threshold, max_fmr=wanted.max_fmr,
                                     purpose="rekognition:SearchFaces", reference=ctx.request_id)
    ctx.response_headers.update(accountability.headers(collection.pack, result.threshold_choice, wanted))
    return {"SearchedFaceId": params["FaceId"], "FaceMatches": _matches(result, collection),
            "FaceModelVersion": shapes.face_model_version(collection.pack)}


@operation("SearchFacesByImage")
def search_faces_by_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])
    wanted = accountability.requested(collection.pack, params.get("FaceMatchThreshold"))
    image = decode(ctx.config, params["Image"], max_pixels=collection.engine.max_pixels)
    result = collection.search_faces_by_image(
        image.rgb, params.get("MaxFaces", DEFAULT_MAX_FACES), wanted.threshold, max_fmr=wanted.max_fmr,
        purpose="rekognition:SearchFacesByImage", reference=ctx.request_id,
        quality_filter=params.get("QualityFilter", "NONE").lower())
    ctx.response_headers.update(accountability.headers(collection.pack, result.threshold_choice, wanted))
    searched = result.searched_face
    assert searched is not None  # a search by image always names the face it searched with
    return {"SearchedFaceBoundingBox": shapes.bounding_box(searched.bbox, image.width, image.height),
            "SearchedFaceConfidence": shapes.percent(searched.score * 100.0),
            "FaceMatches": _matches(result, collection),
            "FaceModelVersion": shapes.face_model_version(collection.pack)}
