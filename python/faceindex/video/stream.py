"""Live streams: search a camera or a URL continuously and report what happens as events.

    stream = StreamSearch("rtsp://camera/live", collection=collection, duration=3600)
    for event in stream.events():     # TrackEvent: track_started, track_matched, match_changed,
        ...                           # track_ended, frames_dropped, source_lost, source_back
    stream.stop()                      # from any thread (a signal handler, a web request)

Frames are decoded in a thread that keeps only the newest ones: when analysis falls behind,
frames are dropped (a frames_dropped event counts them) rather than letting the results lag
further and further behind the present. A source that goes away (its end, an error, no data
within the timeout) is reopened with backoff (ReconnectPolicy); open tracks end at the loss,
since the tracker cannot bridge a gap of unknown length, and source_lost / source_back
events bracket the gap. Stream time is the source's own clock within one connection; a new
connection's times start where the gap ended (the stream time at the loss plus the gap's
length by the wall clock), so stream time never runs backwards.

Every wait is bounded: reads by the source's timeout, reconnect waits by `stop()` and the
duration, so `stop()` takes effect within one timeout at worst (a source that stalls).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path

from faceindex.collection.contract import FaceCollection
from faceindex.engine import FaceEngine
from faceindex.errors import VideoError, VideoTimeoutError
from faceindex.video.face_tracking import EmbedPolicy, FaceTracking, SearchSettings
from faceindex.video.frame_reader import FrameReader
from faceindex.video.reconnect import ReconnectPolicy
from faceindex.video.results import EventKind, FrameFaces, Track, TrackEvent
from faceindex.video_sampling import DEFAULT_SAMPLE_FPS, TimeSampler
from faceindex.video_source import DEFAULT_TIMEOUT, VideoSource
from faceindex.video.tracker import TrackerSettings


class StreamSearch:
    """Searches a live source (a URL or a camera) until stopped, the duration is over, or the
    source stays away longer than the reconnect policy allows (VideoTimeoutError).

    source: a URL FFmpeg opens (rtsp://, http(s)://, tcp://, udp://...) or a V4L2 camera.
    collection: where tracks are searched (None: tracks only, no matches).
    duration: seconds (wall clock) after which the stream stops by itself (None: until stop()).
    timeout: seconds the source may take to open and between two reads.
    on_event: called with each event, in the thread that iterates `events()` (or calls `run()`).
    on_frame: called after each analysed frame with its faces, the open tracks (each with its latest
        search) and the frame's (width, height), in the same thread: a per-frame record (a stream
        processor's output) is made from them.
    """

    def __init__(self, source: str | Path, engine: FaceEngine | None = None, collection: FaceCollection | None = None,
                 *, sample_fps: float | None = DEFAULT_SAMPLE_FPS, search: SearchSettings = SearchSettings(),
                 tracker: TrackerSettings | None = None, embed: EmbedPolicy = EmbedPolicy(),
                 timeout: float = DEFAULT_TIMEOUT, reconnect: ReconnectPolicy = ReconnectPolicy(),
                 duration: float | None = None, on_event: Callable[[TrackEvent], None] | None = None,
                 on_frame: Callable[[FrameFaces, Mapping[int, Track], tuple[int, int]], None] | None = None
                 ) -> None:
        if duration is not None and not (math.isfinite(duration) and duration > 0):
            raise ValueError(f"duration must be a positive number of seconds or None, got {duration!r}")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if engine is None:
            engine = collection.engine if collection is not None else FaceEngine()
        TimeSampler(sample_fps)  # a bad rate fails here, not at the first frame
        self.engine = engine
        self.collection = collection
        self.sample_fps = sample_fps
        self.duration = duration
        self.timeout = timeout
        self.reconnect = reconnect
        self._on_event = on_event
        self._on_frame = on_frame
        self._tracking = FaceTracking(engine, collection, search=search, tracker=tracker, embed=embed)
        self._spec = source
        self._stop = threading.Event()
        self._ran = False
        # The first connection is opened here, so a wrong URL or a source that is not live fails at once.
        self._source: VideoSource | None = self._open()
        if not self._source.live:
            self._source.close()
            raise VideoError(f"{self._source.name} is not a live source (a URL or a camera); "
                             "analyse stored video with VideoAnalysis (`faceindex video`)")
        self.name = self._source.name
        self.frames_analysed = 0
        self.frames_dropped = 0  # sampled frames dropped because analysis fell behind
        self.reconnects = 0

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the stream to end (any thread, a signal handler too): open tracks end with
        track_ended events, the source is closed and `events()` finishes."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> StreamSearch:
        """Process the stream to its end, handing each event to `on_event`."""
        for _ in self.events():
            pass
        return self

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    def __enter__(self) -> StreamSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.close()

    # -- the loop ----------------------------------------------------------------------------

    def events(self) -> Iterator[TrackEvent]:
        if self._ran:
            raise RuntimeError("a StreamSearch runs once; make a new one to search the source again")
        self._ran = True
        deadline = None if self.duration is None else time.monotonic() + self.duration
        try:
            yield from self._connections(deadline)
        finally:
            self.close()

    def _connections(self, deadline: float | None) -> Generator[TrackEvent, None, None]:
        offset = 0.0  # stream time at which the current connection's time 0 falls
        stream_time = 0.0  # the latest stream time reported; never decreases
        clock_at_stream_time = time.monotonic()  # when stream_time was reached
        while True:
            source = self._source
            assert source is not None
            why = "the stream ended"
            # One waiting frame: when analysis lags, the next one analysed is the newest, not one
            # that waited in a queue (each queued frame would add a sampling period of delay).
            reader = FrameReader(source, TimeSampler(self.sample_fps), drop_when_behind=True, queue_frames=1,
                                 warn=False)
            try:
                for frame in reader:
                    stream_time = max(stream_time, offset + frame.timestamp)
                    clock_at_stream_time = time.monotonic()
                    faces = self._tracking.step(dataclasses.replace(frame, timestamp=stream_time))
                    if self._on_frame is not None:
                        height, width = frame.rgb.shape[:2]
                        self._on_frame(faces, self._tracking.tracks, (int(width), int(height)))
                    self.frames_analysed += 1
                    self.frames_dropped += frame.dropped_before
                    yield from self._deliver(self._tracking.take_events())
                    self._forget_ended_tracks()
                    if self._should_stop(deadline):
                        break
                else:
                    why = source.stopped_early or why
            except (VideoError, OSError) as e:  # VideoTimeoutError included: no data within the timeout
                why = str(e)
            finally:
                reader.close()
                self.close()
            # Stopped or lost: either way no open track can continue.
            self._tracking.finish()
            self._forget_ended_tracks()
            yield from self._deliver(self._tracking.take_events())
            if self._should_stop(deadline):
                return
            lost_clock = time.monotonic()
            lost_time = stream_time + (lost_clock - clock_at_stream_time)
            yield from self._deliver([self._source_event("source_lost", lost_time, 0, f"lost: {why}")])
            reopened = yield from self._reopen(lost_time, lost_clock, why, deadline)
            if reopened is None:
                return  # stopped while waiting
            self._source, attempts = reopened
            self.reconnects += 1
            # The new connection's time 0 is now: the stream time at the loss plus the gap.
            gap = time.monotonic() - lost_clock
            offset = stream_time = lost_time + gap
            clock_at_stream_time = time.monotonic()
            yield from self._deliver([self._source_event(
                "source_back", offset, attempts, f"back after {gap:.2f} s and {attempts} attempts")])

    def _reopen(self, lost_time: float, lost_clock: float, why: str, deadline: float | None
                ) -> Generator[TrackEvent, None, tuple[VideoSource, int] | None]:
        """Attempts with backoff until one opens (the source, attempts), stop() or the duration
        (None), or the reconnect time is spent (VideoTimeoutError)."""
        limit = self.reconnect.reconnect_for
        attempts = 0
        last_error = "no attempt made"
        for delay in self.reconnect.delays():
            if limit is not None and time.monotonic() - lost_clock + delay > limit:
                break
            wait = delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
            if self._stop.wait(wait) or self._should_stop(deadline):
                return None
            attempts += 1
            try:
                return self._open(), attempts
            except (VideoError, OSError) as e:
                last_error = str(e)
                now = lost_time + (time.monotonic() - lost_clock)
                yield from self._deliver([self._source_event(
                    "source_lost", now, attempts, f"reconnect attempt {attempts} failed: {e}")])
        raise VideoTimeoutError(
            f"{self.name}: lost at stream time {lost_time:.3f} s ({why}) and not back within "
            f"{limit:g} s after {attempts} reconnect attempts (last: {last_error})")

    def _open(self) -> VideoSource:
        return VideoSource(self._spec, timeout=self.timeout, max_pixels=self.engine.max_pixels)

    def _should_stop(self, deadline: float | None) -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            self._stop.set()
        return self._stop.is_set()

    def _deliver(self, events: Iterable[TrackEvent]) -> Iterator[TrackEvent]:
        for event in events:
            if self._on_event is not None:
                self._on_event(event)
            yield event

    def _forget_ended_tracks(self) -> None:
        """A stream runs for days: ended tracks (already reported) are not kept."""
        tracks = self._tracking.tracks
        for index in [i for i, track in tracks.items() if track.ended]:
            del tracks[index]

    def _source_event(self, kind: EventKind, stream_time: float, count: int, detail: str) -> TrackEvent:
        return TrackEvent(kind=kind, stream_time=stream_time, wall_time=time.time(), count=count, detail=detail)
