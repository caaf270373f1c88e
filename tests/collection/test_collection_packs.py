"""Collections on real photos with a real model pack: indexing, search by image, LFW identification, the CLI.

These run once the pack's code is merged (dlib: issue 3); until then each is
skipped with that reason by require_pack, never silently.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from collections.abc import Callable

import pytest

from faceindex import Collections, FaceEngine, NoFaceError
from faceindex.cli import main
from collection_helpers import require_pack
from faceindex import thresholds

DataFile = Callable[[str], Path]


@pytest.fixture(scope="module")
def dlib_engine() -> FaceEngine:
    return require_pack("dlib")


def test_index_and_search_photos_of_known_people(dlib_engine: FaceEngine, data_file: DataFile,
                                                 tmp_path: Path) -> None:
    train = data_file("images/face_recognition/knn_examples/train")
    test = data_file("images/face_recognition/knn_examples/test")
    with Collections(tmp_path).create_collection("friends", engine=dlib_engine) as c:
        for person in sorted(p for p in train.iterdir() if p.is_dir()):
            for photo in sorted(person.iterdir()):
                result = c.index_faces(photo, external_image_id=person.name, max_faces=1)
                assert len(result.face_records) <= 1
                assert result.pack == dlib_engine.pack.ref
        assert len(c) >= 5
        obama = c.search_faces_by_image(test / "obama1.jpg")
        assert obama.best is not None and obama.best.face.external_image_id == "obama"
        # The default is chosen by error rate for the collection's size (issue 12).
        assert obama.threshold == thresholds.for_search(dlib_engine.pack, len(c)).value
        assert obama.threshold_choice.chosen_by in ("fmr", "fpir") and obama.threshold_choice.fmr is not None
        assert obama.best.similarity >= obama.threshold
        # Biden, Obama, and a girl in the corner whom the gallery does not hold (dlib finds her too).
        group_photo = c.search_faces_by_image(test / "obama_and_biden.jpg", all_faces=True)
        assert len(group_photo) == 3
        matched = sorted(r.best.face.external_image_id for r in group_photo if r.best)
        assert matched == ["biden", "obama"]
        group = c.index_faces(data_file("images/insightface/t1.jpg"), max_faces=2)
        assert len(group.face_records) == 2
        assert [u.reasons for u in group.unindexed_faces].count(("EXCEEDS_MAX_FACES",)) >= 1
        areas = [(r.face.bbox[2] - r.face.bbox[0]) * (r.face.bbox[3] - r.face.bbox[1]) for r in group.face_records]
        assert areas == sorted(areas, reverse=True)


def test_an_image_without_a_face(dlib_engine: FaceEngine, tmp_path: Path) -> None:
    import numpy as np

    blank = np.full((200, 200, 3), 128, np.uint8)
    with Collections(tmp_path).create_collection("c", engine=dlib_engine) as c:
        assert c.index_faces(blank).face_records == []
        with pytest.raises(NoFaceError):
            c.search_faces_by_image(blank)


@pytest.mark.slow
def test_lfw_rank1_identification(dlib_engine: FaceEngine, data_file: DataFile, tmp_path: Path) -> None:
    """Gallery: one image of each of 150 people; probes: another image of each. Rank-1 >= 90%."""
    images = data_file("lfw/images")
    people = sorted(p for p in images.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2)
    chosen = random.Random(0).sample(people, 150)
    correct = searched = 0
    with Collections(tmp_path).create_collection("lfw", engine=dlib_engine) as c:
        for person in chosen:
            photos = sorted(person.glob("*.jpg"))
            c.index_faces(photos[0], external_image_id=person.name, max_faces=1)
        for person in chosen:
            probe = sorted(person.glob("*.jpg"))[1]
            searched += 1
            try:
                result = c.search_faces_by_image(probe, threshold=-1.0, max_faces=1)
            except NoFaceError:
                continue  # no face found in the probe: a miss
            correct += bool(result.best and result.best.face.external_image_id == person.name)
    assert searched == 150
    assert correct / searched >= 0.90, f"rank-1 {correct}/{searched}"


def test_cli_on_photos(dlib_engine: FaceEngine, data_file: DataFile, tmp_path: Path) -> None:
    train = data_file("images/face_recognition/knn_examples/train")
    test = data_file("images/face_recognition/knn_examples/test")
    home = str(tmp_path)

    def run(*argv: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        out, err = io.StringIO(), io.StringIO()
        code = main([*argv, "--json", "--home", home], stdout=out, stderr=err)
        return code, json.loads(out.getvalue())

    assert run("collection", "create", "friends", "--pack", "dlib")[0] == 0
    code, report = run("index", "friends", str(train), "--external-id-from", "parent-dir", "--max-faces", "1")
    assert code == 0 and report["indexed_faces"] >= 5 and report["failed_files"] == 0
    code, found = run("search", "friends", str(test / "obama1.jpg"))
    assert code == 0 and found["face_matches"][0]["face"]["external_image_id"] == "obama"
    code, detected = run("detect", str(test / "obama_and_biden.jpg"))
    assert code == 0 and len(detected["faces"]) == 3  # Biden, Obama and a girl in the corner
    code, compared = run("compare", str(test / "obama1.jpg"), str(train / "obama" / sorted(
        p.name for p in (train / "obama").iterdir())[0]))
    assert code == 0 and compared["same_person"] is True
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    code, error = run("search", "friends", str(bad))
    assert code == 4 and error["error"]["type"] == "ImageError"
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (100, 100), (128, 128, 128)).save(blank)
    code, error = run("search", "friends", str(blank))
    assert code == 4 and error["error"]["type"] == "NoFaceError"
