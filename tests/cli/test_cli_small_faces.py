"""`faceindex detect/index/search/video --min-face` and the face as the CLI's JSON gives it:
Rekognition's keypoints and pose under their names, the measured confidence (real models and photos)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from faceindex.cli import main
from faceindex.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE

T1 = "images/insightface/t1.jpg"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_detect_json_names_keypoints_and_pose(data_file: Callable[[str], Path]) -> None:
    code, out, _ = run("detect", str(data_file(T1)), "--json")
    assert code == EXIT_OK
    result = json.loads(out)
    assert result["pack"] == {"name": "dlib", "version": "2.0"} and len(result["faces"]) == 6
    for face in result["faces"]:
        assert list(face["keypoints"]) == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
        assert set(face["pose"]) == {"yaw", "pitch", "roll"}
        assert 90 <= face["confidence"] <= 100 and face["confidence"] == 100 * face["score"]
        assert np.shape(face["landmarks"]) == (5, 2)


def test_min_face_finds_smaller_faces(data_file: Callable[[str], Path], tmp_path: Path) -> None:
    t1 = Image.open(data_file(T1)).convert("RGB")
    tiny = tmp_path / "tiny.png"  # t1's faces at about 15 px
    t1.resize((t1.width // 7, t1.height // 7), Image.LANCZOS).save(tiny)
    counts = {}
    for min_face in ("40", "15"):
        code, out, _ = run("detect", str(tiny), "--json", "--min-face", min_face)
        assert code == EXIT_OK
        counts[min_face] = len(json.loads(out)["faces"])
    assert counts["15"] > counts["40"], counts


def test_min_face_is_checked(data_file: Callable[[str], Path]) -> None:
    code, _, err = run("detect", str(data_file(T1)), "--min-face", "2")
    assert code == EXIT_USAGE and "--min-face must be 8 to 1000 pixels, got 2" in err
    code, _, err = run("detect", str(data_file(T1)), "--min-face", "30",
                       "--detector", str(data_file("models/scrfd/det_500m.onnx")),
                       "--recognizer", str(data_file("models/mobilefacenet/mobilefacenet.onnx")))
    assert code == EXIT_BAD_INPUT and "min_face applies to the dlib pack" in err


def test_index_and_search_take_min_face(data_file: Callable[[str], Path], tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert run("collection", "create", "people", "--home", home)[0] == EXIT_OK
    obama = data_file("images/face_recognition/obama-480p.jpg")
    code, out, _ = run("index", "people", str(obama), "--home", home, "--min-face", "30", "--json")
    assert code == EXIT_OK and json.loads(out)["indexed_faces"] == 1
    code, out, _ = run("search", "people", str(data_file("images/face_recognition/obama-720p.jpg")), "--home", home,
                       "--min-face", "30", "--json")
    assert code == EXIT_OK and len(json.loads(out)["face_matches"]) == 1
