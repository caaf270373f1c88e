"""SIGKILL in the middle of indexing: every face whose call returned survives, nothing half-written does."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from faceindex import Collections
from faceindex.collection import store
from collection_helpers import SYNTHETIC
from collection_worker import batch_name
from test_collection_concurrency import WORKER, batch_count

BATCHES, SIZE = 2000, 5


def test_a_killed_indexer_leaves_every_returned_face_and_nothing_half_written(tmp_path: Path) -> None:
    home = Collections(tmp_path)
    home.create_collection("c", SYNTHETIC).close()
    returned: dict[int, list[dict]] = {}  # type: ignore[type-arg]
    # Kill points: early, mid-run, and soon after the writer's periodic cache saves begin.
    for writer, kill_after in enumerate([3, 40, 77]):
        proc = subprocess.Popen([sys.executable, WORKER, "write", str(tmp_path), "c", str(writer), str(BATCHES),
                                 str(SIZE), "7"], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(json.loads(line))
            if len(lines) >= kill_after:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
        # The lines returned before the kill: read through the same text stream, whose buffer may hold
        # some already (communicate with a timeout reads the raw pipe and would miss them).
        lines += [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, "the writer finished before it was killed"
        returned[writer] = lines

        db = sqlite3.connect(tmp_path / "collections" / "c" / "collection.db")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ids = [row[0] for row in db.execute("SELECT id FROM faces")]
        digest = int(db.execute("SELECT value FROM meta WHERE key = 'id_digest'").fetchone()[0], 16)
        assert digest == store.id_digest(ids)  # kept in the same transactions as the rows
        db.close()
        with home.collection("c") as collection:
            stored = list(collection)
            per_image = Counter(r.external_image_id for r in stored)
            assert set(per_image.values()) <= {SIZE}, f"half-written calls: {per_image}"
            stored_ids = {r.face_id for r in stored}
            for w, reported in returned.items():
                for line in reported:
                    assert set(line["face_ids"]) <= stored_ids, f"writer {w} batch {line['batch']} lost"
                    assert batch_count(collection, w, line["batch"], SIZE) == SIZE
                # At most the one call in flight at the kill committed without reporting back.
                complete = [b for b in range(BATCHES) if per_image.get(batch_name(w, b)) == SIZE]
                assert complete == list(range(len(complete)))
                assert len(reported) <= len(complete) <= len(reported) + 1

