"""A separate process that writes to or reads from a collection, for the concurrency and crash tests.

    python collection_worker.py write HOME COLLECTION WRITER BATCHES BATCH_SIZE [SAVE_EVERY [START]]
        index batches ("images") START..BATCHES-1 of BATCH_SIZE faces; after each call returns,
        print its face ids as one JSON line (flushed): those faces are durable. A writer
        restarted after a kill passes the first batch it has not committed as START.
    python collection_worker.py read HOME COLLECTION WRITERS BATCHES BATCH_SIZE SECONDS
        search for random batches until SECONDS pass; every search must see a batch whole or
        not at all, and never lose one it saw. Prints a JSON summary; exit 1 on a violation.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collection_helpers import SYNTHETIC, near, unit_vectors  # noqa: E402

from faceindex import Collections  # noqa: E402

MATCH_THRESHOLD = 0.9  # batch faces sit at 0.95 to their centre; other batches' faces near 0


def batch_name(writer: int, batch: int) -> str:
    return f"w{writer}-b{batch}"


def batch_centre(writer: int, batch: int) -> np.ndarray:
    return unit_vectors(1, 1_000_000 + writer * 100_000 + batch)[0]


def batch_vectors(writer: int, batch: int, size: int) -> np.ndarray:
    centre = batch_centre(writer, batch)
    return np.array([near(centre, 0.95, seed=writer * 10_000_000 + batch * 1000 + i) for i in range(size)])


def write(home: str, collection_id: str, writer: int, batches: int, size: int, save_every: int = 0,
          start: int = 0) -> None:
    with Collections(home).collection(collection_id) as collection:
        for batch in range(start, batches):
            records = collection.index_embeddings(batch_vectors(writer, batch, size), pack=SYNTHETIC,
                                                  external_image_id=batch_name(writer, batch))
            print(json.dumps({"batch": batch, "face_ids": [r.face_id for r in records]}), flush=True)
            if save_every and (batch + 1) % save_every == 0:
                collection.save_cache()


def read(home: str, collection_id: str, writers: int, batches: int, size: int, seconds: float) -> int:
    seen: set[tuple[int, int]] = set()
    searches = partial = lost = 0
    rng = random.Random()
    with Collections(home).collection(collection_id) as collection:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            writer, batch = rng.randrange(writers), rng.randrange(batches)
            result = collection.search_faces_by_embedding(
                batch_centre(writer, batch), pack=SYNTHETIC, max_faces=size + 5, threshold=MATCH_THRESHOLD)
            names = {m.face.external_image_id for m in result.face_matches}
            count = len(result.face_matches)
            searches += 1
            if count not in (0, size) or (count and names != {batch_name(writer, batch)}):
                partial += 1
            if count == 0 and (writer, batch) in seen:
                lost += 1
            if count == size:
                seen.add((writer, batch))
    print(json.dumps({"searches": searches, "partial": partial, "lost": lost, "seen": len(seen)}), flush=True)
    return 1 if partial or lost else 0


if __name__ == "__main__":
    mode, home, collection_id, *numbers = sys.argv[1:]
    if mode == "write":
        write(home, collection_id, *map(int, numbers))
        sys.exit(0)
    sys.exit(read(home, collection_id, int(numbers[0]), int(numbers[1]), int(numbers[2]), float(numbers[3])))
