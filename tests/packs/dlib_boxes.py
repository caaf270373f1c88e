"""dlib's hand-labelled face boxes (imglab XML) and matching detections to them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

Box = tuple[float, float, float, float]  # x1, y1, x2, y2


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    boxes: tuple[Box, ...]


def read_imglab(xml_file: Path) -> list[LabelledImage]:
    images = []
    for image in ET.parse(xml_file).getroot().iter("image"):
        boxes = []
        for b in image.iter("box"):
            left, top = float(b.get("left", 0)), float(b.get("top", 0))
            boxes.append((left, top, left + float(b.get("width", 0)), top + float(b.get("height", 0))))
        images.append(LabelledImage(xml_file.parent / image.get("file", ""), tuple(boxes)))
    return images


def iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def matched(labels: tuple[Box, ...], detections: list[Box], min_iou: float) -> int:
    """Labelled boxes found: greedy one-to-one matching, best IoU first."""
    pairs = sorted(((iou(l, d), i, j) for i, l in enumerate(labels) for j, d in enumerate(detections)), reverse=True)
    used_l, used_d, found = set(), set(), 0
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i not in used_l and j not in used_d:
            used_l.add(i), used_d.add(j)
            found += 1
    return found
