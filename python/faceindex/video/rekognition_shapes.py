"""faceindex's video results in Rekognition's own shapes (GetFaceDetection, GetFaceSearch),
so that code written for Rekognition reads them; beside its keys, faceindex's own: the
tracks, the threshold and how it was chosen, and the pack."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from faceindex.collection.results import FaceMatch, FaceSearchResult
from faceindex.evaluation import thresholds
from faceindex.types import PackInfo, ThresholdChoice
from faceindex.video.results import Track
from faceindex.video.source import VideoMetadata
from faceindex.video.timeline import Timeline

# Rekognition's names for the landmark points faceindex's packs give (as seen in the image).
_LANDMARK_TYPES = {
    "left eye": "eyeLeft", "right eye": "eyeRight", "nose tip": "nose",
    "left mouth corner": "mouthLeft", "right mouth corner": "mouthRight",
    "right eye outer corner": "rightEyeRight", "right eye inner corner": "rightEyeLeft",
    "left eye outer corner": "leftEyeLeft", "left eye inner corner": "leftEyeRight", "nose base": "nose",
}


def bounding_box(box: Iterable[float], width: int, height: int) -> dict[str, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"Width": (x2 - x1) / width, "Height": (y2 - y1) / height, "Left": x1 / width, "Top": y1 / height}


def face_detail(row: np.void, pack: PackInfo, width: int, height: int) -> dict[str, Any]:
    """Rekognition's FaceDetail of one timeline row (Confidence and Quality on 0-100)."""
    size, sharpness, brightness = (float(v) for v in row["quality"])
    detail: dict[str, Any] = {
        "BoundingBox": bounding_box(row["box"], width, height),
        "Confidence": min(100.0, max(0.0, float(row["score"]) * 100.0)),
        "Landmarks": [{"Type": _LANDMARK_TYPES.get(name, name), "X": float(x) / width, "Y": float(y) / height}
                      for name, (x, y) in zip(pack.landmarks, row["landmarks"]) if math.isfinite(float(x))],
        "Quality": {"Brightness": brightness * 100.0, "Sharpness": 100.0 * sharpness / (sharpness + 50.0)},
    }
    yaw, pitch, roll = (float(v) for v in row["pose"])
    if math.isfinite(yaw):
        detail["Pose"] = {"Yaw": yaw, "Pitch": pitch, "Roll": roll}
    return detail


def threshold_choice_document(choice: ThresholdChoice) -> dict[str, Any]:
    return {"Value": choice.value, "ChosenBy": choice.chosen_by, "Requested": choice.requested,
            "FMR": None if choice.fmr is None else choice.fmr.value,
            "FPIR": None if choice.fpir is None else choice.fpir.value,
            "GallerySize": choice.gallery_size, "Calibration": choice.calibration}


def _similarity(pack: PackInfo, cosine: float) -> float:
    """Rekognition's 0-100 Similarity where the pack is calibrated; else the cosine x 100."""
    try:
        return thresholds.rekognition_similarity(pack, cosine)
    except Exception:  # an uncalibrated pack: say so through Cosine/SimilarityScale instead
        return max(0.0, cosine) * 100.0


def face_match(match: FaceMatch, pack: PackInfo) -> dict[str, Any]:
    face = match.face
    x1, y1, x2, y2 = face.face.bbox
    return {"Similarity": _similarity(pack, match.similarity), "Cosine": match.similarity,
            "Face": {"FaceId": face.face_id, "ExternalImageId": face.external_image_id, "ImageId": face.image_id,
                     "Confidence": min(100.0, face.face.score * 100.0), "UserId": face.user_id,
                     # The collection keeps the face's box in its image's pixels, not the image's
                     # size, so Rekognition's ratio BoundingBox cannot be given; this can.
                     "BoundingBoxPixels": {"Left": x1, "Top": y1, "Width": x2 - x1, "Height": y2 - y1}}}


def face_detection_document(metadata: VideoMetadata, timeline: Timeline, pack: PackInfo,
                            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """GetFaceDetection's response: JobStatus, VideoMetadata, Faces sorted by Timestamp."""
    w, h = metadata.frame_width, metadata.frame_height
    faces = [{"Timestamp": int(row["timestamp_ms"]), "Face": face_detail(row, pack, w, h)} for row in timeline.rows()]
    return {"JobStatus": "SUCCEEDED", "VideoMetadata": metadata.as_rekognition(), "Faces": faces,
            "FaceModelVersion": f"{pack.name} {pack.version}", **(extra or {})}


def persons(timeline: Timeline, tracks: dict[int, Track], pack: PackInfo, width: int, height: int
            ) -> Iterator[dict[str, Any]]:
    """GetFaceSearch's Persons: every tracked face of every analysed frame, by Timestamp then
    Index, with its track's matches (the track's final search: the best evidence there is)."""
    rows = sorted(timeline.rows(), key=lambda r: (int(r["timestamp_ms"]), int(r["track"])))
    for row in rows:
        track = tracks.get(int(row["track"]))
        detail = face_detail(row, pack, width, height)
        yield {"Timestamp": int(row["timestamp_ms"]),
               "Person": {"Index": int(row["track"]), "BoundingBox": detail["BoundingBox"], "Face": detail},
               "FaceMatches": [face_match(m, pack) for m in (track.matches if track else [])]}


def track_entry(track: Track, pack: PackInfo) -> dict[str, Any]:
    search: FaceSearchResult | None = track.search
    best = track.best_match
    return {"Index": track.index, "FirstTimestamp": int(round(track.first_timestamp * 1000)),
            "LastTimestamp": int(round(track.last_timestamp * 1000)), "FacesSeen": track.faces_seen,
            "Embeddings": track.embeddings,
            "BestMatch": None if best is None else face_match(best, pack),
            "Threshold": None if search is None else search.threshold,
            "ThresholdChoice": None if search is None else threshold_choice_document(search.threshold_choice),
            "Pack": {"Name": pack.name, "Version": pack.version}}


def face_search_document(metadata: VideoMetadata, timeline: Timeline, tracks: list[Track], pack: PackInfo,
                         choice: ThresholdChoice | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    by_index = {t.index: t for t in tracks}
    w, h = metadata.frame_width, metadata.frame_height
    return {"JobStatus": "SUCCEEDED", "VideoMetadata": metadata.as_rekognition(),
            "Persons": list(persons(timeline, by_index, pack, w, h)),
            "FaceModelVersion": f"{pack.name} {pack.version}",
            "Tracks": [track_entry(t, pack) for t in tracks],
            "Threshold": None if choice is None else choice.value,
            "ThresholdChoice": None if choice is None else threshold_choice_document(choice),
            "Pack": {"Name": pack.name, "Version": pack.version}, **(extra or {})}
