"""The numbers of `faceindex eval`: verification (ROC, DET, FNMR at fixed FMR), 1:N identification
(rank-1, FNIR at fixed FPIR) and demographic differentials (rates per group at one threshold).

Pure functions from embeddings, identity labels and optional groups to an EvalReport; reading
images and writing the HTML live elsewhere (sources.py, report_html.py). Every rate carries its
Wilson 95% interval (intervals.rate) and its counts; a target rate below what the trials resolve
(intervals.resolution: 3/n) is reported as not resolved, never as a number.

A photo without a face stays in the counts: a genuine pair with it is a false non-match, an
impostor pair a correct rejection, a mated probe a miss, a non-mated probe a correct rejection.

Two pipelines side by side (issue 29): the cosine similarity, and AS-norm scores with each pair
normalised against a cohort from identity groups that hold neither of its faces
(normalised_scores.py); for each, FNMR at FMR 1e-3 .. 1e-6 with thresholds chosen on the same
pairs, and cross-validated over seven identity-disjoint groups (cross_validation.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from faceindex.errors import UsageError
from faceindex.types import Float64Array

from faceindex.evaluation.cross_validation import CrossValidatedPoint, CrossValidation, cross_validated_pairs
from faceindex.evaluation.normalised_scores import GroupCohorts, all_pair_blocks, identity_groups
from faceindex.errors import CalibrationError
from faceindex.thresholds.intervals import Rate, rate, resolution
from faceindex.flat_index import FlatIndex

FMR_TARGETS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
CV_TARGETS = (1e-3, 1e-4, 1e-5, 1e-6)
FPIR_TARGETS = (1e-2, 3e-3)
GROUP_FMR = 1e-3  # the fixed threshold of the group table: FMR = 1e-3 overall, unless given
UNLABELLED = "(unlabelled)"

_BLOCK = 512  # rows of the all-pairs score matrix computed at once


@dataclass(frozen=True)
class ScoreScale:
    """Score histograms: nbins bins of width `bin` from `low` (the last one takes everything above).
    FMR and FNMR at a bin edge are exact counts."""

    name: str
    low: float
    bin: float
    nbins: int
    coarse: int  # bins per bar of the histogram figure


COSINE = ScoreScale("cosine similarity", -1.0, 1e-4, 20001, 100)  # [-1, 1] in 1e-4
AS_NORM = ScoreScale("AS-norm score", -40.0, 1e-3, 120001, 250)  # [-40, 80] in 1e-3

IntArray = npt.NDArray[np.int64]


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatingPoint:
    """FNMR at the threshold where FMR is at most target (FPIR / FNIR for 1:N)."""

    target: float
    resolved: bool  # False: target below resolution(trials); no threshold or rates are given
    threshold: float | None = None
    false_positive: Rate | None = None  # FMR (or FPIR) measured at the threshold
    false_negative: Rate | None = None  # FNMR (or FNIR)


@dataclass(frozen=True)
class Curve:
    """ROC / DET: FMR and FNMR at each threshold (bin edges where a rate changes)."""

    thresholds: list[float]
    fmr: list[float]
    fnmr: list[float]


@dataclass(frozen=True)
class Histogram:
    edges: list[float]  # len(counts) + 1
    genuine: list[int]
    impostor: list[int]


@dataclass(frozen=True)
class Verification:
    genuine_pairs: int
    impostor_pairs: int
    genuine_pairs_without_face: int  # counted as false non-matches at every threshold
    impostor_pairs_without_face: int  # counted as correct rejections
    fmr_resolution: float  # resolution(impostor_pairs)
    points: list[OperatingPoint]
    curve: Curve
    histogram: Histogram
    score: str = COSINE.name  # what the thresholds and curves are on


@dataclass(frozen=True)
class Identification:
    split: str  # how gallery and probes were chosen, in words
    gallery: int
    mated_probes: int
    nonmated_probes: int
    mated_probes_without_face: int
    nonmated_probes_without_face: int
    rank1: Rate  # hits / mated probes (Rate.errors holds the hits here)
    points: list[OperatingPoint]  # false_positive = FPIR, false_negative = FNIR


@dataclass(frozen=True)
class GroupRow:
    group: str
    identities: int
    images: int
    fmr: Rate  # impostor pairs with both images in the group
    fnmr: Rate
    fmr_resolved: bool  # resolution(impostor pairs) <= the FMR the threshold was set for
    fnmr_resolved: bool  # resolution(genuine pairs) <= the overall FNMR at the threshold


@dataclass(frozen=True)
class GroupPair:
    group_a: str
    group_b: str
    fmr: Rate


@dataclass(frozen=True)
class Groups:
    threshold: float
    threshold_source: str
    rows: list[GroupRow]
    between: list[GroupPair]  # impostor pairs across two groups
    between_all: Rate  # every impostor pair whose images are in different groups
    fmr_ratio: float | None  # highest / lowest per-group FMR over resolved groups (None: < 2, or lowest 0)
    fnmr_ratio: float | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pipelines:
    """Cosine and AS-norm scores side by side (issue 29)."""

    normalisation: str  # how the AS-norm scores were made, or why they were not measured
    as_norm: Verification | None  # thresholds chosen on all the pairs, as `verification` for the cosine
    cross_validation: str  # how the groups were made
    cross_validated: dict[str, list[CrossValidatedPoint]]  # "cosine", "as-norm": FNMR at FMR, thresholds from other groups


@dataclass(frozen=True)
class EvalReport:
    images: int
    identities: int
    images_without_face: int
    verification: Verification
    identification: Identification | None
    groups: Groups | None
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pipelines: Pipelines | None = None


# -- verification scores --------------------------------------------------------------------


@dataclass
class Scores:
    """What verification needs of the impostor scores without holding them all: their count,
    the top ones (exact thresholds down to FMR 1e-2) and a fine histogram (the curves)."""

    genuine: Float64Array  # every genuine score, -inf where an image has no face
    genuine_pair_groups: IntArray | None  # (group of image a) per genuine pair
    impostor_count: int
    impostor_top: Float64Array  # the highest impostor scores, descending
    impostor_hist: IntArray  # finite impostor scores in _NBINS bins
    impostor_without_face: int


def _bins(scores: Float64Array, scale: ScoreScale = COSINE) -> IntArray:
    finite = scores[np.isfinite(scores)]
    index = np.clip(np.floor((finite - scale.low) / scale.bin + 1e-6), 0, scale.nbins - 1).astype(np.int64)
    return np.bincount(index, minlength=scale.nbins).astype(np.int64)


def _top_k(values: Float64Array, k: int) -> Float64Array:
    if len(values) <= k:
        return values
    return np.partition(values, len(values) - k)[len(values) - k:]


def _top_needed(impostor_count: int) -> int:
    return int(math.floor(max(FMR_TARGETS) * impostor_count)) + 1


def scores_from_pairs(similarity: npt.ArrayLike, same: npt.ArrayLike,
                      pair_groups: npt.ArrayLike | None = None, scale: ScoreScale = COSINE) -> Scores:
    """Scores of listed pairs (a pairs file): -inf where either image has no face."""
    s = np.asarray(similarity, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    impostor = s[~y]
    groups = None if pair_groups is None else np.asarray(pair_groups, dtype=np.int64)[y]
    return Scores(s[y], groups, len(impostor), np.sort(_top_k(impostor, _top_needed(len(impostor))))[::-1].copy(),
                  _bins(impostor, scale), int(np.sum(~np.isfinite(impostor))))


def _blocks(embeddings: npt.NDArray[np.float32], has_face: npt.NDArray[np.bool_]) -> Any:
    """(rows, scores[rows, :]) for all pairs i < j: cosine similarity (a float32 matrix product in
    blocks of rows), -inf where an image has no face, NaN where j <= i (not a pair)."""
    n = len(embeddings)
    vectors = np.where(has_face[:, None], embeddings, 0).astype(np.float32)
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(n, start + _BLOCK))
        scores = (vectors[rows] @ vectors.T).astype(np.float64)
        scores[:, ~has_face] = -np.inf
        scores[~has_face[rows]] = -np.inf
        scores[np.arange(n)[None, :] <= rows[:, None]] = np.nan
        yield rows, scores


class ScoreAccumulator:
    """Scores of all pairs of a labelled set, a block of all_pair_blocks at a time: same label
    genuine, different label impostor."""

    def __init__(self, labels: npt.ArrayLike, image_groups: npt.ArrayLike | None = None,
                 scale: ScoreScale = COSINE) -> None:
        self.lab = np.asarray(labels, dtype=np.int64)
        self.groups = None if image_groups is None else np.asarray(image_groups, dtype=np.int64)
        self.scale = scale
        n = len(self.lab)
        same_counts = np.bincount(self.lab)
        genuine_count = int(np.sum(same_counts * (same_counts - 1) // 2))
        self.impostor_count = n * (n - 1) // 2 - genuine_count
        self.keep = _top_needed(self.impostor_count)
        self.genuine: list[Float64Array] = []
        self.genuine_groups: list[IntArray] = []
        self.top = np.zeros(0)
        self.hist = np.zeros(scale.nbins, dtype=np.int64)
        self.without_face = 0

    def add(self, rows: npt.NDArray[np.int64], scores: Float64Array) -> None:
        pair = ~np.isnan(scores)
        same = self.lab[rows][:, None] == self.lab[None, :]
        self.genuine.append(scores[pair & same])
        if self.groups is not None:
            self.genuine_groups.append(np.broadcast_to(self.groups[rows][:, None], scores.shape)[pair & same])
        impostor = scores[pair & ~same]
        self.without_face += int(np.sum(np.isinf(impostor)))
        self.hist += _bins(impostor, self.scale)
        self.top = _top_k(np.concatenate([self.top, impostor[np.isfinite(impostor)]]), self.keep)

    def scores(self) -> Scores:
        return Scores(np.concatenate(self.genuine) if self.genuine else np.zeros(0),
                      np.concatenate(self.genuine_groups) if self.genuine_groups else None,
                      self.impostor_count, np.sort(self.top)[::-1].copy(), self.hist, self.without_face)


def scores_from_embeddings(embeddings: npt.ArrayLike, has_face: npt.ArrayLike, labels: npt.ArrayLike,
                           image_groups: npt.ArrayLike | None = None) -> Scores:
    """All pairs of a labelled set: same label genuine, different label impostor."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    face = np.asarray(has_face, dtype=bool)
    accumulator = ScoreAccumulator(labels, image_groups)
    for rows, scores in _blocks(emb, face):
        accumulator.add(rows, scores)
    return accumulator.scores()


def threshold_at(top_desc: Float64Array, count: int, target: float) -> float:
    """The lowest threshold at which at most floor(target * count) of the scores are >= it."""
    allowed = int(math.floor(target * count + 1e-9))
    if allowed >= len(top_desc):  # fewer scores kept than may pass: every one passes
        return -1.0
    return float(np.nextafter(top_desc[allowed], np.inf))


def verification(scores: Scores, scale: ScoreScale = COSINE) -> Verification:
    n_imp, n_gen = scores.impostor_count, len(scores.genuine)
    points = []
    for target in FMR_TARGETS:
        if n_imp == 0 or target < resolution(n_imp):
            points.append(OperatingPoint(target, False))
            continue
        t = threshold_at(scores.impostor_top, n_imp, target)
        false_matches = int(np.sum(scores.impostor_top >= t))
        misses = int(np.sum(~(scores.genuine >= t)))
        points.append(OperatingPoint(target, True, t, rate(false_matches, n_imp), rate(misses, n_gen)))
    # Curves at bin edges: FMR(edge) = impostors in bins >= edge; FNMR(edge) = genuine below it.
    imp_at_or_above = np.cumsum(scores.impostor_hist[::-1])[::-1]
    gen_hist = _bins(scores.genuine, scale)
    gen_below = n_gen - np.cumsum(gen_hist[::-1])[::-1]
    edges = scale.low + scale.bin * np.arange(scale.nbins)
    fmr = imp_at_or_above / max(n_imp, 1)
    fnmr = gen_below / max(n_gen, 1)
    change = np.union1d(np.flatnonzero(np.diff(fmr, prepend=-1) != 0), np.flatnonzero(np.diff(fnmr, prepend=-1) != 0))
    coarse = scale.coarse  # the histogram figure's bars (cosine: 200 bins of 0.01)
    hist_edges = (scale.low + scale.bin * coarse * np.arange(scale.nbins // coarse + 1)).tolist()
    return Verification(
        genuine_pairs=n_gen, impostor_pairs=n_imp,
        genuine_pairs_without_face=int(np.sum(np.isneginf(scores.genuine))),
        impostor_pairs_without_face=scores.impostor_without_face,
        fmr_resolution=resolution(n_imp), points=points,
        curve=Curve(edges[change].round(4).tolist(), fmr[change].tolist(), fnmr[change].tolist()),
        histogram=Histogram(hist_edges, _coarse(gen_hist, coarse), _coarse(scores.impostor_hist, coarse)),
        score=scale.name,
    )


def _coarse(hist: IntArray, factor: int) -> list[int]:
    n = (len(hist) // factor) * factor
    out = hist[:n].reshape(-1, factor).sum(axis=1)
    out[-1] += hist[n:].sum()  # the score 1.0 bin goes into the last coarse bin
    return [int(v) for v in out]


# -- 1:N identification --------------------------------------------------------------------------


def identification(embeddings: npt.ArrayLike, has_face: npt.ArrayLike, labels: npt.ArrayLike,
                   holdout: float = 0.1, seed: int = 0) -> Identification | None:
    """Gallery: the first image with a face of each identity with >= 2 images, except a held-out
    share of those identities; probes: their other images (mated), every image of held-out and
    single-image identities (non-mated). None when no identity can be in the gallery."""
    emb = np.asarray(embeddings, dtype=np.float32)
    face = np.asarray(has_face, dtype=bool)
    lab = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(lab)
    multi = np.flatnonzero(counts >= 2)
    held = set(np.random.default_rng(seed).choice(multi, int(round(holdout * len(multi))), replace=False).tolist()) \
        if len(multi) else set()
    gallery_of: dict[int, int] = {}
    for i in range(len(lab)):
        ident = int(lab[i])
        if counts[ident] >= 2 and ident not in held and face[i] and ident not in gallery_of:
            gallery_of[ident] = i
    if not gallery_of:
        return None
    gallery = np.array(sorted(gallery_of.values()), dtype=np.int64)
    in_gallery = np.zeros(len(lab), dtype=bool)
    in_gallery[gallery] = True
    mated = np.flatnonzero(~in_gallery & np.isin(lab, list(gallery_of)))
    nonmated = np.flatnonzero(~in_gallery & ~np.isin(lab, list(gallery_of)))
    index = FlatIndex(emb.shape[1], "cosine")
    index.add(gallery.astype(np.uint64), emb[gallery])

    def best(probes: IntArray) -> tuple[IntArray, Float64Array]:
        top_id = np.full(len(probes), -1, dtype=np.int64)
        top_score = np.full(len(probes), -np.inf)
        with_face = probes[face[probes]]
        if len(with_face):
            ids, scores = index.search(emb[with_face], 1)
            top_id[face[probes]] = ids[:, 0]
            top_score[face[probes]] = scores[:, 0]
        return top_id, top_score

    mated_id, mated_score = best(mated)
    _, nonmated_score = best(nonmated)
    hit = np.zeros(len(mated), dtype=bool)
    ok = mated_id >= 0
    hit[ok] = lab[mated_id[ok]] == lab[mated[ok]]
    points = []
    desc = np.sort(nonmated_score)[::-1]
    for target in FPIR_TARGETS:
        if len(nonmated) == 0 or target < resolution(len(nonmated)):
            points.append(OperatingPoint(target, False))
            continue
        t = threshold_at(desc, len(desc), target)
        false_positives = int(np.sum(nonmated_score >= t))
        misses = int(np.sum(~(hit & (mated_score >= t))))
        points.append(OperatingPoint(target, True, t, rate(false_positives, len(nonmated)),
                                     rate(misses, len(mated))))
    split = (f"gallery: the first image (by file name) with a face of each identity with two or more images, "
             f"except {len(held)} of those {len(multi)} identities held out at random (share {holdout:g}, seed "
             f"{seed}); mated probes: the other images of gallery identities; non-mated probes: every image "
             f"of held-out and single-image identities. A probe without a face is a miss (mated) or a correct "
             f"rejection (non-mated).")
    return Identification(split, len(gallery), len(mated), len(nonmated), int(np.sum(~face[mated])),
                          int(np.sum(~face[nonmated])), rate(int(hit.sum()), len(mated)), points)


# -- groups ------------------------------------------------------------------------------------------


def group_impostor_counts(embeddings: npt.ArrayLike, has_face: npt.ArrayLike, labels: npt.ArrayLike,
                          image_groups: npt.ArrayLike, n_groups: int,
                          threshold: float) -> tuple[IntArray, IntArray]:
    """[G, G] impostor pairs and false matches at threshold by the groups of the two images
    (upper triangle by group index: [a, b] with a <= b)."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    face = np.asarray(has_face, dtype=bool)
    lab = np.asarray(labels, dtype=np.int64)
    g = np.asarray(image_groups, dtype=np.int64)
    trials = np.zeros(n_groups * n_groups, dtype=np.int64)
    errors = np.zeros(n_groups * n_groups, dtype=np.int64)
    for rows, scores in _blocks(emb, face):
        impostor = ~np.isnan(scores) & (lab[rows][:, None] != lab[None, :])
        lo = np.minimum(g[rows][:, None], g[None, :])
        hi = np.maximum(g[rows][:, None], g[None, :])
        cell = np.broadcast_to(lo * n_groups + hi, scores.shape)
        trials += np.bincount(cell[impostor], minlength=n_groups * n_groups)
        errors += np.bincount(cell[impostor & (scores >= threshold)], minlength=n_groups * n_groups)
    return trials.reshape(n_groups, n_groups), errors.reshape(n_groups, n_groups)


def _ratio(rates: Sequence[Rate]) -> float | None:
    if len(rates) < 2:
        return None
    low, high = min(r.value for r in rates), max(r.value for r in rates)
    return high / low if low > 0 else None


def group_report(names: Sequence[str], threshold: float, threshold_source: str, target_fmr: float | None,
                 imp_trials: IntArray, imp_errors: IntArray, genuine: Float64Array, genuine_groups: IntArray,
                 identities: Sequence[int], images: Sequence[int]) -> Groups:
    overall_fnmr = float(np.mean(~(genuine >= threshold))) if len(genuine) else 0.0
    if target_fmr is None:  # a given threshold: the FMR measured there over all impostor pairs
        target_fmr = float(imp_errors.sum() / max(int(imp_trials.sum()), 1))
    rows: list[GroupRow] = []
    for k, name in enumerate(names):
        mine = genuine[genuine_groups == k]
        fmr = rate(int(imp_errors[k, k]), int(imp_trials[k, k]))
        fnmr = rate(int(np.sum(~(mine >= threshold))), len(mine))
        rows.append(GroupRow(name, identities[k], images[k], fmr, fnmr,
                             fmr.trials > 0 and resolution(fmr.trials) <= target_fmr,
                             fnmr.trials > 0 and resolution(fnmr.trials) <= max(overall_fnmr, 0.0)
                             and overall_fnmr > 0))
    between = [GroupPair(names[a], names[b], rate(int(imp_errors[a, b]), int(imp_trials[a, b])))
               for a in range(len(names)) for b in range(a + 1, len(names))]
    off = ~np.eye(len(names), dtype=bool)
    between_all = rate(int(imp_errors[off].sum()), int(imp_trials[off].sum()))
    labelled = [r for r in rows if r.group != UNLABELLED]
    notes = []
    small = [r.group for r in labelled if not (r.fmr_resolved and r.fnmr_resolved)]
    if small:
        notes.append("too few pairs to resolve the rate at this threshold (3/n above it): " + ", ".join(small)
                     + "; their rates are shown with intervals but left out of the ratios")
    fmr_ratio = _ratio([r.fmr for r in labelled if r.fmr_resolved])
    fnmr_ratio = _ratio([r.fnmr for r in labelled if r.fnmr_resolved])
    if fmr_ratio is None or fnmr_ratio is None:
        notes.append("a ratio is not given when fewer than two groups resolve the rate or the lowest rate is 0")
    return Groups(threshold, threshold_source, rows, between, between_all, fmr_ratio, fnmr_ratio, notes)


# -- the whole report ------------------------------------------------------------------------------


def evaluate(embeddings: npt.ArrayLike, has_face: npt.ArrayLike, identities: Sequence[str],
             groups: Mapping[str, str] | None = None, threshold: float | None = None,
             holdout: float = 0.1, provenance: Mapping[str, Any] | None = None) -> EvalReport:
    """Every number of the report for a labelled set of images (one embedding row per image;
    rows without a face are ignored in favour of has_face)."""
    if groups is not None:
        check_groups(impostor_pair_count(identities), threshold)
    names = sorted(set(identities))
    code = {name: i for i, name in enumerate(names)}
    labels = np.array([code[i] for i in identities], dtype=np.int64)
    face = np.asarray(has_face, dtype=bool)
    emb = np.asarray(embeddings, dtype=np.float32)
    group_names: list[str] = []
    image_groups = None
    if groups is not None:
        group_names = sorted(set(groups[i] for i in names if i in groups))
        if any(i not in groups for i in names):
            group_names.append(UNLABELLED)
        gcode = {g: k for k, g in enumerate(group_names)}
        image_groups = np.array([gcode[groups.get(i, UNLABELLED)] for i in identities], dtype=np.int64)
    scores, pipelines = _both_pipelines(emb, face, labels, list(identities), image_groups)
    ver = verification(scores)
    ident = identification(emb, face, labels, holdout)
    notes = [] if ident is not None else ["1:N: no identity has two images, so there is no gallery"]
    group_result = None
    if image_groups is not None:
        t, source = _group_threshold(ver, threshold)
        trials, errors = group_impostor_counts(emb, face, labels, image_groups, len(group_names), t)
        assert scores.genuine_pair_groups is not None
        group_result = group_report(
            group_names, t, source, None if threshold is not None else GROUP_FMR, trials, errors,
            scores.genuine, scores.genuine_pair_groups,
            [len({i for i, gi in zip(identities, image_groups) if gi == k}) for k in range(len(group_names))],
            [int(np.sum(image_groups == k)) for k in range(len(group_names))])
    return EvalReport(len(identities), len(names), int(np.sum(~face)), ver, ident, group_result,
                      dict(provenance or {}), notes, pipelines)


CV_SPLIT = ("seven identity-disjoint groups (a stable hash of each identity): for each group, the threshold of "
            "each target FMR is chosen on the impostor pairs with neither photo in it and applied to the pairs "
            "inside it; misses and false matches are pooled over the groups")


def _both_pipelines(emb: npt.NDArray[np.float32], face: npt.NDArray[np.bool_], labels: IntArray,
                    identities: list[str], image_groups: IntArray | None) -> tuple[Scores, Pipelines]:
    """Every pair's cosine (for the report's cosine sections) and, in the same pass, its AS-norm score
    and both pipelines' cross-validated operating points."""
    groups = identity_groups(identities)
    try:
        cohorts: GroupCohorts | None = GroupCohorts(emb, face, groups)
        how = cohorts.describe() if cohorts is not None else ""
    except CalibrationError as e:
        cohorts, how = None, f"not measured: {e}"
    cosine, z_scores = ScoreAccumulator(labels, image_groups), ScoreAccumulator(labels, None, AS_NORM)
    cv = {"cosine": CrossValidation(labels, groups, CV_TARGETS), "as-norm": CrossValidation(labels, groups, CV_TARGETS)}
    for rows, cos, z in all_pair_blocks(emb, face, cohorts):
        cosine.add(rows, cos)
        cv["cosine"].add(rows, cos)
        if z is not None:
            z_scores.add(rows, z)
            cv["as-norm"].add(rows, z)
    crossed = {name: acc.points() for name, acc in cv.items() if name == "cosine" or cohorts is not None}
    return cosine.scores(), Pipelines(how, verification(z_scores.scores(), AS_NORM) if cohorts else None,
                                      CV_SPLIT, crossed)


def impostor_pair_count(identities: Sequence[str]) -> int:
    """The impostor pairs of a labelled set: every pair of images of two different identities."""
    n = len(identities)
    return n * (n - 1) // 2 - sum(c * (c - 1) // 2 for c in Counter(identities).values())


def check_groups(impostor_pairs: int, threshold: float | None) -> None:
    """Groups are compared at one threshold: given, or where FMR = GROUP_FMR over all impostor
    pairs, which needs enough of them to resolve it (3/n); UsageError otherwise, before any work."""
    if threshold is None and (impostor_pairs == 0 or resolution(impostor_pairs) > GROUP_FMR):
        needed = math.ceil(3 / GROUP_FMR)
        raise UsageError(
            f"groups= compares the groups at the threshold where FMR = {GROUP_FMR:g}, and {impostor_pairs:,} "
            f"impostor pairs do not resolve that rate (at least {needed:,} are needed): give threshold= (a cosine "
            "similarity, such as the pack's compare threshold), or more images")


def _group_threshold(ver: Verification, threshold: float | None) -> tuple[float, str]:
    if threshold is not None:
        return float(threshold), "given"
    check_groups(ver.impostor_pairs, threshold)
    point = next(p for p in ver.points if p.target == GROUP_FMR)
    assert point.threshold is not None  # resolved: check_groups passed
    return point.threshold, f"FMR = {GROUP_FMR:g} over all impostor pairs"


def evaluate_pairs(similarity: npt.ArrayLike, same: npt.ArrayLike, identity_a: Sequence[str],
                   identity_b: Sequence[str], groups: Mapping[str, str] | None = None,
                   threshold: float | None = None, images: int = 0, images_without_face: int = 0,
                   provenance: Mapping[str, Any] | None = None, normalised: npt.ArrayLike | None = None,
                   folds: npt.ArrayLike | None = None, normalisation: str = "") -> EvalReport:
    """The report for listed pairs (a pairs file): verification and groups; no 1:N (no gallery).
    normalised: each pair's AS-norm score (normalisation: how they were made); folds: each pair's
    identity-disjoint fold, for cross-validated operating points."""
    s = np.asarray(similarity, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    if groups is not None:
        check_groups(int(np.sum(~y)), threshold)
    pipelines = None
    if folds is not None:
        f = np.asarray(folds, dtype=np.int64)
        crossed = {"cosine": cross_validated_pairs(s, y, f, CV_TARGETS)}
        z_ver = None
        if normalised is not None:
            z = np.asarray(normalised, dtype=np.float64)
            crossed["as-norm"] = cross_validated_pairs(z, y, f, CV_TARGETS)
            z_ver = verification(scores_from_pairs(z, y, scale=AS_NORM), AS_NORM)
        pipelines = Pipelines(normalisation or "not measured", z_ver,
                              "the pairs file's folds: for each fold, the threshold of each target FMR is chosen on "
                              "the impostor pairs of the other folds and applied to this fold's pairs; misses "
                              "and false matches are pooled", crossed)
    group_names: list[str] = []
    pair_groups: tuple[IntArray, IntArray] | None = None
    if groups is not None:
        every = set(identity_a) | set(identity_b)
        group_names = sorted({groups[i] for i in every if i in groups})
        if any(i not in groups for i in every):
            group_names.append(UNLABELLED)
        gcode = {g: k for k, g in enumerate(group_names)}
        pair_groups = (np.array([gcode[groups.get(i, UNLABELLED)] for i in identity_a], dtype=np.int64),
                       np.array([gcode[groups.get(i, UNLABELLED)] for i in identity_b], dtype=np.int64))
    scores = scores_from_pairs(s, y, None if pair_groups is None else pair_groups[0])
    ver = verification(scores)
    notes = ["1:N is measured on a folder of identities, not on a pairs file"]
    group_result = None
    if pair_groups is not None:
        t, source = _group_threshold(ver, threshold)
        G = len(group_names)
        lo, hi = np.minimum(*pair_groups), np.maximum(*pair_groups)
        cell = (lo * G + hi)[~y]
        trials = np.bincount(cell, minlength=G * G).reshape(G, G)
        errors = np.bincount(cell[s[~y] >= t], minlength=G * G).reshape(G, G)
        assert scores.genuine_pair_groups is not None
        every_a = list(identity_a) + list(identity_b)
        every_g = np.concatenate(pair_groups)
        group_result = group_report(
            group_names, t, source, None if threshold is not None else GROUP_FMR, trials, errors,
            scores.genuine, scores.genuine_pair_groups,
            [len({i for i, gi in zip(every_a, every_g) if gi == k}) for k in range(G)],
            [0] * G)
    return EvalReport(images, len(set(identity_a) | set(identity_b)), images_without_face, ver, None,
                      group_result, dict(provenance or {}), notes, pipelines)
