"""The face tracker (C++: Kalman motion, IoU assignment in two stages, re-identification
of lost tracks by embedding), typed for the video path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceindex import _core
from faceindex.types import FloatArray

UNMATCHED = -1  # a confident face no track took: admit it
IGNORED = -2  # a weak face no track took: dropped
IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TrackerSettings:
    """high_score: detector score at which a face may start a track (weaker faces only continue one);
    low_score: below it a face is ignored; min_diou: least distance-IoU (IoU less the centres' squared
    distance over the enclosing box's squared diagonal, -1..1) with a track's predicted box;
    max_lost_seconds: how long a track waits for its face to come back (short occlusions);
    reid_similarity: embedding cosine for a new face to continue a lost track (None: never)."""

    high_score: float = 0.5
    low_score: float = 0.1
    min_diou: float = -0.1
    max_lost_seconds: float = 2.0
    reid_similarity: float | None = None


class FaceTracker:
    def __init__(self, settings: TrackerSettings = TrackerSettings()) -> None:
        config = _core.vision.TrackerConfig()
        config.high_score = settings.high_score
        config.low_score = settings.low_score
        config.min_diou = settings.min_diou
        config.max_lost_seconds = settings.max_lost_seconds
        config.reid_similarity = 2.0 if settings.reid_similarity is None else settings.reid_similarity
        self.settings = settings
        self._tracker = _core.vision.FaceTracker(config)

    def associate(self, timestamp: float, boxes: npt.ArrayLike, scores: npt.ArrayLike) -> IdArray:
        """Track id per face, UNMATCHED or IGNORED. Times in seconds, never going backwards."""
        b = np.ascontiguousarray(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
        s = np.ascontiguousarray(np.asarray(scores, dtype=np.float32).reshape(-1))
        ids: IdArray = self._tracker.associate(float(timestamp), b, s)
        return ids

    def admit(self, faces: npt.ArrayLike, embeddings: FloatArray | None) -> IdArray:
        """Ids for the UNMATCHED faces (indices of the latest associate): lost tracks they match, or new ones."""
        f = np.ascontiguousarray(np.asarray(faces, dtype=np.int64).reshape(-1))
        e = None if embeddings is None else np.ascontiguousarray(embeddings, dtype=np.float32)
        ids: IdArray = self._tracker.admit(f, e)
        return ids

    def set_appearance(self, track: int, embedding: FloatArray) -> None:
        self._tracker.set_appearance(int(track), np.ascontiguousarray(embedding, dtype=np.float32))

    def shot_change(self) -> None:
        self._tracker.shot_change()

    def take_ended(self) -> list[int]:
        return [int(i) for i in self._tracker.take_ended()]

    def end_all(self) -> list[int]:
        return [int(i) for i in self._tracker.end_all()]


class ShotChangeDetector:
    """A cut between two sampled frames: their colour histograms differ by more than `threshold`
    and by several times the recent frame-to-frame change (a pan changes colours steadily, a cut at once)."""

    def __init__(self, threshold: float = 0.15, jump: float = 2.5, memory: int = 5) -> None:
        self.threshold, self.jump, self.memory = threshold, jump, memory
        self._previous: FloatArray | None = None
        self._recent: list[float] = []

    def __call__(self, rgb: npt.NDArray[np.uint8]) -> bool:
        signature: FloatArray = _core.vision.frame_signature(rgb)
        previous, self._previous = self._previous, signature
        if previous is None:
            return False
        distance = float(_core.vision.signature_distance(previous, signature))
        usual = float(np.mean(self._recent)) if self._recent else 0.0
        cut = distance > self.threshold and distance > self.jump * usual
        self._recent = [] if cut else (self._recent + [distance])[-self.memory:]
        return cut
