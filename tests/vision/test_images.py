"""Decoding images: every accepted source, orientation, and bad input refused with a clear error."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from faceindex import ImageError, load_image

DataFile = Callable[[str], Path]


def gradient(height: int = 40, width: int = 60) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 4 % 256, y * 6 % 256, (x + y) % 256], axis=2).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_path_bytes_array_and_pil_give_the_same_pixels(tmp_path: Path) -> None:
    rgb = gradient()
    png = encode(Image.fromarray(rgb), "PNG")
    path = tmp_path / "g.png"
    path.write_bytes(png)
    for source in (path, str(path), png, bytearray(png), memoryview(png), rgb, Image.fromarray(rgb)):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (40, 60, 3) and out.flags.c_contiguous
        np.testing.assert_array_equal(out, rgb)


def test_a_real_photo(data_file: DataFile) -> None:
    """A JPEG decodes to the same pixels as Pillow's own decoder gives (the reference), as C-contiguous
    uint8 RGB rows, top row first."""
    from PIL import Image, ImageOps

    path = data_file("images/insightface/t1.jpg")
    out = load_image(path)
    with Image.open(path) as im:
        reference = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert out.shape == (886, 1280, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, reference)
    assert 0 < out.mean() < 255 and out.std() > 10  # a photo, not a blank


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "1"])
def test_other_modes_become_rgb(mode: str) -> None:
    image = Image.fromarray(gradient()).convert(mode)
    for source in (image, encode(image, "TIFF")):
        out = load_image(source)
        assert out.shape == (40, 60, 3) and out.dtype == np.uint8


def test_palette_with_transparency_converts_without_a_warning() -> None:
    image = Image.fromarray(gradient()).convert("P")
    image.info["transparency"] = 3
    assert load_image(encode(image, "PNG", transparency=3)).shape == (40, 60, 3)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((5, 7), np.uint8), (5, 7, 3)),
        (np.zeros((5, 7, 1), np.uint8), (5, 7, 3)),
        (np.zeros((5, 7, 4), np.uint8), (5, 7, 3)),
        (np.zeros((5, 7, 3), np.uint8)[:, ::-1], (5, 7, 3)),  # a view: made contiguous
    ],
)
def test_array_shapes(array: np.ndarray, expected: tuple[int, int, int]) -> None:
    out = load_image(array)
    assert out.shape == expected and out.flags.c_contiguous


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    rgb = gradient(40, 60)
    exif = Image.Exif()
    exif[0x0112] = orientation
    jpeg = encode(Image.fromarray(rgb), "JPEG", exif=exif.tobytes(), quality=95)
    out = load_image(jpeg).astype(int)
    upright = {1: rgb, 3: rgb[::-1, ::-1], 6: np.rot90(rgb, -1), 8: np.rot90(rgb, 1)}[orientation].astype(int)
    assert out.shape == upright.shape
    assert np.abs(out - upright).mean() < 4  # JPEG noise only


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((5, 7, 3), np.float32), "must be uint8"),
        (np.zeros((5, 7, 2), np.uint8), "must be HxW"),
        (np.zeros((2, 5, 7, 3), np.uint8), "must be HxW"),
        (np.zeros((0, 7, 3), np.uint8), "is empty"),
        (np.zeros(7, np.uint8), "must be HxW"),
    ],
)
def test_wrongly_shaped_or_typed_arrays(array: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_image(array)


def test_corrupt_empty_and_truncated_inputs(tmp_path: Path, data_file: DataFile) -> None:
    with pytest.raises(ImageError, match="empty image bytes"):
        load_image(b"")
    with pytest.raises(ImageError, match="cannot decode") as unknown:
        load_image(b"this is not an image at all")
    # Pillow's own message names its stream object by address: not in faceindex's.
    assert "object at 0x" not in str(unknown.value) and "BytesIO" not in str(unknown.value)
    assert str(unknown.value) == ("cannot decode image bytes: not an image format faceindex reads (JPEG, PNG, WebP, GIF, "
                                  "BMP, TIFF and the others Pillow opens)")
    jpeg = data_file("images/insightface/t1.jpg").read_bytes()
    with pytest.raises(ImageError, match="cannot decode"):
        load_image(jpeg[: len(jpeg) // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty image file"):
        load_image(empty)
    with pytest.raises(FileNotFoundError, match="image not found"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    with pytest.raises(TypeError, match="unsupported image type"):
        load_image(12345)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds almost no data: a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_enormous_images_are_refused_before_decoding() -> None:
    with pytest.raises(ImageError, match="over the limit"):
        load_image(png_header_only(30_000, 30_000))  # 900 megapixels
    with pytest.raises(ImageError, match="over the limit of 1000"):
        load_image(gradient(), max_pixels=1000)
    with pytest.raises(ImageError, match="over the limit"):
        load_image(Image.new("L", (200, 200)), max_pixels=1000)


def test_arrays_that_went_through_pickle_are_images_like_any_other(data_file: DataFile) -> None:
    """Ray hands arrays over pickled: their dtype is equal to numpy's uint8 but another object,
    and the core must take them (it once said "image must be uint8, got uint8")."""
    import pickle

    from faceindex import FaceEngine

    photo = load_image(data_file("images/insightface/t1.jpg"))
    unpickled = pickle.loads(pickle.dumps(photo))
    assert unpickled.dtype == np.uint8 and unpickled.dtype is not np.dtype(np.uint8)
    engine = FaceEngine("dlib")
    assert [f.bbox for f in engine.detect(unpickled)] == [f.bbox for f in engine.detect(photo)]
    swapped = photo.astype(photo.dtype.newbyteorder())  # one-byte values: still uint8
    assert len(engine.detect(swapped)) == len(engine.detect(photo))
