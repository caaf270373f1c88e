"""Every fuzz harness's check() over its whole checked-in corpus (seeds and regression inputs):
what the open-ended search once found stays fixed. Needs no atheris."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "packs"))

HARNESSES = sorted(p.stem.removeprefix("fuzz_") for p in HERE.glob("fuzz_*.py") if p.stem != "fuzzing")
CASES = [(h, p) for h in HARNESSES for p in sorted((HERE / "corpus" / h).iterdir())]


def test_every_harness_has_a_corpus() -> None:
    assert set(HARNESSES) == {"collection_open", "dlib", "flat_index", "http_request", "images", "onnx_signature",
                              "video"}
    assert all(any(h == c for c, _ in CASES) for h in HARNESSES)


@pytest.mark.parametrize(("harness", "path"), CASES, ids=[f"{h}/{p.name}" for h, p in CASES])
def test_corpus_input(harness: str, path: Path) -> None:
    check = importlib.import_module(f"fuzz_{harness}").check
    check(path.read_bytes())
