"""Small, honest statistics for the reports: Wilson intervals, mean intervals, empirical-Bayes shrinkage.

These run on per-agent or per-rule aggregates (hundreds of numbers), never on rows: the rows are
aggregated in DuckDB first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = n (k = 0) the upper (lower) bound is exactly 1 (0); floating point lands a hair short,
    # which the honest formatter would then print as ">99 %".
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def mean_interval(mean: float | None, var: float | None, n: int, prior_var: float,
                  prior_weight: float = 2.0, lo: float = 0.0, hi: float = 100.0) -> tuple[float, float] | None:
    """95% interval for a mean score, with the variance blended toward the team's.

    With few rows the sample variance is itself unreliable (4 identical scores give 0): blending it
    with `prior_weight` pseudo-observations of the team variance keeps small samples visibly wide.
    """
    if mean is None or n <= 0:
        return None
    own = (var or 0.0) * max(n - 1, 0)
    blended = (own + prior_weight * prior_var) / (max(n - 1, 0) + prior_weight)
    half = Z95 * math.sqrt(blended / n)
    return max(lo, mean - half), min(hi, mean + half)


def shrinkage_constant(diffs: Sequence[float | None], ns: Sequence[int], within_var: float) -> float:
    """k in shrunk = diff · n / (n + k): within-agent variance over between-agent variance (tau²).

    tau² by DerSimonian-Laird: the weighted spread of the agents' differences beyond what sampling
    noise alone gives, weights n / within_var, so a 4-interaction agent barely moves the estimate.
    When agents do not differ more than noise, tau² is ~0, k is huge and everyone shrinks to the team.
    """
    pairs = [(d, n) for d, n in zip(diffs, ns) if d is not None and n > 0]
    if within_var <= 0:
        return 0.0
    if len(pairs) < 2:
        return 1e9
    weights = [n / within_var for _, n in pairs]
    total = sum(weights)
    mean = sum(w * d for w, (d, _) in zip(weights, pairs)) / total
    q = sum(w * (d - mean) ** 2 for w, (d, _) in zip(weights, pairs))
    denom = total - sum(w * w for w in weights) / total
    tau2 = max((q - (len(pairs) - 1)) / denom, 0.0) if denom > 0 else 0.0
    return within_var / tau2 if tau2 > 0 else 1e9


def pooled_variance(variances: Sequence[float | None], ns: Sequence[int]) -> float:
    """Within-group variance pooled over groups: Σ(n-1)s² / Σ(n-1)."""
    pairs = [(v, n) for v, n in zip(variances, ns) if v is not None and n > 1]
    dof = sum(n - 1 for _, n in pairs)
    return sum(v * (n - 1) for v, n in pairs) / dof if dof else 0.0


def shrink(diff: float | None, n: int, k: float) -> float | None:
    """Pull a difference toward 0 (the team) by how little data supports it."""
    if diff is None or n <= 0:
        return None
    return diff * n / (n + k)


def intervals_overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    if a is None or b is None:
        return True
    return a[0] <= b[1] and b[0] <= a[1]


def difference_interval(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float] | None:
    """95% interval for p2 − p1 (Newcombe's hybrid score method, from the two Wilson intervals);
    None when a side has no rows. Treats the two shares as independent: for the same interactions
    under two rule packs that is conservative (the pairing would only narrow it)."""
    a, b = wilson(k1, n1, z), wilson(k2, n2, z)
    if a is None or b is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    d = p2 - p1
    return (max(-1.0, d - math.sqrt((p2 - b[0]) ** 2 + (a[1] - p1) ** 2)),
            min(1.0, d + math.sqrt((b[1] - p2) ** 2 + (p1 - a[0]) ** 2)))
