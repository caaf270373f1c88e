"""Where the ONNX benchmarks find the shared test data (as the tests do: $FACEINDEX_TEST_DATA,
else ../shared/data beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data(required: str) -> Path:
    """The data root, or skip when `required` (a path under it) is missing."""
    configured = os.environ.get("FACEINDEX_TEST_DATA")
    root = Path(configured).resolve() if configured else REPO_ROOT.parent / "shared" / "data"
    if not (root / required).exists():
        pytest.skip(f"test data missing: {root / required} (set FACEINDEX_TEST_DATA)")
    return root
