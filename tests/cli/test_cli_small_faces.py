"""`faceindex detect/index/search/video --min-face` and the face as the CLI's JSON gives it:
Rekognition's keypoints and pose under their names, the measured confidence (real models and photos)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
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
    # t1's faces at about 12 px in a 1280 x 720 frame: under what YuNet proposes at the frame's own size
    # (min_face 40; it finds some faces smaller than that, not all), found when the frame is enlarged.
    frame = Image.new("RGB", (1280, 720), (120, 110, 100))
    frame.paste(t1.resize((t1.width // 10, t1.height // 10), Image.LANCZOS), (200, 150))
    tiny = tmp_path / "tiny.png"
    frame.save(tiny)
    counts = {}
    for min_face in ("40", "10"):
        code, out, _ = run("detect", str(tiny), "--json", "--min-face", min_face)
        assert code == EXIT_OK
        counts[min_face] = len(json.loads(out)["faces"])
    assert counts["10"] > counts["40"], counts


def test_min_face_is_checked(data_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run("detect", str(data_file(T1)), "--min-face", "2")
    assert code == EXIT_USAGE and "--min-face must be 8 to 1000 pixels, got 2" in capsys.readouterr().err  # argparse's
    code, _, err = run("detect", str(data_file(T1)), "--min-face", "30",
                       "--detector", str(data_file("models/scrfd/det_500m.onnx")),
                       "--recognizer", str(data_file("models/mobilefacenet/mobilefacenet.onnx")))
    assert code == EXIT_BAD_INPUT and "--min-face applies to the dlib pack" in err  # in CLI terms


def test_index_and_search_take_min_face(data_file: Callable[[str], Path], tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert run("collection", "create", "people", "--home", home)[0] == EXIT_OK
    obama = data_file("images/face_recognition/obama-480p.jpg")
    code, out, _ = run("index", "people", str(obama), "--home", home, "--min-face", "30", "--json")
    assert code == EXIT_OK and json.loads(out)["indexed_faces"] == 1
    code, out, _ = run("search", "people", str(data_file("images/face_recognition/obama-720p.jpg")), "--home", home,
                       "--min-face", "30", "--json")
    assert code == EXIT_OK and len(json.loads(out)["face_matches"]) == 1
