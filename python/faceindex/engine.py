"""FaceEngine: detect, embed, analyze and compare faces with one model pack."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from faceindex.images import DEFAULT_MAX_PIXELS, RGBImage, load_image
from faceindex.packs import DEFAULT_PACK, ModelPack, load_pack
from faceindex.quality import measure_quality
from faceindex.types import Comparison, Face, FloatArray, PackInfo


class NoFaceError(ValueError):
    """An image given for comparison holds no face."""


class FaceEngine:
    """Runs one model pack over images.

    `FaceEngine()` uses the default dlib pack (CC0 models shipped on PyPI);
    `FaceEngine(pack="buffalo_s")` a pack folder under the models directory;
    `FaceEngine(detector=PATH, recognizer=PATH)` explicit ONNX files.
    """

    def __init__(
        self,
        pack: str | None = DEFAULT_PACK,
        backend: str = "auto",
        upsample: int | None = None,
        *,
        detector: str | Path | None = None,
        recognizer: str | Path | None = None,
        det_size: tuple[int, int] | None = None,
        det_threshold: float | None = None,
        models_dir: str | Path | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        options: dict[str, Any] = {}
        if upsample is not None:
            options["upsample"] = upsample
        if det_size is not None:
            options["det_size"] = det_size
        if det_threshold is not None:
            options["det_threshold"] = det_threshold
        self._pack: ModelPack = load_pack(
            pack, detector=detector, recognizer=recognizer, backend=backend, models_dir=models_dir, **options
        )
        self.max_pixels = max_pixels

    @property
    def pack(self) -> PackInfo:
        return self._pack.info

    def load(self, image: Any) -> RGBImage:
        """Decode any accepted image source to the uint8 RGB array the pack runs on."""
        return load_image(image, max_pixels=self.max_pixels)

    def detect(self, image: Any) -> list[Face]:
        """Faces in the image, highest score first, with landmarks and quality fields."""
        rgb = self.load(image)
        faces = self._pack.detect(rgb)
        measure_quality(rgb, faces)
        faces.sort(key=lambda f: -f.score)
        return faces

    def embed(self, image: Any, faces: Sequence[Face]) -> FloatArray:
        """Unit embeddings, float32 [len(faces), embedding_size], one per face, in order."""
        if len(faces) == 0:
            return np.zeros((0, self.pack.embedding_size), dtype=np.float32)
        for i, face in enumerate(faces):
            if not isinstance(face, Face):
                raise TypeError(f"faces[{i}] is {type(face).__name__}, not a Face")
        rgb = self.load(image)
        return self._pack.embed(rgb, faces)

    def analyze(self, image: Any) -> list[Face]:
        """detect, then embed every face; each Face comes back with `embedding` set."""
        rgb = self.load(image)
        faces = self._pack.detect(rgb)
        measure_quality(rgb, faces)
        faces.sort(key=lambda f: -f.score)
        if faces:
            embeddings = self._pack.embed(rgb, faces)
            for face, embedding in zip(faces, embeddings):
                face.embedding = embedding
        return faces

    def compare(self, a: Any, b: Any, threshold: float | None = None) -> Comparison:
        """Compare two faces: each an image (its largest face is used), a Face with an
        embedding, or an embedding vector from this pack."""
        threshold = self.pack.default_threshold if threshold is None else float(threshold)
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold}")
        face_a, emb_a = self._embedding_of(a, "a")
        face_b, emb_b = self._embedding_of(b, "b")
        similarity = float(np.dot(emb_a.astype(np.float64), emb_b.astype(np.float64)))
        return Comparison(
            similarity=similarity,
            threshold=threshold,
            same_person=similarity >= threshold,
            pack=self.pack.name,
            pack_version=self.pack.version,
            faces=(face_a, face_b),
        )

    def _embedding_of(self, item: Any, name: str) -> tuple[Face | None, FloatArray]:
        if isinstance(item, Face):
            if item.embedding is None:
                raise ValueError(f"{name}: the Face has no embedding (use analyze(), or embed() first)")
            return item, self._check_embedding(item.embedding, name)
        if isinstance(item, np.ndarray) and item.ndim == 1 and item.dtype != np.uint8:
            return None, self._check_embedding(item, name)
        faces = self.analyze(item)
        if not faces:
            raise NoFaceError(f"{name}: no face found in the image")
        largest = max(faces, key=lambda f: f.area)
        assert largest.embedding is not None
        return largest, largest.embedding

    def _check_embedding(self, embedding: np.ndarray, name: str) -> FloatArray:
        size = self.pack.embedding_size
        v = np.asarray(embedding, dtype=np.float32)
        if v.shape != (size,):
            raise ValueError(f"{name}: embedding must have shape ({size},) for pack {self.pack.name}, got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name}: embedding holds NaN or inf")
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            raise ValueError(f"{name}: embedding is all zeros")
        return (v / norm).astype(np.float32)
