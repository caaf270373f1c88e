"""IndexFaces, ListFaces, DeleteFaces, SearchFaces, SearchFacesByImage through boto3's rekognition
client, against `faceindex serve` started as its own process on 127.0.0.1, with real photos."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image

from faceindex import Collections
from ops_helpers import (GROUP, LOW_BAR, OBAMA, OBAMA_AND_BIDEN, OBAMA_PROBE, DataFile,
                         check_box, darkened, error_of, faceindex_headers, index_portraits, photo)
from service_helpers import RunningServer

# FaceModelVersion: '<pack number>.<version code>' (dlib is pack 1; its version code follows the pack's version).
DLIB_MODEL_VERSION = re.compile(r"1\.[0-9]+")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LANDMARK_TYPES = {"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight", "leftEyeLeft", "leftEyeRight",
                  "rightEyeLeft", "rightEyeRight"}
NOT_ESTIMATED = {"AgeRange", "Smile", "Eyeglasses", "Sunglasses", "Gender", "Beard", "Mustache", "EyesOpen",
                 "MouthOpen", "Emotions", "FaceOccluded", "EyeDirection"}


@pytest.fixture(scope="module")
def rk(rekognition_server: RunningServer) -> Any:
    """One client for the module (conftest's `rekognition` is made per test)."""
    return rekognition_server.client()


@pytest.fixture(scope="module")
def people(rk: Any, data_file: DataFile) -> dict[str, str]:
    """Collection "people": four portraits, one face each; ExternalImageId -> FaceId."""
    return index_portraits(rk, data_file, "people")


def detail_is_what_faceindex_measures(detail: dict[str, Any]) -> None:
    check_box(detail["BoundingBox"])
    assert 0 <= detail["Confidence"] <= 100
    assert {lm["Type"] for lm in detail["Landmarks"]} <= LANDMARK_TYPES and len(detail["Landmarks"]) == 5
    assert all(0 <= lm["X"] <= 1 and 0 <= lm["Y"] <= 1 for lm in detail["Landmarks"])
    assert 0 <= detail["Quality"]["Brightness"] <= 100 and 0 <= detail["Quality"]["Sharpness"] <= 100
    assert not NOT_ESTIMATED & set(detail), "attributes faceindex does not estimate are left out, not invented"


def test_index_faces_in_rekognition_shapes(rk: Any, data_file: DataFile) -> None:
    rk.create_collection(CollectionId="group")
    answer = rk.index_faces(CollectionId="group", Image=photo(data_file, OBAMA_AND_BIDEN), ExternalImageId="rally",
                            MaxFaces=2, DetectionAttributes=["ALL"])
    records, unindexed = answer["FaceRecords"], answer["UnindexedFaces"]
    assert len(records) == 2 and len(unindexed) >= 1
    assert DLIB_MODEL_VERSION.fullmatch(answer["FaceModelVersion"])
    assert "OrientationCorrection" not in answer
    assert len({r["Face"]["ImageId"] for r in records}) == 1
    for record in records:
        face = record["Face"]
        assert UUID.match(face["FaceId"]) and face["ExternalImageId"] == "rally"
        assert face["IndexFacesModelVersion"] == answer["FaceModelVersion"]
        assert face["BoundingBox"] == record["FaceDetail"]["BoundingBox"]
        detail_is_what_faceindex_measures(record["FaceDetail"])
    assert ["EXCEEDS_MAX_FACES"] in [u["Reasons"] for u in unindexed]
    assert error_of(rk.index_faces, CollectionId="nobody", Image=photo(data_file, OBAMA))[0] == \
        "ResourceNotFoundException"
    assert error_of(rk.index_faces, CollectionId="group", Image={"Bytes": b"GIF89a..."})[0] == \
        "InvalidImageFormatException"
    assert error_of(rk.index_faces, CollectionId="group", Image=photo(data_file, OBAMA),
                    ExternalImageId="no spaces allowed")[0] == "ValidationException"
    for face in unindexed:
        detail_is_what_faceindex_measures(face["FaceDetail"])
    # Largest first, as Rekognition indexes them.
    areas = [r["Face"]["BoundingBox"]["Width"] * r["Face"]["BoundingBox"]["Height"] for r in records]
    assert areas == sorted(areas, reverse=True)
    # The box is the face's place in the photo: its pixels, over the photo's size.
    with Image.open(data_file(OBAMA_AND_BIDEN)) as image:
        width, height = image.size
    listed = {f["FaceId"]: f for f in rk.list_faces(CollectionId="group")["Faces"]}
    for record in records:  # ListFaces gives the same ratios: the collection kept the image's size
        assert listed[record["Face"]["FaceId"]]["BoundingBox"] == pytest.approx(record["Face"]["BoundingBox"])
        box = record["Face"]["BoundingBox"]
        assert 10 < box["Width"] * width < width and 10 < box["Height"] * height < height


def test_quality_filter(rk: Any, data_file: DataFile) -> None:
    rk.create_collection(CollectionId="quality")
    dim = darkened(data_file, GROUP)
    everything = rk.index_faces(CollectionId="quality", Image=dim, QualityFilter="NONE")
    auto = rk.index_faces(CollectionId="quality", Image=dim)  # AUTO, Rekognition's default
    strict = rk.index_faces(CollectionId="quality", Image=dim, QualityFilter="HIGH")
    assert everything["UnindexedFaces"] == [] and len(everything["FaceRecords"]) >= 5
    assert len(auto["FaceRecords"]) == len(everything["FaceRecords"])
    assert strict["FaceRecords"] == [] and len(strict["UnindexedFaces"]) == len(everything["FaceRecords"])
    assert all("LOW_BRIGHTNESS" in face["Reasons"] for face in strict["UnindexedFaces"])


def test_list_faces_pages_and_filters(rk: Any, people: dict[str, str]) -> None:
    seen, token, pages = [], None, 0
    while True:
        page = rk.list_faces(CollectionId="people", MaxResults=3, **({"NextToken": token} if token else {}))
        seen += [f["FaceId"] for f in page["Faces"]]
        pages += 1
        token = page.get("NextToken")
        if token is None:
            break
    assert pages == 2 and seen == list(people.values())  # in the order indexed, each once
    paginated = [f["FaceId"] for p in rk.get_paginator("list_faces").paginate(
        CollectionId="people", PaginationConfig={"PageSize": 1}) for f in p["Faces"]]
    assert paginated == seen
    wanted = [people["biden"], people["obama"], "00000000-0000-4000-8000-000000000000"]
    chosen = rk.list_faces(CollectionId="people", FaceIds=wanted)["Faces"]
    assert [f["FaceId"] for f in chosen] == wanted[:2]
    assert all(f["ExternalImageId"] in people for f in chosen)
    assert error_of(rk.list_faces, CollectionId="people", NextToken="not-a-token")[0] == \
        "InvalidPaginationTokenException"
    assert error_of(rk.list_faces, CollectionId="nobody")[0] == "ResourceNotFoundException"
    assert error_of(rk.list_faces, CollectionId="people", MaxResults=0)[0] == "InvalidParameterException"


def test_search_faces_by_image(rekognition_server: RunningServer, rk: Any, people: dict[str, str],
                               data_file: DataFile) -> None:
    answer = rk.search_faces_by_image(CollectionId="people", Image=photo(data_file, OBAMA_PROBE),
                                      FaceMatchThreshold=LOW_BAR, MaxFaces=5)
    matches = answer["FaceMatches"]
    assert {m["Face"]["ExternalImageId"] for m in matches} == {"obama", "obama2"}
    assert all(LOW_BAR <= m["Similarity"] <= 100 for m in matches)
    assert [m["Similarity"] for m in matches] == sorted((m["Similarity"] for m in matches), reverse=True)
    check_box(answer["SearchedFaceBoundingBox"])
    assert 0 < answer["SearchedFaceConfidence"] <= 100
    assert DLIB_MODEL_VERSION.fullmatch(answer["FaceModelVersion"])
    headers = faceindex_headers(answer)
    assert headers["x-faceindex-threshold-chosen-by"] == "fmr"
    assert float(headers["x-faceindex-requested-similarity"]) == LOW_BAR
    assert float(headers["x-faceindex-requested-rate"]) == pytest.approx(1e-3)
    assert float(headers["x-faceindex-estimated-fmr"]) <= 1e-3
    assert int(headers["x-faceindex-gallery-size"]) == len(people)
    assert 0 < float(headers["x-faceindex-estimated-fpir"]) < 4 * 1e-3 * len(people)
    assert headers["x-faceindex-pack"].startswith("dlib ")  # the pack by name (FaceModelVersion: its number)
    assert headers["x-faceindex-similarity-scale"] == "calibrated-fmr"
    assert "LFW" in headers["x-faceindex-calibration"]
    # The audit log holds the search under the request's id, with what the headers said.
    with Collections(rekognition_server.home).collection("people") as collection:
        entries = [e for e in collection.audit_log() if e.reference == answer["ResponseMetadata"]["RequestId"]]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.purpose == "rekognition:SearchFacesByImage" and entry.chosen_by == "fmr"
    assert f"{entry.threshold:.6f}" == headers["x-faceindex-threshold"]
    assert sorted(entry.candidates) == sorted(m["Face"]["FaceId"] for m in matches)
    # Without FaceMatchThreshold: Rekognition's default of 80 (FMR 1e-6).
    default = rk.search_faces_by_image(CollectionId="people", Image=photo(data_file, OBAMA_PROBE))
    assert float(faceindex_headers(default)["x-faceindex-requested-similarity"]) == 80
    assert float(faceindex_headers(default)["x-faceindex-threshold"]) > float(headers["x-faceindex-threshold"])
    assert all(m["Similarity"] >= 80 for m in default["FaceMatches"])
    # 0 asks for every face, ranked (Biden's too, at Similarity 0), as on AWS.
    everyone = rk.search_faces_by_image(CollectionId="people", Image=photo(data_file, OBAMA_PROBE),
                                        FaceMatchThreshold=0, MaxFaces=10)
    assert len(everyone["FaceMatches"]) == len(people)
    assert faceindex_headers(everyone)["x-faceindex-threshold-chosen-by"] == "fixed"


def blank_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(out, "PNG")
    return out.getvalue()


def test_search_faces_by_image_errors(rk: Any, people: dict[str, str], data_file: DataFile) -> None:
    search = rk.search_faces_by_image
    code, message, status = error_of(search, CollectionId="people", Image={"Bytes": blank_png()})
    assert (code, status) == ("InvalidParameterException", 400) and "no faces" in message
    assert error_of(search, CollectionId="people", Image={"Bytes": b"this is not a photo"})[0] == \
        "InvalidImageFormatException"
    truncated = data_file(OBAMA_PROBE).read_bytes()[:3000]
    assert error_of(search, CollectionId="people", Image={"Bytes": truncated})[0] == "InvalidImageFormatException"
    assert error_of(search, CollectionId="people", Image={"Bytes": b"\xff\xd8" + b"\0" * (5 * 1024 * 1024)})[0] == \
        "ImageTooLargeException"
    assert error_of(search, CollectionId="nobody", Image=photo(data_file, OBAMA_PROBE))[0] == \
        "ResourceNotFoundException"
    # A face too dark for QualityFilter HIGH is not searched (NONE, the default, searches it).
    code, message, _ = error_of(search, CollectionId="people", Image=darkened(data_file, OBAMA_PROBE),
                                QualityFilter="HIGH")
    assert code == "InvalidParameterException" and "LOW_BRIGHTNESS" in message
    assert "FaceMatches" in search(CollectionId="people", Image=darkened(data_file, OBAMA_PROBE))


def test_search_faces_by_face_id(rekognition_server: RunningServer, rk: Any, people: dict[str, str]) -> None:
    answer = rk.search_faces(CollectionId="people", FaceId=people["biden"], FaceMatchThreshold=LOW_BAR)
    assert answer["SearchedFaceId"] == people["biden"]
    found = [m["Face"]["FaceId"] for m in answer["FaceMatches"]]
    assert found == [people["biden2"]]  # never the face itself, never Obama
    assert faceindex_headers(answer)["x-faceindex-threshold-chosen-by"] == "fmr"
    with Collections(rekognition_server.home).collection("people") as collection:
        logged = [e for e in collection.audit_log() if e.reference == answer["ResponseMetadata"]["RequestId"]]
    assert [e.purpose for e in logged] == ["rekognition:SearchFaces"]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert error_of(rk.search_faces, CollectionId="people", FaceId=unknown)[0] == "ResourceNotFoundException"
    assert error_of(rk.search_faces, CollectionId="nobody", FaceId=people["biden"])[0] == "ResourceNotFoundException"
    assert error_of(rk.search_faces, CollectionId="people", FaceId=people["biden"],
                    FaceMatchThreshold=100.5)[0] == "ValidationException"
    assert error_of(rk.search_faces, CollectionId="people", FaceId="not-a-face-id")[0] == "ValidationException"


def test_delete_faces(rk: Any, data_file: DataFile) -> None:
    rk.create_collection(CollectionId="erase")
    records = rk.index_faces(CollectionId="erase", Image=photo(data_file, OBAMA_AND_BIDEN))["FaceRecords"]
    doomed, kept = records[0]["Face"]["FaceId"], [r["Face"]["FaceId"] for r in records[1:]]
    unknown = "00000000-0000-4000-8000-000000000000"
    answer = rk.delete_faces(CollectionId="erase", FaceIds=[doomed, unknown])
    assert answer["DeletedFaces"] == [doomed]
    assert answer["UnsuccessfulFaceDeletions"] == [{"FaceId": unknown, "Reasons": ["FACE_NOT_FOUND"]}]
    assert [f["FaceId"] for f in rk.list_faces(CollectionId="erase")["Faces"]] == kept
    assert error_of(rk.search_faces, CollectionId="erase", FaceId=doomed)[0] == "ResourceNotFoundException"
    assert error_of(rk.delete_faces, CollectionId="nobody", FaceIds=[doomed])[0] == "ResourceNotFoundException"
    assert error_of(rk.delete_faces, CollectionId="erase", FaceIds=["../../etc"])[0] == "ValidationException"
