"""A short tour for `make demo`: index a folder of people's photos into a collection, then search it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from faceindex.collection.collection import FaceEngineLike
from faceindex.collection.home import Collections
from faceindex.collection.ingest import image_files, index_paths
from faceindex.collection.results import FaceSearchResult
from faceindex.engine import NoFaceError


def index_folder_and_search(
    gallery: Path,
    probes: Sequence[Path],
    home: Optional[Path] = None,
    engine: Optional[FaceEngineLike] = None,
    say: Callable[[str], None] = print,
) -> list[FaceSearchResult]:
    """Index every photo under `gallery` (external id: the photo's folder, i.e. the person) into a new
    collection "demo", then search every face of each probe image. Prints as it goes; returns the results.

    home defaults to a new temporary folder, so the user's own collections are left alone.
    """
    if engine is None:
        from faceindex.engine import FaceEngine

        engine = FaceEngine()
    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="faceindex-demo-"))
    collections = Collections(home)
    if "demo" in collections.list_collections():
        collections.delete_collection("demo")
    files = image_files([gallery])
    with collections.create_collection("demo", engine=engine) as collection:
        say(f"collection 'demo' at {collection.directory} (pack {collection.pack.name} {collection.pack.version})")
        started = time.perf_counter()
        report = index_paths(collection, files, external_id_from="parent-dir", max_faces=1)
        say(f"indexed {report.indexed_faces} faces from {len(files)} photos in {time.perf_counter() - started:.1f} s"
            + (f"; {len(report.failed)} photos could not be read" if report.failed else ""))
        results: list[FaceSearchResult] = []
        for probe in probes:
            try:
                found = collection.search_faces_by_image(probe, max_faces=3, all_faces=True)
            except NoFaceError:
                say(f"{Path(probe).name}: no face")
                continue
            for result in found:
                results.append(result)
                box = result.searched_face.bbox if result.searched_face else ()
                best = result.best
                verdict = (f"{best.face.external_image_id} (similarity {best.similarity:.3f})" if best
                           else "nobody in the collection")
                say(f"{Path(probe).name} face at {tuple(round(v) for v in box)}: {verdict}; "
                    f"threshold {result.threshold:.3f}")
    return results
