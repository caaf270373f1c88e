"""The service's shared objects: one open Collection per id, reused by every request, and opened
anew when the collection was deleted and made again behind its back (by the CLI, say)."""

from __future__ import annotations

from pathlib import Path

from faceindex.collection import Collections
from faceindex.service.config import ServiceConfig
from faceindex.service.resources import SharedResources


def test_open_collection_is_shared_and_follows_deletion(tmp_path: Path) -> None:
    resources = SharedResources(ServiceConfig(home=tmp_path))
    engine = resources.default_engine()
    assert resources.default_engine() is engine
    outside = Collections(tmp_path)  # another process's view of the same home
    outside.create_collection("c", engine=engine).close()
    first = resources.open_collection("c")
    assert resources.open_collection("c") is first
    assert first.engine is engine

    outside.delete_collection("c")
    outside.create_collection("c", engine=engine).close()
    second = resources.open_collection("c")
    assert second is not first
    assert second.collection_id == "c" and len(second.list_faces().faces) == 0

    resources.forget_collection("c")
    assert resources.open_collection("c") is not second
    resources.close()
