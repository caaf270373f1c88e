"""Before/after: the same face-pipeline timings on two builds of faceindex, in one run.

    python bench/ab_builds.py OLD_PYTHON NEW_PYTHON [--rounds 7] [--json out.json]

Each python is an interpreter with a faceindex build installed (a venv of an older
checkout, and this one). The rounds alternate old, new, old, new, ... in fresh
processes, so drift of a noisy machine falls on both; the report gives each case's
median over rounds and the ratio new / old (below 1: the new build is faster).
The cases use only API that both builds have: FaceEngine analyze/detect/compare and a
collection search, on the shared test photos.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

CASES = textwrap.dedent(
    r'''
    import json, os, sys, tempfile, time, warnings
    import numpy as np
    import faceindex
    data = sys.argv[1]
    warnings.simplefilter("ignore")
    t1 = faceindex.load_image(f"{data}/images/insightface/t1.jpg")
    obama = faceindex.load_image(f"{data}/images/face_recognition/obama-720p.jpg")

    def best(fn, repeat):
        fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    out = {}
    dlib = faceindex.FaceEngine()
    out["dlib analyze t1 (6 faces)"] = best(lambda: dlib.analyze(t1), 3)
    out["dlib compare 720p photos"] = best(lambda: dlib.compare(obama, obama), 3)
    onnx = faceindex.FaceEngine(detector=f"{data}/models/scrfd/det_500m.onnx",
                                recognizer=f"{data}/models/mobilefacenet/mobilefacenet.onnx")
    out["scrfd500m detect t1"] = best(lambda: onnx.detect(t1), 10)
    out["scrfd500m+mbf analyze t1"] = best(lambda: onnx.analyze(t1), 10)
    with tempfile.TemporaryDirectory() as home:
        homes = faceindex.Collections(home)
        with homes.create_collection("c", engine=onnx) as c:
            rng = np.random.default_rng(0)
            v = rng.standard_normal((100_000, onnx.pack.embedding_size)).astype(np.float32)
            c.index_embeddings(v, pack=onnx.pack)
            c.index_faces(t1)
            out["search_faces_by_image t1, 100k faces"] = best(lambda: c.search_faces_by_image(t1), 10)
            out["search_faces_by_embedding, 100k faces"] = best(
                lambda: c.search_faces_by_embedding(v[7], pack=onnx.pack), 20)
    print(json.dumps(out))
    '''
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old_python")
    parser.add_argument("new_python")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for i in range(args.rounds):
        for name, python in (("old", args.old_python), ("new", args.new_python)):
            done = subprocess.run([python, "-c", CASES, args.data], capture_output=True, text=True, cwd="/tmp")
            if done.returncode != 0:
                sys.exit(f"{name} build failed:\n{done.stderr}")
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {i + 1}/{args.rounds} {name} done", file=sys.stderr)
    report = {}
    for case in runs["old"][0]:
        old = statistics.median(r[case] for r in runs["old"])
        new = statistics.median(r[case] for r in runs["new"])
        report[case] = {"old_ms": round(old * 1000, 2), "new_ms": round(new * 1000, 2), "new_over_old": round(new / old, 3)}
        print(f"{case:42s} old {old * 1000:8.2f} ms  new {new * 1000:8.2f} ms  new/old {new / old:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "cases": report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
