"""A request's Image (or Video) member to pixels: Image.Bytes, or Image.S3Object read from a
folder per bucket under --s3-root or from an S3-compatible endpoint (--s3-endpoint-url).

Rekognition's limits and errors: Image.Bytes over 5 MB and S3 images over 15 MB are
ImageTooLargeException; bytes that are not an image (or an image over the pixel limit: a
decompression bomb) are InvalidImageFormatException; an S3 object that cannot be read, or a
name that would leave the bucket's folder, is InvalidS3ObjectException.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceindex.errors import ImageError, InputError
from faceindex.images import DEFAULT_MAX_PIXELS, RGBImage, load_image
from faceindex.paths import child_path
from faceindex.service.config import ServiceConfig
from faceindex.service.errors import ServiceError, image_too_large, invalid_image, invalid_parameter

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # Rekognition's limit for Image.Bytes
MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024  # and for an image in S3
S3_CONNECT_TIMEOUT_S = 5.0
S3_READ_TIMEOUT_S = 30.0


def invalid_s3_object(message: str) -> ServiceError:
    return ServiceError("InvalidS3ObjectException", message)


@dataclass(frozen=True)
class DecodedImage:
    """An image of a request, decoded: its pixels and size (boxes are given as ratios of it)."""

    rgb: RGBImage

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode(config: ServiceConfig, image: dict[str, Any], member: str = "Image",
           max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """The pixels of an Image member (exactly one of Bytes and S3Object)."""
    data = image_bytes(config, image, member)
    try:
        return DecodedImage(load_image(data, max_pixels=max_pixels))
    except ImageError as e:
        raise invalid_image(f"{member}: {e}") from e


def image_bytes(config: ServiceConfig, image: dict[str, Any], member: str = "Image") -> bytes:
    """The encoded bytes of an Image member, within Rekognition's size limits."""
    given = [key for key in ("Bytes", "S3Object") if image.get(key) is not None]
    if len(given) != 1:
        raise invalid_parameter(f"{member} must have exactly one of Bytes and S3Object, got "
                                f"{' and '.join(given) or 'neither'}")
    if given[0] == "Bytes":
        data = image["Bytes"]
        if not isinstance(data, (bytes, bytearray)):
            raise invalid_parameter(f"{member}.Bytes must be base64-encoded bytes")
        if len(data) > MAX_IMAGE_BYTES:
            raise image_too_large(f"{member}.Bytes is {len(data)} bytes, over Rekognition's limit of "
                                  f"{MAX_IMAGE_BYTES} (5 MB); larger images can be given as an S3Object")
        if not data:
            raise invalid_image(f"{member}.Bytes is empty")
        return bytes(data)
    return s3_object_bytes(config, image["S3Object"], f"{member}.S3Object", MAX_S3_IMAGE_BYTES)


def s3_object_bytes(config: ServiceConfig, s3_object: dict[str, Any], member: str, max_bytes: int) -> bytes:
    """An S3Object's content, from the local folder or the configured endpoint; ImageTooLargeException
    over max_bytes (read no further than that)."""
    bucket, name, version = _parts(s3_object, member)
    if config.s3_endpoint_url is not None:
        return _endpoint_bytes(config, bucket, name, version, member, max_bytes)
    path = local_s3_path(config, s3_object, member)
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise image_too_large(f"{member} s3://{bucket}/{name} is {size} bytes, over the limit of {max_bytes}")
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise invalid_s3_object(f"{member}: cannot read s3://{bucket}/{name}: {e.strerror or e}") from e
    if len(data) > max_bytes:  # it grew while being read
        raise image_too_large(f"{member} s3://{bucket}/{name} is over the limit of {max_bytes} bytes")
    return data


def local_s3_path(config: ServiceConfig, s3_object: dict[str, Any], member: str = "S3Object") -> Path:
    """Where --s3-root keeps an S3Object: <s3_root>/<Bucket>/<Name>, every part of Name one plain
    path component, and the resolved file (symbolic links followed) still inside the bucket's folder.
    Also what Video.S3Object reads."""
    bucket, name, version = _parts(s3_object, member)
    if config.s3_root is None:
        raise invalid_s3_object(f"{member}: this server reads no S3 objects (start it with --s3-root DIR or "
                                "--s3-endpoint-url URL)")
    if version is not None:
        raise invalid_s3_object(f"{member}: --s3-root keeps one version of each object; Version is not supported")
    root = Path(os.path.realpath(config.s3_root))
    try:
        folder = child_path(root, bucket, "S3 bucket")
        path = folder
        for part in name.split("/"):
            path = child_path(path, part, "S3 object name part")
    except InputError as e:
        raise invalid_s3_object(f"{member}: s3://{bucket}/{name} cannot be read from --s3-root: {e}") from e
    bucket_folder, resolved = Path(os.path.realpath(folder)), Path(os.path.realpath(path))
    if not bucket_folder.is_relative_to(root) or not resolved.is_relative_to(bucket_folder):
        raise invalid_s3_object(f"{member}: s3://{bucket}/{name} leads outside its bucket's folder (a symbolic link)")
    if not resolved.is_file():
        raise invalid_s3_object(f"{member}: no object s3://{bucket}/{name}")
    return resolved


def _parts(s3_object: Any, member: str) -> tuple[str, str, str | None]:
    if not isinstance(s3_object, dict):
        raise invalid_parameter(f"{member} must be an object with Bucket and Name")
    bucket, name, version = s3_object.get("Bucket"), s3_object.get("Name"), s3_object.get("Version")
    if not isinstance(bucket, str) or not bucket or not isinstance(name, str) or not name:
        raise invalid_s3_object(f"{member} needs a Bucket and a Name")
    if version is not None and (not isinstance(version, str) or not version):
        raise invalid_s3_object(f"{member}.Version must be a non-empty string")
    return bucket, name, version


# One client per endpoint, shared by the request threads (boto3 clients are thread-safe).
_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def _s3_client(config: ServiceConfig) -> Any:
    assert config.s3_endpoint_url is not None
    key = (config.s3_endpoint_url, config.region)
    with _clients_lock:
        if key not in _clients:
            import boto3  # only a server started with --s3-endpoint-url needs it
            from botocore import UNSIGNED
            from botocore.config import Config

            session = boto3.session.Session()
            # Credentials from AWS's usual chain (environment, ~/.aws); without any, requests go
            # unsigned (a public bucket, or a local S3 server that does not check them).
            signature = {} if session.get_credentials() is not None else {"signature_version": UNSIGNED}
            _clients[key] = session.client(
                "s3", endpoint_url=config.s3_endpoint_url, region_name=config.region,
                config=Config(connect_timeout=S3_CONNECT_TIMEOUT_S, read_timeout=S3_READ_TIMEOUT_S,
                              retries={"max_attempts": 2, "mode": "standard"}, **signature))
        return _clients[key]


def _endpoint_bytes(config: ServiceConfig, bucket: str, name: str, version: str | None, member: str,
                    max_bytes: int) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"s3://{bucket}/{name}" + (f" (version {version})" if version else "")
    try:
        extra = {"VersionId": version} if version else {}
        answer = _s3_client(config).get_object(Bucket=bucket, Key=name, **extra)
        body = answer["Body"]
        try:
            size = int(answer.get("ContentLength") or 0)
            if size > max_bytes:
                raise image_too_large(f"{member} {where} is {size} bytes, over the limit of {max_bytes}")
            data = bytes(body.read(max_bytes + 1))
        finally:
            body.close()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "error")
        raise invalid_s3_object(f"{member}: cannot read {where} from {config.s3_endpoint_url}: {code}") from e
    except BotoCoreError as e:
        raise invalid_s3_object(f"{member}: cannot read {where} from {config.s3_endpoint_url}: {e}") from e
    if len(data) > max_bytes:
        raise image_too_large(f"{member} {where} is over the limit of {max_bytes} bytes")
    return data
