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

    # dlib's CNN alone at upsample=0 and one chip per face, as dlib's own detector(image, 0) and
    # compute_face_descriptor that the parity tests compare with; the default pack (YuNet proposes,
    # dlib's CNN confirms; mirror-averaged embeddings) is tested on FaceEngine().
    return DlibPack(backend="onnxruntime", cache_dir=dlib_cache, upsample=0, detector="mmod", mirror=False)
