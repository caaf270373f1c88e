"""OnnxPack: a detector and a recognizer from ONNX files, as one model pack."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import numpy as np

from faceindex.backends import open_session
from faceindex.backends.precision import PrecisionChoice, choose
from faceindex.backends.base import Session
from faceindex.images import RGBImage
from faceindex.packs import confidence
from faceindex.packs.int8 import int8_sessions, opening
from faceindex.packs.onnx.arcface import ArcFaceRecognizer, RecognizerInput
from faceindex.packs.onnx.batching import dynamic_batch_copy
from faceindex.packs.onnx.detector import OnnxDetector
from faceindex.errors import ModelFileError, UnknownModelError
from faceindex.packs.onnx.known_models import Identity, identify
from faceindex.packs.onnx.models_dir import find_pack
from faceindex.packs.onnx.signature import (
    DetectorSignature,
    RecognizerSignature,
    describe,
    normalises_in_graph,
    recognise,
)
from faceindex.packs.onnx.threshold import default_threshold
from faceindex.detections import Detections, as_detections
from faceindex.types import Face, FloatArray, PackInfo, PackRef

_OPTIONS = {"det_size", "det_threshold", "precision", "mirror"}


class OnnxPack:
    """Runs an ONNX detector (SCRFD, YuNet or RetinaFace) and an ArcFace-style recognizer.

    A detector without landmarks (SCRFD exported without kps) still detects; its
    faces carry NaN landmarks, and embedding them raises ValueError.
    """

    def __init__(
        self,
        detector: OnnxDetector,
        recognizer: ArcFaceRecognizer,
        info: PackInfo,
        identities: tuple[Identity, Identity],
        confidence_curve: confidence.ConfidenceCurve | None = None,
    ) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.info = info
        self.identities = identities
        self.confidence_curve = confidence_curve

    @classmethod
    def from_files(
        cls,
        detector: str | os.PathLike[str],
        recognizer: str | os.PathLike[str],
        backend: str = "auto",
        *,
        name: str | None = None,
        version: str | None = None,
        **options: Any,
    ) -> OnnxPack:
        """A pack from explicit files; options: det_size=(w, h), det_threshold=score, precision
        (None, "f32", "bf16", "int8", a mix, "auto": see faceindex.backends.precision), mirror
        (each embedding the mean of the face's and its mirror image's: the version gains "+mirror")."""
        unknown = set(options) - _OPTIONS
        if unknown:
            raise TypeError(f"unexpected options for an ONNX pack: {sorted(unknown)}")
        mirror = options.get("mirror", False)
        if not isinstance(mirror, (bool, np.bool_)):
            raise ValueError(f"mirror must be True or False, got {mirror!r}")
        det_id = identify(Path(detector), stacklevel=3)
        rec_id = identify(Path(recognizer), stacklevel=3)
        name = name or f"{det_id.path.stem}+{rec_id.path.stem}"
        version = (version or f"sha256:{det_id.short}+{rec_id.short}") + ("+mirror" if mirror else "")
        choice = choose(backend, options.get("precision"), PackRef(name, version))
        det_session = _open(det_id.path, *opening(choice.detector_backend, choice.detector))
        rec_session = _open(rec_id.path, *opening(choice.recognizer_backend, choice.recognizer))
        det_sig = _signature(det_session, det_id.path, DetectorSignature, "detector")
        rec_sig = _signature(rec_session, rec_id.path, RecognizerSignature, "recognizer")
        assert isinstance(det_sig, DetectorSignature) and isinstance(rec_sig, RecognizerSignature)
        det = OnnxDetector(det_session, det_sig, options.get("det_size"), options.get("det_threshold"))
        rec_session, rec_sig = _batched(rec_session, rec_sig, rec_id.path, choice)
        rec = ArcFaceRecognizer(rec_session, rec_sig, _recognizer_input(rec_id), mirror=bool(mirror))
        curve = confidence.curve_for(det_id.sha256)
        threshold, threshold_source = default_threshold(rec_id)
        info = PackInfo(
            name=name,
            version=choice.pack_version(version),
            embedding_size=rec_sig.embedding_size,
            default_threshold=threshold,
            threshold_source=threshold_source,
            detector=f"{det_sig.family} {det_id.describe()}, input {det.canvas[0]}x{det.canvas[1]}, "
            f"det_threshold {det.score_threshold} ({det.score_threshold_source})",
            recognizer=f"arcface-style {rec_id.describe()}, {rec_sig.input_size}x{rec_sig.input_size} -> "
            f"{rec_sig.embedding_size}, {'batched' if rec_sig.batch is None else f'batch {rec_sig.batch}'}"
            + (", mean with the mirror image's" if mirror else ""),
            license=_license(det_id, rec_id),
            confidence_source=confidence.describe(curve),
            backend=choice.backends,
            precision=choice.precision,
            precision_reason=choice.reason,
        )
        pack = cls(det, rec, info, (det_id, rec_id), curve)
        int8 = {role: (session, _model_path(session)) for role, session, network in (
            ("detector", det.session, choice.detector), ("recognizer", rec.session, choice.recognizer))
            if network == "int8"}
        if int8:
            # Calibrated by this pack while its networks are still f32 (the recognizer: the
            # file it runs, a dynamic-batch copy where one was made); the settings that shape
            # the detector's input key the files.
            settings = f"onnx det_size {det.canvas[0]}x{det.canvas[1]}"
            sessions = int8_sessions(int8, pack._set_session, lambda image: pack.embed(image, pack.detect(image)),
                                     settings, choice.backend)
            for role, session in sessions.items():
                pack._set_session(role, session)
        return pack

    def _set_session(self, role: str, session: Session) -> None:
        if role == "detector":
            self.detector.session = session
        else:
            self.recognizer.session = session

    @classmethod
    def from_folder(
        cls,
        name: str,
        models_dir: str | os.PathLike[str] | None = None,
        backend: str = "auto",
        **options: Any,
    ) -> OnnxPack:
        """The pack folder `name` under the models directory (see faceindex.packs.onnx.models_dir)."""
        folder = find_pack(name, models_dir)
        merged = {**folder.options, **options}  # explicit options win over pack.json
        return cls.from_files(folder.detector, folder.recognizer, backend, name=name, version=folder.version,
                              **merged)

    def detect(self, image: RGBImage) -> Detections:
        """Faces best first; scores mapped through the detector's measured confidence curve where
        faceindex has one for this file (faceindex.packs.confidence), else clipped to 0..1."""
        rows = self.detector.detect(image)
        curve = self.confidence_curve
        scores = confidence.uncalibrated(rows[:, 4]) if curve is None else curve(rows[:, 4])
        return Detections.from_arrays(rows[:, 0:4], scores, rows[:, 5:15])

    def embed(self, image: RGBImage, detections: Detections | Sequence[Face]) -> FloatArray:
        detections = as_detections(detections)
        if len(detections) == 0:
            return np.zeros((0, self.info.embedding_size), dtype=np.float32)
        return self.recognizer.embed(image, detections.landmarks)


def _batched(session: Session, signature: RecognizerSignature, path: Path,
             choice: PrecisionChoice) -> tuple[Session, RecognizerSignature]:
    """The recognizer with a dynamic batch axis when its file has a fixed one and a rewrite
    (faceindex.packs.onnx.batching) gives the same embeddings; else as it is."""
    if signature.batch is None:
        return session, signature
    copy = dynamic_batch_copy(path)
    if copy is None:
        return session, signature
    batched = _open(copy, *opening(choice.recognizer_backend, choice.recognizer))
    batched_sig = _signature(batched, copy, RecognizerSignature, "recognizer")
    assert isinstance(batched_sig, RecognizerSignature)
    if batched_sig.batch is not None or not _same_outputs(session, batched, signature):
        return session, signature
    return batched, batched_sig


def _model_path(session: Session) -> Path:
    path = getattr(session, "model_path", None)
    if not isinstance(path, Path):
        raise RuntimeError(f"a {session.backend} session does not say which file it runs: cannot quantize it")
    return path


def _same_outputs(fixed: Session, batched: Session, signature: RecognizerSignature) -> bool:
    """Three face-like inputs through the batched model at once agree with the fixed one, one at a time."""
    size = signature.input_size
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-1, 1, (3, 3, size, size)).astype(np.float32)
    name = signature.input_name
    try:
        together = batched.run({name: inputs})[0].reshape(3, -1)
        alone = np.concatenate([fixed.run({name: inputs[i : i + 1]})[0].reshape(1, -1) for i in range(3)])
    except Exception:  # noqa: BLE001 - any failure of the rewritten model means: keep the original
        return False
    scale = float(np.abs(alone).max()) or 1.0
    return together.shape == alone.shape and float(np.abs(together - alone).max()) <= 1e-4 * scale


def _open(path: Path, backend: str, precision: str | None) -> Session:
    try:
        return open_session(path, backend, precision)
    except (ValueError, RuntimeError):
        raise
    except Exception as e:  # onnxruntime raises its own exception types for files it cannot load
        raise ModelFileError(f"{path}: cannot be loaded as an ONNX model ({type(e).__name__}: {e})") from e


def _signature(session: Session, path: Path, expected: type, role: str) -> DetectorSignature | RecognizerSignature:
    signature = recognise(session.inputs, session.outputs, what=str(path))
    if not isinstance(signature, expected):
        found = "a detector" if isinstance(signature, DetectorSignature) else "a recognizer"
        raise UnknownModelError(
            f"{path} was given as the {role} but is {found} ({describe(session.inputs, session.outputs)})"
        )
    return signature


def _recognizer_input(identity: Identity) -> RecognizerInput:
    m = identity.measurement
    if m is not None and m.recognizer_input is not None:
        r = m.recognizer_input
        return RecognizerInput(bool(r["bgr"]), (float(r["mean"]),) * 3, (float(r["std"]),) * 3, str(r["source"]))
    return RecognizerInput.insightface(normalises_in_graph(identity.path))


def _license(*identities: Identity) -> str:
    parts = []
    for identity in identities:
        license = identity.known.license if identity.known else "unknown (file not in faceindex's manifest)"
        parts.append(f"{identity.path.name}: {license}")
    return "; ".join(parts)
