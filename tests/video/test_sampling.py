"""Frames are sampled by their timestamps, never by counting frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceindex.video.frame_reader import FrameReader
from faceindex.video_sampling import TimeSampler
from faceindex.video_source import VideoSource


def test_sampler_keeps_one_frame_per_period_at_any_frame_rate() -> None:
    for fps in (24.0, 29.97, 30.0, 60.0, 7.0):
        sampler = TimeSampler(5.0)
        times = [i / fps for i in range(int(fps * 10))]
        kept = [t for t in times if sampler.keep(t)]
        assert abs(len(kept) - 50) <= 1, (fps, len(kept))
        gaps = np.diff(kept)
        assert gaps.max() <= 0.2 + 1 / fps + 1e-9 and gaps.min() >= 0.2 - 1 / fps - 1e-9


def test_sampler_none_keeps_every_frame_and_bad_rates_are_refused() -> None:
    sampler = TimeSampler(None)
    assert all(sampler.keep(t) for t in (0.0, 0.001, 0.002))
    for bad in (0, -1, math.nan, math.inf, "5"):
        with pytest.raises(ValueError, match="sample_fps"):
            TimeSampler(bad)  # type: ignore[arg-type]


def test_sampler_restarts_after_a_gap_instead_of_catching_up() -> None:
    sampler = TimeSampler(5.0)
    assert sampler.keep(0.0)
    assert sampler.keep(10.0)  # a pause in a live source
    assert not sampler.keep(10.1)
    assert sampler.keep(10.2)


def test_variable_frame_rate_file_is_sampled_evenly_in_time(video_file) -> None:  # type: ignore[no-untyped-def]
    # 2 s at 50 fps, then 2 s at 5 fps, then 2 s at 25 fps: frame counting would sample
    # the first stretch ten times as densely as the second.
    times = ([i * 0.02 for i in range(100)] + [2.0 + i * 0.2 for i in range(10)]
             + [4.0 + i * 0.04 for i in range(50)])
    path = video_file("vfr.mkv", times=times)
    with VideoSource(path) as source:
        decoded = [f.timestamp for f in source.frames()]
    assert np.allclose(decoded, times, atol=0.002), "timestamps must come from the container, not frame counts"
    with VideoSource(path) as source:
        sampled = [f.timestamp for f in FrameReader(source, TimeSampler(2.5))]
    per_stretch = [sum(1 for t in sampled if lo <= t < hi) for lo, hi in ((0, 2), (2, 4), (4, 6))]
    assert per_stretch == [5, 5, 5], (per_stretch, sampled)
