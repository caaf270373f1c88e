"""Synthetic face embeddings shaped like real ones, made on the fly (never stored).

How many faces a compressed index cache re-scores depends on how densely the scores crowd
below the best ones, so random directions (every score near 0, in a narrow band) say little
about real galleries. Real embeddings share a common direction (a cone) and vary between
people in far fewer directions than they have dimensions. Here a face is

    x = unit(m * mu + g * c_person + f * e_face),   with m^2 + g^2 + f^2 = 1

where mu is a fixed unit vector, and c_person, e_face are unit vectors orthogonal to mu drawn
from a Gaussian with a decaying spectrum (eigenvalues exp(-i / tau) in a random basis) of
effective dimension d_eff = (sum lambda)^2 / sum lambda^2. Two people's faces then have cosine
m^2 on average with spread about (1 - m^2) / sqrt(d_eff), two faces of one person m^2 + g^2.
The parameters are read off the LFW calibration tables in models/calibration/ (12.9 million
impostor pairs each):

    dlib pack (128-d): impostor median 0.841, 16-84% 0.804-0.874; genuine median 0.952
    SCRFD-500m + MobileFaceNet (128-d, ArcFace-style): impostor median 0.023, 16-84% -0.083-0.128;
        genuine median 0.626

so m^2 = impostor median, g^2 = genuine median - impostor median, d_eff = ((1 - m^2) / impostor
spread)^2 (21 and 86). The 512-d galleries use the ArcFace-style statistics (no 512-d
recognizer is in the test data). People have 1 to 9 faces (geometric, mean 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class FaceModel:
    name: str
    impostor_median: float
    impostor_spread: float  # half the 16-84% range
    genuine_median: float

    @property
    def d_eff(self) -> float:
        return ((1 - self.impostor_median) / self.impostor_spread) ** 2


DLIB_LIKE = FaceModel("dlib-like (LFW impostor median 0.841, genuine 0.952)", 0.841, (0.874 - 0.804) / 2, 0.952)
ARCFACE_LIKE = FaceModel("ArcFace-like (LFW MobileFaceNet: impostor median 0.023, genuine 0.626)", 0.023,
                         (0.128 + 0.083) / 2, 0.626)


def model_for(dim: int) -> FaceModel:
    return DLIB_LIKE if dim == 128 else ARCFACE_LIKE


class SyntheticFaces:
    """Faces of people 0, 1, 2, ... in batches (deterministic for a seed), and probes."""

    PEOPLE_BLOCK = 1024  # person centres are made in blocks, each from its own seed

    def __init__(self, dim: int, model: FaceModel | None = None, seed: int = 0) -> None:
        self.dim = dim
        self.model = model or model_for(dim)
        self.seed = seed
        rng = np.random.default_rng((seed, 0))
        self.mu = _unit(rng.standard_normal(dim)).astype(np.float32)
        # The decaying spectrum with the chosen effective dimension, in a random basis.
        spectrum = np.exp(-np.arange(dim) / _tau_for(self.model.d_eff, dim))
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.mix = (basis * np.sqrt(spectrum / spectrum.sum() * dim)).astype(np.float32)
        m2 = self.model.impostor_median
        g2 = self.model.genuine_median - m2
        self.m, self.g, self.f = (np.float32(np.sqrt(max(m2, 0.0))), np.float32(np.sqrt(g2)),
                                  np.float32(np.sqrt(max(0.0, 1 - m2 - g2))))
        self._block: tuple[int, npt.NDArray[np.float32]] | None = None

    def _shaped(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
        """n unit vectors orthogonal to mu, Gaussian with the spectrum before normalising."""
        v = rng.standard_normal((n, self.dim), dtype=np.float32) @ self.mix.T
        v -= np.outer(v @ self.mu, self.mu)
        out: npt.NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    def _centres_of_block(self, block: int) -> npt.NDArray[np.float32]:
        if self._block is None or self._block[0] != block:
            self._block = (block, self._shaped(np.random.default_rng((self.seed, 1, block)), self.PEOPLE_BLOCK))
        return self._block[1]

    def centres(self, people: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """c_person of each person (the same vector each time)."""
        out = np.empty((len(people), self.dim), np.float32)
        blocks = people // self.PEOPLE_BLOCK
        for block in np.unique(blocks).tolist():
            mine = blocks == block
            out[mine] = self._centres_of_block(block)[people[mine] % self.PEOPLE_BLOCK]
        return out

    def faces_of(self, centres: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
        return _unit(self.m * self.mu + self.g * centres + self.f * self._shaped(rng, len(centres)))

    def batches(self, n: int, batch: int) -> Iterator[npt.NDArray[np.float32]]:
        """n faces in batches; a person's faces are consecutive. people_made says how many people."""
        rng = np.random.default_rng((self.seed, 2))
        made, self.people_made = 0, 0
        while made < n:
            count = min(batch, n - made)
            sizes = np.minimum(rng.geometric(1 / 3, count), 9)
            owners = np.repeat(np.arange(self.people_made, self.people_made + count), sizes)[:count]
            self.people_made = int(owners[-1]) + 1
            yield self.faces_of(self.centres(owners), rng)
            made += count

    def probes(self, n: int, people: int, seed: int = 1) -> npt.NDArray[np.float32]:
        """Half new photos of enrolled people (of people 0 .. people - 1), half strangers: what a
        search service sees."""
        rng = np.random.default_rng((self.seed, 3, seed))
        known = n // 2
        centres = np.concatenate([self.centres(rng.integers(0, max(1, people), known)),
                                  self._shaped(rng, n - known)])
        return self.faces_of(centres, rng)


def _unit(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _tau_for(d_eff: float, dim: int) -> float:
    """tau such that exp(-i/tau), i < dim, has effective dimension d_eff (bisection)."""
    lo, hi = 1e-3, 1e6
    for _ in range(200):
        tau = (lo * hi) ** 0.5
        s = np.exp(-np.arange(dim) / tau)
        if s.sum() ** 2 / (s * s).sum() < d_eff:
            lo = tau
        else:
            hi = tau
    return tau
