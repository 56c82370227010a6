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


# --- the photo as the unit: CR2 errors with Bell-McCaffrey degrees of freedom ----------------------

def _general_cr2(values, clusters):
    """CR2 and its Satterthwaite degrees of freedom by the general matrix formulas, from the fit
    statsmodels makes (an intercept-only OLS): A_g = (I - H_gg)^(-1/2) on each cluster's
    residuals; B = sum_g v_g v_g' with v_g = M' E_g' A_g X_g (X'X)^-1; df = tr(B)^2 / tr(B^2)."""
    import statsmodels.api as sm
    from scipy.linalg import sqrtm

    values = np.asarray(values, float)
    n = values.size
    exog = np.ones((n, 1))
    fit = sm.OLS(values, exog).fit()
    bread = np.linalg.inv(exog.T @ exog)
    hat = exog @ bread @ exog.T
    residual_maker = np.eye(n) - hat
    meat, vectors = 0.0, []
    for name in np.unique(clusters):
        rows = np.flatnonzero(np.asarray(clusters) == name)
        adjust = np.real(sqrtm(np.linalg.inv(np.eye(rows.size) - hat[np.ix_(rows, rows)])))
        piece = (bread @ exog[rows].T @ adjust @ fit.resid[rows]).item()
        meat += piece * piece
        select = np.zeros((rows.size, n))
        select[np.arange(rows.size), rows] = 1.0
        vectors.append(residual_maker.T @ select.T @ adjust @ exog[rows] @ bread[:, 0])
    b = sum(np.outer(v, v) for v in vectors)
    return fit.params[0], math.sqrt(meat), np.trace(b) ** 2 / np.trace(b @ b)


def test_cr2_equals_the_t_test_on_photo_means_when_photos_are_equal():
    from scipy import stats

    from fractal_match.report.stats import cluster_cr2, photo_test

    rng = np.random.default_rng(4)
    clusters = np.repeat(np.arange(7), 12)
    values = rng.integers(-1, 2, clusters.size).astype(float) + 0.3 * (clusters % 3)
    mean, error, dof = cluster_cr2(values, clusters)
    means = values.reshape(7, 12).mean(axis=1)
    reference = stats.ttest_1samp(means, 0.0)
    assert dof == pytest.approx(6.0, abs=1e-9)
    assert error == pytest.approx(means.std(ddof=1) / math.sqrt(7), rel=1e-12)
    assert photo_test(values, clusters).p == pytest.approx(reference.pvalue, rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_cr2_and_its_degrees_of_freedom_equal_the_general_formulas_on_unequal_photos(seed):
    from fractal_match.report.stats import cluster_cr2

    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 40, rng.integers(3, 12))
    clusters = np.repeat(np.arange(sizes.size), sizes)
    values = rng.choice([-1.0, 0.0, 0.0, 1.0], clusters.size) + rng.normal(0, 0.1, sizes.size)[clusters]
    mean, error, dof = cluster_cr2(values, clusters)
    want_mean, want_error, want_dof = _general_cr2(values, clusters)
    assert mean == pytest.approx(want_mean, abs=1e-12)
    assert error == pytest.approx(want_error, rel=1e-9)
    assert dof == pytest.approx(want_dof, rel=1e-9)
    assert dof <= sizes.size - 1 + 1e-9  # unequal photos never give more than G - 1


def test_the_cr1_pieces_agree_with_statsmodels_cluster_covariance():
    """cluster_t's CR1 error is statsmodels' cluster-robust one (its G / (G - 1) x (n - 1) / (n - k)
    correction, with k = 1 for a mean, is G / (G - 1), as CR1 has it)."""
    import statsmodels.api as sm

    from fractal_match.report.stats import cluster_t

    rng = np.random.default_rng(9)
    clusters = np.repeat(np.arange(6), [3, 9, 14, 5, 30, 2])
    values = rng.choice([-1.0, 0.0, 1.0], clusters.size)
    fit = sm.OLS(values, np.ones((values.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    _, error, dof = cluster_t(values, clusters)
    assert error == pytest.approx(fit.bse[0], rel=1e-9) and dof == 5


def test_photo_tests_on_known_answers():
    from fractal_match.report.stats import photo_test

    clusters = np.repeat(np.arange(8), 5)
    same = photo_test(np.full(40, 0.2), clusters, margin=0.05)  # every photo the same: no spread, the mean decides
    assert same.p == 0.0 and same.p_upper == 1.0 and same.p_lower == 0.0
    balanced = photo_test(np.tile([1.0, -1.0], 20), clusters, margin=0.5)  # no difference at all
    assert balanced.mean == 0.0 and balanced.p == 1.0 and balanced.p_upper < 0.05 and balanced.p_lower < 0.05
    one = photo_test([1.0, 0.0, 1.0], ["a", "a", "a"], margin=0.1)  # one photo: nothing can be said
    assert one.p == 1.0 and math.isnan(one.low)


def test_cr2_keeps_its_size_where_cr1_does_not_with_few_unequal_photos():
    """Under no difference, 7 photos of very unequal size: CR2 with Bell-McCaffrey degrees of
    freedom rejects at most about 5% of the time; CR1 with G - 1 rejects more often."""
    from scipy import stats

    from fractal_match.report.stats import cluster_t, photo_test

    rng = np.random.default_rng(11)
    sizes = np.array([2, 3, 4, 6, 10, 40, 90])
    clusters = np.repeat(np.arange(7), sizes)
    rejected = {"cr2": 0, "cr1": 0}
    for _ in range(3000):
        values = rng.normal(0, 1, clusters.size) + rng.normal(0, 1, 7)[clusters]
        rejected["cr2"] += photo_test(values, clusters).p < 0.05
        mean, error, dof = cluster_t(values, clusters)
        rejected["cr1"] += 2 * stats.t.sf(abs(mean) / error, dof) < 0.05
    assert rejected["cr2"] / 3000 <= 0.065 and rejected["cr1"] > rejected["cr2"]
