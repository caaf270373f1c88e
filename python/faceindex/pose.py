"""Head pose (yaw, pitch, roll in degrees) estimated from a face's landmarks, under weak
perspective with a generic face.

Both estimators first turn the points level: roll is the angle of the line from the image-left
eye's centre to the image-right eye's, positive when the face leans clockwise as seen in the
image (the right eye lower). Then, in interocular distances (iod) from the eyes' midpoint:

- from Rekognition's five keypoints (ArcFace-style packs: eye centres, nose tip, mouth corners):
  yaw from how far the nose tip lies off the face's midline (halfway between the eyes' and the
  mouth's midpoints), r: tan(yaw) = r / TIP_DEPTH, the tip standing TIP_DEPTH iod in front of the
  eyes and mouth; pitch from where the tip lies between the eyes (0) and the mouth (1), f:
  tan(pitch) = (TIP_HEIGHT - f) x EYES_TO_MOUTH / TIP_DEPTH.
- from dlib's five points (eye corners, the base of the nose), which follow a turned or
  mirrored face more faithfully than YuNet's: yaw from the nose base's offset r, tan(yaw) =
  r / BASE_DEPTH; pitch, where the pack also gives real keypoints (the default pack: YuNet's
  nose tip and mouth corners), from those as above, else from the base's height h below the
  eyes, h = BASE_HEIGHT cos(pitch) - BASE_DEPTH sin(pitch), which cannot tell a face tilted
  down by more than atan(BASE_DEPTH / BASE_HEIGHT), 22 degrees (h is largest there).

yaw is positive when the face turns towards the image's right (the nose moves right), pitch
when it tilts up (the nose moves towards the eyes). Rekognition does not publish its signs;
these are faceindex's. The depths are a generic face's, so angles are of that face, not the
person's: the accuracy measured (roll against rotated photos, yaw against mirrored ones, the
spread on LFW's near-frontal faces) is in docs/rekognition-faces.md (bench/bench_pose.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceindex.types import ARCFACE_LANDMARKS, DLIB_LANDMARKS, Float64Array

# A generic face, in interocular distances: the nose tip 0.42 in front of the eye centres and
# the mouth corners (a generic 3D head model's proportions), the mouth 1.05 below the eyes and
# the tip 0.545 of the way down to it (medians of LFW's faces, YuNet's points).
TIP_DEPTH = 0.42
EYES_TO_MOUTH = 1.05
TIP_HEIGHT = 0.545
# The base of the nose (dlib's fifth point): 0.764 below the eyes (LFW's median) and 0.315 in
# front of them: 0.75 of the tip's depth, the slope of its offset against the tip's over 5,000
# LFW faces (correlation 0.90).
BASE_HEIGHT = 0.764
BASE_DEPTH = 0.315


def estimate_poses(landmarks: npt.ArrayLike, names: tuple[str, ...], keypoints: npt.ArrayLike | None = None
                   ) -> Float64Array | None:
    """[n, 3] yaw, pitch, roll for [n, 5, 2] points named as a pack names them (PackInfo.landmarks:
    dlib's five, or the ArcFace five, which are Rekognition's keypoints); None for other points.
    keypoints: the pack's own keypoints beside dlib's points (real ones, not estimated), for pitch.
    NaN rows where a point is missing or the face is degenerate."""
    if tuple(names) == DLIB_LANDMARKS:
        poses = from_dlib_points(landmarks)
        if keypoints is not None:
            pitch = from_keypoints(keypoints)[:, 1]
            poses[:, 1] = np.where(np.isfinite(pitch), pitch, poses[:, 1])
        return poses
    if tuple(names) == ARCFACE_LANDMARKS:
        return from_keypoints(landmarks)
    return None


def _level(eye_left: np.ndarray, eye_right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """roll (radians), interocular distance, and the map taking points to levelled iod units."""
    across = eye_right - eye_left
    interocular = np.hypot(across[:, 0], across[:, 1])
    roll = np.arctan2(across[:, 1], across[:, 0])
    return roll, interocular, (eye_left + eye_right) / 2, np.stack([np.cos(roll), np.sin(roll)], axis=1)


def _levelled(points: np.ndarray, centre: np.ndarray, turn: np.ndarray, interocular: np.ndarray) -> np.ndarray:
    d = points - centre
    cos, sin = turn[:, 0], turn[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([(d[:, 0] * cos + d[:, 1] * sin) / interocular,
                         (-d[:, 0] * sin + d[:, 1] * cos) / interocular], axis=1)


def _finish(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray, interocular: np.ndarray) -> Float64Array:
    poses: Float64Array = np.degrees(np.stack([yaw, pitch, roll], axis=1))
    poses[~np.isfinite(poses).all(axis=1) | ~(interocular > 0)] = np.nan
    return poses


def from_keypoints(keypoints: npt.ArrayLike) -> Float64Array:
    """Pose from [n, 5, 2] keypoints: eyeLeft, eyeRight, nose (tip), mouthLeft, mouthRight."""
    k = np.asarray(keypoints, dtype=np.float64).reshape(-1, 5, 2)
    roll, interocular, centre, turn = _level(k[:, 0], k[:, 1])
    nose = _levelled(k[:, 2], centre, turn, interocular)
    mouth = _levelled((k[:, 3] + k[:, 4]) / 2, centre, turn, interocular)
    with np.errstate(divide="ignore", invalid="ignore"):
        yaw = np.arctan((nose[:, 0] - mouth[:, 0] / 2) / TIP_DEPTH)
        height = nose[:, 1] / mouth[:, 1]
        pitch = np.arctan((TIP_HEIGHT - height) * EYES_TO_MOUTH / TIP_DEPTH)
    pitch[~(mouth[:, 1] > 0)] = np.nan
    return _finish(yaw, pitch, roll, interocular)


def from_dlib_points(landmarks: npt.ArrayLike) -> Float64Array:
    """Pose from [n, 5, 2] dlib points: the image-right eye's corners, the image-left eye's, the nose base."""
    p = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    roll, interocular, centre, turn = _level((p[:, 2] + p[:, 3]) / 2, (p[:, 0] + p[:, 1]) / 2)
    base = _levelled(p[:, 4], centre, turn, interocular)
    yaw = np.arctan(base[:, 0] / BASE_DEPTH)
    # h = R cos(pitch + a), with R and a from the base's height and depth on a frontal face.
    reach, lean = np.hypot(BASE_HEIGHT, BASE_DEPTH), np.arctan2(BASE_DEPTH, BASE_HEIGHT)
    with np.errstate(invalid="ignore"):
        pitch = np.arccos(np.clip(base[:, 1] / reach, -1.0, 1.0)) - lean
    pitch[~(base[:, 1] > 0)] = np.nan
    return _finish(yaw, pitch, roll, interocular)
