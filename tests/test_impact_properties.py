"""Invariants of the before/after statistics (STYLE.md), as hypothesis property tests."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

from pipeline.stats.impact import (
    compare_means,
    compare_proportions,
    compare_ranks,
    percent_change_ci,
)

values = st.floats(min_value=-100, max_value=100, allow_nan=False, width=32)
samples = st.lists(values, min_size=3, max_size=25)


def _spread(x) -> bool:
    return float(np.std(x)) > 1e-3


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_swapping_negates_difference_and_keeps_pvalue(b, a):
    assume(_spread(a) and _spread(b))
    d1, d2 = compare_means(b, a), compare_means(a, b)
    assert_allclose(d1.estimate, -d2.estimate, atol=1e-9)
    assert_allclose([d1.ci_low, d1.ci_high], [-d2.ci_high, -d2.ci_low], atol=1e-9)
    assert_allclose(d1.pvalue, d2.pvalue, rtol=1e-9)
    m1, m2 = compare_ranks(b, a), compare_ranks(a, b)
    assert_allclose(m1.pvalue, m2.pvalue, rtol=1e-9)
    assert_allclose(m1.statistic + m2.statistic, len(a) * len(b))


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_pvalue_at_the_ci_bound_equals_alpha(b, a):
    assume(_spread(a) and _spread(b))
    d = compare_means(b, a, alpha=0.1)
    for bound in (d.ci_low, d.ci_high):
        # testing H0: difference = bound (shift the after sample) gives p = alpha
        p = stats.ttest_ind(np.asarray(a) - bound, b, equal_var=False).pvalue
        assert_allclose(p, 0.1, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    samples, samples, st.floats(min_value=-50, max_value=50), st.floats(min_value=0.1, max_value=10)
)
def test_shift_and_scale(b, a, shift, scale):
    assume(_spread(a) and _spread(b))
    d = compare_means(b, a)
    ds = compare_means(np.asarray(b) + shift, np.asarray(a) + shift)
    assert_allclose(ds.estimate, d.estimate, atol=1e-6 * (1 + abs(shift)))
    assert_allclose(ds.pvalue, d.pvalue, rtol=1e-5, atol=1e-12)
    dk = compare_means(np.asarray(b) * scale, np.asarray(a) * scale)
    assert_allclose(dk.estimate, d.estimate * scale, rtol=1e-6, atol=1e-9)
    assert_allclose(dk.statistic, d.statistic, rtol=1e-6, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=50, max_value=100), min_size=3, max_size=20),
    st.lists(st.floats(min_value=20, max_value=120), min_size=3, max_size=20),
)
def test_percent_change_fieller_bounds_have_p_alpha(b, a):
    assume(_spread(a) and _spread(b))
    pc = percent_change_ci(b, a)
    assume(pc.ci_low is not None)
    a, b = np.asarray(a), np.asarray(b)
    rho_hat = a.mean() / b.mean()
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = max(
        1.0,
        (va + rho_hat**2 * vb) ** 2 / (va**2 / (a.size - 1) + rho_hat**4 * vb**2 / (b.size - 1)),
    )
    assert pc.ci_low <= pc.estimate <= pc.ci_high
    for bound in (pc.ci_low, pc.ci_high):
        rho = 1 + bound / 100
        t = (a.mean() - rho * b.mean()) / math.sqrt(va + rho**2 * vb)
        assert_allclose(2 * stats.t.sf(abs(t), df), 0.05, rtol=1e-6)


#: values on a grid of quarters: shifting them by any root-finder iterate keeps their order and
#: their ties exact, which the swap symmetry below needs (see the test after it)
grid_samples = st.lists(st.integers(-400, 400).map(lambda k: k / 4), min_size=3, max_size=25)


@settings(max_examples=40, deadline=None)
@given(grid_samples, grid_samples)
def test_hodges_lehmann_negates_on_swap_within_root_tolerance(b, a):
    assume(_spread(a) and _spread(b))
    m1, m2 = compare_ranks(b, a), compare_ranks(a, b)
    assume(m1.hodges_lehmann is not None and m2.hodges_lehmann is not None)
    assert m1.ci_low <= m1.ci_high
    assert_allclose(m1.ci_low, -m2.ci_high, atol=2e-4)  # R's uniroot tol = 1e-4
    assert_allclose(m1.ci_high, -m2.ci_low, atol=2e-4)
    # the estimates lie in the same flat stretch of the rank statistic, up to sign
    diffs = np.sort(np.subtract.outer(np.asarray(a), np.asarray(b)).ravel())
    lo, hi = (
        np.quantile(diffs, [0.5, 0.5], method="lower")[0],
        np.quantile(diffs, 0.5, method="higher"),
    )
    assert lo - 2e-4 <= m1.hodges_lehmann <= hi + 2e-4


def test_hodges_lehmann_swap_asymmetry_comes_from_rounding_not_the_method():
    # The example hypothesis found: 5.1e-32 - d rounds to -d for every shift d the root finder
    # tries, so in one direction the tiny value ties with the zeros and in the other it does
    # not. R's wilcox.test(conf.int = TRUE, exact = FALSE, correct = TRUE) ranks x - d in doubles
    # the same way (stats:::wilcox.test.default, wdiff: rank(c(x - d, y))), so it shows the same
    # asymmetry; the implementation follows R and the property holds only for data whose shifts
    # are exact, which the grid strategy above generates.
    b, a = [0.0] * 5 + [1.0], [0.0] * 10 + [5.1e-32, -1.0]
    m1, m2 = compare_ranks(b, a), compare_ranks(a, b)
    assert abs(m1.ci_low + m2.ci_high) > 0.5  # the rounding makes the ends differ
    # with the tiny value replaced by an exact 0 the ties are the same both ways: symmetric
    a0 = [0.0] * 11 + [-1.0]
    m1, m2 = compare_ranks(b, a0), compare_ranks(a0, b)
    assert_allclose([m1.ci_low, m1.ci_high], [-m2.ci_high, -m2.ci_low], atol=2e-4)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.integers(1, 200), st.integers(201, 400), st.integers(201, 400))
def test_proportions_swap(xb, xa, nb, na):
    d1, r1 = compare_proportions(xb, nb, xa, na)
    d2, r2 = compare_proportions(xa, na, xb, nb)
    assert_allclose(d1.estimate, -d2.estimate, atol=1e-12)
    assert_allclose(d1.pvalue, d2.pvalue, rtol=1e-9)
    assert_allclose(r1.estimate * r2.estimate, 1.0, rtol=1e-9)
    assert_allclose(r1.ci_low * r2.ci_high, 1.0, rtol=1e-9)
