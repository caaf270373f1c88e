"""The default pack's detector: YuNet proposes faces, dlib's CNN confirms each one in a tile.

dlib's CNN (mmod) sees faces from about 80 pixels; finding 40-pixel faces with it means
searching the image at twice its size, four times the cost, which a 1080p video cannot
afford. YuNet (OpenCV Zoo, MIT, shipped inside faceindex) finds faces down to about 40
pixels at the image's own size for a fraction of that cost, but at the low threshold that
finds them all it also proposes things that are not faces, and its boxes are not the ones
dlib's shape predictor was trained on. So:

1. YuNet looks at the image scaled by PROPOSAL_FACE / min_face (the image's own size for
   the default min_face of 40 px; at most MAX_CANVAS on the longer side), at the low
   PROPOSAL_THRESHOLD; when it proposes nothing, once more at half that scale (a face that
   fills the frame).
2. Each proposal is cut out (a similarity warp, in C++) as a TILE x TILE tile in which the
   proposed face is CONFIRM_FACE pixels wide (from the image reduced by a power of two first
   when the face is large; what lies beyond the image's edges in dlib's mean colour, as its
   own pyramid pads), the tiles are laid side by side in one mosaic, and dlib's CNN runs once
   on the mosaic, at its own size. A face it finds near a
   tile's centre confirms the proposal, and its box, mapped back to the image, is the
   face's box: the box convention of dlib's labelled faces, which its 5-point shape
   predictor was trained on, so that landmarks, chips and embeddings are dlib's own.

The measured figures (recall by face size, false detections, time) are in
bench/results/bench_detection.json and docs/default-pack.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceindex.backends import open_session
from faceindex.images import RGBImage
from faceindex.packs.dlib.kernels import MmodDetector
from faceindex.packs.onnx import kernels as onnx_kernels
from faceindex.packs.onnx.detector import OnnxDetector
from faceindex.packs.onnx.known_models import identify
from faceindex.packs.onnx.signature import DetectorSignature, recognise

YUNET_FILE = "face_detection_yunet_2026may.onnx"
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"

DEFAULT_MIN_FACE = 40  # pixels: Rekognition's smallest face in a 1920x1080 image
PROPOSAL_FACE = 40  # the smallest face YuNet proposes reliably at its input's scale (pixels)
PROPOSAL_THRESHOLD = 0.2  # YuNet's score to propose a face (its own default, 0.9, is for deciding)
MAX_CANVAS = 4096  # YuNet's input, longer side, pixels
TILE = 160  # side of a proposal's tile in the mosaic
CONFIRM_FACE = 80  # the proposed face's width in its tile: dlib's CNN window
MOSAIC_COLUMNS = 8
CENTRE_TOLERANCE = 0.35  # how far (in face widths) a confirming box's centre may lie from its tile's
# YuNet's boxes are taller than wide; dlib's are square, about 1.02 x YuNet's width and 0.79 x its
# height (medians over 1,579 faces both found: LFW and dlib's labelled photos).
DLIB_WIDTH_PER_YUNET_WIDTH = 1.02
DLIB_WIDTH_PER_YUNET_HEIGHT = 0.79
DUPLICATE_IOU = 0.5  # two proposals of one face confirmed twice: the better kept


def yunet_path() -> Path:
    """The shipped YuNet file (faceindex/models/yunet/), checked against its sha256."""
    path = Path(str(resources.files("faceindex") / "models" / "yunet" / YUNET_FILE))
    identity = identify(path)
    if identity.sha256 != YUNET_SHA256:  # identify refuses a file with this name and other content
        raise RuntimeError(f"{path} is not the YuNet file faceindex ships")
    return path


@dataclass(frozen=True)
class Confirmed:
    """The confirmed faces of one image."""

    boxes: npt.NDArray[np.int64]  # [n, 4] dlib rectangles (left, top, right, bottom, inclusive), in the image
    scores: npt.NDArray[np.float64]  # [n] dlib's CNN score of the confirming detection
    proposals: npt.NDArray[np.float32]  # [n, 15] YuNet's row: x1, y1, x2, y2, score, five points

    @classmethod
    def none(cls) -> Confirmed:
        return cls(np.zeros((0, 4), np.int64), np.zeros(0), np.zeros((0, 15), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)


class ProposeAndConfirm:
    """YuNet's proposals confirmed by dlib's CNN (`mmod`, with its network `run_network`)."""

    def __init__(self, mmod: MmodDetector, run_network: Callable[[npt.NDArray[np.float32]], Sequence[np.ndarray]],
                 min_face: float = DEFAULT_MIN_FACE) -> None:
        if isinstance(min_face, bool) or not isinstance(min_face, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(min_face)) or not 8 <= float(min_face) <= 1000:
            raise ValueError(f"min_face must be a number of pixels in [8, 1000], got {min_face!r}")
        self.min_face = float(min_face)
        self._mmod = mmod
        self._run_network = run_network
        path = yunet_path()
        # YuNet runs on ONNX Runtime at f32 whatever the pack's backend: 230 kB, cheap on any CPU.
        session = open_session(path, "onnxruntime")
        signature = recognise(session.inputs, session.outputs, what=str(path))
        assert isinstance(signature, DetectorSignature)
        self._yunet = OnnxDetector(session, signature, (MAX_CANVAS, MAX_CANVAS), PROPOSAL_THRESHOLD)

    @property
    def scale(self) -> float:
        """How much the image is enlarged (or reduced) before YuNet looks at it."""
        return PROPOSAL_FACE / self.min_face

    def propose(self, image: RGBImage) -> npt.NDArray[np.float32]:
        """YuNet's rows (x1, y1, x2, y2, score, five points; image pixels), best first."""
        height, width = image.shape[:2]
        scale = min(self.scale, MAX_CANVAS / max(width, height))
        rows = self._yunet.detect_at(image, _fit(width, height, scale))
        if len(rows) == 0:
            rows = self._yunet.detect_at(image, _fit(width, height, scale / 2))
        return rows

    def confirm(self, image: RGBImage, proposals: npt.NDArray[np.float32], threshold: float) -> Confirmed:
        """The proposals dlib's CNN finds a face in (score >= threshold), with its boxes."""
        n = len(proposals)
        if n == 0:
            return Confirmed.none()
        x1, y1, x2, y2 = (proposals[:, k].astype(np.float64) for k in range(4))
        size = 0.5 * (DLIB_WIDTH_PER_YUNET_WIDTH * (x2 - x1) + DLIB_WIDTH_PER_YUNET_HEIGHT * (y2 - y1))
        scale = CONFIRM_FACE / np.maximum(size, 1.0)  # image -> tile
        origin = np.stack([(x1 + x2) / 2, (y1 + y2) / 2], axis=1) - (TILE / 2) / scale[:, None]
        corners = np.array([[0, 0], [TILE, 0], [0, TILE], [TILE, TILE], [TILE / 2, TILE / 2]], np.float32)
        where = corners[None] / scale[:, None, None] + origin[:, None, :]
        tiles = _tiles(image, where, scale, corners)
        _fill_outside(tiles, origin, scale, image.shape[1], image.shape[0], self._mmod.means)
        columns = min(MOSAIC_COLUMNS, n)
        rows = -(-n // columns)
        grid = np.zeros((rows * columns, TILE, TILE, 3), np.uint8)
        grid[:n] = tiles
        mosaic = np.ascontiguousarray(grid.reshape(rows, columns, TILE, TILE, 3).transpose(0, 2, 1, 3, 4)
                                      .reshape(rows * TILE, columns * TILE, 3))
        canvas, layout = self._mmod.prepare(mosaic, 0)
        (score_map,) = self._run_network(canvas)
        found, found_scores = self._mmod.decode(score_map, layout, threshold)
        best = np.full(n, -1, np.int64)
        best_score = np.full(n, -np.inf)
        edges = found.astype(np.float64) + np.array([0.0, 0.0, 1.0, 1.0])
        centres = np.stack([(edges[:, 0] + edges[:, 2]) / 2, (edges[:, 1] + edges[:, 3]) / 2], axis=1)
        for k in range(len(found)):  # a handful of boxes per image
            column, row = int(centres[k, 0] // TILE), int(centres[k, 1] // TILE)
            tile = row * columns + column
            if not (0 <= column < columns and tile < n):
                continue
            offset = centres[k] - (np.array([column, row]) + 0.5) * TILE
            if np.any(np.abs(offset) > CENTRE_TOLERANCE * CONFIRM_FACE) or found_scores[k] <= best_score[tile]:
                continue
            best[tile], best_score[tile] = k, found_scores[k]
        chosen = np.flatnonzero(best >= 0)
        if len(chosen) == 0:
            return Confirmed.none()
        picked = best[chosen]
        shift = np.stack([chosen % columns, chosen // columns], axis=1) * TILE
        local = edges[picked] - np.tile(shift, 2)
        in_image = local / scale[chosen, None] + np.tile(origin[chosen], 2)
        boxes = np.stack([np.round(in_image[:, 0]), np.round(in_image[:, 1]),
                          np.round(in_image[:, 2]) - 1, np.round(in_image[:, 3]) - 1], axis=1).astype(np.int64)
        scores = found_scores[picked].astype(np.float64)
        keep = onnx_kernels.nms(np.ascontiguousarray(in_image, dtype=np.float32),
                                np.ascontiguousarray(scores, dtype=np.float32), DUPLICATE_IOU)
        keep = np.sort(keep)
        return Confirmed(boxes[keep], scores[keep], proposals[chosen[keep]])


def _tiles(image: RGBImage, where: np.ndarray, scale: np.ndarray, corners: np.ndarray) -> npt.NDArray[np.uint8]:
    """The tiles (uint8 [n, TILE, TILE, 3]) whose corners and centre lie at `where` in the image.
    A tile that shrinks its region more than twofold is cut from the image reduced 2**k times
    first (a box filter: Pillow's reduce), so that no tile is sampled more than 2 pixels apart:
    bilinear sampling of a face four times too large aliases, and dlib's CNN then misses it
    (LFW's close crops, faces of 280 px and more)."""
    tiles = np.empty((len(where), TILE, TILE, 3), np.uint8)
    levels = np.floor(np.log2(np.maximum(1.0 / scale, 1.0))).astype(int)
    for level in np.unique(levels):
        rows = np.flatnonzero(levels == level)
        source, factor = image, 2 ** int(level)
        if factor > 1:
            from PIL import Image

            source = np.asarray(Image.fromarray(image).reduce(factor))
        points = (where[rows] + 0.5) / factor - 0.5  # pixel centres of the reduced image
        tiles[rows] = onnx_kernels.align_chips(source, np.ascontiguousarray(points, dtype=np.float32), corners,
                                               TILE)
    return tiles


def _fill_outside(tiles: npt.NDArray[np.uint8], origin: np.ndarray, scale: np.ndarray, width: int, height: int,
                  means: tuple[float, float, float]) -> None:
    """Paint the part of each tile beyond the image's edges in dlib's mean colour, as dlib's own
    pyramid pads (zero after it subtracts the mean): black there reads as a dark frame to its CNN,
    which then misses faces that fill a close crop."""
    colour = np.round(np.asarray(means)).astype(np.uint8)
    # Tile pixel u shows image x = u / scale + origin: inside for u in [(0 - o) s, (W - 1 - o) s].
    first = np.ceil(-origin * scale[:, None]).astype(int)
    last = np.floor((np.array([width - 1, height - 1]) - origin) * scale[:, None]).astype(int) + 1
    for k in np.flatnonzero((first > 0).any(axis=1) | (last < TILE).any(axis=1)):
        x0, y0 = np.clip(first[k], 0, TILE)
        x1, y1 = np.clip(last[k], 0, TILE)
        tiles[k, :y0] = colour
        tiles[k, y1:] = colour
        tiles[k, :, :x0] = colour
        tiles[k, :, x1:] = colour


def _fit(width: int, height: int, scale: float) -> tuple[int, int]:
    """YuNet's input for the image scaled by `scale`: sides rounded up to its stride, 32."""
    return (max(32, -(-round(width * scale) // 32) * 32), max(32, -(-round(height * scale) // 32) * 32))
