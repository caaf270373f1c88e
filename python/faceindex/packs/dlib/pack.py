"""The default model pack: dlib's CC0 5-point shape predictor and ResNet recognizer, converted
to ONNX and run the way dlib runs them, behind a detector that finds faces from 40 pixels.

Versions (the pack's identity: embeddings of different versions are not compared):
- "2.0", the default: faces proposed by YuNet and confirmed by dlib's CNN detector
  (packs/dlib/cascade.py: faces from about 40 px in photos and video, at the image's own
  size), and each embedding the mean of the face's and its mirror image's (both chips in one
  recognizer batch): fewer missed matches at every false-match rate (docs/default-pack.md).
- "1.1", faceindex 0.1's pipeline, kept for its collections and for comparison:
  DlibPack(detector="mmod", mirror=False): dlib's CNN alone on an image pyramid (faces from
  about 80 px; with upsample=None, again at twice the size when none is found), one chip
  per face.
- Other combinations ("2.0+mmod", "2.0+no-mirror") run, uncalibrated.

Landmarks are dlib's 5 points in dlib's order: the image-right eye's outer and inner
corners, the image-left eye's outer and inner corners, the base of the nose (what
face_recognition calls right_eye, left_eye and nose_tip with model="small"); dlib
rounds them to whole pixels and so do we, because its face chips are cut from those.
With the default detector, Rekognition's five keypoints are real points: the eye centres
the midpoints of dlib's eye corners, the nose tip and the mouth corners YuNet's.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

import numpy as np

from faceindex.backends import open_session
from faceindex.backends.base import Session
from faceindex.backends.precision import choose
from faceindex.images import RGBImage
from faceindex.packs import confidence
from faceindex.packs.dlib import kernels, model_files
from faceindex.packs.dlib.cascade import DEFAULT_MIN_FACE, ProposeAndConfirm
from faceindex.packs.dlib.conversion import CONVERSION_VERSION, ConvertedPack, convert
from faceindex.packs.int8 import int8_sessions, opening
from faceindex.detections import Detections, as_detections
from faceindex.types import DLIB_LANDMARKS, Face, FloatArray, PackInfo, PackRef

CHIP_SIZE = 150
CHIP_PADDING = 0.25
MAX_UPSAMPLE = 4
AUTO_UPSAMPLE = 1  # the second look of detector="mmod", upsample=None: faces down to about 40 pixels
RECOGNIZER_BATCH = 32
MIN_CANVAS_SIDE = 29  # the detector's three stride-2 5x5 convolutions leave no output below this
DETECTORS = ("cascade", "mmod")
VERSION = "2.0"
LEGACY_VERSION = f"1.{CONVERSION_VERSION}"  # dlib's CNN alone, no mirror: faceindex 0.1's pipeline

# Each version's threshold chosen on LFW with its own pipeline (the accuracy-maximising threshold,
# cross-validated over pairs_dev's folds): 2.0's by bench/bench_default_pack_lfw.py
# (dlib_2.0_default_threshold), 1.1's by bench/bench_dlib_lfw.py. Versions not measured ("2.0+mmod",
# "2.0+no-mirror") take 2.0's and say so.
DEFAULT_THRESHOLD = 0.9127
THRESHOLD_SOURCE = (
    "cosine 0.9127 = the mean of the 7 leave-one-fold-out accuracy-maximising thresholds on LFW "
    "pairs_dev folds 0-6 (3,916 pairs: 1,964 same-person, 1,952 different; grayscale 350x350 crops; the "
    "largest face per image, pairs with an image where no face was found (3 of 5,082 images) count as "
    "non-matches), embeddings from dlib 2.0's pipeline. Measured at 0.9127 on those pairs: false-match rate "
    "0.92% (18/1,952), false-non-match rate 2.09% (41/1,964), accuracy 98.49% (cross-validated 98.32%). "
    "For fewer false matches raise it: 0.92 gave 0.31% / 3.26%, 0.9393 gave 0% / 15.94% on the same pairs."
)
LEGACY_THRESHOLD = 0.9053
LEGACY_THRESHOLD_SOURCE = (
    "cosine 0.9053 = the mean of the 7 leave-one-fold-out accuracy-maximising thresholds on LFW "
    "pairs_dev folds 0-6 (3,916 pairs: 1,964 same-person, 1,952 different; grayscale 350x350 crops; the "
    "largest face per image, pairs with an image where no face was found (9 of 5,082 images) count as "
    "non-matches), embeddings from dlib 1.1's pipeline. Measured at 0.9053 on those pairs: false-match rate "
    "1.49% (29/1,952), false-non-match rate 1.93% (38/1,964), accuracy 98.29% (cross-validated 98.24%). "
    "For fewer false matches raise it: 0.9094 gave 0.92% / 2.75%, 0.9273 gave 0% / 9.83% on the same pairs."
)


def default_threshold(version: str) -> tuple[float, str]:
    """The uncalibrated default threshold of a pipeline version, and how it was chosen."""
    if version == LEGACY_VERSION:
        return LEGACY_THRESHOLD, LEGACY_THRESHOLD_SOURCE
    if version == VERSION:
        return DEFAULT_THRESHOLD, THRESHOLD_SOURCE
    return DEFAULT_THRESHOLD, f"dlib {VERSION}'s, not measured for {version}: " + THRESHOLD_SOURCE


# What changed since an older version, for the message that refuses its collections.
SINCE = {
    LEGACY_VERSION: (
        "dlib 2.0 (faceindex's default pack since 0.2) finds faces from 40 pixels (YuNet proposes, dlib's CNN "
        "confirms) and embeds each face together with its mirror image, so its embeddings differ from dlib "
        f"{LEGACY_VERSION}'s and the two are never compared. Index the photos again into a new collection "
        "(faceindex index, or Collection.index_faces); to use this collection as it is meanwhile, open it with "
        "FaceEngine(pack=DlibPack(detector='mmod', mirror=False)), the dlib "
        f"{LEGACY_VERSION} pipeline"
    ),
}


def pack_version(detector: str, mirror: bool) -> str:
    """The version a configuration's embeddings carry (before any precision suffix)."""
    if detector == "mmod" and not mirror:
        return LEGACY_VERSION
    return VERSION + ("+mmod" if detector == "mmod" else "") + ("" if mirror else "+no-mirror")


class DlibPack:
    """dlib's models on ONNX Runtime (or OpenVINO, TensorRT), with dlib's pre- and post-processing in C++.

    detector: "cascade" (default: YuNet proposes, dlib's CNN confirms) or "mmod" (dlib's CNN
    alone). min_face: cascade only, the smallest face (pixels) to find reliably; the image is
    scaled by 40 / min_face before YuNet looks (default 40: its own size). upsample: how many
    times to double the image first: with "mmod" as dlib's upsample_num_times (None: once more
    at twice the size when nothing is found); with the cascade, min_face = 40 / 2**upsample.
    mirror: each embedding the mean of the face's and its mirror image's (default True).
    """

    def __init__(
        self,
        backend: str = "auto",
        upsample: int | None = None,
        precision: str | None = None,
        det_threshold: float = 0.0,
        models_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        *,
        detector: str = "cascade",
        min_face: float | None = None,
        mirror: bool = True,
    ) -> None:
        if upsample is not None and (isinstance(upsample, bool) or not isinstance(upsample, (int, np.integer))
                                     or not 0 <= int(upsample) <= MAX_UPSAMPLE):
            raise ValueError(f"upsample must be None (automatic) or an integer in [0, {MAX_UPSAMPLE}], got {upsample!r}")
        if not np.isfinite(det_threshold):
            raise ValueError(f"det_threshold must be finite, got {det_threshold}")
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(map(repr, DETECTORS))}, got {detector!r}")
        if not isinstance(mirror, (bool, np.bool_)):
            raise ValueError(f"mirror must be True or False, got {mirror!r}")
        if min_face is not None and detector != "cascade":
            raise ValueError("min_face applies to the default detector (detector='cascade'); dlib's CNN alone "
                             "takes upsample")
        if min_face is not None and upsample is not None:
            raise ValueError("give min_face or upsample, not both (upsample=k means min_face = 40 / 2**k)")
        self.detector_kind = detector
        self.mirror = bool(mirror)
        self.upsample = None if upsample is None else int(upsample)
        self.det_threshold = float(det_threshold)
        files = model_files.locate(Path(models_dir) if models_dir is not None else None)
        converted: ConvertedPack = convert(files, Path(cache_dir) if cache_dir is not None else None)
        det = converted.detector_meta
        self._mmod = kernels.MmodDetector(
            [float(v) for v in det["means"]], int(det["pyramid_padding"][0]), int(det["pyramid_padding"][1]),
            np.array(det["windows"], dtype=np.int64).reshape(-1, 2), [int(v) for v in det["mapping"]],
            float(det["nms_iou"]), float(det["nms_covered"]),
        )
        self._rec_means = [float(v) for v in converted.recognizer_meta["means"]]
        sp = converted.shape_predictor
        self._shape_predictor = kernels.ShapePredictor(
            sp.initial_shape, sp.anchors, sp.deltas, sp.split_idx, sp.split_thresh, sp.leaves
        )
        version = pack_version(detector, self.mirror)
        choice = choose(backend, precision, PackRef("dlib", version))
        self._detector = open_session(converted.detector_onnx, *opening(choice.detector_backend, choice.detector))
        self._recognizer = open_session(converted.recognizer_onnx,
                                        *opening(choice.recognizer_backend, choice.recognizer))
        self._cascade: ProposeAndConfirm | None = None
        if detector == "cascade":
            if min_face is None:
                min_face = DEFAULT_MIN_FACE / 2 ** (self.upsample or 0)
            self._cascade = ProposeAndConfirm(self._mmod, lambda canvas: self._detector.run({"image": canvas}),
                                              min_face)
        self._confidence = confidence.curve_for(f"dlib:{detector}")
        described = ("YuNet 2026may (OpenCV Zoo, MIT, shipped) proposes faces from "
                     f"{self._cascade.min_face:g} px, dlib mmod_human_face_detector (CNN) confirms each in a tile"
                     if self._cascade is not None else "dlib mmod_human_face_detector (CNN, image pyramid)")
        self.info = PackInfo(
            name="dlib",
            version=choice.pack_version(version),
            embedding_size=128,
            default_threshold=default_threshold(version)[0],
            threshold_source=default_threshold(version)[1],
            detector=described,
            recognizer="dlib_face_recognition_resnet_model_v1 (ResNet-29, 150x150 chips, 5-point alignment"
                       + (", mean with the mirror image's)" if self.mirror else ")"),
            license="CC0-1.0 (models by Davis King, dlib)" + (
                "; YuNet: MIT (Copyright (c) 2020 Shiqi Yu)" if self._cascade is not None else ""),
            landmarks=DLIB_LANDMARKS,
            confidence_source=confidence.describe(self._confidence),
            backend=choice.backends,
            precision=choice.precision,
            precision_reason=choice.reason,
        )
        int8 = {role: (session, path) for role, session, path, network in (
            ("detector", self._detector, converted.detector_onnx, choice.detector),
            ("recognizer", self._recognizer, converted.recognizer_onnx, choice.recognizer)) if network == "int8"}
        if int8:
            # Calibrated by this pack while its networks are still f32: the detector at the
            # image's own size (upsample 0), the recognizer on the chips of what it finds.
            sessions = int8_sessions(int8, self._set_session, self._calibration_pass, "dlib", choice.backend)
            for role, session in sessions.items():
                self._set_session(role, session)

    def _set_session(self, role: str, session: Session) -> None:
        if role == "detector":
            self._detector = session
        else:
            self._recognizer = session

    def _calibration_pass(self, image: RGBImage) -> None:
        boxes, scores = self.detect_boxes(image, 0)
        edges = boxes.astype(np.float64) + np.array([0.0, 0.0, 1.0, 1.0])
        self.descriptors(image, Detections.from_arrays(edges, scores, self.landmarks(image, boxes)))

    # -- detection -----------------------------------------------------------------

    def detect(self, image: RGBImage) -> Detections:
        """Faces best first: boxes as pixel edges (dlib's inclusive rectangles + 1), dlib's 5 points,
        scores as measured confidences 0..1 (faceindex.packs.confidence), and with the default
        detector Rekognition's five keypoints (eye centres from dlib's corners, the rest YuNet's).

        detector="mmod" with upsample=None searches the image at its own size first (faces from
        about 80 pixels up) and, only when nothing is found there, again at twice the size
        (faces down to about 40 pixels), for about 4x that first search's time.
        """
        keypoints = None
        if self._cascade is not None:
            confirmed = self._cascade.confirm(image, self._cascade.propose(image), self.det_threshold)
            boxes, scores = confirmed.boxes, confirmed.scores
            keypoints = confirmed.proposals[:, 5:15]
        else:
            boxes, scores = self.detect_boxes(image, self.upsample if self.upsample is not None else 0)
            if self.upsample is None and len(boxes) == 0:
                boxes, scores = self.detect_boxes(image, AUTO_UPSAMPLE)
        edges = boxes.astype(np.float64) + np.array([0.0, 0.0, 1.0, 1.0])
        points = self.landmarks(image, boxes)
        if keypoints is not None:
            keypoints = keypoints.reshape(-1, 5, 2).copy()
            # The eye centres from dlib's eye corners: they follow a turned or mirrored face
            # (roll within half a degree of a rotation) where YuNet's eyes lag behind.
            keypoints[:, 0] = points[:, 2:4].mean(axis=1)
            keypoints[:, 1] = points[:, 0:2].mean(axis=1)
        found = Detections.from_arrays(edges, self.confidence(scores), points, keypoints=keypoints)
        return found.take(np.argsort(-scores, kind="stable"))

    def confidence(self, raw: np.ndarray) -> np.ndarray:
        """The measured share of faces at these raw scores of this pack's detector (0..1)."""
        return confidence.uncalibrated(raw) if self._confidence is None else self._confidence(raw)

    def detect_boxes(self, image: RGBImage, upsample: int) -> tuple[np.ndarray, np.ndarray]:
        """dlib's rectangles (int64 [n, 4]: left, top, right, bottom, inclusive) and confidences,
        from the image upsampled 2x `upsample` times (dlib's upsample_num_times)."""
        canvas, layout = self._mmod.prepare(image, upsample)
        if min(canvas.shape[2:]) < MIN_CANVAS_SIDE:
            return np.zeros((0, 4), np.int64), np.zeros(0)
        (score_map,) = self._detector.run({"image": canvas})
        return self._mmod.decode(score_map, layout, self.det_threshold)

    def landmarks(self, image: RGBImage, boxes: np.ndarray) -> np.ndarray:
        """dlib's 5 points (float32 [n, 5, 2], whole pixels) for boxes as detect_boxes gives them."""
        return self._shape_predictor.predict(image, boxes)

    # -- recognition ---------------------------------------------------------------

    def face_chips(self, image: RGBImage, faces: Detections | Sequence[Face]) -> np.ndarray:
        """The aligned 150x150 chips dlib's recognizer sees, uint8 [n, 150, 150, 3]."""
        return kernels.face_chips(image, _dlib_points(as_detections(faces)), CHIP_SIZE, CHIP_PADDING)

    def descriptors(self, image: RGBImage, faces: Detections | Sequence[Face]) -> FloatArray:
        """dlib's raw 128-d face descriptors (Euclidean distance 0.6 is dlib's usual threshold); with
        mirror, the sum of each chip's and its mirror image's, both in one pass of the recognizer."""
        chips = self.face_chips(image, faces)
        n = len(chips)
        if self.mirror and n:
            chips = np.concatenate([chips, chips[:, :, ::-1]])
        out = []
        for start in range(0, len(chips), RECOGNIZER_BATCH):
            batch = kernels.chips_to_tensor(np.ascontiguousarray(chips[start : start + RECOGNIZER_BATCH]),
                                            self._rec_means)
            out.append(self._recognizer.run({"chips": batch})[0])
        if not out:
            return np.zeros((0, 128), np.float32)
        descriptors = np.concatenate(out).astype(np.float32)
        if self.mirror:
            descriptors = descriptors[:n] + descriptors[n:]
        return descriptors

    def embed(self, image: RGBImage, detections: Detections | Sequence[Face]) -> FloatArray:
        d = self.descriptors(image, detections)
        norms = np.linalg.norm(d, axis=1, keepdims=True)
        if np.any(norms == 0) or not np.all(np.isfinite(d)):
            raise RuntimeError("the recognizer produced a zero or non-finite descriptor")
        unit: FloatArray = (d / norms).astype(np.float32)
        return unit


def _dlib_points(detections: Detections) -> np.ndarray:
    if not np.all(np.isfinite(detections.landmarks)):
        raise ValueError("face landmarks hold NaN or inf")
    return detections.landmarks
