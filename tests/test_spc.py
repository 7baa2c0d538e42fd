"""Control charts against published qcc results (and qicharts2 / NHSRplotthedots conventions).

Reference data: tests/reference/qcc/*.csv (qcc's data sets, see tests/reference/README.md).
Published numbers are qcc's printed output (7 significant digits), so rtol=1e-6 is within the
printed precision (half a unit in the 7th digit is at most 5e-7 relative); limits printed as 0 are
compared with atol.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from pipeline.exceptions import StatisticsError
from pipeline.stats.spc import CHART_TYPES, ControlChart, c4, control_chart, d2, d3

REF = Path(__file__).parent / "reference" / "qcc"
RTOL = 1e-6


def load(name: str) -> pd.DataFrame:
    df = pd.read_csv(REF / f"{name}.csv")
    if "trial" in df:
        df["trial"] = df["trial"].astype(str).str.lower() == "true"
    return df


def limits(ch: ControlChart, phase: int = 0) -> tuple[float, float, float, float]:
    p = ch.phases[phase]
    return p.centre, p.sigma, p.lcl, p.ucl


# --------------------------------------------------------------------------- constants


def test_constants_are_qcc_tables_and_exact_c4():
    # qcc .qcc.options: exp.R.unscaled[2..25], se.R.unscaled[2..50]
    assert d2(2) == 1.128 and d2(5) == 2.326 and d2(25) == 3.931
    assert d3(2) == 0.8525033 and d3(5) == 0.8640855 and d3(50) == 0.6521506
    # beyond the tables: integrated, and continuing the tables smoothly
    assert 3.931 < d2(26) < 4.0
    assert 0.6500 < d3(51) < 0.6521506
    # c4 exact: Montgomery Appendix VI c4(5) = 0.9400, c4(25) = 0.9896; closed form for n = 2
    assert_allclose(c4(2), math.sqrt(2 / math.pi), rtol=1e-12)
    assert_allclose(c4([5, 25]), [0.9400, 0.9896], atol=5e-5)
    # D4(2) = 1 + 3 d3(2) / d2(2) = 3.2673 (PRODUCT.md conventions)
    assert_allclose(1 + 3 * d3(2) / d2(2), 3.267296, rtol=1e-6)


# --------------------------------------------------------------------------- variables charts


def test_xbar_r_pistonrings():
    t = load("pistonrings").query("trial")
    ch = control_chart(t["diameter"], chart="xbar_r", subgroups=t["sample"])
    # qcc vignette: qcc(diameter[trial], type="xbar") with diameter <- qcc.groups(diameter, sample)
    assert_allclose(limits(ch), (74.00118, 0.009785039, 73.98805, 74.0143), rtol=RTOL)
    assert ch.sigma_method == "UWAVE-R"
    assert len(ch) == 25 and set(ch.n) == {5.0}


def test_r_chart_pistonrings():
    t = load("pistonrings").query("trial")
    ch = control_chart(t["diameter"], chart="r", subgroups=t["sample"])
    # qcc vignette: qcc(diameter[trial], type="R")
    centre, sigma, lcl, ucl = limits(ch)
    assert_allclose((centre, sigma, ucl), (0.02276, 0.009785039, 0.04812533), rtol=RTOL)
    assert lcl == 0


def test_s_chart_pistonrings():
    t = load("pistonrings").query("trial")
    ch = control_chart(t["diameter"], chart="s", subgroups=t["sample"])
    # qcc vignette: qcc(diameter[trial], type="S")
    centre, sigma, lcl, ucl = limits(ch)
    assert_allclose((centre, sigma, ucl), (0.009240037, 0.009829977, 0.01930242), rtol=RTOL)
    assert lcl == 0
    assert ch.sigma_method == "UWAVE-SD"


def test_xbar_s_uses_s_over_c4():
    t = load("pistonrings").query("trial")
    ch = control_chart(t["diameter"], chart="xbar_s", subgroups=t["sample"])
    # qcc: qcc(diameter[trial], type="xbar", std.dev="UWAVE-SD"): sigma as the S chart's
    centre, sigma, lcl, ucl = limits(ch)
    assert_allclose((centre, sigma), (74.00118, 0.009829977), rtol=RTOL)
    assert_allclose(ucl, 74.00118 + 3 * 0.009829977 / math.sqrt(5), rtol=RTOL)


def test_xbar_frozen_baseline_is_qcc_newdata():
    df = load("pistonrings")
    ch = control_chart(
        df["diameter"], chart="xbar_r", subgroups=df["sample"],
        phases=np.where(df["trial"], "trial", "new"), freeze_baseline=True,
    )  # fmt: skip
    # qcc vignette: qcc(diameter[trial], type="xbar", newdata=diameter[!trial]): the new
    # samples are judged against the trial limits
    assert len(ch) == 40 and len(ch.phases) == 2
    assert_allclose(ch.lcl, 73.98805, rtol=RTOL)
    assert_allclose(ch.ucl, 74.0143, rtol=RTOL)
    assert ch.frozen and len(ch.run_stats) == 1 and ch.run_stats[0].phase is None
    # qcc flags samples 37, 38 and 39 beyond the UCL in that chart (index 36..38 here)
    assert [s.index for s in ch.signals if s.rule == "we1"] == [36, 37, 38]


def test_missing_reading_reduces_subgroup_n():
    t = load("pistonrings").query("trial").reset_index(drop=True)
    x = t["diameter"].to_numpy().copy()
    x[0] = np.nan  # first reading of sample 1
    ch = control_chart(x, chart="xbar_r", subgroups=t["sample"])
    assert ch.n[0] == 4 and ch.n[1] == 5
    # qcc: qcc(diameter[trial] with one NA, type="xbar"): mean R_i/d2(n_i) over subgroups,
    # centre sum(n_i xbar_i)/sum(n_i), limits per point with n_i
    g = pd.DataFrame({"x": x, "g": t["sample"]}).groupby("g")["x"]
    n, xbar, r = g.count().to_numpy(), g.mean().to_numpy(), (g.max() - g.min()).to_numpy()
    sigma = np.mean(r / np.where(n == 4, 2.059, 2.326))
    centre = np.sum(n * xbar) / np.sum(n)
    assert_allclose(ch.phases[0].sigma, sigma, rtol=1e-12)
    assert_allclose(ch.phases[0].centre, centre, rtol=1e-12)
    assert_allclose(ch.ucl[0], centre + 3 * sigma / 2, rtol=1e-12)
    assert ch.phases[0].ucl is None  # limits vary with n


def test_r_chart_variable_n_centre_is_weighted():
    # PRODUCT.md conventions: R chart centre with unequal n is sum(n_i R_i)/sum(n_i) (qcc stats.R)
    x = [1.0, 2.0, 4.0, 1.0, 1.5, 3.0, 5.0, 2.0, 2.5]
    g = [1, 1, 1, 2, 2, 3, 3, 3, 3]
    ch = control_chart(x, chart="r", subgroups=g)
    r = np.array([3.0, 0.5, 3.0])
    n = np.array([3, 2, 4])
    assert_allclose(ch.phases[0].centre, np.sum(n * r) / n.sum(), rtol=1e-12)
    sigma = np.mean(r / np.array([1.693, 1.128, 2.059]))
    assert_allclose(
        ch.ucl, np.sum(n * r) / n.sum() + 3 * np.array([0.8883697, 0.8525033, 0.8798108]) * sigma
    )


# --------------------------------------------------------------------------- individuals


def test_xmr_viscosity_mr_and_sd():
    t = load("viscosity").query("trial")
    ch = control_chart(t["viscosity"])
    # qcc vignette: qcc(viscosity[trial], type="xbar.one")
    assert_allclose(limits(ch), (34.088, 0.5076521, 32.56504, 35.61096), rtol=RTOL)
    assert ch.sigma_method == "MR"
    ch = control_chart(t["viscosity"], sigma_method="SD")
    # qcc vignette: qcc(viscosity[trial], type="xbar.one", std.dev="SD")
    assert_allclose(limits(ch), (34.088, 0.5769854, 32.35704, 35.81896), rtol=RTOL)


def test_xmr_viscosity_without_batch_4():
    t = load("viscosity").query("trial and batch != 4")
    ch = control_chart(t["viscosity"])
    # qcc vignette: qcc(viscosity[trial][-4], type="xbar.one")
    assert_allclose(limits(ch), (33.98947, 0.4117415, 32.75425, 35.2247), rtol=RTOL)


def test_missing_value_is_a_gap_and_its_moving_ranges_are_dropped():
    t = load("viscosity").query("trial")
    x = t["viscosity"].to_numpy().copy()
    x[3] = np.nan  # batch 4 missing instead of removed
    ch = control_chart(x)
    # qicharts2 qic.i: mr <- abs(diff(y)); amr <- mean(mr, na.rm = TRUE) -> the two moving
    # ranges touching the gap are dropped (qcc would join batches 3 and 5 instead)
    mr = np.abs(np.diff(x))
    assert_allclose(ch.phases[0].sigma, np.nanmean(mr) / 1.128, rtol=1e-12)
    assert_allclose(ch.phases[0].centre, np.nanmean(x), rtol=1e-12)
    assert len(ch) == len(x) and math.isnan(ch.value[3])
    assert ch.phases[0].n_points == len(x) - 1
    out = ch.to_dict()
    assert out["points"][3]["value"] is None and out["points"][3]["signals"] == []
    mrc = control_chart(x, chart="mr")
    assert np.isnan(mrc.value[[0, 3, 4]]).all()


def test_nhs_moving_range_screening():
    x = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    # NHSRplotthedots vignettes/deviations.Rmd: mean 1.94; limits -3.06 and 6.95 unscreened,
    # -0.72 and 4.6 with moving ranges >= 3.267 x mean MR screened out (printed to 2-3 digits)
    plain = control_chart(x)
    assert_allclose(limits(plain)[0], 1.94, atol=0.005)
    assert_allclose((plain.phases[0].lcl, plain.phases[0].ucl), (-3.06, 6.95), atol=0.005)
    screened = control_chart(x, screen_mr=True)
    assert_allclose((screened.phases[0].lcl, screened.phases[0].ucl), (-0.72, 4.6), atol=0.005)
    assert screened.sigma_method == "MR-screened"
    # exactly: the 8 and 9 moving ranges go, 15 ranges of 1 remain
    assert_allclose(screened.phases[0].sigma, 1 / 1.128, rtol=1e-12)


def test_mr_chart_constants():
    x = np.array([3.0, 5.0, 4.0, 8.0, 7.0, 7.5])
    ch = control_chart(x, chart="mr")
    mrbar = np.mean(np.abs(np.diff(x)))
    # qcc constants: UCL = D4(2) * MRbar = (1 + 3 * 0.8525033 / 1.128) * MRbar; LCL = 0
    assert_allclose(ch.phases[0].centre, mrbar, rtol=1e-12)
    assert_allclose(ch.phases[0].ucl, (1 + 3 * 0.8525033 / 1.128) * mrbar, rtol=1e-12)
    assert_allclose(ch.phases[0].ucl / mrbar, 3.2673, atol=5e-5)
    assert ch.phases[0].lcl == 0
    assert np.isnan(ch.value[0])
    assert ch.run_stats == ()  # no run statistics on the mr chart


# --------------------------------------------------------------------------- attributes


def test_p_chart_orangejuice():
    t = load("orangejuice").query("trial")
    ch = control_chart(t["D"], chart="p", n=t["size"])
    # qcc vignette: qcc(D[trial], sizes=size[trial], type="p")
    assert_allclose(limits(ch), (0.2313333, 0.05963526, 0.05242755, 0.4102391), rtol=RTOL)
    # qcc flags samples 15 and 23 beyond the UCL
    assert [s.index for s in ch.signals if s.rule == "we1"] == [14, 22]


def test_p_chart_orangejuice_without_15_and_23():
    t = load("orangejuice").query("trial and sample not in (15, 23)")
    ch = control_chart(t["D"], chart="p", n=t["size"])
    # qcc vignette: qcc(D[inc], sizes=size[inc], type="p"), inc = trial without samples 15, 23
    assert_allclose(limits(ch), (0.215, 0.05809905, 0.04070284, 0.3892972), rtol=RTOL)


def test_p_chart_orangejuice2_lcl_clipped():
    t = load("orangejuice2").query("trial")
    ch = control_chart(t["D"], chart="p", n=t["size"])
    # qcc vignette: qcc(orangejuice2$D[trial], sizes=size[trial], type="p"): LCL printed as 0
    centre, sigma, lcl, ucl = limits(ch)
    assert_allclose((centre, sigma, ucl), (0.1108333, 0.04439579, 0.2440207), rtol=RTOL)
    assert lcl == 0


def test_np_chart_orangejuice():
    t = load("orangejuice").query("trial")
    ch = control_chart(t["D"], chart="np", n=t["size"])
    # qcc vignette: qcc(D[trial], sizes=size[trial], type="np")
    assert_allclose(limits(ch), (11.56667, 2.981763, 2.621377, 20.51196), rtol=RTOL)


def test_c_chart_circuit():
    t = load("circuit").query("trial")
    ch = control_chart(t["x"], chart="c")
    # qcc vignette: qcc(x[trial], sizes=size[trial], type="c")
    assert_allclose(limits(ch), (19.84615, 4.454902, 6.481447, 33.21086), rtol=RTOL)
    t = t.query("sample not in (6, 20)")
    ch = control_chart(t["x"], chart="c")
    # qcc vignette: qcc(x[inc], sizes=size[inc], type="c"), inc = trial without samples 6, 20
    assert_allclose(limits(ch), (19.66667, 4.434712, 6.362532, 32.9708), rtol=RTOL)


def test_u_chart_circuit_and_pcmanufact():
    t = load("circuit").query("trial and sample not in (6, 20)")
    ch = control_chart(t["x"], chart="u", n=t["size"])
    # qcc vignette: qcc(x[inc], sizes=size[inc], type="u")
    assert_allclose(limits(ch), (0.1966667, 0.4434712, 0.06362532, 0.329708), rtol=RTOL)
    pc = load("pcmanufact")
    ch = control_chart(pc["x"], chart="u", n=pc["size"])
    # qcc vignette: qcc(pcmanufact$x, sizes=pcmanufact$size, type="u")
    assert_allclose(limits(ch), (1.93, 1.389244, 0.06613305, 3.793867), rtol=RTOL)


def test_u_chart_variable_n_gives_per_point_limits():
    x = np.array([4, 6, 3, 8, 5, 7.0])
    n = np.array([10, 20, 10, 40, 20, 10.0])
    ch = control_chart(x, chart="u", n=n)
    ubar = x.sum() / n.sum()
    # Montgomery (2013) eq. 7.17-7.19: ubar +/- 3 sqrt(ubar / n_i), LCL clipped at 0
    assert_allclose(ch.ucl, ubar + 3 * np.sqrt(ubar / n), rtol=1e-12)
    assert_allclose(ch.lcl, np.maximum(0, ubar - 3 * np.sqrt(ubar / n)), rtol=1e-12)
    assert ch.phases[0].ucl is None and ch.phases[0].centre == pytest.approx(ubar)


def laney(x, n, binomial=True):
    """Laney (2002) / qicharts2 qic.pprime and qic.uprime, written out step by step."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    y = x / n
    cl = x.sum() / n.sum()
    stdev = np.sqrt(cl * (1 - cl) / n) if binomial else np.sqrt(cl / n)
    z = (y - cl) / stdev
    sigma_z = np.nanmean(np.abs(np.diff(z))) / 1.128
    ucl = cl + 3 * stdev * sigma_z
    lcl = np.maximum(0, cl - 3 * stdev * sigma_z)
    if binomial:
        ucl = np.minimum(1, ucl)
    return cl, sigma_z, lcl, ucl


def test_p_prime_is_laney():
    # over-dispersed large-n data (hospital-style): counts and denominators
    x = [310, 365, 290, 402, 355, 330, 298, 415, 380, 341, 300, 377]
    n = [2950, 3100, 2800, 3300, 3050, 2990, 2870, 3350, 3200, 3010, 2900, 3150]
    ch = control_chart(x, chart="p_prime", n=n)
    cl, sigma_z, lcl, ucl = laney(x, n)
    # Laney (2002) eq. 3-5 as qicharts2::qic(x, n = n, chart = "pp") computes them:
    # z_i = (p_i - pbar) / sqrt(pbar (1-pbar) / n_i), sigma_z = mean |z_i - z_{i-1}| / 1.128,
    # limits pbar +/- 3 sqrt(pbar (1-pbar) / n_i) sigma_z
    assert_allclose(ch.phases[0].centre, cl, rtol=1e-12)
    assert_allclose(ch.phases[0].sigma_z, sigma_z, rtol=1e-12)
    assert_allclose(ch.lcl, lcl, rtol=1e-12)
    assert_allclose(ch.ucl, ucl, rtol=1e-12)
    assert sigma_z > 1  # over-dispersed: wider than the p chart
    p = control_chart(x, chart="p", n=n)
    assert np.all(ch.ucl > p.ucl)
    # with sigma_z = 1 the p' chart is the p chart (Laney 2002): rescale via the limits
    assert_allclose((ch.ucl - cl) / sigma_z, p.ucl - cl, rtol=1e-9)


def test_u_prime_is_laney():
    x = [120, 150, 98, 170, 133, 141, 160, 102, 149, 128]
    n = [1000, 1100, 900, 1200, 1000, 1050, 1150, 950, 1100, 1000]
    ch = control_chart(x, chart="u_prime", n=n)
    cl, sigma_z, lcl, ucl = laney(x, n, binomial=False)
    # qicharts2::qic(x, n = n, chart = "up"): as p' with the Poisson sigma sqrt(ubar / n_i)
    assert_allclose(ch.phases[0].sigma_z, sigma_z, rtol=1e-12)
    assert_allclose(ch.ucl, ucl, rtol=1e-12)
    assert_allclose(ch.lcl, lcl, rtol=1e-12)


def test_attribute_validation_errors():
    with pytest.raises(StatisticsError, match="needs n"):
        control_chart([1, 2, 3], chart="p")
    with pytest.raises(StatisticsError, match="exceed n"):
        control_chart([1, 20, 3], chart="p", n=[10, 10, 10])
    with pytest.raises(StatisticsError, match="greater than 0"):
        control_chart([1, 2, 3], chart="u", n=[10, 0, 10])
    with pytest.raises(StatisticsError, match="unknown chart"):
        control_chart([1, 2, 3], chart="zz")
    with pytest.raises(StatisticsError, match="subgroups"):
        control_chart([1, 2, 3], chart="xbar_r")
    with pytest.raises(StatisticsError, match="missing"):
        control_chart([np.nan, np.nan])
    with pytest.raises(StatisticsError, match="numbers"):
        control_chart(["a", "b"])
    with pytest.raises(StatisticsError, match="sigma_method"):
        control_chart([1.0, 2.0, 3.0], chart="p", n=[5, 5, 5], sigma_method="SD")


# --------------------------------------------------------------------------- run chart, phases


def test_run_chart_median_and_no_limits():
    x = [5, 3, 8, 6, 2, 9, 7, 4, 6, 5, 7.5]
    ch = control_chart(x, chart="run")
    assert ch.phases[0].centre == np.median(x)
    assert np.isnan(ch.ucl).all() and ch.phases[0].ucl is None
    assert ch.rules == ("anhoej_run", "anhoej_crossings")
    assert ch.sigma_method == "none"
    d = ch.to_dict()
    assert d["points"][0]["lcl"] is None and d["points"][0]["ucl"] is None


def test_phases_recalculate_and_moving_ranges_do_not_span():
    a = [10, 12, 11, 13, 12, 11, 10, 12, 13, 11, 12, 10]
    b = [20, 21, 19, 22, 20, 21]
    ch = control_chart(a + b, phases=["before"] * 12 + ["after"] * 6)
    assert [p.phase for p in ch.phases] == [1, 2]
    assert [p.label for p in ch.phases] == ["before", "after"]
    assert (ch.phases[0].first, ch.phases[0].last, ch.phases[1].first) == (0, 11, 12)
    assert_allclose(ch.phases[0].sigma, np.mean(np.abs(np.diff(a))) / 1.128)
    assert_allclose(ch.phases[1].sigma, np.mean(np.abs(np.diff(b))) / 1.128)
    assert_allclose(ch.phases[1].centre, np.mean(b))
    assert not ch.phases[0].is_provisional and ch.phases[1].is_provisional
    assert [r.phase for r in ch.run_stats] == [1, 2]
    mr = control_chart(a + b, chart="mr", phases=["before"] * 12 + ["after"] * 6)
    assert np.isnan(mr.value[12])  # first point of a phase has no moving range
    frozen = control_chart(a + b, phases=["before"] * 12 + ["after"] * 6, freeze_baseline=True)
    assert_allclose(frozen.ucl[12:], frozen.phases[0].ucl)
    assert frozen.phases[1].centre == frozen.phases[0].centre
    # the shift up by ~9 sigma is a signal against the old process
    assert frozen.has_concern() is False and frozen.signals_in(last=6)
    up = control_chart(a + b, phases=[1] * 12 + [2] * 6, freeze_baseline=True, better="higher")
    assert up.variation() == "special_cause_improvement"
    down = control_chart(a + b, phases=[1] * 12 + [2] * 6, freeze_baseline=True, better="lower")
    assert down.variation() == "special_cause_concern"
    assert down.has_concern(last=1) and not down.has_improvement()


def test_min_phase_points():
    x = list(range(10))
    assert control_chart(x).phases[0].is_provisional
    assert not control_chart(x, min_phase_points=10).phases[0].is_provisional


# --------------------------------------------------------------------------- output shape


def test_to_dict_is_the_cli_json_shape():
    t = load("viscosity")
    times = pd.date_range("2024-01-08", periods=len(t), freq="W-MON")
    ch = control_chart(t["viscosity"], times=times, phases=np.where(t["trial"], 1, 2), rules="all")
    d = json.loads(json.dumps(ch.to_dict()))
    assert list(d) == [
        "chart",
        "sigma_method",
        "lower_bound",
        "upper_bound",
        "phases",
        "points",
        "run_stats",
    ]
    assert list(d["phases"][0]) == ["phase", "first", "last", "centre", "sigma", "n_points"]
    assert list(d["points"][0]) == [
        "index", "time", "value", "n", "phase", "centre", "lcl", "ucl", "signals",
    ]  # fmt: skip
    assert list(d["run_stats"][0]) == [
        "phase", "n_useful", "longest_run", "longest_run_max", "crossings", "crossings_min",
    ]  # fmt: skip
    assert d["points"][0]["time"] == "2024-01-08" and d["points"][0]["n"] is None
    assert d["points"][-1]["phase"] == 2
    frame = ch.to_frame()
    assert list(frame.columns) == [
        "index", "time", "value", "n", "phase", "centre", "lcl", "ucl", "sigma", "signals",
    ]  # fmt: skip
    assert "phase 2" in ch.summary()
    assert "<table" in ch._repr_html_()
    with pytest.raises(AttributeError):
        ch.chart = "p"  # frozen


def _same_chart(a: ControlChart, b: ControlChart) -> None:
    import dataclasses

    for f in dataclasses.fields(ControlChart):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            assert not y.flags.writeable, f.name
            if x.dtype == object:
                assert all(
                    type(u) is type(v) and (u == v or u is v) for u, v in zip(x, y, strict=True)
                ), f.name
                assert [str(getattr(u, "tz", None)) for u in x] == [
                    str(getattr(v, "tz", None)) for v in y
                ], f.name
            else:
                assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name
        elif isinstance(x, dict):
            assert list(x) == list(y), f.name
            for k in x:
                assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), (f.name, k)
        elif f.name == "phases":
            for p, q in zip(x, y, strict=True):
                for g in dataclasses.fields(p):
                    u, v = getattr(p, g.name), getattr(q, g.name)
                    assert u == v or (u != u and v != v), (g.name, u, v)  # NaN == NaN here
        else:
            assert x == y, f.name


@pytest.mark.parametrize("chart", CHART_TYPES)
@pytest.mark.parametrize("tz", [None, "Europe/Lisbon"])
def test_a_chart_state_is_plain_json_and_gives_back_every_field_exactly(chart, tz):
    """to_state / from_state (what send draws the email's key charts from): every array with
    its dtype, NaN, time-zone-aware times across a DST change, exclusions and a frozen baseline
    come back equal; the text is plain JSON (no NaN tokens)."""
    rng = np.random.default_rng(11)
    m = 64
    x = rng.poisson(8, m).astype(float) / 3
    n = rng.integers(40, 60, m).astype(float)
    x[9] = np.nan
    exclude = np.zeros(m, dtype=bool)
    exclude[20] = True
    for frozen in (False, True):
        ch = control_chart(
            x, chart=chart, n=n if chart in {"p", "np", "u", "p_prime", "u_prime"} else None,
            subgroups=np.repeat(np.arange(m // 4), 4) if chart in {"xbar_r", "xbar_s", "r", "s"}
            else None, times=pd.date_range("2025-01-06", periods=m, freq="W-MON", tz=tz),
            phases=[1] * 40 + [2] * 24, rules="all", better="lower", freeze_baseline=frozen,
            exclude=exclude if chart not in {"xbar_r", "xbar_s", "r", "s", "mr"} else None,
        )  # fmt: skip
        text = json.dumps(ch.to_state(), allow_nan=False)
        _same_chart(ch, ControlChart.from_state(json.loads(text)))


def test_a_chart_state_of_another_version_is_refused():
    state = control_chart([1.0, 2.0, 3.0, 2.0, 1.0]).to_state()
    with pytest.raises(StatisticsError, match="chart state version"):
        ControlChart.from_state({**state, "state_version": 99})


@pytest.mark.parametrize("chart", CHART_TYPES)
def test_every_chart_type_runs_with_all_rules(chart):
    rng = np.random.default_rng(5)
    m = 60
    x = rng.poisson(8, m).astype(float)
    n = rng.integers(40, 60, m).astype(float)
    x[7] = np.nan
    ch = control_chart(
        x, chart=chart, n=n if chart in {"p", "np", "u", "p_prime", "u_prime"} else None,
        subgroups=np.repeat(np.arange(m // 4), 4) if chart in {"xbar_r", "xbar_s", "r", "s"} else None,
        phases=[1] * 40 + [2] * 20, rules="all", better="higher",
    )  # fmt: skip
    assert ch.chart == chart
    lo, hi = ch.lcl, ch.ucl
    ok = ~np.isnan(lo)
    assert np.all(lo[ok] <= ch.centre[ok] + 1e-12) and np.all(ch.centre[ok] <= hi[ok] + 1e-12)
    json.dumps(ch.to_dict())


def test_metric_bounds_clip_limits_and_zones():
    t = load("viscosity").query("trial")
    # qcc vignette: qcc(viscosity[trial], type="xbar.one") gives LCL 32.56504, UCL 35.61096;
    # bounds inside them clip the limits (and the zones) and leave centre and sigma alone
    ch = control_chart(t["viscosity"], lower_bound=33.0, upper_bound=35.0)
    assert_allclose(limits(ch), (34.088, 0.5076521, 33.0, 35.0), rtol=RTOL)
    lo2, hi2 = ch.zone(2)  # 2 sigma: 33.07670, 35.09930 (centre ± 2 × 0.5076521)
    assert_allclose((lo2[0], hi2[0]), (34.088 - 2 * 0.5076521, 35.0), rtol=RTOL)
    assert ch.to_dict()["lower_bound"] == 33.0 and ch.to_dict()["upper_bound"] == 35.0
    # bounds outside the limits change nothing; NaN means no bound
    wide = control_chart(t["viscosity"], lower_bound=0, upper_bound=float("nan"))
    assert_allclose(limits(wide), (34.088, 0.5076521, 32.56504, 35.61096), rtol=RTOL)
    assert wide.upper_bound is None
    with pytest.raises(StatisticsError, match="below upper_bound"):
        control_chart(t["viscosity"], lower_bound=5, upper_bound=5)
    with pytest.raises(StatisticsError, match="lower_bound must be a number"):
        control_chart(t["viscosity"], lower_bound="none")
