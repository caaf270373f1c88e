"""Generated requests: bodies for every Rekognition operation drawn from botocore's own service
model (members present or not, values in and out of the model's bounds, now and then of the wrong
JSON type), and malformed bodies and headers. Every answer is 200 or a 4xx that names a
Rekognition / AWS error; never a 5xx, and the server is alive and serving at the end."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from botocore.session import get_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service_helpers import RunningServer, raw_request, signed_headers

MODEL = get_session().get_service_model("rekognition")
OPERATIONS = sorted(MODEL.operation_names)
# Rekognition's modeled errors and the AWS JSON protocol's own (what botocore reads as ClientError codes).
KNOWN_ERRORS = {name for name in MODEL.shape_names if MODEL.shape_for(name).metadata.get("exception")} | {
    "ValidationException", "SerializationException", "UnknownOperationException", "InvalidSignatureException",
    "IncompleteSignatureException", "MissingAuthenticationTokenException", "UnrecognizedClientException"}
FLOAT32_MAX = float(np.finfo(np.float32).max)
WRONG_TYPES = st.sampled_from([None, 0, -1, 1.5, True, "", "x", [], {}, [1], {"a": 1}])


def value_for(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    kind, meta = shape.type_name, shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if kind == "structure":
        if depth > 5:
            return st.just({})
        members = {name: value_for(member, depth + 1) for name, member in shape.members.items()}
        proper: st.SearchStrategy[Any] = st.fixed_dictionaries({}, optional=members)
    elif kind == "list":
        proper = st.lists(value_for(shape.member, depth + 1), max_size=min(high or 4, 4) + 1)
    elif kind == "map":
        proper = st.dictionaries(st.text(max_size=8), value_for(shape.value, depth + 1), max_size=3)
    elif kind == "string":
        options = [st.text(max_size=min(high or 40, 40) + 2)]
        if shape.enum:
            options.append(st.sampled_from(list(shape.enum)))
        if high and high <= 300:
            options.append(st.text(min_size=high, max_size=high + 1, alphabet="ab-_.0"))
        proper = st.one_of(options)
    elif kind in ("integer", "long"):
        proper = st.one_of(st.integers(min_value=(low or 0) - 2, max_value=(high or 10_000) + 2),
                           st.integers(min_value=-(2**63), max_value=2**63))
    elif kind in ("float", "double"):
        # Bounded by float32's largest: unbounded, hypothesis 6.170 can draw a float64 just above it,
        # fail to narrow it to 32 bits, and (rendering its 89 kB strategy for the message) fail the test.
        proper = st.floats(min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX, width=32)
    elif kind == "boolean":
        proper = st.booleans()
    elif kind == "blob":
        proper = st.one_of(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=10))
    elif kind == "timestamp":
        proper = st.floats(min_value=-1e12, max_value=1e12)
    else:
        proper = st.none()
    return st.one_of(proper, proper, proper, WRONG_TYPES)


def body_for(operation: str) -> st.SearchStrategy[Any]:
    shape = MODEL.operation_model(operation).input_shape
    return value_for(shape) if shape is not None else st.just({})


def assert_answered(server: RunningServer, answer: tuple[int, dict[str, str], Any]) -> None:
    status, headers, document = answer
    assert status < 500, document
    if status != 200:
        assert 400 <= status < 500 and document is not None, (status, document)
        assert document["__type"] in KNOWN_ERRORS, document
        assert document["Logref"] == headers["x-amzn-requestid"]


@pytest.mark.slow
@pytest.mark.parametrize("operation", OPERATIONS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_bodies_of_every_operation(rekognition_server: RunningServer, operation: str, data: Any) -> None:
    body = json.dumps(data.draw(body_for(operation), label="body")).encode()
    assert_answered(rekognition_server, raw_request(rekognition_server, body,
                                                    signed_headers(rekognition_server, operation, body)))


HEADER_NAMES = st.sampled_from(["Content-Type", "X-Amz-Target", "X-Amz-Date", "Authorization",
                                "X-Amz-Content-SHA256", "Host"])


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operation=st.sampled_from(OPERATIONS), body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(
    str.encode)), corrupt=st.one_of(st.none(), st.tuples(HEADER_NAMES, st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))))
def test_malformed_bodies_and_headers(rekognition_server: RunningServer, operation: str, body: bytes,
                                      corrupt: tuple[str, str] | None) -> None:
    headers = signed_headers(rekognition_server, operation, body)
    if corrupt is not None:
        headers[corrupt[0]] = corrupt[1]
    assert_answered(rekognition_server, raw_request(rekognition_server, body, headers))


def test_still_serving_after_the_fuzzing(rekognition_server: RunningServer, rekognition: Any) -> None:
    assert rekognition_server.alive()
    assert "CollectionIds" in rekognition.list_collections()
    assert "Traceback" not in rekognition_server.log()
