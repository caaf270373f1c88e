"""A one-line progress bar on a terminal: count, rate, time left. Silent when not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None,
                 enabled: bool | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.label, self.width = total, label, width
        self.done = 0
        self.note = ""
        self._started = time.monotonic()
        self._last_draw = 0.0

    def advance(self, note: str = "") -> None:
        self.done += 1
        self.note = note
        now = time.monotonic()
        if self.enabled and (now - self._last_draw > 0.1 or self.done == self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {rate:.1f}/s "
                          f"{int(left // 60)}:{int(left % 60):02d} left {self.note}"[:200].ljust(100))
        self.stream.flush()

    def finish(self) -> None:
        """The work is done: the bar ends full, whatever the estimated total was (a video's
        analysed frames are counted from its duration, before any is decoded)."""
        self.total = self.done
        if self.enabled:
            self._draw(time.monotonic())

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
