"""Many readers and writers on one collection, across threads and processes: consistent snapshots."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from faceindex import Collections
from faceindex.collection import Collection
from collection_helpers import SYNTHETIC
from collection_worker import MATCH_THRESHOLD, batch_centre, batch_name, batch_vectors

WORKER = str(Path(__file__).resolve().parent / "collection_worker.py")


def batch_count(collection: Collection, writer: int, batch: int, size: int) -> int:
    result = collection.search_faces_by_embedding(batch_centre(writer, batch), pack=SYNTHETIC,
                                                  max_faces=size + 5, threshold=MATCH_THRESHOLD)
    names = {m.face.external_image_id for m in result.face_matches}
    assert not names or names == {batch_name(writer, batch)}, names
    return len(result.face_matches)


def run_threads(targets: list, seconds: float = 60) -> None:  # type: ignore[type-arg]
    errors: list[BaseException] = []

    def guarded(fn):  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def test_threads_searching_while_two_threads_index_see_whole_calls(tmp_path: Path) -> None:
    home = Collections(tmp_path)
    home.create_collection("c", SYNTHETIC).close()
    shared = home.collection("c")
    other = home.collection("c")  # a second object in this process: its own connections and index
    writers, batches, size = 2, 30, 6
    done = threading.Event()
    stats = {"searches": 0}
    searched = threading.Condition()
    a_reader_stopped = threading.Event()  # by a failed check: the writers wait for it no more

    def writer(w: int) -> None:
        for b in range(batches):
            # Each call first waits for one more search to finish, so that searches interleave with the
            # calls however busy the machine is (readers starved of CPU must not leave the calls unwatched).
            with searched:
                before = stats["searches"]
                searched.wait_for(lambda before=before: stats["searches"] > before or a_reader_stopped.is_set(),
                                  timeout=30)
            shared.index_embeddings(batch_vectors(w, b, size), pack=SYNTHETIC, external_image_id=batch_name(w, b))

    def reader(collection: Collection, seed: int) -> None:
        rng, seen = random.Random(seed), set()
        try:
            while not done.is_set():
                w, b = rng.randrange(writers), rng.randrange(batches)
                count = batch_count(collection, w, b, size)
                assert count in (0, size), f"a search saw {count} of the {size} faces of one call"
                assert count or (w, b) not in seen, "a batch seen before disappeared"
                if count:
                    seen.add((w, b))
                with searched:
                    stats["searches"] += 1
                    searched.notify_all()
        finally:
            with searched:
                a_reader_stopped.set()
                searched.notify_all()

    readers = [lambda s=s: reader(shared, s) for s in range(3)] + [lambda: reader(other, 99)]
    reader_threads = threading.Thread(target=lambda: run_threads(readers))
    reader_threads.start()
    try:
        run_threads([lambda: writer(0), lambda: writer(1)])
    finally:
        done.set()
        reader_threads.join()
    assert stats["searches"] > 20
    for collection in (shared, other):
        assert len(collection) == writers * batches * size
        assert all(batch_count(collection, w, b, size) == size for w in range(writers) for b in range(batches))
    shared.close()
    other.close()


def test_deletions_are_seen_whole_by_concurrent_searches(tmp_path: Path) -> None:
    home = Collections(tmp_path)
    batches, size = 20, 5
    with home.create_collection("c", SYNTHETIC) as setup:
        ids = [[r.face_id for r in setup.index_embeddings(batch_vectors(0, b, size), pack=SYNTHETIC,
                                                            external_image_id=batch_name(0, b))]
               for b in range(batches)]
    collection = home.collection("c")
    done = threading.Event()

    def deleter() -> None:
        for b in range(0, batches, 2):
            assert len(collection.delete_faces(ids[b]).deleted_faces) == size

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            b = rng.randrange(batches)
            count = batch_count(collection, 0, b, size)
            assert count in (0, size), f"a search saw {count} of the {size} faces deleted in one call"
            assert count == size or b % 2 == 0

    readers = threading.Thread(target=lambda: run_threads([lambda: reader(1), lambda: reader(2)]))
    readers.start()
    try:
        run_threads([deleter])
    finally:
        done.set()
        readers.join()
    assert len(collection) == batches // 2 * size
    collection.close()


@pytest.mark.slow
def test_processes_write_and_read_one_collection_at_once(tmp_path: Path) -> None:
    home = Collections(tmp_path)
    home.create_collection("c", SYNTHETIC).close()
    writers, batches, size = 2, 25, 6
    readers = [subprocess.Popen([sys.executable, WORKER, "read", str(tmp_path), "c", str(writers), str(batches),
                                 str(size), "8"], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    writer_procs = [subprocess.Popen([sys.executable, WORKER, "write", str(tmp_path), "c", str(w), str(batches),
                                      str(size), "10"], stdout=subprocess.PIPE, text=True) for w in range(writers)]
    written = []
    for proc in writer_procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        written += [json.loads(line) for line in out.splitlines()]
    for proc in readers:
        out, _ = proc.communicate(timeout=300)
        summary = json.loads(out.splitlines()[-1])
        assert proc.returncode == 0, summary
        assert summary["searches"] > 10 and summary["partial"] == 0 and summary["lost"] == 0
    assert len(written) == writers * batches
    with home.collection("c") as collection:
        assert len(collection) == writers * batches * size
        stored = {r.face_id for r in collection}
        assert stored == {face_id for line in written for face_id in line["face_ids"]}
        assert all(batch_count(collection, w, b, size) == size for w in range(writers) for b in range(batches))
