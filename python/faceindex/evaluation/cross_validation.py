"""Cross-validated operating points: FNMR at a target FMR with the threshold chosen on other people.

The photos are split into identity-disjoint groups. For each group g the threshold of a
target FMR is chosen on the impostor pairs of the other groups (both photos outside g), and
applied to the pairs inside g: its genuine pairs give the misses, its impostor pairs the
false matches the threshold lets through on people it never saw. Both are pooled over the
groups, with Wilson intervals (pairs share photos and people, so the true spread is wider:
the calibration tests measure by how much).

Streaming: pairs come a block at a time (all_pair_blocks); only each group's highest
training impostor scores are kept, and the pairs inside each group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceindex.thresholds.intervals import Rate, rate, resolution
from faceindex.types import Float64Array


@dataclass(frozen=True)
class CrossValidatedPoint:
    """FNMR at target FMR, each group's threshold chosen on the other groups' pairs."""

    target: float
    resolved: bool  # every group's training pairs resolve the target (3/n at most)
    fnmr: Rate | None = None  # genuine pairs of every group against their group's threshold, pooled
    fmr: Rate | None = None  # impostor pairs inside each group, pooled: the rate on people not trained on
    thresholds: tuple[float, ...] = ()  # one per group


def _top(values: Float64Array, k: int) -> Float64Array:
    if len(values) <= k:
        return values
    return np.partition(values, len(values) - k)[len(values) - k:]


class CrossValidation:
    """Accumulates the pairs of all_pair_blocks for cross-validated operating points."""

    def __init__(self, labels: npt.ArrayLike, group: npt.ArrayLike, targets: Sequence[float]) -> None:
        self.labels = np.asarray(labels)
        self.group = np.asarray(group, dtype=np.int64)
        self.targets = tuple(sorted(targets, reverse=True))
        self.groups = np.unique(self.group)
        n = len(self.group)
        per_group = np.array([int(np.sum(self.group == g)) for g in self.groups], dtype=np.int64)
        # Training impostor pairs of group g: pairs with neither photo in g, less its genuine pairs.
        genuine_by_group = np.zeros(len(self.groups), dtype=np.int64)
        for k, g in enumerate(self.groups):
            _, counts = np.unique(self.labels[self.group == g], return_counts=True)
            genuine_by_group[k] = int(np.sum(counts * (counts - 1) // 2))
        outside = n - per_group
        self.train_count = outside * (outside - 1) // 2 - (genuine_by_group.sum() - genuine_by_group)
        self.keep = np.floor(max(self.targets) * self.train_count).astype(np.int64) + 1
        self.top: list[Float64Array] = [np.zeros(0) for _ in self.groups]
        self.inside_impostor: list[list[Float64Array]] = [[] for _ in self.groups]
        self.inside_genuine: list[list[Float64Array]] = [[] for _ in self.groups]
        self._slot = {int(g): k for k, g in enumerate(self.groups)}

    def add(self, rows: npt.NDArray[np.int64], scores: Float64Array) -> None:
        """A block of all_pair_blocks: scores[rows, :] (NaN where not a pair)."""
        pair = ~np.isnan(scores)
        same = self.labels[rows][:, None] == self.labels[None, :]
        gr, gc = self.group[rows][:, None], self.group[None, :]
        impostor = pair & ~same
        for k, g in enumerate(self.groups):
            outside = impostor & (gr != g) & (gc != g)
            self.top[k] = _top(np.concatenate([self.top[k], scores[outside]]), int(self.keep[k]))
            inside = (gr == g) & (gc == g)
            self.inside_impostor[k].append(scores[impostor & inside])
            self.inside_genuine[k].append(scores[pair & same & inside])

    def points(self) -> list[CrossValidatedPoint]:
        out = []
        for target in self.targets:
            if any(target < resolution(int(c)) for c in self.train_count):
                out.append(CrossValidatedPoint(target, False))
                continue
            misses = genuine = false_matches = impostors = 0
            chosen = []
            for k in range(len(self.groups)):
                top = np.sort(self.top[k])[::-1]
                allowed = int(math.floor(target * int(self.train_count[k]) + 1e-9))
                t = float(np.nextafter(top[allowed], np.inf)) if allowed < len(top) else -np.inf
                chosen.append(t)
                gen = np.concatenate(self.inside_genuine[k]) if self.inside_genuine[k] else np.zeros(0)
                imp = np.concatenate(self.inside_impostor[k]) if self.inside_impostor[k] else np.zeros(0)
                misses += int(np.sum(~(gen >= t)))
                genuine += len(gen)
                false_matches += int(np.sum(imp >= t))
                impostors += len(imp)
            out.append(CrossValidatedPoint(target, True, rate(misses, genuine), rate(false_matches, impostors),
                                           tuple(chosen)))
        return out


def cross_validated_pairs(scores: npt.ArrayLike, same: npt.ArrayLike, folds: npt.ArrayLike,
                          targets: Sequence[float]) -> list[CrossValidatedPoint]:
    """The same for listed pairs (a pairs file) with their folds: each fold's threshold chosen on the
    impostor pairs of the other folds."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds, dtype=np.int64)
    out = []
    names = np.unique(f)
    for target in sorted(targets, reverse=True):
        if len(names) < 2 or any(target < resolution(int(np.sum(~y & (f != g)))) for g in names):
            out.append(CrossValidatedPoint(float(target), False))
            continue
        misses = genuine = false_matches = impostors = 0
        chosen = []
        for g in names:
            train = np.sort(s[~y & (f != g)])[::-1]
            allowed = int(math.floor(target * len(train) + 1e-9))
            t = float(np.nextafter(train[allowed], np.inf))
            chosen.append(t)
            test = f == g
            misses += int(np.sum(~(s[test & y] >= t)))
            genuine += int(np.sum(test & y))
            false_matches += int(np.sum(s[test & ~y] >= t))
            impostors += int(np.sum(test & ~y))
        out.append(CrossValidatedPoint(float(target), True, rate(misses, genuine), rate(false_matches, impostors),
                                       tuple(chosen)))
    return out
