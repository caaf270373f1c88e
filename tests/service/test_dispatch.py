"""One request through Service.handle in process, with handlers of the test's own: the headers a
handler adds, errors from a handler (faceindex's, a bug's), and the server's paths kept from clients."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from faceindex.errors import CollectionNotFoundError
from faceindex.service.config import ServiceConfig
from faceindex.service.context import RequestContext
from faceindex.service.dispatch import HttpRequest, Service


def request(operation: str, body: dict[str, Any]) -> HttpRequest:
    return HttpRequest("POST", "127.0.0.1:8080", "/", "", [
        ("content-type", "application/x-amz-json-1.1"), ("x-amz-target", f"RekognitionService.{operation}")],
        json.dumps(body).encode())


def test_handler_headers_errors_and_paths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[RequestContext] = []

    def headers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        seen.append(ctx)
        ctx.response_headers["X-Faceindex-Threshold"] = "0.9053"
        ctx.response_headers["X-Bad"] = "two\nlines"
        ctx.response_headers["Bad Name"] = "x"
        return {"CollectionIds": [], "FaceModelVersions": []}

    def missing(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise CollectionNotFoundError(f"no collection {params['CollectionId']!r} in {ctx.collections.root}")

    def bug(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug with a secret detail")

    service = Service(ServiceConfig(home=tmp_path, no_auth=True), handlers={
        "ListCollections": headers, "DescribeCollection": missing, "DeleteCollection": bug})
    cancelled = threading.Event()
    answer = service.handle(request("ListCollections", {}), "rid-1", cancelled)
    assert answer.status == 200
    assert ("x-faceindex-threshold", "0.9053") in answer.headers
    assert ("x-amzn-requestid", "rid-1") in answer.headers
    assert not [name for name, _ in answer.headers if name in ("x-bad", "bad name")]
    assert seen[0].cancelled is cancelled and seen[0].request_id == "rid-1"

    answer = service.handle(request("DescribeCollection", {"CollectionId": "c"}), "rid-2")
    document = json.loads(answer.body)
    assert (answer.status, document["__type"]) == (400, "ResourceNotFoundException")
    assert str(tmp_path) not in document["message"] and "the server's home" in document["message"]

    with caplog.at_level(logging.ERROR, logger="faceindex.service"):
        answer = service.handle(request("DeleteCollection", {"CollectionId": "c"}), "rid-3")
    document = json.loads(answer.body)
    assert (answer.status, document["__type"], document["message"]) == (500, "InternalServerError", "internal error")
    assert "rid-3" in caplog.text and "a bug with a secret detail" in caplog.text  # the operator sees it

    answer = service.handle(request("DetectLabels", {"Image": {"Bytes": "AAAA"}}), "rid-4")
    assert json.loads(answer.body)["__type"] == "InvalidParameterException"
    service.close()
