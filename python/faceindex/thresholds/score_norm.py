"""Adaptive score normalisation (AS-norm): a cosine similarity standardised by how each of its
two faces scores against a cohort of other people's faces.

For a face x and a cohort C (unit embeddings of the same pack), x's cohort statistics are the
mean m(x) and the spread d(x) (standard deviation) of its K highest cosines against C: how
high x scores against strangers who look most like it. A pair (a, b) with cosine s scores

    z(a, b) = ((s - m(a)) / d(a) + (s - m(b)) / d(b)) / 2

A face that resembles many people (a crowd of high impostor scores) needs a higher cosine
for the same z than a face that resembles nobody, so one threshold on z holds the
false-match rate more evenly across faces, and fewer genuine pairs fall below it at a
given rate. Only the K highest cosines count (the "adaptive" part): normalising by the whole
cohort (S-norm) made the dlib pack worse on LFW (issue 29).

For a fixed probe q, z is an affine function of the cosine with a positive slope for every
stored face b:  z = (p(q) + p(b)) s - (o(q) + o(b)),  p(x) = 1 / (2 d(x)),  o(x) = m(x) / (2 d(x)).
That is why a search stays exact: see collection/score_norm.py.

The cohort holds people other than the ones compared (a collection's own sample of its faces,
or photos the user gives: `faceindex cohort build`); faceindex never ships one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from faceindex.types import Float64Array, FloatArray, PackRef, ScoreNormalisation

COHORT_SIZE = 1000  # faces in a cohort (a larger set is sampled down to this many)
TOP_K_SHARE = 0.2  # K = 20% of the cohort: 200 of 1,000, as issue 29 measured
# Fewer faces than this do not make a cohort: on LFW a cohort of 500 kept half of the gain at FMR
# 1e-4 and one of 300 none (docs/score-normalisation.md), and the AS-norm tables are measured with
# cohorts of 1,000.
MIN_COHORT_SIZE = COHORT_SIZE
MIN_SPREAD = 1e-3  # a spread below this (near-identical cohort faces) is taken as this
_BLOCK = 4096  # faces whose cohort statistics are computed at once ([block, M] float32 scores)


def top_k_for(cohort_size: int) -> int:
    """K for a cohort of this many faces: 20% of them (200 of 1,000)."""
    return max(1, int(round(TOP_K_SHARE * cohort_size)))


@dataclass(frozen=True)
class Lines:
    """Each face's normalisation as a line: z-contribution p s - o, p = 1 / (2 spread),
    o = mean / (2 spread). z(a, b) = (p_a + p_b) s - (o_a + o_b)."""

    slope: Float64Array  # p, > 0
    offset: Float64Array  # o

    def __len__(self) -> int:
        return len(self.slope)

    @classmethod
    def of(cls, mean: npt.ArrayLike, spread: npt.ArrayLike) -> Lines:
        d = np.maximum(np.asarray(spread, dtype=np.float64), MIN_SPREAD)
        m = np.asarray(mean, dtype=np.float64)
        return cls(0.5 / d, 0.5 * m / d)

    def take(self, rows: npt.NDArray[np.int64] | list[int] | slice) -> Lines:
        return Lines(self.slope[rows], self.offset[rows])


def normalise(cosine: npt.ArrayLike, a: Lines, b: Lines) -> Float64Array:
    """z of pairs (a[i], b[i]) (or broadcast: a [q, 1] against b [1, n]) from their cosines.
    One formula everywhere: bounds and scores computed with it agree to the last bit."""
    s = np.asarray(cosine, dtype=np.float64)
    z: Float64Array = (a.slope + b.slope) * s - (a.offset + b.offset)
    return z


@dataclass(frozen=True)
class Cohort:
    """A set of faces that scores are normalised against: unit embeddings of one pack."""

    embeddings: FloatArray  # [M, d] float32, unit rows
    pack: PackRef
    source: str  # what the faces are, in words (never paths of the faces themselves)

    def __post_init__(self) -> None:
        e = self.embeddings
        if e.ndim != 2 or e.dtype != np.float32 or len(e) < MIN_COHORT_SIZE:
            raise ValueError(f"a cohort is at least {MIN_COHORT_SIZE} float32 embeddings [M, d], got "
                             f"{e.dtype} {tuple(e.shape)}")
        if not np.all(np.isfinite(e)):
            raise ValueError("cohort embeddings hold NaN or inf")

    @property
    def size(self) -> int:
        return len(self.embeddings)

    @property
    def top_k(self) -> int:
        return top_k_for(self.size)

    @cached_property
    def digest(self) -> str:
        """Which cohort this is: a hash of its embeddings and pack (16 hex digits)."""
        h = hashlib.sha256(f"{self.pack.name}\0{self.pack.version}\0{self.top_k}\0".encode())
        h.update(np.ascontiguousarray(self.embeddings).tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> ScoreNormalisation:
        return ScoreNormalisation("as-norm", self.source, self.digest, self.size, self.top_k)

    def lines(self, vectors: npt.ArrayLike, own_slot: npt.ArrayLike | None = None) -> Lines:
        """The normalisation lines of faces ([n, d] unit vectors); own_slot[i] >= 0 is face i's own
        place in the cohort, left out of its statistics (a face is no stranger to itself)."""
        mean, spread = cohort_statistics(vectors, self.embeddings, self.top_k, own_slot, self._transposed)
        return Lines.of(mean, spread)

    @cached_property
    def _transposed(self) -> FloatArray:
        return np.ascontiguousarray(self.embeddings.T)


def cohort_statistics(vectors: npt.ArrayLike, cohort: FloatArray, top_k: int,
                      own_slot: npt.ArrayLike | None = None, cohort_t: FloatArray | None = None
                      ) -> tuple[Float64Array, Float64Array]:
    """Mean and spread (population standard deviation) of each face's top_k cosines against the
    cohort, in blocks of faces (one float32 matrix product each)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] != cohort.shape[1]:
        raise ValueError(f"vectors must be [n, {cohort.shape[1]}], got {tuple(v.shape)}")
    m = len(cohort)
    k = min(top_k, m - (own_slot is not None))
    slots = None if own_slot is None else np.asarray(own_slot, dtype=np.int64)
    mean = np.empty(len(v))
    spread = np.empty(len(v))
    cohort_t = np.ascontiguousarray(cohort.T) if cohort_t is None else cohort_t
    for start in range(0, len(v), _BLOCK):
        rows = slice(start, min(len(v), start + _BLOCK))
        scores = v[rows] @ cohort_t
        if slots is not None:
            own = slots[rows]
            mine = np.flatnonzero(own >= 0)
            scores[mine, own[mine]] = -np.inf
        scores.partition(m - k, axis=1)  # in place: each row's k highest in its last k columns
        top = scores[:, m - k:]
        mu = top.mean(axis=1, dtype=np.float64)
        centred = top - mu[:, None]
        mean[rows] = mu
        spread[rows] = np.sqrt(np.einsum("ij,ij->i", centred, centred) / k)
    return mean, spread

