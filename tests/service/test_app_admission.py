"""The ASGI app's admission control and disconnect handling, driven in process with handlers that
wait until the test lets them go: exactly workers + queue_size requests are admitted, the next is
ThrottlingException at once; a client that leaves sets its request's `cancelled` event."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from faceindex.service.app import ServiceApp
from faceindex.service.config import ServiceConfig
from faceindex.service.context import RequestContext
from faceindex.service.dispatch import Service

WAIT_S = 30


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "raw_path": b"/", "query_string": b"",
            "server": ("127.0.0.1", 8080), "headers": [
                (b"content-type", b"application/x-amz-json-1.1"),
                (b"x-amz-target", b"RekognitionService.ListCollections")]}


class Client:
    """One ASGI request: its body, then (when told) a disconnect; what the app sent back."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.leave = asyncio.Event()
        self._body_given = False

    async def receive(self) -> dict[str, Any]:
        if not self._body_given:
            self._body_given = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def answer(self) -> tuple[int, dict[str, Any]]:
        return self.sent[0]["status"], json.loads(self.sent[1]["body"])


def test_admission_is_bounded_and_disconnects_cancel(tmp_path: Path) -> None:
    started = threading.Semaphore(0)
    release = threading.Event()
    contexts: list[RequestContext] = []

    def slow(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        contexts.append(ctx)
        started.release()
        assert release.wait(WAIT_S)
        return {"CollectionIds": [], "FaceModelVersions": []}

    service = Service(ServiceConfig(home=tmp_path, no_auth=True), handlers={"ListCollections": slow})
    app = ServiceApp(service, workers=1, queue_size=1)

    async def run() -> None:
        running, waiting, refused = Client(), Client(), Client()
        first = asyncio.ensure_future(app(scope(), running.receive, running.send))
        await asyncio.get_running_loop().run_in_executor(None, started.acquire, True, WAIT_S)
        second = asyncio.ensure_future(app(scope(), waiting.receive, waiting.send))
        await asyncio.sleep(0.05)
        assert app.pending == 2
        await asyncio.wait_for(app(scope(), refused.receive, refused.send), WAIT_S)  # answered at once
        status, document = refused.answer()
        assert (status, document["__type"]) == (500, "ThrottlingException")

        running.leave.set()  # the first client goes away while its request runs
        for _ in range(100):
            if contexts[0].cancelled.is_set():
                break
            await asyncio.sleep(0.01)
        assert contexts[0].cancelled.is_set()
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), WAIT_S)
        assert waiting.answer()[0] == 200 and not contexts[1].cancelled.is_set()
        assert app.pending == 0

    try:
        asyncio.run(run())
    finally:
        release.set()
        app.close()
