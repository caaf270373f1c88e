"""CreateCollection, ListCollections, DescribeCollection, DeleteCollection through boto3's own
rekognition client against `faceindex serve`, errors included."""

from __future__ import annotations

import re

import time
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from service_helpers import RunningServer


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_create_describe_delete(rekognition: Any) -> None:
    before = time.time()
    created = rekognition.create_collection(CollectionId="people-1")
    assert created["StatusCode"] == 200
    assert created["CollectionArn"] == "aws:rekognition:us-east-1:000000000000:collection/people-1"
    assert re.fullmatch(r"1\.[0-9]+", created["FaceModelVersion"])  # dlib is pack 1 (a dotted number, as AWS's)
    assert created["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == created["ResponseMetadata"]["RequestId"]

    described = rekognition.describe_collection(CollectionId="people-1")
    assert described["FaceCount"] == 0 and described["UserCount"] == 0
    assert described["CollectionARN"] == created["CollectionArn"]
    assert described["FaceModelVersion"] == created["FaceModelVersion"]
    created_at = described["CreationTimestamp"]
    assert isinstance(created_at, datetime)
    assert before - 5 <= created_at.astimezone(timezone.utc).timestamp() <= time.time() + 5

    assert rekognition.delete_collection(CollectionId="people-1")["StatusCode"] == 200
    with pytest.raises(ClientError) as missing:
        rekognition.describe_collection(CollectionId="people-1")
    assert error_code(missing) == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_duplicate_is_resource_already_exists(rekognition: Any) -> None:
    rekognition.create_collection(CollectionId="twice")
    with pytest.raises(rekognition.exceptions.ResourceAlreadyExistsException) as again:
        rekognition.create_collection(CollectionId="twice")
    assert "twice" in again.value.response["Error"]["Message"]
    rekognition.delete_collection(CollectionId="twice")


def test_missing_collection_is_resource_not_found(rekognition: Any) -> None:
    for call in (rekognition.describe_collection, rekognition.delete_collection):
        with pytest.raises(rekognition.exceptions.ResourceNotFoundException) as missing:
            call(CollectionId="never-made")
        message = missing.value.response["Error"]["Message"]
        assert "never-made" in message
        assert "/" not in message.replace("never-made", ""), "the server's paths are not told to clients"


def test_bad_ids_are_refused(rekognition: Any, rekognition_server: RunningServer) -> None:
    # boto3 checks lengths itself (its own copy of the model's rules) ...
    with pytest.raises(ParamValidationError):
        rekognition.create_collection(CollectionId="")
    # ... but not patterns: the server answers that, as AWS words it.
    with pytest.raises(ClientError) as pattern:
        rekognition.create_collection(CollectionId="has space")
    assert error_code(pattern) == "ValidationException"
    assert ("Value 'has space' at 'collectionId' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern") in pattern.value.response["Error"]["Message"]
    assert rekognition_server.alive()


def test_list_pages_with_tokens(rekognition: Any) -> None:
    ids = [f"page-{i:02d}" for i in range(7)]
    for collection_id in ids:
        rekognition.create_collection(CollectionId=collection_id)
    try:
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            kwargs = {"MaxResults": 3, **({"NextToken": token} if token else {})}
            page = rekognition.list_collections(**kwargs)
            assert len(page["CollectionIds"]) <= 3
            assert len(page["FaceModelVersions"]) == len(page["CollectionIds"])
            seen += page["CollectionIds"]
            pages += 1
            token = page.get("NextToken")
            if not token:
                break
        assert [i for i in seen if i.startswith("page-")] == ids
        assert pages >= 3
        # boto3's paginator follows the same tokens.
        paginated = [i for p in rekognition.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 2})
                     for i in p["CollectionIds"]]
        assert [i for i in paginated if i.startswith("page-")] == ids
        with pytest.raises(rekognition.exceptions.InvalidPaginationTokenException):
            rekognition.list_collections(NextToken="not a token!")
    finally:
        for collection_id in ids:
            rekognition.delete_collection(CollectionId=collection_id)
    assert not [i for i in rekognition.list_collections()["CollectionIds"] if i.startswith("page-")]
