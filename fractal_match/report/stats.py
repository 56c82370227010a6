"""Statistics for paired detection results (scipy underneath; no distribution written by hand)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


def wilson_interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a hit rate (NaN, NaN when n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    interval = stats.binomtest(int(hits), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def mcnemar_exact(b: int, c: int) -> float:
    """Exact McNemar p-value: a two-sided binomial test of b successes in b + c trials at 1/2."""
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(int(b), int(b + c), 0.5, alternative="two-sided").pvalue)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment for multiple comparisons (NaNs stay NaN and do not count)."""
    p = np.asarray(p_values, np.float64)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def wilcoxon_p(first, second) -> float:
    """Wilcoxon signed-rank p-value of paired values (pairs with a NaN dropped; NaN if no
    non-zero difference remains)."""
    a, b = np.asarray(first, np.float64), np.asarray(second, np.float64)
    keep = ~(np.isnan(a) | np.isnan(b))
    differences = a[keep] - b[keep]
    if np.count_nonzero(differences) == 0:
        return float("nan")
    return float(stats.wilcoxon(differences, zero_method="wilcox").pvalue)


def cluster_bootstrap(differences, clusters, resamples: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the mean paired difference, resampling whole clusters (source objects),
    because the transforms of one object are not independent of each other."""
    differences = np.asarray(differences, np.float64)
    clusters = np.asarray(clusters)
    names, index = np.unique(clusters, return_inverse=True)
    if differences.size == 0:
        return float("nan"), float("nan")
    sums = np.bincount(index, weights=differences, minlength=len(names))
    counts = np.bincount(index, minlength=len(names)).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def cluster_t(differences, clusters) -> tuple[float, float, int]:
    """(mean, standard error, degrees of freedom) of the mean paired difference, the error
    cluster-robust (CR1: the clusters are the independent units, G / (G - 1) small-sample factor)
    with G - 1 degrees of freedom. The percentile bootstrap over few clusters is too liberal for
    an equivalence test (about 7% instead of 5% over 16 objects); this t-test is not."""
    differences = np.asarray(differences, np.float64)
    _, index = np.unique(np.asarray(clusters), return_inverse=True)
    groups = int(index.max()) + 1 if differences.size else 0
    if groups < 2:
        return (float(differences.mean()) if differences.size else float("nan")), float("nan"), 0
    mean = float(differences.mean())
    residual = np.bincount(index, weights=differences - mean, minlength=groups)
    variance = groups / (groups - 1) * float(np.square(residual).sum()) / differences.size ** 2
    return mean, float(np.sqrt(variance)), groups - 1


def tost(differences, clusters, margin: float) -> tuple[float, float]:
    """Two one-sided tests of a mean paired difference against +-margin, by :func:`cluster_t`:
    (p of "the difference is at least +margin", p of "it is at most -margin"). Both below 0.05:
    equivalent at 5%; the first alone: no gain as large as the margin. With no spread at all the
    mean decides; with fewer than two clusters nothing is shown (1, 1)."""
    mean, error, freedom = cluster_t(differences, clusters)
    if freedom < 1 or math.isnan(mean):
        return 1.0, 1.0
    if error == 0:
        return (0.0 if mean < margin else 1.0), (0.0 if mean > -margin else 1.0)
    upper = float(stats.t.cdf((mean - margin) / error, freedom))
    lower = float(stats.t.sf((mean + margin) / error, freedom))
    return upper, lower


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two variants' hits (and margins) over the same cases."""

    n: int
    b: int  # first hits, second misses
    c: int  # first misses, second hits
    difference: float  # hit rate of first minus second
    ci_low: float
    ci_high: float
    p_mcnemar: float
    p_wilcoxon_margin: float


def compare(hits_first, hits_second, margins_first, margins_second, clusters, seed: int = 0,
            resamples: int = 2000) -> Comparison:
    """McNemar on the discordant pairs, a cluster-bootstrap CI of the hit-rate difference, and a
    Wilcoxon signed-rank test on the paired margins."""
    first = np.asarray(hits_first, bool)
    second = np.asarray(hits_second, bool)
    b = int(np.count_nonzero(first & ~second))
    c = int(np.count_nonzero(~first & second))
    paired = first.astype(np.float64) - second.astype(np.float64)
    low, high = cluster_bootstrap(paired, clusters, resamples=resamples, seed=seed)
    return Comparison(len(first), b, c, float(paired.mean()) if len(first) else float("nan"), low, high,
                      mcnemar_exact(b, c), wilcoxon_p(margins_first, margins_second))
