"""The exact rank-sum test and Hodges-Lehmann interval, as R's wilcox.test(exact = TRUE)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from pipeline.exceptions import StatisticsError
from pipeline.stats.impact import compare_ranks
from pipeline.stats.wilcoxon import exact_rank_test, wilcox_counts

# R ?wilcox.test (Hollander & Wolfe 1973, p. 69): permeability constants
X = np.array([0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46])
Y = np.array([1.15, 0.88, 0.90, 0.74, 1.21])


def test_r_help_example():
    # R: wilcox.test(x, y, alternative = "greater") -> W = 35, p-value = 0.1272 (exact);
    # two-sided the p-value doubles
    r = exact_rank_test(X, Y)
    assert r.statistic == 35
    assert_allclose(r.pvalue, 2 * 0.1272, atol=2e-4)
    assert_allclose(r.pvalue, stats.mannwhitneyu(X, Y, method="exact").pvalue, rtol=1e-12)


def test_null_distribution_by_enumeration():
    # every way to choose the m ranks of x out of m + n is equally likely under H0
    for m, n in ((3, 4), (5, 5), (2, 7)):
        counts = [0] * (m * n + 1)
        for ranks in itertools.combinations(range(1, m + n + 1), m):
            counts[sum(ranks) - m * (m + 1) // 2] += 1
        assert list(wilcox_counts(m, n)) == counts
        assert sum(counts) == math.comb(m + n, m)


def test_interval_is_the_order_statistics_of_the_differences():
    # R stats:::wilcox.test.default, exact two-sided: qu = qwilcox(alpha/2, m, n),
    # ci = c(diffs[qu], diffs[m n - qu + 1]), estimate = median(diffs); qwilcox found here
    # by enumeration of the null distribution
    m, n = X.shape[0], Y.shape[0]
    counts = [0] * (m * n + 1)
    for ranks in itertools.combinations(range(1, m + n + 1), m):
        counts[sum(ranks) - m * (m + 1) // 2] += 1
    cdf = np.cumsum(counts) / math.comb(m + n, m)
    qu = int(np.argmax(cdf >= 0.025))
    diffs = np.sort(np.subtract.outer(X, Y).ravel())
    r = exact_rank_test(X, Y, alpha=0.05)
    assert (r.ci_low, r.ci_high) == (diffs[qu - 1], diffs[m * n - qu])
    assert r.estimate == np.median(diffs)
    assert r.ci_low <= r.estimate <= r.ci_high


def test_impact_block_keeps_its_conventions():
    before, after = Y, X
    mw = compare_ranks(before, after, exact=True)
    # U of the before sample = m n - W of after (R's W of wilcox.test(before, after))
    assert mw.statistic == X.shape[0] * Y.shape[0] - 35
    assert mw.hodges_lehmann == exact_rank_test(after, before).estimate
    assert "exact" in mw.method


def test_ties_are_an_error():
    with pytest.raises(StatisticsError, match="ties"):
        exact_rank_test(np.array([1.0, 2, 3]), np.array([3.0, 4, 5]))
