"""`--annotate OUT.mp4`: the video again, every frame, with each tracked face's box, track
number and match drawn on it (the latest analysed frame's boxes on the frames between),
and the source file's sound copied through unchanged. Labels are set in a TrueType font
(Source Sans Pro, from the video extra) at a size that follows the frame's height.
Written to a temporary file beside OUT and renamed at the end: never a half-written file."""

from __future__ import annotations

import os
import tempfile
import warnings
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faceindex.errors import VideoDecodeWarning, VideoError
from faceindex.types import PackInfo
from faceindex.video.frame_reader import SampledFrame
from faceindex.video.results import FrameFaces, Track
from faceindex.video_source import VideoSource, _require_av

_MATCHED, _UNMATCHED = (40, 220, 60), (250, 200, 40)
_INK = (0, 0, 0)
_FONT_FILE = "SourceSansPro-Semibold.ttf"
_LABEL_SHARE = 0.045  # label height as a share of the frame's height: 16 px at 360p, 49 px at 1080p
_MIN_LABEL_PX = 14


@lru_cache(maxsize=8)
def label_font(size: int) -> ImageFont.FreeTypeFont:
    """The labels' font at `size` pixels: Source Sans Pro Semibold, shipped by font-source-sans-pro."""
    try:
        font = resources.files("font_source_sans_pro") / "files" / _FONT_FILE
        with resources.as_file(font) as path:
            return ImageFont.truetype(str(path), size)
    except (ModuleNotFoundError, FileNotFoundError):
        raise VideoError("--annotate draws its labels with the font of the video extra: "
                         "pip install 'faceindex[video]'") from None


def label_size(frame_height: int) -> int:
    return max(_MIN_LABEL_PX, round(frame_height * _LABEL_SHARE))


def label_of(track_index: int, track: Track | None) -> tuple[str, bool]:
    """A face's label and whether it is a match: `#3 obama 0.95`, or a near miss `#3 no match
    (obama 0.89)`, or `#3`."""
    match = track.best_match if track is not None else None
    if match is not None:
        return f"#{track_index} {match.face.external_image_id or match.face.face_id[:8]} {match.similarity:.2f}", True
    nearest = track.search.nearest if track is not None and track.search is not None else None
    if nearest is not None:
        return (f"#{track_index} no match ({nearest.face.external_image_id or nearest.face.face_id[:8]} "
                f"{nearest.similarity:.2f})"), False
    return f"#{track_index}", False


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_faces(image: Image.Image, faces: FrameFaces, tracks: dict[int, Track]) -> None:
    """Boxes and labels of one frame's tracked faces, drawn on `image`. A label sits above its
    box, or below it, or inside its top, whichever first overlaps no label drawn before it."""
    draw = ImageDraw.Draw(image)
    size = label_size(image.height)
    font = label_font(size)
    line = max(2, round(image.height / 240))
    pad = max(2, size // 6)
    labels = [(tracked.face.bbox, *label_of(tracked.track, tracks.get(tracked.track))) for tracked in faces.faces]
    for (x1, y1, x2, y2), _, matched in labels:  # every box first: no box is drawn over a label
        draw.rectangle([x1, y1, x2, y2], outline=_MATCHED if matched else _UNMATCHED, width=line)
    placed: list[tuple[float, float, float, float]] = []
    for (x1, y1, _, y2), text, matched in labels:
        color = _MATCHED if matched else _UNMATCHED
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        width, height = right - left + 2 * pad, bottom - top + 2 * pad
        x = min(max(0.0, x1), max(0.0, image.width - width))  # never off the frame's sides
        spots = [y for y in (y1 - height, y2, y1) if 0 <= y <= image.height - height] or [max(0.0, y1)]
        y = next((y for y in spots if not any(_overlaps((x, y, x + width, y + height), r) for r in placed)), spots[0])
        placed.append((x, y, x + width, y + height))
        draw.rectangle([x, y, x + width, y + height], fill=color)
        draw.text((x + pad - left, y + pad - top), text, font=font, fill=_INK)


# The sound codecs each container takes as they are (MP4's registered ones; QuickTime adds PCM;
# Matroska takes any): copying needs no re-encoding, so one it cannot hold is left out, said.
# By the names of FFmpeg's decoders, which vary (mp3float, aac_fixed, libopus).
_MP4_SOUND = ("aac", "mp2", "mp3", "ac3", "eac3", "opus", "libopus", "flac", "alac")


def _holds(suffix: str, codec: str) -> bool:
    return suffix == ".mkv" or codec.startswith(_MP4_SOUND) or (suffix == ".mov" and codec.startswith("pcm_"))


class _AudioCopy:
    """The source file's first audio stream, copied packet by packet (not re-encoded) into the
    annotated file, in step with the frames so that the two stay interleaved."""

    def __init__(self, av: Any, path: Path, output: Any, start: float, suffix: str) -> None:
        self._input = av.open(str(path), metadata_errors="replace")
        try:
            stream = self._input.streams.audio[0]
            codec = stream.codec_context.name
            if not _holds(suffix, codec):
                raise ValueError(f"a {suffix} file cannot hold {codec} sound; write .mkv to keep it")
            self._stream = output.add_stream_from_template(stream)
            self._shift = int(round(start / stream.time_base))  # the video's times count from the container's start
            self._packets = self._input.demux(stream)
            self._waiting: Any = None
        except BaseException:
            self._input.close()
            raise

    def copy_until(self, seconds: float | None, output: Any) -> None:
        """Mux the packets that start before `seconds` (None: every one left)."""
        while True:
            packet = self._waiting or next(self._packets, None)
            self._waiting = None
            if packet is None:
                return
            if packet.pts is None or packet.dts is None:  # the demuxer's closing empty packet
                continue
            if seconds is not None and float((packet.pts - self._shift) * packet.time_base) >= seconds:
                self._waiting = packet
                return
            packet.pts -= self._shift
            packet.dts -= self._shift
            packet.stream = self._stream
            output.mux(packet)

    def close(self) -> None:
        self._input.close()


class Annotator:
    def __init__(self, path: Path, source: VideoSource, pack: PackInfo) -> None:
        av = _require_av()
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".mkv", ".mov"):
            raise VideoError(f"--annotate writes .mp4, .mkv or .mov files, not {self.path.name}")
        if not self.path.parent.is_dir():
            raise VideoError(f"{self.path.parent}: no such folder for the annotated video")
        label_font(label_size(source.metadata.frame_height))  # a missing font fails before any frame is decoded
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self._temp = Path(temp)
        self._container = av.open(str(self._temp), "w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        rate = source.metadata.frame_rate or 25.0
        self._stream = self._container.add_stream(codec, rate=round(rate))
        # Timestamps in milliseconds, copied from the source: variable frame rates stay as they were.
        self._stream.time_base = Fraction(1, 1000)
        self._stream.codec_context.time_base = Fraction(1, 1000)
        self._width = source.metadata.frame_width // 2 * 2
        self._height = source.metadata.frame_height // 2 * 2
        self._stream.width, self._stream.height = self._width, self._height
        self._stream.pix_fmt = "yuv420p"
        self._audio = self._audio_of(av, source)
        self._last_pts = -1
        self._av = av

    def _audio_of(self, av: Any, source: VideoSource) -> _AudioCopy | None:
        """The source's sound, where it is a file with an audio stream this container can hold."""
        if source.path is None or not source.has_audio:
            return None
        try:
            return _AudioCopy(av, source.path, self._container, source.start, self.path.suffix.lower())
        except (av.error.FFmpegError, ValueError, OSError) as e:
            warnings.warn(f"{self.path.name}: the sound of {source.name} is not copied ({e})", VideoDecodeWarning,
                          stacklevel=4)
            return None

    def write(self, frame: SampledFrame, faces: FrameFaces | None, tracks: dict[int, Track]) -> None:
        image = Image.fromarray(np.ascontiguousarray(frame.rgb[: self._height, : self._width]))
        if faces is not None:
            draw_faces(image, faces, tracks)
        out = self._av.VideoFrame.from_image(image)
        pts = max(self._last_pts + 1, int(round(frame.timestamp * 1000)))
        out.pts, out.time_base, self._last_pts = pts, Fraction(1, 1000), pts
        if self._audio is not None:
            self._audio.copy_until(pts / 1000, self._container)
        for packet in self._stream.encode(out):
            self._container.mux(packet)

    def finish(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.copy_until(None, self._container)
            self._audio.close()
        self._container.close()
        os.replace(self._temp, self.path)

    def abandon(self) -> None:
        try:
            if self._audio is not None:
                self._audio.close()
            self._container.close()
        except Exception:  # closing a broken encoder may fail too; the file goes either way
            pass
        self._temp.unlink(missing_ok=True)
