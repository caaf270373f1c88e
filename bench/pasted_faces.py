"""Small faces of known size in real 1920x1080 frames, for detection recall.

LFW photos (grayscale 350x350 crops) are shrunk so that the face is 40, 50, 60 or 80 px
wide and pasted, with a feathered elliptical edge (no square seam for a detector to key
on), at seeded random places into frames of the shared clip upscaled from 640x360 to
1920x1080. The width of a face is the width of the box dlib's CNN detector gives it in
the full-size photo: the convention of dlib's hand-labelled faces (the detector was
trained on them), whose width YuNet's and SCRFD's boxes match within a few percent.
The frames' own (unlabelled) faces are not scored: only the pasted ones are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

FRAME_SIZE = (1920, 1080)
FACE_WIDTHS = (40, 50, 60, 80)
FACES_PER_FRAME = 8


@dataclass(frozen=True)
class PastedFrame:
    rgb: npt.NDArray[np.uint8]  # 1080 x 1920 x 3
    boxes: npt.NDArray[np.float64]  # [faces, 4] x1, y1, x2, y2 of the pasted faces (their dlib-convention box)
    widths: npt.NDArray[np.int64]  # [faces] the width each was shrunk to


def clip_frames(video: Path, count: int) -> list[npt.NDArray[np.uint8]]:
    """`count` frames spread over the clip, upscaled to 1920x1080 (bicubic)."""
    import av

    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [np.asarray(Image.fromarray(frames[i]).resize(FRAME_SIZE, Image.BICUBIC)) for i in picks]


def _mask(size: tuple[int, int], box: Sequence[float]) -> Image.Image:
    """An ellipse around the face box (1.6 x its width, 1.9 x its height), feathered."""
    from PIL import ImageDraw, ImageFilter

    w, h = size
    x1, y1, x2, y2 = box
    cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).ellipse((cx - 0.8 * bw, cy - 0.95 * bh, cx + 0.8 * bw, cy + 0.95 * bh), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(max(1.0, 0.06 * bw)))


def paste_frames(backgrounds: Sequence[npt.NDArray[np.uint8]], photos: Sequence[Path],
                 face_box: Callable[[Path], Sequence[float]], seed: int = 0,
                 widths: Sequence[int] = FACE_WIDTHS, per_frame: int = FACES_PER_FRAME) -> list[PastedFrame]:
    """Each background with `per_frame` faces, the widths in turn, photos in order (seeded places)."""
    rng = np.random.default_rng(seed)
    out = []
    photo_iter = iter(photos)
    turn = 0
    for background in backgrounds:
        canvas = Image.fromarray(background)
        boxes: list[tuple[float, float, float, float]] = []
        sizes: list[int] = []
        taken: list[tuple[float, float, float, float]] = []
        for _ in range(per_frame):
            photo = next(photo_iter)
            width = widths[turn % len(widths)]
            turn += 1
            x1, y1, x2, y2 = face_box(photo)
            scale = width / (x2 - x1)
            image = Image.open(photo).convert("RGB")
            small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.LANCZOS)
            box = (x1 * scale, y1 * scale, x2 * scale, y2 * scale)
            mask = _mask(small.size, box)
            for _attempt in range(200):  # a place whose pasted square overlaps no other
                left = int(rng.integers(0, FRAME_SIZE[0] - small.width))
                top = int(rng.integers(0, FRAME_SIZE[1] - small.height))
                square = (left, top, left + small.width, top + small.height)
                if all(square[2] <= t[0] or t[2] <= square[0] or square[3] <= t[1] or t[3] <= square[1]
                       for t in taken):
                    break
            taken.append(square)
            canvas.paste(small, (left, top), mask)
            boxes.append((left + box[0], top + box[1], left + box[2], top + box[3]))
            sizes.append(width)
        out.append(PastedFrame(np.asarray(canvas), np.array(boxes, np.float64), np.array(sizes, np.int64)))
    return out
