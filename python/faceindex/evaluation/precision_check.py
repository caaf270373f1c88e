"""Measuring a reduced precision against f32 by the decisions it changes (issue 30's rule).

Each measurement runs the same pack at f32 (the reference) and at the candidate precision on
the same files:
- faces found (criterion 1): on the rule's photos (the group photos, dlib's labelled photos and
  t1.jpg), every face found at f32 must be found at the candidate with IoU >= 0.90 and nothing
  else found; a face whose score at either precision lies within 0.05 of the detection
  threshold is excepted (and counted); the largest landmark or box shift over the matched faces,
  relative to the face's width, is the other figure;
- one collection, two precisions (criterion 3): the cosine of each face's candidate embedding
  (its own detection and alignment where it found the face, else the f32 detection) to its f32
  one, over every face of the test photos;
- decisions on LFW (criterion 2): the precision's pipeline end to end (each image's largest
  face, no face = a non-match); FNMR at the shipped FMR 1e-3 and 1e-4 thresholds against the f32
  pipeline's 95% interval, and the share of pairs whose match/no-match decision at the FMR 1e-4
  threshold flips.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceindex.engine import FaceEngine
from faceindex.errors import FaceIndexError
from faceindex.evaluation.lfw import LfwPair
from faceindex.evaluation.sources import embed_images
from faceindex.evaluation.verification import cross_validated_accuracy
from faceindex.thresholds import precision_records as rule
from faceindex.thresholds.intervals import rate
from faceindex.types import Face

EPS = 1e-12
# The rule's photos besides the group photos (two or more faces at f32, anywhere under images/).
RULE_PHOTOS = ("images/dlib/faces/", "images/insightface/t1.jpg")


def detection_threshold(engine: FaceEngine) -> float:
    """The score a face needs to be found, as the pack's detector applies it."""
    pack: Any = engine._pack
    for holder, name in ((pack, "det_threshold"), (getattr(pack, "detector", None), "score_threshold")):
        value = getattr(holder, name, None)
        if isinstance(value, (int, float)):
            return float(value)
    raise ValueError(f"pack {engine.pack.name} does not say its detection threshold: give it (--det-threshold)")


def iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Intersection over union of every box of a [n, 4] with every box of b [m, 4]."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: npt.NDArray[np.float64] = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return out


def match_faces(ref: npt.NDArray[np.float64], cand: npt.NDArray[np.float64],
                min_iou: float) -> list[tuple[int, int, float]]:
    """(f32 face, candidate face, IoU) for each pair matched greedily, highest IoU first, at >= min_iou."""
    if len(ref) == 0 or len(cand) == 0:
        return []
    overlap = iou(ref, cand)
    pairs: list[tuple[int, int, float]] = []
    used_r: set[int] = set()
    used_c: set[int] = set()
    for flat in np.argsort(-overlap, axis=None):
        i, j = divmod(int(flat), overlap.shape[1])
        if overlap[i, j] < min_iou:
            break
        if i not in used_r and j not in used_c:
            used_r.add(i)
            used_c.add(j)
            pairs.append((i, j, float(overlap[i, j])))
    return pairs


def face_shift(ref: Face, cand: Face) -> float:
    """The largest move of a box edge or a landmark, relative to the f32 face's width."""
    width = max(ref.bbox[2] - ref.bbox[0], 1e-9)
    edges = np.abs(np.subtract(ref.bbox, cand.bbox)).max()
    points = np.abs(np.asarray(ref.landmarks, np.float64) - np.asarray(cand.landmarks, np.float64)).max() \
        if np.shape(ref.landmarks) == np.shape(cand.landmarks) and np.size(ref.landmarks) else 0.0
    return float(max(edges, points) / width)


@dataclass(frozen=True)
class PhotoResult:
    """One photo at both precisions: what criterion 1 and 3 need of it."""

    name: str
    faces: int  # found at f32
    matched: int  # found at the candidate with IoU >= MIN_IOU
    missing: tuple[str, ...]  # f32 faces the candidate did not find (not near the threshold)
    extra: tuple[str, ...]  # candidate faces f32 did not find (not near the threshold)
    near_threshold: int  # faces excepted: unmatched, scored within NEAR_THRESHOLD of it
    max_shift: float  # over matched faces, relative to face width
    min_iou: float  # over matched faces (1.0 without any)
    cosines: tuple[float, ...]  # one per f32 face


def _describe(face: Face) -> str:
    x1, y1, x2, y2 = face.bbox
    return f"face at ({x1:.0f}, {y1:.0f}) {x2 - x1:.0f} px wide, score {face.score:.3f}"


def compare_photo(reference: FaceEngine, candidate: FaceEngine, path: Path, det_threshold: float) -> PhotoResult:
    image = reference.load(path)
    ref_faces = reference.detect(image)
    cand_faces = candidate.detect(image)
    boxes = [np.array([f.bbox for f in faces], dtype=np.float64).reshape(-1, 4) for faces in (ref_faces, cand_faces)]
    pairs = match_faces(boxes[0], boxes[1], rule.MIN_IOU)

    def near(face: Face) -> bool:
        return abs(face.score - det_threshold) <= rule.NEAR_THRESHOLD + EPS

    matched_r = {i for i, _, _ in pairs}
    matched_c = {j for _, j, _ in pairs}
    # An unmatched face is excepted when it, or the face the other precision put there (IoU >= 0.3),
    # scored near the threshold: rounding can tip such a face either way.
    loose = {i: j for i, j, _ in match_faces(boxes[0], boxes[1], 0.3)}
    loose_c = {j: i for i, j in loose.items()}
    missing, extra, excepted = [], [], 0
    for i, face in enumerate(ref_faces):
        if i in matched_r:
            continue
        other = cand_faces[loose[i]] if i in loose else None
        if near(face) or (other is not None and near(other)):
            excepted += 1
        else:
            missing.append(f"{path.name}: {_describe(face)}")
    for j, face in enumerate(cand_faces):
        if j in matched_c or (j in loose_c and loose_c[j] not in matched_r):
            continue  # matched, or the counterpart of an f32 face counted above
        if near(face):
            excepted += 1
        else:
            extra.append(f"{path.name}: {_describe(face)}")
    shifts = [face_shift(ref_faces[i], cand_faces[j]) for i, j, _ in pairs]
    # Embeddings: the candidate's own face where it found it, else f32's detection.
    cosines: list[float] = []
    if ref_faces:
        a = reference.embed(image, ref_faces)
        by_ref = {i: j for i, j, _ in match_faces(boxes[0], boxes[1], 0.5)}
        own = [cand_faces[by_ref[i]] if i in by_ref else f for i, f in enumerate(ref_faces)]
        b = candidate.embed(image, own)
        cosines = [float(c) for c in np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))]
    return PhotoResult(path.name, len(ref_faces), len(pairs), tuple(missing), tuple(extra), excepted,
                       max(shifts, default=0.0), min((o for _, _, o in pairs), default=1.0), tuple(cosines))


@dataclass(frozen=True)
class FaceFigures:
    """Criterion 1 over the rule's photos."""

    photos: int
    faces: int  # found at f32
    matched: int  # of those, found at the candidate with IoU >= MIN_IOU
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    near_threshold: int  # excepted faces
    min_iou: float
    max_shift: float  # landmark or box edge, relative to face width
    worst_shift_photo: str


@dataclass(frozen=True)
class EmbeddingFigures:
    """Criterion 3 over every test photo."""

    photos: int
    faces: int
    min_cosine: float
    mean_cosine: float
    worst_photo: str


@dataclass(frozen=True)
class PhotoFigures:
    faces: FaceFigures
    embeddings: EmbeddingFigures
    unreadable: tuple[str, ...]


def is_rule_photo(result: PhotoResult, relative: str) -> bool:
    return result.faces >= 2 or any(relative.startswith(p) or relative == p for p in RULE_PHOTOS)


def compare_photos(reference: FaceEngine, candidate: FaceEngine, photos: Sequence[Path], root: Path | None = None,
                   on_photo: Callable[[Path], None] = lambda _: None,
                   det_threshold: float | None = None) -> PhotoFigures:
    """Criteria 1 and 3 over photos (root: what their names in the rule's photo list are relative to)."""
    threshold = detection_threshold(reference) if det_threshold is None else det_threshold
    results: list[tuple[PhotoResult, str]] = []
    unreadable: list[str] = []
    for path in photos:
        relative = path.relative_to(root).as_posix() if root is not None else f"images/{path.name}"
        try:
            results.append((compare_photo(reference, candidate, path, threshold), relative))
        except (FaceIndexError, OSError):
            unreadable.append(relative)
        on_photo(path)
    ruled = [r for r, rel in results if is_rule_photo(r, rel)]
    worst_shift = max(ruled, key=lambda r: r.max_shift, default=None)
    faces = FaceFigures(
        len(ruled), sum(r.faces for r in ruled), sum(r.matched for r in ruled),
        tuple(m for r in ruled for m in r.missing), tuple(e for r in ruled for e in r.extra),
        sum(r.near_threshold for r in ruled), min((r.min_iou for r in ruled), default=1.0),
        worst_shift.max_shift if worst_shift else 0.0, worst_shift.name if worst_shift else "")
    cosines = [(c, r.name) for r, _ in results for c in r.cosines]
    if not cosines:
        raise ValueError("no faces were found in the photos: nothing to compare")
    values = np.array([c for c, _ in cosines])
    embeddings = EmbeddingFigures(len(results), len(cosines), float(values.min()), float(values.mean()),
                                  min(cosines)[1])
    return PhotoFigures(faces, embeddings, tuple(unreadable))


# -- LFW ------------------------------------------------------------------------------------

FMRS = (1e-3, 1e-4)  # FNMR is judged at the shipped thresholds of these rates
FLIP_FMR = 1e-4  # decision flips are counted at this one


@dataclass(frozen=True)
class LfwEmbeddings:
    """Each unique image of the pairs: its largest face's embedding (zeros without a face)."""

    paths: list[Path]
    embeddings: npt.NDArray[np.float32]
    has_face: npt.NDArray[np.bool_]

    def similarities(self, pairs: Sequence[LfwPair]) -> npt.NDArray[np.float64]:
        """Each pair's cosine; -inf where an image has no face (a non-match at every threshold)."""
        row = {p: i for i, p in enumerate(self.paths)}
        a = np.array([row[p.image_a] for p in pairs])
        b = np.array([row[p.image_b] for p in pairs])
        e, f = self.embeddings.astype(np.float64), self.has_face
        out: npt.NDArray[np.float64] = np.where(f[a] & f[b], np.einsum("ij,ij->i", e[a], e[b]), -np.inf)
        return out


def lfw_images(pairs: Sequence[LfwPair]) -> list[Path]:
    return sorted({p for pair in pairs for p in (pair.image_a, pair.image_b)})


def lfw_embeddings(engine: FaceEngine, images: Sequence[Path], cache: Path | None = None, key: str = "",
                   on_image: Callable[[Path], None] = lambda _: None) -> LfwEmbeddings:
    """The images' largest-face embeddings through the engine, end to end; kept in `cache` under
    `key` (what made them: pack, backend, precision, versions) and the images' names and sizes."""
    digest = hashlib.sha256(key.encode())
    for p in images:
        digest.update(f"{p.parent.name}/{p.name}\t{p.stat().st_size}\n".encode())
    file = cache / f"lfw-{digest.hexdigest()[:32]}.npz" if cache is not None else None
    if file is not None and file.is_file():
        with np.load(file, allow_pickle=False) as stored:
            return LfwEmbeddings(list(images), stored["embeddings"], stored["has_face"])
    embedded = embed_images(engine, [(p, p.parent.name) for p in images], on_image)
    if file is not None:
        from faceindex.cache import atomic_write

        file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(file, lambda tmp: np.savez(open(tmp, "wb"), embeddings=embedded.embeddings,
                                                has_face=embedded.has_face, key=np.array(key)))
    return LfwEmbeddings(list(images), embedded.embeddings, embedded.has_face)


@dataclass(frozen=True)
class LfwFigures:
    """One precision's figures on the pairs, at the shipped f32 thresholds."""

    pairs: int
    images: int
    images_without_face: int
    accuracy: float  # cross-validated over the pairs' folds (information)
    fnmr: dict[str, dict[str, float]]  # "1e-03" -> Rate fields (value, low, high, errors, trials)
    false_matches: dict[str, int]  # impostor pairs at or above each threshold (information)


def rate_name(fmr: float) -> str:
    return f"{fmr:.0e}"


def lfw_figures(similarity: npt.NDArray[np.float64], pairs: Sequence[LfwPair], images: int,
                without_face: int, thresholds: dict[float, float]) -> LfwFigures:
    same = np.array([p.same for p in pairs])
    cv = cross_validated_accuracy(np.maximum(similarity, -2.0), same, [p.fold for p in pairs])
    fnmr: dict[str, dict[str, float]] = {}
    false_matches: dict[str, int] = {}
    for fmr, t in thresholds.items():
        misses = int(np.sum(~(similarity[same] >= t)))
        fnmr[rate_name(fmr)] = asdict(rate(misses, int(same.sum())))
        false_matches[rate_name(fmr)] = int(np.sum(similarity[~same] >= t))
    return LfwFigures(len(pairs), images, without_face, cv.accuracy, fnmr, false_matches)


@dataclass(frozen=True)
class Flips:
    """Pairs whose match/no-match decision at the threshold differs between the precisions."""

    threshold: float
    pairs: int
    flipped: int
    genuine_lost: int  # matched at f32, not at the candidate
    impostor_gained: int  # not matched at f32, matched at the candidate

    @property
    def share(self) -> float:
        return self.flipped / self.pairs if self.pairs else 0.0


def decision_flips(ref: npt.NDArray[np.float64], cand: npt.NDArray[np.float64], pairs: Sequence[LfwPair],
                   threshold: float) -> Flips:
    same = np.array([p.same for p in pairs])
    a, b = ref >= threshold, cand >= threshold
    return Flips(threshold, len(pairs), int(np.sum(a != b)), int(np.sum(same & a & ~b)),
                 int(np.sum(~same & ~a & b)))


def criteria(photos: PhotoFigures, lfw_ref: LfwFigures | None, lfw_cand: LfwFigures | None,
             flips: Flips | None) -> dict[str, Any]:
    """Each criterion of the rule: figure, bound, passed. Without LFW figures, LFW fails (unmeasured)."""
    f, e = photos.faces, photos.embeddings
    out: dict[str, Any] = {
        "same_faces": {"value": {"missing": len(f.missing), "extra": len(f.extra), "near_threshold": f.near_threshold,
                                 "faces": f.faces, "photos": f.photos},
                       "bound": f"every f32 face found with IoU >= {rule.MIN_IOU}, nothing else (faces within "
                                f"{rule.NEAR_THRESHOLD} of the detection threshold excepted)",
                       "passed": not f.missing and not f.extra and f.photos > 0},
        "face_shift": {"value": f.max_shift, "bound": f"<= {rule.MAX_SHIFT_OF_WIDTH} of the face's width",
                       "passed": f.max_shift <= rule.MAX_SHIFT_OF_WIDTH + EPS},
        "embedding_cosine": {"value": e.min_cosine, "bound": f">= {rule.MIN_EMBEDDING_COSINE}",
                             "passed": e.min_cosine >= rule.MIN_EMBEDDING_COSINE},
    }
    if lfw_ref is None or lfw_cand is None or flips is None:
        out["lfw"] = {"value": None, "bound": "measured", "passed": False}
        return out
    for fmr in FMRS:
        name = rate_name(fmr)
        ref, cand = lfw_ref.fnmr[name], lfw_cand.fnmr[name]
        out[f"lfw_fnmr_at_fmr_{name}"] = {
            "value": cand["value"], "bound": f"within f32's 95% interval [{ref['low']:.4f}, {ref['high']:.4f}]",
            "passed": ref["low"] - EPS <= cand["value"] <= ref["high"] + EPS}
    out["lfw_decision_flips"] = {"value": flips.share, "bound": f"<= {rule.MAX_DECISION_FLIPS} of the pairs at "
                                                                f"the FMR {rate_name(FLIP_FMR)} threshold",
                                 "passed": flips.share <= rule.MAX_DECISION_FLIPS + EPS}
    return out
