"""What indexing the shared clip stores (faceindex.video.video_faces): one face per track, the
best one the recognizer ran on, filtered like a photo's; searched with the portraits of the
people in it, it finds them in their shots (see test_video_search.py for the clip's shots)."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

import faceindex as fi
from faceindex.cli import main
from faceindex.errors import EXIT_PARTIAL, VideoError
from faceindex.video.video_faces import VideoFaces, face_external_id, video_faces_to_index

from test_video_search import ALEX, LIN, ON_SCREEN, shot_of


@pytest.fixture(scope="module")
def engine() -> fi.FaceEngine:
    return fi.FaceEngine("dlib")


@pytest.fixture(scope="module")
def clip_faces(engine: fi.FaceEngine, hamilton_clip: Path) -> VideoFaces:
    return video_faces_to_index(engine, hamilton_clip, None, "auto")


def test_one_face_per_track_with_its_own_embedding(clip_faces: VideoFaces) -> None:
    found = clip_faces
    assert found.frame_size == (640, 360) and found.stopped_early is None
    assert 0 < len(found.faces) <= found.tracks == len(found.faces) + len(found.unindexed)
    assert found.embeddings.shape == (len(found.faces), 128)
    assert np.allclose(np.linalg.norm(found.embeddings, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(found.faces.embeddings, found.embeddings)
    assert all(0.0 <= t <= 10.1 for t in found.timestamps) and len(found.timestamps) == len(found.faces)
    for x1, y1, x2, y2 in found.faces.boxes:
        assert x2 > x1 and y2 > y1 and x1 < 640 and y1 < 360
    # Largest first, as a photo's faces.
    sizes = [f.width * f.height for f in found.faces.faces()]
    assert sizes == sorted(sizes, reverse=True)


def test_max_faces_keeps_the_largest(engine: fi.FaceEngine, hamilton_clip: Path, clip_faces: VideoFaces) -> None:
    one = video_faces_to_index(engine, hamilton_clip, 1, "auto")
    assert len(one.faces) == 1 and one.tracks == clip_faces.tracks
    assert one.faces.boxes[0].tolist() == clip_faces.faces.boxes[0].tolist()
    assert sum("EXCEEDS_MAX_FACES" in u.reasons for u in one.unindexed) == len(clip_faces.faces) - 1


def test_the_people_of_the_clip_are_found_in_their_shots(tmp_path: Path, engine: fi.FaceEngine,
                                                         clip_faces: VideoFaces,
                                                         data_file: Callable[[str], Path]) -> None:
    with fi.Collections(tmp_path).create_collection("clip", engine=engine) as collection:
        ids = [face_external_id("clip.mp4", t) for t in clip_faces.timestamps]
        records = collection.index_embeddings(clip_faces.embeddings, pack=engine.pack,
                                              faces=list(clip_faces.faces.faces()), external_image_id=ids,
                                              image_id="clip", image_size=clip_faces.frame_size)
        assert [(r.image_width, r.image_height) for r in records] == [(640, 360)] * len(records)
        for person in (LIN, ALEX):
            # 360p stage footage against studio portraits scores 0.92-0.94 with dlib, under the default
            # threshold (FMR 1e-4: 0.941); judged here at FMR 1e-2, and the best match must be the right shot.
            result = collection.search_faces_by_image(data_file(f"images/face_recognition/{person}"), max_faces=3,
                                                      max_fmr=1e-2)
            assert result.best is not None, f"{person} not found in the clip's faces"
            assert result.best.similarity >= result.threshold
            name, ms = result.best.face.external_image_id.rsplit(":", 1)  # type: ignore[union-attr]
            assert name == "clip.mp4"
            assert any(shot_of(lo) == shot_of(int(ms)) for lo, _ in ON_SCREEN[person]), (person, ms)


def test_external_ids_carry_the_millisecond_within_255_characters() -> None:
    assert face_external_id("talk.mp4", 12.3456) == "talk.mp4:12346"
    assert face_external_id(None, 1.0) is None
    long = face_external_id("x" * 300, 3.0)
    assert long is not None and len(long) == 255 and long.endswith(":3000")


def test_not_a_video_is_a_clear_error(engine: fi.FaceEngine, tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-video.mp4"
    bogus.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError):
        video_faces_to_index(engine, bogus, None, "auto")


def test_faceindex_index_takes_videos_beside_photos(tmp_path: Path, hamilton_clip: Path, clip_faces: VideoFaces,
                                                     data_file: Callable[[str], Path]) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "clip.mp4").symlink_to(hamilton_clip)
    (folder / "lin.png").symlink_to(data_file(f"images/face_recognition/{LIN}"))
    (folder / "broken.mov").write_bytes(b"not a video")
    home = str(tmp_path / "home")
    assert main(["--home", home, "collection", "create", "archive"], stdout=StringIO()) == 0
    out = StringIO()
    code = main(["--home", home, "--json", "index", "archive", str(folder), "--no-progress"], stdout=out)
    doc = json.loads(out.getvalue())
    assert code == EXIT_PARTIAL, "a file failed"
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    assert set(by_name) == {"clip.mp4", "lin.png", "broken.mov"} and by_name["broken.mov"]["error"]
    assert doc["indexed_faces"] == len(clip_faces.faces) + 1
    with fi.Collections(home).collection("archive") as collection:
        from_clip = [r for r in collection.iter_faces() if (r.external_image_id or "").startswith("clip.mp4:")]
        assert len(from_clip) == len(clip_faces.faces)
        assert {(r.image_width, r.image_height) for r in from_clip} == {(640, 360)}
