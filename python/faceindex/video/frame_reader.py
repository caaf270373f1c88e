"""Decoding in a thread of its own, so that FFmpeg works while the networks run.

The reader decodes, keeps the frames the sampler picks and hands them over through a
small queue, so memory holds a few frames whatever the video's length. On a file it
waits for the consumer (nothing is lost); on a live source (`drop_when_behind`) it
keeps the newest frames and drops the oldest waiting ones, counting them, so analysis
stays at the source's present instead of drifting behind it.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from faceindex.errors import VideoDecodeWarning
from faceindex.images import RGBImage
from faceindex.video_sampling import TimeSampler
from faceindex.video_source import VideoSource

_POLL = 0.05  # seconds between checks of the stop flag while the queue is full


@dataclass(frozen=True)
class SampledFrame:
    index: int  # the frame's position in the decoded video
    timestamp: float  # seconds from the video's start
    rgb: RGBImage
    analyse: bool  # picked by the sampler (False: kept only to be drawn on, keep_all=True)
    dropped_before: int = 0  # sampled frames dropped since the previous one (live sources falling behind)


class _End:
    pass


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class FrameReader:
    def __init__(self, source: VideoSource, sampler: TimeSampler, *, keep_all: bool = False,
                 drop_when_behind: bool = False, queue_frames: int = 4, warn: bool = True) -> None:
        self.source = source
        self._warn = warn  # False: the caller reports `source.stopped_early` itself (a live source's loss)
        self._sampler = sampler
        self._keep_all = keep_all
        self._drop = drop_when_behind
        self._queue: queue.Queue[SampledFrame | _End | _Failure] = queue.Queue(maxsize=max(1, queue_frames))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._dropped = 0
        self.dropped_total = 0
        self._thread = threading.Thread(target=self._run, name=f"faceindex-decode {source.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self.source.frames(warn=False):
                if self._stop.is_set():
                    return
                analyse = self._sampler.keep(frame.timestamp)
                if analyse or self._keep_all:
                    self._put(SampledFrame(frame.index, frame.timestamp, frame.rgb, analyse))
            self._put(_End())
        except BaseException as e:  # handed to the consumer, raised there
            self._put(_Failure(e))

    def _put(self, item: SampledFrame | _End | _Failure) -> None:
        if self._drop and isinstance(item, SampledFrame):
            with self._lock:
                while True:
                    try:
                        self._queue.put_nowait(self._with_drops(item))
                        return
                    except queue.Full:
                        try:
                            old = self._queue.get_nowait()
                        except queue.Empty:
                            continue
                        if isinstance(old, SampledFrame) and old.analyse:
                            self._dropped += 1 + old.dropped_before
                            self.dropped_total += 1
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _with_drops(self, item: SampledFrame) -> SampledFrame:
        if not self._dropped:
            return item
        dropped, self._dropped = self._dropped, 0
        return SampledFrame(item.index, item.timestamp, item.rgb, item.analyse, dropped)

    def __iter__(self) -> Iterator[SampledFrame]:
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, _End):
                    break
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            self.close()
        if self._warn and self.source.stopped_early:
            warnings.warn(self.source.stopped_early, VideoDecodeWarning, stacklevel=2)

    def close(self) -> None:
        """Stop decoding (the thread ends at its next frame) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=_POLL)
