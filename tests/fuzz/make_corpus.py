"""Write the seed corpora in tests/fuzz/corpus/<harness>/ (run once; the files are checked in).

    python tests/fuzz/make_corpus.py

Every seed is made here by code (nothing comes from the shared test data): small valid
inputs of each kind, plus the hostile shapes each harness exists for (decompression
bombs, absurd declared sizes, truncations). Crash inputs found later are added to the
corpus by hand, named regression-<what>, so the test suite replays them for ever.
"""

from __future__ import annotations

import io
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "packs"))


def write(harness: str, name: str, data: bytes) -> None:
    folder = CORPUS / harness
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


# -- images --------------------------------------------------------------------------------


def _encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def images() -> None:
    rgb = Image.fromarray(np.arange(12 * 9 * 3, dtype=np.uint8).reshape(9, 12, 3))
    write("images", "rgb.png", _encoded(rgb, "PNG"))
    write("images", "gray.png", _encoded(rgb.convert("L"), "PNG"))
    write("images", "rgba.png", _encoded(rgb.convert("RGBA"), "PNG"))
    palette = rgb.convert("P")
    palette.info["transparency"] = 0
    write("images", "palette-transparent.png", _encoded(palette, "PNG"))
    write("images", "rgb.jpg", _encoded(rgb, "JPEG", quality=50))
    write("images", "rgb.gif", _encoded(rgb, "GIF"))
    write("images", "rgb.bmp", _encoded(rgb, "BMP"))
    write("images", "rgb.tiff", _encoded(rgb, "TIFF"))
    write("images", "rgb.webp", _encoded(rgb, "WEBP"))
    write("images", "cmyk.jpg", _encoded(rgb.convert("CMYK"), "JPEG"))
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        write("images", f"exif-orientation-{orientation}.jpg", _encoded(rgb, "JPEG", exif=exif.tobytes()))
    exif = Image.Exif()
    exif[0x0112] = 99  # not an orientation
    write("images", "exif-orientation-bogus.jpg", _encoded(rgb, "JPEG", exif=exif.tobytes()))
    # Decompression bombs: headers that declare 10^5 x 10^5 pixels over a few bytes of data.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    write("images", "bomb.png", b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
          + _png_chunk(b"IEND", b""))
    gif = bytearray(_encoded(rgb, "GIF"))
    gif[6:10] = struct.pack("<HH", 65535, 65535)
    write("images", "bomb-screen.gif", bytes(gif))
    bmp = bytearray(_encoded(rgb, "BMP"))
    bmp[18:26] = struct.pack("<ii", 60_000, 60_000)
    write("images", "bomb.bmp", bytes(bmp))
    jpeg = _encoded(rgb, "JPEG")
    write("images", "truncated.jpg", jpeg[: len(jpeg) // 2])
    write("images", "not-an-image", b"faceindex" * 4)


# -- FlatIndex files -----------------------------------------------------------------------


def flat_index() -> None:
    from faceindex.flat_index import FlatIndex

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        for dim, metric, dtype, n in ((1, "cosine", "f32", 3), (3, "ip", "f16", 5), (17, "l2", "i8", 20),
                                      (16, "cosine", "f32", 0), (5, "cosine", "f32", 33)):
            index = FlatIndex(dim, metric, dtype)  # type: ignore[arg-type]
            if n:
                index.add(np.arange(n, dtype=np.uint64) * 7 + 1, rng.standard_normal((n, dim)).astype(np.float32))
            path = Path(tmp) / "x.fidx"
            index.save(path)
            data = path.read_bytes()
            write("flat_index", f"d{dim}-{metric}-{dtype}-n{n}.fidx", data)
        write("flat_index", "truncated.fidx", data[: len(data) // 2])
        write("flat_index", "header-only.fidx", data[:64])


# -- dlib .dat files -----------------------------------------------------------------------


def _int(v: int) -> bytes:
    magnitude = abs(v).to_bytes(8, "little").rstrip(b"\0")
    return bytes([len(magnitude) | (0x80 if v < 0 else 0)]) + magnitude


def _real(x: float) -> bytes:
    # dlib's float: an integer mantissa times 2**exponent.
    mantissa, exponent = float(x).as_integer_ratio()
    shift = mantissa.bit_length() and (denominator_bits := exponent.bit_length() - 1)
    return _int(mantissa) + _int(-denominator_bits if shift else 0)


def _matrix(values: list[float], rows: int, cols: int) -> bytes:
    return _int(-rows) + _int(-cols) + b"".join(_real(v) for v in values)


def _string(s: str) -> bytes:
    return _int(len(s)) + s.encode()


def shape_predictor(levels: int = 2, trees: int = 2, splits: int = 3, parts: int = 5, features: int = 4) -> bytes:
    """A small, valid dlib shape_predictor: points on a circle, trees of depth 2."""
    angles = np.linspace(0, 2 * np.pi, parts, endpoint=False)
    initial = [float(v) for a in angles for v in (0.5 + 0.25 * np.cos(a), 0.5 + 0.25 * np.sin(a))]
    out = _int(1) + _matrix(initial, parts * 2, 1) + _int(levels)
    for level in range(levels):
        out += _int(trees)
        for tree in range(trees):
            out += _int(splits)
            for s in range(splits):
                out += _int((s + tree) % features) + _int((s + level + 1) % features) + _real(0.25 * (s - 1))
            out += _int(splits + 1)
            for leaf in range(splits + 1):
                out += _matrix([0.001 * (leaf - 1)] * (2 * parts), 2 * parts, 1)
    out += _int(levels) + b"".join(_int(features) + b"".join(_int(f % parts) for f in range(features))
                                   for _ in range(levels))
    out += _int(levels) + b"".join(_int(features) + b"".join(_real(0.125 * f) + _real(-0.0625 * f)
                                                             for f in range(features)) for _ in range(levels))
    return out


def dlib() -> None:
    write("dlib", "shape-predictor.dat", b"\0" + shape_predictor())
    write("dlib", "shape-predictor-one-level.dat", b"\0" + shape_predictor(levels=1, trees=1, splits=1, parts=2,
                                                                          features=1))
    write("dlib", "shape-predictor-truncated.dat", b"\0" + shape_predictor()[:40])
    # The networks: their first records (a version and the loss layer's name), for the reader to go on from.
    write("dlib", "detector-start.dat", b"\x01" + _int(1) + _string("loss_mmod_") + _int(3))
    write("dlib", "recognizer-start.dat", b"\x02" + _int(1) + _string("loss_metric_") + _int(1) + _real(0.04))


# -- ONNX files ------------------------------------------------------------------------------


def _declared_only(inputs: list[tuple[str, int, list[int | str]]], outputs: list[tuple[str, int, list[int | str]]]
                   ) -> bytes:
    """An ONNX model that only declares its inputs and outputs (enough for signature recognition)."""
    from onnx import helper

    graph = helper.make_graph(
        [], "declared", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    return helper.make_model(graph).SerializeToString()


def onnx_models() -> None:
    from onnx import TensorProto

    from synthetic_onnx import constant_scrfd, pooled_recognizer

    with tempfile.TemporaryDirectory() as tmp:
        write("onnx_signature", "scrfd-64.onnx", constant_scrfd(Path(tmp) / "d.onnx", 64, True, (8, 2, 2)).read_bytes())
        write("onnx_signature", "recognizer-16d.onnx",
              pooled_recognizer(Path(tmp) / "r.onnx", batch="n", dims=16).read_bytes())
    f = TensorProto.FLOAT
    scrfd_outputs = [(f"{role}_{s}", f, ["n", width]) for role, width in (("score", 1), ("bbox", 4), ("kps", 10))
                     for s in (8, 16, 32)]
    huge = 1 << 40
    write("onnx_signature", "scrfd-absurd-input.onnx",
          _declared_only([("input.1", f, [1, 3, huge, huge])], scrfd_outputs))
    write("onnx_signature", "scrfd-odd-input.onnx", _declared_only([("input.1", f, [1, 3, 100, 30])], scrfd_outputs))
    write("onnx_signature", "scrfd-dynamic-input.onnx", _declared_only([("input.1", f, [1, 3, "h", "w"])], scrfd_outputs))
    write("onnx_signature", "recognizer-absurd-embedding.onnx",
          _declared_only([("data", f, ["n", 3, 112, 112])], [("fc1", f, ["n", huge])]))
    write("onnx_signature", "unknown-element-type.onnx",
          _declared_only([("data", 999, ["n", 3, 112, 112])], [("fc1", f, ["n", 128])]))
    write("onnx_signature", "retinaface-like.onnx", _declared_only(
        [("input", f, [1, 3, 640, 640])], [("loc", f, [1, "a", 4]), ("conf", f, [1, "a", 2]),
                                          ("landmarks", f, [1, "a", 10])]))
    write("onnx_signature", "yunet-like.onnx", _declared_only(
        [("input", f, [1, 3, 640, 640])],
        [(f"{p}_{s}", f, [1, "a", w]) for p, w in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10))
         for s in (8, 16, 32)]))
    write("onnx_signature", "not-onnx.onnx", b"\x08\x07\x12\x00garbage")


# -- damaged collections ---------------------------------------------------------------------------


def collection_open() -> None:
    from fuzz_collection_open import template

    from faceindex.collection import schema
    from faceindex.collection.index_cache import cache_files

    directory = template()
    db = (directory / schema.DATABASE_NAME).read_bytes()
    cache = cache_files(directory)[-1].path.read_bytes()
    write("collection_open", "database-intact", b"\0" + db)
    write("collection_open", "database-truncated", b"\0" + db[: len(db) // 2])
    write("collection_open", "database-empty", b"\0")
    write("collection_open", "cache-intact", b"\x01" + cache)
    write("collection_open", "cache-truncated", b"\x01" + cache[: len(cache) - 9])
    for key, value in (("embedding_size", b"0"), ("embedding_size", b"100000000000"), ("embedding_size", b"-8"),
                       ("generation", b"-1"), ("generation", b"abc"), ("erase_generation", b"99"),
                       ("id_digest", b"zz"), ("id_digest", b"ffffffffffffffff"), ("default_threshold", b"nan"),
                       ("created_at", b"1e300"), ("pack", b"\xff\xfe"), ("store_uuid", b"")):
        write("collection_open", f"meta-{key}-{value.hex()}",
              b"\x02" + bytes([schema.META_KEYS.index(key)]) + value)


# -- video --------------------------------------------------------------------------------


def _video(fmt: str, codec: str, frames: int = 3, size: tuple[int, int] = (32, 24), rotation: int = 0,
           options: dict[str, str] | None = None) -> bytes:
    import av

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"seed.{fmt}"  # a real file: mp4's faststart rewrites it at the end
        _write_video(av, path, fmt, codec, frames, size, rotation, options or {})
        return path.read_bytes()


def _write_video(av: Any, path: Path, fmt: str, codec: str, frames: int, size: tuple[int, int], rotation: int,
                 options: dict[str, str]) -> None:
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            image = np.full((size[1], size[0], 3), (40 * i) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def video() -> None:
    mkv = _video("matroska", "mpeg4")
    write("video", "mpeg4.mkv", mkv)
    write("video", "truncated.mkv", _video("matroska", "mpeg4", frames=10)[:-300])
    write("video", "faststart-rotated.mp4", _video("mp4", "mpeg4", rotation=90, options={"movflags": "faststart"}))
    write("video", "mpeg2.ts", _video("mpegts", "mpeg2video"))
    write("video", "h264.mp4", _video("mp4", "libx264", options={"movflags": "faststart"}))
    write("video", "vp8.webm", _video("webm", "libvpx"))
    write("video", "huge-declared.mkv", _video("matroska", "mpeg4", size=(2048, 1024), frames=1))
    write("video", "unknown-codec.mkv", mkv.replace(b"V_MPEG4/ISO/ASP", b"V_ALIEN/ISO/ASP"))
    write("video", "not-a-video", b"faceindex" * 8)


# -- the Rekognition endpoint: one HTTP request ----------------------------------------------


def http_request() -> None:
    import base64
    import json

    def request(target: str | None, body: object, **headers: str) -> bytes:
        lines = [f"content-type: {headers.pop('content_type', 'application/x-amz-json-1.1')}"]
        if target is not None:
            lines.append(f"x-amz-target: RekognitionService.{target}")
        lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return ("\n".join(lines) + "\n\n").encode() + raw

    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 150, 120)).save(png, "PNG")
    write("http_request", "list-collections", request("ListCollections", {"MaxResults": 2}))
    write("http_request", "create-collection", request("CreateCollection", {"CollectionId": "fuzz-c"}))
    write("http_request", "describe-collection", request("DescribeCollection", {"CollectionId": "fuzz-c"}))
    write("http_request", "delete-collection", request("DeleteCollection", {"CollectionId": "fuzz-c"}))
    write("http_request", "delete-faces-nested", request("DeleteFaces", {
        "CollectionId": "c", "FaceIds": ["11111111-2222-3333-4444-555555555555", "bad"]}))
    write("http_request", "detect-faces-bytes", request("DetectFaces", {
        "Image": {"Bytes": base64.b64encode(png.getvalue()).decode()}, "Attributes": ["DEFAULT"]}))
    write("http_request", "search-by-image-s3", request("SearchFacesByImage", {
        "CollectionId": "c", "Image": {"S3Object": {"Bucket": "bucket", "Name": "a.jpg"}}, "MaxFaces": 5,
        "FaceMatchThreshold": 80.0}))
    # The face, user and image operations (svc-ops): an image, a page token, a client token, a choice of ids.
    png64 = base64.b64encode(png.getvalue()).decode()
    write("http_request", "compare-faces-bytes", request("CompareFaces", {
        "SourceImage": {"Bytes": png64}, "TargetImage": {"Bytes": png64}, "SimilarityThreshold": 40.0}))
    write("http_request", "index-faces-bytes", request("IndexFaces", {
        "CollectionId": "fuzz-c", "Image": {"Bytes": png64}, "ExternalImageId": "x.png", "QualityFilter": "HIGH"}))
    write("http_request", "list-faces-token", request("ListFaces", {
        "CollectionId": "fuzz-c", "MaxResults": 1, "NextToken": "f12", "UserId": "u"}))
    write("http_request", "create-user-token", request("CreateUser", {
        "CollectionId": "fuzz-c", "UserId": "user:1", "ClientRequestToken": "token-1"}))
    write("http_request", "search-users-both", request("SearchUsers", {
        "CollectionId": "fuzz-c", "UserId": "u", "FaceId": "11111111-2222-3333-4444-555555555555"}))
    write("http_request", "unsupported-operation", request("DetectLabels", {"Image": {"Bytes": "AAAA"}}))
    write("http_request", "unknown-target", request("NoSuchThing", {}))
    write("http_request", "no-target", request(None, {}))
    write("http_request", "wrong-content-type", request("ListCollections", {}, content_type="application/json"))
    write("http_request", "malformed-json", request("ListCollections", b'{"MaxResults": '))
    write("http_request", "wrong-type", request("ListCollections", {"MaxResults": "3"}))
    write("http_request", "signed-header-shape", request("ListCollections", {}, x_amz_date="20261201T000000Z",
          authorization="AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20261201/us-east-1/rekognition/aws4_request, "
                        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64))


HARNESSES: dict[str, Callable[[], None]] = {
    "images": images, "flat_index": flat_index, "dlib": dlib, "onnx_signature": onnx_models,
    "collection_open": collection_open, "video": video, "http_request": http_request,
}

if __name__ == "__main__":
    for make in (sys.argv[1:] or HARNESSES):
        HARNESSES[make]()
