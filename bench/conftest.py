"""Benchmark plumbing: peers side by side in one run, reported as ratios.

A bench module declares `RATIOS = [Ratio(...)]` naming benchmark keys (set with
`benchmark.extra_info["key"] = ...`); at the end of the run every ratio is
computed from the medians of that run, printed as a table with its target, and
written with the raw timings to bench/results/<module>.json. Other measurements
(accuracy, sizes) go through the `record` fixture into the same file.

Sizes: a suite declares each of its sizes with `bench_size(env, full=, quick=)`:
$env when set, else the quick size under `make bench-check` (FACEINDEX_BENCH_QUICK=1),
else the full one (`make bench`). Declaring them is how a suite joins bench-check;
the sizes a run used are written with its results.

Rounds: with FACEINDEX_BENCH_ROUNDS=R (bench-check sets it) every benchmark runs R
times, the suite's benchmarks interleaved (round 1 of each, then round 2 of each, ...),
so that drift of a shared machine falls on ours and the peer alike; a ratio is the
median over rounds of the ratio within each round. FACEINDEX_BENCH_RESULTS puts the
results files elsewhere than bench/results (bench-check's quick runs).
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest

RESULTS_DIR = Path(os.environ.get("FACEINDEX_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
QUICK_ENV = "FACEINDEX_BENCH_QUICK"
ROUNDS = max(1, int(os.environ.get("FACEINDEX_BENCH_ROUNDS", "1")))


@dataclass(frozen=True)
class Ratio:
    label: str
    numerator: str  # benchmark key: time of this ...
    denominator: str  # ... over the time of this
    target: str = ""  # e.g. "<= 1.3" or ">= 2" (informational: benchmarks never fail on speed)
    better: str = ""  # "lower" or "higher" where the target does not say (bench-check gates on it)

    def meets(self, value: float) -> bool | None:
        if not self.target:
            return None
        op, bound = self.target.split()
        return value <= float(bound) if op == "<=" else value >= float(bound)

    @property
    def direction(self) -> str:
        """Which way is better: given, or the target's ("<=": lower, ">=": higher); "" when neither says."""
        return self.better or direction_of(self.target)


def direction_of(target: str) -> str:
    return "higher" if target.startswith(">=") else "lower" if target.startswith("<=") else ""


_sizes: dict[str, dict[str, int]] = {}


def quick() -> bool:
    return os.environ.get(QUICK_ENV, "") == "1"


def bench_size(env: str, full: int, quick: int) -> int:
    """A size of the calling suite: $env, else `quick` under bench-check, else `full`."""
    suite = Path(inspect.stack()[1].filename).stem
    configured = os.environ.get(env)
    value = int(configured) if configured else (quick if globals()["quick"]() else full)
    _sizes.setdefault(suite, {})[env] = value
    return value


_records: dict[str, dict[str, Any]] = {}


def _suite_of(node: Any) -> str:
    return Path(str(node.fspath)).stem


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """record(name, **values): keep a measurement in this module's results file."""
    suite = _suite_of(request.node)

    def put(name: str, **values: Any) -> None:
        _records.setdefault(suite, {})[name] = values
        print(f"[{suite}] {name}: {values}")
        # Kept on disk at once: an hour of LFW must not depend on the end of the run.
        RESULTS_DIR.mkdir(exist_ok=True)
        partial = {"machine": machine(), "timings": {}, "ratios": [], "records": _records[suite]}
        (RESULTS_DIR / f"{suite}.json").write_text(json.dumps(partial, indent=2, default=float) + "\n")

    return put


@pytest.fixture(autouse=True)
def bench_round(request: pytest.FixtureRequest) -> int:
    """Which of the FACEINDEX_BENCH_ROUNDS rounds a benchmark runs in (0 when there is one)."""
    return int(getattr(request, "param", 0))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if ROUNDS > 1 and "benchmark" in metafunc.fixturenames:
        metafunc.parametrize("bench_round", range(ROUNDS), indirect=True, ids=[f"round{r}" for r in range(ROUNDS)])


def machine() -> dict[str, Any]:
    import faceindex

    info = faceindex.build_info()
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": info["cpu"]["cores"],
        "python": platform.python_version(),
        "faceindex": info["version"],
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _round_of(bench: Any) -> int:
    """The bench_round a benchmark ran in (from its parameters; 0 without rounds)."""
    params = getattr(bench, "params", None) or {}
    return int(params.get("bench_round", bench.extra_info.get("round", 0)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    timings: dict[str, dict[str, dict[str, Any]]] = {}
    per_round: dict[str, dict[str, dict[int, float]]] = {}  # suite -> key -> round -> median
    if session is not None:
        for bench in session.benchmarks:
            key = bench.extra_info.get("key")
            if not key or bench.has_error:
                continue
            suite = Path(bench.fullname.split("::")[0]).stem
            per_round.setdefault(suite, {}).setdefault(key, {})[_round_of(bench)] = bench.stats.median
            stats = bench.stats
            entry = timings.setdefault(suite, {}).setdefault(key, {"median_s": [], "min_s": [], "mean_s": [],
                                                                   "rounds": 0})
            entry["median_s"].append(stats.median)
            entry["min_s"].append(stats.min)
            entry["mean_s"].append(stats.mean)
            entry["rounds"] += stats.rounds
    for suite_timings in timings.values():
        for entry in suite_timings.values():
            if len(entry["median_s"]) > 1:
                entry["round_medians_s"] = list(entry["median_s"])
            entry["median_s"] = statistics.median(entry["median_s"])
            entry["min_s"] = min(entry["min_s"])
            entry["mean_s"] = statistics.mean(entry["mean_s"])
    modules = {Path(str(item.fspath)).stem: item.module for item in getattr(config, "_bench_items", [])}
    suites = sorted(set(timings) | set(_records))
    if not suites:
        return
    RESULTS_DIR.mkdir(exist_ok=True)
    for suite in suites:
        ratios_out = []
        module = modules.get(suite)
        lines = []
        for ratio in getattr(module, "RATIOS", []):
            rounds = per_round.get(suite, {})
            if ratio.numerator not in rounds or ratio.denominator not in rounds:
                continue
            # Each round's ratio compares timings made close together; the median over rounds.
            both = sorted(set(rounds[ratio.numerator]) & set(rounds[ratio.denominator]))
            values = [rounds[ratio.numerator][r] / rounds[ratio.denominator][r] for r in both]
            value = statistics.median(values)
            ok = ratio.meets(value)
            ratios_out.append({**ratio.__dict__, "better": ratio.direction, "value": value, "meets_target": ok,
                               **({"round_values": values} if len(values) > 1 else {})})
            verdict = "" if ok is None else ("ok" if ok else "MISSED")
            lines.append(f"  {ratio.label:<58} {value:8.3f}  {ratio.target:>8}  {verdict}")
        result = {"machine": machine(), "quick": quick(), "sizes": _sizes.get(suite, {}), "bench_rounds": ROUNDS,
                  "timings": timings.get(suite, {}), "ratios": ratios_out, "records": _records.get(suite, {})}
        path = RESULTS_DIR / f"{suite}.json"
        path.write_text(json.dumps(result, indent=2, default=float) + "\n")
        terminalreporter.write_sep("=", f"{suite}: ratios (median times, this run) -> {path.name}")
        for key, t in sorted(timings.get(suite, {}).items()):
            terminalreporter.write_line(f"  {key:<58} {t['median_s'] * 1e3:10.2f} ms")
        if lines:
            terminalreporter.write_line(f"  {'ratio':<58} {'value':>8}  {'target':>8}")
            for line in lines:
                terminalreporter.write_line(line)
        for name, values in _records.get(suite, {}).items():
            terminalreporter.write_line(f"  {name}: {values}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ROUNDS > 1:
        # Round 1 of every benchmark, then round 2, ...: a stable sort keeps the order within a round.
        def round_of(item: pytest.Item) -> int:
            callspec = getattr(item, "callspec", None)
            return int(callspec.params.get("bench_round", 0)) if callspec is not None else 0

        items.sort(key=round_of)
    config._bench_items = items  # type: ignore[attr-defined]


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") == "1"
