"""Video fixtures: small files written with PyAV for each case (frame rates, rotation,
damage), and the shared clip with its collection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")

Painter = Callable[[int], np.ndarray]


def _gray_ramp(i: int, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = (i * 7) % 256  # the left half changes, the right half stays black
    return img


def write_video(path: Path, *, times: Sequence[float] | None = None, frames: int = 30, fps: int = 10,
                size: tuple[int, int] = (64, 48), codec: str = "mpeg4", rotation: int = 0,
                paint: Painter | None = None, options: dict[str, str] | None = None,
                audio: bool | str = False, video: bool = True) -> Path:
    """A video whose frame i shows paint(i), at `times` (seconds; variable frame rate) or every 1/fps;
    with audio=True an audio stream too, MP2 (or the codec audio names; video=False: only that)."""
    from fractions import Fraction

    container = av.open(str(path), "w", options=options or {})
    stream = container.add_stream(codec, rate=fps) if video else None  # every stream before the first packet
    if stream is not None:
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
    audio_stream = container.add_stream(audio if isinstance(audio, str) else "mp2", rate=44100) if audio else None
    if audio_stream is not None:
        for k in range(10):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = 44100, k * 1152
            for packet in audio_stream.encode(chunk):
                container.mux(packet)
        for packet in audio_stream.encode():
            container.mux(packet)
    if stream is None:
        container.close()
        return path
    count = len(times) if times is not None else frames
    for i in range(count):
        image = paint(i) if paint is not None else _gray_ramp(i, size)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if times is not None:
            frame.pts, frame.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


@pytest.fixture
def video_file(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(name: str = "", **kwargs: object) -> Path:
        return write_video(tmp_path / (name or f"v{next(counter)}.mkv"), **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def hamilton_clip(data_file: Callable[[str], Path]) -> Path:
    return data_file("video/short_hamilton_clip.mp4")
