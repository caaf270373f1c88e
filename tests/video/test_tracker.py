"""The face tracker on synthetic motion: crossing paths, misses, occlusions, cuts and
re-identification; the assignment against brute force; bad input from Python."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceindex import _core
from faceindex.video.tracker import IGNORED, UNMATCHED, FaceTracker, ShotChangeDetector, TrackerSettings


def box(cx: float, cy: float, size: float = 60.0) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def step(tracker: FaceTracker, t: float, boxes: list[list[float]], scores: list[float] | None = None,
         embeddings: np.ndarray | None = None) -> list[int]:
    ids = tracker.associate(t, np.array(boxes, np.float32).reshape(-1, 4),
                            np.array(scores if scores is not None else [0.9] * len(boxes), np.float32))
    unmatched = np.flatnonzero(ids == UNMATCHED)
    if len(unmatched):
        ids[unmatched] = tracker.admit(unmatched, None if embeddings is None else embeddings[unmatched])
    return ids.tolist()


def test_two_faces_crossing_keep_their_tracks() -> None:
    # Two faces walk towards each other along one line and past each other (5 fps).
    tracker = FaceTracker()
    seen: dict[int, list[float]] = {}
    for k in range(21):
        t = k * 0.2
        a, b = 100 + 20 * k, 500 - 20 * k
        ids = step(tracker, t, [box(a, 200), box(b, 230)])
        for track, x in zip(ids, (a, b)):
            seen.setdefault(track, []).append(x)
    assert sorted(seen) == [0, 1]
    assert seen[0] == sorted(seen[0]) and seen[1] == sorted(seen[1], reverse=True), "identities swapped"


def test_fast_motion_between_sampled_frames_is_followed() -> None:
    # A face moving 45 px per frame (3/4 of its size) with its boxes no longer overlapping
    # much: distance-IoU and the motion model keep one track.
    tracker = FaceTracker()
    ids = [step(tracker, k * 0.2, [box(100 + 45 * k, 200)])[0] for k in range(10)]
    assert set(ids) == {0}


def test_short_miss_continues_the_track_and_a_long_one_ends_it() -> None:
    tracker = FaceTracker(TrackerSettings(max_lost_seconds=1.0))
    assert step(tracker, 0.0, [box(100, 100)]) == [0]
    assert step(tracker, 0.2, [box(104, 100)]) == [0]
    assert step(tracker, 0.4, []) == []  # occluded for 0.6 s
    assert step(tracker, 0.6, []) == []
    assert step(tracker, 0.8, [box(116, 100)]) == [0]
    assert tracker.take_ended() == []
    assert step(tracker, 1.0, []) == []
    assert step(tracker, 2.4, [box(120, 100)]) == [1]  # 1.4 s later: a new track
    assert tracker.take_ended() == [0]
    assert tracker.end_all() == [1]


def test_weak_faces_continue_tracks_but_never_start_them() -> None:
    tracker = FaceTracker(TrackerSettings(high_score=0.5, low_score=0.1))
    assert step(tracker, 0.0, [box(100, 100)], [0.3]) == [IGNORED]
    assert step(tracker, 0.2, [box(100, 100)], [0.9]) == [0]
    assert step(tracker, 0.4, [box(102, 100)], [0.3]) == [0]  # blurred, still the same face
    assert step(tracker, 0.6, [box(104, 100)], [0.05]) == [IGNORED]  # below low_score


def test_shot_change_breaks_motion_and_appearance_brings_the_face_back() -> None:
    rng = np.random.default_rng(0)
    alice, bob = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 128)).astype(np.float32))
    tracker = FaceTracker(TrackerSettings(reid_similarity=0.8))
    ids = step(tracker, 0.0, [box(100, 100)], embeddings=np.stack([alice]))
    tracker.set_appearance(ids[0], alice)
    tracker.shot_change()
    # After the cut a different person stands where Alice stood: no motion continuity.
    assert step(tracker, 0.2, [box(100, 100)], embeddings=np.stack([bob])) == [1]
    tracker.set_appearance(1, bob)
    tracker.shot_change()
    # Cut back: Alice, somewhere else in the frame, continues her own track by appearance.
    assert step(tracker, 0.4, [box(400, 300)], embeddings=np.stack([alice])) == [0]


def test_appearance_below_the_threshold_starts_a_new_track() -> None:
    rng = np.random.default_rng(1)
    a, b = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 64)).astype(np.float32))
    tracker = FaceTracker(TrackerSettings(reid_similarity=0.9, max_lost_seconds=5))
    step(tracker, 0.0, [box(100, 100)], embeddings=np.stack([a]))
    tracker.set_appearance(0, a)
    step(tracker, 0.2, [])
    assert step(tracker, 0.4, [box(400, 400)], embeddings=np.stack([b])) == [1]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.data())
def test_assignment_is_optimal_against_brute_force(rows: int, cols: int, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=rows * cols, max_size=rows * cols))
    cost = np.array(values, dtype=np.float64).reshape(rows, cols)
    forbidden = data.draw(st.sampled_from([0.5, 0.9, 2.0]))
    match = _core.vision.assign_min_cost(cost, forbidden)
    used = [c for c in match if c >= 0]
    assert len(used) == len(set(used))
    assert all(cost[r, c] < forbidden for r, c in enumerate(match) if c >= 0)

    def total(assignment: tuple[int, ...]) -> float:
        pairs = [(r, c) for r, c in enumerate(assignment) if c >= 0 and cost[r, c] < forbidden]
        # The method minimises the padded cost: each pair not made costs `forbidden`.
        return float(sum(cost[r, c] for r, c in pairs) + forbidden * (max(rows, cols) - len(pairs)))

    # Every assignment: each row takes a distinct column or none (-1).
    candidates = itertools.permutations(list(range(cols)) + [-1] * rows, rows)
    best = min(total(p) for p in candidates if len([c for c in p if c >= 0]) == len({c for c in p if c >= 0}))
    assert total(tuple(match)) == pytest.approx(best, abs=1e-9)


def test_bad_input_from_python_is_a_clear_error() -> None:
    tracker = FaceTracker()
    with pytest.raises(ValueError, match="NaN"):
        tracker.associate(0.0, np.array([[0, 0, np.nan, 1]], np.float32), np.array([0.9], np.float32))
    with pytest.raises(ValueError, match="scores"):
        tracker.associate(0.0, np.zeros((2, 4), np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="x1 <= x2"):
        tracker.associate(0.0, np.array([[10, 0, 0, 10]], np.float32), np.array([0.9], np.float32))
    tracker.associate(1.0, np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="backwards"):
        tracker.associate(0.5, np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="finite"):
        tracker.associate(float("nan"), np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="face index 3"):
        tracker.admit(np.array([3]), None)
    with pytest.raises(ValueError, match="no track 7"):
        tracker.set_appearance(7, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="min_diou"):
        FaceTracker(TrackerSettings(min_diou=2.0))
    with pytest.raises(ValueError, match="low_score"):
        FaceTracker(TrackerSettings(low_score=0.9, high_score=0.5))
    with pytest.raises(ValueError):
        _core.vision.assign_min_cost(np.array([[np.nan]]), 1.0)
    with pytest.raises(ValueError):
        _core.vision.assign_min_cost(np.zeros((2, 2)), float("inf"))
    with pytest.raises(TypeError):
        _core.vision.assign_min_cost(np.zeros((2, 2), np.float32), 1.0)


def test_shot_change_detector_sees_cuts_and_not_pans() -> None:
    detect = ShotChangeDetector()
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, :80] = (200, 150, 60)
    assert not detect(frame)
    for shift in range(1, 6):  # a slow pan: the same colours move
        assert not detect(np.roll(frame, shift * 8, axis=1))
    other = np.full((90, 160, 3), (20, 40, 120), np.uint8)
    assert detect(other)
    assert not detect(other)


def test_frontal_score_prefers_a_frontal_face_to_a_turned_one() -> None:
    from faceindex.types import ARCFACE_LANDMARKS, DLIB_LANDMARKS
    from faceindex.video.face_tracking import frontal_scores

    # ARCFACE order: left eye, right eye, nose, mouth corners (x, y in pixels).
    frontal = [[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]]
    turned = [[45, 40], [65, 40], [68, 60], [50, 80], [66, 80]]
    scores = frontal_scores(np.array([frontal, turned], np.float32), ARCFACE_LANDMARKS)
    assert scores[0] == pytest.approx(1.0) and scores[1] < 0.5
    # dlib's order: right eye outer/inner, left eye outer/inner, nose base.
    dlib_frontal = [[75, 40], [60, 40], [25, 40], [40, 40], [50, 65]]
    assert frontal_scores(np.array([dlib_frontal], np.float32), DLIB_LANDMARKS)[0] == pytest.approx(1.0)
    assert np.all(frontal_scores(np.full((2, 5, 2), np.nan, np.float32), ARCFACE_LANDMARKS) == 1.0)


def blue_rows(fraction: float) -> np.ndarray:
    """A 1000 x 10 frame, red but for its top `fraction` of rows in blue: two frames' signatures are
    (2/3) x the difference of their fractions apart (two of the three colour histograms change)."""
    img = np.zeros((1000, 10, 3), np.uint8)
    img[:] = (200, 30, 30)
    img[: int(round(fraction * 1000))] = (30, 30, 200)
    return img


def test_a_cut_is_a_change_above_0_15_and_2_5_times_the_recent_ones() -> None:
    """By hand, with distances (2/3) x the change of fraction: a steady pan of 0.1 per frame is no cut;
    0.227 after five steps of 0.1 (mean 0.1: 2.5 x = 0.25) is none; 0.4 after [0.1 x 4, 0.227] (mean
    0.125: 2.5 x = 0.313) is one; right after a cut the recent changes are forgotten, so 0.2 (> 0.15)
    is a cut too, and so is 0.384 right after that; a change of 0.1 with only 0 recent is none."""
    detect = ShotChangeDetector()
    steps = [(0.25, False), (0.25, False), (0.40, False), (0.55, False), (0.70, False), (0.85, False),
             (1.00, False),  # five steps of 0.1 after one of 0
             (0.66, False),  # 0.227 < 0.25
             (0.06, True),  # 0.4 > 0.313
             (0.36, True),  # 0.2: nothing recent after the cut
             (0.36 + 0.9 * 0.64, True),  # 0.384 right after a cut
             (0.936, False), (0.786, False)]  # 0 then 0.1 with only 0 recent: below 0.15
    assert [detect(blue_rows(f)) for f, _ in steps] == [cut for _, cut in steps]


def test_the_tracker_takes_any_array_like_from_python() -> None:
    """Plain lists, float64 arrays, scores as a column, flat boxes: converted to what the C++ side takes."""
    settings = TrackerSettings(reid_similarity=0.8)
    tracker = FaceTracker(settings)
    assert tracker.settings == settings
    ids = tracker.associate(0.0, [[0.0, 0.0, 60.0, 60.0], [200.0, 0.0, 260.0, 60.0]], [[0.9], [0.8]])
    assert ids.tolist() == [UNMATCHED, UNMATCHED]
    embeddings = np.eye(2, 8)  # float64
    assert tracker.admit([[0], [1]], embeddings).tolist() == [0, 1]  # a column of face indices
    tracker.set_appearance(np.int64(0), np.eye(1, 8)[0])
    flat = np.array([2.0, 1.0, 62.0, 61.0, 201.0, 0.0, 261.0, 60.0])  # two boxes in one row
    assert tracker.associate(0.2, flat, np.array([0.9, 0.8])).tolist() == [0, 1]
    assert tracker.end_all() == [0, 1]


def test_a_change_exactly_at_the_threshold_or_exactly_jump_times_the_recent_ones_is_no_cut() -> None:
    """Both bounds are strict: the detector's own distances between three frames set them exactly."""
    frames = [blue_rows(f) for f in (0.2, 0.35, 0.65)]
    sig = [_core.vision.frame_signature(f) for f in frames]
    d1 = float(_core.vision.signature_distance(sig[0], sig[1]))
    d2 = float(_core.vision.signature_distance(sig[1], sig[2]))
    assert d1 == pytest.approx(0.1, abs=0.01) and d2 == pytest.approx(0.2, abs=0.01)  # about (2/3) x 0.15, 0.3
    at_threshold = ShotChangeDetector(threshold=d1)
    assert [at_threshold(f) for f in frames[:2]] == [False, False]
    below = ShotChangeDetector(threshold=np.nextafter(d1, 0.0))
    assert [below(f) for f in frames[:2]] == [False, True]
    jump = d2 / d1
    assert jump * d1 == d2  # the bound is met exactly
    at_jump = ShotChangeDetector(threshold=d1, jump=jump)
    assert [at_jump(f) for f in frames] == [False, False, False]
    above = ShotChangeDetector(threshold=d1, jump=np.nextafter(jump, 0.0))
    assert [above(f) for f in frames] == [False, False, True]
