"""FaceEngine on the default dlib pack, end to end."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import faceindex
from faceindex import thresholds


@pytest.fixture(scope="module")
def engine(dlib_cache: Path) -> faceindex.FaceEngine:
    return faceindex.FaceEngine()  # converts into dlib_cache, this run's FACEINDEX_CACHE


def test_pack_describes_itself(engine: faceindex.FaceEngine) -> None:
    info = engine.pack
    assert info.name == "dlib" and info.embedding_size == 128 and "CC0" in info.license
    assert 0 < info.default_threshold < 1
    assert "LFW" in info.threshold_source and "false-match" in info.threshold_source


def test_analyze_and_compare(engine: faceindex.FaceEngine, data_file: Callable[[str], Path]) -> None:
    a = data_file("images/face_recognition/obama-480p.jpg")
    b = data_file("images/face_recognition/obama-720p.jpg")
    other = data_file("images/face_recognition/two_people.jpg")
    faces = engine.analyze(a)
    assert len(faces) == 1 and faces[0].embedding is not None
    assert faces[0].embedding.dtype == np.float32 and abs(float(np.linalg.norm(faces[0].embedding)) - 1) < 1e-5
    assert faces[0].landmarks.shape == (5, 2) and faces[0].face_size > 50
    same = engine.compare(a, b)
    assert same.same_person and same.pack.name == "dlib" and same.pack.version == engine.pack.version
    # The default threshold is chosen by error rate (issue 12): FMR 1e-4 on the pack's calibration table.
    assert same.threshold == thresholds.for_comparison(engine.pack, max_fmr=1e-4).value
    assert same.threshold_choice.chosen_by == "fmr" and same.threshold_choice.requested == 1e-4
    left, right = sorted(engine.analyze(other), key=lambda f: f.bbox[0])  # Obama, then Biden
    assert engine.compare(faces[0], left).same_person
    assert not engine.compare(faces[0], right).same_person


def test_the_pack_names_its_landmarks(engine: faceindex.FaceEngine, data_file: Callable[[str], Path]) -> None:
    # dlib's 5 points are eye corners and the nose base, not ArcFace's eyes, nose and mouth.
    from faceindex.types import DLIB_LANDMARKS

    assert engine.pack.landmarks == DLIB_LANDMARKS
    face = max(engine.detect(data_file("images/face_recognition/knn_examples/train/obama/obama.jpg")),
               key=lambda f: f.area)
    x = face.landmarks[:, 0]
    # In the image: right eye (outer, inner) on the right, left eye (outer, inner) on the left, nose between.
    assert x[0] > x[1] > x[4] > x[3] > x[2]


def test_the_default_finds_faces_down_to_40_pixels(engine: faceindex.FaceEngine, dlib_pack: Any,
                                                   data_file: Callable[[str], Path]) -> None:
    small = faceindex.load_image(data_file("images/face_recognition/obama-240p.jpg"))  # a face of about 58 px
    assert len(dlib_pack.detect(small)) == 0  # dlib's detector at the image's own size (upsample=0) misses it
    (face,) = engine.detect(small)
    assert 45 <= face.face_size <= 70
    large = data_file("images/face_recognition/obama-1080p.jpg")
    assert engine.compare(small, large).same_person
    # t1's faces (80 px and up) are found at the image's own size: no second look, the same faces as dlib's.
    t1 = faceindex.load_image(data_file("images/insightface/t1.jpg"))
    assert sorted(f.bbox for f in engine.detect(t1)) == sorted(f.bbox for f in dlib_pack.detect(t1))


def test_reprs_show_embeddings_by_shape(engine: faceindex.FaceEngine, data_file: Callable[[str], Path]) -> None:
    photo = data_file("images/face_recognition/obama-480p.jpg")
    (face,) = engine.analyze(photo)
    text = repr(face)
    assert "embedding=<float32 array (128,)>" in text and len(text) < 600, text
    assert "bbox=" in text and "score=" in text and "landmarks=" in text  # the rest as dataclasses show it
    comparison = repr(engine.compare(photo, photo))
    assert comparison.count("float32 array (128,)") == 2 and len(comparison) < 1500, comparison
