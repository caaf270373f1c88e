"""Confidence intervals of measured error rates.

A rate measured as k errors in n trials is reported with its 95% interval (Wilson's
score interval: well behaved at k = 0 and k = n, where the normal approximation is
not). With k = 0 the upper bound is close to the "rule of three" (3/n): a rate below
about 3/n is not resolved by n trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class Rate:
    """k of n, with its 95% interval."""

    value: float  # k / n
    low: float
    high: float
    errors: int  # k
    trials: int  # n

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}] ({self.errors}/{self.trials})"


def wilson_interval(errors: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion errors / trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= errors <= trials:
        raise ValueError(f"errors must be in [0, {trials}], got {errors}")
    p = errors / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    low = 0.0 if errors == 0 else max(0.0, centre - half)
    high = 1.0 if errors == trials else min(1.0, centre + half)
    return low, high


def rate(errors: int, trials: int) -> Rate:
    low, high = wilson_interval(errors, trials)
    return Rate(errors / trials if trials else 0.0, low, high, int(errors), int(trials))


def resolution(trials: int) -> float:
    """The smallest rate n trials resolve: below about 3/n, zero errors are likely even when the
    rate is not zero (the rule of three: 3/n is the 95% upper bound when none was seen)."""
    return 3.0 / trials if trials > 0 else 1.0
