"""One request, start to end, on a worker thread: signature, operation, body, parameters, handler,
answer. Plain and synchronous (no event loop here), so the ASGI app, the fuzz harness and tests
drive the same path.

The checks run in the order AWS answers them: a request that fails two of them gets the first's error.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field

from faceindex.service import protocol, service_model
from faceindex.service import access
from faceindex.service.auth import AccessKey, SigV4Verifier, load_keys
from faceindex.service.config import ServiceConfig
from faceindex.service.context import RequestContext
from faceindex.service.errors import ServiceError, from_faceindex_error, unknown_operation, unsupported_operation
from faceindex.service.operations import load_all
from faceindex.service.operations.registry import Handler
from faceindex.service.resources import SharedResources

log = logging.getLogger("faceindex.service")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110's token
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
MAX_INVOCATION_ID = 200  # a sharded write's id (distributed/shard.py's limit)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    host: str  # the address the server listens on (for a request without a Host header)
    raw_path: str  # as sent, percent-encoded
    query: str
    headers: list[tuple[str, str]]  # names lower-case, in the order sent
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


def invocation_id(request: HttpRequest) -> str | None:
    """The SDK's invocation id when it is a plausible one (botocore's is a UUID)."""
    value = request.header("amz-sdk-invocation-id")
    return value if value is not None and 0 < len(value) <= MAX_INVOCATION_ID and value.isprintable() else None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class Service:
    """The endpoint's state (shared resources, the signature checker, the operation table) and
    `handle`, which answers one request. Thread-safe: requests are handled on several threads."""

    def __init__(self, config: ServiceConfig, handlers: dict[str, Handler] | None = None) -> None:
        if not config.no_auth and config.credentials_file is None:
            raise ValueError("a credentials file is needed unless auth is off (no_auth)")
        self.config = config
        self.resources = SharedResources(config)
        self.verifier = None
        self.keys: dict[str, AccessKey] = {}
        if config.credentials_file is not None and not config.no_auth:
            self.keys = load_keys(config.credentials_file, service_model.operation_names())
            self.verifier = SigV4Verifier({k: key.secret for k, key in self.keys.items()},
                                          session_tokens={k: key.session_token for k, key in self.keys.items()
                                                          if key.session_token is not None})
        # The server's folders are none of a client's business (faceindex's own messages name them).
        self._private_paths = [(str(self.resources.collections.root), "the server's home"),
                               (str(config.home), "the server's home")]
        if config.s3_root is not None:
            self._private_paths.insert(0, (str(config.s3_root), "the S3 root"))
        self.handlers = handlers if handlers is not None else load_all()
        service_model.service_model()  # loaded now: a broken botocore fails at start, not at the first request

    def handle(self, request: HttpRequest, request_id: str,
               cancelled: threading.Event | None = None) -> HttpResponse:
        ctx = RequestContext(
            request_id=request_id, config=self.config, collections=self.resources.collections,
            open_collection=self.resources.open_collection, default_engine=self.resources.default_engine,
            forget_collection=self.resources.forget_collection, catalog=self.resources,
            video_jobs=self.resources.video_jobs, invocation_id=invocation_id(request),
            cancelled=cancelled or threading.Event())
        try:
            body = self._answer(request, ctx)
            status = 200
        except Exception as error:  # every failure is answered; a bug is logged and answered 500
            service_error = from_faceindex_error(error)
            if service_error.status >= 500 and not isinstance(error, ServiceError):
                log.error("request %s failed", request_id, exc_info=error)
            message = service_error.message
            for path, name in self._private_paths:
                message = message.replace(path, name)
            service_error = ServiceError(service_error.code, message, service_error.status)
            status, body = service_error.status, protocol.encode_error(service_error, request_id)
        headers = [("content-type", protocol.CONTENT_TYPE), ("x-amzn-requestid", request_id)]
        for name, value in ctx.response_headers.items():
            if _HEADER_NAME.fullmatch(name) and _HEADER_VALUE.fullmatch(value):
                headers.append((name.lower(), value))
            else:  # a header HTTP cannot carry would fail the whole answer
                log.error("request %s: header %r dropped (not an HTTP token / printable ASCII)", request_id, name)
        return HttpResponse(status, body, headers)

    def _answer(self, request: HttpRequest, ctx: RequestContext) -> bytes:
        if request.method != "POST":
            raise ServiceError("UnknownOperationException",
                               f"{request.method[:20]} is not served: Rekognition requests are POST /", 405)
        policy = None
        if self.verifier is not None:
            key_id = self.verifier.verify(request.method, request.host, request.raw_path, request.query,
                                          request.headers, request.body)
            policy = ctx.access = self.keys[key_id].policy
        name = protocol.operation_name(request.header("x-amz-target"))
        operation = service_model.operation_model(name)
        if operation is None:
            raise unknown_operation(f"Rekognition has no operation {name[:100]!r}")
        protocol.check_content_type(request.header("content-type"))
        params = service_model.check_input(operation, protocol.decode_body(request.body))
        # As on AWS, a request the key may not make is refused before anything is looked up.
        named = access.collection_of_request(params)
        access.check_operation(policy, name, None if named is None else access.collection_arn(self.config.region, named))
        if named is not None:
            access.check_collection(policy, name, named, self.config.region)
        ctx.operation = name
        handler = self.handlers.get(name)  # after the checks: a bad request is told what is wrong with it first
        if handler is None:
            raise unsupported_operation(name)
        return protocol.encode_result(handler(ctx, params))

    def close(self) -> None:
        self.resources.close()
