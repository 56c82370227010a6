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


def cluster_cr2(differences, clusters) -> tuple[float, float, float]:
    """(mean, standard error, degrees of freedom) of the mean paired difference with the clusters
    (photos) as the independent units: the bias-reduced CR2 error of Bell and McCaffrey with
    their Satterthwaite degrees of freedom (working model: independent cases of equal variance).

    For a mean (an intercept-only model) both have closed forms. With n cases, cluster g of n_g
    cases and S_g the sum of its residuals, var = sum_g S_g^2 / (n^2 (1 - n_g / n)); the degrees
    of freedom are tr(B)^2 / tr(B^2) for B = sum_g w_g u_g u_g' with w_g = 1 / (n^2 (1 - n_g / n))
    and u_g' u_h = n_g [g = h] - n_g n_h / n. With equal clusters this is CR1 with G - 1 degrees of
    freedom, the t-test on the cluster means; with unequal ones the degrees of freedom drop below
    G - 1, as few large clusters carry the mean. NaN error and 0 degrees of freedom with fewer
    than two clusters."""
    differences = np.asarray(differences, np.float64)
    n = differences.size
    if n == 0:
        return float("nan"), float("nan"), 0.0
    _, index = np.unique(np.asarray(clusters), return_inverse=True)
    groups = int(index.max()) + 1
    mean = float(differences.mean())
    if groups < 2:
        return mean, float("nan"), 0.0
    sizes = np.bincount(index, minlength=groups).astype(np.float64)
    sums = np.bincount(index, weights=differences - mean, minlength=groups)
    weights = 1.0 / (n * n * (1.0 - sizes / n))
    variance = float((weights * sums * sums).sum())
    products = np.diag(sizes) - np.outer(sizes, sizes) / n  # u_g' u_h
    trace = float((weights * np.diag(products)).sum())
    trace_sq = float((np.outer(weights, weights) * products * products).sum())
    return mean, math.sqrt(max(variance, 0.0)), trace * trace / trace_sq


@dataclass(frozen=True)
class PhotoTest:
    """A paired difference tested with the photos as the units (:func:`cluster_cr2`): mean,
    error, degrees of freedom, the 95% t-interval, the two-sided p of "no difference", and the
    one-sided p's of "a gain of at least +margin" (upper) and "a loss of at least -margin"
    (lower) when a margin is given (else NaN)."""

    mean: float
    error: float
    dof: float
    low: float
    high: float
    p: float
    p_upper: float = float("nan")
    p_lower: float = float("nan")


def photo_test(differences, clusters, margin: float | None = None, confidence: float = 0.95) -> PhotoTest:
    """:class:`PhotoTest` of paired differences clustered by photo. With no spread at all the
    mean decides (p 0 or 1); with fewer than two photos nothing is shown (p 1, NaN interval)."""
    mean, error, dof = cluster_cr2(differences, clusters)
    nan = float("nan")
    if not dof or math.isnan(mean):
        return PhotoTest(mean, error, dof, nan, nan, 1.0, 1.0 if margin else nan, 1.0 if margin else nan)
    if error == 0:
        upper = lower = nan
        if margin:
            upper, lower = (0.0 if mean < margin else 1.0), (0.0 if mean > -margin else 1.0)
        return PhotoTest(mean, 0.0, dof, mean, mean, 0.0 if mean != 0 else 1.0, upper, lower)
    reach = float(stats.t.ppf(0.5 + confidence / 2.0, dof)) * error
    p = float(2.0 * stats.t.sf(abs(mean) / error, dof))
    upper = lower = nan
    if margin:
        upper = float(stats.t.cdf((mean - margin) / error, dof))
        lower = float(stats.t.sf((mean + margin) / error, dof))
    return PhotoTest(mean, error, dof, mean - reach, mean + reach, p, upper, lower)


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
