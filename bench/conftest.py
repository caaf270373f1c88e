"""Benchmark plumbing: peers side by side in one run, reported as ratios.

A bench module declares `RATIOS = [Ratio(...)]` naming benchmark keys (set with
`benchmark.extra_info["key"] = ...`); at the end of the run every ratio is
computed from the medians of that run, printed as a table with its target, and
written with the raw timings to bench/results/<module>.json. Other measurements
(accuracy, sizes) go through the `record` fixture into the same file.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Ratio:
    label: str
    numerator: str  # benchmark key: time of this ...
    denominator: str  # ... over the time of this
    target: str = ""  # e.g. "<= 1.3" or ">= 2" (informational: benchmarks never fail on speed)

    def meets(self, value: float) -> bool | None:
        if not self.target:
            return None
        op, bound = self.target.split()
        return value <= float(bound) if op == "<=" else value >= float(bound)


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


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    timings: dict[str, dict[str, dict[str, float]]] = {}
    if session is not None:
        for bench in session.benchmarks:
            key = bench.extra_info.get("key")
            if not key or bench.has_error:
                continue
            suite = Path(bench.fullname.split("::")[0]).stem
            stats = bench.stats
            timings.setdefault(suite, {})[key] = {
                "median_s": stats.median,
                "min_s": stats.min,
                "mean_s": stats.mean,
                "rounds": stats.rounds,
            }
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
            t = timings.get(suite, {})
            if ratio.numerator not in t or ratio.denominator not in t:
                continue
            value = t[ratio.numerator]["median_s"] / t[ratio.denominator]["median_s"]
            ok = ratio.meets(value)
            ratios_out.append({**ratio.__dict__, "value": value, "meets_target": ok})
            verdict = "" if ok is None else ("ok" if ok else "MISSED")
            lines.append(f"  {ratio.label:<58} {value:8.3f}  {ratio.target:>8}  {verdict}")
        result = {"machine": machine(), "timings": timings.get(suite, {}), "ratios": ratios_out,
                  "records": _records.get(suite, {})}
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
    config._bench_items = items  # type: ignore[attr-defined]


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") == "1"
