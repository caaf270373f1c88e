"""Rekognition's service model, as botocore ships it, and the check of a request against it.

The model is the one boto3 itself builds its requests from, so the rules are not written again
here: required members, JSON types, lengths, ranges, enums and patterns all come from it.
A decoded request is checked member by member; the answer is the parameters with blobs decoded
from base64 and timestamps made datetimes, or a ServiceError worded as AWS words it:

    SerializationException   a value of the wrong JSON type (a string where an integer goes)
    ValidationException      "1 validation error detected: Value 'x' at 'collectionId' failed to
                             satisfy constraint: Member must satisfy regular expression pattern: ..."

Members the model does not know are dropped, as AWS ignores them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from datetime import datetime, timezone
from typing import Any

from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from faceindex.service.errors import ServiceError, image_too_large
from faceindex.service.errors import serialization as serialization_error

SERVICE_NAME = "rekognition"
MAX_REPORTED_ERRORS = 10  # AWS lists several constraint failures in one message; a fuzzed body has hundreds


@functools.lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    """Rekognition's model from botocore's data (loaded once)."""
    data = Loader().load_service_model(SERVICE_NAME, "service-2")
    return ServiceModel(data, service_name=SERVICE_NAME)


def operation_names() -> list[str]:
    """Every operation Rekognition's model names."""
    return list(service_model().operation_names)


def operation_model(name: str) -> OperationModel | None:
    """The operation's model, or None when Rekognition has no operation of that name."""
    model = service_model()
    return model.operation_model(name) if name in model.operation_names else None


def _validation_error(failures: list[str]) -> ServiceError:
    shown = failures[:MAX_REPORTED_ERRORS]
    count = len(failures)
    head = f"{count} validation error{'s' if count != 1 else ''} detected: "
    return ServiceError("ValidationException", head + "; ".join(shown))


@functools.cache
def _pattern(java_pattern: str) -> re.Pattern[str] | None:
    """The model's (Java) pattern for re.fullmatch (Java's String.matches is anchored at both ends).
    None for a pattern Python cannot read (then only the other constraints are checked)."""
    translated = java_pattern
    # Java's Unicode classes, which Python's re lacks (TagKey / TagValue use them): close stand-ins.
    for java, python in ((r"\p{L}", r"\w"), (r"\p{N}", r"\d"), (r"\p{Z}", r"\s")):
        translated = translated.replace(java, python)
    try:
        return re.compile(translated, re.DOTALL)
    except re.error:
        return None


def _show(value: Any) -> str:
    """A value as AWS quotes it in a message, cut short."""
    text = str(value) if not isinstance(value, bytes) else f"java.nio.HeapByteBuffer[pos=0 lim={len(value)}]"
    return text if len(text) <= 80 else text[:77] + "..."


def _camel(name: str) -> str:
    """AWS names members in messages with a lowercase first letter: 'collectionId', 'image.s3Object'."""
    return name[:1].lower() + name[1:]


class _Checker:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.failures.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: {constraint}")

    def length(self, value: Any, size: int, shape: Shape, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self.fail(value, path, f"Member must have length greater than or equal to {low}")
        if high is not None and size > high:
            self.fail(value, path, f"Member must have length less than or equal to {high}")

    def value(self, shape: Shape, value: Any, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            return self.structure(shape, value, path)
        if kind == "list":
            assert isinstance(shape, ListShape)
            if not isinstance(value, list):
                raise serialization_error(f"expected a list at '{path}', got {type(value).__name__}")
            self.length(value, len(value), shape, path)
            return [self.value(shape.member, item, f"{path}.{i + 1}.member") for i, item in enumerate(value)
                    if item is not None]
        if kind == "map":
            assert isinstance(shape, MapShape)
            if not isinstance(value, dict):
                raise serialization_error(f"expected an object at '{path}', got {type(value).__name__}")
            self.length(value, len(value), shape, path)
            return {self.value(shape.key, k, f"{path}.key"): self.value(shape.value, v, f"{path}.value")
                    for k, v in value.items() if v is not None}
        if kind == "string":
            if not isinstance(value, str):
                raise serialization_error(f"expected a string at '{path}', got {type(value).__name__}")
            self.length(value, len(value), shape, path)
            enum = shape.enum
            if enum and value not in enum:
                self.fail(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
            java_pattern = shape.metadata.get("pattern")
            compiled = _pattern(java_pattern) if java_pattern else None
            if compiled is not None and not compiled.fullmatch(value):
                self.fail(value, path, f"Member must satisfy regular expression pattern: {java_pattern}")
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise serialization_error(f"expected an integer at '{path}', got {_show(value)!r}")
            self.range(shape, value, path)
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise serialization_error(f"expected a number at '{path}', got {_show(value)!r}")
            value = float(value)
            if not math.isfinite(value):
                raise serialization_error(f"expected a finite number at '{path}'")
            self.range(shape, value, path)
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise serialization_error(f"expected true or false at '{path}', got {_show(value)!r}")
            return value
        if kind == "blob":
            if not isinstance(value, str):
                raise serialization_error(f"expected base64 text at '{path}', got {type(value).__name__}")
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise serialization_error(f"the value at '{path}' is not valid base64") from None
            if shape.name == "ImageBlob" and len(data) > shape.metadata.get("max", len(data)):
                # Rekognition answers an Image.Bytes over its 5 MB with its own error, not a validation one.
                raise image_too_large(f"the image at '{path}' is {len(data)} bytes, over Rekognition's limit of "
                                      f"{shape.metadata['max']} (5 MB); larger images can be given as an S3Object")
            self.length(data, len(data), shape, path)
            return data
        if kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise serialization_error(f"expected epoch seconds at '{path}', got {_show(value)!r}")
            try:
                return datetime.fromtimestamp(value, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                raise serialization_error(f"the timestamp at '{path}' is out of range") from None
        raise serialization_error(f"'{path}' has a type ({kind}) this server does not read")

    def range(self, shape: Shape, value: float, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(value, path, f"Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            self.fail(value, path, f"Member must have value less than or equal to {high}")

    def structure(self, shape: StructureShape, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            where = f" at '{path}'" if path else ""
            raise serialization_error(f"expected an object{where}, got {type(value).__name__}")
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            member_path = f"{path}.{_camel(name)}" if path else _camel(name)
            item = value.get(name)
            if item is None:  # JSON null is an absent member, as on AWS
                if name in shape.required_members:
                    self.fail("null", member_path, "Member must not be null")
                continue
            out[name] = self.value(member, item, member_path)
        return out


def check_input(operation: OperationModel, body: Any) -> dict[str, Any]:
    """The request's parameters, checked against the operation's input shape (see the module doc)."""
    shape = operation.input_shape
    if shape is None:
        if not isinstance(body, dict):
            raise serialization_error(f"expected a JSON object, got {type(body).__name__}")
        return {}
    checker = _Checker()
    params = checker.structure(shape, body, "")
    if checker.failures:
        raise _validation_error(checker.failures)
    return params
