"""The verdict on each (event, metric): its procedure, its properties, and the period grid."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from pipeline.stats import verdicts
from pipeline.stats.firth import fit_firth
from pipeline.stats.impact import estimate_impact, period_numbers
from pipeline.stats.verdicts import OUTCOMES, judge_change
from pipeline.vocabulary import Better, Kind, Verdict

WEEKS = pd.date_range("2025-01-06", periods=78, freq="W-MON")
CHANGE = WEEKS[52]
#: verdicts from worst to best, for "a bigger effect never lowers the verdict"
ORDER = {"worsened": 0, "no_clear_change": 1, "faded": 2, "sustained": 3}


def _frame(values, n=None):
    f = pd.DataFrame({"time": WEEKS[: len(values)], "value": np.asarray(values, dtype=float)})
    if n is not None:
        f["n"] = n
    return f


def _judge(values, better="lower", **kw):
    return judge_change(_frame(values), change_at=CHANGE, transition_start=CHANGE, better=better,
                        **kw)  # fmt: skip


def _noise(seed, phi=0.0):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(78)
    u = np.empty(78)
    u[0] = e[0]
    for i in range(1, 78):
        u[i] = phi * u[i - 1] + np.sqrt(1 - phi**2) * e[i]
    return 10 + u


def test_a_metric_with_no_better_direction_is_changed_never_credited():
    """better: neutral has no improving side: a clear step either way is "changed" (it was
    "sustained", an improvement, and ranked as best practice), and no step is no clear
    change; early-only changes count too, and nothing on such a metric is "worsened"."""
    y = _noise(1)
    step = np.r_[np.zeros(52), np.ones(26)]
    fade = np.r_[np.zeros(52), np.ones(13), np.zeros(13)]
    for shape in (3 * step, -3 * step, 3 * fade, -3 * fade):
        v = _judge(y + shape, better="neutral")
        assert v.outcome == Verdict.CHANGED and not v.is_credited, (shape[-1], v)
        assert "no better direction" in " ".join(v.reasons)
    assert _judge(y, better="neutral").outcome == Verdict.NO_CLEAR_CHANGE


def test_the_five_verdicts_on_clear_cases():
    y = _noise(1)
    step = np.r_[np.zeros(52), np.ones(26)]
    fade = np.r_[np.zeros(52), np.ones(13), np.zeros(13)]
    assert _judge(y - 3 * step).outcome == "sustained"
    assert _judge(y - 3 * fade).outcome == "faded"
    assert _judge(y + 3 * step).outcome == "worsened"
    assert _judge(y).outcome == "no_clear_change"
    v = judge_change(_frame(y[:58]), change_at=CHANGE, better="lower")
    assert v.outcome == "too_early" and v.n_after == 6 and "8 after" in v.reasons[0]
    assert set(ORDER) | {"too_early", "changed"} == set(OUTCOMES)


def test_verdict_carries_effect_interval_method_and_counts():
    v = _judge(_noise(2) - 2 * np.r_[np.zeros(52), np.ones(26)], alpha=0.1)
    d = v.to_dict()
    assert d["outcome"] == "sustained" and d["n_before"] == 52 and d["n_after"] == 26
    e = d["effect"]
    assert e["ci_low"] < e["estimate"] < e["ci_high"] < 0  # a fall, the 90% interval below 0
    assert d["figure"]["unit"] == "percent" and d["figure"]["estimate"] == e["relative"]
    assert "AR(1)" in d["method"] and d["alpha"] == 0.1
    assert d["levels"]["overall"] + d["levels"]["early"] == pytest.approx(0.1)
    assert not d["is_provisional"]


def test_a_negative_level_is_judged_on_its_difference_not_a_reversed_percentage():
    # a net loss of about 1e9 that shrank to about 5e8 (higher is better): a rise of ~5e8. A
    # percentage of the negative baseline would read "fell 50%" with its interval reversed.
    y = (_noise(4) - 10) * 5e7 - 1e9 + 5e8 * np.r_[np.zeros(52), np.ones(26)]
    v = _judge(y, better="higher")
    assert v.outcome == "sustained"
    assert v.effect.relative is None
    fig = v.figure
    assert fig["unit"] == "difference"
    assert 0 < fig["ci_low"] < fig["estimate"] < fig["ci_high"]
    assert fig["estimate"] == pytest.approx(5e8, rel=0.2)


def test_short_phases_make_the_verdict_provisional():
    y = _noise(3)[42:64] - 3 * np.r_[np.zeros(10), np.ones(12)]
    f = pd.DataFrame({"time": WEEKS[42:64], "value": y})
    v = judge_change(f, change_at=CHANGE, better="lower", min_phase_points=12)
    assert v.is_provisional and v.n_before == 10
    assert any(r.startswith("provisional") for r in v.reasons)


def test_an_earlier_trend_is_not_credited_to_the_event():
    t = np.arange(78.0)
    y = _noise(4) - 0.08 * t  # improving all along, nothing at the event
    v = _judge(y)
    assert v.has_trend and v.outcome == "no_clear_change"
    assert "extrapolat" in " ".join(v.reasons)


def test_a_slope_the_after_window_does_not_carry_on_is_not_taken_for_a_trend(monkeypatch):
    t = np.arange(78.0)
    u = _noise(323, 0.5)
    step = np.r_[np.zeros(52), np.ones(26)]
    # a step on a baseline whose slope is clear on the baseline alone (p 0.035, pointing the
    # improving way); the after window is flat, not the slope carried on, so in the model with
    # both the step is the clearer and the slope is not extrapolated
    v = _judge(u - 1.5 * step)
    assert np.polyfit(t[:52], u[:52], 1)[0] < 0 and v.trend_pvalue < 0.05
    assert not v.has_trend and v.outcome == "sustained"
    assert "a step at the change explains the whole series more clearly" in v.reasons[0]
    # the same noise with a slope carried on through the after window: the slope is the clearer,
    # it is modelled and nothing is credited
    w = _judge(u - 0.02 * t)
    assert w.has_trend and w.outcome == "no_clear_change"
    assert "extrapolation" in w.reasons[0]
    # switched off (every baseline slope extrapolated), the step is taken for the trend
    monkeypatch.setattr(verdicts, "_trend_is_clearer", lambda fit, alpha: (True, math.inf, 0.0))
    off = _judge(u - 1.5 * step)
    assert off.has_trend and off.outcome == "no_clear_change"


def test_a_bigger_gain_against_a_clear_trend_keeps_the_trends_line(monkeypatch):
    # a clear worsening trend (0.04 a week) and a gain at the event against it: judged against
    # the trend's line the gain is sustained; a bigger gain makes the step clearer than the
    # slope, and were the trend then given up, the after window against the baseline level
    # (which the trend had already left behind) would no longer show a clear gain
    t = np.arange(78.0)
    y = _noise(1749267268, 0.076) + 0.0417 * t
    step = np.r_[np.zeros(52), np.ones(26)]
    small, big = _judge(y - 1.322 * step), _judge(y - 2.221 * step)
    assert small.outcome == big.outcome == "sustained" and small.has_trend and big.has_trend
    assert "went against it" in big.reasons[0]
    # switched off (the slope only when it is the clearer), the bigger gain lowers the verdict
    clearer = verdicts._trend_is_clearer

    def comparison_only(fit, alpha):
        _, t_slope, t_step = clearer(fit, alpha)
        return t_slope > t_step, t_slope, t_step

    monkeypatch.setattr(verdicts, "_trend_is_clearer", comparison_only)
    assert _judge(y - 2.221 * step).outcome == "no_clear_change"


def test_proportions_report_percentage_points():
    rng = np.random.default_rng(5)
    n = np.full(78, 400.0)
    p = np.r_[np.full(52, 0.10), np.full(26, 0.06)]
    x = rng.binomial(400, p).astype(float)
    v = judge_change(_frame(x, n), change_at=CHANGE, kind="proportion", better="lower")
    assert v.outcome == "sustained"
    fig = v.figure
    assert fig is not None and fig["unit"] == "percentage_points"
    # pooled difference in percentage points is close to the true -4 points
    assert fig["ci_low"] < -4 < fig["ci_high"] < 0
    assert v.effect is not None and v.effect.relative is not None  # relative is named relative


def test_counts_use_the_poisson_glm_with_exposure():
    rng = np.random.default_rng(6)
    n = rng.uniform(40, 60, 78)
    rate = np.r_[np.full(52, 2.0), np.full(26, 1.4)]
    x = rng.poisson(n * rate).astype(float)
    v = judge_change(_frame(x, n), change_at=CHANGE, kind="count", better="lower")
    assert v.outcome == "sustained" and "Poisson" in v.method
    assert v.effect is not None and v.effect.relative == pytest.approx(-30, abs=8)


def test_a_missing_period_is_a_gap_not_a_shift():
    y = _noise(7) - 3 * np.r_[np.zeros(52), np.ones(26)]
    full = _frame(y)
    gappy = full.drop(index=[10, 60]).reset_index(drop=True)  # rows absent
    as_nan = full.copy()
    as_nan.loc[[10, 60], "value"] = np.nan  # rows present, values missing
    a = judge_change(gappy, change_at=CHANGE, better="lower")
    b = judge_change(as_nan, change_at=CHANGE, better="lower")
    assert a.outcome == b.outcome == "sustained"
    assert a.effect is not None and b.effect is not None
    assert_allclose(a.effect.estimate, b.effect.estimate, rtol=1e-9)
    assert a.n_missing == b.n_missing == 2


# --------------------------------------------------------------------------- properties

series = st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=78, max_size=78)


@settings(max_examples=25, deadline=None)
@given(series, st.floats(-3, 3))
def test_mirroring_the_direction_swaps_improvement_and_worsening(noise, shift):
    y = 10 + np.asarray(noise) + shift * np.r_[np.zeros(52), np.ones(26)]
    lower, higher = _judge(y, "lower").outcome, _judge(y, "higher").outcome
    credited = ("sustained", "faded")
    if lower in credited:
        assert higher == "worsened"
    elif lower == "worsened":
        assert higher in credited
    else:
        assert higher == lower  # no_clear_change either way
    # mirroring the values (y -> 20 - y) with the same direction is the same as flipping it
    assert _judge(20 - y, "lower").outcome == higher


@settings(max_examples=15, deadline=None)
@given(st.floats(-1e3, 1e3, allow_nan=False), st.sampled_from(["lower", "higher", "neutral"]))
def test_a_constant_series_is_no_clear_change(level, better):
    assert _judge(np.full(78, level), better).outcome == "no_clear_change"


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (np.full(78, 5.0), "continuous"),  # quoted 'autocorrelation 0.98' from rounding noise
        (np.full(78, 0.3), "continuous"),
        (np.r_[np.full(52, 5.0), np.full(26, 4.0)], "continuous"),  # an exact step
        (np.full(78, 3.0), "proportion"),  # 3 of 10 every week: 0.68
        (np.zeros(78), "proportion"),  # not a single event: 0.95
        (np.full(78, 3.0), "count"),  # 0.85
    ],
)
def test_a_series_without_variation_quotes_no_autocorrelation(values, kind):
    f = _frame(values, n=10.0)
    v = judge_change(f, change_at=CHANGE, transition_start=CHANGE, kind=kind, better="lower")
    assert v.autocorrelation is None
    assert not any("autocorrelation" in r for r in v.reasons)
    assert v.to_dict()["autocorrelation"] is None


def test_a_noisy_series_still_quotes_its_autocorrelation():
    v = _judge(_noise(3, phi=0.8))
    assert v.autocorrelation is not None and v.autocorrelation > 0.2
    assert any("autocorrelation" in r for r in v.reasons)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.floats(0, 0.6), st.floats(-2, 2), st.floats(0.01, 3))
def test_a_bigger_true_effect_never_lowers_the_verdict(seed, phi, gain, extra):
    y = _noise(seed, phi)
    step = np.r_[np.zeros(52), np.ones(26)]
    smaller = _judge(y - gain * step).outcome  # lower is better: a gain is a fall
    bigger = _judge(y - (gain + extra) * step).outcome
    assert ORDER[bigger] >= ORDER[smaller], (smaller, bigger)


# --------------------------------------------------------------------------- the period grid


def test_period_numbers_keep_every_period_in_its_place():
    weeks = pd.date_range("2026-01-05", periods=6, freq="W-MON").delete(2)
    assert period_numbers(weeks).tolist() == [1, 2, 4, 5, 6]
    months = pd.date_range("2025-01-01", periods=14, freq="MS").delete([3, 4])
    assert period_numbers(months).tolist() == [1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert period_numbers([3.0, 4.0, 6.0]).tolist() == [1, 2, 4]


def test_segmented_regression_numbers_time_on_the_full_grid():
    # the example: slope 2 a week, a level drop of -5 at week 8, week 3 empty, plus a
    # small fixed wiggle so that the fit is not exact
    weeks = np.array([w for w in range(1, 21) if w != 3], dtype=float)
    wiggle = 0.3 * np.sin(weeks)
    y = 2 * weeks - 5 * (weeks >= 8) + wiggle
    dates = pd.date_range("2026-01-05", periods=20, freq="W-MON")[weeks.astype(int) - 1]
    seg = estimate_impact(
        pd.DataFrame({"time": dates, "value": y}), change_at=dates[6]
    ).segmented_regression
    assert seg is not None
    # reference: R lm(value ~ t + post + t_after) with t = week, post = week >= 8 and
    # t_after = (week - 7) * post; computed independently here by least squares on that design
    post = (weeks >= 8).astype(float)
    X = np.column_stack([np.ones_like(weeks), weeks, post, (weeks - 7) * post])
    ref, *_ = np.linalg.lstsq(X, y, rcond=None)
    got = [seg.coefficients[k].estimate for k in ("intercept", "pre_slope", "level_change",
                                                  "slope_change")]  # fmt: skip
    assert_allclose(got, ref, rtol=1e-6, atol=1e-9)
    assert abs(seg.slope_change.estimate) < 0.1  # numbering by row gave about -0.46
    assert_allclose(seg.classical["slope_change"].se, sm.OLS(y, X).fit().bse[3], rtol=1e-6)


def test_the_count_figure_is_the_rate_ratio_minus_one():
    # a gain that fades inside the after window (rates 2.0 -> 0.5 -> 2.0): the mean of the log
    # rate (a geometric mean) would say -56%, the observed rates say -43%
    rng = np.random.default_rng(11)
    n = rng.uniform(40, 60, 78)
    rate = np.r_[np.full(52, 2.0), np.full(13, 0.5), np.full(13, 2.0)]
    x = rng.poisson(n * rate).astype(float)
    v = judge_change(_frame(x, n), change_at=CHANGE, kind="count", better="lower")
    assert v.autocorrelation == 0.0 and not v.has_trend  # so the reference below is the model
    # reference: statsmodels' Poisson GLM of value on the phase indicator with offset log n
    # (R: glm(value ~ after, family = poisson, offset = log(n))); the rate ratio is
    # exp(coef) = (sum after / exposure after) / (sum before / exposure before)
    after = np.r_[np.zeros(52), np.ones(26)]
    ref = sm.GLM(x, sm.add_constant(after), family=sm.families.Poisson(), offset=np.log(n)).fit()
    ratio = float(np.exp(ref.params[1]))
    assert_allclose(ratio, (x[52:].sum() / n[52:].sum()) / (x[:52].sum() / n[:52].sum()))
    fig = v.figure
    assert fig is not None and fig["unit"] == "percent"
    assert_allclose(fig["estimate"], 100 * (ratio - 1), atol=1e-6)
    assert fig["ci_low"] < fig["estimate"] < fig["ci_high"]
    # the levels shown beside it agree with the figure
    assert v.baseline_level is not None and v.after_level is not None
    assert_allclose(v.after_level / v.baseline_level - 1, ratio - 1, atol=1e-9)


def test_g_chart_points_are_numbered_by_event_order():
    # one point per incident at irregular dates: judged with event_order the verdict is the one
    # of the same values on a regular grid (each point one period), with no calendar gaps
    rng = np.random.default_rng(12)
    y = _noise(13) + 2 * np.r_[np.zeros(52), np.ones(26)]
    days = np.cumsum(rng.integers(1, 30, 78))
    times = pd.Timestamp("2025-01-01") + pd.to_timedelta(days, unit="D")
    irregular = pd.DataFrame({"time": times, "value": y})
    v = judge_change(irregular, change_at=times[52], better="higher", event_order=True)
    ref = judge_change(_frame(y), change_at=CHANGE, better="higher")
    assert v.n_missing == 0 and (v.n_before, v.n_after) == (ref.n_before, ref.n_after) == (52, 26)
    assert v.outcome == ref.outcome
    assert v.effect is not None and ref.effect is not None
    assert_allclose(v.effect.estimate, ref.effect.estimate)


def test_g_chart_segmented_regression_is_numbered_by_event_order_too():
    """The segmented regression of a g chart counts events as its verdict does: on the calendar
    grid its step was the smallest gap between two incidents (a day), so the panel's 'slope
    change per point' was per day. With event_order it is the regression on the event number
    (the values on a regular grid give the same coefficients), and the chart draws against it."""
    from pipeline.report.plots.impact import plot_segmented

    rng = np.random.default_rng(12)
    y = _noise(13) + 2 * np.r_[np.zeros(52), np.ones(26)]
    days = np.cumsum(rng.integers(1, 30, 78))
    times = pd.Timestamp("2025-01-01") + pd.to_timedelta(days, unit="D")
    irregular = pd.DataFrame({"time": times, "value": y})
    by_event = estimate_impact(irregular, change_at=times[52], event_order=True)
    ref = estimate_impact(_frame(y), change_at=CHANGE).segmented_regression
    seg = by_event.segmented_regression
    assert seg.is_event_order and not ref.is_event_order
    assert list(seg.series["t"]) == list(range(1, 79))
    for name in ("pre_slope", "level_change", "slope_change"):
        assert_allclose(seg.coefficients[name].estimate, ref.coefficients[name].estimate)
    calendar = estimate_impact(irregular, change_at=times[52]).segmented_regression
    assert calendar.series["t"].iloc[-1] > 78  # days since the first incident
    chart = plot_segmented(by_event, name="Days between incidents", unit="days")
    (points,) = [ln for ln in chart.figure.axes[0].get_lines() if ln.get_label() == "observed"]
    assert list(points.get_xdata()) == list(range(1, 53))
    assert "one point per occurrence in order, 52 points before" in chart.alt


def test_a_trend_counterfactual_is_held_at_the_lower_bound():
    # hours falling 0.35 a week until the event, then flat at 0.5: the baseline's line carried
    # forward predicts negative hours in the later after weeks; the metric cannot go below 0,
    # so the counterfactual is held at 0 there and the effect is measured against that
    t = np.arange(78.0)
    y = np.where(t < 52, 20.0 - 0.35 * t, 0.5) + 0.3 * _noise(5)
    free = _judge(y)
    held = _judge(y, lower_bound=0.0)
    assert free.has_trend and held.has_trend
    assert any("held at the bound" in r for r in held.reasons)
    assert not any("held at the bound" in r for r in free.reasons)
    # the counterfactual is raised on average by the mean of max(line, 0) - line; the effect,
    # its interval and the after level move by exactly that (the after level not at all)
    raised = held.baseline_level - free.baseline_level
    assert raised > 0
    assert_allclose(held.effect.estimate, free.effect.estimate - raised, rtol=1e-9)
    assert_allclose(held.effect.ci_low, free.effect.ci_low - raised, rtol=1e-9)
    assert held.after_level == pytest.approx(free.after_level)
    assert held.effect.pvalue > free.effect.pvalue  # a smaller worsening than the line implied


def test_counts_allow_for_a_latent_ar1_under_poisson_noise():
    """The Poisson path's covariance is AR(1) plus white noise (Zeger 1988), estimated by REML.

    Reference: the restricted log-likelihood written independently as the likelihood of the
    error contrasts K'e (K an orthonormal basis of the residual space; Patterson & Thompson
    1971), evaluated densely on a grid; the estimate must be at least as good as every grid point.
    """
    from scipy import linalg, stats

    from pipeline.stats.verdicts import _reml_ar1_noise

    rng = np.random.default_rng(12)
    tt = np.arange(78.0)
    latent = 0.2 * np.asarray(_noise(12, phi=0.8))
    e = latent / 0.2 * 0.7 + rng.standard_normal(78) * 0.7
    X = np.column_stack([np.ones(78), (tt >= 52).astype(float)])
    lag = np.abs(np.subtract.outer(tt, tt))
    K = linalg.null_space(X.T)

    def reml(rho, share):
        V = share * rho**lag + (1 - share) * np.eye(78)
        C = K.T @ V @ K
        z = K.T @ e
        s2 = float(z @ np.linalg.solve(C, z)) / K.shape[1]
        return stats.multivariate_normal(mean=np.zeros(K.shape[1]), cov=s2 * C).logpdf(z)

    rho, share = _reml_ar1_noise(e, X, tt)
    best_grid = max(reml(r, s) for r in np.linspace(0, 0.95, 20) for s in np.linspace(0, 1, 21))
    assert reml(rho, share) >= best_grid - 1e-2
    assert 0.5 < rho < 0.98 and 0.2 < share < 0.9  # both parts are there


def test_verdict_sentences_use_the_house_number_format():
    t = np.arange(78.0)
    v = _judge(_noise(4, phi=0.6) - 0.08 * t)
    text = " ".join(v.reasons)
    assert "p < 0.001" in text or "p = 0." in text
    assert "e-" not in text and "-0." not in text


@pytest.mark.parametrize(
    ("kind", "events"), [(Kind.COUNT, 0.0), (Kind.PROPORTION, 0.0), (Kind.PROPORTION, 50.0)]
)
def test_a_series_without_any_event_or_all_events_is_no_clear_change(kind, events):
    """A site with no incidents at all (or a proportion at 100% throughout): the GLM has no
    finite fit (statsmodels raised 'The first guess on the deviance function returned a nan'
    for the counts, and the proportions gave an interval of 0 to 100 points)."""
    t = pd.date_range("2025-01-06", periods=40, freq="W-MON")
    frame = pd.DataFrame({"time": t, "value": np.full(40, events), "n": np.full(40, 50.0)})
    v = judge_change(frame, change_at=t[20], kind=kind, better=Better.LOWER)
    assert v.outcome == Verdict.NO_CLEAR_CHANGE
    assert "cannot show a change" in v.reasons[0] and v.figure is None
    assert (v.n_before, v.n_after) == (20, 20)


def _rare(after_events, *, kind=Kind.PROPORTION, seed=1):
    """20 weeks of about 3% defectives out of 200 (or 6 incidents per 200 units), then 12 weeks
    with no event but the ones placed in ``after_events`` (week index: events)."""
    rng = np.random.default_rng(seed)
    x = np.r_[rng.binomial(200, 0.03, 20), np.zeros(12)].astype(float)
    for week, k in after_events.items():
        x[20 + week] = k
    t = pd.date_range("2025-01-06", periods=32, freq="W-MON")
    f = pd.DataFrame({"time": t, "value": x, "n": 200.0})
    return judge_change(f, change_at=t[20], kind=kind, better=Better.LOWER, min_phase_points=12)


@pytest.mark.parametrize("kind", [Kind.PROPORTION, Kind.COUNT])
@pytest.mark.parametrize("after_events", [{}, {9: 1.0}, {3: 1.0, 9: 1.0}])
def test_no_or_one_event_after_the_change_is_judged_from_a_finite_fit(kind, after_events):
    """About 130 defectives in the 20 weeks before, none (or one, or two) in the 12 after.
    Maximum likelihood has no finite fit there (the after window's coefficient runs to minus
    infinity): with no event after, the verdict was no_clear_change with an interval of
    -1.9 to +98.1 points (p 0.999, the Hauck-Donner effect); with one event in the late half
    it was 'worsened' by +47.8 points, an after level of 50%. Firth's fit is finite: a clear
    improvement, its interval inside the values a proportion or a rate can take."""
    v = _rare(after_events, kind=kind)
    assert v.outcome == Verdict.SUSTAINED, v.reasons
    e = v.effect
    assert e is not None and e.ci_low < e.estimate < e.ci_high < 0
    for x in (e.estimate, e.ci_low, e.ci_high, v.baseline_level, v.after_level):
        assert math.isfinite(x)
    assert v.after_level >= 0 and v.baseline_level > 0
    if kind == Kind.PROPORTION:
        # a difference of percentage points: never below minus the counterfactual level
        assert e.ci_low >= -100 * v.baseline_level
    assert e.relative_low is not None and e.relative_low >= -100


@pytest.mark.parametrize("kind", [Kind.PROPORTION, Kind.COUNT])
def test_the_firth_fit_adds_half_an_event_to_each_group(kind):
    """Firth (1993); Heinze & Schemper (2002): with one parameter per group (here before and
    after) the bias-reduced estimate adds 1/2 to each cell: the log odds ratio of a 2 x 2 table
    with a zero cell is log((a + 1/2)(d + 1/2) / ((b + 1/2)(c + 1/2))) (the Haldane-Anscombe
    estimate), the log rate ratio log((xa + 1/2) / na) - log((xb + 1/2) / nb)."""
    y = np.r_[[3.0, 5.0, 4.0, 6.0], np.zeros(4)]
    n = np.full(8, 100.0)
    X = np.column_stack([np.ones(8), np.r_[np.zeros(4), np.ones(4)]])
    beta, mu = fit_firth(y, n, X, kind)
    xb, xa, nb, na = 18.0, 0.0, 400.0, 400.0
    if kind == Kind.PROPORTION:
        expected = math.log((xa + 0.5) * (nb - xb + 0.5) / ((na - xa + 0.5) * (xb + 0.5)))
        assert_allclose(beta[0], math.log((xb + 0.5) / (nb - xb + 0.5)), rtol=1e-9)
    else:
        expected = math.log((xa + 0.5) / na) - math.log((xb + 0.5) / nb)
        assert_allclose(mu[4:].sum(), xa + 0.5, rtol=1e-9)
    assert_allclose(beta[1], expected, rtol=1e-9)


def test_a_difference_in_points_carries_the_baseline_levels_own_uncertainty():
    """About 70% of 100 a week for 20 weeks, then 12 weeks with none. Held at the baseline's
    estimate, the difference in points read "fell 70 points (95% CI -70.x to -70.y)", a tenth of a
    point wide, though the baseline level alone is known to about +-2 points (20 x 100 trials,
    Wilson). The interval now spans that uncertainty, stays inside -100 m0 .. 0, and the verdict,
    its test and the relative change (the ratio's interval) are what they were."""
    from statsmodels.stats.proportion import proportion_confint

    rng = np.random.default_rng(3)
    x = np.r_[rng.binomial(100, 0.7, 20), np.zeros(12)].astype(float)
    t = pd.date_range("2025-01-06", periods=32, freq="W-MON")
    f = pd.DataFrame({"time": t, "value": x, "n": 100.0})
    v = judge_change(f, change_at=t[20], kind=Kind.PROPORTION, better=Better.LOWER,
                     min_phase_points=12)  # fmt: skip
    assert v.outcome == Verdict.SUSTAINED
    e = v.effect
    assert e is not None and e.scale == "percentage_points"
    lo, hi = proportion_confint(x[:20].sum(), 2000, method="wilson")
    baseline_half_width = 100 * (hi - lo) / 2
    assert e.ci_high - e.ci_low >= baseline_half_width, (e.ci_low, e.ci_high, baseline_half_width)
    assert -100 * v.baseline_level <= e.ci_low < e.estimate < e.ci_high < 0
    assert e.relative_low is not None and -100 <= e.relative_low < e.relative < -99


@pytest.mark.parametrize("level", [0.0, 5.0, -3.25, 1e9 + 0.5])
def test_a_measured_series_that_does_not_vary_has_no_interval_or_test(level):
    """One value throughout: the effect is exactly 0 (no rounding residue) with no interval
    and no p-value, on any scale; one reading a millionth of the level off it (a thousand times
    the tolerance, ``NO_VARIATION_RTOL``) is variation and is tested."""
    v = _judge(np.full(70, level))
    assert v.is_constant and v.outcome == Verdict.NO_CLEAR_CHANGE
    assert v.effect.estimate == 0.0 and v.effect.ci_low is None and v.effect.ci_high is None
    assert v.effect.pvalue is None and v.autocorrelation is None
    assert "no variation: no test possible" in v.reasons[0]
    assert v.to_dict()["figure"]["ci_low"] is None and v.to_dict()["is_constant"] is True
    almost = np.full(70, level)
    almost[60] += 1e-6 * (1.0 + abs(level))
    w = _judge(almost)
    assert not w.is_constant and w.effect.ci_low is not None and w.effect.pvalue is not None
