"""An ONNX face detector of any known family: letterbox, run, decode."""

from __future__ import annotations

import math
import threading

import numpy as np

from faceindex.backends.base import Session
from faceindex.errors import ModelFileError
from faceindex.images import RGBImage
from faceindex.packs.onnx import kernels, retinaface, scrfd, yunet
from faceindex.packs.onnx.family import Family
from faceindex.types import FloatArray
from faceindex.packs.onnx.signature import DetectorSignature

FAMILIES: dict[str, Family] = {f.name: f for f in (scrfd.FAMILY, yunet.FAMILY, retinaface.FAMILY)}

DEFAULT_DET_SIZE = (640, 640)


class OnnxDetector:
    """Faces as float32 (n, 15) rows: x1, y1, x2, y2, score, then five landmark (x, y),
    in image pixels, best first. Landmarks are NaN when the model has none."""

    def __init__(
        self,
        session: Session,
        signature: DetectorSignature,
        det_size: tuple[int, int] | None = None,
        det_threshold: float | None = None,
    ) -> None:
        self.session = session
        self.signature = signature
        self.family = FAMILIES[signature.family]
        self.canvas = canvas_of(signature, det_size)
        self.score_threshold = self.family.score_threshold if det_threshold is None else float(det_threshold)
        self.score_threshold_source = self.family.score_threshold_source if det_threshold is None else "given"
        if not (0.0 <= self.score_threshold <= 1.0):
            raise ValueError(f"det_threshold must be in [0, 1], got {det_threshold}")
        self._buffers = threading.local()

    def _input_buffer(self, canvas: tuple[int, int]) -> FloatArray:
        """This thread's network input for a canvas no larger than det_size: reused across
        images (a fresh 5 MB array per image costs page faults), one per thread so that
        threads may share a detector; grown to the largest canvas asked for, not det_size
        (a detector whose det_size only bounds its canvas runs mostly on smaller ones)."""
        needed = 3 * canvas[0] * canvas[1]
        flat: FloatArray | None = getattr(self._buffers, "input", None)
        if flat is None or flat.size < needed:
            flat = self._buffers.input = np.empty(needed, dtype=np.float32)
        view: FloatArray = flat[:needed].reshape(1, 3, canvas[1], canvas[0])
        return view

    def canvas_for(self, image_height: int, image_width: int, fit: tuple[int, int] | None = None) -> tuple[int, int]:
        """The network input (width, height) for an image scaled to fit `fit` (default det_size):
        det_size, or for a model with a dynamic input, `fit` cropped to the letterboxed image
        rounded up to the coarsest stride. The padding the network would only read is skipped."""
        if self.signature.input_size is not None:
            return self.canvas
        fit = fit or self.canvas
        scale = min(fit[0] / image_width, fit[1] / image_height)
        step = math.lcm(*self.signature.strides)
        width = min(fit[0], -(-math.floor(image_width * scale + 1e-3) // step) * step)
        height = min(fit[1], -(-math.floor(image_height * scale + 1e-3) // step) * step)
        return max(width, step), max(height, step)

    def detect(self, image: RGBImage) -> FloatArray:
        """Faces scaled to det_size as insightface does; when none is found, once more at half
        that scale: a face that fills a tight crop (an ID photo, an LFW headshot) comes out
        larger than the detector's largest anchors when enlarged to det_size."""
        rows = self.detect_at(image, self.canvas)
        if len(rows) == 0:
            half = (max(self.canvas[0] // 2, 1), max(self.canvas[1] // 2, 1))
            rows = self.detect_at(image, half)
        return rows

    def detect_at(self, image: RGBImage, fit: tuple[int, int]) -> FloatArray:
        """One pass: the image scaled to fit `fit` (width, height), within the network's canvas."""
        f = self.family
        canvas = self.canvas_for(image.shape[0], image.shape[1], fit)
        tensor, scale, _ = kernels.letterbox(image, canvas, f.bgr, f.mean, f.std, self._input_buffer(canvas),
                                             fit=(min(fit[0], canvas[0]), min(fit[1], canvas[1])))
        outputs = self.session.run({self.signature.input_name: tensor})
        return f.decode(outputs, self.signature, canvas, scale, self.score_threshold, f.nms_threshold)


def canvas_of(signature: DetectorSignature, det_size: tuple[int, int] | None) -> tuple[int, int]:
    """The network input (width, height): the model's own when it fixes one, else det_size.

    ModelFileError when the model itself fixes a size out of bounds (a file declaring a
    1e9-pixel input would allocate that much per image); ValueError for a bad det_size."""
    if det_size is not None:
        try:
            width, height = (int(v) for v in det_size)
        except (TypeError, ValueError):
            raise ValueError(f"det_size must be (width, height), got {det_size!r}") from None
        if (width, height) != tuple(det_size):
            raise ValueError(f"det_size must be whole numbers, got {det_size!r}")
    if signature.input_size is not None:
        if det_size is not None and (width, height) != signature.input_size:
            raise ValueError(
                f"this {signature.family} model takes a fixed {signature.input_size[0]}x{signature.input_size[1]} "
                f"input; det_size={tuple(det_size)} cannot apply (leave det_size unset)"
            )
        width, height = signature.input_size
    elif det_size is None:
        width, height = DEFAULT_DET_SIZE
    step = math.lcm(*signature.strides)
    if signature.input_size is not None and not (step <= width <= 8192 and step <= height <= 8192
                                                 and width % step == 0 and height % step == 0):
        raise ModelFileError(
            f"this {signature.family} model declares a fixed {width}x{height} input; faceindex runs detectors "
            f"whose input sides are multiples of {step} in {step}..8192"
        )
    if width < step or height < step or width % step or height % step or max(width, height) > 8192:
        raise ValueError(
            f"det_size must be (width, height) multiples of {step}, each in {step}..8192, got ({width}, {height})"
        )
    return width, height


__all__ = ["DEFAULT_DET_SIZE", "FAMILIES", "OnnxDetector"]
