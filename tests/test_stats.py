import math

import numpy as np
import pytest

from fractal_match.report.stats import cluster_bootstrap, compare, holm, mcnemar_exact, wilcoxon_p, wilson_interval


def test_wilson_interval_matches_the_formula_by_hand():
    # 8 hits of 10 at 95%: centre (p + z^2/2n) / (1 + z^2/n), half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    z, n, p = 1.959963984540054, 10, 0.8
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(centre - half, abs=1e-9) and high == pytest.approx(centre + half, abs=1e-9)
    assert wilson_interval(0, 5)[0] == pytest.approx(0.0, abs=1e-12)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_exact_mcnemar_is_a_binomial_tail_computed_by_hand():
    # b = 1, c = 6: p = 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * (1 + 7) / 128
    assert mcnemar_exact(1, 6) == pytest.approx(16 / 128)
    assert mcnemar_exact(6, 1) == pytest.approx(16 / 128)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == pytest.approx(1.0)


def test_holm_adjustment():
    adjusted = holm([0.01, 0.04, 0.03, float("nan"), 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 with m = 4: 0.04, 0.09, max(0.09, 0.08) = 0.09, 0.5
    np.testing.assert_allclose(adjusted[[0, 2, 1, 4]], [0.04, 0.09, 0.09, 0.5])
    assert math.isnan(adjusted[3])


def test_wilcoxon_and_bootstrap():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 40)
    assert wilcoxon_p(a, a - 1.0) < 1e-4
    assert math.isnan(wilcoxon_p([1, 2, float("nan")], [1, 2, 5]))
    # one cluster holds all the effect: resampling clusters widens the interval
    differences = np.r_[np.ones(50), np.zeros(50)]
    clustered = cluster_bootstrap(differences, np.r_[np.zeros(50), np.ones(50)], seed=1)
    independent = cluster_bootstrap(differences, np.arange(100), seed=1)
    assert clustered[0] <= independent[0] and clustered[1] >= independent[1]
    assert clustered == cluster_bootstrap(differences, np.r_[np.zeros(50), np.ones(50)], seed=1)


def test_compare_counts_discordant_pairs():
    first = [1, 1, 1, 0, 0, 1]
    second = [0, 0, 1, 0, 1, 1]
    result = compare(first, second, [0.2, 0.1, 0.5, -0.1, -0.3, 0.4], [0.0, -0.1, 0.5, -0.2, 0.2, 0.3],
                     ["a", "a", "b", "b", "c", "c"])
    assert (result.n, result.b, result.c) == (6, 2, 1)
    assert result.difference == pytest.approx(1 / 6)
    assert result.p_mcnemar == pytest.approx(1.0)
    assert result.ci_low <= result.difference <= result.ci_high
