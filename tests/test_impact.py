"""Before/after statistics checked against published R output and independent computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import special, stats

from pipeline.exceptions import StatisticsError
from pipeline.stats.impact import (
    compare_means,
    compare_proportions,
    compare_ranks,
    compare_rates,
    estimate_impact,
    hedges_g,
    percent_change_ci,
    segmented_regression,
)

# R datasets::sleep, extra by group (Cushny & Peebles)
SLEEP_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


def frame_of(before, after, *, transition=(), n=None):
    values = np.r_[before, transition, after]
    f = pd.DataFrame({"time": np.arange(1, len(values) + 1), "value": values})
    if n is not None:
        f["n"] = n
    return f, len(before) + len(transition) + 1, len(before) + 1


# --- Welch ----------------------------------------------------------------------------------


def test_welch_matches_r_sleep_example():
    # R ?t.test example: t.test(extra ~ group, data = sleep) ->
    # t = -1.8608, df = 17.776, p-value = 0.07939, 95 percent CI -3.3654832 0.2054832
    # (group 1 - group 2, so after = group 1, before = group 2)
    d = compare_means(SLEEP_2, SLEEP_1)
    # tolerances: half a unit in the last printed digit
    assert_allclose(d.statistic, -1.8608, atol=5e-5)
    assert_allclose(d.df, 17.776, atol=5e-4)
    assert_allclose(d.pvalue, 0.07939, atol=5e-6)
    assert_allclose([d.ci_low, d.ci_high], [-3.3654832, 0.2054832], atol=5e-8)
    assert_allclose(d.estimate, -1.58, rtol=1e-12)


def test_welch_matches_scipy_independently():
    rng = np.random.default_rng(11)
    b, a = rng.normal(10, 2, 17), rng.normal(8, 3, 23)
    d = compare_means(b, a)
    ref = stats.ttest_ind(a, b, equal_var=False)  # independent route: scipy
    assert_allclose([d.statistic, d.pvalue, d.df], [ref.statistic, ref.pvalue, ref.df], rtol=1e-10)
    ci = ref.confidence_interval(0.95)
    assert_allclose([d.ci_low, d.ci_high], [ci.low, ci.high], rtol=1e-10)


# --- Mann-Whitney and Hodges-Lehmann --------------------------------------------------------


def test_mann_whitney_matches_published_r_output():
    # endmemo.com/r/wilcoxon.php, R output of wilcox.test(x, y) (ties -> normal approximation
    # with continuity correction): W = 51.5, p-value = 0.5966; W is U of the first sample x.
    x = [1, 5, 9, 24, 56, 21, 3, 7, 21, 4]
    y = [12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5]
    m = compare_ranks(x, y)  # before = x
    assert m.statistic == 51.5
    assert_allclose(m.pvalue, 0.5966, atol=5e-5)
    # same page: y <- c(1233, 4356, 987, 39999, 1111, 200000); W = 0, p-value = 0.001364
    m2 = compare_ranks(x, [1233, 4356, 987, 39999, 1111, 200000])
    assert m2.statistic == 0
    assert_allclose(m2.pvalue, 0.001364, atol=5e-7)


def test_hodges_lehmann_reproduces_r_uniroot_on_sleep():
    # R: wilcox.test(extra ~ group, data = sleep, conf.int = TRUE, exact = FALSE) prints
    # "difference in location -1.346388" (recalled R output; R finds the estimate by uniroot on
    # the standardised rank sum, which is flat between the two middle pairwise differences
    # -1.4 and -1.3, so it is NOT their median -1.35; our port of R's zeroin reproduces it).
    m = compare_ranks(SLEEP_2, SLEEP_1)
    assert_allclose(m.hodges_lehmann, -1.346388, atol=5e-7)
    assert -1.4 <= m.hodges_lehmann <= -1.3
    assert m.statistic == 74.5  # U of the before sample (group 2) = 100 - W(25.5)
    assert_allclose(m.pvalue, 0.06933, atol=5e-6)  # R: W = 25.5, p-value = 0.06933


def test_hodges_lehmann_interval_is_where_the_test_flips():
    # Independent route: the interval inverts the rank-sum test, so scipy's Mann-Whitney p-value
    # (continuity + ties, asymptotic) on (after - shift) vs before crosses alpha at each bound.
    rng = np.random.default_rng(5)
    b = np.round(rng.normal(20, 3, 24), 2)
    a = np.round(rng.normal(16, 3, 19), 2)
    m = compare_ranks(b, a)
    diffs = np.subtract.outer(a, b).ravel()
    for bound in (m.ci_low, m.ci_high):
        assert np.min(np.abs(diffs - bound)) < 2e-4  # R's uniroot tol is 1e-4

    def p(shift):
        return stats.mannwhitneyu(a - shift, b, method="asymptotic", use_continuity=True).pvalue

    delta = 1e-3
    assert p(m.ci_low + delta) >= 0.05 > p(m.ci_low - delta)
    assert p(m.ci_high - delta) >= 0.05 > p(m.ci_high + delta)
    # odd number of pairs, no ties: the estimate is the median of pairwise differences
    a_odd = a[:-2]
    m_odd = compare_ranks(b[:-1], a_odd)
    med = np.median(np.subtract.outer(a_odd, b[:-1]))
    assert_allclose(m_odd.hodges_lehmann, med, atol=1e-4)


# --- effect size and percent change ---------------------------------------------------------


def test_hedges_g_exact_correction():
    # Hand computation: d = (mean_a - mean_b) / pooled sd; J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))
    df = 18
    sp = math.sqrt((9 * SLEEP_1.var(ddof=1) + 9 * SLEEP_2.var(ddof=1)) / df)
    j = special.gamma(df / 2) / (math.sqrt(df / 2) * special.gamma((df - 1) / 2))
    assert_allclose(hedges_g(SLEEP_2, SLEEP_1), j * (-1.58) / sp, rtol=1e-12)
    # and the J approximation 1 - 3 / (4 df - 1) agrees to about 1e-4 (Hedges 1981)
    assert_allclose(j, 1 - 3 / (4 * df - 1), rtol=2e-4)


def test_percent_change_bounds_solve_fieller_equation():
    rng = np.random.default_rng(2)
    b, a = rng.normal(50, 5, 20), rng.normal(40, 6, 25)
    pc = percent_change_ci(b, a)
    assert_allclose(pc.estimate, 100 * (a.mean() / b.mean() - 1), rtol=1e-12)
    assert pc.ci_low < pc.estimate < pc.ci_high
    rho_hat = a.mean() / b.mean()
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + rho_hat**2 * vb) ** 2 / (va**2 / (a.size - 1) + rho_hat**4 * vb**2 / (b.size - 1))
    for bound in (pc.ci_low, pc.ci_high):
        rho = 1 + bound / 100
        t = (a.mean() - rho * b.mean()) / math.sqrt(va + rho**2 * vb)
        assert_allclose(2 * stats.t.sf(abs(t), df), 0.05, rtol=1e-8)


def test_percent_change_is_none_for_a_negative_before_mean():
    # -10 -> -5 is a rise of 5; "100 (mean(after) / mean(before) - 1)" would say -50%
    pc = percent_change_ci([-10.0, -11.0, -9.0, -10.5], [-5.0, -6.0, -4.0, -5.5])
    assert pc.estimate is None and pc.ci_low is None and pc.ci_high is None


def test_percent_change_unbounded_when_before_mean_near_zero():
    pc = percent_change_ci([-1.0, 1.0, -2.0, 2.1], [3.0, 4.0, 5.0])
    assert pc.ci_low is None and pc.ci_high is None


# --- segmented regression -------------------------------------------------------------------


def _its_data(seed=3, nb=20, na=16):
    rng = np.random.default_rng(seed)
    t = np.arange(1, nb + na + 1, dtype=float)
    post = (t > nb).astype(float)
    e = np.zeros(t.size)
    for i in range(1, t.size):  # AR(1) noise
        e[i] = 0.5 * e[i - 1] + rng.normal(0, 1)
    y = 30 + 0.1 * t - 5 * post - 0.2 * (t - nb) * post + e
    return t, y, nb


def test_segmented_regression_against_hand_ols_and_newey_west():
    t, y, nb = _its_data()
    f = pd.DataFrame({"time": t, "value": y})
    r = estimate_impact(f, change_at=nb + 1)
    s = r.segmented_regression
    X = np.column_stack([np.ones_like(t), t, (t > nb), (t - nb) * (t > nb)]).astype(float)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    e = y - X @ beta
    n, k = X.shape
    xtx_inv = np.linalg.inv(X.T @ X)
    se_classical = np.sqrt(np.diag(xtx_inv) * (e @ e) / (n - k))  # lm's summary
    names = ["intercept", "pre_slope", "level_change", "slope_change"]
    assert_allclose([s.coefficients[m].estimate for m in names], beta, rtol=1e-9)
    assert_allclose([s.classical[m].se for m in names], se_classical, rtol=1e-9)
    # Newey-West by hand: Bartlett weights 1 - l/(L+1), no small-sample adjustment
    # (= sandwich::NeweyWest(fit, lag = L, prewhite = FALSE, adjust = FALSE))
    L = s.maxlags
    assert L == math.floor(4 * (n / 100) ** (2 / 9))
    u = X * e[:, None]
    S = u.T @ u
    for lag in range(1, L + 1):
        g = u[lag:].T @ u[:-lag]
        S += (1 - lag / (L + 1)) * (g + g.T)
    cov = xtx_inv @ S @ xtx_inv
    assert_allclose([s.coefficients[m].se for m in names], np.sqrt(np.diag(cov)), rtol=1e-9)
    # t quantile on n - k df, as lmtest::coeftest does for lm
    q = stats.t.ppf(0.975, n - k)
    c = s.coefficients["level_change"]
    assert_allclose([c.ci_low, c.ci_high], [beta[2] - q * c.se, beta[2] + q * c.se], rtol=1e-9)
    # counterfactual at the last period = b0 + b1 T with the HAC variance of that combination
    x0 = np.array([1.0, t[-1], 0, 0])
    assert_allclose(s.counterfactual.estimate, x0 @ beta, rtol=1e-10)
    assert_allclose(s.counterfactual.se, math.sqrt(x0 @ cov @ x0), rtol=1e-9)
    # Durbin-Watson and Ljung-Box (lag 1) from their definitions
    assert_allclose(s.durbin_watson, np.sum(np.diff(e) ** 2) / np.sum(e**2), rtol=1e-10)
    r1 = np.sum((e[1:] - e.mean()) * (e[:-1] - e.mean())) / np.sum((e - e.mean()) ** 2)
    q_lb = n * (n + 2) * r1**2 / (n - 1)
    assert_allclose(s.ljung_box_pvalue, stats.chi2.sf(q_lb, 1), rtol=1e-8)


def test_segmented_regression_notes_autocorrelation():
    t, y, nb = _its_data(seed=8, nb=40, na=40)
    rng = np.random.default_rng(1)
    e = np.zeros(t.size)
    for i in range(1, t.size):
        e[i] = 0.9 * e[i - 1] + rng.normal(0, 1)
    f = pd.DataFrame({"time": t, "value": 10 + e})
    s = estimate_impact(f, change_at=nb + 1).segmented_regression
    assert s.is_autocorrelated
    assert "Newey-West" in s.note and "classical" in s.note


def test_transition_rows_left_out_but_keep_their_time_index():
    before, trans, after = [5.0, 6, 5, 6, 5, 6], [9.0, 9], [3.0, 4, 3, 4, 3]
    f, change_at, trans_start = frame_of(before, after, transition=trans)
    r = estimate_impact(f, change_at=change_at, transition_start=trans_start)
    assert r.before.n == 6 and r.after.n == 5
    s = r.segmented_regression.series
    assert list(s["window"]) == ["before"] * 6 + ["transition"] * 2 + ["after"] * 5
    assert s.loc[s.window == "after", "t_after"].iloc[0] == 3  # t = 9, t_last_before = 6


# --- proportions and counts -----------------------------------------------------------------


def test_proportions_difference_and_ratio_by_hand():
    xb, nb, xa, na = 60.0, 300.0, 30.0, 280.0
    d, r = compare_proportions(xb, nb, xa, na)
    pa, pb = xa / na, xb / nb
    p = (xa + xb) / (na + nb)
    z = (pa - pb) / math.sqrt(p * (1 - p) * (1 / na + 1 / nb))  # pooled z = sqrt(prop.test chi2)
    assert_allclose(d.statistic, z, rtol=1e-10)
    assert_allclose(d.pvalue, 2 * stats.norm.sf(abs(z)), rtol=1e-10)
    q = stats.norm.ppf(0.975)
    se_log = math.sqrt(1 / xa - 1 / na + 1 / xb - 1 / nb)  # Katz log interval
    assert_allclose(r.estimate, pa / pb, rtol=1e-12)
    assert_allclose(
        [r.ci_low, r.ci_high],
        [pa / pb * math.exp(-q * se_log), pa / pb * math.exp(q * se_log)],
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    ("xa", "na", "xb", "nb", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17, 873-890, Table II, method 10 (hybrid
        # score, no continuity correction), examples (a)-(h): difference p1 - p2 of x1/n1, x2/n2
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_proportion_difference_interval_is_newcombes_even_without_events(xa, na, xb, nb, low, high):
    """The Wald interval of prop.test gave 0 to 0 for (f), no event in either window, and for
    (d) an interval from the after window's sampling error alone."""
    d, _ = compare_proportions(xb, nb, xa, na)
    assert_allclose([d.ci_low, d.ci_high], [low, high], atol=5e-5)
    assert d.ci_low < d.estimate < d.ci_high or d.estimate == d.ci_high == 1.0
    assert -1 <= d.ci_low and d.ci_high <= 1


def test_rate_ratio_poisson_closed_form():
    # glm(x ~ post, offset = log(n), family = poisson): exp(b1) is the ratio of pooled rates and
    # se(b1) = sqrt(1/X_after + 1/X_before) (closed form of the two-group Poisson MLE)
    x = np.array([10, 12, 9, 11, 10, 6, 5, 7, 6, 5], dtype=float)
    n = np.array([100, 110, 95, 105, 100, 100, 98, 102, 101, 99], dtype=float)
    post = np.r_[np.zeros(5), np.ones(5)]
    d, r, m = compare_rates(x, n, post)
    assert m.family == "poisson"
    xb, xa, nb, na = x[:5].sum(), x[5:].sum(), n[:5].sum(), n[5:].sum()
    rr = (xa / na) / (xb / nb)
    se = math.sqrt(1 / xa + 1 / xb)
    q = stats.norm.ppf(0.975)
    assert_allclose(r.estimate, rr, rtol=1e-8)
    assert_allclose(
        [r.ci_low, r.ci_high], [rr * math.exp(-q * se), rr * math.exp(q * se)], rtol=1e-7
    )
    assert_allclose(d.estimate, xa / na - xb / nb, rtol=1e-8)


def test_overdispersed_counts_switch_to_negative_binomial_and_say_so():
    rng = np.random.default_rng(4)
    mu = np.r_[np.full(20, 20.0), np.full(20, 12.0)]
    x = rng.negative_binomial(2, 2 / (2 + mu))
    f = pd.DataFrame({"time": np.arange(40), "value": x})
    r = estimate_impact(f, change_at=20, kind="count", better="lower")
    assert r.model.family.startswith("negative binomial")
    assert "over-dispersed" in r.model.reason
    assert r.to_dict()["model"]["family"].startswith("negative binomial")
    assert "negative binomial" in r.segmented_regression.model


def test_proportion_kind_end_to_end():
    rng = np.random.default_rng(9)
    n = rng.integers(80, 120, 30)
    x = rng.binomial(n, np.r_[np.full(15, 0.2), np.full(15, 0.1)])
    f = pd.DataFrame({"time": np.arange(30), "value": x, "n": n})
    r = estimate_impact(f, change_at=15, kind="proportion", better="lower")
    pb, pa = x[:15].sum() / n[:15].sum(), x[15:].sum() / n[15:].sum()
    assert_allclose(r.difference.estimate, pa - pb, rtol=1e-12)
    assert_allclose(r.before.mean, pb, rtol=1e-12)
    assert r.direction == "improved" and r.is_improvement
    cf = r.segmented_regression.counterfactual
    assert 0 < cf.ci_low < cf.estimate < cf.ci_high < 1
    keys = set(r.to_dict())
    assert {"proportion_ratio", "model"} <= keys


# --- the result object ----------------------------------------------------------------------


def test_to_dict_has_exactly_the_issue_keys_and_is_json_safe():
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"time": pd.date_range("2025-01-06", periods=30, freq="W-MON"),
                      "value": np.r_[rng.normal(20, 2, 15), rng.normal(15, 2, 15)]})  # fmt: skip
    r = estimate_impact(f, change_at="2025-04-21", better="lower")
    d = r.to_dict()
    assert list(d) == ["before", "after", "difference", "percent_change", "hedges_g",
                       "mann_whitney", "segmented_regression"]  # fmt: skip
    assert list(d["before"]) == ["n", "mean", "median", "sd"]
    assert list(d["difference"]) == [
        "estimate",
        "ci_low",
        "ci_high",
        "statistic",
        "df",
        "pvalue",
        "method",
    ]
    assert list(d["percent_change"]) == ["estimate", "ci_low", "ci_high"]
    assert list(d["mann_whitney"]) == ["statistic", "pvalue", "hodges_lehmann", "ci_low", "ci_high"]
    seg = d["segmented_regression"]
    assert list(seg) == ["model", "cov_type", "intercept", "pre_slope", "level_change",
                         "slope_change", "classical", "counterfactual", "counterfactual_note",
                         "counterfactual_bound", "n_before", "is_event_order", "is_constant", "natural_scale", "durbin_watson",
                         "ljung_box_pvalue"]  # fmt: skip
    assert list(seg["natural_scale"]) == ["ratio", "scale", "level_change", "slope_change",
                                          "level_difference", "end_difference"]  # fmt: skip
    assert list(seg["classical"]) == ["intercept", "pre_slope", "level_change", "slope_change"]
    for c in ("intercept", "pre_slope", "level_change", "slope_change"):
        assert list(seg[c]) == ["estimate", "se", "ci_low", "ci_high", "pvalue"]
    json.dumps(d, allow_nan=False)
    assert isinstance(r.to_frame(), pd.DataFrame) and "<table" in r._repr_html_()
    assert r.summary("Cycle time").startswith("Cycle time fell")


def test_sentence_plain_and_never_nan():
    rng = np.random.default_rng(1)
    f = pd.DataFrame(
        {"time": np.arange(30), "value": np.r_[rng.normal(20, 1, 15), rng.normal(14, 1, 15)]}
    )
    s = estimate_impact(f, change_at=15, better="lower").sentence("Cycle time")
    assert s.startswith("Cycle time fell ") and "(95% CI " in s and s.endswith("an improvement.")
    f2 = pd.DataFrame({"time": np.arange(6), "value": [1.0, -1, 1, -1, 2, -2]})
    s2 = estimate_impact(f2, change_at=3).sentence("Noise")
    for bad in ("nan", "None", "inf"):
        assert bad not in s2
    # constant windows: no test possible, still a sentence without NaN
    f3 = pd.DataFrame({"time": np.arange(6), "value": [0.0, 0, 0, 0, 0, 0]})
    s3 = estimate_impact(f3, change_at=3).sentence("Flat")
    assert "nan" not in s3 and "None" not in s3


def test_verdict_uses_better():
    f = pd.DataFrame(
        {"time": np.arange(20), "value": np.r_[np.linspace(10, 11, 10), np.linspace(15, 16, 10)]}
    )
    assert estimate_impact(f, change_at=10, better="higher").direction == "improved"
    assert estimate_impact(f, change_at=10, better="lower").direction == "worsened"
    assert estimate_impact(f, change_at=10, better="neutral").direction == "increased"


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"time": [1, 2, 3], "value": [1.0, 2, 3]}), {"change_at": 3}, "1 period on or after the change on 3 "),
        (pd.DataFrame({"time": [1, 2, 3], "value": [1.0, 2, 3]}), {"change_at": 1}, "0 periods before the change on 1 "),
        (pd.DataFrame({"time": [1, 2, 3, 4], "value": [1.0, 2, 3, 4]}), {"change_at": 3, "kind": "proportion"}, "missing column 'n'"),
        (pd.DataFrame({"time": [1, 1, 3, 4], "value": [1.0, 2, 3, 4]}), {"change_at": 3}, "more than one row per period"),
        (pd.DataFrame({"time": [1, 2, 3, 4], "value": [1.0, 2, 3, 4], "n": [1, 0, 2, 2]}), {"change_at": 3, "kind": "count"}, "n must be a positive"),
    ],
)  # fmt: skip
def test_bad_input_raises_statistics_error(frame, kwargs, message):
    with pytest.raises(StatisticsError, match=message):
        estimate_impact(frame, **kwargs)


def test_short_series_gives_no_segmented_regression_but_a_note():
    f = pd.DataFrame({"time": [1, 2, 3, 4], "value": [5.0, 6, 3, 2]})
    r = estimate_impact(f, change_at=3)
    assert r.segmented_regression is None
    assert any("not enough data" in n for n in r.notes)
    assert r.to_dict()["segmented_regression"] is None


def test_charts_have_generated_alt_text():
    from pipeline.report.plots.impact import plot_before_after, plot_segmented

    rng = np.random.default_rng(2)
    f, change_at, trans = frame_of(
        rng.normal(20, 1, 15), rng.normal(15, 1, 15), transition=[18.0, 17]
    )
    r = estimate_impact(f, change_at=change_at, transition_start=trans, better="lower")
    seg = plot_segmented(r, name="Cycle time", unit="days")
    assert seg.png.startswith(b"\x89PNG") and "<svg" in seg.svg
    assert "counterfactual (no change): " in seg.alt and "2 transition periods" in seg.alt
    ba = plot_before_after(r, name="Cycle time")
    assert "Cycle time fell" in ba.alt and 'aria-label="' in ba._repr_html_()


# --- the segmented regression on the metric's own scale -------------------------------------


def _glm_hac(kind, y, n, t, post, t_after, L):
    """The HAC GLM fitted directly with statsmodels (the same model the pipeline fits)."""
    import statsmodels.api as sm

    X = np.column_stack([np.ones_like(t), t, post, t_after])
    hac = {"maxlags": L, "use_correction": False}
    if kind == "proportion":
        mod = sm.GLM(np.column_stack([y, n - y]), X, family=sm.families.Binomial())
    else:
        mod = sm.GLM(y, X, family=sm.families.Poisson(), offset=np.log(n))
    return mod.fit(cov_type="HAC", cov_kwds=hac), X


def _its_design(nb, na):
    t = np.arange(1, nb + na + 1, dtype=float)
    post = (t > nb).astype(float)
    return t, post, (t - nb) * post


def test_poisson_segmented_regression_gives_rate_ratios_and_events_per_period():
    rng = np.random.default_rng(21)
    nb, na = 24, 20
    t, post, t_after = _its_design(nb, na)
    y = rng.poisson(np.exp(1.2 + 0.01 * t - 0.9 * post)).astype(float)
    f = pd.DataFrame({"time": t, "value": y})
    s = estimate_impact(f, change_at=nb + 1, kind="count").segmented_regression
    res, X = _glm_hac("count", y, np.ones_like(y), t, post, t_after, s.maxlags)
    nat = s.natural_scale
    assert nat.ratio == "rate_ratio" and nat.scale == "rate_difference"
    # a rate ratio is exp of the log-link coefficient, its interval exp of the interval's ends
    # (R: exp(coef(fit))["post"], exp(confint.default(coeftest(fit, vcov = NeweyWest(...)))))
    ci = np.asarray(res.conf_int(alpha=0.05))
    assert_allclose(nat.level_change.estimate, math.exp(res.params[2]), rtol=1e-8)
    assert_allclose([nat.level_change.ci_low, nat.level_change.ci_high], np.exp(ci[2]), rtol=1e-8)
    assert_allclose(nat.slope_change.estimate, math.exp(res.params[3]), rtol=1e-8)
    assert_allclose([nat.slope_change.ci_low, nat.slope_change.ci_high], np.exp(ci[3]), rtol=1e-8)
    # the counterfactual at the end in events per period: exp(b0 + b1 T)
    assert_allclose(s.counterfactual.estimate, math.exp(res.params[0] + res.params[1] * t[-1]),
                    rtol=1e-8)  # fmt: skip
    # the difference at the end: the model's predicted rates with and without the change
    fitted = float(np.exp(X[-1] @ res.params))
    assert_allclose(nat.end_difference.estimate, fitted - s.counterfactual.estimate, rtol=1e-8)


def _numeric_delta_ci(f, beta, cov, q):
    """Delta-method interval with a central finite-difference gradient (independent of the
    analytic gradient the pipeline uses)."""
    h = 1e-6
    grad = np.array([(f(beta + h * e) - f(beta - h * e)) / (2 * h) for e in np.eye(beta.size)])
    se = math.sqrt(grad @ cov @ grad)
    return f(beta) - q * se, f(beta) + q * se


def test_binomial_segmented_regression_gives_odds_ratios_and_percentage_points():
    rng = np.random.default_rng(5)
    nb, na = 20, 18
    t, post, t_after = _its_design(nb, na)
    n = rng.integers(150, 250, t.size).astype(float)
    p = special.expit(-1.0 + 0.01 * t + 0.6 * post)
    y = rng.binomial(n.astype(int), p).astype(float)
    f = pd.DataFrame({"time": t, "value": y, "n": n})
    s = estimate_impact(f, change_at=nb + 1, kind="proportion").segmented_regression
    res, X = _glm_hac("proportion", y, n, t, post, t_after, s.maxlags)
    nat = s.natural_scale
    assert nat.ratio == "odds_ratio" and nat.scale == "percentage_points"
    ci = np.asarray(res.conf_int(alpha=0.05))
    assert_allclose(nat.level_change.estimate, math.exp(res.params[2]), rtol=1e-8)
    assert_allclose([nat.level_change.ci_low, nat.level_change.ci_high], np.exp(ci[2]), rtol=1e-8)
    # percentage points: 100 x the model's predicted proportion with the change minus without it
    # in the first period after (R: 100 * diff(predict(fit, newdata, type = "response")))
    beta, cov = np.asarray(res.params), np.asarray(res.cov_params())
    x1 = X[nb]
    x0 = x1.copy()
    x0[2:] = 0.0

    def pp(b):
        return 100 * (special.expit(x1 @ b) - special.expit(x0 @ b))

    assert_allclose(nat.level_difference.estimate, pp(beta), rtol=1e-8)
    series = s.series
    assert_allclose(
        nat.level_difference.estimate,
        100 * (series["fitted"].iloc[nb] - series["counterfactual"].iloc[nb]),
        rtol=1e-8,
    )
    low, high = _numeric_delta_ci(pp, beta, cov, stats.norm.ppf(0.975))
    assert_allclose([nat.level_difference.ci_low, nat.level_difference.ci_high], [low, high],
                    rtol=1e-5)  # fmt: skip


def test_linear_segmented_regression_is_in_the_metric_units():
    t, y, nb = _its_data()
    s = estimate_impact(
        pd.DataFrame({"time": t, "value": y}), change_at=nb + 1
    ).segmented_regression
    nat = s.natural_scale
    assert nat.ratio is None and nat.scale == "difference"
    assert nat.level_change.estimate == s.level_change.estimate
    assert [nat.slope_change.ci_low, nat.slope_change.ci_high] == [
        s.slope_change.ci_low, s.slope_change.ci_high
    ]  # fmt: skip
    # fitted minus counterfactual at the last period = b2 + b3 (T - t_last_before), exactly
    b = s.coefficients
    expected = b["level_change"].estimate + b["slope_change"].estimate * (t[-1] - nb)
    assert_allclose(nat.end_difference.estimate, expected, rtol=1e-9)


def test_no_counterfactual_from_a_baseline_shorter_than_a_phase():
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, 20).astype(float)
    f = pd.DataFrame({"time": np.arange(1, 21), "value": y})
    short = estimate_impact(f, change_at=10, kind="count", min_baseline_points=12)
    s = short.segmented_regression
    assert s.counterfactual is None and s.natural_scale.end_difference is None
    assert s.counterfactual_note.startswith("withheld because the baseline has only 9 periods")
    assert s.series["counterfactual"].isna().all()
    assert s.to_dict()["counterfactual"] is None
    json.dumps(short.to_dict())
    # the level and slope change are still reported; with a long enough baseline so is the line
    assert s.natural_scale.level_change.estimate > 0
    long = estimate_impact(f, change_at=10, kind="count", min_baseline_points=9)
    assert long.segmented_regression.counterfactual is not None


def test_autocorrelation_note_says_small_p_values_in_words() -> None:
    """A random walk's lag-1 Ljung-Box p is far below 0.001: the note a reader sees says
    "p < 0.001", never scientific notation such as "1.9e-05"."""
    rng = np.random.default_rng(7)
    values = np.cumsum(rng.normal(size=60))
    times = pd.date_range("2026-01-05", periods=60, freq="W-MON")
    window = ["before"] * 30 + ["after"] * 30
    sr = segmented_regression(times, values, window=window)
    assert sr.ljung_box_pvalue is not None and sr.ljung_box_pvalue < 0.001
    assert "Ljung-Box p < 0.001 at lag 1" in sr.note
    assert "e-" not in sr.note


def _falling_then_flat():
    """A baseline falling 1 a period from 30, then flat at 5: the trend carried forward crosses 0,
    which hours or days between incidents cannot reach."""
    rng = np.random.default_rng(3)
    before = 30 - np.arange(20) + rng.normal(0, 0.5, 20)
    after = 5 + rng.normal(0, 0.5, 20)
    f, change_at, _ = frame_of(before, after)
    return f, change_at


def test_a_counterfactual_past_the_metric_bound_is_held_there_as_the_verdict_holds_it():
    """The segmented regression's counterfactual, its band and the fitted-minus-counterfactual
    difference are taken against the line held at the bound, as judge_change holds its own:
    the held value is max(line, bound), each interval end is clipped (a monotone map keeps the
    coverage) and the difference and its interval move by exactly the amount the line was
    raised."""
    f, change_at = _falling_then_flat()
    free = estimate_impact(f, change_at=change_at, better="lower").segmented_regression
    held = estimate_impact(
        f, change_at=change_at, better="lower", lower_bound=0.0
    ).segmented_regression
    assert free is not None and held is not None
    line = free.series["counterfactual"].to_numpy(dtype=float)
    assert free.counterfactual.estimate < 0 and free.counterfactual_bound is None
    # the held line: max(line, 0) wherever it is drawn, and marked held where it was raised
    assert_allclose(held.series["counterfactual"], np.maximum(line, 0.0), equal_nan=True)
    assert_allclose(
        held.series["counterfactual_low"],
        np.maximum(free.series["counterfactual_low"].to_numpy(dtype=float), 0.0),
        equal_nan=True,
    )
    assert (held.series["counterfactual_held"] == (line < 0)).all()
    cf = held.counterfactual
    assert cf.estimate == 0.0 and held.counterfactual_bound == 0.0
    assert cf.ci_low == 0.0 and cf.ci_high == max(free.counterfactual.ci_high, 0.0)
    assert cf.se is None and cf.pvalue is None  # they belong to the line below 0
    # fitted minus the held counterfactual, its interval moved by the same known amount
    raised = 0.0 - free.counterfactual.estimate
    end, free_end = held.natural_scale.end_difference, free.natural_scale.end_difference
    assert_allclose(end.estimate, held.observed_fitted - 0.0, rtol=1e-9)
    assert_allclose([end.ci_low, end.ci_high],
                    [free_end.ci_low - raised, free_end.ci_high - raised], rtol=1e-9)  # fmt: skip
    # the first after period's line is still above 0: its difference does not move
    assert_allclose(held.natural_scale.level_difference.estimate,
                    free.natural_scale.level_difference.estimate, rtol=1e-12)  # fmt: skip
    assert held.to_dict()["counterfactual_bound"] == 0.0
    assert free.to_dict()["counterfactual_bound"] is None
    # the coefficients themselves are the model's, bound or not
    assert held.coefficients == free.coefficients


def test_bounds_leave_a_glm_counterfactual_alone():
    """Counts and proportions stay within their bounds through the inverse link: no bound moves
    their counterfactual."""
    rng = np.random.default_rng(5)
    f = pd.DataFrame({"time": np.arange(1, 31), "value": rng.poisson(3.0, 30).astype(float)})
    a = estimate_impact(f, change_at=16, kind="count").segmented_regression
    b = estimate_impact(f, change_at=16, kind="count", lower_bound=0.0).segmented_regression
    assert a.counterfactual == b.counterfactual and b.counterfactual_bound is None


def test_segmented_chart_never_draws_a_counterfactual_past_the_metric_bound():
    """With the counterfactual held at 0 the dashed line runs along 0 where the baseline's trend
    would cross it, the legend says it is held, and the band stays at or above 0; unbounded, the
    same data draw both below 0."""
    from pipeline.report.plots.impact import plot_segmented

    f, change_at = _falling_then_flat()

    def drawn(chart):
        ax = chart.figure.axes[0]
        (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("without the change")]
        band = np.concatenate([p.get_paths()[0].vertices[:, 1] for p in ax.collections])
        return np.asarray(line.get_ydata(), dtype=float), band, line.get_label()

    free = estimate_impact(f, change_at=change_at, better="lower")
    line, band, label = drawn(plot_segmented(free, name="Downtime", unit="hours"))
    assert np.nanmin(line) < 0 and band.min() < 0 and label == "without the change"
    held = estimate_impact(f, change_at=change_at, better="lower", lower_bound=0.0)
    line, band, label = drawn(plot_segmented(held, name="Downtime", unit="hours"))
    assert np.nanmin(line) == 0 and not np.isnan(line).any() and band.min() >= 0
    assert label == "without the change (held at the bound)"


def test_segmented_chart_text_joins_the_panel_figures_into_one_sentence():
    """The text alternative repeats the panel's rows as 'label: text' clauses: a withheld
    counterfactual read 'Counterfactual (no change): No counterfactual: ... forward..' and
    '1 transition periods left out'."""
    from pipeline.report.plots.impact import plot_segmented

    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, 21).astype(float)
    f = pd.DataFrame({"time": np.arange(1, 22), "value": y})
    r = estimate_impact(f, change_at=11, transition_start=10, kind="count",
                        min_baseline_points=12)  # fmt: skip
    seg = r.segmented_regression
    facts = [("Counterfactual (no change)", seg.counterfactual_note + ".")]
    alt = plot_segmented(r, name="Incidents", facts=facts).alt
    assert "1 transition period left out" in alt
    assert "Counterfactual (no change): withheld because the baseline has only 9 periods" in alt
    assert ".." not in alt and alt.lower().count("counterfactual") == 1


def test_the_sentence_of_no_clear_change_signs_its_interval_with_one_minus_sign():
    """'rose 0.83% (95% CI -9.2% to +12%)' used a hyphen where every other figure has U+2212."""
    rng = np.random.default_rng(11)
    f, change_at, _ = frame_of(rng.normal(20, 2, 15), rng.normal(20.2, 2, 15))
    r = estimate_impact(f, change_at=change_at, better="lower")
    text = r.sentence("Cycle time")
    assert r.direction == "no_clear_change" and "(95% CI \u2212" in text and "-" not in text


def test_rates_without_any_event_raise_a_statistics_error_not_a_statsmodels_crash():
    """A site with no incidents at all: the Poisson GLM has no finite fit (statsmodels raised
    ValueError 'The first guess on the deviance function returned a nan'); the caller gets the
    project's StatisticsError, which the verdicts' evaluation turns into 'no segmented fit'."""
    from pipeline.exceptions import StatisticsError
    from pipeline.stats.impact import compare_rates

    with pytest.raises(StatisticsError, match="no event in any period"):
        compare_rates(np.zeros(20), np.ones(20), np.r_[np.zeros(10), np.ones(10)] > 0)
