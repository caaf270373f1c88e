"""The numbers the `faceindex` commands take: each parser reads the text, checks its range and
says which rule was broken (argparse shows the message as a usage error, exit 2)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def integer(noun: str, low: int, high: int | None, rule: str) -> Callable[[str], int]:
    """An int from low to high (inclusive; high None: no bound). noun: what a non-integer is not
    ("an integer"); rule: the message for one out of range, with {value}."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(rule.format(value=value))
        return value

    return parse


def number(noun: str, accept: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """A finite float that `accept` takes; rule: the message for one it refuses, with {value}
    (the text as given)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(rule.format(value=text))
        return value

    return parse


positive = integer("an integer", 1, None, "must be at least 1, got {value}")
count = integer("an integer", 0, None, "must be 0 or more, got {value}")
port = integer("a port number", 0, 65535, "a port from 0 to 65535 (0: any free port), got {value}")
shards = integer("an integer", 1, 4096, "must be from 1 to 4096, got {value}")
threshold = number("a number", lambda v: -1.0 <= v <= 1.0, "a cosine similarity from -1 to 1, got {value}")
rate = number("a number", lambda v: 0 < v < 1, "a rate between 0 and 1 (e.g. 1e-4), got {value}")
seconds = number("a number of seconds", lambda v: v >= 0, "must be zero or more seconds, got {value}")
positive_seconds = number("a number of seconds", lambda v: v > 0, "must be more than 0 seconds, got {value}")
timeout_seconds = number("a number of seconds", lambda v: 0 < v <= 3600,
                         "must be more than 0 and at most 3600, got {value}")
_fps = number("a number of frames per second", lambda v: v > 0,
              "must be a positive number of frames per second or 'all', got {value}")


def sample_fps(text: str) -> float | None:
    """Frames analysed per second of video: a positive number, or 'all' (every frame)."""
    return None if text.lower() in ("all", "none") else _fps(text)
