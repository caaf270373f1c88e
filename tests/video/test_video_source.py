"""Opening and decoding: rotation, metadata, and every kind of bad input gets a clear
VideoError (or a warning saying where a damaged file stopped), never a crash or a hang."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from faceindex.errors import VideoDecodeWarning, VideoError, VideoNotFoundError, VideoTimeoutError
from faceindex.video import VideoAnalysis, VideoSource
from live_sender import SilentServer


def left_white(i: int) -> np.ndarray:
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = 255
    return img


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_recorded_by_a_phone_is_applied(video_file, rotation: int) -> None:  # type: ignore[no-untyped-def]
    path = video_file("rot.mp4", frames=3, paint=left_white, rotation=rotation)
    with VideoSource(path) as source:
        frames = list(source.frames())
        m = source.metadata
    rgb = frames[0].rgb
    if rotation == 180:
        assert rgb.shape == (48, 64, 3) and (m.frame_width, m.frame_height) == (64, 48)
        assert rgb[:, 48:].mean() > 200 and rgb[:, :16].mean() < 50  # white moved to the right
    else:
        assert rgb.shape == (64, 48, 3) and (m.frame_width, m.frame_height) == (48, 64)
        # Turned counter-clockwise by 90 (as players show it), the white left half lies at the bottom.
        white, black = (rgb[48:], rgb[:16]) if rotation == 90 else (rgb[:16], rgb[48:])
        assert white.mean() > 200 and black.mean() < 50
    assert m.rotation == rotation % 360
    assert rgb.flags.c_contiguous


def test_metadata_of_the_clip(hamilton_clip: Path) -> None:
    with VideoSource(hamilton_clip) as source:
        m = source.metadata
    assert (m.codec, m.frame_width, m.frame_height, m.live) == ("h264", 640, 360, False)
    assert m.frame_rate == pytest.approx(29.97, abs=0.01) and m.duration_millis == pytest.approx(10020, abs=50)
    assert m.as_rekognition()["Format"] == "QuickTime / MOV"


def test_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("these are not frames")
    with pytest.raises(VideoError, match="not a video"):
        VideoSource(text)
    with pytest.raises(VideoNotFoundError, match="no such file"):
        VideoSource(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="folder"):
        VideoSource(tmp_path)
    with pytest.raises(VideoError, match="cannot read a video from int"):
        VideoSource(42)


def test_a_photo_is_not_a_video(tmp_path: Path, data_file) -> None:  # type: ignore[no-untyped-def]
    # FFmpeg would open it as a one-frame "video" (its image2 / jpeg_pipe demuxers), whatever the name.
    photo = data_file("images/face_recognition/knn_examples/train/obama/obama.jpg").read_bytes()
    for name in ("obama.jpg", "holiday.mp4"):
        (tmp_path / name).write_bytes(photo)
        with pytest.raises(VideoError, match=r"is a still image \(.*JPEG.*\), not a video"):
            VideoSource(str(tmp_path / name))


def test_audio_only_file(video_file) -> None:  # type: ignore[no-untyped-def]
    path = video_file("song.mka", video=False, audio=True)
    with pytest.raises(VideoError, match="no video stream.*audio"):
        VideoSource(path)


def test_zero_frames(video_file) -> None:  # type: ignore[no-untyped-def]
    path = video_file("empty.mkv", frames=0, audio=True)
    with VideoSource(path) as source, pytest.raises(VideoError, match="no video frames"):
        list(source.frames())


def test_unsupported_codec(video_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = video_file("ok.mkv", frames=5).read_bytes()
    assert data.count(b"V_MPEG4/ISO/ASP") == 1
    path = tmp_path / "alien.mkv"
    path.write_bytes(data.replace(b"V_MPEG4/ISO/ASP", b"V_ALIEN/ISO/ASP"))  # same length: the file stays valid
    with pytest.raises(VideoError, match="codec"):
        VideoSource(path)


@pytest.mark.parametrize("name,options", [("cut.mkv", None), ("cut.mp4", {"movflags": "faststart"})])
def test_truncated_file_gives_frames_up_to_the_damage_and_says_where(  # type: ignore[no-untyped-def]
        video_file, tmp_path: Path, name: str, options: dict[str, str] | None) -> None:
    rng = np.random.default_rng(0)
    whole = video_file(name, frames=100, paint=lambda i: rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
                       options=options)
    cut = tmp_path / f"truncated-{name}"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    with VideoSource(cut) as source, pytest.warns(VideoDecodeWarning, match=r"stopped at \d+\.\d+ s"):
        frames = list(source.frames())
    assert 30 <= len(frames) < 100
    assert source.stopped_early is not None and "declares 10.000 s" in source.stopped_early


def test_mp4_cut_before_its_index_is_refused_clearly(video_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    whole = video_file("tail-index.mp4", frames=50)  # the index (moov) is written at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(VideoError, match="cut.mp4"):
        VideoSource(cut)


def test_frames_over_max_pixels_are_refused_before_decoding(video_file) -> None:  # type: ignore[no-untyped-def]
    path = video_file("big.mkv", frames=2, size=(320, 240))
    with pytest.raises(VideoError, match="320x240 are over the limit of 10000 pixels"):
        VideoSource(path, max_pixels=10_000)


def test_a_url_that_never_answers_times_out() -> None:
    started = time.monotonic()
    with SilentServer() as server, pytest.raises(VideoTimeoutError, match="no answer within 1 s"):
        VideoSource(server.url, timeout=1.0)
    assert time.monotonic() - started < 10


def test_analysis_of_bad_input_writes_no_annotated_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not frames")
    with pytest.raises(VideoError):
        VideoAnalysis(text, annotate=tmp_path / "out.mp4")
    assert not list(tmp_path.glob("*out*"))
