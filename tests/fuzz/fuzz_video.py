"""Fuzz harness: the video reader (PyAV/FFmpeg through VideoSource) on arbitrary bytes:
container probing, stream checks, decoding, timestamps, rotation, the pixel limit.

Accepted outcomes: upright uint8 HxWx3 C-contiguous frames within the pixel limit at
non-decreasing finite times (perhaps ending early with a VideoDecodeWarning), or VideoError.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from faceindex.errors import VideoDecodeWarning, VideoError
from faceindex.video_source import VideoSource

MAX_PIXELS = 1 << 20
MAX_FRAMES = 40  # enough to reach the damage in any seed; keeps each run short


def check(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VideoDecodeWarning)
            with VideoSource(data, max_pixels=MAX_PIXELS) as source:
                last = 0.0
                for i, frame in enumerate(source.frames()):
                    rgb = frame.rgb
                    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, (rgb.dtype, rgb.shape)
                    assert rgb.flags.c_contiguous and 0 < rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS, rgb.shape
                    assert math.isfinite(frame.timestamp) and frame.timestamp >= last, (frame.timestamp, last)
                    last = frame.timestamp
                    if i + 1 >= MAX_FRAMES:
                        break
    except VideoError:
        return


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
