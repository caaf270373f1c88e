"""Shared pieces of the collection tests: a synthetic pack, a scripted engine, real packs when present."""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from faceindex import FaceEngine, PackInfo
from faceindex.detections import Detections
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


class ScriptedPack:
    """A model pack whose detections and embeddings are set by the test: scene n is the
    image scene_image(n), holding the faces given (with their quality) and their embeddings."""

    def __init__(self, scenes: dict[int, list[tuple[Face, FloatArray]]], info: PackInfo) -> None:
        self.scenes = scenes
        self.info = info
        self.embedded: list[int] = []  # how many faces each embed() call got

    def detect(self, rgb: np.ndarray) -> Detections:
        faces = [copy.deepcopy(f) for f, _ in self.scenes.get(int(rgb[0, 0, 0]), [])]
        faces.sort(key=lambda f: -f.score)
        return Detections.from_faces(faces)

    def embed(self, rgb: np.ndarray, detections: Detections) -> FloatArray:
        by_box = {f.bbox: e for f, e in self.scenes.get(int(rgb[0, 0, 0]), [])}
        self.embedded.append(len(detections))
        return np.array([by_box[f.bbox] for f in detections], dtype=np.float32).reshape(len(detections), DIM)


class ScriptedEngine(FaceEngine):
    """A FaceEngine over a ScriptedPack, so the collection's own logic (quality filter,
    ordering, search) is tested through the engine's real path, apart from any model."""

    def __init__(self, scenes: dict[int, list[tuple[Face, FloatArray]]], pack: PackInfo = SYNTHETIC) -> None:
        self.scripted = ScriptedPack(scenes, pack)
        super().__init__(pack=self.scripted)

    @property
    def scenes(self) -> dict[int, list[tuple[Face, FloatArray]]]:
        return self.scripted.scenes

    @property
    def embedded(self) -> list[int]:
        return self.scripted.embedded


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
