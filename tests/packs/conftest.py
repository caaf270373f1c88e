"""Fixtures of the model pack tests: the dlib pack, converted once into this run's cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dlib_cache(private_cache: Path) -> Path:
    """Where FaceEngine() of this test run converts the dlib models (FACEINDEX_CACHE/dlib)."""
    return private_cache / "dlib"


@pytest.fixture(scope="session")
def dlib_pack(dlib_cache: Path) -> Any:
    from faceindex.packs.dlib import DlibPack

    # upsample=0, as dlib's own detector(image, 0) that the parity tests compare with; the
    # engine's default (a second look at twice the size when nothing is found) is tested on FaceEngine().
    return DlibPack(backend="onnxruntime", cache_dir=dlib_cache, upsample=0)
