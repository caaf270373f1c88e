"""faceindex's video results in Rekognition's own shapes (GetFaceDetection, GetFaceSearch),
so that code written for Rekognition reads them; beside its keys, faceindex's own: the
tracks, the threshold and how it was chosen, and the pack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from faceindex import rekognition_shapes as shapes
from faceindex.collection.results import FaceMatch, FaceSearchResult
from faceindex.types import PackInfo, ThresholdChoice
from faceindex.video.results import Track
from faceindex.video_source import VideoMetadata
from faceindex.video.timeline import Timeline


def face_detail(row: np.void, pack: PackInfo, width: int, height: int) -> dict[str, Any]:
    """Rekognition's FaceDetail of one timeline row (Confidence and Quality on 0-100)."""
    _size, sharpness, brightness = (float(v) for v in row["quality"])
    return shapes.face_detail(row["box"], float(row["score"]), row["landmarks"], sharpness, brightness, row["pose"],
                              pack, width, height)


def threshold_choice_document(choice: ThresholdChoice) -> dict[str, Any]:
    return {"Value": choice.value, "ChosenBy": choice.chosen_by, "Requested": choice.requested,
            "FMR": None if choice.fmr is None else choice.fmr.value,
            "FPIR": None if choice.fpir is None else choice.fpir.value,
            "GallerySize": choice.gallery_size, "Calibration": choice.calibration}


def face_match(match: FaceMatch, pack: PackInfo) -> dict[str, Any]:
    """A matched stored face: Rekognition's Face (its ratio BoundingBox where the collection knows
    the indexed image's size) with the box in that image's pixels beside it, and the cosine."""
    face = match.face
    x1, y1, x2, y2 = face.face.bbox
    shape = {"ExternalImageId": None, "UserId": None, **shapes.stored_face(face, pack),
             "BoundingBoxPixels": {"Left": x1, "Top": y1, "Width": x2 - x1, "Height": y2 - y1}}
    return {"Similarity": shapes.match_similarity(pack, match.similarity, match.score), "Cosine": match.similarity, "Face": shape}


def face_detection_document(metadata: VideoMetadata, timeline: Timeline, pack: PackInfo,
                            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """GetFaceDetection's response: JobStatus, VideoMetadata, Faces sorted by Timestamp."""
    w, h = metadata.frame_width, metadata.frame_height
    faces = [{"Timestamp": int(row["timestamp_ms"]), "Face": face_detail(row, pack, w, h)} for row in timeline.rows()]
    return {"JobStatus": "SUCCEEDED", "VideoMetadata": metadata.as_rekognition(), "Faces": faces,
            "FaceModelVersion": shapes.face_model_version(pack), **(extra or {})}


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
            "FaceModelVersion": shapes.face_model_version(pack),
            "Tracks": [track_entry(t, pack) for t in tracks],
            "Threshold": None if choice is None else choice.value,
            "ThresholdChoice": None if choice is None else threshold_choice_document(choice),
            "Pack": {"Name": pack.name, "Version": pack.version}, **(extra or {})}
