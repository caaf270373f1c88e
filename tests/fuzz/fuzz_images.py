"""Fuzz harness: load_image on arbitrary bytes (every Pillow decoder, EXIF orientation, the pixel limit).

Accepted outcomes: a uint8 HxWx3 C-contiguous array within the pixel limit, or ImageError.
"""

from __future__ import annotations

import numpy as np

from faceindex.errors import ImageError
from faceindex.images import load_image

# Small enough that a decompression bomb is refused quickly, large enough for real headers.
MAX_PIXELS = 1 << 20


def check(data: bytes) -> None:
    try:
        rgb = load_image(data, max_pixels=MAX_PIXELS)
    except ImageError:
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, (rgb.dtype, rgb.shape)
    assert rgb.flags.c_contiguous and 0 < rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS, rgb.shape


if __name__ == "__main__":
    from fuzzing import fuzz

    fuzz(check)
