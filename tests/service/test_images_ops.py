"""DetectFaces and CompareFaces through boto3 against `faceindex serve` on 127.0.0.1, and Image.S3Object
from --s3-root and from an S3-compatible endpoint (moto's server)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ops_helpers import (BIDEN, GROUP, LOW_BAR, OBAMA, OBAMA_AND_BIDEN, OBAMA_PROBE, DataFile, check_box, error_of,
                         faceindex_headers, photo)
from service_helpers import RunningServer, start_server


@pytest.fixture(scope="module")
def s3_root(tmp_path_factory: pytest.TempPathFactory, data_file: DataFile) -> Path:
    root = tmp_path_factory.mktemp("s3")
    (root / "photos" / "people").mkdir(parents=True)
    for name in (OBAMA, OBAMA_PROBE, OBAMA_AND_BIDEN):
        (root / "photos" / "people" / Path(name).name).write_bytes(data_file(name).read_bytes())
    secret = root.parent / f"{root.name}-secret.jpg"
    secret.write_bytes(data_file(BIDEN).read_bytes())
    os.symlink(secret, root / "photos" / "link-out.jpg")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3_root: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("home"), s3_root=s3_root)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def rk(server: RunningServer) -> Any:
    return server.client()


def test_detect_faces(rk: Any, data_file: DataFile) -> None:
    group = rk.detect_faces(Image=photo(data_file, GROUP), Attributes=["ALL"])["FaceDetails"]
    assert len(group) >= 5
    areas = [d["BoundingBox"]["Width"] * d["BoundingBox"]["Height"] for d in group]
    assert areas == sorted(areas, reverse=True)
    for detail in group:
        check_box(detail["BoundingBox"])
        assert "Quality" in detail and 0 <= detail["Confidence"] <= 100
        # Rekognition's five first, then dlib's own points (the eye corners under Rekognition's
        # names, the base of the nose under faceindex's).
        assert [lm["Type"] for lm in detail["Landmarks"]] == [
            "eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight",
            "rightEyeRight", "rightEyeLeft", "leftEyeLeft", "leftEyeRight", "noseBase"]
        assert set(detail["Pose"]) == {"Roll", "Yaw", "Pitch"}
        assert all(-90 <= v <= 90 for v in detail["Pose"].values())
        # Attributes=["ALL"]: every attribute faceindex estimates, none it does not.
        assert set(detail) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}
    # One face, found where it is: the box's centre in the middle third of the portrait.
    (alone,) = rk.detect_faces(Image=photo(data_file, OBAMA))["FaceDetails"]
    box = alone["BoundingBox"]
    assert 1 / 3 < box["Left"] + box["Width"] / 2 < 2 / 3
    assert error_of(rk.detect_faces, Image={"Bytes": b"\x89PNG\r\n\x1a\n broken"})[0] == "InvalidImageFormatException"
    assert error_of(rk.detect_faces, Image={"Bytes": b"\0" * (5 * 1024 * 1024 + 1)})[0] == "ImageTooLargeException"


def test_compare_faces(rk: Any, data_file: DataFile) -> None:
    answer = rk.compare_faces(SourceImage=photo(data_file, OBAMA_PROBE), TargetImage=photo(data_file, OBAMA_AND_BIDEN),
                              SimilarityThreshold=LOW_BAR)
    assert len(answer["FaceMatches"]) == 1 and len(answer["UnmatchedFaces"]) == 2
    match = answer["FaceMatches"][0]
    assert LOW_BAR <= match["Similarity"] <= 100
    check_box(match["Face"]["BoundingBox"])
    assert set(match["Face"]) <= {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}
    check_box(answer["SourceImageFace"]["BoundingBox"])
    headers = faceindex_headers(answer)
    assert headers["x-faceindex-threshold-chosen-by"] == "fmr"
    assert float(headers["x-faceindex-requested-similarity"]) == LOW_BAR
    assert float(headers["x-faceindex-estimated-fmr"]) <= 1e-3
    assert "x-faceindex-estimated-fpir" not in headers  # one comparison at a time: FMR is the rate
    # A stricter threshold moves the match to the unmatched faces; nothing is lost.
    strict = rk.compare_faces(SourceImage=photo(data_file, OBAMA_PROBE),
                              TargetImage=photo(data_file, OBAMA_AND_BIDEN), SimilarityThreshold=100)
    assert len(strict["FaceMatches"]) + len(strict["UnmatchedFaces"]) == 3
    assert float(faceindex_headers(strict)["x-faceindex-threshold"]) > float(headers["x-faceindex-threshold"])
    out = io.BytesIO()
    Image.new("RGB", (160, 160), (90, 90, 90)).save(out, "JPEG")
    code, message, _ = error_of(rk.compare_faces, SourceImage={"Bytes": out.getvalue()},
                                TargetImage=photo(data_file, OBAMA))
    assert code == "InvalidParameterException" and "no faces" in message
    assert error_of(rk.compare_faces, SourceImage=photo(data_file, OBAMA), TargetImage={"Bytes": b"nope"})[0] == \
        "InvalidImageFormatException"
    assert error_of(rk.compare_faces, SourceImage={"Bytes": b"\0" * (5 * 1024 * 1024 + 1)},
                    TargetImage=photo(data_file, OBAMA))[0] == "ImageTooLargeException"
    code, message, _ = error_of(rk.compare_faces, SourceImage=photo(data_file, OBAMA), TargetImage={"Bytes": out.getvalue()})
    assert code == "InvalidParameterException" and "target" in message


def test_images_from_the_s3_root(rk: Any) -> None:
    rk.create_collection(CollectionId="from-s3")
    people = {"Bucket": "photos", "Name": "people/obama.jpg"}
    indexed = rk.index_faces(CollectionId="from-s3", Image={"S3Object": people}, ExternalImageId="obama")
    assert len(indexed["FaceRecords"]) == 1
    found = rk.search_faces_by_image(CollectionId="from-s3", FaceMatchThreshold=LOW_BAR,
                                     Image={"S3Object": {"Bucket": "photos", "Name": "people/obama1.jpg"}})
    assert [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]] == ["obama"]
    assert len(rk.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "people/obama_and_biden.jpg"}})
               ["FaceDetails"]) == 3
    for name in ("people/missing.jpg", "../photos/people/obama.jpg", "/etc/passwd", "link-out.jpg"):
        code, message, status = error_of(rk.detect_faces, Image={"S3Object": {"Bucket": "photos", "Name": name}})
        assert (code, status) == ("InvalidS3ObjectException", 400), name
    assert error_of(rk.detect_faces, Image={"S3Object": {"Bucket": "nobucket", "Name": "people/obama.jpg"}})[0] == \
        "InvalidS3ObjectException"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 for this module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_images_from_an_s3_endpoint(tmp_path: Path, moto_endpoint: str, data_file: DataFile,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="uploads")
    s3.put_object(Bucket="uploads", Key="2026/obama.jpg", Body=data_file(OBAMA).read_bytes())
    s3.put_object(Bucket="uploads", Key="2026/probe.jpg", Body=data_file(OBAMA_PROBE).read_bytes())
    s3.put_object(Bucket="uploads", Key="notes.txt", Body=b"not a photo")
    running = start_server(tmp_path / "home", extra_args=("--s3-endpoint-url", moto_endpoint))
    try:
        rk = running.client()
        rk.create_collection(CollectionId="c")
        rk.index_faces(CollectionId="c", Image={"S3Object": {"Bucket": "uploads", "Name": "2026/obama.jpg"}},
                       ExternalImageId="obama")
        found = rk.search_faces_by_image(CollectionId="c", FaceMatchThreshold=LOW_BAR,
                                         Image={"S3Object": {"Bucket": "uploads", "Name": "2026/probe.jpg"}})
        assert [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]] == ["obama"]
        for bucket, name in (("uploads", "2026/missing.jpg"), ("nobucket", "2026/obama.jpg")):
            assert error_of(rk.detect_faces, Image={"S3Object": {"Bucket": bucket, "Name": name}})[0] == \
                "InvalidS3ObjectException"
        assert error_of(rk.detect_faces, Image={"S3Object": {"Bucket": "uploads", "Name": "notes.txt"}})[0] == \
            "InvalidImageFormatException"
    finally:
        running.stop()
