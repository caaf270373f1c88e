"""make bench-check: every benchmark suite at its quick size, its ratios against the stored ones.

    python bench/check.py                      run and compare (exit 1 on a regression)
    python bench/check.py --calibrate 3        run 3 times and store the reference + noise margins
    python bench/check.py --suites bench_flat_index bench_collection
    python bench/check.py --baseline DIR       also time FlatIndex against another build (bench/compare_builds.py)

Each suite runs in its own pytest process with FACEINDEX_BENCH_QUICK=1 (its quick sizes, declared
with conftest.bench_size) and FACEINDEX_BENCH_ROUNDS (its benchmarks interleaved, round after round,
so ours and the peer see the same machine), results in a scratch folder; pytest-benchmark's JSON
stays the format. A ratio is a RATIOS entry of a suite (ours / peer, timed in one run) or a
record with a value (or ratio) and a target. The reference, bench/results/quick/<suite>.json, is
the median of --calibrate runs; each ratio's noise margin is measured there:

    margin = max(10%, 2 x the largest distance of a calibration run from their median)

(distances in log space, so 10% up and 10% down weigh the same). A ratio regresses when it moves
the wrong way (its target's, or the suite's `better`) by more than its margin; a ratio with no
direction is shown, never gated. With --baseline, every FlatIndex case's new/old time must stay
within the build comparison's own noise (its range over rounds) or 10%.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
QUICK_RESULTS = BENCH / "results" / "quick"
FLOOR = math.log(1.10)  # the smallest margin: 10%
SPREAD = 2.0            # margin = SPREAD x the largest calibration distance from the median


def suites() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("bench_*.py"))


def declares_quick_sizes(suite: str) -> bool:
    return "bench_size(" in (BENCH / f"{suite}.py").read_text() or "quick()" in (BENCH / f"{suite}.py").read_text()


def direction(target: str, better: str = "") -> str:
    return better or ("higher" if target.startswith(">=") else "lower" if target.startswith("<=") else "")


def ratios_of(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """label -> {value, better, target} from a suite's results file."""
    out: dict[str, dict[str, Any]] = {}
    for r in result.get("ratios", []):
        out[r["label"]] = {"value": r["value"], "better": r.get("better") or direction(r.get("target", "")),
                           "target": r.get("target", "")}

    def take(name: str, values: Any) -> None:
        if not isinstance(values, dict):
            return
        value = values.get("value", values.get("ratio"))
        if "target" in values and isinstance(value, (int, float)):
            out[name] = {"value": float(value), "better": direction(values["target"], values.get("better", "")),
                         "target": values["target"]}
            return
        for key, inner in values.items():
            if isinstance(inner, dict) and "target" in inner:
                take(f"{name}: {key}", inner)

    for name, values in result.get("records", {}).items():
        take(name, values)
    return out


def run_suite(suite: str, rounds: int, scratch: Path) -> tuple[dict[str, Any] | None, str, float]:
    """(results, what happened, seconds) of one quick run of a suite."""
    env = {**os.environ, "FACEINDEX_BENCH_QUICK": "1", "FACEINDEX_BENCH_ROUNDS": str(rounds),
           "FACEINDEX_BENCH_RESULTS": str(scratch), "FACEINDEX_TEST_DATA": os.environ.get(
               "FACEINDEX_TEST_DATA", str(REPO.parent / "shared" / "data"))}
    (scratch / "pytest-benchmark").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCH / f"{suite}.py"), "-q", "-o", "python_files=bench_*.py",
         "-o", "testpaths=bench", "-p", "no:cacheprovider",
         f"--benchmark-json={scratch / 'pytest-benchmark' / f'{suite}.json'}",
         "-W", "ignore:Not saving anything:pytest_benchmark.logger.PytestBenchmarkWarning"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    path = scratch / f"{suite}.json"
    lines = (done.stdout + done.stderr).strip().splitlines()
    # pytest's summary ("1 failed, 3 passed in 20 s"), not whatever a plugin printed last
    tail = [line for line in lines if " passed" in line or " failed" in line or " error" in line][-1:] \
        or lines[-1:] or [""]
    if done.returncode not in (0, 5):  # 5: nothing collected (every test skipped at collection)
        return None, f"failed: {tail[0]}", seconds
    if not path.exists():
        return None, f"no results ({tail[0]})", seconds
    return json.loads(path.read_text()), tail[0], seconds


def compare(suite: str, current: dict[str, dict[str, Any]], reference: dict[str, Any]) -> list[str]:
    """Lines of the report; those starting with REGRESSED or MISSING fail the check."""
    lines = []
    for label, ref in reference["ratios"].items():
        now = current.get(label)
        if now is None:
            lines.append(f"MISSING    {suite}: {label} (in the reference, not measured now)")
            continue
        moved = math.log(now["value"] / ref["median"])
        worse = moved if ref["better"] == "lower" else -moved if ref["better"] == "higher" else 0.0
        verdict = "REGRESSED " if worse > ref["margin"] else "ok        " if ref["better"] else "(no gate) "
        lines.append(f"{verdict} {suite}: {label}: {now['value']:.3f} (reference {ref['median']:.3f}, "
                     f"margin {math.exp(ref['margin']) - 1:.0%}, {ref['better'] or 'no direction'} is better)")
    for label in sorted(set(current) - set(reference["ratios"])):
        lines.append(f"new        {suite}: {label}: {current[label]['value']:.3f} (not in the reference yet)")
    return lines


def calibrate(runs: list[dict[str, dict[str, Any]]], sizes: dict[str, Any]) -> dict[str, Any]:
    ratios = {}
    for label in sorted(set().union(*runs)):
        values = [r[label]["value"] for r in runs if label in r and r[label]["value"] > 0]
        if not values:
            continue
        median = statistics.median(values)
        spread = max(abs(math.log(v / median)) for v in values)
        first = next(r[label] for r in runs if label in r)
        ratios[label] = {"median": median, "values": values, "margin": max(FLOOR, SPREAD * spread),
                         "better": first["better"], "target": first["target"]}
    return {"sizes": sizes, "runs": len(runs), "ratios": ratios}


def baseline_check(baseline: str, scratch: Path) -> tuple[list[str], bool]:
    out = scratch / "builds.json"
    site = subprocess.run([sys.executable, "-c", "import faceindex, os; print(os.path.dirname(os.path.dirname("
                           "faceindex.__file__)))"], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, str(BENCH / "compare_builds.py"), baseline, site, "--n", "100000",
                    "--batches", "1", "16", "--rounds", "5", "--json", str(out)], check=True, cwd=REPO)
    lines, failed = [], False
    for case in json.loads(out.read_text())["cases"]:
        low, high = case["ratio_range"]
        allowed = max(FLOOR, math.log(high / low) if low > 0 else FLOOR)
        bad = math.log(case["new_over_old"]) > allowed or case["results"] != "identical"
        failed |= bad
        lines.append(f"{'REGRESSED ' if bad else 'ok        '} build: {case['case']}: new/old {case['new_over_old']:.3f} "
                     f"(allowed {math.exp(allowed) - 1:.0%}), results {case['results']}")
    return lines, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", nargs="+", default=None, help="default: every bench/bench_*.py")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds within each suite")
    parser.add_argument("--calibrate", type=int, default=0, metavar="N",
                        help="run every suite N times and store the reference and margins")
    parser.add_argument("--baseline", help="an installed faceindex of another build (a site-packages folder)")
    parser.add_argument("--keep", type=Path, help="keep the runs' results files in this folder")
    args = parser.parse_args()
    chosen = args.suites or suites()
    QUICK_RESULTS.mkdir(parents=True, exist_ok=True)
    failed = False
    report: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        scratch = args.keep or Path(tmp)
        runs: dict[str, list[dict[str, dict[str, Any]]]] = {s: [] for s in chosen}
        sizes: dict[str, Any] = {}
        for run in range(max(1, args.calibrate)):
            # Suites in a rotated order each calibration run: drift over the runs falls on all of them.
            order = chosen[run % len(chosen):] + chosen[:run % len(chosen)]
            for suite in order:
                if not declares_quick_sizes(suite):
                    report.append(f"NO QUICK   {suite}: declares no quick size (conftest.bench_size): not run")
                    failed = True
                    continue
                result, how, seconds = run_suite(suite, args.rounds, scratch / f"run{run}")
                print(f"[{time.perf_counter() - started:7.0f} s] {suite}: {seconds:.0f} s, {how}", flush=True)
                if result is None:
                    report.append(f"FAILED     {suite}: {how}")
                    failed = True
                    continue
                sizes[suite] = result.get("sizes", {})
                runs[suite].append(ratios_of(result))
        for suite in chosen:
            if not runs[suite]:
                continue
            path = QUICK_RESULTS / f"{suite}.json"
            if args.calibrate:
                path.write_text(json.dumps(calibrate(runs[suite], sizes.get(suite, {})), indent=1) + "\n")
                report.append(f"calibrated {suite}: {len(runs[suite])} runs -> {path.relative_to(REPO)}")
                continue
            if not path.exists():
                report.append(f"NO REF     {suite}: no reference (python bench/check.py --calibrate 3 --suites {suite})")
                failed = True
                continue
            reference = json.loads(path.read_text())
            if reference["sizes"] != sizes.get(suite, {}):
                report.append(f"SIZES      {suite}: measured at {sizes.get(suite)}, the reference at "
                              f"{reference['sizes']}: calibrate again")
                failed = True
                continue
            lines = compare(suite, runs[suite][0], reference)
            failed |= any(line.startswith(("REGRESSED", "MISSING")) for line in lines)
            report += lines
        if args.baseline:
            lines, bad = baseline_check(args.baseline, scratch)
            report += lines
            failed |= bad
    print("\n".join(report))
    print(f"bench-check: {'FAILED' if failed else 'passed'} in {time.perf_counter() - started:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
