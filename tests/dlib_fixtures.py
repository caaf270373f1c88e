"""Session fixtures for the dlib pack tests: one converted cache in a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dlib_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # FACEINDEX_CACHE=<base>/faceindex-cache puts the dlib pack here too (see test_dlib_engine).
    return tmp_path_factory.getbasetemp() / "faceindex-cache" / "dlib"


@pytest.fixture(scope="session")
def dlib_pack(dlib_cache: Path) -> Any:
    from faceindex.packs.dlib import DlibPack

    return DlibPack(backend="onnxruntime", cache_dir=dlib_cache)
