"""Rekognition's shapes made from faceindex's results, against values worked out by hand: boxes and
landmarks as ratios of the image, Percent members clipped to 0-100, ImageQuality's mapping, Pose only
where the pack gives it, Similarity through the calibrated FMR (or cosine x 100 without a table), and
FaceModelVersion's dotted number (models/rekognition_model_versions.json)."""

from __future__ import annotations

import hashlib
import math
import zlib
from datetime import datetime, timezone

import numpy as np
import pytest

from faceindex import rekognition_shapes as shapes
from faceindex import thresholds
from faceindex.collection.results import FaceRecord
from faceindex.types import Face, PackInfo, PackRef

DLIB = PackInfo(name="dlib", version="1.1", embedding_size=128, default_threshold=0.6, threshold_source="-",
                detector="-", recognizer="-", license="-")  # calibrated: models/calibration/dlib_1.1.json
NEVER_CALIBRATED = PackInfo(name="never-measured", version="1", embedding_size=8, default_threshold=0.5,
                            threshold_source="-", detector="-", recognizer="-", license="-")
NAMES = ("left eye", "right eye", "nose tip", "left mouth corner", "right mouth corner")


def a_face(pose: tuple[float, float, float] | None = (10.0, -5.0, 2.0), score: float = 0.9) -> Face:
    points = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], dtype=np.float32)
    return Face(bbox=(20.0, 30.0, 80.0, 110.0), score=score, landmarks=points, face_size=60.0, sharpness=150.0,
                brightness=0.25, pose=pose)


def test_a_box_is_given_as_ratios_of_the_image() -> None:
    # A box 60 x 80 pixels at (20, 30) in a 200 x 400 image.
    assert shapes.bounding_box((20, 30, 80, 110), 200, 400) == {"Width": 0.3, "Height": 0.2, "Left": 0.1,
                                                                "Top": 0.075}


def test_percent_members_are_clipped_to_0_100() -> None:
    assert [shapes.percent(v) for v in (-3.0, 0.0, 42.5, 100.0, 101.0)] == [0.0, 0.0, 42.5, 100.0, 100.0]


def test_image_quality_maps_sharpness_by_100_s_over_s_plus_50() -> None:
    assert shapes.quality(50.0, 0.4) == {"Brightness": 40.0, "Sharpness": 50.0}
    assert shapes.quality(150.0, 0.25) == {"Brightness": 25.0, "Sharpness": 75.0}
    assert shapes.quality(0.0, 1.5) == {"Brightness": 100.0, "Sharpness": 0.0}


def test_landmarks_take_rekognitions_names_as_ratios_and_leave_out_unknown_points() -> None:
    found = shapes.landmarks(["left eye", "nose tip", "right eye outer corner", "chin"],
                             [(20, 50), (math.nan, 10), (40, 150), (10, 100)], 200, 100)
    assert found == [{"Type": "eyeLeft", "X": 0.1, "Y": 0.5}, {"Type": "rightEyeRight", "X": 0.2, "Y": 1.5},
                     {"Type": "chin", "X": 0.05, "Y": 1.0}]


def test_pose_only_where_the_pack_gives_one() -> None:
    assert shapes.pose((12.0, -5.0, 3.0)) == {"Yaw": 12.0, "Pitch": -5.0, "Roll": 3.0}
    assert shapes.pose(None) is None
    assert shapes.pose((math.nan, math.nan, math.nan)) is None


def test_face_detail_and_compared_face_of_a_detected_face() -> None:
    pack = PackInfo(name="p", version="1", embedding_size=8, default_threshold=0.5, threshold_source="-",
                    detector="-", recognizer="-", license="-", landmarks=NAMES)
    detail = shapes.face_detail_of(a_face(score=1.02), pack, 200, 400)
    assert detail["BoundingBox"] == {"Width": 0.3, "Height": 0.2, "Left": 0.1, "Top": 0.075}
    assert detail["Confidence"] == 100.0  # a detector score above 1, clipped
    assert detail["Quality"] == {"Brightness": 25.0, "Sharpness": 75.0}
    assert detail["Pose"] == {"Yaw": 10.0, "Pitch": -5.0, "Roll": 2.0}
    assert [(p["Type"], p["X"], p["Y"]) for p in detail["Landmarks"]] == [
        ("eyeLeft", 0.15, 0.1), ("eyeRight", 0.35, 0.1), ("nose", 0.25, 0.15), ("mouthLeft", 0.175, 0.2),
        ("mouthRight", 0.325, 0.2)]
    assert set(detail) == {"BoundingBox", "Confidence", "Landmarks", "Quality", "Pose"}
    no_pose = shapes.face_detail_of(a_face(pose=None, score=0.9), pack, 200, 400)
    assert "Pose" not in no_pose and no_pose["Confidence"] == pytest.approx(90.0)
    compared = shapes.compared_face(a_face(), pack, 200, 400)
    assert compared == {k: detail[k] for k in ("BoundingBox", "Landmarks", "Pose", "Quality")} | {
        "Confidence": pytest.approx(90.0)}


def test_a_stored_face_has_the_members_it_knows() -> None:
    made = datetime(2026, 1, 2, tzinfo=timezone.utc)
    known = FaceRecord("f-1", "photo.jpg", "i-1", a_face(score=0.5), "ann", made, image_width=200, image_height=400)
    assert shapes.stored_face(known, DLIB) == {
        "FaceId": "f-1", "ImageId": "i-1", "Confidence": 50.0, "IndexFacesModelVersion": "1.101",
        "BoundingBox": {"Width": 0.3, "Height": 0.2, "Left": 0.1, "Top": 0.075},
        "ExternalImageId": "photo.jpg", "UserId": "ann"}
    bare = FaceRecord("f-2", None, "i-2", a_face(score=0.5), None, made)  # stored from an embedding
    assert shapes.stored_face(bare, DLIB) == {"FaceId": "f-2", "ImageId": "i-2", "Confidence": 50.0,
                                              "IndexFacesModelVersion": "1.101"}


def test_similarity_is_defined_through_the_calibrated_fmr() -> None:
    # The cosine at which dlib's table estimates FMR 1e-6 has Similarity 80; at FMR 1e-4, 80 x 4/6.
    at_1e6 = thresholds.threshold_for_similarity(DLIB, 80.0).value
    assert shapes.similarity(DLIB, at_1e6) == pytest.approx(80.0, abs=1e-6)
    at_1e4 = thresholds.for_comparison(DLIB, max_fmr=1e-4).value
    assert shapes.similarity(DLIB, at_1e4) == pytest.approx(80.0 * 4 / 6, abs=0.05)
    assert shapes.similarity(DLIB, at_1e4) < shapes.similarity(DLIB, at_1e6) < shapes.similarity(DLIB, 1.0) < 100
    assert shapes.similarity_scale(DLIB) == "calibrated-fmr"


def test_similarity_of_a_pack_never_calibrated_is_the_cosine_x_100() -> None:
    assert shapes.similarity(NEVER_CALIBRATED, 0.42) == pytest.approx(42.0)
    assert shapes.similarity(NEVER_CALIBRATED, -0.3) == 0.0
    assert shapes.similarity_scale(NEVER_CALIBRATED) == "cosine-x100"


def test_face_model_version_names_the_pack_and_its_version() -> None:
    assert shapes.face_model_version(DLIB) == "1.101"
    assert shapes.face_model_version(PackRef("dlib", "2.0")) == "1.200"
    assert shapes.face_model_version(PackRef("buffalo_l", "1.2.3")) == "2.10203"
    # A pack not listed: 1000 + CRC-32 of its name mod 9000; a version that is not a dotted
    # number: the first 9 digits of the sha256 of its text.
    number = 1000 + zlib.crc32(b"my-pack") % 9000
    digits = str(int(hashlib.sha256(b"sha256:abc").hexdigest(), 16))[:9]
    assert shapes.face_model_version(PackRef("my-pack", "sha256:abc")) == f"{number}.{digits}"
    assert shapes.pack_name_and_version(DLIB) == "dlib 1.1"
