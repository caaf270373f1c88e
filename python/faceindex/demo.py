"""`make demo`: what faceindex does, end to end, on this machine."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import faceindex


def search_demo(n: int, dim: int) -> None:
    """Index random unit embeddings, save and memory-map them, search, and say what happened."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    ids = np.arange(n, dtype=np.uint64)
    index = faceindex.FlatIndex(dim, "cosine", "f32")
    start = time.perf_counter()
    index.add(ids, vectors)
    print(f"indexed {n:,} random {dim}-d embeddings in {time.perf_counter() - start:.2f} s")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.fidx"
        index.save(path)
        loaded = faceindex.FlatIndex.load(path, mmap=True)
        print(f"saved {path.stat().st_size / 1e6:.1f} MB and memory-mapped it back (verified checksum)")

        # Queries: noisy copies of stored vectors, so we know which id each should find.
        targets = rng.choice(n, size=64, replace=False)
        queries = vectors[targets] + 0.3 * rng.standard_normal((64, dim), dtype=np.float32)
        start = time.perf_counter()
        found, scores = loaded.search(queries, 5)
        elapsed = time.perf_counter() - start
        hits = int((found[:, 0] == targets).sum())
        print(f"searched 64 queries (k=5) in {elapsed * 1e3:.1f} ms with the {faceindex.simd_level()} kernels: "
              f"{hits}/64 found their source vector first")
        print(f"  query 0 -> ids {found[0].tolist()} cosine {[round(float(s), 3) for s in scores[0]]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200_000, help="random embeddings to index")
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    info = faceindex.build_info()
    print(f"faceindex {info['version']} ({info['compiler']}); kernels compiled: {', '.join(info['isas'])}; "
          f"CUDA build: {info['cuda']['compiled']}, GPU found: {info['cuda']['gpu_found']}")
    search_demo(args.count, args.dim)


if __name__ == "__main__":
    main()
