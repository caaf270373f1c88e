"""Decoding images into uint8 HxWx3 RGB arrays, with clear errors for bad input."""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Any, Union

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from faceindex.errors import ImageError

RGBImage = npt.NDArray[np.uint8]
ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, Image.Image]

# Larger images are refused before they are decoded (decompression bombs).
DEFAULT_MAX_PIXELS = 100_000_000


def load_image(source: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> RGBImage:
    """Decode a path, bytes, a numpy array or a PIL image to a C-contiguous uint8 HxWx3 RGB array.

    Grayscale and RGBA are converted; EXIF orientation is applied; images over
    `max_pixels` pixels are refused before decoding.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, max_pixels, what="PIL image")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageError("empty image bytes")
        return _decode(io.BytesIO(data), max_pixels, what="image bytes")
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if not path.exists():
            raise FileNotFoundError(f"image not found: {path}")
        if path.is_dir():
            raise ImageError(f"{path} is a directory, not an image")
        if path.stat().st_size == 0:
            raise ImageError(f"empty image file: {path}")
        with path.open("rb") as f:
            return _decode(f, max_pixels, what=str(path))
    raise TypeError(
        f"unsupported image type {type(source).__name__}: expected a path, bytes, "
        "a numpy uint8 array or a PIL image"
    )


def _decode(stream: Any, max_pixels: int, what: str) -> RGBImage:
    try:
        with warnings.catch_warnings():
            # Our own pixel limit applies; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as img:
                return _from_pil(img, max_pixels, what)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"{what} is over the limit of {max_pixels} pixels ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"cannot decode {what}: not an image format faceindex reads "
                         "(JPEG, PNG, WebP, GIF, BMP, TIFF and the others Pillow opens)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow reports truncated and corrupt data with these.
        raise ImageError(f"cannot decode {what}: corrupt or truncated image ({_reason(e)})") from e


# Pillow names the file object it read in some messages: `<_io.BytesIO object at 0x7f...>`.
_OBJECT_REPR = re.compile(r"\s*<[\w.]+(?: object at 0x[0-9a-f]+| name=[^>]*)?>")


def _reason(error: BaseException) -> str:
    """Pillow's reason in words, without the reprs of the objects it read."""
    text = _OBJECT_REPR.sub("", str(error)).strip(" :")
    return text or "unreadable data"


def _from_pil(img: Image.Image, max_pixels: int, what: str) -> RGBImage:
    width, height = img.size
    _check_size(width, height, max_pixels, what)
    img.load()
    img = ImageOps.exif_transpose(img)
    if img.mode == "P":
        # Through RGBA so that palette transparency converts without a warning;
        # alpha is then dropped, as it is for RGBA arrays.
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _from_array(array: np.ndarray, max_pixels: int) -> RGBImage:
    if array.dtype != np.uint8:
        raise ImageError(f"image array must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    elif not (array.ndim == 3 and array.shape[2] == 3):
        raise ImageError(f"image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {array.shape}")
    height, width = array.shape[:2]
    _check_size(width, height, max_pixels, "image array")
    return np.ascontiguousarray(array)


def _check_size(width: int, height: int, max_pixels: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"{what} is empty ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"{what} has {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} (raise max_pixels to accept it)"
        )
