"""Shared fixtures: where the real test data lives, and what to do when it is missing.

Tests that need ../shared/data (models, photos, LFW) find it through
FACEINDEX_TEST_DATA (default ../shared/data beside the repository) and skip with
a reason when it is absent; with FACEINDEX_REQUIRE_TEST_DATA=1 (CI) they fail.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

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
    FACEINDEX_TEST_CACHE, kept across runs (`make mutate` runs the tests once per mutant). Under
    pytest-xdist the workers of a run share one (beside their own temporary folders): what one worker
    converts the others reuse. faceindex names each cached file by its source's content and writes it
    atomically, so two workers converting at once only repeat work, and none reads half a file."""
    kept = os.environ.get("FACEINDEX_TEST_CACHE")
    if kept:
        path = Path(kept)
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.getbasetemp().parent / "faceindex-cache"
        path.mkdir(exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("faceindex-cache")
    with pytest.MonkeyPatch.context() as session_env:
        session_env.setenv("FACEINDEX_CACHE", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def private_cohorts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No cohort of the developer's own (faceindex cohort build) changes what compare and small
    collections do here: the tests that use one make it."""
    path = tmp_path_factory.mktemp("faceindex-cohorts")
    with pytest.MonkeyPatch.context() as session_env:
        session_env.setenv("FACEINDEX_COHORTS", str(path))
        yield path


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


# -- pytest-xdist (`make test` runs the suite on every core: -n auto --dist loadgroup) --------------


# Folders whose tests run on one worker, one after another, as xdist groups.
SERIAL_FOLDERS = {
    # Each module starts Ray (a local instance, a simulated cluster, a server's own): several at once
    # on two cores would starve each other's start-up and heartbeats; one at a time, as without xdist.
    "distributed": "ray",
}


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = REPO_ROOT / "tests"
    for item in items:
        folder = item.path.relative_to(tests).parts[0] if item.path.is_relative_to(tests) else ""
        if folder in SERIAL_FOLDERS:
            item.add_marker(pytest.mark.xdist_group(SERIAL_FOLDERS[folder]))


# The longest units of work (seconds, roughly, on 2 cores), handed out first so that none of them
# starts last and leaves one worker running alone at the end. A unit not listed is estimated by its
# number of tests; an estimate only orders the work, so a rough one is enough.
LONGEST_UNITS = {
    "group ray": 500,
    "tests/packs/test_dlib_lfw_sample.py": 350,
    "tests/evaluation/test_calibration_lfw.py": 200,
    "tests/collection/test_collection_packs.py": 130,
    "tests/packs/test_dlib_parity.py": 100,
    "tests/collection/test_collection_soak.py": 90,
    "tests/video/test_video_search.py": 70,
    "tests/service/test_service_load_faults.py": 70,
    "tests/video/test_video_faces.py": 60,
    "tests/cli/test_demo.py": 50,
    "tests/service/test_client_programs.py": 45,
    "tests/packs/test_onnx_lfw_sample.py": 45,
    "tests/service/test_video_jobs.py": 40,
    "group doc docs/video.md": 35,
    "tests/video/test_live_stream.py": 35,
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadgroup, with a test module as the unit of work rather than a single test: a module's
    tests run on one worker, in order, so that a module-scoped fixture (a server, an engine, a Ray
    instance) starts once, not once per worker. Tests marked xdist_group("name") form one unit across
    modules (tests/distributed: one Ray instance at a time; a documentation page: its examples in order).
    A free worker takes the longest unit left (LONGEST_UNITS), so the run ends with short ones."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleOrGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return "group " + nodeid.rsplit("@", 1)[1]
            return nodeid.split("::", 1)[0]

        def _assign_work_unit(self, node: Any) -> None:
            scope = max(self.workqueue, key=lambda unit: LONGEST_UNITS.get(unit, len(self.workqueue[unit]) / 4))
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

        def remove_node(self, node: Any) -> str | None:
            """A worker that crashed (a test past its timeout ends its worker): xdist fails the test it was
            running, and its unit's other tests go to the worker that replaces it. The failed test must
            not go with them: it would hang, and end a worker, again and again."""
            crashed: str | None = super().remove_node(node)
            if crashed is not None:
                for scope, unit in list(self.workqueue.items()):
                    if crashed in unit:
                        unit[crashed] = True
                    if all(unit.values()):
                        del self.workqueue[scope]
            return crashed

    return ModuleOrGroupScheduling(config, log)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The documentation's examples (tests/docs): a closing line that counts them (run, failed, skipped
    and why). Here rather than in tests/docs/conftest.py: under pytest-xdist the process that prints the
    summary collects no tests, so it loads only this conftest."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in counts:
        for report in terminalreporter.stats.get(outcome, []):
            if "test_doc_examples.py::test_example[" in getattr(report, "nodeid", "") and report.when in (
                    "call", "setup"):
                counts[outcome] += 1
    if any(counts.values()):
        terminalreporter.write_line(
            f"documentation examples: {counts['passed'] + counts['failed']} run ({counts['passed']} as shown, "
            f"{counts['failed']} not), {counts['skipped']} skipped (their reasons: pytest -ra)")
