"""The ASGI application: reads a request, admits it to the worker pool or refuses it, answers.

The event loop only moves bytes; each admitted request is handled (signature, decoding, the
operation's CPU work) on one of `workers` threads, which run at once since the C++ core releases
the GIL. At most `queue_size` more wait for a thread; beyond that a request is answered
ThrottlingException at once (boto3 retries it with back-off), so the backlog never grows unbounded.
A client that leaves before its answer sets the request's `cancelled` event.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from faceindex.service import protocol
from faceindex.service.dispatch import HttpRequest, HttpResponse, Service
from faceindex.service.errors import ServiceError, throttled

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("faceindex.service")


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class ServiceApp:
    def __init__(self, service: Service, workers: int, queue_size: int) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError(f"workers must be at least 1 and queue_size at least 0, got {workers}, {queue_size}")
        self.service = service
        self.capacity = workers + queue_size
        self.pending = 0  # admitted requests not yet answered (running + waiting); touched by the loop only
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="faceindex-worker")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # websocket: not served (the server refuses the upgrade)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # The server has finished the requests in flight; nothing is running on the pool now.
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.service.close()
        log.info("faceindex serve: stopped; collections closed")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        try:
            body = await self._read_body(headers, receive)
        except _BodyTooLarge:
            error = ServiceError("ImageTooLargeException", f"the request body is larger than "
                                 f"{protocol.MAX_BODY_BYTES} bytes (an image in Bytes may be at most 5 MiB)", 413)
            await self._send(send, self._error(error, request_id))
            return
        except _ClientGone:
            return
        if self.pending >= self.capacity:
            await self._send(send, self._error(throttled(
                f"the server is busy ({self.capacity} requests running or waiting); try again"), request_id))
            return
        server = scope.get("server") or ("127.0.0.1", 0)
        request = HttpRequest(
            method=scope["method"], host=f"{server[0]}:{server[1]}",
            raw_path=scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
            query=scope.get("query_string", b"").decode("latin-1"), headers=headers, body=body)
        cancelled = threading.Event()
        self.pending += 1
        try:
            work = asyncio.get_running_loop().run_in_executor(
                self.executor, self.service.handle, request, request_id, cancelled)
            watcher = asyncio.ensure_future(self._watch_disconnect(receive, cancelled))
            try:
                response = await work
            finally:
                watcher.cancel()
        finally:
            self.pending -= 1
        await self._send(send, response)

    async def _read_body(self, headers: list[tuple[str, str]], receive: Receive) -> bytes:
        declared = next((v for k, v in headers if k == "content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > protocol.MAX_BODY_BYTES:
            raise _BodyTooLarge()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > protocol.MAX_BODY_BYTES:
                raise _BodyTooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _watch_disconnect(receive: Receive, cancelled: threading.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                cancelled.set()
                return

    @staticmethod
    def _error(error: ServiceError, request_id: str) -> HttpResponse:
        return HttpResponse(error.status, protocol.encode_error(error, request_id),
                            [("content-type", protocol.CONTENT_TYPE), ("x-amzn-requestid", request_id)])

    @staticmethod
    async def _send(send: Send, response: HttpResponse) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
