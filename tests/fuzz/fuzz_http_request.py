"""Fuzz harness: one HTTP request of the Rekognition endpoint, as `faceindex serve` handles it on
a worker thread (service/dispatch.py: signature, target, content type, JSON, the check against
botocore's model, the handler), without the network.

Input: header lines "name: value" up to a blank line, then the body. A request with an
Authorization header goes to a service that checks SigV4 against one key pair; one without goes to
a service with auth off. Accepted outcomes: 200, or a 4xx naming a Rekognition / AWS error with
the request id; anything else (a 5xx, an exception out of handle) is a bug.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from faceindex.service.config import ServiceConfig
from faceindex.service.dispatch import HttpRequest, Service
from faceindex.service.service_model import service_model

_ROOT = Path(tempfile.mkdtemp(prefix="fuzz-http-request-"))
_KEYS = _ROOT / "keys.ini"
_KEYS.write_text("[fuzz]\naws_access_key_id = AKIAFUZZ\naws_secret_access_key = fuzz-secret\n")
os.chmod(_KEYS, 0o600)
_OPEN = Service(ServiceConfig(home=_ROOT / "home", no_auth=True))
_SIGNED = Service(ServiceConfig(home=_ROOT / "home", credentials_file=_KEYS))
_MODEL = service_model()
KNOWN_ERRORS = {name for name in _MODEL.shape_names if _MODEL.shape_for(name).metadata.get("exception")} | {
    "ValidationException", "SerializationException", "UnknownOperationException", "InvalidSignatureException",
    "IncompleteSignatureException", "MissingAuthenticationTokenException", "UnrecognizedClientException"}


def parse(data: bytes) -> HttpRequest:
    head, _, body = data.partition(b"\n\n")
    headers = []
    for line in head.decode("latin-1").split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip().lower(), value.strip()))
    return HttpRequest(method="POST", host="127.0.0.1:8080", raw_path="/", query="", headers=headers, body=body)


def check(data: bytes) -> None:
    request = parse(data)
    service = _SIGNED if request.header("authorization") is not None else _OPEN
    response = service.handle(request, "00000000-0000-4000-8000-000000000000")
    assert response.status == 200 or 400 <= response.status < 500, (response.status, response.body[:300])
    document = json.loads(response.body)
    if response.status != 200:
        assert document["__type"] in KNOWN_ERRORS, document
        assert document["Logref"] == "00000000-0000-4000-8000-000000000000"


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
