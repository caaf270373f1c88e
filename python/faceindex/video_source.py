"""Opening a video (file, URL, camera) with PyAV and decoding its frames.

One place turns FFmpeg's failures into faceindex's: a source that is not a video, has no
video stream, uses a codec this FFmpeg cannot decode, has frames over `max_pixels`, holds
no frame, or does not answer within the timeout raises VideoError (VideoTimeoutError);
a file damaged part-way gives its frames up to the damage and a VideoDecodeWarning
saying where it stopped. Times are presentation timestamps from the container's start,
never frame counts, so variable frame rates come out right; the rotation a phone
records is applied to every frame.
"""

from __future__ import annotations

import dataclasses
import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from faceindex.errors import VideoDecodeWarning, VideoError, VideoNotFoundError, VideoTimeoutError
from faceindex.images import DEFAULT_MAX_PIXELS, RGBImage

av: Any
try:
    import av
    import av.error
except ImportError:  # pragma: no cover - the video extra is not installed
    av = None

DEFAULT_TIMEOUT = 10.0  # seconds a URL or camera may take to open, and between two reads
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class VideoMetadata:
    """What the container says about the video stream (Rekognition's VideoMetadata, plus rotation)."""

    codec: str
    format: str  # the container format's long name, as Rekognition reports it ("QuickTime / MOV")
    frame_rate: float  # average frames per second (0.0 when the source does not say)
    frame_width: int  # after rotation: the frames faceindex analyses have this size
    frame_height: int
    duration_millis: int | None  # None for live sources and containers that do not say
    rotation: int  # degrees the frames were turned (counter-clockwise) to stand upright; known once a frame is decoded
    live: bool  # a URL or a camera: read as fast as it comes, never seeked

    def as_rekognition(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"Codec": self.codec, "Format": self.format, "FrameRate": self.frame_rate,
                               "FrameHeight": self.frame_height, "FrameWidth": self.frame_width}
        if self.duration_millis is not None:
            doc["DurationMillis"] = self.duration_millis
        return doc


@dataclass(frozen=True)
class DecodedFrame:
    index: int  # position among the decoded frames, from 0
    timestamp: float  # seconds from the start of the video (presentation time)
    rgb: RGBImage


def _require_av() -> Any:
    if av is None:
        raise VideoError("video needs PyAV: pip install 'faceindex[video]'")
    return av


def describe(source: Any) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"video bytes ({len(source)} bytes)"
    return str(source) if isinstance(source, (str, Path)) else type(source).__name__


class VideoSource:
    """An open video. Iterate `frames()` once; close() (or `with`) releases FFmpeg's handles.

    source: a file path, a URL FFmpeg opens (rtsp://, http(s)://, tcp://, udp://...), a
        V4L2 camera (/dev/video0), bytes or a binary file object.
    timeout: seconds a live source may take to open and between reads (a source that never
        answers raises VideoTimeoutError instead of hanging).
    max_pixels: frames larger than this are refused before any is decoded.
    """

    def __init__(self, source: Any, *, timeout: float = DEFAULT_TIMEOUT,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        lib = _require_av()
        self.name = describe(source)
        self.live = False
        self.path: Path | None = None  # the local file, when the source is one (it can be opened again)
        kwargs: dict[str, Any] = {}
        target: Any = source
        if isinstance(source, (bytes, bytearray, memoryview)):
            target = io.BytesIO(bytes(source))
        elif isinstance(source, (str, Path)):
            text = str(source)
            if _URL.match(text):
                self.live = not text.lower().startswith("file:")
                kwargs["timeout"] = (timeout, timeout)
            elif text.startswith("/dev/video"):
                self.live = True
                kwargs.update(format="v4l2", timeout=(timeout, timeout))
            else:
                path = Path(text)
                if not path.exists():
                    raise VideoNotFoundError(f"{text}: no such file")
                if path.is_dir():
                    raise VideoError(f"{text} is a folder, not a video")
                target, self.path = text, path
        elif not hasattr(source, "read"):
            raise VideoError(f"cannot read a video from {type(source).__name__}: "
                             "give a path, a URL, a camera device, bytes or a binary file object")
        # Container metadata (titles, tags) is text of any encoding, or none: never a reason to fail.
        kwargs["metadata_errors"] = "replace"
        try:
            self._container = lib.open(target, **kwargs)
        except lib.error.ExitError as e:  # the interrupt callback: the timeout ran out
            raise VideoTimeoutError(f"{self.name}: no answer within {timeout:g} s") from e
        except (TimeoutError, lib.error.FFmpegError) as e:
            if "timed out" in str(e).lower() or isinstance(e, TimeoutError):
                raise VideoTimeoutError(f"{self.name}: no answer within {timeout:g} s ({e})") from e
            raise VideoError(f"{self.name} is not a video FFmpeg can open ({e})") from e
        self._max_pixels = max_pixels
        try:
            self.metadata = self._inspect(max_pixels)
        except BaseException:
            self._container.close()
            raise
        self.stopped_early: str | None = None  # why decoding ended before the end, when it did

    def _inspect(self, max_pixels: int) -> VideoMetadata:
        container = self._container
        # FFmpeg opens a photo as a one-frame "video" (its image demuxers: image2, jpeg_pipe, png_pipe ...):
        # a caller that asked for a video has the wrong file, and is told so.
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            codec = container.streams.video[0].codec_context.name if container.streams.video else ""
            kind = {"mjpeg": "JPEG", "": "an image format"}.get(codec or "", (codec or "").upper())
            raise VideoError(f"{self.name} is a still image ({kind}), not a video")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            raise VideoError(f"{self.name} has no video stream (it holds {', '.join(kinds) or 'no streams'})")
        stream = container.streams.video[0]
        context = stream.codec_context
        if context is None or not context.name:
            raise VideoError(f"{self.name}: its video codec is not one this FFmpeg can decode")
        width, height = int(context.width or 0), int(context.height or 0)
        if width * height > max_pixels:
            raise VideoError(f"{self.name}: frames of {width}x{height} are over the limit of "
                             f"{max_pixels} pixels (raise max_pixels to accept them)")
        stream.thread_type = "AUTO"
        self._stream = stream
        self._start = container.start_time / 1e6 if container.start_time is not None else 0.0
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        duration: int | None = None
        if not self.live:
            if container.duration is not None:
                duration = int(round(container.duration / 1000))
            elif stream.duration is not None and stream.time_base is not None:
                duration = int(round(float(stream.duration * stream.time_base) * 1000))
        # The rotation is known from the first decoded frame (frames() sets it there).
        return VideoMetadata(codec=context.name, format=container.format.long_name or container.format.name,
                             frame_rate=round(float(rate), 3), frame_width=width, frame_height=height,
                             duration_millis=duration, rotation=0, live=self.live)

    @property
    def start(self) -> float:
        """Seconds of the container's start time: frame timestamps count from it."""
        return self._start

    @property
    def has_audio(self) -> bool:
        return bool(self._container.streams.audio)

    def _note_rotation(self, frame: Any) -> None:
        turns = _quarter_turns(float(frame.rotation or 0))
        if turns and self.metadata.rotation == 0:
            m = self.metadata
            width, height = (m.frame_height, m.frame_width) if turns % 2 else (m.frame_width, m.frame_height)
            self.metadata = dataclasses.replace(m, rotation=turns * 90, frame_width=width, frame_height=height)

    def frames(self, warn: bool = True) -> Iterator[DecodedFrame]:
        """Every frame in presentation order, upright, as RGB. Damage part-way ends the
        iteration with a VideoDecodeWarning (warn=False: only `stopped_early` says so, for
        a decoding thread that leaves the warning to its reader); no frame at all raises VideoError."""
        self._warn = warn
        lib = _require_av()
        index = 0
        last_time = None
        try:
            for packet in self._container.demux(self._stream):
                for frame in self._decode(packet):
                    if frame.width * frame.height > self._max_pixels:
                        # The header's size is only a claim: a stream may change size mid-way.
                        raise VideoError(f"{self.name}: frame {index} is {frame.width}x{frame.height}, over the "
                                         f"limit of {self._max_pixels} pixels (raise max_pixels to accept it)")
                    if index == 0:
                        self._note_rotation(frame)
                    timestamp = self._timestamp(frame, index)
                    if last_time is not None and timestamp < last_time:
                        timestamp = last_time  # reordered or broken timestamps never run time backwards
                    last_time = timestamp
                    yield DecodedFrame(index, timestamp, _upright(frame))
                    index += 1
        except lib.error.ExitError as e:
            raise VideoTimeoutError(f"{self.name}: no data within the timeout after {index} frames") from e
        except (lib.error.FFmpegError, OSError) as e:
            self._stopped(index, last_time, f"{type(e).__name__}: {e}")
            return
        if index == 0:
            raise VideoError(f"{self.name} holds no video frames")
        self._check_complete(index, last_time)

    def _decode(self, packet: Any) -> list[Any]:
        lib = _require_av()
        try:
            return list(packet.decode())
        except lib.error.InvalidDataError:
            # A damaged packet: FFmpeg conceals what it can in the frames after it.
            self._damaged_packets = getattr(self, "_damaged_packets", 0) + 1
            if self._damaged_packets > 25:
                raise
            return []

    def _timestamp(self, frame: Any, index: int) -> float:
        if frame.time is not None:
            return max(0.0, float(frame.time) - self._start)
        rate = self.metadata.frame_rate
        return index / rate if rate > 0 else 0.0

    def _stopped(self, frames: int, last_time: float | None, why: str) -> None:
        where = f"{last_time:.3f} s" if last_time is not None else "the start"
        self.stopped_early = f"{self.name}: decoding stopped at {where} after {frames} frames ({why})"
        if frames == 0:
            raise VideoError(f"{self.name} holds no frame that can be decoded ({why})")
        if self._warn:
            warnings.warn(self.stopped_early, VideoDecodeWarning, stacklevel=3)

    def _check_complete(self, frames: int, last_time: float | None) -> None:
        """A file whose frames end well before its declared duration was cut short."""
        declared = self.metadata.duration_millis
        if self.live or declared is None or last_time is None:
            return
        period = 1.0 / self.metadata.frame_rate if self.metadata.frame_rate > 0 else 0.0
        if last_time + period < declared / 1000 - max(1.0, 0.1 * declared / 1000):
            self._stopped(frames, last_time, f"the container declares {declared / 1000:.3f} s; the rest is missing")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quarter_turns(angle: float) -> int:
    return int(round(angle / 90.0)) % 4


def _upright(frame: Any) -> RGBImage:
    """The frame as uint8 RGB, turned by the rotation its display matrix records."""
    rgb: RGBImage = frame.to_ndarray(format="rgb24")  # a view with FFmpeg's row padding, sometimes
    turns = _quarter_turns(float(frame.rotation or 0))
    return np.ascontiguousarray(np.rot90(rgb, turns) if turns else rgb)
