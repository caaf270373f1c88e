"""AWS JSON 1.1 as the endpoint speaks it, by raw HTTP (http.client): bodies that are not JSON,
wrong content types, missing and unknown targets, bodies too large, values of the wrong type or
out of the model's bounds. Every answer is a Rekognition error with its request id; none is a 5xx."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest

from service_helpers import RunningServer, raw_request, signed_headers


def signed(server: RunningServer, operation: str, body: bytes, **extra: str) -> tuple[int, dict[str, str], Any]:
    return raw_request(server, body, signed_headers(server, operation, body, extra=extra or None))


def assert_error(answer: tuple[int, dict[str, str], Any], status: int, code: str) -> dict[str, Any]:
    got_status, headers, document = answer
    assert (got_status, (document or {}).get("__type")) == (status, code), document
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert document["Logref"] == headers["x-amzn-requestid"]
    assert document["message"] and document["Message"] == document["message"]
    return dict(document)


def test_a_signed_request_by_hand_is_answered(rekognition_server: RunningServer) -> None:
    status, headers, document = signed(rekognition_server, "ListCollections", b"{}")
    assert status == 200 and "CollectionIds" in document
    assert len(headers["x-amzn-requestid"]) == 36


def test_malformed_json_is_serialization_exception(rekognition_server: RunningServer) -> None:
    for body in (b"{", b"[1, 2", b"\xff\xfe{}", b'{"CollectionId": NaN}', b"[" * 100_000):
        assert_error(signed(rekognition_server, "DescribeCollection", body), 400, "SerializationException")
    # JSON, but not an object
    assert_error(signed(rekognition_server, "DescribeCollection", b"[]"), 400, "SerializationException")
    assert_error(signed(rekognition_server, "DescribeCollection", b'"x"'), 400, "SerializationException")


def test_wrong_content_type(rekognition_server: RunningServer) -> None:
    for content_type in ("application/json", "text/plain", ""):
        answer = signed(rekognition_server, "ListCollections", b"{}", **{"Content-Type": content_type})
        document = assert_error(answer, 400, "SerializationException")
        assert "application/x-amz-json-1.1" in document["message"]


def test_missing_and_unknown_targets(rekognition_server: RunningServer) -> None:
    body = b"{}"
    headers = signed_headers(rekognition_server, None, body)
    assert_error(raw_request(rekognition_server, body, headers), 400, "UnknownOperationException")
    assert_error(signed(rekognition_server, "NoSuchOperation", body), 400, "UnknownOperationException")
    headers = signed_headers(rekognition_server, "ListCollections", body,
                             extra={"X-Amz-Target": "DynamoDB_20120810.ListTables"})
    assert_error(raw_request(rekognition_server, body, headers), 400, "UnknownOperationException")


def test_real_operation_not_served(rekognition_server: RunningServer, rekognition: Any) -> None:
    document = assert_error(signed(rekognition_server, "DetectLabels", b'{"Image": {"Bytes": "AAAA"}}'), 400,
                            "InvalidParameterException")
    assert "DetectLabels is not supported by faceindex" in document["message"]
    with pytest.raises(rekognition.exceptions.InvalidParameterException, match="StartLabelDetection"):
        rekognition.start_label_detection(Video={"S3Object": {"Bucket": "bucket", "Name": "v.mp4"}})


def test_body_too_large_is_refused_before_reading_it(rekognition_server: RunningServer) -> None:
    body = b"{" + b" " * (9 * 1024 * 1024) + b"}"
    assert_error(raw_request(rekognition_server, body, {"Content-Type": "application/x-amz-json-1.1"}), 413,
                 "ImageTooLargeException")


def test_other_methods_and_unsigned_requests(rekognition_server: RunningServer) -> None:
    assert_error(raw_request(rekognition_server, b"", method="GET"), 405, "UnknownOperationException")
    document = assert_error(raw_request(rekognition_server, b"{}", {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "RekognitionService.ListCollections"}),
        400, "MissingAuthenticationTokenException")
    assert document["message"] == "Missing Authentication Token"


def test_values_checked_against_the_model(rekognition_server: RunningServer) -> None:
    # a string where the model has an integer
    document = assert_error(signed(rekognition_server, "ListCollections", json.dumps({"MaxResults": "3"}).encode()),
                            400, "SerializationException")
    assert "maxResults" in document["message"]
    # out of the model's range, several at once, as AWS lists them
    body = json.dumps({"MaxResults": 5000, "NextToken": "x" * 300}).encode()
    document = assert_error(signed(rekognition_server, "ListCollections", body), 400, "ValidationException")
    assert document["message"].startswith("2 validation errors detected: ")
    assert "Value '5000' at 'maxResults' failed to satisfy constraint: Member must have value less than or " \
           "equal to 4096" in document["message"]
    assert "at 'nextToken' failed to satisfy constraint: Member must have length less than or equal to 255" \
           in document["message"]
    # a required member missing (null counts as missing)
    document = assert_error(signed(rekognition_server, "DescribeCollection", b'{"CollectionId": null}'), 400,
                            "ValidationException")
    assert "at 'collectionId' failed to satisfy constraint: Member must not be null" in document["message"]
    # a nested member: list items and blobs
    body = json.dumps({"CollectionId": "c", "FaceIds": ["not-a-face-id"]}).encode()
    document = assert_error(signed(rekognition_server, "DeleteFaces", body), 400, "ValidationException")
    assert "at 'faceIds.1.member' failed to satisfy constraint: Member must satisfy regular expression pattern" \
        in document["message"]
    body = json.dumps({"Image": {"Bytes": "not base64!"}}).encode()
    assert_error(signed(rekognition_server, "DetectFaces", body), 400, "SerializationException")
    # members the model does not have are ignored, as on AWS
    status, _, document = signed(rekognition_server, "ListCollections", b'{"Unknown": {"deep": [1, 2]}}')
    assert status == 200
    assert rekognition_server.alive()


def test_answers_do_not_wait_on_delayed_acks(rekognition: Any) -> None:
    # Without TCP_NODELAY on the server's connections every boto3 call took ~45 ms (the answer's
    # second segment waited for the client's delayed ACK); a plain call takes a few ms.
    rekognition.list_collections()
    times = []
    for _ in range(15):
        start = time.perf_counter()
        rekognition.list_collections()
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.025, times
