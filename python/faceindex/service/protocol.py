"""AWS JSON 1.1, Rekognition's protocol: what a request names and carries, and how answers are written.

A request is `POST /` with `X-Amz-Target: RekognitionService.<Operation>`, `Content-Type:
application/x-amz-json-1.1` and a JSON object as body (blobs in base64, timestamps in epoch
seconds). A success is HTTP 200 with the output's members as a JSON object; an error is the
status of its ServiceError with {"__type", "message"} (and Rekognition's own "Code", "Logref",
"Message" members, Logref being the request id), which botocore reads as ClientError.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime
from typing import Any

from faceindex.service.errors import ServiceError, serialization, unknown_operation

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "RekognitionService."
MAX_BODY_BYTES = 8 * 1024 * 1024  # an image of 5 MiB (Rekognition's limit for Bytes) in base64, and room


def operation_name(target: str | None) -> str:
    """The operation an X-Amz-Target header names (its existence is checked by the caller)."""
    if not target:
        raise unknown_operation("the request has no X-Amz-Target header (RekognitionService.<Operation>)")
    prefix, dot, name = target.partition(".")
    if not dot or prefix + dot != TARGET_PREFIX or not name:
        raise unknown_operation(f"X-Amz-Target {target[:100]!r} does not name a RekognitionService operation")
    return name


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    # AWS JSON 1.0 is the same encoding; SDKs for other services send it, and AWS accepts it too.
    if media_type not in (CONTENT_TYPE, "application/x-amz-json-1.0"):
        raise serialization(f"Content-Type must be {CONTENT_TYPE}, got {(content_type or 'none')[:100]!r}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_body(body: bytes) -> Any:
    """The request's JSON value (an empty body is an empty object, as the SDKs send no body then)."""
    if not body.strip():
        return {}
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise serialization("the request body is not UTF-8 text") from None
    except (ValueError, RecursionError) as e:
        raise serialization(f"the request body is not valid JSON: {str(e)[:200]}") from None


def _json_value(value: Any) -> Any:
    """bytes (blobs) as base64 and datetimes (timestamps) as epoch seconds; AWS JSON 1.1's only
    encodings beyond JSON's own, the same for every member, so no shape is needed to write them."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a value of a Rekognition response")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a response value is not finite: {value}")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode_result(result: dict[str, Any]) -> bytes:
    return json.dumps(_finite(result), default=_json_value, allow_nan=False, separators=(",", ":")).encode("utf-8")


def encode_error(error: ServiceError, request_id: str) -> bytes:
    return json.dumps({"__type": error.code, "message": error.message, "Code": error.code, "Message": error.message,
                       "Logref": request_id}).encode("utf-8")
