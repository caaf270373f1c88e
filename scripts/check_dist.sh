#!/usr/bin/env bash
# make check-dist: install what `make dist` built the way users get it, away from the
# source tree, and run it. Two brand-new venvs in a temporary folder:
#   1. the repaired wheel alone, with no compiler on the PATH (CC/CXX point at false);
#   2. the sdist, built by pip with build isolation as `pip install faceindex-X.tar.gz` does.
# In each: import faceindex (from that venv, never from the source tree), print
# build_info(), run the demo on the astronaut photo, run a FlatIndex search.
set -euo pipefail
python=${PYTHON:-python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
wheel=$(ls "$repo"/dist/wheelhouse/faceindex-*.whl 2>/dev/null | head -n 1)
sdist=$(ls "$repo"/dist/faceindex-*.tar.gz 2>/dev/null | head -n 1)
[ -n "$wheel" ] && [ -n "$sdist" ] || { echo "check-dist: run make dist first (no wheel or sdist in dist/)"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/faceindex-check-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
unset PYTHONPATH

smoke() {  # $1: venv folder
  local venv=$1
  FACEINDEX_CACHE="$venv-cache" "$venv/bin/python" - "$repo" "$venv" <<'PY'
import sys
from pathlib import Path

import numpy as np

import faceindex

repo, venv = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
where = Path(faceindex.__file__).resolve()
assert venv in where.parents, f"faceindex imported from {where}, not from {venv}"
assert repo not in where.parents, f"faceindex imported from the source tree: {where}"
print("faceindex", faceindex.__version__, "from", where.parent)
print(faceindex.build_info())

rng = np.random.default_rng(0)
vectors = rng.standard_normal((10_000, 128)).astype(np.float32)
index = faceindex.FlatIndex(128, metric="cosine", dtype="f16")
index.add(np.arange(10_000, dtype=np.uint64), vectors)
ids, scores = index.search(vectors[[17, 4242]], k=3)
assert ids[:, 0].tolist() == [17, 4242], ids
print("FlatIndex search: ids", ids.tolist(), "scores", np.round(scores, 4).tolist())
PY
  (cd "$work" && FACEINDEX_CACHE="$venv-cache" "$venv/bin/python" -m faceindex.demo)
}

echo "== wheel: $(basename "$wheel") ($(du -h "$wheel" | cut -f1)), no compiler"
"$python" -m venv "$work/wheel-venv"
CC=false CXX=false "$work/wheel-venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --only-binary faceindex "faceindex[demo] @ file://$wheel"
smoke "$work/wheel-venv"

echo "== sdist: $(basename "$sdist") ($(du -h "$sdist" | cut -f1)), built by pip with isolation"
"$python" -m venv "$work/sdist-venv"
"$work/sdist-venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "faceindex[demo] @ file://$sdist"
smoke "$work/sdist-venv"
echo "check-dist: ok"
