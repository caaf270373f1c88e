"""Detection measured on hand-labelled faces: recall by face size, false detections, and the
confidence curve a detector's raw score is mapped through (faceindex.packs.confidence).

Labelled photos are read from dlib's imglab XML (dlib's faces/training.xml and testing.xml:
PASCAL VOC photos, every face boxed by hand; boxes marked ignore are left out). A detection
and a labelled face match when their boxes overlap by IoU >= MATCH_IOU, one to one, best
overlap first: detectors draw their boxes a little differently (YuNet's and SCRFD's are
taller than dlib's), and 0.3 pairs every detection of these photos with the face it covers
without pairing neighbours.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceindex.types import Float64Array

MATCH_IOU = 0.3
SIZE_BANDS = (("<40", 0.0, 40.0), ("40-80", 40.0, 80.0), (">=80", 80.0, float("inf")))


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    boxes: Float64Array  # [n, 4] x1, y1, x2, y2 (pixel edges)

    @property
    def widths(self) -> Float64Array:
        widths: Float64Array = self.boxes[:, 2] - self.boxes[:, 0]
        return widths


def read_imglab(xml: Path) -> list[LabelledImage]:
    """The images of one imglab XML file and their face boxes (ignored boxes left out)."""
    root = ET.parse(xml).getroot()
    images = []
    for image in root.iter("image"):
        boxes = [[float(b.get(k, "nan")) for k in ("left", "top", "width", "height")]
                 for b in image.iter("box") if b.get("ignore") != "1"]
        array = np.array(boxes, np.float64).reshape(-1, 4)
        array[:, 2:] += array[:, :2]
        images.append(LabelledImage(xml.parent / str(image.get("file")), array))
    return images


def iou(a: npt.ArrayLike, b: npt.ArrayLike) -> Float64Array:
    """[len(a), len(b)] intersection over union of x1, y1, x2, y2 boxes."""
    p, q = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    w = np.clip(np.minimum(p[:, None, 2], q[None, :, 2]) - np.maximum(p[:, None, 0], q[None, :, 0]), 0, None)
    h = np.clip(np.minimum(p[:, None, 3], q[None, :, 3]) - np.maximum(p[:, None, 1], q[None, :, 1]), 0, None)
    inter = w * h
    area_p = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    area_q = (q[:, 2] - q[:, 0]) * (q[:, 3] - q[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Float64Array = np.where(inter > 0, inter / (area_p[:, None] + area_q[None, :] - inter), 0.0)
    return out


def match(labels: npt.ArrayLike, detections: npt.ArrayLike, min_iou: float = MATCH_IOU
          ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which labelled faces were found and which detections found one (one to one, best IoU first)."""
    overlap = iou(labels, detections)
    found = np.zeros(overlap.shape[0], bool)
    used = np.zeros(overlap.shape[1], bool)
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, overlap.shape)
        if overlap[i, j] < min_iou:
            break
        if not found[i] and not used[j]:
            found[i] = used[j] = True
    return found, used


def recall_by_size(widths: npt.ArrayLike, found: npt.ArrayLike) -> dict[str, dict[str, float]]:
    """Found / labelled per size band of the labelled widths."""
    w, f = np.asarray(widths, np.float64), np.asarray(found, bool)
    out = {}
    for name, low, high in SIZE_BANDS:
        band = (w >= low) & (w < high)
        out[name] = {"found": int(f[band].sum()), "labelled": int(band.sum()),
                     "recall": float(f[band].mean()) if band.any() else float("nan")}
    return out


def confidence_curve(scores: npt.ArrayLike, is_face: npt.ArrayLike, knots: int = 24
                     ) -> tuple[list[float], list[float]]:
    """The detector's precision at each raw score s, had s been its threshold: of the detections
    scoring s or more, the share that were faces. Made non-decreasing conservatively (at each
    score, the lowest precision of any higher threshold), and kept at the scores where it
    changes (both sides of each step; at most `knots`, spread evenly over its values) and the
    lowest and highest score seen."""
    s = np.asarray(scores, np.float64).reshape(-1)
    y = np.asarray(is_face, bool).reshape(-1)
    if len(s) == 0 or not y.any():
        raise ValueError("no detections of faces to measure")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    faces_above = np.cumsum(y)
    precision = faces_above / np.arange(1, len(s) + 1)
    last = np.r_[s[1:] != s[:-1], True]  # each distinct score once, with every detection tied to it counted
    s, precision = s[last], precision[last]
    precision = np.minimum.accumulate(precision)  # from the highest score down: never above a higher threshold's
    s, precision = s[::-1], precision[::-1]  # increasing
    steps = np.flatnonzero(np.diff(precision) != 0)
    picks = np.unique(np.concatenate([[0, len(s) - 1], steps, steps + 1]))
    if len(picks) > knots:  # the knots nearest to evenly spaced precisions, the ends kept
        wanted = np.linspace(precision[0], precision[-1], knots)
        nearest = np.abs(precision[picks][None, :] - wanted[:, None]).argmin(axis=1)
        picks = np.unique(np.concatenate([[picks[0], picks[-1]], picks[nearest]]))
    return [float(v) for v in s[picks]], [float(v) for v in precision[picks]]


def detections_at(images: Sequence[LabelledImage], detected: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]]
                  ) -> tuple[Float64Array, npt.NDArray[np.bool_], Float64Array, npt.NDArray[np.bool_]]:
    """Pooled over images: every detection's raw score and whether it matched a labelled face,
    and every labelled face's width and whether it was found."""
    scores, hits, widths, found = [], [], [], []
    for image, (boxes, raw) in zip(images, detected):
        f, used = match(image.boxes, boxes)
        scores.append(np.asarray(raw, np.float64).reshape(-1))
        hits.append(used)
        widths.append(image.widths)
        found.append(f)
    return np.concatenate(scores), np.concatenate(hits), np.concatenate(widths), np.concatenate(found)
