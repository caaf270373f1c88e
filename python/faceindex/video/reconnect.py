"""How a live source that went away is reopened: attempts spaced by exponential backoff
(0.25 s doubling to 4 s by default: quick for a blip, gentle on a server that is down),
for at most `reconnect_for` seconds before the stream gives up."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ReconnectPolicy:
    """first_delay: seconds before the first attempt; each further wait doubles, up to max_delay.
    reconnect_for: seconds from the loss after which no attempt starts (None: try for ever;
    0: never reconnect, a loss ends the stream)."""

    first_delay: float = 0.25
    max_delay: float = 4.0
    reconnect_for: float | None = 60.0

    def __post_init__(self) -> None:
        for name in ("first_delay", "max_delay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_delay < self.first_delay:
            raise ValueError(f"max_delay ({self.max_delay}) is less than first_delay ({self.first_delay})")
        if self.reconnect_for is not None and not (math.isfinite(self.reconnect_for) and self.reconnect_for >= 0):
            raise ValueError(f"reconnect_for must be zero or more seconds, or None, got {self.reconnect_for!r}")

    def delays(self) -> Iterator[float]:
        """The wait before each attempt: first_delay, twice that, ... capped at max_delay (endless)."""
        delay = self.first_delay
        while True:
            yield delay
            delay = min(delay * 2.0, self.max_delay)
