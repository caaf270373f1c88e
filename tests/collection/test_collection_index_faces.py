"""index_faces and searching by image through the engine interface (a scripted engine: no model)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from faceindex import Collections, ImageError, NoFaceError, QualityFilter
from faceindex.errors import FaceQualityError
from faceindex.collection.search import searched_faces
from faceindex.collection import Collection
from collection_helpers import SYNTHETIC, ScriptedEngine, face, near, scene_image, unit_vectors

E = unit_vectors(10, 0)


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine({
        1: [(face(0, 0, 40), E[0]), (face(100, 0, 120), E[1]), (face(300, 0, 80), E[2])],
        2: [(face(0, 0, 100), E[3]),
            (face(200, 0, 10), E[4]),  # tiny
            (face(300, 0, 90, sharpness=1.0), E[5]),  # blurred
            (face(400, 0, 90, brightness=0.02), E[6]),  # dark
            (face(500, 0, 90, pose=(80.0, 0.0, 0.0)), E[7]),  # profile
            (face(600, 0, 90, score=0.3), E[8])],  # doubtful detection
        3: [],
        4: [(face(0, 0, 50), near(E[1], 0.9, seed=1)), (face(100, 0, 150), near(E[3], 0.8, seed=2))],
    })


@pytest.fixture
def collection(tmp_path: Path, engine: ScriptedEngine) -> Collection:
    c = Collections(tmp_path).create_collection("c", engine=engine)
    yield c
    c.close()


def test_faces_are_indexed_largest_first_with_their_records(collection: Collection) -> None:
    result = collection.index_faces(scene_image(1), external_image_id="family.jpg")
    assert [r.face.bbox for r in result.face_records] == [(100, 0, 220, 120), (300, 0, 380, 80), (0, 0, 40, 40)]
    assert all(r.external_image_id == "family.jpg" and r.image_id == result.image_id for r in result.face_records)
    assert result.unindexed_faces == []
    assert (result.pack.name, result.pack.version) == ("synthetic", "1")
    assert [r.face.score for r in result.face_records] == pytest.approx([0.99] * 3)
    assert len({r.face_id for r in result.face_records}) == 3
    assert collection.get_faces([r.face_id for r in result.face_records]) == {
        r.face_id: r for r in result.face_records}


def test_max_faces_keeps_the_largest(collection: Collection, engine: ScriptedEngine) -> None:
    result = collection.index_faces(scene_image(1), max_faces=1)
    assert [r.face.bbox for r in result.face_records] == [(100, 0, 220, 120)]
    assert [(u.reasons, u.face.bbox) for u in result.unindexed_faces] == [
        (("EXCEEDS_MAX_FACES",), (300, 0, 380, 80)), (("EXCEEDS_MAX_FACES",), (0, 0, 40, 40))]
    assert engine.embedded == [1]  # faces left out are never embedded
    with pytest.raises(ValueError, match="max_faces must be a positive int"):
        collection.index_faces(scene_image(1), max_faces=0)


def test_quality_filter_reasons(collection: Collection) -> None:
    result = collection.index_faces(scene_image(2))  # "auto"
    assert [r.face.bbox[0] for r in result.face_records] == [0, 600]
    reasons = {u.face.bbox[0]: u.reasons for u in result.unindexed_faces}
    assert reasons == {200: ("SMALL_BOUNDING_BOX",), 300: ("LOW_SHARPNESS",), 400: ("LOW_BRIGHTNESS",),
                       500: ("EXTREME_POSE",)}
    high = collection.index_faces(scene_image(2), quality_filter="high")
    assert {u.face.bbox[0]: u.reasons for u in high.unindexed_faces}[600] == ("LOW_CONFIDENCE",)
    none = collection.index_faces(scene_image(2), quality_filter="none")
    assert len(none.face_records) == 6 and none.unindexed_faces == []
    custom = collection.index_faces(scene_image(2), quality_filter=QualityFilter(min_face_size=95, min_brightness=0.1))
    assert [r.face.bbox[0] for r in custom.face_records] == [0]
    assert {u.face.bbox[0]: u.reasons for u in custom.unindexed_faces}[400] == ("SMALL_BOUNDING_BOX", "LOW_BRIGHTNESS")
    with pytest.raises(ValueError, match="quality_filter must be one of"):
        collection.index_faces(scene_image(2), quality_filter="best")


def test_a_face_turned_or_pitched_past_the_bounds_is_refused(collection: Collection, engine: ScriptedEngine) -> None:
    """EXTREME_POSE: yaw or pitch beyond the level's bounds, either way ("auto": 60 and 45 degrees,
    "high": 30 and 25, "low": 75 and 60); a face at a bound, or whose pose the pack does not
    give (NaN), passes."""
    nan = float("nan")
    poses = {0: (0.0, 50.0, 0.0), 100: (0.0, -50.0, 0.0), 200: (55.0, 40.0, 0.0), 300: (-65.0, 0.0, 0.0),
             400: (nan, nan, nan), 500: (0.0, 45.0, 0.0), 600: (60.0, 0.0, 0.0)}
    engine.scenes[6] = [(face(x, 0, 90, pose=pose), E[i]) for i, (x, pose) in enumerate(poses.items())]

    def refused(level: str | QualityFilter) -> set[float]:
        result = collection.index_faces(scene_image(6), quality_filter=level)
        assert all(u.reasons == ("EXTREME_POSE",) for u in result.unindexed_faces)
        assert len(result.face_records) + len(result.unindexed_faces) == len(poses)
        return {u.face.bbox[0] for u in result.unindexed_faces}

    assert refused("auto") == {0, 100, 300}  # pitched up, pitched down, turned
    assert refused("high") == {0, 100, 200, 300, 500, 600}
    assert refused("low") == set()  # every face within 75 and 60 degrees
    assert refused("none") == set()
    pitch_only = QualityFilter(max_pitch=10)
    assert refused(pitch_only) == {0, 100, 200, 500}  # yaw not checked


def test_a_face_at_a_bound_passes_and_the_measured_size_counts(collection: Collection, engine: ScriptedEngine) -> None:
    """The bounds are the least a face must reach: a face exactly at one passes ("medium": 32 px,
    confidence 0.5, sharpness 8, brightness 0.12), a hair below fails. The size is the one measured
    with the quality (the box's shorter side), the box's own where none was measured."""
    at = face(0, 0, 32, score=0.5, sharpness=8.0, brightness=0.12)
    below = [face(100, 0, 31.5), face(200, 0, 90, score=0.499), face(300, 0, 90, sharpness=7.99),
             face(400, 0, 90, brightness=0.1199)]
    measured_small = replace(face(500, 0, 100), face_size=30.0)  # the box says 100 px, the measurement 30
    unmeasured = replace(face(600, 0, 100), face_size=0.0)  # no size measured: the box's, 100 px
    engine.scenes[7] = [(f, E[i]) for i, f in enumerate([at, *below, measured_small, unmeasured])]
    result = collection.index_faces(scene_image(7), quality_filter="medium")
    assert sorted(r.face.bbox[0] for r in result.face_records) == [0, 600]
    assert {u.face.bbox[0]: u.reasons for u in result.unindexed_faces} == {
        100: ("SMALL_BOUNDING_BOX",), 200: ("LOW_CONFIDENCE",), 300: ("LOW_SHARPNESS",), 400: ("LOW_BRIGHTNESS",),
        500: ("SMALL_BOUNDING_BOX",)}


def test_max_faces_must_be_a_positive_int(collection: Collection) -> None:
    for bad in (True, 2.5, 0, -1, "3"):
        with pytest.raises(ValueError, match="max_faces must be a positive int or None"):
            collection.index_faces(scene_image(1), max_faces=bad)  # type: ignore[arg-type]
    assert len(collection) == 0


def test_quality_first_then_max_faces(collection: Collection) -> None:
    result = collection.index_faces(scene_image(2), max_faces=1)
    assert [r.face.bbox[0] for r in result.face_records] == [0]
    assert {u.face.bbox[0]: u.reasons for u in result.unindexed_faces}[600] == ("EXCEEDS_MAX_FACES",)


def test_an_image_without_faces_indexes_nothing(collection: Collection) -> None:
    result = collection.index_faces(scene_image(3))
    assert result.face_records == [] and result.unindexed_faces == []
    assert len(collection) == 0


def test_search_by_image_searches_the_largest_face_or_all_of_them(collection: Collection) -> None:
    stored = collection.index_faces(scene_image(1)).face_records + collection.index_faces(scene_image(2)).face_records
    by_box = {r.face.bbox: r.face_id for r in stored}
    result = collection.search_faces_by_image(scene_image(4))
    assert result.searched_face is not None and result.searched_face.bbox == (100, 0, 250, 150)
    assert [m.face.face_id for m in result.face_matches] == [by_box[(0, 0, 100, 100)]]
    assert result.face_matches[0].similarity == pytest.approx(0.8, abs=1e-5)
    assert result.threshold == SYNTHETIC.default_threshold
    every = collection.search_faces_by_image(scene_image(4), all_faces=True)
    assert [r.searched_face.bbox for r in every] == [(100, 0, 250, 150), (0, 0, 50, 50)]  # type: ignore[union-attr]
    assert [m.face.face_id for m in every[1].face_matches] == [by_box[(100, 0, 220, 120)]]
    assert every[1].face_matches[0].similarity == pytest.approx(0.9, abs=1e-5)
    strict = collection.search_faces_by_image(scene_image(4), threshold=0.85)
    assert strict.face_matches == []


def test_search_users_by_image(collection: Collection) -> None:
    stored = collection.index_faces(scene_image(2)).face_records
    collection.create_user("ann")
    collection.associate_faces("ann", [stored[0].face_id])
    result = collection.search_users_by_image(scene_image(4))
    assert result.best is not None and result.best.user.user_id == "ann"
    assert result.searched_face is not None and result.searched_face.bbox == (100, 0, 250, 150)


def test_a_search_by_image_holds_its_face_to_the_quality_filter(collection: Collection,
                                                                  engine: ScriptedEngine) -> None:
    collection.index_faces(scene_image(1))
    # Scene 2's largest face passes "high"; the others are named, with their reasons, unsearched.
    result = collection.search_faces_by_image(scene_image(2), threshold=-1.0, quality_filter="high")
    assert result.searched_face is not None and result.searched_face.bbox == (0, 0, 100, 100)
    assert [(u.face.bbox[0], u.reasons) for u in result.unsearched_faces] == [
        (b, ("FACE_NOT_LARGEST",)) for b in (300, 400, 500, 600, 200)]
    embedded = len(engine.embedded)
    # A dark largest face fails "auto": nothing is embedded, searched or logged.
    engine.scenes[5] = [(face(0, 0, 100, brightness=0.02), E[9]), (face(200, 0, 50), E[0])]
    logged = len(collection.audit_log())
    for search in (collection.search_faces_by_image, collection.search_users_by_image):
        with pytest.raises(FaceQualityError, match=r"largest face .* quality filter \(AUTO\): LOW_BRIGHTNESS") as e:
            search(scene_image(5), quality_filter="auto")  # type: ignore[operator]
        assert e.value.reasons == ("LOW_BRIGHTNESS",)
    assert len(engine.embedded) == embedded and len(collection.audit_log()) == logged
    # Without a filter (the default) it is searched; with all_faces, only the faces that pass are.
    assert collection.search_faces_by_image(scene_image(5)).searched_face.bbox == (0, 0, 100, 100)  # type: ignore[union-attr]
    every = collection.search_faces_by_image(scene_image(5), all_faces=True, quality_filter="auto")
    assert [r.searched_face.bbox for r in every] == [(200, 0, 250, 50)]  # type: ignore[union-attr]
    assert [(u.face.bbox, u.reasons) for u in every[0].unsearched_faces] == [((0, 0, 100, 100), ("LOW_BRIGHTNESS",))]
    users = collection.search_users_by_image(scene_image(5))
    assert [u.face.bbox[0] for u in users.unsearched_faces] == [200]


def test_an_index_faces_sent_again_with_its_write_id_is_stored_once(collection: Collection) -> None:
    first = collection.index_faces(scene_image(1), external_image_id="family.jpg", write_id="call-1")
    again = collection.index_faces(scene_image(1), external_image_id="family.jpg", write_id="call-1")
    assert [r.face_id for r in again.face_records] == [r.face_id for r in first.face_records]
    assert again.image_id == first.image_id and len(collection) == 3
    other = collection.index_faces(scene_image(1), write_id="call-2")  # another write: stored
    assert other.image_id != first.image_id and len(collection) == 6
    assert len(collection.index_faces(scene_image(1)).face_records) == 3 and len(collection) == 9  # no write id
    with pytest.raises(ValueError, match="a write id is a string of 1 to 200 characters"):
        collection.index_faces(scene_image(1), write_id="")


def test_images_without_a_face_or_that_are_not_images(collection: Collection, tmp_path: Path) -> None:
    with pytest.raises(NoFaceError, match="no face"):
        collection.search_faces_by_image(scene_image(3))
    with pytest.raises(NoFaceError):
        collection.search_users_by_image(scene_image(3))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageError, match="cannot decode"):
        collection.index_faces(junk)
    with pytest.raises(FileNotFoundError):
        collection.index_faces(tmp_path / "missing.jpg")
    assert len(collection) == 0


def test_an_engine_returning_the_wrong_shape_is_caught(tmp_path: Path) -> None:
    broken = ScriptedEngine({1: [(face(0, 0, 50), E[0])]})
    broken.scripted.embed = lambda image, faces: np.zeros((1, 7), np.float32)  # type: ignore[method-assign]
    c = Collections(tmp_path).create_collection("c", engine=broken)
    with c, pytest.raises(ValueError, match=r"embeddings of shape \(1, 7\) for 1 faces"):
        c.index_faces(scene_image(1))


def test_the_collection_reopens_with_an_engine_of_its_pack(tmp_path: Path, engine: ScriptedEngine) -> None:
    """Reopened with an engine of its pack, a collection indexes and searches with it: faces indexed
    before the reopening are found by a search by image after it, beside the new ones."""
    home = Collections(tmp_path)
    with home.create_collection("c", engine=engine) as c:
        before = c.index_faces(scene_image(2), quality_filter="none").face_records
    with home.collection("c", engine=engine) as c:
        assert (c.pack.name, c.pack.version) == (SYNTHETIC.name, SYNTHETIC.version)
        after = c.index_faces(scene_image(1)).face_records
        assert [r.face.bbox for r in after] == [(100, 0, 220, 120), (300, 0, 380, 80), (0, 0, 40, 40)]
        # Scene 4's largest face is 0.8 from scene 2's largest (indexed before), 0.9 from scene 1's.
        result = c.search_faces_by_image(scene_image(4))
        assert [m.face.face_id for m in result.face_matches] == [before[0].face_id]
        every = c.search_faces_by_image(scene_image(4), all_faces=True)
        assert [m.face.face_id for m in every[1].face_matches] == [after[0].face_id]
        assert len(c) == 9


def test_a_search_by_image_holds_the_largest_face_unless_asked_for_all(engine: ScriptedEngine) -> None:
    """What every search by image (and CompareFaces) searches with: by default the largest face only,
    the others named unsearched; a largest face that fails a custom filter is refused by that name."""
    found = searched_faces(engine, scene_image(1))
    assert [f.bbox for f in found.faces] == [(100, 0, 220, 120)] and found.embeddings.shape == (1, 128)
    np.testing.assert_allclose(found.embeddings[0], E[1])
    assert [(u.reasons, u.face.bbox[0]) for u in found.unsearched] == [(("FACE_NOT_LARGEST",), 300),
                                                                      (("FACE_NOT_LARGEST",), 0)]
    with pytest.raises(FaceQualityError, match=r"quality filter \(custom\): SMALL_BOUNDING_BOX"):
        searched_faces(engine, scene_image(1), quality_filter=QualityFilter(min_face_size=200))
    with pytest.raises(FaceQualityError, match=r"no face in the image passes the quality filter \(custom\)"):
        searched_faces(engine, scene_image(1), all_faces=True, quality_filter=QualityFilter(min_face_size=500))


def test_an_engine_returning_a_zero_embedding_is_named(tmp_path: Path) -> None:
    broken = ScriptedEngine({1: [(face(0, 0, 50), np.zeros(128, np.float32))]})
    with Collections(tmp_path).create_collection("c", engine=broken) as c:
        for search in (c.search_faces_by_image, c.search_users_by_image):
            with pytest.raises(ValueError, match="engine embeddings"):
                search(scene_image(1))  # type: ignore[operator]
        with pytest.raises(ValueError, match="max_users must be an int from 1 to 4096"):
            c.search_users_by_image(scene_image(1), max_users=0)
        with pytest.raises(ValueError, match="max_faces must be an int from 1 to 4096"):
            c.search_faces_by_image(scene_image(1), max_faces=0)
