"""Intervals and comparisons for evaluation scores. Pure numpy (no scipy).

Scores are per-example values in [0, 1]. A mean of 0/1 scores gets a Wilson score interval;
a mean of fractional scores gets a percentile bootstrap. Every random draw is seeded, so the
same inputs always give the same interval (runs are reproducible and tests are stable).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Z95",
    "Interval",
    "Summary",
    "wilson_interval",
    "bootstrap_interval",
    "mean_interval",
    "summarize",
    "per_slice",
    "paired_difference",
    "min_detectable_difference",
    "too_small_to_resolve",
]

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal

# Bootstrap resamples are drawn in blocks of at most this many indices, so memory stays bounded
# for large splits. The block size depends only on the number of values, so a seed always gives
# the same draws.
_MAX_BLOCK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str  # "wilson" or "bootstrap"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Summary:
    """`score` is the mean (0.0 when n == 0: check `n` before reading it)."""

    n: int
    score: float
    ci95: Interval


def wilson_interval(successes: float, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for `successes` out of `n` (successes may be fractional)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return Interval(0.0, 1.0, "wilson")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return Interval(max(0.0, center - half), min(1.0, center + half), "wilson")


def _as_array(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError("scores must be finite numbers")
    return array


def _bootstrap_means(array: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    n = array.size
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, _MAX_BLOCK_ELEMENTS // n))
    means = np.empty(resamples, dtype=float)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = array[idx].mean(axis=1)
    return means


def bootstrap_interval(
    values: Sequence[float], *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> Interval:
    """Percentile bootstrap interval of the mean of `values`; deterministic for a seed.

    No values -> (0.0, 1.0): scores live in [0, 1] and nothing narrows that down.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    array = _as_array(values)
    if array.size == 0:
        return Interval(0.0, 1.0, "bootstrap")
    means = _bootstrap_means(array, resamples, seed)
    alpha = 1.0 - level
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Interval(float(low), float(high), "bootstrap")


def _is_binary(array: np.ndarray) -> bool:
    return bool(np.all((array == 0.0) | (array == 1.0)))


def mean_interval(values: Sequence[float]) -> Interval:
    """95% interval of the mean: Wilson when every value is 0 or 1, bootstrap otherwise."""
    array = _as_array(values)
    if _is_binary(array):
        return wilson_interval(float(array.sum()), int(array.size))
    return bootstrap_interval(array)


def summarize(values: Sequence[float]) -> Summary:
    array = _as_array(values)
    mean = float(array.mean()) if array.size else 0.0
    return Summary(n=int(array.size), score=mean, ci95=mean_interval(array))


def per_slice(values: Sequence[float], slices: Sequence[Sequence[str]]) -> dict[str, Summary]:
    """One Summary per tag, sorted by tag. An example with several tags counts in each of them
    (once per tag, even if the tag is repeated); untagged examples count in no slice.
    `slices[i]` holds the tags of example i (a single string is one tag)."""
    array = _as_array(values)
    if len(slices) != array.size:
        raise ValueError(f"got {array.size} scores but {len(slices)} tag lists")
    members: dict[str, list[int]] = {}
    for index, tags in enumerate(slices):
        if tags is None:
            continue
        if isinstance(tags, str):
            tags = [tags]
        for tag in dict.fromkeys(tags):
            members.setdefault(tag, []).append(index)
    return {tag: summarize(array[members[tag]]) for tag in sorted(members)}


def paired_difference(
    baseline: Sequence[float], candidate: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, Interval]:
    """mean(candidate - baseline) over the same examples, with a paired bootstrap 95% interval
    (resampling examples, so each keeps its pair). Positive means the candidate is better."""
    base = _as_array(baseline)
    cand = _as_array(candidate)
    if base.size != cand.size:
        raise ValueError(f"paired scores differ in length: {base.size} baseline, {cand.size} candidate")
    if base.size == 0:
        return 0.0, Interval(-1.0, 1.0, "bootstrap")
    diff = cand - base
    return float(diff.mean()), bootstrap_interval(diff, resamples=resamples, seed=seed)


def min_detectable_difference(n: int, p: float = 0.5) -> float:
    """Half-width of the 95% Wilson interval of a score p measured on n examples.

    p = 0.5 is the worst case (the widest interval), the right choice before scores are known.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p must be between 0 and 1, got {p}")
    return wilson_interval(p * n, n).half_width


def too_small_to_resolve(n: int, difference: float = 0.10, p: float = 0.5) -> bool:
    """True when a split of n examples is too small to tell apart two scores `difference` apart.

    Rule: sqrt(2) * min_detectable_difference(n, p) > difference.

    Why: a split is used to compare a candidate with a baseline, and both scores are measured,
    each with its own 95% half-width h. The difference of two independent estimates has a
    standard error sqrt(2) times either one's, so its 95% half-width is about sqrt(2) * h; the
    split can resolve `difference` only if that interval around the difference excludes zero.
    The looser "h > difference" would be right against a fixed threshold only (it ignores the
    baseline's own noise); the stricter "h > difference / 2" (intervals must not overlap) is
    known to be too conservative (about 99.4% confidence, not 95%). Scores paired on the same
    examples usually vary together, so this is a worst case; the paired bootstrap of the actual
    scores (`paired_difference`) is the final word.

    At p = 0.5 and a 10-point difference this warns for n <= 188 examples
    (n = 60: h = 0.124, warns; n = 2000: h = 0.022, does not).
    """
    if n <= 0:
        return True
    return math.sqrt(2.0) * min_detectable_difference(n, p) > difference
