"""The exact null distribution of the Wilcoxon rank-sum (Mann-Whitney) statistic, and the exact test
and Hodges-Lehmann interval that R's ``wilcox.test(x, y, exact = TRUE, conf.int = TRUE)`` reports.

With m and n readings and no ties, every assignment of the ranks is equally likely under H0, and
the number of assignments with W = u (W = rank sum of x - m (m + 1) / 2) is the coefficient of q^u
in the Gaussian binomial coefficient [m + n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)
(Mann & Whitney 1947; Andrews 1976, *The Theory of Partitions*, thm 3.1). Integer arithmetic keeps
the counts exact.

R's exact two-sided interval for the shift x - y (``stats:::wilcox.test.default``): with the
m n sorted differences d_(1) <= ... <= d_(mn), qu = qwilcox(alpha / 2, m, n) (1 if 0) and
ql = m n - qu, the interval is [d_(qu), d_(ql + 1)] and the estimate is the median of the
differences (Hodges & Lehmann 1963; Bauer 1972).

References
----------
Mann, H. B. & Whitney, D. R. (1947) On a test of whether one of two random variables is
stochastically larger than the other. *Ann. Math. Statist.* 18, 50-60.
Hodges, J. L. & Lehmann, E. L. (1963) Estimates of location based on rank tests.
*Ann. Math. Statist.* 34, 598-611.
Bauer, D. F. (1972) Constructing confidence sets using rank statistics. *JASA* 67, 687-690.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from pipeline.exceptions import StatisticsError

__all__ = ["ExactRankTest", "exact_rank_test", "wilcox_counts"]


@cache
def wilcox_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of rank assignments with W = 0, 1, ..., m n (they sum to C(m + n, m))."""
    total = m * n
    c = [0] * (total + 1)
    c[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        # multiply by (1 - q^(n+i)), from the top so that c[k - shift] is still the old value
        for k in range(total, shift - 1, -1):
            c[k] -= c[k - shift]
        # divide by (1 - q^i): c_new[k] = c[k] + c_new[k - i]
        for k in range(i, total + 1):
            c[k] += c[k - i]
    return tuple(c)


def _cdf(u: int, m: int, n: int) -> float:
    """P(W <= u), R's ``pwilcox(u, m, n)``."""
    if u < 0:
        return 0.0
    c = wilcox_counts(m, n)
    return sum(c[: u + 1]) / math.comb(m + n, m)


def _quantile(p: float, m: int, n: int) -> int:
    """Smallest u with P(W <= u) >= p, R's ``qwilcox(p, m, n)``."""
    c = wilcox_counts(m, n)
    total = math.comb(m + n, m)
    run = 0
    for u, k in enumerate(c):
        run += k
        # R's qwilcox (nmath/wilcox.c) lowers p by 10 DBL_EPSILON before comparing
        if run / total >= p - 10 * np.finfo(float).eps:
            return u
    return len(c) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactRankTest:
    """Exact two-sided rank-sum test of x against y and the HL shift x - y with its interval."""

    statistic: float  # W of x
    pvalue: float
    estimate: float
    ci_low: float
    ci_high: float
    achieved_level: float


def exact_rank_test(x: np.ndarray, y: np.ndarray, *, alpha: float = 0.05) -> ExactRankTest:
    """R's ``wilcox.test(x, y, exact = TRUE, conf.int = TRUE, conf.level = 1 - alpha)``.

    Raises
    ------
    StatisticsError
        With ties (there is no exact distribution then; R falls back to the normal
        approximation with a warning) or fewer than one reading in a sample.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    m, n = x.shape[0], y.shape[0]
    if m < 1 or n < 1:
        raise StatisticsError("the exact rank test needs readings in both windows")
    both = np.concatenate([x, y])
    if np.unique(both).shape[0] < both.shape[0]:
        raise StatisticsError(
            "the exact rank test needs distinct values, and these have ties "
            "(leave out --exact for the normal approximation with tie correction)"
        )
    ranks = np.argsort(np.argsort(both)) + 1
    w = int(ranks[:m].sum() - m * (m + 1) // 2)
    if w > m * n / 2:
        p = 1 - _cdf(w - 1, m, n)
    else:
        p = _cdf(w, m, n)
    pvalue = min(2 * p, 1.0)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    qu = _quantile(alpha / 2, m, n)
    if qu == 0:
        qu = 1
    ql = m * n - qu
    achieved = 1 - 2 * _cdf(qu - 1, m, n)
    return ExactRankTest(
        statistic=float(w),
        pvalue=float(pvalue),
        estimate=float(np.median(diffs)),
        ci_low=float(diffs[qu - 1]),
        ci_high=float(diffs[ql]),
        achieved_level=float(achieved),
    )
