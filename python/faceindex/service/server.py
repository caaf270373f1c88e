"""Start the endpoint on uvicorn and stop it gracefully.

uvicorn (a production ASGI server from PyPI, with the h11 HTTP parser) serves the one raw ASGI app
in app.py; the server process is one event loop plus `workers` threads (see app.py), since the
C++ core releases the GIL. SIGTERM or SIGINT: no new connections; requests in flight finish
(up to `GRACE_SECONDS`), then the pool stops and every open collection is closed (index caches
saved); the process then exits 0.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import sys
import threading
from collections.abc import Generator
from typing import TextIO

import uvicorn

from faceindex.distributed import layout
from faceindex.service.app import ServiceApp
from faceindex.service.config import ServiceConfig
from faceindex.runtime import get_num_threads, set_num_threads
from faceindex.service.dispatch import Service

GRACE_SECONDS = 120  # for requests in flight at SIGTERM (an IndexFaces of a large image takes seconds)
MAX_CONNECTIONS = 1024  # open connections beyond which uvicorn answers 503 (botocore retries it)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _GracefulServer(uvicorn.Server):
    """uvicorn's Server, less its re-raising of the signal after shutdown (which would end the
    process by that signal instead of exit code 0 once everything is closed)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0: a free port, which the start-up line names).

    Made with proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose socket
    says TCP, and without it an answer's header and body segments wait on the client's delayed
    ACK (about 40 ms a request)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def serve(config: ServiceConfig, out: TextIO | None = None) -> int:
    """Run until SIGTERM / SIGINT; the exit code."""
    out = out or sys.stderr
    if config.no_auth and not is_loopback(config.host):
        raise ValueError(f"--no-auth is allowed only on a loopback address (127.0.0.1, ::1, localhost), "
                         f"not {config.host}")
    logging.basicConfig(level=logging.INFO, stream=out, format="%(levelname)s: %(name)s: %(message)s")
    # Every worker runs one request's networks and kernels at a time: each gets its share of the
    # cores, so that N requests at once run side by side instead of N x all cores contending
    # (measured on 2 cores: 2 clients 0.91x the throughput of 1 with every request on both cores).
    threads = max(1, get_num_threads() // config.workers)
    set_num_threads(threads)
    service = Service(config)
    service.resources.start_video_jobs()
    processors = service.resources.start_stream_processors()
    app = ServiceApp(service, config.workers, config.queue_size)
    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if config.no_auth:
        out.write("faceindex serve: WARNING: authentication is OFF (--no-auth): any local process may call this "
                  "endpoint\n")
    else:  # who may do what (names, key ids and limits; never a secret)
        out.write(f"faceindex serve: {_count(len(service.keys), 'access key')}:\n")
        for key in service.keys.values():
            token = ", with a session token" if key.session_token is not None else ""
            out.write(f"faceindex serve:   {key.policy.describe()}{token}\n")
    out.write(f"faceindex serve: {_count(config.workers, 'worker thread')} of {_count(threads, 'core thread')} "
              f"each, up to {_count(config.queue_size, 'request')} waiting; collections in "
              f"{service.resources.collections.root}\n")
    if service.resources.sharding is not None:
        made = f"{config.shards} shards" if config.shards is not None else "plain ones"
        out.write(f"faceindex serve: sharded collections served through the Ray cluster at "
                  f"{service.resources.sharding.address} (--ray {config.ray_address}); new collections: {made}\n")
    else:
        unserved = layout.list_sharded(config.home)
        if unserved:
            out.write(f"faceindex serve: WARNING: {_count(len(unserved), 'collection')} ({', '.join(unserved)}) "
                      f"{'is' if len(unserved) == 1 else 'are'} sharded over Ray and will not be served: start with "
                      "--ray ADDRESS to serve them\n")
    outputs = [f"SNS at {config.sns_endpoint_url}" if config.sns_endpoint_url else "no SNS (NotificationChannel "
               "refused)", f"Kinesis at {config.kinesis_endpoint_url}" if config.kinesis_endpoint_url else
               "no Kinesis (stream processors refused)"]
    out.write(f"faceindex serve: {'; '.join(outputs)}; {_count(len(processors.sources), 'stream source')}, "
              f"{_count(len(processors.store.all()), 'stream processor')}\n")
    out.write(f"faceindex serve: listening on http://{shown}:{port}\n")
    out.flush()
    uv_config = uvicorn.Config(
        app, lifespan="on", loop="asyncio", http="h11", ws="none", log_level="info",
        timeout_graceful_shutdown=GRACE_SECONDS, limit_concurrency=MAX_CONNECTIONS, server_header=False)
    try:
        _GracefulServer(uv_config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
