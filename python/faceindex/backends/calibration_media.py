"""The photos and videos int8 quantization calibrates on, and the frames taken from them.

Where they come from, first found:
- $FACEINDEX_INT8_CALIBRATION: a photo, a video, or a folder of them (the user's own; keep
  them out of any set you evaluate on, or the evaluation flatters the quantized networks);
- $FACEINDEX_TEST_DATA/video/short_hamilton_clip.mp4: faceindex's test clip, which no
  evaluation uses (the precision verification runs on data/images and LFW folds 0-6).
Without either, int8 is refused with QuantizationDataError naming both.

The key of a set is a digest of each file's content plus the sampling below: quantized
networks are cached under it, so other media make other files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from faceindex.backends.quantization import calibration_key, file_sha256
from faceindex.errors import QuantizationDataError
from faceindex.images import RGBImage, load_image
from faceindex.media_files import IMAGE_SUFFIXES, VIDEO_SUFFIXES

ENV = "FACEINDEX_INT8_CALIBRATION"
TEST_CLIP = "video/short_hamilton_clip.mp4"
SAMPLE_FPS = 2.0  # 20 frames of the 10 s test clip
MAX_FRAMES = 48  # over the whole set: calibration time stays a few seconds


@dataclass(frozen=True)
class CalibrationMedia:
    files: tuple[Path, ...]
    source: str  # how they were found, for messages and records

    def key(self) -> str:
        return calibration_key(tuple(file_sha256(f) for f in self.files), SAMPLE_FPS, MAX_FRAMES)

    def frames(self) -> Iterator[RGBImage]:
        """Up to MAX_FRAMES images: each photo, and each video sampled at SAMPLE_FPS."""
        count = 0
        for path in self.files:
            for frame in _video_frames(path) if path.suffix.lower() in VIDEO_SUFFIXES else iter([load_image(path)]):
                yield frame
                count += 1
                if count >= MAX_FRAMES:
                    return


def _video_frames(path: Path) -> Iterator[RGBImage]:
    # Here, not at the top: video_source imports PyAV, which only a video's calibration needs.
    from faceindex.video_sampling import TimeSampler
    from faceindex.video_source import VideoSource

    sampler = TimeSampler(SAMPLE_FPS)
    with VideoSource(path) as video:
        for frame in video.frames():
            if sampler.keep(frame.timestamp):
                yield frame.rgb


def _media_in(path: Path) -> tuple[Path, ...]:
    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    if path.is_file():
        return (path,) if path.suffix.lower() in suffixes else ()
    return tuple(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))


def locate() -> CalibrationMedia:
    """The calibration media, or QuantizationDataError saying where they were looked for."""
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured).expanduser()
        files = _media_in(path) if path.exists() else ()
        if not files:
            raise QuantizationDataError(
                f"{ENV}={configured}: {'no such file or folder' if not path.exists() else 'no photos or videos there'}"
                f" ({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))}); precision 'int8' calibrates on them")
        return CalibrationMedia(files, f"{ENV}={configured}")
    data = os.environ.get("FACEINDEX_TEST_DATA")
    if data and (Path(data) / TEST_CLIP).is_file():
        return CalibrationMedia((Path(data) / TEST_CLIP,), f"FACEINDEX_TEST_DATA/{TEST_CLIP}")
    raise QuantizationDataError(
        "precision 'int8' quantizes the networks once, calibrated on photos or videos of faces, and none were "
        f"found: set {ENV} to a photo, a video or a folder of them (not ones you evaluate on), or "
        f"FACEINDEX_TEST_DATA to faceindex's test data (it calibrates on {TEST_CLIP})")
