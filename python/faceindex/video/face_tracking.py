"""Faces through a video: detect every analysed frame, join faces into tracks, run the
recognizer on each track's best faces only, and keep each track's search up to date.

The recognizer runs on a face when its track starts, when a clearly better face of it
appears (quality: size, sharpness, detector confidence, pose from the landmarks), and at most every
`refresh_seconds` otherwise: a person on screen for a minute costs a handful of
embeddings, not 300. A track is recognised by the mean of its embeddings (a template
steadier than any one frame), and that template is what is searched: one search per
template change, so one decision per person rather than a false-match chance per frame.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from faceindex.collection.contract import FaceCollection
from faceindex.detections import Detections
from faceindex.engine import FaceEngine
from faceindex import thresholds
from faceindex.types import Face, Float64Array, FloatArray
from faceindex.video.frame_reader import SampledFrame
from faceindex.video.results import FrameFaces, Track, TrackedFace, TrackEvent
from faceindex.video.tracker import UNMATCHED, FaceTracker, ShotChangeDetector, TrackerSettings


@dataclass(frozen=True)
class SearchSettings:
    """How tracks are searched in a collection (as for photo search: at most one of
    threshold / max_fmr / max_fpir; none gives the default by error rate)."""

    max_faces: int = 5
    threshold: float | None = None
    max_fmr: float | None = None
    max_fpir: float | None = None
    purpose: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class EmbedPolicy:
    better_by: float = 1.25  # a face this much better than the track's best so far is embedded
    refresh_seconds: float = 2.0  # and otherwise one face per track at most this often


def quality_scores(detections: Detections, landmark_names: tuple[str, ...]) -> FloatArray:
    """0..1 per face: how good it is to recognise. Size up to 112 px (the recognizers'
    input), sharpness (Laplacian variance, saturating), detector confidence, and how
    frontal it is (from the landmarks: a turned head puts the nose off the eyes' midpoint)."""
    if len(detections) == 0:
        return np.zeros(0, dtype=np.float32)
    assert detections.quality is not None
    size = np.clip(detections.quality[:, 0] / 112.0, 0.0, 1.0)
    sharp = detections.quality[:, 1] / (detections.quality[:, 1] + 50.0)
    confidence = np.sqrt(np.clip(detections.scores, 0.0, 1.0))
    scores: FloatArray = (size * sharp * confidence * frontal_scores(detections.landmarks, landmark_names)
                          ).astype(np.float32)
    return scores


def frontal_scores(landmarks: np.ndarray, names: tuple[str, ...]) -> Float64Array:
    """1 for a frontal face, down to 0.2 for a profile: the nose's offset from the eyes'
    midpoint over the distance between the eyes. 1 where the landmarks do not say."""
    left = [i for i, n in enumerate(names) if n.startswith("left eye")]
    right = [i for i, n in enumerate(names) if n.startswith("right eye")]
    nose = [i for i, n in enumerate(names) if n.startswith("nose")]
    if not (left and right and nose):
        return np.ones(len(landmarks))
    x = landmarks[:, :, 0].astype(np.float64)
    left_x, right_x, nose_x = x[:, left].mean(axis=1), x[:, right].mean(axis=1), x[:, nose].mean(axis=1)
    eyes = np.abs(right_x - left_x)
    offset = np.abs(nose_x - (left_x + right_x) / 2) / np.maximum(eyes, 1.0)
    score: Float64Array = np.where(np.isfinite(offset), np.clip(1.0 - 2.0 * offset, 0.2, 1.0), 1.0)
    return score


class _TrackState:
    def __init__(self, track: Track) -> None:
        self.track = track
        self.embedding_sum: np.ndarray | None = None
        self.last_embedded = -math.inf

    def template(self) -> FloatArray:
        assert self.embedding_sum is not None
        v = self.embedding_sum / max(float(np.linalg.norm(self.embedding_sum)), 1e-12)
        return v.astype(np.float32)


class FaceTracking:
    """Feed it analysed frames in time order (`step`), then `finish()`. Tracks, their searches
    and events are kept here; frames are not."""

    def __init__(self, engine: FaceEngine, collection: FaceCollection | None = None, *,
                 search: SearchSettings = SearchSettings(), tracker: TrackerSettings | None = None,
                 embed: EmbedPolicy = EmbedPolicy()) -> None:
        if collection is not None and (collection.pack.name, collection.pack.version) != (
                engine.pack.name, engine.pack.version):
            raise ValueError(f"the engine runs pack {engine.pack.name} {engine.pack.version}, the collection holds "
                             f"{collection.pack.name} {collection.pack.version}")
        self.engine = engine
        self.collection = collection
        self.search_settings = search
        self.embed_policy = embed
        if tracker is None:
            # A new face continues a lost track (lost for at most max_lost_seconds) when the
            # pack's 1:1 decision at FMR 1e-3 says it is the same person: a false merge joins
            # two people into one Person.Index, a missed one only splits a person in two.
            reid = thresholds.for_comparison(engine.pack, max_fmr=1e-3).value
            tracker = TrackerSettings(reid_similarity=reid)
        self._tracker = FaceTracker(tracker)
        self._shots = ShotChangeDetector()
        self._states: dict[int, _TrackState] = {}
        self.tracks: dict[int, Track] = {}
        self.events: list[TrackEvent] = []  # since the last take_events()
        self._time = 0.0
        if collection is not None:  # bad search settings fail before any frame is decoded
            thresholds.for_search(collection.pack, 1, search.threshold, search.max_fmr, search.max_fpir)

    def take_events(self) -> list[TrackEvent]:
        events, self.events = self.events, []
        return events

    def step(self, frame: SampledFrame) -> FrameFaces:
        t = frame.timestamp
        self._time = t
        if frame.dropped_before:
            self._event("frames_dropped", count=frame.dropped_before)
        # The one path every image takes (detect, quality, largest first); a decoded frame is
        # already contiguous uint8 RGB, so nothing is copied on the way in.
        detections = self.engine.find(frame.rgb).detections
        cut = self._shots(frame.rgb)
        if cut:
            self._tracker.shot_change()
        ids = self._tracker.associate(t, detections.boxes, detections.scores)
        self._end(self._tracker.take_ended())

        quality = quality_scores(detections, self.engine.pack.landmarks)
        unmatched = np.flatnonzero(ids == UNMATCHED)
        refresh = [i for i in np.flatnonzero(ids >= 0) if self._wants_embedding(int(ids[i]), float(quality[i]), t)]
        chosen = np.concatenate([unmatched, np.asarray(refresh, dtype=np.intp)]).astype(np.intp)
        embeddings = (self.engine.embed(frame.rgb, detections.take(chosen)) if len(chosen)
                      else np.zeros((0, self.engine.pack.embedding_size), np.float32))
        if len(unmatched):
            ids[unmatched] = self._tracker.admit(unmatched, embeddings[:len(unmatched)])
        embedded = dict(zip(chosen.tolist(), embeddings))

        faces: list[TrackedFace] = []
        for i in range(len(detections)):
            track_id = int(ids[i])
            if track_id < 0:
                continue
            state = self._state(track_id, t)
            state.track.last_timestamp = t
            state.track.faces_seen += 1
            if i in embedded:
                self._add_embedding(state, detections[i], embedded[i], float(quality[i]), t)
            faces.append(TrackedFace(track_id, detections[i], i in embedded))
        return FrameFaces(frame.index, t, faces, shot_change=cut, dropped_before=frame.dropped_before)

    def finish(self) -> list[Track]:
        """End every track (the video is over); the tracks in order of their index."""
        self._end(self._tracker.end_all())
        return [self.tracks[i] for i in sorted(self.tracks)]

    # -- tracks ---------------------------------------------------------------------------

    def _state(self, track_id: int, t: float) -> _TrackState:
        state = self._states.get(track_id)
        if state is None:
            track = self.tracks.get(track_id) or Track(track_id, t, t)
            self.tracks[track_id] = track
            state = self._states[track_id] = _TrackState(track)
            self._event("track_started", track_id)
        return state

    def _wants_embedding(self, track_id: int, quality: float, t: float) -> bool:
        state = self._states.get(track_id)
        if state is None or state.embedding_sum is None:
            return True
        if quality >= self.embed_policy.better_by * max(state.track.best_quality, 1e-6):
            return True
        return t - state.last_embedded >= self.embed_policy.refresh_seconds and quality >= state.track.best_quality * 0.8

    def _add_embedding(self, state: _TrackState, face: Face, embedding: FloatArray, quality: float, t: float
                       ) -> None:
        e = embedding.astype(np.float64)
        state.embedding_sum = e if state.embedding_sum is None else state.embedding_sum + e
        state.last_embedded = t
        state.track.embeddings += 1
        if state.track.best_face is None or quality > state.track.best_quality:
            state.track.best_face = dataclasses.replace(face, embedding=embedding)
            state.track.best_face_timestamp = t
        state.track.best_quality = max(state.track.best_quality, quality)
        template = state.template()
        self._tracker.set_appearance(state.track.index, template)
        if self.collection is not None:
            self._search(state.track, template)

    def _search(self, track: Track, template: FloatArray) -> None:
        assert self.collection is not None
        s = self.search_settings
        before = track.best_match
        track.search = self.collection.search_faces_by_embedding(
            template, pack=self.engine.pack, max_faces=s.max_faces, threshold=s.threshold, max_fmr=s.max_fmr,
            max_fpir=s.max_fpir, purpose=s.purpose, reference=s.reference)
        after = track.best_match
        if after is not None and (before is None or before.face.face_id != after.face.face_id):
            self._event("track_matched" if before is None else "match_changed", track.index)

    def _end(self, ended: list[int]) -> None:
        for track_id in ended:
            state = self._states.pop(track_id, None)
            if state is not None:
                state.track.ended = True
                self._event("track_ended", track_id)

    def _event(self, kind: str, track_id: int | None = None, count: int | None = None) -> None:
        track = self.tracks.get(track_id) if track_id is not None else None
        match = track.best_match if track is not None else None
        search = track.search if track is not None else None
        self.events.append(TrackEvent(
            kind=kind, stream_time=self._time, wall_time=time.time(), track=track_id,  # type: ignore[arg-type]
            similarity=match.similarity if match else None, face_id=match.face.face_id if match else None,
            external_image_id=match.face.external_image_id if match else None,
            threshold=search.threshold if search else None,
            chosen_by=search.threshold_choice.chosen_by if search else None,
            pack=search.pack if search else None, count=count))
