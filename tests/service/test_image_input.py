"""A request's Image to pixels (service/image_input.py), below the HTTP layer: every way an
S3Object name could leave --s3-root, the size limits read no further than needed, and an
S3-compatible endpoint (moto's server on 127.0.0.1). The operations' own tests go through boto3."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from faceindex.service.config import ServiceConfig
from faceindex.service.errors import ServiceError
from faceindex.service.image_input import (
    MAX_IMAGE_BYTES,
    MAX_S3_IMAGE_BYTES,
    decode,
    image_bytes,
    local_s3_path,
    s3_object_bytes,
)

DataFile = Callable[[str], Path]
PHOTO = "images/face_recognition/knn_examples/test/obama1.jpg"


@pytest.fixture
def s3_root(tmp_path: Path, data_file: DataFile) -> Path:
    """<root>/photos/people/obama.jpg, a secret beside the root, and links that point out of the bucket."""
    root = tmp_path / "s3"
    (root / "photos" / "people").mkdir(parents=True)
    (root / "photos" / "people" / "obama.jpg").write_bytes(data_file(PHOTO).read_bytes())
    (root / "other").mkdir()
    (root / "other" / "theirs.jpg").write_bytes(data_file(PHOTO).read_bytes())
    (tmp_path / "secret.jpg").write_bytes(data_file(PHOTO).read_bytes())
    os.symlink(tmp_path / "secret.jpg", root / "photos" / "out.jpg")
    os.symlink(root / "other", root / "photos" / "neighbour")
    os.symlink(tmp_path, root / "escape")  # a whole bucket that is a link out of the root
    return root


def config(tmp_path: Path, s3_root: Path | None = None, endpoint: str | None = None) -> ServiceConfig:
    return ServiceConfig(home=tmp_path / "home", s3_root=s3_root, s3_endpoint_url=endpoint)


def code_of(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value.code, caught.value.message


def test_an_object_under_the_root_is_read(tmp_path: Path, s3_root: Path, data_file: DataFile) -> None:
    cfg = config(tmp_path, s3_root)
    image = decode(cfg, {"S3Object": {"Bucket": "photos", "Name": "people/obama.jpg"}})
    with Image.open(data_file(PHOTO)) as original:
        assert (image.width, image.height) == original.size
    assert local_s3_path(cfg, {"Bucket": "photos", "Name": "people/obama.jpg"}) == \
        (s3_root / "photos" / "people" / "obama.jpg").resolve()


@pytest.mark.parametrize("bucket, name, why", [
    ("photos", "../other/theirs.jpg", "'..'"),
    ("photos", "people/../../other/theirs.jpg", "'..'"),
    ("photos", "/etc/passwd", "empty"),
    ("photos", "people//obama.jpg", "empty"),
    ("photos", "./people/obama.jpg", "'.'"),
    ("..", "s3/photos/people/obama.jpg", "'..'"),
    ("photos", "out.jpg", "symbolic link"),
    ("photos", "neighbour/theirs.jpg", "symbolic link"),
    ("escape", "secret.jpg", "symbolic link"),
    ("photos", "people/missing.jpg", "no object"),
    ("nobucket", "obama.jpg", "no object"),
    ("photos", "people", "no object"),  # a folder is not an object
    ("photos", "people/obama.jpg\x00.png", "control character"),
])
def test_no_name_leaves_its_bucket(tmp_path: Path, s3_root: Path, bucket: str, name: str, why: str) -> None:
    code, message = code_of(lambda: image_bytes(config(tmp_path, s3_root),
                                                {"S3Object": {"Bucket": bucket, "Name": name}}))
    assert code == "InvalidS3ObjectException"
    assert why in message


def test_s3_without_a_source_and_versions_in_a_folder(tmp_path: Path, s3_root: Path) -> None:
    code, message = code_of(lambda: image_bytes(config(tmp_path), {"S3Object": {"Bucket": "photos", "Name": "a"}}))
    assert code == "InvalidS3ObjectException" and "--s3-root" in message
    versioned = {"S3Object": {"Bucket": "photos", "Name": "people/obama.jpg", "Version": "3"}}
    code, message = code_of(lambda: image_bytes(config(tmp_path, s3_root), versioned))
    assert code == "InvalidS3ObjectException" and "Version" in message


def test_bytes_limits_and_bad_images(tmp_path: Path, data_file: DataFile) -> None:
    cfg = config(tmp_path)
    assert code_of(lambda: image_bytes(cfg, {"Bytes": b"\xff" * (MAX_IMAGE_BYTES + 1)}))[0] == "ImageTooLargeException"
    assert code_of(lambda: decode(cfg, {"Bytes": b"GIF89a not really"}))[0] == "InvalidImageFormatException"
    truncated = data_file(PHOTO).read_bytes()[:2000]
    assert code_of(lambda: decode(cfg, {"Bytes": truncated}))[0] == "InvalidImageFormatException"
    # A small file that declares a huge image: refused before it is decoded.
    bomb = io.BytesIO()
    Image.new("L", (12000, 10000)).save(bomb, "PNG")
    code, message = code_of(lambda: decode(cfg, {"Bytes": bomb.getvalue()}, max_pixels=50_000_000))
    assert code == "InvalidImageFormatException" and "over the limit" in message
    both = {"Bytes": b"x", "S3Object": {"Bucket": "b", "Name": "n"}}
    assert code_of(lambda: image_bytes(cfg, both))[0] == "InvalidParameterException"
    assert code_of(lambda: image_bytes(cfg, {}))[0] == "InvalidParameterException"


def test_an_s3_object_over_15_mb_is_refused_unread(tmp_path: Path, s3_root: Path) -> None:
    big = s3_root / "photos" / "big.jpg"
    with big.open("wb") as f:
        f.truncate(MAX_S3_IMAGE_BYTES + 1)  # sparse: the size is known without reading it
    code, message = code_of(lambda: image_bytes(config(tmp_path, s3_root),
                                                {"S3Object": {"Bucket": "photos", "Name": "big.jpg"}}))
    assert code == "ImageTooLargeException" and str(MAX_S3_IMAGE_BYTES + 1) in message


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, on a free port, for this test only."""
    moto_server = pytest.importorskip("moto.server")
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_objects_from_an_s3_compatible_endpoint(tmp_path: Path, moto_endpoint: str, data_file: DataFile) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="photos")
    photo = data_file(PHOTO).read_bytes()
    s3.put_object(Bucket="photos", Key="people/obama.jpg", Body=photo)
    s3.put_object(Bucket="photos", Key="big.bin", Body=b"\0" * (MAX_S3_IMAGE_BYTES + 1))
    cfg = config(tmp_path, endpoint=moto_endpoint)
    image = decode(cfg, {"S3Object": {"Bucket": "photos", "Name": "people/obama.jpg"}})
    with Image.open(data_file(PHOTO)) as original:
        assert (image.width, image.height) == original.size
    # Names are the endpoint's business: '..' is just part of a key there, and is not found.
    for bucket, name in (("photos", "missing.jpg"), ("nobucket", "x.jpg"), ("photos", "../photos/people/obama.jpg")):
        where = {"S3Object": {"Bucket": bucket, "Name": name}}
        code, message = code_of(lambda: image_bytes(cfg, where))  # noqa: B023 (called at once)
        assert code == "InvalidS3ObjectException" and name in message
    assert code_of(lambda: s3_object_bytes(cfg, {"Bucket": "photos", "Name": "big.bin"}, "Video.S3Object",
                                           MAX_S3_IMAGE_BYTES))[0] == "ImageTooLargeException"


def test_an_endpoint_that_does_not_answer(tmp_path: Path) -> None:
    import socket

    with socket.socket() as listener:  # a port that refuses connections once closed
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    cfg = config(tmp_path, endpoint=f"http://127.0.0.1:{port}")
    code, message = code_of(lambda: image_bytes(cfg, {"S3Object": {"Bucket": "photos", "Name": "a.jpg"}}))
    assert code == "InvalidS3ObjectException" and f"127.0.0.1:{port}" in message
