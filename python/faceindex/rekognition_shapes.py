"""Rekognition's image-level shapes (BoundingBox ratios, Landmarks, Pose, Quality, FaceDetail, Face,
FaceMatch, ComparedFace) made from faceindex's results, shared by the video documents and the
HTTP endpoint. Members faceindex does not know are omitted, never invented (Rekognition's
clients treat every member as optional).

Below both of its callers: it imports only types and the threshold arithmetic.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceindex.errors import CalibrationError
from faceindex import thresholds
from faceindex.thresholds import table_for
from faceindex.types import Face, PackInfo, PackRef

if TYPE_CHECKING:
    from faceindex.collection.results import FaceRecord

# Rekognition's names for the landmark points faceindex's packs give (as seen in the image).
LANDMARK_TYPES = {
    "left eye": "eyeLeft", "right eye": "eyeRight", "nose tip": "nose",
    "left mouth corner": "mouthLeft", "right mouth corner": "mouthRight",
    "right eye outer corner": "rightEyeRight", "right eye inner corner": "rightEyeLeft",
    "left eye outer corner": "leftEyeLeft", "left eye inner corner": "leftEyeRight", "nose base": "nose",
}


def face_model_version(pack: PackInfo | PackRef) -> str:
    """FaceModelVersion / IndexFacesModelVersion: a dotted number that names the pack and its version,
    '<pack number>.<version code>' (models/rekognition_model_versions.json says how; dlib 1.1 -> 1.101).
    The pack's own name and version are in the X-Faceindex-Pack header."""
    number = _pack_numbers().get(pack.name)
    if number is None:
        number = 1000 + zlib.crc32(pack.name.encode()) % 9000
    if _DOTTED.fullmatch(pack.version):
        first, *rest = (int(part) for part in pack.version.split("."))
        code = str(first) + "".join(f"{part:02d}" for part in rest)
    else:
        code = str(int(hashlib.sha256(pack.version.encode()).hexdigest(), 16))[:9]
    return f"{number}.{code}"


def pack_name_and_version(pack: PackInfo | PackRef) -> str:
    """The pack as faceindex names it ("dlib 1.1"): the X-Faceindex-Pack header, DescribeCollection's extras."""
    return f"{pack.name} {pack.version}"


_DOTTED = re.compile(r"[0-9]{1,6}(\.[0-9]{1,2})*")
_VERSIONS_FILE = Path(__file__).resolve().parent / "models" / "rekognition_model_versions.json"


@functools.cache
def _pack_numbers() -> dict[str, int]:
    data = json.loads(_VERSIONS_FILE.read_text(encoding="utf-8"))
    return {str(name): int(number) for name, number in data["packs"].items()}


def percent(value: float) -> float:
    """A 0-100 Percent member, clipped (a detector's score may fall outside 0..1)."""
    return min(100.0, max(0.0, float(value)))


def bounding_box(box: Iterable[float], width: int, height: int) -> dict[str, float]:
    """Rekognition's BoundingBox: ratios of the image's width and height."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"Width": (x2 - x1) / width, "Height": (y2 - y1) / height, "Left": x1 / width, "Top": y1 / height}


def landmarks(names: Sequence[str], points: Iterable[Sequence[float]], width: int, height: int
              ) -> list[dict[str, Any]]:
    """Landmarks with Rekognition's type names, as ratios of the image; unknown (NaN) points left out."""
    return [{"Type": LANDMARK_TYPES.get(name, name), "X": float(x) / width, "Y": float(y) / height}
            for name, (x, y) in zip(names, points) if math.isfinite(float(x)) and math.isfinite(float(y))]


def quality(sharpness: float, brightness: float) -> dict[str, float]:
    """ImageQuality on 0-100: brightness is the face's mean luma; sharpness, the variance of its
    Laplacian s, is mapped by 100 s / (s + 50) (50: a face that is just usable reads 50)."""
    return {"Brightness": percent(brightness * 100.0), "Sharpness": percent(100.0 * sharpness / (sharpness + 50.0))}


def pose(angles: Iterable[float] | None) -> dict[str, float] | None:
    """Pose in degrees, or None where the pack gives none (dlib's detector estimates no pose)."""
    if angles is None:
        return None
    yaw, pitch, roll = (float(v) for v in angles)
    if not math.isfinite(yaw):
        return None
    return {"Yaw": yaw, "Pitch": pitch, "Roll": roll}


def face_detail(box: Iterable[float], score: float, points: Iterable[Sequence[float]], sharpness: float,
                brightness: float, angles: Iterable[float] | None, pack: PackInfo, width: int, height: int
                ) -> dict[str, Any]:
    """FaceDetail with what faceindex measures: BoundingBox, Confidence, Landmarks, Quality, and
    Pose where the pack gives it. AgeRange, Gender, Emotions, Smile, Eyeglasses and the other
    attributes are not estimated, so they are absent (DetectFaces Attributes=ALL included)."""
    detail: dict[str, Any] = {
        "BoundingBox": bounding_box(box, width, height),
        "Confidence": percent(float(score) * 100.0),
        "Landmarks": landmarks(pack.landmarks, points, width, height),
        "Quality": quality(float(sharpness), float(brightness)),
    }
    found_pose = pose(angles)
    if found_pose is not None:
        detail["Pose"] = found_pose
    return detail


def face_detail_of(face: Face, pack: PackInfo, width: int, height: int) -> dict[str, Any]:
    """FaceDetail of a detected Face in an image of this size."""
    return face_detail(face.bbox, face.score, face.landmarks, face.sharpness, face.brightness, face.pose, pack,
                       width, height)


def compared_face(face: Face, pack: PackInfo, width: int, height: int) -> dict[str, Any]:
    """CompareFaces' ComparedFace: FaceDetail's members it has room for."""
    detail = face_detail_of(face, pack, width, height)
    return {key: detail[key] for key in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality") if key in detail}


def stored_face(record: FaceRecord, pack: PackInfo) -> dict[str, Any]:
    """Rekognition's Face: a face stored in a collection. BoundingBox where the collection knows
    the indexed image's size (not for faces stored from embeddings, nor those indexed before
    collections kept it); absent members are those the face does not have."""
    shape: dict[str, Any] = {"FaceId": record.face_id, "ImageId": record.image_id,
                             "Confidence": percent(record.face.score * 100.0),
                             "IndexFacesModelVersion": face_model_version(pack)}
    if record.image_width and record.image_height:
        shape["BoundingBox"] = bounding_box(record.face.bbox, record.image_width, record.image_height)
    if record.external_image_id is not None:
        shape["ExternalImageId"] = record.external_image_id
    if record.user_id is not None:
        shape["UserId"] = record.user_id
    return shape


def similarity(pack: PackInfo, cosine: float) -> float:
    """Rekognition's 0-100 Similarity of a cosine similarity: from the pack's calibrated FMR
    (thresholds/similarity.py), or for a pack never calibrated, the cosine x 100 (similarity_scale
    says which)."""
    try:
        return thresholds.rekognition_similarity(pack, cosine)
    except CalibrationError:
        return max(0.0, float(cosine)) * 100.0


def match_similarity(pack: PackInfo, cosine: float, score: float | None) -> float:
    """The Similarity of a collection's match: from its AS-norm score where it was judged on one (the
    same FMR gives the same Similarity on either scale), else from its cosine."""
    if score is not None:
        try:
            return thresholds.rekognition_similarity(pack, score, "as-norm")
        except CalibrationError:
            pass
    return similarity(pack, cosine)


def similarity_scale(pack: PackInfo) -> str:
    """What a Similarity of this pack means: "calibrated-fmr" or "cosine-x100" (no calibration table)."""
    return "calibrated-fmr" if table_for(pack) is not None else "cosine-x100"
