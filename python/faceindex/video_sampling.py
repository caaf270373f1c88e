"""Which frames are analysed: sampled by presentation time, never by counting frames,
so a variable-frame-rate file (a phone's) is sampled evenly in time.

The default, 5 frames a second: 200 ms between looks is shorter than any appearance
worth reporting, short enough for the tracker's motion model to follow a walking person
or a panning camera, and a sixth of the work of 30 fps video (realtime for the dlib pack
on two cores). `None` analyses every frame.
"""

from __future__ import annotations

import math

DEFAULT_SAMPLE_FPS = 5.0
_TOLERANCE = 1e-3  # seconds: container timestamps are rounded to their time base


class TimeSampler:
    def __init__(self, sample_fps: float | None = DEFAULT_SAMPLE_FPS) -> None:
        if sample_fps is not None and not (isinstance(sample_fps, (int, float)) and math.isfinite(sample_fps)
                                           and sample_fps > 0):
            raise ValueError(f"sample_fps must be a positive number of frames per second or None, got {sample_fps!r}")
        self.period = None if sample_fps is None else 1.0 / float(sample_fps)
        self._due: float | None = None

    def keep(self, timestamp: float) -> bool:
        """Whether the frame at this time is analysed. Times must not go backwards."""
        if self.period is None:
            return True
        if self._due is not None and timestamp < self._due - _TOLERANCE:
            return False
        # The next look is one period after this one's slot; after a gap (a dropped stretch,
        # a pause in a live source) the schedule restarts here rather than catching up.
        slot = self._due if self._due is not None and timestamp < self._due + self.period else timestamp
        self._due = slot + self.period
        return True
