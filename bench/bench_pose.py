"""How good the estimated pose and keypoints are (faceindex.pose, faceindex.keypoints), on real photos.

- Roll against rotation: LFW photos turned by known angles (+-10, +-20, +-30 degrees, bicubic,
  about the photo's centre): the change of the estimated roll against the angle.
- Yaw against the mirror: each photo and its mirror image: the yaw must change sign and keep its
  size (|yaw + yaw of the mirror|; the share of faces turned by 5 degrees or more whose sign flips).
- The spread on LFW's near-frontal faces (press photos): percentiles of |yaw|, |pitch|, |roll|.
- The keypoints dlib's points give without YuNet (faceindex.keypoints.from_dlib_points: DlibPack
  with detector="mmod"): their distance from the default pack's real points, in interocular distances.

For the default pack (dlib 2.0) and an ONNX pack (SCRFD-500m + MobileFaceNet: its own five points).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from onnx_bench_data import shared_data

import faceindex as fi
from faceindex.keypoints import from_dlib_points
from faceindex.types import KEYPOINT_NAMES

PHOTOS = 300  # LFW photos for the spread and the mirror; a third of them for each rotation
ANGLES = (-30, -20, -10, 10, 20, 30)


@pytest.fixture(scope="module")
def data() -> Path:
    return shared_data("lfw/images")


@pytest.fixture(scope="module")
def photos(data: Path) -> list[Path]:
    every = sorted((data / "lfw/images").glob("*/*.jpg"))
    return [every[int(i)] for i in np.random.default_rng(29).permutation(len(every))[:PHOTOS]]


@pytest.fixture(scope="module")
def engines(data: Path) -> dict[str, fi.FaceEngine]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fi.UnverifiedModelWarning)
        onnx = fi.FaceEngine(detector=data / "models/scrfd/det_500m.onnx",
                             recognizer=data / "models/mobilefacenet/mobilefacenet.onnx")
    return {"dlib_2.0": fi.FaceEngine(), "scrfd_500m": onnx}


def subject(engine: fi.FaceEngine, rgb: np.ndarray) -> Any:
    """The photo's face nearest its centre (LFW crops are centred on their subject)."""
    found = engine.detect(rgb)
    if not found:
        return None
    h, w = rgb.shape[:2]
    return min(found, key=lambda f: np.hypot((f.bbox[0] + f.bbox[2]) / 2 - w / 2, (f.bbox[1] + f.bbox[3]) / 2 - h / 2))


def test_roll_against_rotation(engines: dict[str, fi.FaceEngine], photos: list[Path],
                               record: Callable[..., None]) -> None:
    for name, engine in engines.items():
        errors: dict[int, list[float]] = {a: [] for a in ANGLES}
        missed = 0
        for k, path in enumerate(photos[: PHOTOS // 3]):
            image = Image.open(path).convert("RGB")
            before = subject(engine, np.asarray(image))
            if before is None or before.pose is None:
                continue
            for angle in ANGLES[k % 2 :: 2]:  # half the angles per photo
                after = subject(engine, np.asarray(image.rotate(angle, resample=Image.BICUBIC)))
                if after is None or after.pose is None:
                    missed += 1
                    continue
                # PIL turns the image counter-clockwise: the face's roll changes by -angle.
                errors[angle].append(after.pose.roll - before.pose.roll + angle)
        pooled = np.concatenate([np.abs(v) for v in errors.values()])
        record(f"roll_{name}", faces=int(len(pooled)), not_found_after_rotation=missed,
               mean_abs_error_deg=float(pooled.mean()), p95_abs_error_deg=float(np.percentile(pooled, 95)),
               within_3_deg=float((pooled <= 3).mean()),
               mean_error_by_angle={str(a): float(np.mean(v)) for a, v in errors.items() if v})
        if name == "dlib_2.0":
            assert float(np.percentile(pooled, 95)) <= 3.0


def test_yaw_against_the_mirror(engines: dict[str, fi.FaceEngine], photos: list[Path],
                                record: Callable[..., None]) -> None:
    for name, engine in engines.items():
        pairs = []
        for path in photos:
            rgb = fi.load_image(path)
            a, b = subject(engine, rgb), subject(engine, np.ascontiguousarray(rgb[:, ::-1]))
            if a is not None and b is not None and a.pose is not None and b.pose is not None:
                pairs.append((a.pose, b.pose))
        p = np.array([[*a, *b] for a, b in pairs])  # yaw, pitch, roll, then the mirror's
        turned = np.abs(p[:, 0]) >= 5
        record(f"mirror_{name}", faces=len(p), mean_abs_yaw_sum_deg=float(np.abs(p[:, 0] + p[:, 3]).mean()),
               p95_abs_yaw_sum_deg=float(np.percentile(np.abs(p[:, 0] + p[:, 3]), 95)),
               turned_5_deg_or_more=int(turned.sum()),
               sign_flips_when_turned=float((np.sign(p[turned, 0]) == -np.sign(p[turned, 3])).mean()),
               yaw_correlation_with_minus_mirror=float(np.corrcoef(p[:, 0], -p[:, 3])[0, 1]),
               mean_abs_roll_sum_deg=float(np.abs(p[:, 2] + p[:, 5]).mean()),
               mean_abs_pitch_difference_deg=float(np.abs(p[:, 1] - p[:, 4]).mean()))


def test_spread_on_lfw(engines: dict[str, fi.FaceEngine], photos: list[Path], record: Callable[..., None]) -> None:
    for name, engine in engines.items():
        poses = np.array([list(f.pose) for f in (subject(engine, fi.load_image(p)) for p in photos)
                          if f is not None and f.pose is not None])
        record(f"spread_{name}", faces=len(poses), **{
            axis: {"median": float(np.median(poses[:, i])), "p50_abs": float(np.median(np.abs(poses[:, i]))),
                   "p90_abs": float(np.percentile(np.abs(poses[:, i]), 90)),
                   "p99_abs": float(np.percentile(np.abs(poses[:, i]), 99)), "std": float(poses[:, i].std())}
            for i, axis in enumerate(("yaw", "pitch", "roll"))})


def test_keypoints_estimated_from_dlib_points(engines: dict[str, fi.FaceEngine], photos: list[Path],
                                              record: Callable[..., None]) -> None:
    """DlibPack(detector="mmod") has no YuNet points: its nose tip and mouth corners are estimated
    from dlib's five (faceindex.keypoints). Against the default pack's real points, same faces."""
    errors = []
    for path in photos:
        face = subject(engines["dlib_2.0"], fi.load_image(path))
        if face is None or len(face.keypoints) != 5:
            continue
        real = np.array(list(face.keypoints.values()))
        estimated = from_dlib_points(face.landmarks[None].astype(np.float64))[0]
        interocular = np.linalg.norm(real[1] - real[0])
        errors.append(np.linalg.norm(estimated - real, axis=1) / interocular)
    e = np.array(errors)
    record("keypoints_from_dlib_points", faces=len(e), **{
        name: {"median_iod": float(np.median(e[:, i])), "p90_iod": float(np.percentile(e[:, i], 90))}
        for i, name in enumerate(KEYPOINT_NAMES)})
