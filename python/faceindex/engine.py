"""FaceEngine: detect, embed, analyze and compare faces with one model pack.

Every image takes one path (`find`): decode, the pack's detector, quality measured
on the arrays, faces put in faceindex's one order (largest box first, ties by higher
score), and the recognizer on the faces asked for. `detect`, `analyze`, `compare`,
collections, video, the service, the Ray layer and evaluation all go through it, as
arrays (`FoundFaces`: the pixels and their `Detections`); `Face` objects are made only
where a result leaves the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from collections.abc import Sequence

import numpy as np

from faceindex.detections import Detections, as_detections
from faceindex.errors import NoFaceError
from faceindex import thresholds
from faceindex.thresholds import table_for
from faceindex.thresholds import cohorts
from faceindex.thresholds.score_norm import Cohort, normalise
from faceindex.images import DEFAULT_MAX_PIXELS, RGBImage, load_image
from faceindex.packs import DEFAULT_PACK, ModelPack, load_pack
from faceindex.quality import measure_quality
from faceindex.types import Comparison, Face, FloatArray, PackInfo, ScoreNormalisation

Embed = Literal["none", "largest", "all"]


@dataclass(frozen=True)
class FoundFaces:
    """One image through the engine: the decoded pixels and its faces as arrays, largest first
    (with embeddings where `find` was asked for them)."""

    rgb: RGBImage
    detections: Detections


class FaceEngine:
    """Finds faces in images and turns them into embeddings, with one model pack.

    pack: which models to run. "dlib" (the default) is dlib's CC0 detector, 5-point
        landmarks and ResNet recognizer, shipped on PyPI: nothing is downloaded. Another
        name is a folder of ONNX files under the models directory ("buffalo_l" finds
        ~/.cache/faceindex/models/buffalo_l/, or $FACEINDEX_MODELS/buffalo_l/). A
        ModelPack object is used as it is.
    backend: where the networks run: "onnxruntime" (CPU), "openvino" (CPU, the optional
        faceindex[openvino] extra), "tensorrt" (NVIDIA GPU), or "auto" (TensorRT when it
        and a GPU are present, else ONNX Runtime; with precision="auto", OpenVINO bf16
        or int8 where that is verified for the pack).
    precision: what the networks compute in. None (default): the backend's own (f32 on
        the CPU backends, fp16 on TensorRT). "f32". "bf16": OpenVINO on a CPU with AVX-512
        BF16 or AMX. "int8": networks quantized once into the cache (calibrated on
        $FACEINDEX_INT8_CALIBRATION, photos or videos, else the test clip under
        $FACEINDEX_TEST_DATA), on a CPU with VNNI. "-detector" / "-recognizer" mixes run
        one network reduced, the other f32. Without a passing verification record results
        carry the pack version "<version>+<precision>-unverified". "auto": the fastest
        precision this CPU runs natively whose verification record passed, else f32;
        `pack.precision_reason` says why.
    upsample: dlib pack only. How many times to double the image before looking for
        faces: higher numbers find smaller faces, and each costs about 4x the time.
        None (default): the image is searched at its own size (faces from about 80
        pixels up) and, only when nothing is found there, again at twice the size
        (faces down to about 40 pixels). Use 1 for group photos with small faces.
    detector, recognizer: paths of ONNX files to run instead of a named pack (give both).
    det_size: ONNX packs only. The (width, height) every image is scaled to fit before
        the detector sees it, as insightface does; when nothing is found, the engine looks
        once more at half that scale (faces that fill a tight crop). Smaller numbers are
        faster but miss small faces in large images. Default (640, 640), or the model's
        own fixed input.
    det_threshold: the detector score a face needs to count as found. Lower numbers find
        more faces and more things that are not faces. Default: the pack's (0.5 for
        SCRFD as in insightface; 0.0 for dlib's detector, as dlib).
    models_dir: where named ONNX packs are looked for (default $FACEINDEX_MODELS, else
        the user cache folder's models/).
    max_pixels: images with more pixels than this are refused before they are decoded
        (decompression bombs); default 100 megapixels.
    """

    def __init__(
        self,
        pack: str | ModelPack | None = DEFAULT_PACK,
        backend: str = "auto",
        upsample: int | None = None,
        *,
        detector: str | Path | None = None,
        recognizer: str | Path | None = None,
        det_size: tuple[int, int] | None = None,
        det_threshold: float | None = None,
        models_dir: str | Path | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        precision: str | None = None,
    ) -> None:
        if pack is not None and not isinstance(pack, str):
            self._pack: ModelPack = pack
        else:
            options: dict[str, Any] = {}
            if upsample is not None:
                options["upsample"] = upsample
            if det_size is not None:
                options["det_size"] = det_size
            if det_threshold is not None:
                options["det_threshold"] = det_threshold
            if precision is not None:
                options["precision"] = precision
            self._pack = load_pack(
                pack, detector=detector, recognizer=recognizer, backend=backend, models_dir=models_dir, **options
            )
        self.max_pixels = max_pixels

    @property
    def pack(self) -> PackInfo:
        return self._pack.info

    def __repr__(self) -> str:
        return f"FaceEngine(pack={self.pack.name!r} {self.pack.version}, {self.pack.embedding_size}-d)"

    def load(self, image: Any) -> RGBImage:
        """Decode any accepted image source to the uint8 RGB array the pack runs on."""
        return load_image(image, max_pixels=self.max_pixels)

    # -- the public operations ---------------------------------------------------------

    def detect(self, image: Any) -> list[Face]:
        """Faces in the image, largest first, with landmarks and quality fields."""
        return self.find(image).detections.faces()

    def analyze(self, image: Any) -> list[Face]:
        """detect, then embed every face; each Face comes back with `embedding` set."""
        return self.find(image, embed="all").detections.faces()

    def embed(self, image: Any, faces: Sequence[Face] | Detections) -> FloatArray:
        """Unit embeddings, float32 [len(faces), embedding_size], one per face, in order. `faces`
        are Face objects or Detections (arrays, as `find` gives them) of this image."""
        detections = as_detections(faces)
        if len(detections) == 0:
            return np.zeros((0, self.pack.embedding_size), dtype=np.float32)
        return self._embeddings(self.load(image), detections)

    def compare(self, a: Any, b: Any, threshold: float | None = None, *, max_fmr: float | None = None,
                cohort: Cohort | Literal["auto"] | None = "auto") -> Comparison:
        """Compare two faces: each an image (its largest face is used), a Face with an
        embedding, or an embedding vector from this pack.

        The threshold: `threshold` (a cosine similarity), or the lowest one whose false-match
        rate per comparison is at most `max_fmr` on the pack's calibration table, or by
        default FMR 1e-4. The result says which, and the FMR estimated at it.

        cohort: what the score is normalised against (AS-norm, thresholds/score_norm.py): "auto"
        (default) the cohort the user built for this pack (`faceindex cohort build`), a Cohort, or
        None. Without a cohort, or with threshold= (a cosine), the decision is on the cosine, and
        the result's `normalisation` says why.
        """
        choice = thresholds.for_comparison(self.pack, threshold, max_fmr)
        face_a, emb_a = self._embedding_of(a, "a")
        face_b, emb_b = self._embedding_of(b, "b")
        similarity = float(np.dot(emb_a.astype(np.float64), emb_b.astype(np.float64)))
        use, normalisation = self._cohort_for_compare(cohort, threshold)
        if use is not None:
            lines = use.lines(np.stack([emb_a, emb_b]))
            z = float(normalise(similarity, lines.take([0]), lines.take([1]))[0])
            choice = thresholds.for_comparison(self.pack, None, max_fmr, score="as-norm")
            table = table_for(self.pack, "as-norm")
            assert table is not None
            return Comparison(similarity, choice.value, z >= choice.value, self.pack.ref, choice, table.fmr_at(z),
                              (face_a, face_b), score=z, normalisation=normalisation)
        table = table_for(self.pack)
        return Comparison(
            similarity=similarity,
            threshold=choice.value,
            same_person=similarity >= choice.value,
            pack=self.pack.ref,
            threshold_choice=choice,
            fmr_at_similarity=table.fmr_at(similarity) if table else None,
            faces=(face_a, face_b),
            normalisation=normalisation,
        )

    def _cohort_for_compare(self, cohort: Cohort | Literal["auto"] | None, threshold: float | None
                            ) -> tuple[Cohort | None, ScoreNormalisation]:
        if threshold is not None:
            return None, ScoreNormalisation("none", "a threshold= was given: it is a cosine similarity", None)
        if cohort == "auto":
            cohort = cohorts.cohort_for(self.pack)
            if cohort is None:
                return None, ScoreNormalisation("none", "no cohort (`faceindex cohort build` makes one for pack "
                                                        f"{self.pack.name} {self.pack.version})", None)
        if cohort is None:
            return None, ScoreNormalisation("none", "no cohort was given", None)
        if not isinstance(cohort, Cohort):
            raise TypeError(f"cohort must be \"auto\", a Cohort or None, got {type(cohort).__name__}")
        if cohort.pack != self.pack.ref:
            raise ValueError(f"the cohort is of pack {cohort.pack}, not {self.pack.ref}: embeddings of different "
                             "packs cannot be compared")
        if not thresholds.can_normalise(self.pack):
            return None, ScoreNormalisation("none", f"pack {self.pack.name} {self.pack.version} has no calibration "
                                                    "table of AS-norm scores", None)
        return cohort, cohort.describe()

    # -- the one path every image takes --------------------------------------------------

    def find(self, image: Any, embed: Embed = "none") -> FoundFaces:
        """The array path every caller builds on: decode the image, detect, measure quality, order
        largest first, and embed none of the faces, the largest only ("largest": the other faces
        are dropped) or all of them. To embed a chosen subset later (say, the faces that pass a
        quality filter), give `embed(found.rgb, found.detections.take(rows))`: the pixels are
        not decoded again."""
        rgb = self.load(image)
        detections = self._pack.detect(rgb)
        if detections.quality is None:
            detections = measure_quality(rgb, detections)
        detections = detections.largest_first()
        if embed == "largest":
            detections = detections.take(slice(0, 1))
        if embed != "none" and len(detections):
            detections = detections.with_embeddings(self._embeddings(rgb, detections))
        return FoundFaces(rgb, detections)

    def _embeddings(self, rgb: RGBImage, detections: Detections) -> FloatArray:
        """The pack's embeddings of these faces, checked: [n, embedding_size] unit vectors."""
        size = self.pack.embedding_size
        embeddings = np.asarray(self._pack.embed(rgb, detections), dtype=np.float32)
        if embeddings.shape != (len(detections), size):
            raise ValueError(f"pack {self.pack.name} returned embeddings of shape {embeddings.shape} "
                             f"for {len(detections)} faces of {size}-d")
        return embeddings

    def _embedding_of(self, item: Any, name: str) -> tuple[Face | None, FloatArray]:
        if isinstance(item, Face):
            if item.embedding is None:
                raise ValueError(f"{name}: the Face has no embedding (use analyze(), or embed() first)")
            return item, self._check_embedding(item.embedding, name)
        if isinstance(item, np.ndarray) and item.ndim == 1 and item.dtype != np.uint8:
            return None, self._check_embedding(item, name)
        found = self.find(item, embed="largest").detections
        if len(found) == 0:
            raise NoFaceError(f"{name}: no face found in the image")
        largest = found[0]
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
