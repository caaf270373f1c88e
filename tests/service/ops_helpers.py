"""What the operation tests share: the photos (and who is in them), Rekognition's error of a
call, and the X-Faceindex-* headers of an answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

KNN = "images/face_recognition/knn_examples"
OBAMA = f"{KNN}/train/obama/obama.jpg"
OBAMA_2 = f"{KNN}/train/obama/obama2.jpg"
OBAMA_PROBE = f"{KNN}/test/obama1.jpg"
BIDEN = f"{KNN}/train/biden/biden.jpg"
BIDEN_2 = f"{KNN}/train/biden/biden2.jpg"
OBAMA_AND_BIDEN = f"{KNN}/test/obama_and_biden.jpg"  # Biden, Obama, and a girl in the corner (3 faces for dlib)
GROUP = "images/insightface/t1.jpg"  # six people
# A low bar for the tests that need the same person found: Similarity 40 is FMR 1e-3 per
# comparison (dlib's FNMR there is 11% on LFW, at 80 it is 80%).
LOW_BAR = 40.0

DataFile = Callable[[str], Path]


def photo(data_file: DataFile, name: str) -> dict[str, bytes]:
    """Rekognition's Image member with the photo's bytes."""
    return {"Bytes": data_file(name).read_bytes()}


def darkened(data_file: DataFile, name: str, factor: float = 0.25) -> dict[str, bytes]:
    """The photo at `factor` of its brightness, as JPEG bytes: its faces are found, but too dark for
    QualityFilter HIGH (mean luma 0.2) while AUTO (0.08) still takes them."""
    import io

    from PIL import Image, ImageEnhance

    out = io.BytesIO()
    with Image.open(data_file(name)) as image:
        ImageEnhance.Brightness(image.convert("RGB")).enhance(factor).save(out, "JPEG", quality=95)
    return {"Bytes": out.getvalue()}


def error_of(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    """Rekognition's error code, message and HTTP status of a call that must fail."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    return error["Code"], error.get("Message", ""), caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def faceindex_headers(response: dict[str, Any]) -> dict[str, str]:
    """The X-Faceindex-* headers of a boto3 answer (botocore gives header names in lower case)."""
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return {k: v for k, v in headers.items() if k.startswith("x-faceindex-")}


def check_box(box: dict[str, float]) -> None:
    """A ratio BoundingBox inside its image (a detector's box may reach a little past an edge)."""
    assert 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1
    assert -0.1 < box["Left"] < 1 and -0.1 < box["Top"] < 1


def index_portraits(rk: Any, data_file: DataFile, collection_id: str) -> dict[str, str]:
    """A new collection holding four portraits (two of Obama, two of Biden), one face each: name -> FaceId."""
    rk.create_collection(CollectionId=collection_id)
    faces = {}
    for name, path in (("obama", OBAMA), ("obama2", OBAMA_2), ("biden", BIDEN), ("biden2", BIDEN_2)):
        answer = rk.index_faces(CollectionId=collection_id, Image=photo(data_file, path), ExternalImageId=name,
                                MaxFaces=1)
        assert len(answer["FaceRecords"]) == 1, name
        faces[name] = answer["FaceRecords"][0]["Face"]["FaceId"]
    return faces
