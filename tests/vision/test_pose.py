"""Pose and keypoints from landmarks (faceindex.pose, faceindex.keypoints): the geometry on points
whose pose is known by construction; the accuracy on real photos is measured in bench/bench_pose.py
and tested on photos in tests/packs/test_dlib_default_pack.py."""

from __future__ import annotations

import numpy as np
import pytest

from faceindex.keypoints import ARCFACE_TEMPLATE, DLIB_TEMPLATE, from_dlib_points, keypoints_of
from faceindex.pose import estimate_poses, from_dlib_points as pose_from_dlib, from_keypoints
from faceindex.types import ARCFACE_LANDMARKS, DLIB_LANDMARKS


def placed(template: np.ndarray, angle_deg: float, scale: float = 60.0, at: tuple[float, float] = (300, 200)
           ) -> np.ndarray:
    """The template turned in the image plane by angle (clockwise as seen, y down), scaled and moved."""
    t = np.radians(angle_deg)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    points: np.ndarray = template @ rotation.T * scale + np.array(at)
    return points


@pytest.mark.parametrize("angle", [-40, -15, 0, 7, 30])
def test_the_mean_face_is_frontal_and_roll_is_its_turn(angle: float) -> None:
    for poses in (from_keypoints(placed(ARCFACE_TEMPLATE, angle)[None]),
                  pose_from_dlib(placed(DLIB_TEMPLATE, angle)[None])):
        yaw, pitch, roll = poses[0]
        assert roll == pytest.approx(angle, abs=1e-6)
        assert abs(yaw) < 1e-6 and abs(pitch) < 1.5


def test_a_mirror_image_turns_yaw_and_roll_the_other_way() -> None:
    k = placed(ARCFACE_TEMPLATE, 12.0)
    k[2, 0] += 9.0  # the nose tip to the right: turned towards the image's right
    yaw, _, roll = from_keypoints(k[None])[0]
    assert yaw > 10 and roll == pytest.approx(12.0)
    mirrored = k * [-1, 1]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # the image-left eye and mouth corner are the others now
    yaw_m, _, roll_m = from_keypoints(mirrored[None])[0]
    assert yaw_m == pytest.approx(-yaw) and roll_m == pytest.approx(-roll)
    d = placed(DLIB_TEMPLATE, 0.0)
    d[4, 0] += 6.0
    d_m = (d * [-1, 1])[[2, 3, 0, 1, 4]]
    yaw_d = pose_from_dlib(d[None])[0, 0]
    assert yaw_d > 5 and pose_from_dlib(d_m[None])[0, 0] == pytest.approx(-yaw_d)


def test_pitch_up_moves_the_nose_towards_the_eyes() -> None:
    k = placed(ARCFACE_TEMPLATE, 0.0)
    up, down = k.copy(), k.copy()
    up[2, 1] -= 6
    down[2, 1] += 6
    assert from_keypoints(up[None])[0, 1] > 5 > -5 > from_keypoints(down[None])[0, 1]


def test_missing_points_give_no_pose() -> None:
    k = placed(ARCFACE_TEMPLATE, 0.0)
    k[3] = np.nan
    assert np.isnan(from_keypoints(k[None])).all()
    same_eyes = placed(ARCFACE_TEMPLATE, 0.0)
    same_eyes[1] = same_eyes[0]
    assert np.isnan(from_keypoints(same_eyes[None])).all()
    assert estimate_poses(np.zeros((1, 5, 2)), ("a", "b", "c", "d", "e")) is None


def test_keypoints_of_each_pack_kind() -> None:
    k = placed(ARCFACE_TEMPLATE, 5.0)
    np.testing.assert_allclose(keypoints_of(k[None], ARCFACE_LANDMARKS)[0], k, atol=1e-4)
    d = placed(DLIB_TEMPLATE, 5.0)
    estimated = keypoints_of(d[None], DLIB_LANDMARKS)
    assert estimated is not None
    # The mean dlib face gives the mean keypoints: eyes at the corners' midpoints, the rest from the template.
    np.testing.assert_allclose(estimated[0], placed(ARCFACE_TEMPLATE, 5.0), atol=0.05)
    np.testing.assert_allclose(from_dlib_points(d[None])[0, 0], d[2:4].mean(axis=0), atol=1e-4)
    assert keypoints_of(k[None], ("a", "b", "c", "d", "e")) is None
