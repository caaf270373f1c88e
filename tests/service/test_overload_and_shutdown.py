"""Overload and stopping: a burst beyond the worker pool and its bounded queue is answered
ThrottlingException (which boto3 retries by itself); SIGTERM lets a request in flight finish and
the process exit 0 with its collections closed."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service_helpers import RunningServer, raw_request, signed_headers, start_server

BURST = 24
MAX_BURSTS = 5


def burst(server: RunningServer, body: bytes) -> list[tuple[int, str | None]]:
    """BURST signed requests sent at the same moment, each on its own connection."""
    headers = [signed_headers(server, "DescribeCollection", body) for _ in range(BURST)]
    start = threading.Barrier(BURST)

    def one(h: dict[str, str]) -> tuple[int, str | None]:
        start.wait(30)
        status, _, document = raw_request(server, body, h)
        return status, (document or {}).get("__type")

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(one, headers))


def test_burst_beyond_the_queue_is_throttled_and_boto3_retries(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", workers=1, queue_size=0)
    try:
        rekognition = server.client()
        rekognition.create_collection(CollectionId="busy")
        body = json.dumps({"CollectionId": "busy"}).encode()
        answers: list[tuple[int, str | None]] = []
        for _ in range(MAX_BURSTS):  # one worker and no queue: requests that arrive together mostly collide
            answers = burst(server, body)
            if (500, "ThrottlingException") in answers:
                break
        assert (500, "ThrottlingException") in answers, answers
        assert set(answers) <= {(200, None), (500, "ThrottlingException")}, answers
        assert (200, None) in answers

        # boto3 retries ThrottlingException with back-off: every call of a concurrent crowd succeeds.
        client = server.client(retries={"max_attempts": 20, "mode": "standard"})
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: client.describe_collection(CollectionId="busy"), range(16)))
        assert all(r["FaceCount"] == 0 for r in results)
        assert server.alive()
    finally:
        assert server.stop() == 0, server.log()


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", workers=1, queue_size=1)
    try:
        body = json.dumps({"CollectionId": "made-while-stopping"}).encode()
        headers = signed_headers(server, "CreateCollection", body)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {len(body)}\r\n"
                   f"{head}\r\n").encode("latin-1")
        # The request is in flight: its headers and half its body are in, the rest comes after SIGTERM.
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
            connection.sendall(request + body[:10])
            time.sleep(0.5)
            server.process.terminate()
            time.sleep(1.0)
            assert server.alive(), "the server waits for the request in flight"
            with socket.socket() as late:  # while it stops, no new connection is taken
                late.settimeout(5)
                assert late.connect_ex(("127.0.0.1", server.port)) != 0
            connection.sendall(body[10:])
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 200 OK", answer
        assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["StatusCode"] == 200
        assert server.process.wait(30) == 0
        assert (server.home / "collections" / "made-while-stopping").is_dir()
        assert "collections closed" in server.log()
    finally:
        server.kill()


def test_sigkill_and_restart_keeps_collections(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", workers=1, queue_size=1)
    server.client().create_collection(CollectionId="kept")
    assert server.kill() != 0
    again = start_server(tmp_path / "home", workers=1, queue_size=1)
    try:
        assert again.client().list_collections()["CollectionIds"] == ["kept"]
    finally:
        assert again.stop() == 0
