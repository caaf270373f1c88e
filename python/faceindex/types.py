"""Public result types: typed dataclasses, never bare dicts.

Conventions shared by every stage: images are uint8 H x W x 3 RGB arrays; sizes are
(width, height), as PIL and insightface's det_size give them; boxes are x1, y1, x2, y2
pixel edges of the image they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]  # embeddings, landmarks, network tensors
Float64Array = npt.NDArray[np.float64]  # boxes, scores, rates
ImageSize = tuple[int, int]  # (width, height)

# The 5 points ArcFace-style packs align with (SCRFD, YuNet, RetinaFace).
ARCFACE_LANDMARKS = ("left eye", "right eye", "nose tip", "left mouth corner", "right mouth corner")
# dlib's 5-point shape predictor: the corners of both eyes and the base of the nose.
DLIB_LANDMARKS = ("right eye outer corner", "right eye inner corner", "left eye outer corner",
                  "left eye inner corner", "nose base")


@dataclass(frozen=True)
class PackRef:
    """Which model pack made a result: its name and version (embeddings of different
    packs, or of different versions of one pack, cannot be compared)."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class RateEstimate:
    """An error rate estimated from a calibration table, with its 95% interval."""

    value: float
    low: float
    high: float
    beyond_table: bool  # beyond what the table's pairs resolve: from its fitted tail, or at its limit

    def __str__(self) -> str:
        return f"{self.value:.2g} [{self.low:.2g}, {self.high:.2g}]" + (" (beyond the measured pairs)" if self.beyond_table else "")


ChosenBy = Literal["fixed", "fmr", "fpir", "uncalibrated default"]
# What a score (and the threshold it is judged against) is: a cosine similarity, or the cosine
# standardised by AS-norm against a cohort (thresholds/score_norm.py).
ScoreKind = Literal["cosine", "as-norm"]


@dataclass(frozen=True)
class ScoreNormalisation:
    """Whether scores were normalised, and against which cohort (thresholds/score_norm.py).

    method "as-norm": each cosine standardised by the mean and spread of the top_k cosines of each
    face against the cohort's faces; "none": the scores are cosine similarities, and `cohort` says why.
    """

    method: Literal["none", "as-norm"]
    cohort: str  # which faces, in words (a collection's own sample, a cohort the user built), or why none
    cohort_id: str | None  # the cohort's digest (16 hex digits); None when not normalised
    cohort_size: int = 0
    top_k: int = 0

    @property
    def applied(self) -> bool:
        return self.method != "none"

    @property
    def score(self) -> ScoreKind:
        return "cosine" if self.method == "none" else "as-norm"

    def __repr__(self) -> str:  # short when not applied: it rides in every result's repr
        if not self.applied:
            return f"ScoreNormalisation('none', {self.cohort!r})"
        return (f"ScoreNormalisation('as-norm', {self.cohort!r}, cohort_id={self.cohort_id!r}, "
                f"cohort_size={self.cohort_size}, top_k={self.top_k})")

    def __str__(self) -> str:
        if not self.applied:
            return f"not normalised ({self.cohort})"
        return f"AS-norm, top {self.top_k} of {self.cohort_size:,} cohort faces ({self.cohort}; cohort {self.cohort_id})"


NOT_NORMALISED = ScoreNormalisation("none", "no cohort: scores are cosine similarities", None)


@dataclass(frozen=True)
class ThresholdChoice:
    """How a decision's threshold was chosen and what it costs in false matches.

    chosen_by: "fixed" (the caller gave the similarity), "fmr" (the lowest threshold whose
    estimated per-comparison false-match rate is at most `requested`), "fpir" (the same for
    the chance that a search of someone not in the collection returns any false candidate,
    at `gallery_size` faces), or "uncalibrated default" (the pack has no calibration table:
    its placeholder threshold, whose error rates faceindex has not measured).
    """

    value: float  # the score a match must reach: a cosine similarity, or an AS-norm z (see `score`)
    chosen_by: ChosenBy
    requested: float | None  # the max_fmr or max_fpir asked for (or the default one)
    fmr: RateEstimate | None  # per comparison at `value`; None without a calibration table
    fpir: RateEstimate | None = None  # searches: at gallery_size
    gallery_size: int | None = None  # faces searched
    calibration: str = ""  # which table the estimates come from, or why there is none
    score: ScoreKind = "cosine"  # the scale of `value`, and of the table it was chosen on

    @property
    def beyond_table(self) -> bool:
        """The estimate (or the threshold) comes from the fitted tail, beyond the measured pairs."""
        return any(r is not None and r.beyond_table for r in (self.fmr, self.fpir))


@dataclass(frozen=True)
class PackInfo:
    """What a model pack is, and how its default decision threshold was chosen."""

    name: str
    version: str
    embedding_size: int
    default_threshold: float  # cosine similarity at or above which two faces match
    threshold_source: str  # how default_threshold was chosen (data set, rule, measured rates)
    detector: str
    recognizer: str
    license: str
    # What each of a Face's 5 landmarks is, in order; left and right as seen in the image.
    landmarks: tuple[str, ...] = ARCFACE_LANDMARKS
    # Where the networks ran and at what precision, and why (faceindex.backends.precision).
    # Not part of `ref`: verified precisions give embeddings comparable to f32 ones, and an
    # unverified one carries its own version instead.
    backend: str = "onnxruntime"
    precision: str = "f32"
    precision_reason: str = "f32, the reference precision"

    @property
    def ref(self) -> PackRef:
        return PackRef(self.name, self.version)


def array_summary(value: Any) -> str:
    """How an embedding shows in a repr: its shape and dtype, not hundreds of floats."""
    if value is None:
        return "None"
    array = np.asarray(value)
    return f"<{array.dtype} array {tuple(array.shape)}>"


@dataclass
class Face:
    """One detected face, in the pixel coordinates of the image it came from."""

    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float  # detector confidence
    landmarks: FloatArray  # 5x2 pixels; which points they are: the pack's PackInfo.landmarks
    embedding: FloatArray | None = None  # unit vector from the pack's recognizer
    face_size: float = 0.0  # shorter side of the box, pixels
    sharpness: float = 0.0  # variance of the Laplacian of the face at a fixed scale
    brightness: float = 0.0  # mean luma of the face, 0..1
    pose: tuple[float, float, float] | None = None  # yaw, pitch, roll in degrees where the pack gives it

    def __repr__(self) -> str:
        shown = (f"{f.name}={array_summary(self.embedding) if f.name == 'embedding' else repr(getattr(self, f.name))}"
                 for f in fields(self))
        return f"Face({', '.join(shown)})"

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two faces, with everything it was judged by.

    What was judged: the cosine similarity, or (with a cohort) its AS-norm z in `score`;
    `normalisation` says which, and against which cohort."""

    similarity: float  # cosine similarity of the two embeddings
    threshold: float  # the threshold `score` was judged against
    same_person: bool  # score >= threshold
    pack: PackRef  # the model pack that made both embeddings
    threshold_choice: ThresholdChoice  # how the threshold was chosen, and its estimated false-match rate
    fmr_at_similarity: RateEstimate | None  # the FMR at this pair's own score (None: uncalibrated pack)
    faces: tuple[Face | None, Face | None] = field(default=(None, None), compare=False)
    score: float | None = None  # the AS-norm z that was judged; None: the similarity was
    normalisation: ScoreNormalisation = NOT_NORMALISED
