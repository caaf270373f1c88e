"""Rekognition's five named landmarks (eyeLeft, eyeRight, nose, mouthLeft, mouthRight) for faces
whose pack did not give them.

ArcFace-style packs' landmarks are these five (eye centres, nose tip, mouth corners), in this
order. dlib's five are the corners of both eyes and the base of the nose: the eye centres are the
midpoints of their corners (real points); the nose tip and the mouth corners dlib's points do not
have, so they are estimated from a mean face (DLIB_TEMPLATE, ARCFACE_TEMPLATE: where both sets of
points lie on LFW's faces, aligned), placed on the face by the similarity transform that best
takes the template's dlib points onto the face's. Only DlibPack(detector="mmod") needs this (the
default pack has YuNet's real points); the error of the estimate, measured against those, is in
docs/rekognition-faces.md (bench/bench_pose.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceindex.types import ARCFACE_LANDMARKS, DLIB_LANDMARKS, FloatArray

# The mean face, in interocular distances from the eyes' midpoint (x right, y down, as seen in the
# image): medians over 2,201 LFW faces of the default pack (made symmetric), each face placed by
# the similarity taking its eye centres to (-0.5, 0) and (0.5, 0). dlib's five points, in dlib's
# order (image-right eye outer and inner corners, image-left eye outer and inner, nose base) ...
DLIB_TEMPLATE = np.array([[0.697, -0.006], [0.303, 0.006], [-0.697, -0.006], [-0.303, 0.006], [0.0, 0.764]])
# ... and Rekognition's five keypoints (eye centres; YuNet's nose tip and mouth corners).
ARCFACE_TEMPLATE = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, 0.574], [-0.437, 1.047], [0.437, 1.047]])


def keypoints_of(landmarks: npt.ArrayLike, names: tuple[str, ...]) -> FloatArray | None:
    """[n, 5, 2] keypoints from a pack's [n, 5, 2] landmarks and their names; None for points
    faceindex knows no way to these from."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    if tuple(names) == ARCFACE_LANDMARKS:
        return points.astype(np.float32)
    if tuple(names) == DLIB_LANDMARKS:
        return from_dlib_points(points)
    return None


def from_dlib_points(points: np.ndarray) -> FloatArray:
    """Eye centres from the corners; nose tip and mouth corners from the mean face."""
    z = points[..., 0] + 1j * points[..., 1]  # [n, 5] points as complex numbers
    t = DLIB_TEMPLATE[:, 0] + 1j * DLIB_TEMPLATE[:, 1]
    # The similarity (scale and rotation a, shift b) taking the template onto the face, least squares.
    zc, tc = z - z.mean(axis=1, keepdims=True), t - t.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (zc * np.conj(tc)).sum(axis=1) / (np.abs(tc) ** 2).sum()
    b = z.mean(axis=1) - a * t.mean()
    k = ARCFACE_TEMPLATE[:, 0] + 1j * ARCFACE_TEMPLATE[:, 1]
    estimated = a[:, None] * k[None, :] + b[:, None]
    out = np.stack([estimated.real, estimated.imag], axis=-1)
    out[:, 0] = (points[:, 2] + points[:, 3]) / 2  # image-left eye: dlib's "left eye" corners
    out[:, 1] = (points[:, 0] + points[:, 1]) / 2  # image-right eye
    result: FloatArray = out.astype(np.float32)
    return result
