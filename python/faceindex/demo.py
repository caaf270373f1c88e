"""`make demo`: detect, embed, compare, then index and search a collection.

With no argument it runs on the NASA astronaut portrait (public domain) that
ships inside scikit-image. With a folder (`make demo ARGS=photos/`) it indexes
every photo there into a collection (one external id per sub-folder, or per
file when the photos lie directly in the folder) and searches every face of
every photo against it.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np

import faceindex
from faceindex import thresholds
from faceindex.collection.ingest import ExternalIdFrom, image_files, index_paths


def astronaut_photo() -> Path:
    """skimage/data/astronaut.png, found without importing scikit-image."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise SystemExit("the demo photo ships with scikit-image: pip install scikit-image (make demo does)")
    return Path(spec.origin).parent / "data" / "astronaut.png"


def describe(face: faceindex.Face) -> str:
    x1, y1, x2, y2 = (round(v) for v in face.bbox)
    return (f"box ({x1}, {y1})-({x2}, {y2}), score {face.score:.2f}, size {face.face_size:.0f} px, "
            f"sharpness {face.sharpness:.0f}, brightness {face.brightness:.2f}")


def photo_tour(engine: faceindex.FaceEngine, photo: Path) -> None:
    pack = engine.pack
    started = time.perf_counter()
    faces = engine.analyze(photo)
    print(f"{photo.name}: {len(faces)} face(s) in {time.perf_counter() - started:.2f} s")
    for face in faces:
        print(f"  {describe(face)}; {pack.embedding_size}-d embedding")
    if not faces:
        return

    # A second view of the same person: the photo mirrored and darkened.
    image = faceindex.load_image(photo)
    mirrored = np.ascontiguousarray((image[:, ::-1] * 0.7).astype(np.uint8))
    same = engine.compare(photo, mirrored)
    print(f"compare with the same photo mirrored and darkened: similarity {same.similarity:.3f} vs threshold "
          f"{same.threshold:.3f} -> same person: {same.same_person} ({same.pack})")

    with tempfile.TemporaryDirectory(prefix="faceindex-demo-") as home:
        collections = faceindex.Collections(home)
        with collections.create_collection("demo", engine=engine) as collection:
            indexed = collection.index_faces(photo, external_image_id=photo.stem)
            face_id = indexed.face_records[0].face_id
            print(f"indexed {len(indexed.face_records)} face(s) into collection 'demo' under '{photo.stem}'")
            found = collection.search_faces_by_image(mirrored)
            for match in found.face_matches:
                print(f"  search with the mirrored photo: {match.face.external_image_id} similarity "
                      f"{match.similarity:.3f} (threshold {found.threshold:.3f}, {found.pack})")
            collection.delete_faces([face_id])
            again = collection.search_faces_by_image(mirrored)
            print(f"  after delete_faces: {len(again.face_matches)} match(es); {len(collection)} faces stored")


def folder_tour(engine: faceindex.FaceEngine, folder: Path) -> None:
    """Index every photo of the folder, then look for each face in the other photos."""
    photos = image_files([folder])
    if not photos:
        raise SystemExit(f"no photos in {folder}")
    # One person per sub-folder (the folder names them), else one id per file.
    id_from: ExternalIdFrom = "filename" if all(p.parent == folder for p in photos) else "parent-dir"
    with tempfile.TemporaryDirectory(prefix="faceindex-demo-") as home:
        with faceindex.Collections(home).create_collection("demo", engine=engine) as collection:
            started = time.perf_counter()
            report = index_paths(collection, photos, external_id_from=id_from)
            print(f"indexed {report.indexed_faces} faces from {len(photos)} photos in "
                  f"{time.perf_counter() - started:.1f} s ({report.unindexed_faces} left out by the quality filter"
                  f"{f', {len(report.failed)} unreadable files' if report.failed else ''})")
            image_of = {f.path: f.result.image_id for f in report.files if f.result and f.result.face_records}
            for photo in photos:
                if str(photo) not in image_of:
                    continue
                for result in collection.search_faces_by_image(photo, max_faces=10, all_faces=True):
                    others = [m for m in result.face_matches if m.face.image_id != image_of[str(photo)]]
                    box = tuple(round(v) for v in result.searched_face.bbox) if result.searched_face else ()
                    verdict = (f"{others[0].face.external_image_id} in another photo, similarity "
                               f"{others[0].similarity:.3f}" if others else "in no other photo")
                    print(f"  {photo.relative_to(folder)} face {box}: {verdict} (threshold {result.threshold:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="a folder of photos (default: the astronaut portrait)")
    parser.add_argument("--pack", default="dlib", help="model pack (default: dlib, the CC0 models from PyPI)")
    args = parser.parse_args()

    info = faceindex.build_info()
    print(f"faceindex {info['version']} ({info['compiler']}); search kernels: {faceindex.simd_level()}; "
          f"CUDA build: {info['cuda']['compiled']}, GPU: {info['cuda']['gpu_found']}")
    started = time.perf_counter()
    engine = faceindex.FaceEngine(pack=args.pack)
    pack = engine.pack
    print(f"pack {pack.name} {pack.version} ready in {time.perf_counter() - started:.1f} s: {pack.detector}, "
          f"{pack.recognizer}")
    choice = thresholds.for_comparison(pack)
    if choice.fmr is not None:
        print(f"compare decides at threshold {choice.value:.3f}: chosen by false-match rate {choice.requested:g} "
              f"per comparison (estimated {choice.fmr}), from the {choice.calibration}")
    else:
        print(f"compare decides at threshold {choice.value:.3f}: {choice.calibration}")

    if args.folder is None:
        photo_tour(engine, astronaut_photo())
        return
    if not args.folder.is_dir():
        raise SystemExit(f"not a folder: {args.folder}")
    folder_tour(engine, args.folder)


if __name__ == "__main__":
    main()
