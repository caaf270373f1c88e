"""FlatIndex search in two builds of faceindex, timed interleaved in one run.

    python bench/compare_builds.py OLD_DIR NEW_DIR [--rounds 9] [--threads 1] [--clock cpu] [--json FILE]

Each DIR holds an installed `faceindex` package: a venv's site-packages, or a
folder with a copy of one (copy .venv/lib/python3.*/site-packages/faceindex
before changing the code, build, and compare it with the venv's). On a shared, noisy machine two builds timed minutes apart see
different loads, so here each build is loaded in its own process and every
case runs in one and then at once in the other, round after round; new/old is
the median over rounds of these back-to-back ratios. Each case's results are
hashed as well: a change meant to keep the results must show the same hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DIM = 512
K = 10
BATCHES = (1, 4, 16, 64, 256)
DTYPES = ("f32", "f16", "i8")
LEVELS = ("auto", "avx2")


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    out = rng.standard_normal((n, DIM), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def worker(build: str, data_dir: str, threads: int) -> None:
    """Serves timings from the build at `build`: reads "level dtype batch reps"
    lines, answers each with one JSON line."""
    sys.path.insert(0, build)
    import faceindex

    if threads:
        faceindex.set_num_threads(threads)
    from faceindex.flat_index import set_simd_level, simd_features, supported_simd_levels

    vectors = np.load(Path(data_dir) / "vectors.npy", allow_pickle=False)
    queries = np.load(Path(data_dir) / "queries.npy", allow_pickle=False)
    ids = np.arange(len(vectors), dtype=np.uint64)
    indexes = {}
    for dtype in DTYPES:
        indexes[dtype] = faceindex.FlatIndex(DIM, "ip", dtype)
        indexes[dtype].add(ids, vectors)
    del vectors
    print(json.dumps({"module": faceindex.__file__, "levels": supported_simd_levels()}), flush=True)
    for line in sys.stdin:
        level, dtype, batch, reps = line.split()
        set_simd_level(level)
        q = queries[: int(batch)]
        got_ids, got_scores = indexes[dtype].search(q, K)  # warm-up
        wall, cpu = [], []
        for _ in range(int(reps)):
            start, start_cpu = time.perf_counter(), time.process_time()
            indexes[dtype].search(q, K)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        digest = hashlib.sha256(got_ids.tobytes() + got_scores.tobytes()).hexdigest()[:16]
        print(json.dumps({"wall": min(wall), "cpu": min(cpu), "hash": digest, "features": simd_features()}),
              flush=True)


class Worker:
    def __init__(self, build: str, data_dir: str, threads: int) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", build, data_dir, str(threads)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("worker died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def time(self, case: tuple[str, str, int], reps: int) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{case[0]} {case[1]} {case[2]} {reps}\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--reps", type=int, default=3, help="timed searches per case and round (the fastest counts)")
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=0, help="search threads (0: faceindex's default, every core)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: the process's CPU time, which time the scheduler gives to other work leaves out")
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=DTYPES)
    parser.add_argument("--batches", nargs="+", type=int, default=BATCHES)
    parser.add_argument("--json", help="write the table here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        rng = np.random.default_rng(12345)
        np.save(Path(data_dir) / "vectors.npy", unit(rng, args.n))
        np.save(Path(data_dir) / "queries.npy", unit(rng, max(args.batches)))
        workers = {"old": Worker(args.old, data_dir, args.threads), "new": Worker(args.new, data_dir, args.threads)}
    levels = [level for level in LEVELS if level == "auto" or level in workers["old"].info["levels"]]
    cases = [(level, dtype, batch) for level in levels for dtype in args.dtypes for batch in args.batches]
    runs: dict[tuple[str, str, int], dict[str, list[dict[str, Any]]]] = {c: {"old": [], "new": []} for c in cases}
    # Both builds stay loaded; each case runs in one, then at once in the
    # other (which goes first alternates), so that both see the same load.
    for r in range(args.rounds):
        for i, case in enumerate(cases):
            for which in ("old", "new") if (r + i) % 2 == 0 else ("new", "old"):
                runs[case][which].append(workers[which].time(case, args.reps))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    for w in workers.values():
        w.close()

    for which in ("old", "new"):
        print(f"{which}: {workers[which].info['module']}")
    rows = []
    print(f"{'case':30s} {'old ms':>9s} {'new ms':>9s} {'new/old':>8s} {'(range)':>13s}  results")
    for case in cases:
        old = [t[args.clock] for t in runs[case]["old"]]
        new = [t[args.clock] for t in runs[case]["new"]]
        # Each round's ratio compares two runs made one after the other.
        ratios = sorted(n / o for n, o in zip(new, old))
        ratio = statistics.median(ratios)
        hashes = {t["hash"] for which in ("old", "new") for t in runs[case][which]}
        same = "identical" if len(hashes) == 1 else "DIFFER"
        name = f"{runs[case]['old'][0]['features']} {case[1]} q{case[2]}"
        rows.append({"case": name, "old_ms": round(statistics.median(old) * 1e3, 3),
                     "new_ms": round(statistics.median(new) * 1e3, 3), "new_over_old": round(ratio, 3),
                     "ratio_range": [round(ratios[0], 3), round(ratios[-1], 3)], "results": same})
        print(f"{name:30s} {statistics.median(old) * 1e3:9.2f} {statistics.median(new) * 1e3:9.2f} {ratio:8.3f} "
              f"{ratios[0]:6.3f}-{ratios[-1]:5.3f}  {same}")
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "dim": DIM, "k": K, "rounds": args.rounds, "reps": args.reps,
                                               "threads": args.threads, "clock": args.clock, "cases": rows}, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
