"""Soak under faults: 2 writer and 4 reader processes on one collection while writers are
SIGKILLed at random every few seconds and restarted. Afterwards the database passes
integrity_check, every acknowledged face is there exactly once, the cache file agrees with
the database, and no reader ever saw a call half-applied or a face disappear.

FACEINDEX_SOAK_SECONDS (default 40) sets how long the faults go on. It runs on a plain
collection and on an encrypted one (SQLCipher under the kills, the sealed cache)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from faceindex import Collections, FlatIndex
from faceindex.collection import schema, sealed_index, store
from faceindex.collection.encryption import KEY_FILE_ENV, resolve_key
from faceindex.collection.index_cache import cache_files
from collection_helpers import SYNTHETIC, env_int
from test_collection_concurrency import WORKER

WRITERS, READERS, SIZE, SAVE_EVERY = 2, 4, 4, 25
BATCHES = 100_000  # more than any writer reaches: writers run until killed for good


class Writer:
    """One writer process at a time for writer number w, its acknowledged calls read on a thread."""

    def __init__(self, home: Path, w: int) -> None:
        self.home, self.w = home, w
        self.acknowledged: list[dict] = []  # type: ignore[type-arg]
        self.kills = 0
        self.proc: subprocess.Popen[str] | None = None
        self.reader: threading.Thread | None = None

    def start(self, first_batch: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, "write", str(self.home), "c", str(self.w), str(BATCHES), str(SIZE),
             str(SAVE_EVERY), str(first_batch)], stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, args=(self.proc,))
        self.reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # to EOF: lines written before a kill are acknowledged calls
            self.acknowledged.append(json.loads(line))

    def kill(self) -> None:
        assert self.proc is not None and self.reader is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        assert self.proc.returncode == -signal.SIGKILL, f"writer {self.w} exited by itself: {self.proc.returncode}"
        self.kills += 1


def database(db_path: Path) -> sqlite3.Connection:
    """The collection's database as the test reads it: through SQLCipher when $FACEINDEX_KEY_FILE is set."""
    return schema.connect(db_path, key=resolve_key(None, None))


def committed_batches(db_path: Path, w: int) -> list[int]:
    db = database(db_path)
    try:
        names = [row[0] for row in db.execute("SELECT DISTINCT external_image_id FROM faces WHERE external_image_id "
                                              "LIKE ?", (f"w{w}-b%",))]
    finally:
        db.close()
    return sorted(int(n.rsplit("-b", 1)[1]) for n in names)


@pytest.mark.slow
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_soak_writers_killed_at_random_readers_never_see_a_torn_state(tmp_path: Path, encrypted: bool,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if encrypted:
        pytest.importorskip("sqlcipher3", reason="the encryption extra is not installed")
        key_file = tmp_path / "collections.key"
        key_file.write_bytes(os.urandom(32))
        key_file.chmod(0o600)
        monkeypatch.setenv(KEY_FILE_ENV, str(key_file))  # for this process and the workers it starts
    else:
        monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    seconds = env_int("FACEINDEX_SOAK_SECONDS", 40)
    rng = random.Random(17)
    Collections(tmp_path).create_collection("c", SYNTHETIC).close()
    db_path = tmp_path / "collections" / "c" / "collection.db"
    # Readers search random batches among those the writers can reach in the time given.
    reach = max(200, seconds * 40)
    readers = [subprocess.Popen([sys.executable, WORKER, "read", str(tmp_path), "c", str(WRITERS), str(reach),
                                 str(SIZE), str(seconds + 5)], stdout=subprocess.PIPE, text=True)
               for _ in range(READERS)]
    writers = [Writer(tmp_path, w) for w in range(WRITERS)]
    for writer in writers:
        writer.start(0)
    committed_unacknowledged = 0

    def kill(victim: Writer) -> int:
        """SIGKILL; the first batch not committed. The call in flight at the kill may have
        committed without being acknowledged: it is counted, and never written twice."""
        nonlocal committed_unacknowledged
        victim.kill()
        done = committed_batches(db_path, victim.w)
        acked = len(victim.acknowledged)
        assert done == list(range(len(done))) and acked <= len(done) <= acked + 1, (victim.w, acked, done[-3:])
        committed_unacknowledged += len(done) - acked
        # Keep one list in batch order: the restarted writer acknowledges from the next batch on.
        victim.acknowledged += [{"batch": b, "face_ids": None} for b in range(acked, len(done))]
        return len(done)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(1.0, 4.0))
        victim = writers[rng.randrange(WRITERS)]
        victim.start(kill(victim))
    for writer in writers:
        kill(writer)

    reports = []
    for proc in readers:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"a reader saw a torn state: {out}"
        reports.append(json.loads(out.strip().splitlines()[-1]))

    # The database: intact, every acknowledged face once, every call whole.
    db = database(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = db.execute("SELECT id, face_id, external_image_id, embedding FROM faces").fetchall()
    assert store.id_digest([r[0] for r in rows]) == int(
        db.execute("SELECT value FROM meta WHERE key = 'id_digest'").fetchone()[0], 16)
    db.close()
    face_ids = Counter(r[1] for r in rows)
    per_call = Counter(r[2] for r in rows)
    assert set(face_ids.values()) == {1} and set(per_call.values()) == {SIZE}, "a face twice or a call in part"
    acknowledged = 0
    for writer in writers:
        batches = [line["batch"] for line in writer.acknowledged]
        assert batches == list(range(len(batches))), f"writer {writer.w} acknowledged out of order"
        for line in writer.acknowledged:
            if line["face_ids"] is not None:
                acknowledged += 1
                assert all(face_ids[f] == 1 for f in line["face_ids"]), f"writer {writer.w} lost {line}"
        assert committed_batches(tmp_path / "collections" / "c" / "collection.db", writer.w) == batches
    assert acknowledged + committed_unacknowledged == len(per_call)

    # The cache: the collection opens from a saved file, caught up, holding exactly the database's faces.
    with Collections(tmp_path).collection("c") as collection:
        report = collection.open_report
        assert report.reason == "" and report.source in ("cache", "cache+catch-up"), report
        key = resolve_key(None, None)
        path = collection.save_cache()
        saved = FlatIndex.load(path, mmap=False) if key is None else sealed_index.load(path, key)
    by_row = {r[0]: np.frombuffer(r[3], dtype=np.float32) for r in rows}
    assert sorted(saved.ids().tolist()) == sorted(by_row)
    # Each stored vector (codes, at the cache's precision) is the one the database's embedding makes.
    sample = rng.sample(sorted(by_row), min(200, len(by_row)))
    reference = FlatIndex(saved.dim, "cosine", saved.dtype)
    reference.add(np.array(sample, dtype=np.uint64), np.stack([by_row[row_id] for row_id in sample]))
    for row_id in sample:
        np.testing.assert_array_equal(saved.reconstruct(row_id), reference.reconstruct(row_id))
    assert len(cache_files(tmp_path / "collections" / "c")) == 1

    kills = sum(w.kills for w in writers) - WRITERS  # the final stop is not a fault
    summary = {"seconds": seconds, "kills": kills, "calls": len(per_call), "faces": len(rows),
               "acknowledged_calls": acknowledged, "committed_unacknowledged": committed_unacknowledged,
               "searches": sum(r["searches"] for r in reports), "batches_seen_whole": sum(r["seen"] for r in reports),
               "cache_open": f"{report.source} from g{report.cached_generation} + {report.caught_up_faces}"}
    print("soak:", json.dumps(summary))
    assert kills >= seconds // 5, summary  # the faults did happen
    assert summary["searches"] > 0 and summary["batches_seen_whole"] > 0, summary
