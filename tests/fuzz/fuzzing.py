"""The open-ended search behind every harness: `python tests/fuzz/fuzz_<name>.py [libFuzzer flags] DIRS`.

Each harness module defines check(data: bytes), which returns quietly on input it
accepts or refuses with the documented error, and raises anything else: a bug. The
test suite imports check() directly (test_corpora.py) and needs no atheris; only this
entry point does (`pip install faceindex[fuzz]`, `make fuzz`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def fuzz(check: Callable[[bytes], None]) -> None:
    import atheris  # the `fuzz` extra

    # Coverage of faceindex's Python code; the C++ core is exercised but not coverage-guided
    # (libFuzzer's edge counters need clang's -fsanitize=fuzzer-no-link, and the build uses g++).
    atheris.instrument_all()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
