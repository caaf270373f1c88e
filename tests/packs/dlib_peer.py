"""The dlib-bin reference pipeline (what face_recognition runs) and LFW helpers, shared by
the dlib parity tests and the dlib benchmarks (pyproject.toml puts tests/packs on their path)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

import numpy as np

from faceindex.evaluation.lfw import LfwPair
from faceindex.images import load_image
from faceindex.packs.dlib import model_files


@dataclass
class PeerFace:
    box: tuple[int, int, int, int]  # dlib rectangle: left, top, right, bottom (inclusive)
    score: float
    landmarks: np.ndarray  # 5x2
    descriptor: np.ndarray | None = None  # 128, dlib's raw descriptor


class DlibPeer:
    """dlib's own models through the dlib Python package (dlib-bin wheel, or a source build)."""

    def __init__(self) -> None:
        import dlib

        d = model_files.models_dir()
        self.dlib = dlib
        self.detector = dlib.cnn_face_detection_model_v1(str(d / model_files.DETECTOR))
        self.predictor = dlib.shape_predictor(str(d / model_files.SHAPE_PREDICTOR))
        self.recognizer = dlib.face_recognition_model_v1(str(d / model_files.RECOGNIZER))

    def detect(self, rgb: np.ndarray, upsample: int = 0) -> list[PeerFace]:
        faces = []
        for det in self.detector(rgb, upsample):
            r = det.rect
            shape = self.predictor(rgb, r)
            lm = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float32)
            faces.append(PeerFace((r.left(), r.top(), r.right(), r.bottom()), float(det.confidence), lm))
        return faces

    def shape(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> Any:
        return self.predictor(rgb, self.dlib.rectangle(*box))

    def analyze(self, rgb: np.ndarray, upsample: int = 0) -> list[PeerFace]:
        faces = self.detect(rgb, upsample)
        for f in faces:  # one face at a time, as face_recognition.face_encodings does
            f.descriptor = np.array(self.recognizer.compute_face_descriptor(rgb, self.shape(rgb, f.box)))
        return faces


def shared_data_file(relative: str) -> Path:
    """A file of the shared test data for the benchmarks (bench/ has no data_file fixture):
    FACEINDEX_TEST_DATA, else ../shared/data beside the repository; skips when absent."""
    import os

    import pytest

    configured = os.environ.get("FACEINDEX_TEST_DATA")
    root = Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "data"
    path = root / relative
    if not path.exists():
        pytest.skip(f"test data missing: {path}")
    return path


def largest(faces: list[Any], area: Callable[[Any], float]) -> Any | None:
    return max(faces, key=area) if faces else None


def lfw_images(pairs: Iterable[LfwPair]) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in pairs:
        seen.setdefault(p.image_a)
        seen.setdefault(p.image_b)
    return list(seen)


def pair_similarities(pairs: list[LfwPair], embeddings: dict[Path, np.ndarray | None]) -> np.ndarray:
    """Cosine similarity per pair; -1 where either image had no face (a miss counts against the pipeline)."""
    sims = []
    for p in pairs:
        a, b = embeddings[p.image_a], embeddings[p.image_b]
        if a is None or b is None:
            sims.append(-1.0)
        else:
            sims.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    return np.array(sims)


def our_lfw_embedding(pack: Any, path: Path) -> np.ndarray | None:
    """The embedding of the largest face the dlib pack finds in an LFW image."""
    rgb = load_image(path)
    faces = pack.detect(rgb)
    face = largest(faces, lambda f: f.area)
    return None if face is None else pack.embed(rgb, [face])[0]


def peer_lfw_embedding(peer: DlibPeer, path: Path) -> np.ndarray | None:
    rgb = load_image(path)
    faces = peer.analyze(rgb)
    face = largest(faces, lambda f: (f.box[2] - f.box[0] + 1) * (f.box[3] - f.box[1] + 1))
    return None if face is None else face.descriptor


_worker_peer: DlibPeer | None = None


def _start_peer_worker() -> None:
    global _worker_peer
    _worker_peer = DlibPeer()


def _peer_worker_embedding(path: Path) -> np.ndarray | None:
    assert _worker_peer is not None
    return peer_lfw_embedding(_worker_peer, path)


def peer_lfw_embeddings(paths: list[Path], processes: int) -> dict[Path, np.ndarray | None]:
    """dlib-bin's embeddings of many LFW images, over `processes` processes: dlib's CNN
    detector runs on one core, and faceindex is measured on all of them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_peer_worker) as pool:
        return dict(zip(paths, pool.map(_peer_worker_embedding, paths, chunksize=16)))
