"""Collections at the release sizes: bench_collection.py once per size, one size at a time.

    python bench/collection_scale.py                       every size below, in turn
    python bench/collection_scale.py --sizes 1000000x512   some of them

Each size is a fresh run of bench/bench_collection.py (plain collections; the f32, i8 and f16
caches side by side where they fit) with its collection under a scratch folder that is removed
afterwards. Before each, the memory and disk it needs are checked against what is free; a size
that does not fit is recorded as not run, with the figures, and the next one is tried. The
results of every size run go to bench/results/collection_scale.json (sizes run at different
times are kept side by side) and its table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "results" / "collection_scale.json"
SIZES = ("1000000x512", "5000000x512", "10000000x512", "20000000x128")
MIN_FREE_GIB = 16  # the lead's rule for a large run on this shared machine


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def needs(faces: int, dim: int, caches: list[str]) -> tuple[int, int]:
    """(memory, disk) in bytes: the largest cache in memory (one open at a time), and the
    database (embedding + ~600 bytes of row and index a face) with every cache file on disk."""
    per_value = {"f32": 4, "f16": 2, "i8": 1}
    cache = {c: faces * (dim * per_value[c] + 40) for c in caches}
    return max(cache.values()), faces * (4 * dim + 600) + max(cache.values())


def run_size(size: str, caches: list[str], scratch: Path) -> dict[str, Any]:
    faces, dim = (int(x) for x in size.split("x"))
    memory, disk = needs(faces, dim, caches)
    free_disk = shutil.disk_usage(scratch).free
    if available_bytes() < MIN_FREE_GIB * 2**30 and faces > 1_000_000:
        return {"not_run": f"{available_bytes() / 2**30:.1f} GiB of memory free, under the {MIN_FREE_GIB} GiB a "
                           "large run asks for on this shared machine"}
    if disk > 0.9 * free_disk:
        return {"not_run": f"needs ~{disk / 2**30:.0f} GiB of disk, {free_disk / 2**30:.0f} GiB free"}
    results = scratch / "results"
    results.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FACEINDEX_BENCH_COLLECTION_FACES": str(faces), "FACEINDEX_BENCH_COLLECTION_DIM": str(dim),
           "FACEINDEX_BENCH_COLLECTION_CACHES": ",".join(caches), "FACEINDEX_BENCH_COLLECTION_VARIANTS": "plain",
           "FACEINDEX_BENCH_COLLECTION_INSERT_FACES": str(min(faces, 200_000)),
           "FACEINDEX_BENCH_RESULTS": str(results)}
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCH / "bench_collection.py"), "-q", "-o", "python_files=bench_*.py",
         "-o", "testpaths=bench", "-p", "no:cacheprovider", f"--basetemp={scratch / 'tmp'}",
         f"--benchmark-json={results / 'pytest-benchmark.json'}",
         "-W", "ignore:Not saving anything:pytest_benchmark.logger.PytestBenchmarkWarning"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False)
    out: dict[str, Any] = {"faces": faces, "dim": dim, "caches": caches, "seconds": time.time() - start,
                           "memory_needed_gib": memory / 2**30, "disk_needed_gib": disk / 2**30}
    if done.returncode != 0:
        out["failed"] = (done.stdout + done.stderr)[-4000:]
    path = results / "bench_collection.json"
    if path.exists():
        out["result"] = json.loads(path.read_text())
    return out


def table(runs: dict[str, Any]) -> list[str]:
    lines = []
    for size, run in runs.items():
        if "not_run" in run:
            lines.append(f"{size}: not run: {run['not_run']}")
            continue
        result = run.get("result", {})
        records, timings = result.get("records", {}), result.get("timings", {})
        lines.append(f"{size} ({run['seconds'] / 60:.0f} min){' FAILED' if 'failed' in run else ''}")
        for cache in run["caches"]:
            memory, opened = records.get(f"memory, {cache} cache", {}), records.get(f"open, {cache} cache", {})
            searches = [timings.get(f"search_q{b}_{cache}", {}).get("median_s") for b in (1, 16, 256)]
            shares = [records.get(f"re-scored share, {cache} cache, threshold {t}, batch 1", {}).get("per_query")
                      for t in ("-1", "0.43" if run["dim"] == 512 else "0.94")]
            lines.append(
                f"  {cache}: RSS after open {memory.get('rss_after_open', 0) / 2**30:.2f} GiB, after 100 searches "
                f"{memory.get('rss_after_searches', 0) / 2**30:.2f} GiB; open {opened.get('seconds_median', 0):.2f} s; "
                f"search 1/16/256 faces " + " / ".join(f"{s * 1e3:.1f} ms" if s else "-" for s in searches)
                + (f"; re-scored per query {shares[0]:.0f} (threshold -1), {shares[1]:.0f} (match threshold)"
                   if shares[0] is not None and shares[1] is not None else ""))
        for ratio in result.get("ratios", []):
            lines.append(f"  {ratio['label']}: {ratio['value']:.3f} {ratio['target']}")
        for name, values in records.items():
            if isinstance(values, dict) and "value" in values:
                lines.append(f"  {name}: {values['value']:.3f} {values.get('target', '')}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), help="FACESxDIM, e.g. 10000000x512")
    parser.add_argument("--caches", default="f32,i8,f16")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp"), help="where the collections are made")
    args = parser.parse_args()
    runs = json.loads(OUT.read_text()) if OUT.exists() else {}
    for size in args.sizes:
        scratch = args.scratch / f"faceindex-scale-{size}-{os.getpid()}"
        scratch.mkdir(parents=True)
        try:
            print(f"{size}: running", flush=True)
            runs[size] = run_size(size, args.caches.split(","), scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        OUT.write_text(json.dumps(runs, indent=1, default=float) + "\n")
        print("\n".join(table({size: runs[size]})), flush=True)
    print("\n".join(table(runs)))


if __name__ == "__main__":
    main()
