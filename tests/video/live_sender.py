"""A live source for tests and benchmarks: a TCP server on 127.0.0.1 that streams a video
file as MPEG-TS to each client at real-time pace, remuxed (no re-encoding), and records
when each connection started so that event delays can be measured against what was sent.

    with ClipSender(clip, plays=2, pause=1.5) as sender:
        url = sender.url                      # tcp://127.0.0.1:PORT
        ...
    sender.connections                        # wall time at which each connection's time 0 was sent

`stop_after` cuts each connection after that many seconds of the clip (a source that
disconnects mid-way; with `stall`, one that stays connected and goes silent); between connections the listening socket is closed for `pause`
seconds, so a reconnect in that gap is refused.
"""

from __future__ import annotations

import bisect
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error


@dataclass
class SentConnection:
    started_wall: float  # time.time() at which the first packet was sent
    sent_until: float = 0.0  # stream time of the last packet sent before the connection closed
    ended_wall: float | None = None  # time.time() at which the sender closed the connection
    # (stream time of each packet's frame, time.time() it was sent); stream time 0 is the first
    # frame's presentation time, as a client's (FFmpeg's start_time) is.
    packets: list[tuple[float, float]] = field(default_factory=list)

    def sent_wall(self, stream_time: float) -> float:
        """When the frame shown at this stream time left the sender (the nearest frame's packet)."""
        times = [t for t, _ in self.packets]
        i = bisect.bisect_left(times, stream_time)
        nearest = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - stream_time))
        return self.packets[nearest][1]


@dataclass
class ClipSender:
    clip: Path
    plays: int = 1  # connections served, one after the other
    stop_after: float | None = None  # seconds of clip per connection (None: the whole clip)
    pause: float = 0.0  # seconds the port refuses connections between two plays
    stall: bool = False  # at stop_after, keep the connection open and send nothing more (a hung source)
    accept_timeout: float = 20.0  # seconds to wait for a client before giving up
    connections: list[SentConnection] = field(default_factory=list)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        # Where the video's first frame falls in the file's own time (its audio may start
        # earlier): a client's stream time T is the file's time T + video_start.
        with av.open(str(self.clip)) as clip:
            start = (clip.start_time or 0) / 1e6
            first = next(p for p in clip.demux(clip.streams.video[0]) if p.pts is not None)
            self.video_start = float(first.pts * first.time_base) - start
        self._stop = threading.Event()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="clip-sender", daemon=True)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def __enter__(self) -> ClipSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the sender thread did not stop"

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        listener.settimeout(0.1)
        return listener

    def _serve(self) -> None:
        try:
            for play in range(self.plays):
                if play:
                    # Refuse connections for the pause, then listen on the same port again.
                    self._listener.close()
                    if self._stop.wait(self.pause):
                        return
                    self._listener = self._listen(self.port)
                connection = self._accept()
                if connection is None:
                    return
                with connection:
                    self._send(connection)
        except BaseException as e:  # the test reads it
            self.error = e
        finally:
            self._listener.close()

    def _accept(self) -> socket.socket | None:
        deadline = time.monotonic() + self.accept_timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                connection, _ = self._listener.accept()
                return connection
            except TimeoutError:
                continue
        return None

    def _send(self, connection: socket.socket) -> None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sink = connection.makefile("wb", buffering=0)
        sent = SentConnection(started_wall=0.0)
        try:
            with av.open(sink, "w", format="mpegts") as output, av.open(str(self.clip)) as clip:
                video = clip.streams.video[0]
                out_stream = output.add_stream_from_template(video)
                first_dts: float | None = None
                first_pts = 0.0
                for packet in clip.demux(video):
                    if self._stop.is_set():
                        break
                    if packet.dts is None or packet.pts is None:  # the demuxer's final flush packet
                        continue
                    dts, pts = float(packet.dts * packet.time_base), float(packet.pts * packet.time_base)
                    if first_dts is None:
                        first_dts, first_pts = dts, pts
                        sent.started_wall = time.time()
                        self.connections.append(sent)
                    clip_time = dts - first_dts
                    if self.stop_after is not None and clip_time >= self.stop_after:
                        if self.stall:
                            self._stop.wait(self.accept_timeout)  # until close(), the client's leaving unseen
                        break
                    # Real-time pace: each packet leaves when its decode time comes.
                    delay = sent.started_wall + clip_time - time.time()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    packet.stream = out_stream
                    output.mux(packet)
                    sent.packets.append((pts - first_pts, time.time()))
                    sent.sent_until = pts - first_pts
        except (OSError, av.error.FFmpegError):
            pass  # the client went away (broken pipe, reset): this play is over
        finally:
            sent.ended_wall = time.time()  # the socket closes right after


class SilentServer:
    """A TCP port that accepts connections and never sends a byte (a source that hangs)."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.url = f"tcp://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()


def track_start_delays(events: Sequence[Any], sender: ClipSender) -> list[float]:
    """Seconds from the moment the sender sent a track's first frame to its track_started event.

    A connection's stream time starts where `source_back` says (0 for the first); the frame at
    stream time T of connection k left the sender at connections[k].sent_wall(T - offset_k).
    """
    delays: list[float] = []
    connection, offset = 0, 0.0
    for event in events:
        if event.kind == "source_back":
            connection, offset = connection + 1, event.stream_time
        elif event.kind == "track_started" and connection < len(sender.connections):
            sent_wall = sender.connections[connection].sent_wall(event.stream_time - offset)
            delays.append(event.wall_time - sent_wall)
    return delays
