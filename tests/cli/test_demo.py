"""`make demo` runs: on the astronaut portrait from scikit-image, and on a folder of photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from collections.abc import Callable


def run_demo(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "faceindex.demo", *args], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_on_the_astronaut() -> None:
    out = run_demo()
    assert "astronaut.png: 1 face(s)" in out
    assert "same person: True" in out
    assert "after delete_faces: 0 match(es); 0 faces stored" in out


def test_demo_on_a_folder(data_file: Callable[[str], Path]) -> None:
    out = run_demo(str(data_file("images/face_recognition/knn_examples/train")))
    assert "indexed 9 faces from 9 photos" in out
    assert "obama/obama.jpg face" in out and "obama in another photo" in out
    assert "alex_lacamoire/img1.jpg face" in out and "in no other photo" in out
