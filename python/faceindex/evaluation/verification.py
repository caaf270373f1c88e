"""Pairwise verification: cross-validated accuracy and false-match / false-non-match rates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ErrorRates:
    threshold: float
    false_match_rate: float  # different-person pairs judged the same
    false_non_match_rate: float  # same-person pairs judged different
    accuracy: float
    impostor_pairs: int
    genuine_pairs: int


@dataclass(frozen=True)
class CrossValidation:
    accuracy: float  # mean over folds of the accuracy on the held-out fold
    accuracy_std: float
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]  # each chosen on the other folds
    threshold: float  # mean of the fold thresholds


def error_rates(similarity: npt.ArrayLike, same: npt.ArrayLike, threshold: float) -> ErrorRates:
    """Rates when pairs with similarity >= threshold are judged the same person."""
    s = np.asarray(similarity, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    accept = s >= threshold
    genuine, impostor = int(y.sum()), int((~y).sum())
    fmr = float((accept & ~y).sum() / impostor) if impostor else 0.0
    fnmr = float((~accept & y).sum() / genuine) if genuine else 0.0
    return ErrorRates(float(threshold), fmr, fnmr, float((accept == y).mean()) if len(y) else 0.0, impostor, genuine)


def best_threshold(similarity: npt.NDArray[np.float64], same: npt.NDArray[np.bool_]) -> float:
    """The threshold with the highest accuracy; ties go to the middle of the best interval."""
    order = np.argsort(similarity, kind="stable")
    s, y = similarity[order], same[order]
    # Threshold between s[i-1] and s[i]: pairs 0..i-1 rejected, i.. accepted.
    correct_rejects = np.concatenate([[0], np.cumsum(~y)])
    correct_accepts = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = correct_rejects + correct_accepts
    # Only cut between distinct values.
    candidates = np.concatenate([[True], s[1:] != s[:-1], [True]])
    correct = np.where(candidates, correct, -1)
    best = np.flatnonzero(correct == correct.max())
    i = int(best[len(best) // 2])
    lo = s[i - 1] if i > 0 else s[0] - 1e-6
    hi = s[i] if i < len(s) else s[-1] + 1e-6
    return float((lo + hi) / 2)


def cross_validated_accuracy(
    similarity: npt.ArrayLike, same: npt.ArrayLike, folds: npt.ArrayLike
) -> CrossValidation:
    """Accuracy on each fold with the threshold chosen on the other folds (the LFW protocol)."""
    s = np.asarray(similarity, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    if not (s.shape == y.shape == f.shape) or s.ndim != 1:
        raise ValueError("similarity, same and folds must be 1-D arrays of one length")
    if not np.all(np.isfinite(s)):
        raise ValueError("similarities hold NaN or inf")
    accuracies, thresholds = [], []
    for fold in np.unique(f):
        test = f == fold
        if test.all():
            raise ValueError("cross-validation needs at least two folds")
        t = best_threshold(s[~test], y[~test])
        thresholds.append(t)
        accuracies.append(float(((s[test] >= t) == y[test]).mean()))
    return CrossValidation(
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        fold_accuracies=tuple(accuracies),
        fold_thresholds=tuple(thresholds),
        threshold=float(np.mean(thresholds)),
    )
