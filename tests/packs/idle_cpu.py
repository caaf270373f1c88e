"""How much CPU a session's thread pool takes after a run returns (a pool left spinning)."""

from __future__ import annotations

import time
from collections.abc import Callable


def idle_cpu_ms_after_a_run(run: Callable[[], object]) -> float:
    """CPU time this process spends in the 0.3 s after `run` returns (the most of three tries:
    a pool left spinning shows in each)."""
    run()
    idle = []
    for _ in range(3):
        run()
        start = time.process_time()
        time.sleep(0.3)
        idle.append((time.process_time() - start) * 1e3)
    return max(idle)
