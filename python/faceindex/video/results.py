"""What the video path returns: faces per analysed frame with their track, and per track
its span and its search against the collection (with the threshold and how it was chosen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from faceindex.collection.results import FaceMatch, FaceSearchResult
from faceindex.types import Face, PackRef


@dataclass(frozen=True)
class TrackedFace:
    track: int  # the track (Rekognition's Person.Index)
    face: Face  # box, landmarks and quality in this frame (no embedding: see `embedded`)
    embedded: bool  # the recognizer ran on this face (a track's first or a clearly better face)


@dataclass(frozen=True)
class FrameFaces:
    """One analysed frame: its faces that belong to tracks, largest first."""

    index: int  # the frame's position in the decoded video
    timestamp: float  # seconds from the start of the video
    faces: list[TrackedFace]
    shot_change: bool = False  # a cut just before this frame: no track's box carried across it
    dropped_before: int = 0  # live sources: analysed frames dropped before this one to keep up

    @property
    def timestamp_millis(self) -> int:
        return int(round(self.timestamp * 1000))


@dataclass
class Track:
    """A face followed through the video. `search` is its latest search of the collection
    (None without a collection, or before its first embedding)."""

    index: int
    first_timestamp: float
    last_timestamp: float
    faces_seen: int = 0
    embeddings: int = 0  # times the recognizer ran on it
    best_quality: float = 0.0
    # The best-quality face the recognizer ran on, with its own embedding, and when it was seen:
    # what indexing a video stores of this track (faceindex.video.video_faces).
    best_face: Face | None = None
    best_face_timestamp: float | None = None
    search: FaceSearchResult | None = None
    ended: bool = False

    @property
    def matches(self) -> list[FaceMatch]:
        return self.search.face_matches if self.search is not None else []

    @property
    def best_match(self) -> FaceMatch | None:
        return self.matches[0] if self.matches else None


EventKind = Literal["track_started", "track_matched", "match_changed", "track_ended", "frames_dropped",
                    "source_lost", "source_back"]


@dataclass(frozen=True)
class TrackEvent:
    """Something a live search reports: a track starts, is matched or its best match changes,
    ends; frames dropped to keep up; the source lost and back."""

    kind: EventKind
    stream_time: float  # seconds of the source's own time
    wall_time: float  # time.time() when faceindex knew it
    track: int | None = None
    similarity: float | None = None
    face_id: str | None = None
    external_image_id: str | None = None
    threshold: float | None = None
    chosen_by: str | None = None
    pack: PackRef | None = None
    count: int | None = None  # frames_dropped: how many; source_lost: the reconnect attempt
    detail: str = field(default="", compare=False)
