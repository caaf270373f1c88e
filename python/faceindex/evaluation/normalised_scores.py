"""AS-norm scores of every pair of a labelled set of photos, with cohorts of other people.

To measure normalised scores honestly on one labelled set (LFW, or your own folder), no
pair may be normalised against a cohort holding its own faces or people: the faces are
split into identity-disjoint groups (identity_groups: a stable hash of the identity, or the
data set's own folds), and a pair whose faces lie in groups g and h is normalised against
a cohort drawn from the faces of the other groups (GroupCohorts). The cohort is unlabelled
data: no label of a pair it normalises is ever read from it. Both faces of a pair are
normalised against the same cohort, as in a search (the collection's one cohort) and a
compare (the user's one cohort).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceindex.errors import CalibrationError
from faceindex.thresholds.score_norm import COHORT_SIZE, MIN_COHORT_SIZE, Lines, cohort_statistics, normalise, top_k_for
from faceindex.types import Float64Array, FloatArray

GROUPS = 7  # identity-disjoint groups (LFW View 2 has folds 0-6: seven)
_BLOCK = 512  # rows of the all-pairs score matrix computed at once


def identity_groups(identities: Sequence[str], groups: int = GROUPS) -> npt.NDArray[np.int64]:
    """A group for each photo from a stable hash of its identity (the same on every machine)."""
    def group(name: str) -> int:
        return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % groups

    cache: dict[str, int] = {}
    return np.array([cache.setdefault(i, group(i)) for i in identities], dtype=np.int64)


@dataclass(frozen=True)
class CohortChoice:
    faces: npt.NDArray[np.int64]  # rows of the set that make this cohort
    groups: tuple[int, ...]  # the groups they come from


class GroupCohorts:
    """For each unordered pair of groups {g, h}: a cohort of up to cohort_size faces (a seeded
    random sample) from the other groups, and every photo's normalisation lines against it."""

    def __init__(self, embeddings: npt.ArrayLike, has_face: npt.ArrayLike, group: npt.ArrayLike,
                 cohort_size: int = COHORT_SIZE, seed: int = 0) -> None:
        self.embeddings: FloatArray = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.has_face = np.asarray(has_face, dtype=bool)
        self.group = np.asarray(group, dtype=np.int64)
        names = np.unique(self.group)
        if len(names) < 3:
            raise CalibrationError(f"AS-norm scores need photos of at least 3 identity groups, got {len(names)}")
        self.n_groups = int(self.group.max()) + 1
        self.index = np.full((self.n_groups, self.n_groups), -1, dtype=np.int64)
        self.cohorts: list[CohortChoice] = []
        lines: list[Lines] = []
        for a in range(self.n_groups):
            for b in range(a, self.n_groups):
                others = tuple(int(g) for g in names if g not in (a, b))
                pool = np.flatnonzero(self.has_face & np.isin(self.group, others))
                take = min(cohort_size, len(pool))
                if take < MIN_COHORT_SIZE:
                    raise CalibrationError(f"too few faces outside groups {a} and {b} for a cohort: {take} "
                                           f"(at least {MIN_COHORT_SIZE})")
                rng = np.random.default_rng([seed, a, b])
                faces = np.sort(rng.choice(pool, take, replace=False))
                self.index[a, b] = self.index[b, a] = len(self.cohorts)
                self.cohorts.append(CohortChoice(faces, others))
                mean, spread = cohort_statistics(self.embeddings, self.embeddings[faces], top_k_for(take))
                lines.append(Lines.of(mean, spread))
        # [photos, cohorts]: photo i's line against cohort c
        self.slope = np.stack([line.slope for line in lines], axis=1)
        self.offset = np.stack([line.offset for line in lines], axis=1)

    @property
    def cohort_size(self) -> int:
        return min(len(c.faces) for c in self.cohorts)

    def normalise(self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64],
                  cosine: npt.ArrayLike) -> Float64Array:
        """z of the pairs (rows[i], cols[j]) with these cosines ([len(rows), len(cols)], or one per pair
        when rows and cols have one length and cosine is 1-D)."""
        s = np.asarray(cosine, dtype=np.float64)
        if s.ndim == 1:
            c = self.index[self.group[rows], self.group[cols]]
            a = Lines(self.slope[rows, c], self.offset[rows, c])
            b = Lines(self.slope[cols, c], self.offset[cols, c])
            return normalise(s, a, b)
        c = self.index[self.group[rows][:, None], self.group[cols][None, :]]
        a = Lines(self.slope[rows[:, None], c], self.offset[rows[:, None], c])
        b = Lines(self.slope[cols[None, :], c], self.offset[cols[None, :], c])
        return normalise(s, a, b)

    def describe(self) -> str:
        return (f"AS-norm, top {top_k_for(self.cohort_size)} of a cohort of {self.cohort_size:,} faces drawn, for "
                f"each pair, from the {self.n_groups - 2}-{self.n_groups - 1} identity groups (of {self.n_groups}) "
                "that hold neither of its faces")


def all_pair_blocks(embeddings: npt.ArrayLike, has_face: npt.ArrayLike,
                    cohorts: GroupCohorts | None = None
                    ) -> Iterator[tuple[npt.NDArray[np.int64], Float64Array, Float64Array | None]]:
    """(rows, cosine[rows, :], z[rows, :] or None) over all pairs i < j, a block of rows at a time:
    -inf where a photo has no face, NaN where j <= i (not a pair)."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    face = np.asarray(has_face, dtype=bool)
    n = len(emb)
    vectors = np.where(face[:, None], emb, 0).astype(np.float32)
    cols = np.arange(n)
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(n, start + _BLOCK))
        cosine = (vectors[rows] @ vectors.T).astype(np.float64)
        z = cohorts.normalise(rows, cols, cosine) if cohorts is not None else None
        for scores in (cosine, z):
            if scores is None:
                continue
            scores[:, ~face] = -np.inf
            scores[~face[rows]] = -np.inf
            scores[cols[None, :] <= rows[:, None]] = np.nan
        yield rows, cosine, z


def normalised_pair_scores(embeddings: npt.ArrayLike, labels: Sequence[str], groups: npt.ArrayLike | None = None,
                           cohort_size: int = COHORT_SIZE) -> tuple[Float64Array, Float64Array, str]:
    """z of every impostor and every genuine pair (each unordered pair once) of photos that all have a
    face, each normalised against a cohort from other identity groups; and how, in words."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    ids = np.asarray(labels)
    group = identity_groups(list(ids)) if groups is None else np.asarray(groups, dtype=np.int64)
    face = np.ones(len(emb), dtype=bool)
    cohorts = GroupCohorts(emb, face, group, cohort_size)
    impostor: list[Float64Array] = []
    genuine: list[Float64Array] = []
    for rows, _, z in all_pair_blocks(emb, face, cohorts):
        assert z is not None
        pair = ~np.isnan(z)
        same = ids[rows][:, None] == ids[None, :]
        impostor.append(z[pair & ~same])
        genuine.append(z[pair & same])
    return np.concatenate(impostor), np.concatenate(genuine), cohorts.describe()
