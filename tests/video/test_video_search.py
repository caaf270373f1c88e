"""The shared clip against a collection holding Lin-Manuel Miranda and Alex Lacamoire,
checked against ground truth written by looking at its frames:

    shot A   0.84-1.51 s   Lin-Manuel Miranda far away on stage (a face of ~45 px), someone small at the left
    shot B   1.51-3.58 s   Alex Lacamoire in profile at the piano, the audience blurred behind
    shot C   3.58-7.88 s   Lin-Manuel Miranda in close-up, one continuous appearance
    shot D   7.88-10.0 s   the audience (the Obamas and others): nobody in the collection

(times of the frames' presentation timestamps from the container's start; the cuts fall
on the frames at 1511, 3580 and 7884 ms).

The timeline must find Lin in shot C as one track, match nobody where the person is not
on screen, never carry a track across a cut, and report everything Rekognition's shapes
and faceindex's accountability rules ask for.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

import faceindex as fi
from faceindex.cli import main
from faceindex.video import VideoAnalysis

SHOTS = [(0, 1505), (1505, 3575), (3575, 7880), (7880, 10100)]
LIN, ALEX = "lin-manuel-miranda.png", "alex-lacamoire.png"
ON_SCREEN = {LIN: [SHOTS[0], SHOTS[2]], ALEX: [SHOTS[1]]}


def shot_of(ms: int) -> int:
    return next(i for i, (lo, hi) in enumerate(SHOTS) if lo <= ms < hi)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-home")


def make_collection(home: Path, name: str, data_file: Callable[[str], Path], engine: fi.FaceEngine | None) -> Any:
    collection = fi.Collections(home).create_collection(name, engine=engine)
    for person in (LIN, ALEX):
        result = collection.index_faces(data_file(f"images/face_recognition/{person}"), person)
        assert len(result.face_records) == 1
    return collection


@pytest.fixture(scope="module")
def dlib_run(home: Path, data_file: Callable[[str], Path], hamilton_clip: Path,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[VideoAnalysis, dict[str, Any], Path]:
    collection = make_collection(home, "dlib", data_file, None)
    annotated = tmp_path_factory.mktemp("annotated") / "clip.mp4"
    analysis = VideoAnalysis(hamilton_clip, collection=collection, annotate=annotated).run()
    return analysis, analysis.face_search_document(), annotated


def check_timeline(doc: dict[str, Any]) -> None:
    tracks = doc["Tracks"]
    for track in tracks:
        first, last = track["FirstTimestamp"], track["LastTimestamp"]
        assert shot_of(first) == shot_of(last), f"track {track['Index']} crosses a cut: {first}-{last} ms"
        best = track["BestMatch"]
        if best is not None:
            person = best["Face"]["ExternalImageId"]
            assert any(lo <= first and last < hi for lo, hi in ON_SCREEN[person]), (
                f"track {track['Index']} ({first}-{last} ms) matched {person}, who is not on screen then")
        # Accountability: the threshold, how it was chosen, the pack.
        assert track["Pack"]["Name"] == doc["Pack"]["Name"]
        if track["Embeddings"]:
            assert track["Threshold"] == doc["Threshold"]
            assert track["ThresholdChoice"]["ChosenBy"] in ("fpir", "fmr")
    lin_in_closeup = [t for t in tracks if t["BestMatch"] and t["BestMatch"]["Face"]["ExternalImageId"] == LIN
                      and shot_of(t["FirstTimestamp"]) == 2]
    assert len(lin_in_closeup) == 1, "one track for Lin's one continuous appearance in close-up"
    lin = lin_in_closeup[0]
    assert lin["FirstTimestamp"] <= 3900 and lin["LastTimestamp"] >= 7600, lin
    assert not [t for t in tracks if t["BestMatch"] and shot_of(t["FirstTimestamp"]) == 3], "the audience matched"

    persons = doc["Persons"]
    keys = [(p["Timestamp"], p["Person"]["Index"]) for p in persons]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    lin_entries = [p for p in persons if p["Person"]["Index"] == lin["Index"]]
    fps = doc["SampleFps"] or doc["VideoMetadata"]["FrameRate"]
    assert len(lin_entries) >= 0.9 * (lin["LastTimestamp"] - lin["FirstTimestamp"]) / 1000 * fps
    for entry in lin_entries:
        assert entry["FaceMatches"][0]["Face"]["ExternalImageId"] == LIN
        assert 0 < entry["FaceMatches"][0]["Similarity"] <= 100
        # The stored face's ratio box (the collection knows the indexed photo's size) beside its pixels.
        matched = entry["FaceMatches"][0]["Face"]
        ratio, pixels = matched["BoundingBox"], matched["BoundingBoxPixels"]
        assert 0 < ratio["Width"] <= 1 and 0 < ratio["Height"] <= 1
        assert ratio["Left"] * pixels["Width"] == pytest.approx(pixels["Left"] * ratio["Width"], rel=1e-6)
        box = entry["Person"]["BoundingBox"]
        assert 0 < box["Width"] < 0.5 and -0.05 < box["Left"] < 1 and -0.05 < box["Top"] < 1
    for entry in persons:
        if entry["Person"]["Index"] != lin["Index"] and shot_of(entry["Timestamp"]) in (1, 3):
            assert entry["FaceMatches"] == [] or entry["FaceMatches"][0]["Face"]["ExternalImageId"] == ALEX


def test_dlib_pack_at_the_default_sampling(dlib_run: tuple[VideoAnalysis, dict[str, Any], Path]) -> None:
    analysis, doc, _ = dlib_run
    assert doc["SampleFps"] == 5.0 and 45 <= doc["AnalysedFrames"] <= 52
    check_timeline(doc)
    meta = doc["VideoMetadata"]
    assert (meta["FrameWidth"], meta["FrameHeight"], meta["Codec"]) == (640, 360, "h264")
    # The recognizer ran on a few faces per track, not on every face of every frame.
    assert sum(t.embeddings for t in analysis.tracks) <= 0.5 * sum(t.faces_seen for t in analysis.tracks)


def test_every_track_search_is_in_the_audit_log(dlib_run: tuple[VideoAnalysis, dict[str, Any], Path]) -> None:
    analysis, _, _ = dlib_run
    assert analysis.collection is not None
    searches = [e for e in analysis.collection.audit_log() if e.operation == "search_faces_by_embedding"]
    assert len(searches) == sum(t.embeddings for t in analysis.tracks)


def test_annotated_video_has_every_frame(dlib_run: tuple[VideoAnalysis, dict[str, Any], Path],
                                        hamilton_clip: Path) -> None:
    _, _, annotated = dlib_run
    assert annotated.exists() and not list(annotated.parent.glob(".*"))
    with fi.video.VideoSource(annotated) as out, fi.video.VideoSource(hamilton_clip) as src:
        assert sum(1 for _ in out.frames()) == sum(1 for _ in src.frames()) == 275
        assert (out.metadata.frame_width, out.metadata.frame_height) == (640, 360)


@pytest.mark.slow
def test_scrfd_and_mobilefacenet_on_every_frame(home: Path, data_file: Callable[[str], Path],
                                               hamilton_clip: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fi.UnverifiedModelWarning)
        engine = fi.FaceEngine(detector=data_file("models/scrfd/det_500m.onnx"),
                               recognizer=data_file("models/mobilefacenet/mobilefacenet.onnx"),
                               backend="onnxruntime")
    collection = make_collection(home, "scrfd", data_file, engine)
    analysis = VideoAnalysis(hamilton_clip, engine, collection, sample_fps=None).run()
    doc = analysis.face_search_document()
    assert doc["AnalysedFrames"] == 275 and doc["SampleFps"] is None
    check_timeline(doc)


def test_face_detection_document(hamilton_clip: Path) -> None:
    analysis = VideoAnalysis(hamilton_clip, sample_fps=2.0).run()
    doc = analysis.face_detection_document()
    stamps = [f["Timestamp"] for f in doc["Faces"]]
    assert stamps == sorted(stamps) and len(doc["Faces"]) >= 15
    face = doc["Faces"][0]["Face"]
    assert set(face) >= {"BoundingBox", "Confidence", "Landmarks", "Quality"}
    assert 0 < face["Confidence"] <= 100 and 0 <= face["Quality"]["Sharpness"] <= 100
    assert [lm["Type"] for lm in face["Landmarks"]] == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight",
                                                       "rightEyeRight", "rightEyeLeft", "leftEyeLeft",
                                                       "leftEyeRight", "noseBase"]
    assert set(face["Pose"]) == {"Roll", "Yaw", "Pitch"}


def test_cli_video_search_json(home: Path, data_file: Callable[[str], Path], hamilton_clip: Path,
                               dlib_run: tuple[VideoAnalysis, dict[str, Any], Path]) -> None:
    out = StringIO()
    code = main(["--home", str(home), "video", "search", "dlib", str(hamilton_clip), "--json", "--quiet",
                 "--max-fmr", "1e-5"], stdout=out)
    assert code == 0
    doc = json.loads(out.getvalue())
    assert doc["ThresholdChoice"]["ChosenBy"] == "fmr" and doc["ThresholdChoice"]["Requested"] == 1e-5
    check_timeline(doc)
    out = StringIO()
    assert main(["video", "detect", str(hamilton_clip), "--sample-fps", "3"], stdout=out) == 0
    assert "28 frames analysed" in out.getvalue(), out.getvalue()
    assert main(["video", "detect", str(hamilton_clip), "--sample-fps", "0"], stdout=StringIO()) == 2
    assert main(["video", "detect", str(home / "nothing.mp4")], stdout=StringIO()) == 3
