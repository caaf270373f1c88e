"""Calibration tables: what a similarity means in false matches, measured on real faces.

A table holds, for one model pack, the impostor score distribution (similarity ->
false-match rate, FMR: the share of different-person pairs scoring at least that) and
the genuine one (similarity -> false-non-match rate, FNMR), from every pair of a
labelled set of photos. Thresholds are then chosen by the error rate a caller accepts
(`threshold_for_fmr`), and every decision reports the FMR estimated at its threshold
with a 95% interval.

Where the table stops being measured: with N impostor pairs, rates below 3/N are not
resolved (no errors are likely even when the rate is not zero). Beyond that the table
uses a fitted tail: an exponential tail (a generalised Pareto tail with shape 0) fitted
by maximum likelihood to the highest impostor scores, but only where the table's own
check trusts it: fitted again on a tenth of the pairs, the tail must not predict fewer
false matches than all the pairs counted (the upper end of its interval at least the
counted rate). A pack whose impostor tail is heavier than exponential fails that check
(a few very similar different-person pairs), and then rates beyond the resolution are
refused rather than extrapolated; defaults and Rekognition's Similarity use the table's
limit there instead (the lowest threshold with no counted false match), flagged.
Every estimate beyond the measured pairs is flagged `beyond_table`; rates below
MIN_TAIL_FMR are refused.

A table is of one kind of score (`score`): cosine similarities, or AS-norm z scores
(thresholds/score_norm.py), whose table is built the same way from the normalised scores of
the same pairs and lives beside the cosine one (format version 2, `"score": "as-norm"`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceindex.errors import CalibrationError
from faceindex.thresholds.intervals import Z95, resolution, wilson_interval
from faceindex.types import PackRef, RateEstimate, ScoreKind

FORMAT = "faceindex-calibration"
FORMAT_VERSION = 2  # 2: the "score" kind (a cosine table is still written as version 1)
KNOTS_PER_DECADE = 20
GENUINE_QUANTILES = 1000
TAIL_SCORES = 2000  # impostor scores the exponential tail is fitted to (the highest ones)
MIN_TAIL_FMR = 1e-9  # below this the fitted tail is refused: too far beyond any measurement


@dataclass(frozen=True)
class Tail:
    """FMR(t) = fmr_at_start * exp(-(t - start) / scale) for t above start."""

    start: float  # the (count+1)-th highest impostor score
    fmr_at_start: float  # count / impostor_pairs
    scale: float  # mean excess of the `count` highest scores over start (the MLE)
    count: int


@dataclass(frozen=True)
class FmrCurve:
    """The false-match rate as a continuous, strictly decreasing function of the score, in decades
    (d = -log10 FMR, strictly increasing in the score), for what must order every two scores as they
    are ordered (Rekognition's Similarity). fmr_at answers in whole pairs, as they were counted;
    this curve passes through the same points without steps:

    - between the measured knots, log FMR linear in the score (the interpolation threshold_for_fmr
      inverts, so the threshold of a rate lies exactly where the curve reaches it);
    - beyond the resolved rate (3 pairs), the fitted tail: its line where it lies below the counted
      rate, else the counted rate carried on at the tail's slope. With an untrusted tail, the counted
      knots are followed to the last impostor pair and the tail's slope goes on from there;
    - below the first knot whose rate is under 1, d decays exponentially toward 0 (FMR toward 1),
      matching the first segment's slope, so even scores below every impostor pair stay ordered.
    """

    scores: npt.NDArray[np.float64]  # knots, strictly increasing
    decades: npt.NDArray[np.float64]  # d at them: positive, strictly increasing
    beyond_score: float  # where the line beyond the knots starts (the last knot)
    beyond_decades: float  # d there, at least decades[-1] (the fitted tail may lie below the counted rate)
    slope: float  # decades per unit of score beyond: 1 / (the tail's scale x ln 10)

    def decades_at(self, score: float) -> float:
        """-log10 FMR at a score (inf for +inf, 0 for -inf)."""
        s, d = self.scores, self.decades
        if math.isnan(score):
            raise ValueError("a score is a number, got NaN")
        # At the last knot itself the line beyond already counts: where the fitted tail starts below
        # the counted rate, score_at gives that knot for every d of the step, so a match scoring
        # exactly a threshold chosen by Similarity has that Similarity.
        if score >= self.beyond_score:
            return self.beyond_decades + self.slope * (score - self.beyond_score)
        if score >= s[0]:
            return float(np.interp(score, s, d))
        first_slope = (d[1] - d[0]) / (s[1] - s[0]) if len(s) > 1 else self.slope
        return float(d[0] * math.exp((score - s[0]) * first_slope / d[0]))

    def score_at(self, decades: float) -> float:
        """The lowest score whose -log10 FMR is at least `decades` (the inverse of decades_at; where
        the tail starts below the counted rate, every d of that step gives the step's score)."""
        s, d = self.scores, self.decades
        if decades <= 0:
            return -math.inf
        if math.isinf(decades):
            return math.inf
        if decades < d[0]:
            first_slope = (d[1] - d[0]) / (s[1] - s[0]) if len(s) > 1 else self.slope
            return float(s[0] + math.log(decades / d[0]) * d[0] / first_slope)
        if decades <= d[-1]:
            return float(np.interp(decades, d, s))
        if decades <= self.beyond_decades:
            return self.beyond_score
        return self.beyond_score + (decades - self.beyond_decades) / self.slope


@dataclass(frozen=True)
class CalibrationTable:
    pack: PackRef
    impostor_pairs: int
    genuine_pairs: int
    # The impostor survival function at knots: impostor_scores ascending, impostor_counts[i] =
    # impostor pairs scoring >= impostor_scores[i] (exact counts, descending).
    impostor_scores: npt.NDArray[np.float64]
    impostor_counts: npt.NDArray[np.int64]
    tail: Tail
    # The genuine distribution at quantiles: genuine_scores ascending; genuine_below[i] = genuine
    # pairs scoring below genuine_scores[i].
    genuine_scores: npt.NDArray[np.float64]
    genuine_below: npt.NDArray[np.int64]
    provenance: dict[str, Any] = field(default_factory=dict)
    score: ScoreKind = "cosine"  # what the scores are: cosine similarities or AS-norm z

    # -- reading the table ----------------------------------------------------------------

    @property
    def resolved_fmr(self) -> float:
        """The lowest FMR the impostor pairs resolve (3/N)."""
        return resolution(self.impostor_pairs)

    @property
    def tail_trusted(self) -> bool:
        """The fitted tail passed the table's own check (see the module's docstring)."""
        checks = [c for c in self.provenance.get("tail_check", []) if c.get("from_tail")]
        return bool(checks) and all(float(c["interval"][1]) >= float(c["counted_fmr"]) for c in checks)

    @property
    def limit_threshold(self) -> float:
        """The lowest threshold at which no impostor pair was counted."""
        return float(np.nextafter(self.impostor_scores[-1], np.inf))

    @property
    def source(self) -> str:
        p = self.provenance
        kind = "" if self.score == "cosine" else f" ({self.score} scores)"
        return (f"calibration of {self.pack}{kind} on {p.get('dataset', 'unknown data')} ({p.get('images', '?')} images, "
                f"{self.impostor_pairs:,} impostor and {self.genuine_pairs:,} genuine pairs, {p.get('date', '?')})")

    def fmr_at(self, threshold: float) -> RateEstimate:
        """The FMR at a threshold (pairs scoring >= threshold), with its 95% interval."""
        count = self._impostors_at_or_above(threshold)
        if count >= 3 or threshold <= self.tail.start:
            low, high = wilson_interval(count, self.impostor_pairs)
            return RateEstimate(count / self.impostor_pairs, low, high, beyond_table=False)
        if not self.tail_trusted:  # what was counted, and that it is not resolved
            low, high = wilson_interval(count, self.impostor_pairs)
            return RateEstimate(count / self.impostor_pairs, low, high, beyond_table=True)
        return self._tail_estimate(threshold)

    def fnmr_at(self, threshold: float) -> RateEstimate:
        below = int(round(float(np.interp(threshold, self.genuine_scores, self.genuine_below,
                                           left=0, right=self.genuine_pairs))))
        low, high = wilson_interval(below, self.genuine_pairs)
        return RateEstimate(below / self.genuine_pairs, low, high, beyond_table=False)

    def threshold_for_fmr(self, max_fmr: float, at_limit: bool = False) -> tuple[float, bool]:
        """The lowest threshold whose estimated FMR is at most max_fmr, and whether it lies
        beyond what the table measured (in the fitted tail, or at the table's limit).

        Below the resolved rate with an untrusted tail: CalibrationError, or with
        at_limit=True the table's limit (the strictest threshold it can speak for), flagged.
        """
        if not (0 < max_fmr <= 1) or math.isnan(max_fmr):
            raise CalibrationError(f"max_fmr must be in (0, 1], got {max_fmr}")
        if max_fmr < MIN_TAIL_FMR:
            raise CalibrationError(
                f"max_fmr={max_fmr:g} is below {MIN_TAIL_FMR:g}: {self.impostor_pairs:,} impostor pairs resolve "
                f"rates down to {self.resolved_fmr:.2g}, and the fitted tail is not trusted further than "
                f"{MIN_TAIL_FMR:g}. Calibrate on more faces, or accept a higher rate.")
        allowed = max_fmr * self.impostor_pairs  # pairs that may score at or above the threshold
        if allowed >= 3:
            return self._empirical_threshold(allowed), False
        if not self.tail_trusted:
            if at_limit:
                return self.limit_threshold, True
            raise CalibrationError(
                f"max_fmr={max_fmr:g} is below what {self.impostor_pairs:,} impostor pairs resolve "
                f"({self.resolved_fmr:.2g}), and this table's fitted tail failed its check (it predicted fewer "
                "false matches than were counted), so faceindex will not extrapolate: accept a rate of at least "
                f"{self.resolved_fmr:.2g}, give threshold= yourself, or calibrate on more faces.")
        t = self.tail.start + self.tail.scale * math.log(self.tail.fmr_at_start / max_fmr)
        # Never at or below the score where 3 pairs were counted (FMR 3/n, more than asked): where the
        # tail falls below it, just above it, where fmr_curve hands over to the tail (so the Similarity
        # of the threshold is at least the one max_fmr stands for).
        return max(t, float(np.nextafter(self._empirical_threshold(3), math.inf))), True

    def tail_estimate(self, threshold: float) -> RateEstimate:
        """The FMR the fitted tail gives at a threshold beyond the resolved pairs, trusted or not (the
        tail check compares it with what more pairs counted)."""
        return self._tail_estimate(threshold)

    @cached_property
    def fmr_curve(self) -> FmrCurve:
        """FMR as a continuous, strictly decreasing function of the score (see FmrCurve)."""
        n = self.impostor_pairs
        scores, counts = self.impostor_scores, self.impostor_counts
        # The last knot of each run of equal counts (no pair scored between them): log-linear from
        # there to the next knot keeps the curve strictly decreasing.
        keep = np.append(counts[:-1] > counts[1:], True)
        s, c = scores[keep].astype(np.float64), counts[keep].astype(np.float64)
        log10_tail_slope = 1.0 / (self.tail.scale * math.log(10.0))
        if self.tail_trusted and c[-1] <= 3:
            # Measured up to the resolved rate: where 3 pairs score above (threshold_for_fmr hands over
            # to the tail there); the fitted tail beyond, never above the rate counted at its start.
            resolved = c > 3
            s = np.append(s[resolved], self._empirical_threshold(3))
            c = np.append(c[resolved], 3.0)
            tail_fmr = self.tail.fmr_at_start * math.exp(-(float(s[-1]) - self.tail.start) / self.tail.scale)
            beyond = -math.log10(min(tail_fmr, 3.0 / n))
        else:
            beyond = -math.log10(float(c[-1]) / n)
        decades = -np.log10(c / n)
        # Knots at FMR 1 (every pair scored above) carry no order: the exponential below the first
        # knot under 1 takes their place.
        under_one = decades > 0
        return FmrCurve(s[under_one], decades[under_one], float(s[-1]), max(beyond, float(decades[-1])),
                        log10_tail_slope)

    # -- internals -----------------------------------------------------------------------

    def _impostors_at_or_above(self, threshold: float) -> int:
        """Pairs scoring >= threshold, interpolated between knots in log(count)."""
        scores, counts = self.impostor_scores, self.impostor_counts
        if threshold <= scores[0]:
            return int(counts[0]) if threshold == scores[0] else self.impostor_pairs
        if threshold > scores[-1]:
            return 0
        i = int(np.searchsorted(scores, threshold))  # scores[i-1] < threshold <= scores[i]
        if scores[i] == threshold:
            return int(counts[i])
        a, b = scores[i - 1], scores[i]
        ca, cb = math.log(counts[i - 1]), math.log(max(counts[i], 1))
        return int(math.floor(math.exp(ca + (cb - ca) * (threshold - a) / (b - a))))

    def _empirical_threshold(self, allowed: float) -> float:
        """The lowest score with at most `allowed` impostor pairs at or above it."""
        scores, counts = self.impostor_scores, self.impostor_counts
        j = int(np.searchsorted(-counts, -allowed))  # first knot with count <= allowed
        if j >= len(scores):
            return float(scores[-1])
        if j == 0 or counts[j] == allowed:
            return float(scores[j])
        a, b = scores[j - 1], scores[j]
        ca, cb = math.log(counts[j - 1]), math.log(max(counts[j], 1))
        return float(a + (b - a) * (math.log(allowed) - ca) / (cb - ca))

    def _tail_estimate(self, threshold: float) -> RateEstimate:
        tail = self.tail
        spread = Z95 / math.sqrt(tail.count)  # the scale's MLE has a relative standard error of 1/sqrt(count)
        p_low, p_high = wilson_interval(tail.count, self.impostor_pairs)
        excess = threshold - tail.start

        def at(p: float, scale: float) -> float:
            return p * math.exp(-excess / scale)

        # Never above what was counted there (fewer than 3 pairs at or above the threshold).
        counted_high = wilson_interval(self._impostors_at_or_above(threshold), self.impostor_pairs)[1]
        value = min(at(tail.fmr_at_start, tail.scale), self.resolved_fmr)
        low = min(at(p_low, tail.scale * (1 - spread)), value)
        high = max(min(at(p_high, tail.scale * (1 + spread)), counted_high), value)
        return RateEstimate(value, low, high, beyond_table=True)

    # -- files ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": 1 if self.score == "cosine" else FORMAT_VERSION,
            "pack": {"name": self.pack.name, "version": self.pack.version},
            **({} if self.score == "cosine" else {"score": self.score}),
            "provenance": self.provenance,
            "impostor_pairs": self.impostor_pairs, "genuine_pairs": self.genuine_pairs,
            "impostor": {"scores": [float(s) for s in self.impostor_scores],
                         "counts_at_or_above": [int(c) for c in self.impostor_counts]},
            "tail": asdict(self.tail) | {"fit": "exponential (GPD, shape 0), maximum likelihood, highest scores"},
            "genuine": {"scores": [float(s) for s in self.genuine_scores],
                        "counts_below": [int(c) for c in self.genuine_below]},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "calibration table") -> CalibrationTable:
        try:
            if data.get("format") != FORMAT or int(data["format_version"]) > FORMAT_VERSION:
                raise CalibrationError(f"{where} is not a faceindex calibration table of version <= {FORMAT_VERSION}")
            t = data["tail"]
            score = data.get("score", "cosine")
            if score not in ("cosine", "as-norm"):
                raise CalibrationError(f"{where} is of scores {score!r}, which this faceindex does not know")
            table = cls(
                pack=PackRef(str(data["pack"]["name"]), str(data["pack"]["version"])),
                impostor_pairs=int(data["impostor_pairs"]), genuine_pairs=int(data["genuine_pairs"]),
                impostor_scores=np.asarray(data["impostor"]["scores"], dtype=np.float64),
                impostor_counts=np.asarray(data["impostor"]["counts_at_or_above"], dtype=np.int64),
                tail=Tail(float(t["start"]), float(t["fmr_at_start"]), float(t["scale"]), int(t["count"])),
                genuine_scores=np.asarray(data["genuine"]["scores"], dtype=np.float64),
                genuine_below=np.asarray(data["genuine"]["counts_below"], dtype=np.int64),
                provenance=dict(data.get("provenance", {})),
                score=score,
            )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, CalibrationError):
                raise
            raise CalibrationError(f"{where} is damaged: {type(e).__name__}: {e}") from e
        table._check(where)
        return table

    def _check(self, where: str) -> None:
        s, c = self.impostor_scores, self.impostor_counts
        ok = (len(s) == len(c) >= 2 and np.all(np.diff(s) > 0) and np.all(np.diff(c) <= 0) and c[-1] >= 1
              and self.impostor_pairs >= c[0] and self.genuine_pairs >= 1 and self.tail.count >= 10
              and self.tail.scale > 0 and len(self.genuine_scores) == len(self.genuine_below) >= 2
              and np.all(np.isfinite(s)) and np.all(np.diff(self.genuine_scores) >= 0))
        if not ok:
            raise CalibrationError(f"{where} is damaged: its curves are not monotone or its counts disagree")

    def save(self, path: Path) -> None:
        from faceindex.cache import atomic_write

        text = json.dumps(self.to_json(), indent=1) + "\n"

        def write(tmp: str) -> None:
            Path(tmp).write_text(text, encoding="utf-8")
            os.chmod(tmp, 0o644)  # a measurement, readable by all (mkstemp makes files 0600)

        atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: Path) -> CalibrationTable:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CalibrationError(f"cannot read calibration table {path}: {e}") from e
        return cls.from_json(data, str(path))
