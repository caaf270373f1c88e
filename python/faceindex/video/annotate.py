"""`--annotate OUT.mp4`: the video again, every frame, with each tracked face's box, track
number and match drawn on it (the latest analysed frame's boxes on the frames between).
Written to a temporary file beside OUT and renamed at the end: never a half-written file."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from faceindex.errors import VideoError
from faceindex.types import PackInfo
from faceindex.video.frame_reader import SampledFrame
from faceindex.video.results import FrameFaces, Track
from faceindex.video_source import VideoSource, _require_av

_MATCHED, _UNMATCHED = (40, 220, 60), (250, 200, 40)


class Annotator:
    def __init__(self, path: Path, source: VideoSource, pack: PackInfo) -> None:
        av = _require_av()
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".mkv", ".mov"):
            raise VideoError(f"--annotate writes .mp4, .mkv or .mov files, not {self.path.name}")
        if not self.path.parent.is_dir():
            raise VideoError(f"{self.path.parent}: no such folder for the annotated video")
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
        self._last_pts = -1
        self._av = av

    def write(self, frame: SampledFrame, faces: FrameFaces | None, tracks: dict[int, Track]) -> None:
        image = Image.fromarray(np.ascontiguousarray(frame.rgb[: self._height, : self._width]))
        if faces is not None:
            draw = ImageDraw.Draw(image)
            for tracked in faces.faces:
                track = tracks.get(tracked.track)
                match = track.best_match if track is not None else None
                color = _MATCHED if match is not None else _UNMATCHED
                x1, y1, x2, y2 = tracked.face.bbox
                draw.rectangle([x1, y1, x2, y2], outline=color, width=2)
                label = f"#{tracked.track}"
                if match is not None:
                    label += f" {match.face.external_image_id or match.face.face_id[:8]} {match.similarity:.2f}"
                draw.text((x1 + 2, max(0.0, y1 - 12)), label, fill=color)
        out = self._av.VideoFrame.from_image(image)
        pts = max(self._last_pts + 1, int(round(frame.timestamp * 1000)))
        out.pts, out.time_base, self._last_pts = pts, Fraction(1, 1000), pts
        for packet in self._stream.encode(out):
            self._container.mux(packet)

    def finish(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self._temp, self.path)

    def abandon(self) -> None:
        try:
            self._container.close()
        except Exception:  # closing a broken encoder may fail too; the file goes either way
            pass
        self._temp.unlink(missing_ok=True)
