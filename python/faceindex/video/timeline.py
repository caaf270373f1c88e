"""The faces of every analysed frame, kept compact: one packed row per face (about 140
bytes), not Python objects, so a ten-minute video's timeline is a few megabytes and
memory stays flat however long the video is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceindex.types import KEYPOINT_NAMES
from faceindex.video.results import FrameFaces

ROW = np.dtype([("timestamp_ms", np.int64), ("track", np.int64), ("box", np.float32, 4), ("score", np.float32),
                ("landmarks", np.float32, (5, 2)), ("quality", np.float32, 3), ("pose", np.float32, 3),
                ("keypoints", np.float32, (5, 2))])  # Rekognition's five (types.KEYPOINT_NAMES); NaN: unknown
_CHUNK = 4096


@dataclass(frozen=True)
class TimelineRows:
    rows: npt.NDArray[np.void]  # ROW, in timestamp order, then largest face first


class Timeline:
    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._current = np.zeros(_CHUNK, dtype=ROW)
        self._used = 0
        self.frames = 0

    def add(self, frame: FrameFaces) -> None:
        self.frames += 1
        for tracked in frame.faces:
            if self._used == _CHUNK:
                self._chunks.append(self._current)
                self._current = np.zeros(_CHUNK, dtype=ROW)
                self._used = 0
            f = tracked.face
            row = self._current[self._used]
            row["timestamp_ms"] = frame.timestamp_millis
            row["track"] = tracked.track
            row["box"] = f.bbox
            row["score"] = f.score
            row["landmarks"] = f.landmarks
            row["quality"] = (f.face_size, f.sharpness, f.brightness)
            row["pose"] = f.pose if f.pose is not None else (np.nan, np.nan, np.nan)
            row["keypoints"] = [f.keypoints.get(name, (np.nan, np.nan)) for name in KEYPOINT_NAMES]
            self._used += 1

    def __len__(self) -> int:
        return len(self._chunks) * _CHUNK + self._used

    def rows(self) -> Iterator[np.void]:
        for chunk in self._chunks:
            yield from chunk
        yield from self._current[: self._used]
