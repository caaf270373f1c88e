"""Threads, processes and signals: concurrent searches, the GIL, Ctrl-C, FACEINDEX_SIMD."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import faceindex
from faceindex import FlatIndex
from flat_reference import LEVELS


def test_concurrent_searches_agree_with_sequential_ones() -> None:
    rng = np.random.default_rng(0)
    index = FlatIndex(96, "cosine", "f16")
    index.add(np.arange(20_000, dtype=np.uint64), rng.standard_normal((20_000, 96)).astype(np.float32))
    batches = [rng.standard_normal((n, 96)).astype(np.float32) for n in (1, 3, 17, 40, 1, 64, 5, 30) * 3]
    expected = [index.search(b, 12) for b in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda b: index.search(b, 12), batches))
    for (e_ids, e_scores), (g_ids, g_scores) in zip(expected, got):
        np.testing.assert_array_equal(e_ids, g_ids)
        np.testing.assert_array_equal(e_scores, g_scores)


def test_searches_run_while_another_thread_adds_and_removes() -> None:
    rng = np.random.default_rng(1)
    dim = 32
    index = FlatIndex(dim, "ip", "f32")
    index.add(np.arange(5000, dtype=np.uint64), rng.standard_normal((5000, dim)).astype(np.float32))
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            next_id = 10_000
            while not stop.is_set():
                index.add(np.arange(next_id, next_id + 50, dtype=np.uint64),
                          rng.standard_normal((50, dim)).astype(np.float32))
                index.remove(np.arange(next_id, next_id + 25, dtype=np.uint64))
                next_id += 50
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        queries = rng.standard_normal((8, dim)).astype(np.float32)
        for _ in range(200):
            ids, scores = index.search(queries, 20)
            assert (ids >= 0).all()
            assert (np.diff(scores, axis=1) <= 0).all()  # best first
            for row in ids:
                assert len(set(row.tolist())) == 20  # each search saw one consistent snapshot
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert len(index) >= 5000


def test_the_gil_is_released_during_a_search() -> None:
    rng = np.random.default_rng(2)
    index = FlatIndex(256, "ip", "f32")
    index.add(np.arange(200_000, dtype=np.uint64), rng.standard_normal((200_000, 256)).astype(np.float32))
    queries = rng.standard_normal((64, 256)).astype(np.float32)
    before = faceindex.get_num_threads()
    faceindex.set_num_threads(1)
    try:
        done = threading.Event()
        searcher = threading.Thread(target=lambda: (index.search(queries, 10), index.search(queries, 10), done.set()))
        ticks_while_searching = 0
        searcher.start()
        while not done.is_set():
            ticks_while_searching += 1  # runs only if the search let go of the GIL
            time.sleep(0)
        searcher.join()
    finally:
        faceindex.set_num_threads(before)
    assert ticks_while_searching > 100


LONG_SEARCH = textwrap.dedent(
    """
    import signal, sys, time
    import numpy as np
    import faceindex
    # A job started in the background by a shell inherits SIGINT as ignored, and Python
    # then installs no KeyboardInterrupt handler: install it, as an interactive run has it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = np.random.default_rng(0)
    index = faceindex.FlatIndex(256, "ip", "f32")
    index.add(np.arange(300_000, dtype=np.uint64), rng.standard_normal((300_000, 256)).astype(np.float32))
    queries = rng.standard_normal((20_000, 256)).astype(np.float32)  # about a minute of work
    print("searching", flush=True)
    start = time.monotonic()
    try:
        index.search(queries, 10)
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - start:.2f}s", flush=True)
        sys.exit(3)
    print("finished", flush=True)
    """
)


def test_ctrl_c_interrupts_a_long_search() -> None:
    proc = subprocess.Popen([sys.executable, "-c", LONG_SEARCH], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "searching"
    time.sleep(1.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    reaction = time.monotonic() - sent
    assert proc.returncode == 3, (out, err)
    assert "interrupted" in out
    assert reaction < 10, f"took {reaction:.1f}s to stop after Ctrl-C"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


@pytest.mark.parametrize("level", LEVELS)
def test_faceindex_simd_environment_variable_forces_a_level(level: str) -> None:
    result = run_python("import faceindex; print(faceindex.simd_level())", FACEINDEX_SIMD=level)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == level


def test_a_bad_faceindex_simd_fails_at_import_with_the_reason() -> None:
    result = run_python("import faceindex", FACEINDEX_SIMD="sse9")
    assert result.returncode != 0
    assert "FACEINDEX_SIMD: unknown SIMD level 'sse9'" in result.stderr


def test_set_num_threads() -> None:
    before = faceindex.get_num_threads()
    faceindex.set_num_threads(1)
    assert faceindex.get_num_threads() == 1
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        faceindex.set_num_threads(0)
    faceindex.set_num_threads(before)
