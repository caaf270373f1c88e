"""Rekognition's errors: a name (the JSON `__type`), an HTTP status and a message.

Handlers raise ServiceError; faceindex's own errors reach the client through
from_faceindex_error, so a missing collection is ResourceNotFoundException as it is on AWS.
"""

from __future__ import annotations

from faceindex import errors as fx
from faceindex.distributed.results import ShardUnavailableError


class ServiceError(Exception):
    """An error answered to the client as {"__type": code, "message": message} with this status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def invalid_parameter(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message)


def already_exists(message: str) -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", message)


def invalid_image(message: str) -> ServiceError:
    return ServiceError("InvalidImageFormatException", message)


def image_too_large(message: str) -> ServiceError:
    return ServiceError("ImageTooLargeException", message)


def throttled(message: str) -> ServiceError:
    # HTTP 500, as Rekognition's error table gives it; botocore retries it by name (and by status).
    return ServiceError("ThrottlingException", message, status=500)


def unknown_operation(message: str) -> ServiceError:
    """A target that names no Rekognition operation (AWS's answer for JSON 1.1 services)."""
    return ServiceError("UnknownOperationException", message)


def unsupported_operation(name: str) -> ServiceError:
    """A real Rekognition operation that faceindex does not serve."""
    return invalid_parameter(f"operation {name} is not supported by faceindex "
                             "(see the table of supported operations in the documentation, docs/service.md)")


def serialization(message: str) -> ServiceError:
    """A body that is not JSON, or a value of the wrong JSON type."""
    return ServiceError("SerializationException", message)


def service_unavailable(message: str) -> ServiceError:
    """AWS's common error for a temporary failure (HTTP 503; botocore retries it): here, shards of
    a sharded collection that did not answer in time. The message names them."""
    return ServiceError("ServiceUnavailable", message, status=503)


def internal(message: str) -> ServiceError:
    return ServiceError("InternalServerError", message, status=500)


def from_faceindex_error(error: BaseException) -> ServiceError:
    """The Rekognition error a faceindex error stands for; anything unexpected is InternalServerError
    (the server logs it; the client is told only the request id)."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, ShardUnavailableError):  # before CollectionError's cases: a shard is down, not missing
        return service_unavailable(str(error))
    if isinstance(error, fx.CollectionNotFoundError):  # the library's message lists the home's collections
        return not_found(str(error).split("; ")[0])
    if isinstance(error, (fx.FaceNotFoundError, fx.UserNotFoundError)):
        return not_found(str(error))
    if isinstance(error, (fx.CollectionExistsError, fx.UserExistsError)):
        return already_exists(str(error))
    if isinstance(error, fx.ImageError):
        return invalid_image(str(error))
    if isinstance(error, fx.NoFaceError):  # a search or compare by image: AWS's own words
        return invalid_parameter("There are no faces in the image. Should be at least 1.")
    # ValueError: faceindex's checks of caller-supplied values raise it (validation.py), and here the
    # caller's values are the client's.
    if isinstance(error, (fx.InputError, fx.PackMismatchError, ValueError)):
        return invalid_parameter(str(error))
    return internal("internal error")
