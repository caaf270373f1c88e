"""Shared fixtures: where the real test data lives, and what to do when it is missing.

Tests that need ../shared/data (models, photos, LFW) find it through
FACEINDEX_TEST_DATA (default ../shared/data beside the repository) and skip with
a reason when it is absent; with FACEINDEX_REQUIRE_TEST_DATA=1 (CI) they fail.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

# `make mutate` (scripts/mutate.py): every mutant meets the same examples, and no failing example
# of one mutant is replayed for the next (--hypothesis-profile=mutation).
settings.register_profile("mutation", database=None, derandomize=True)

# A developer's own key file must not turn every plain collection the tests make into a
# CollectionKeyError; the encryption tests name their keys themselves.
os.environ.pop("FACEINDEX_KEY_FILE", None)

# Every Ray node the tests start binds to 127.0.0.1 (Ray reads this when first imported; see
# faceindex.distributed.connect), and the CLI processes they start inherit it.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# One authentication mode for every Ray instance of the run (Ray keeps the first it sees in the
# process): none, since they listen on loopback only and the tests join the endpoint's own instance.
os.environ["RAY_AUTH_MODE"] = "disabled"

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_data_root() -> Path:
    configured = os.environ.get("FACEINDEX_TEST_DATA")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_absolute() else (Path.cwd() / path)


def data_required() -> bool:
    return os.environ.get("FACEINDEX_REQUIRE_TEST_DATA", "") == "1"


def missing_data(what: str) -> None:
    message = f"test data missing: {what} (set FACEINDEX_TEST_DATA to the shared data folder)"
    if data_required():
        pytest.fail(message + "; FACEINDEX_REQUIRE_TEST_DATA=1 makes this a failure", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Converted models and rewritten networks go to a cache of this run, not the user's; or to
    FACEINDEX_TEST_CACHE, kept across runs (`make mutate` runs the tests once per mutant)."""
    kept = os.environ.get("FACEINDEX_TEST_CACHE")
    path = Path(kept) if kept else tmp_path_factory.mktemp("faceindex-cache")
    before = os.environ.get("FACEINDEX_CACHE")
    os.environ["FACEINDEX_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("FACEINDEX_CACHE", None)
    else:
        os.environ["FACEINDEX_CACHE"] = before


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = test_data_root()
    if not root.is_dir():
        missing_data(str(root))
    return root


@pytest.fixture(scope="session")
def data_file(data_dir: Path) -> Callable[[str], Path]:
    """data_file("images/insightface/t1.jpg") -> the path, or skip/fail when absent."""

    def find(relative: str) -> Path:
        path = data_dir / relative
        if not path.exists():
            missing_data(str(path))
        return path

    return find


@pytest.fixture(scope="session", autouse=True)
def sanitizer_build() -> None:
    """Under `make check-sanitizers`: the instrumented extension is the one imported, or nothing was checked."""
    if os.environ.get("FACEINDEX_EXPECT_SANITIZERS") != "1":
        return
    import faceindex._core

    assert "asan-site" in faceindex._core.__file__, f"not the sanitizer build: {faceindex._core.__file__}"
    maps = Path("/proc/self/maps").read_text()
    assert "libasan" in maps and "libubsan" in maps, "the ASan/UBSan runtimes are not loaded"
