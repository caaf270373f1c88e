"""`faceindex stream COLLECTION SOURCE`: search a live source until stopped, one line per event
on stdout, flushed at once: in words, or with --json one JSON object (for a pipe to a log or
another program).

Ctrl-C and SIGTERM stop it cleanly: open tracks end with track_ended events, the source is
closed, and the exit code is 0. A source that stays away longer than --reconnect-for ends it
with an error (exit code 4).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, open_collection, plural, to_json
from faceindex.errors import EXIT_OK


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    from faceindex.video_sampling import DEFAULT_SAMPLE_FPS
    from faceindex.video_source import DEFAULT_TIMEOUT

    p = add_command(commands, "stream", cmd_stream,
                    "search a live stream (URL or camera) continuously: one line per event (--json: one JSON "
                    "object per line)",
                    [groups.common, groups.searching])
    p.add_argument("collection")
    p.add_argument("source", help="a URL FFmpeg opens (rtsp://, http(s)://, tcp://, udp://...) or a camera "
                   "(/dev/video0)")
    p.add_argument("--threshold", type=numbers.threshold, help="cosine similarity (default: by error rate)")
    p.add_argument("--max-faces", type=numbers.positive, default=5, help="matches kept per track (default 5)")
    p.add_argument("--sample-fps", type=numbers.sample_fps, default=DEFAULT_SAMPLE_FPS,
                   help=f"frames analysed per second (default {DEFAULT_SAMPLE_FPS:g}; 'all': every frame)")
    p.add_argument("--duration", type=numbers.positive_seconds, help="stop after this many seconds (default: run until "
                   "Ctrl-C or SIGTERM)")
    p.add_argument("--reconnect-for", type=numbers.seconds, default=60.0,
                   help="seconds to keep reopening a source that went away (default 60; 0: never)")
    p.add_argument("--timeout", type=numbers.positive_seconds, default=DEFAULT_TIMEOUT,
                   help=f"seconds the source may take to open and between reads (default {DEFAULT_TIMEOUT:g})")


@contextmanager
def _stop_on_signals(stop: Any) -> Iterator[None]:
    """SIGINT and SIGTERM call stop() instead of killing the process, for as long as the stream runs."""
    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def cmd_stream(args: argparse.Namespace, out: Output) -> int:
    from faceindex.video.face_tracking import SearchSettings
    from faceindex.video.reconnect import ReconnectPolicy
    from faceindex.video.stream import StreamSearch

    settings = SearchSettings(max_faces=args.max_faces, threshold=args.threshold, max_fmr=args.max_fmr,
                              max_fpir=args.max_fpir, purpose=args.purpose, reference=args.reference)
    with open_collection(args) as collection:
        stream = StreamSearch(args.source, collection=collection, sample_fps=args.sample_fps, search=settings,
                              timeout=args.timeout, duration=args.duration,
                              reconnect=ReconnectPolicy(reconnect_for=args.reconnect_for))
        with stream, _stop_on_signals(stream.stop):
            for event in stream.events():
                out.stdout.write((json.dumps(to_json(event)) if out.as_json else event_line(event)) + "\n")
                out.stdout.flush()
    return EXIT_OK


def event_line(e: Any) -> str:
    """One event in words: when (the source's own clock), which track, what happened."""
    who = f"{e.external_image_id or e.face_id} {e.similarity:.3f}" if e.face_id is not None else ""
    how = {"fixed": "given", "fmr": "chosen by FMR", "fpir": "chosen by FPIR"}.get(e.chosen_by or "", e.chosen_by)
    at = f"threshold {e.threshold:.4f}, {how}" if e.threshold is not None else ""
    what = {
        "track_started": f"track {e.track} started",
        "track_matched": f"track {e.track} matched {who} ({at})",
        "match_changed": f"track {e.track} now matches {who} ({at})",
        "track_ended": f"track {e.track} ended" + (f", matched {who}" if who else ", no match"),
        "frames_dropped": f"{plural(e.count or 0, 'frame')} dropped to keep up with the source",
        "source_lost": (f"source {e.detail}" if not e.count else e.detail) or "source lost",
        "source_back": f"source {e.detail}" if e.detail else "source back",
    }.get(e.kind, e.kind)
    return f"{e.stream_time:8.2f} s  {what}"
