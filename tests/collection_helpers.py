"""Shared pieces of the collection tests: a synthetic pack, a scripted engine, real packs when present."""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from faceindex import FaceEngine, PackInfo, load_image
from faceindex.types import Face, FloatArray

DIM = 128
SYNTHETIC = PackInfo(
    name="synthetic", version="1", embedding_size=DIM, default_threshold=0.6,
    threshold_source="tests: random unit vectors are near-orthogonal in 128-d",
    detector="scripted", recognizer="scripted", license="test only",
)


def unit_vectors(n: int, seed: int, dim: int = DIM) -> FloatArray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def near(vector: FloatArray, similarity: float, seed: int) -> FloatArray:
    """A unit vector whose cosine similarity to `vector` (a unit vector) is exactly `similarity`."""
    other = unit_vectors(1, seed, len(vector))[0].astype(np.float64)
    other -= other.dot(vector) * vector
    other /= np.linalg.norm(other)
    return (similarity * vector + np.sqrt(1 - similarity**2) * other).astype(np.float32)


def face(x: float, y: float, size: float, score: float = 0.99, sharpness: float = 100.0,
         brightness: float = 0.5, pose: tuple[float, float, float] | None = None) -> Face:
    landmarks = np.array([[x + size * fx, y + size * fy] for fx, fy in
                          ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))], dtype=np.float32)
    return Face(bbox=(x, y, x + size, y + size), score=score, landmarks=landmarks, face_size=size,
                sharpness=sharpness, brightness=brightness, pose=pose)


def scene_image(number: int) -> np.ndarray:
    """A small image the ScriptedEngine recognises by its pixel value."""
    return np.full((32, 32, 3), number, dtype=np.uint8)


class ScriptedEngine:
    """An engine whose detections and embeddings are set by the test: scene n is
    the image scene_image(n), holding the faces given with their embeddings.

    It satisfies the engine interface the collection uses (pack, detect, embed),
    so the collection's own logic (quality filter, ordering, search) is tested
    apart from any model.
    """

    def __init__(self, scenes: dict[int, list[tuple[Face, FloatArray]]], pack: PackInfo = SYNTHETIC) -> None:
        self.scenes = scenes
        self._pack = pack
        self.embedded: list[int] = []  # how many faces each embed() call got

    @property
    def pack(self) -> PackInfo:
        return self._pack

    def _scene(self, image: Any) -> list[tuple[Face, FloatArray]]:
        rgb = load_image(image)
        return self.scenes.get(int(rgb[0, 0, 0]), [])

    def detect(self, image: Any) -> list[Face]:
        faces = [copy.deepcopy(f) for f, _ in self._scene(image)]
        faces.sort(key=lambda f: -f.score)
        return faces

    def embed(self, image: Any, faces: Sequence[Face]) -> FloatArray:
        by_box = {f.bbox: e for f, e in self._scene(image)}
        self.embedded.append(len(faces))
        return np.array([by_box[f.bbox] for f in faces], dtype=np.float32).reshape(len(faces), DIM)


def require_pack(name: str) -> FaceEngine:
    """A FaceEngine of a real model pack; skipped, with the reason, while the pack's code is not merged.

    Any other failure to load it is a test failure, never a skip.
    """
    module = "faceindex.packs.dlib" if name == "dlib" else "faceindex.packs.onnx"
    if importlib.util.find_spec(module) is None:
        issue = "issue 3" if name == "dlib" else "issue 4"
        pytest.skip(f"the {name} model pack ({module}, {issue}) is not merged into this branch yet")
    return FaceEngine(pack=name)


def collection_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file())


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))
