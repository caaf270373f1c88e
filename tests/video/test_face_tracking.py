"""Faces through a video, the Python side (faceindex.video.face_tracking) on scripted frames: which
faces the recognizer runs on (a track's first face, a clearly better one, a refresh every 2 s of one
nearly as good), the template searched (the mean of a track's embeddings), and the events a live
search reports. The detector and recognizer are scripted (collection_helpers.ScriptedEngine), so the
policy is checked against values worked out by hand, apart from any model."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from faceindex import Collections, PackInfo
from faceindex.detections import Detections
from faceindex.types import ARCFACE_LANDMARKS
from faceindex.video.face_tracking import FaceTracking, SearchSettings, frontal_scores, quality_scores
from faceindex.video.frame_reader import SampledFrame
from collection_helpers import ScriptedEngine, face, near, unit_vectors

# dlib 1.1's name and version: the shipped calibration table gives the re-identification threshold.
PACK = PackInfo(name="dlib", version="1.1", embedding_size=128, default_threshold=0.6, threshold_source="-",
                detector="scripted", recognizer="scripted", license="-")
ANN, BOB = unit_vectors(2, 70)
BOBISH = near(BOB, 0.9, seed=71)


def frame(scene: int, t: float, dropped: int = 0) -> SampledFrame:
    """A flat grey frame (no cut between any two) whose first pixel names the scripted scene."""
    rgb = np.full((64, 64, 3), 128, np.uint8)
    rgb[0, 0, 0] = scene
    return SampledFrame(index=int(round(t * 10)), timestamp=t, rgb=rgb, analyse=True, dropped_before=dropped)


def test_quality_is_size_sharpness_confidence_and_how_frontal_by_hand() -> None:
    # 56 px of 112: 0.5; sharpness 50: 50 / (50 + 50) = 0.5; score 0.81: sqrt = 0.9; frontal: 1.
    # 224 px: held at 1; a score above 1 held at 1, below 0 at 0; the nose 5 px off the eyes' midpoint
    # of a 56 px face (eyes 22.4 px apart): 1 - 2 x 5 / 22.4.
    turned = face(300, 0, 56, score=0.81, sharpness=50.0)
    turned.landmarks[2, 0] += 5
    faces = [face(0, 0, 56, score=0.81, sharpness=50.0), face(100, 0, 224, score=1.2, sharpness=150.0),
             face(500, 0, 56, score=-0.5, sharpness=50.0), turned]
    scores = quality_scores(Detections.from_faces(faces), ARCFACE_LANDMARKS)
    assert scores.dtype == np.float32
    assert scores == pytest.approx([0.5 * 0.5 * 0.9, 1.0 * 0.75 * 1.0, 0.0, 0.225 * (1 - 10 / 22.4)], rel=1e-6)
    empty = quality_scores(Detections.from_faces([]), ARCFACE_LANDMARKS)
    assert empty.shape == (0,) and empty.dtype == np.float32


def test_a_turned_face_scores_less_frontal() -> None:
    # Eyes 40 px apart; the nose 10 px off their midpoint: 1 - 2 x 10 / 40 = 0.5; 20 px: 0, held at 0.2.
    points = np.array([[[30, 40], [70, 40], [50 + dx, 60], [35, 80], [65, 80]] for dx in (0, 10, -10, 20)],
                      dtype=np.float64)
    assert frontal_scores(points, ARCFACE_LANDMARKS) == pytest.approx([1.0, 0.5, 0.5, 0.2])
    # Landmarks that do not say where both eyes and the nose are: no judgement.
    for names in (("a", "b", "c", "d", "e"), ("nose tip", "b", "c", "d", "e"), ("left eye", "right eye", "c", "d", "e"),
                  ("left eye", "b", "nose tip", "d", "e")):
        assert frontal_scores(points, names) == pytest.approx([1.0] * 4)


def scripted() -> ScriptedEngine:
    """One face moving right; quality 0.225 (56 px, sharpness 50, score 0.81), except scene 6 (sharpness
    150: 0.3375, 1.5 times better). Embeddings: Ann's first, then Bob-like, then Bob's."""
    def one(x: float, sharpness: float, embedding: np.ndarray) -> list[tuple[object, np.ndarray]]:
        return [(face(x, 100, 56, score=0.81, sharpness=sharpness), embedding)]

    weak = (face(300, 300, 120, score=0.05), unit_vectors(1, 72)[0])  # larger, but too weak to track: ignored
    return ScriptedEngine({1: [weak, *one(100, 50, ANN)], 2: one(104, 50, BOBISH), 3: one(108, 50, BOBISH),
                           4: one(112, 50, BOBISH), 5: one(116, 50, BOBISH), 6: one(120, 150, BOB),
                           7: one(124, 50, BOB)}, pack=PACK)  # type: ignore[dict-item]


def test_the_recognizer_runs_on_a_tracks_first_face_a_better_one_and_every_2_s(tmp_path: Path) -> None:
    engine = scripted()
    with Collections(tmp_path).create_collection("c", engine=engine) as collection:
        (ann,) = collection.index_embeddings(ANN[None], pack=PACK, external_image_id="ann")
        (bob,) = collection.index_embeddings(BOB[None], pack=PACK, external_image_id="bob")
        search = SearchSettings(threshold=0.5, max_faces=1, purpose="door 3", reference="case-17")
        tracking = FaceTracking(engine, collection, search=search)
        times = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
        before = time.time()
        seen = [tracking.step(frame(scene, t, dropped=2 if t == 4.0 else 0))
                for scene, t in zip(range(1, 8), times)]
        # 1.0: the track starts; 3.0: 2 s since, as good; 3.5: 1.5 times better; the others not.
        assert [[f.embedded for f in s.faces] for s in seen] == [[True], [False], [False], [False], [True], [True],
                                                                  [False]]
        assert {f.track for s in seen for f in s.faces} == {0}
        assert [(s.index, s.timestamp, s.shot_change, s.dropped_before) for s in seen] == [
            (10 + 5 * k, t, False, 2 if t == 4.0 else 0) for k, t in enumerate(times)]
        assert [s.faces[0].face.bbox for s in seen] == [(x, 100.0, x + 56.0, 156.0) for x in range(100, 128, 4)]
        (track,) = tracking.finish()
        assert (track.faces_seen, track.embeddings, track.ended) == (7, 3, True)
        assert (track.first_timestamp, track.last_timestamp) == (1.0, 4.0)
        assert track.best_quality == pytest.approx(0.5 * 0.75 * 0.9)
        assert track.best_face_timestamp == 3.5 and track.best_face is not None
        assert track.best_face.bbox == (120.0, 100.0, 176.0, 156.0)
        np.testing.assert_allclose(track.best_face.embedding, BOB)  # type: ignore[arg-type]
        # The template is the mean of Ann's, Bob-like and Bob's embeddings: nearer Bob (1.9 against 1).
        template = (ANN.astype(np.float64) + BOBISH + BOB) / np.linalg.norm(ANN.astype(np.float64) + BOBISH + BOB)
        assert [m.face.face_id for m in track.matches] == [bob.face_id]  # max_faces=1: Ann is not listed
        assert track.best_match.similarity == pytest.approx(float(template @ BOB), abs=1e-5)
        events = tracking.take_events()
        assert [(e.kind, e.track, e.stream_time) for e in events] == [
            ("track_started", 0, 1.0), ("track_matched", 0, 1.0), ("match_changed", 0, 3.5),
            ("frames_dropped", None, 4.0), ("track_ended", 0, 4.0)]
        assert all(before <= e.wall_time <= time.time() for e in events)
        matched, changed = events[1], events[2]
        assert (matched.face_id, matched.external_image_id) == (ann.face_id, "ann")
        assert matched.similarity == pytest.approx(1.0, abs=1e-5)
        assert (changed.face_id, changed.external_image_id) == (bob.face_id, "bob")
        assert changed.threshold == 0.5 and changed.chosen_by == "fixed" and changed.pack == PACK.ref
        assert events[3].count == 2 and events[3].face_id is None
        assert tracking.take_events() == []
        log = collection.audit_log()  # one search per change of the template, with the caller's notes
        assert [e.operation for e in log] == ["search_faces_by_embedding"] * 3
        assert all((e.purpose, e.reference) == ("door 3", "case-17") for e in log)


def test_without_a_collection_tracks_are_kept_and_not_searched() -> None:
    tracking = FaceTracking(scripted())
    for scene, t in zip(range(1, 8), (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)):
        tracking.step(frame(scene, t))
    (track,) = tracking.finish()
    assert track.search is None and track.best_match is None and track.embeddings == 3
    assert [e.kind for e in tracking.take_events()] == ["track_started", "track_ended"]


def test_a_collection_of_another_pack_is_refused(tmp_path: Path) -> None:
    other = PackInfo(name="other", version="2", embedding_size=128, default_threshold=0.6, threshold_source="-",
                     detector="-", recognizer="-", license="-")
    with Collections(tmp_path).create_collection("c", other) as collection:
        with pytest.raises(ValueError, match="the engine runs pack dlib 1.1, the collection holds other 2"):
            FaceTracking(scripted(), collection)
        # Bad search settings fail before any frame.
    with Collections(tmp_path).create_collection("d", PACK) as collection:
        with pytest.raises(ValueError, match="give at most one of"):
            FaceTracking(scripted(), collection, search=SearchSettings(threshold=0.5, max_fmr=1e-3))


def test_searches_follow_the_rate_asked_for(tmp_path: Path) -> None:
    engine = scripted()
    with Collections(tmp_path).create_collection("c", engine=engine) as collection:
        collection.index_embeddings(ANN[None], pack=PACK)
        for settings, chosen_by, requested in ((SearchSettings(max_fmr=1e-3), "fmr", 1e-3),
                                               (SearchSettings(max_fpir=0.02), "fpir", 0.02)):
            tracking = FaceTracking(engine, collection, search=settings)
            tracking.step(frame(1, 0.0))
            (track,) = tracking.finish()
            assert track.search is not None
            assert (track.search.threshold_choice.chosen_by, track.search.threshold_choice.requested) == (
                chosen_by, requested)
        with pytest.raises(ValueError, match="give at most one of"):
            FaceTracking(engine, collection, search=SearchSettings(threshold=0.5, max_fpir=0.01))


def test_a_face_back_from_an_occlusion_rejoins_its_track_at_fmr_1e_3() -> None:
    """Re-identification: a face lost for a moment that comes back elsewhere (no motion links it) continues
    its track when the pack's 1:1 decision at FMR 1e-3 says it is the same person, and starts a new one
    otherwise. Its embedding here lies between the thresholds of FMR 1e-3 and 1e-4 (stricter)."""
    from faceindex import thresholds

    at_1e3 = thresholds.for_comparison(PACK, max_fmr=1e-3).value
    at_1e4 = thresholds.for_comparison(PACK, max_fmr=1e-4).value
    assert at_1e3 < at_1e4
    back = near(ANN, (at_1e3 + at_1e4) / 2, seed=73)
    other = near(ANN, at_1e3 - 0.05, seed=74)
    engine = ScriptedEngine({1: [(face(100, 100, 56), ANN)], 2: [(face(100, 100, 56), ANN)], 3: [],
                             4: [(face(500, 300, 56), back)], 5: [(face(100, 400, 56), other)]}, pack=PACK)
    tracking = FaceTracking(engine)
    ids = [[f.track for f in tracking.step(frame(scene, t)).faces]
           for scene, t in ((1, 0.0), (2, 0.5), (3, 0.8), (4, 1.0), (3, 1.2), (5, 1.6))]
    assert ids == [[0], [0], [], [0], [], [1]]


def test_a_track_of_faces_of_quality_0_still_keeps_its_best_face() -> None:
    engine = ScriptedEngine({1: [(face(100, 100, 56, sharpness=0.0), ANN)]}, pack=PACK)
    tracking = FaceTracking(engine)
    tracking.step(frame(1, 0.0))
    (track,) = tracking.finish()
    assert track.best_quality == 0.0 and track.best_face is not None and track.best_face_timestamp == 0.0


def test_a_face_exactly_1_25_times_better_or_0_8_as_good_after_2_s_is_embedded_and_a_tie_keeps_the_first() -> None:
    """The embedding policy at its bounds, on qualities that are exact in binary: 56 px (0.5 of 112),
    sharpness 50 (0.5), score 1, frontal: 0.25; 70 px (0.625): 0.3125 = 1.25 x 0.25, and 0.25 = 0.8 x 0.3125.
    A face as good as the best so far is embedded (a refresh) but does not replace the best face."""
    small, large = face(100, 100, 56, score=1.0, sharpness=50.0), face(100, 100, 70, score=1.0, sharpness=50.0)
    quality = quality_scores(Detections.from_faces([small, large]), ARCFACE_LANDMARKS)
    assert quality.tolist() == [0.25, 0.3125] and 0.3125 * 0.8 == 0.25  # the bounds are met exactly
    engine = ScriptedEngine({1: [(small, ANN)], 2: [(large, BOBISH)], 3: [(small, BOB)], 4: [(large, ANN)]},
                            pack=PACK)
    tracking = FaceTracking(engine)
    # 1.0 first; 1.5 exactly 1.25 x better; 2.5 not (0.8 x, 1 s since); 3.5 exactly 0.8 x, exactly 2 s since;
    # 5.5: as good as the best, 2 s since.
    seen = [tracking.step(frame(scene, t)) for scene, t in ((1, 1.0), (2, 1.5), (3, 2.5), (3, 3.5), (4, 5.5))]
    assert [[(f.track, f.embedded) for f in s.faces] for s in seen] == [[(0, True)], [(0, True)], [(0, False)],
                                                                         [(0, True)], [(0, True)]]
    (track,) = tracking.finish()
    assert (track.embeddings, track.best_quality, track.best_face_timestamp) == (4, 0.3125, 1.5)
    assert track.best_face is not None
    np.testing.assert_array_equal(track.best_face.embedding, BOBISH)  # type: ignore[arg-type]


def test_eyes_closer_than_a_pixel_are_taken_as_a_pixel_apart() -> None:
    # Eyes 1.5 px apart, the nose 0.3 px off their midpoint: 1 - 2 x 0.3 / 1.5 = 0.6; eyes 0.5 px apart
    # and the nose 0.1 px off: over 1 px, 0.8.
    points = np.array([[[30, 40], [31.5, 40], [30.75 + 0.3, 60], [35, 80], [65, 80]],
                       [[30, 40], [30.5, 40], [30.25 + 0.1, 60], [35, 80], [65, 80]]], dtype=np.float64)
    assert frontal_scores(points, ARCFACE_LANDMARKS) == pytest.approx([0.6, 0.8])


def test_the_template_searched_is_the_unit_mean_and_the_matches_are_held_to_max_faces(tmp_path: Path) -> None:
    """A track's two embeddings at cosine -0.8 (their sum has length sqrt(0.4), under 1): the template is
    (Ann + X) / sqrt(0.4), at 0.2 / sqrt(0.4) = 0.316 to Ann; Ann is stored twice, max_faces=1 lists one.
    A face of the template's direction back from an occlusion is at 1 to it: the same track. A frame
    that turns from grey to black is a cut, and says so."""
    other = near(ANN, -0.8, seed=75)
    direction = ANN.astype(np.float64) + other
    direction = (direction / np.linalg.norm(direction)).astype(np.float32)
    small, large = face(100, 100, 56, score=1.0, sharpness=50.0), face(100, 100, 70, score=1.0, sharpness=50.0)
    engine = ScriptedEngine({1: [(small, ANN)], 2: [(large, other)], 3: [], 4: [(face(500, 300, 56), direction)]},
                            pack=PACK)
    with Collections(tmp_path).create_collection("c", engine=engine) as collection:
        collection.index_embeddings(np.stack([ANN, ANN]), pack=PACK)
        tracking = FaceTracking(engine, collection, search=SearchSettings(threshold=-1.0, max_faces=1))
        seen = [tracking.step(frame(1, 1.0)), tracking.step(frame(2, 1.5))]
        assert [s.faces[0].embedded for s in seen] == [True, True]
        (track,) = tracking.tracks.values()
        assert len(track.matches) == 1
        assert track.best_match is not None
        assert track.best_match.similarity == pytest.approx(0.2 / math.sqrt(0.4), abs=1e-5)
        assert tracking.step(frame(3, 1.8)).faces == []
        assert [f.track for f in tracking.step(frame(4, 2.0)).faces] == [0]
        black = SampledFrame(index=25, timestamp=2.5, rgb=np.zeros((64, 64, 3), np.uint8), analyse=True,
                             dropped_before=0)
        black.rgb[0, 0, 0] = 3
        assert [s.shot_change for s in (seen[1], tracking.step(black))] == [False, True]
        assert len(tracking.finish()) == 1
