"""Exclusions (qicharts2's exclude) and configurable run and trend lengths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from pipeline.exceptions import StatisticsError
from pipeline.stats.rules import LIMIT_RULES, describe_rule
from pipeline.stats.spc import control_chart

QCC = Path(__file__).parent / "reference" / "qcc"
QIC = Path(__file__).parent / "reference" / "qicharts2"


def test_excluded_point_bridged_moving_range_matches_qcc_without_the_row():
    # shared reference README: qcc viscosity trial rows without batch 4, individuals chart:
    # centre 33.98947, sigma 0.4117415, limits 32.75425 to 35.2247 (qcc drops the row, so its
    # moving ranges bridge it, as ours do around an excluded point)
    v = pd.read_csv(QCC / "viscosity.csv")
    t = v[v["trial"]]
    ch = control_chart(t["viscosity"].to_numpy(), exclude=(t["batch"] == 4).to_numpy())
    ph = ch.phases[0]
    assert_allclose([ph.centre, ph.sigma, ph.lcl, ph.ucl], [33.98947, 0.4117415, 32.75425, 35.2247],
                    rtol=1e-6)  # fmt: skip
    # the excluded point is drawn and still judged against the limits
    i = int(np.nonzero((t["batch"] == 4).to_numpy())[0][0])
    pt = ch.to_dict()["points"][i]
    assert pt["excluded"] is True and pt["value"] == pytest.approx(35.96)
    assert pt["signals"] == ["we1"]


def test_c_chart_exclusions_and_frozen_baseline_match_qicharts2():
    # qicharts2 tests/testthat/ex_7.3_3.rds:
    # qic(sample, count, data = tbl_07.08, chart = 'c', exclude = c(6, 20), freeze = 26)
    ref = pd.read_csv(QIC / "montgomery_7_3_c_chart_exclude.csv")
    phases = np.where(ref["baseline"], 1, 2)
    ch = control_chart(ref["y"], chart="c", phases=phases, freeze_baseline=True,
                       exclude=~ref["include"].to_numpy(), rules=("we1", "anhoej"))  # fmt: skip
    assert_allclose(ch.centre, ref["cl"], rtol=1e-9)
    assert_allclose(ch.lcl, ref["lcl"], rtol=1e-9)
    assert_allclose(ch.ucl, ref["ucl"], rtol=1e-9)
    assert ch.flags["we1"].tolist() == ref["sigma.signal"].tolist()
    rs = ch.run_stats[0]
    r0 = ref.iloc[0]
    assert (rs.n_useful, rs.longest_run, rs.longest_run_max) == (
        r0["n.useful"], r0["longest.run"], r0["longest.run.max"])  # fmt: skip
    assert (rs.crossings, rs.crossings_min) == (r0["n.crossings"], r0["n.crossings.min"])


def test_excluded_points_leave_window_rules_and_subgroups_follow_their_readings():
    x = np.r_[np.full(7, 1.0), 9.0, np.full(4, 1.0)] + np.tile([0, 0.1], 6)
    ch = control_chart(x, exclude=[7], rules="all")
    at7 = {s.rule for s in ch.signals if s.index == 7}
    assert at7 == set(LIMIT_RULES)  # judged against the limits only
    sub = np.repeat(np.arange(1, 6), 3)
    vals = np.array([1, 2, 3, 2, 3, 4, 1, 2, 3, 9, 9, 9, 2, 3, 1], dtype=float)
    xb = control_chart(vals, chart="xbar_r", subgroups=sub, exclude=[10])
    assert xb.is_excluded.tolist() == [False, False, False, True, False]
    keep = np.isin(sub, [1, 2, 3, 5])
    assert_allclose(xb.phases[0].centre, vals[keep].mean())


def test_a_moving_range_chart_excludes_the_ranges_of_an_excluded_point():
    # The XmR chart's companion: with an excluded point it raised "exclusions are not supported
    # on a moving-range chart" and the fab's downtime chart (a power outage excluded) had no MR
    # chart. Its centre is the XmR chart's own average moving range, bridged over the excluded
    # point: qcc's sigma without batch 4 (0.4117415, as above) times d2 = 1.128.
    v = pd.read_csv(QCC / "viscosity.csv")
    t = v[v["trial"]]
    out = (t["batch"] == 4).to_numpy()
    mr = control_chart(t["viscosity"].to_numpy(), chart="mr", exclude=out)
    xmr = control_chart(t["viscosity"].to_numpy(), exclude=out)
    assert_allclose(mr.phases[0].centre, 0.4117415 * 1.128, rtol=1e-6)
    assert_allclose(mr.phases[0].centre, xmr.phases[0].sigma * 1.128, rtol=1e-12)
    i = int(np.nonzero(out)[0][0])
    # the ranges into and out of the excluded point are drawn as excluded; no other is
    assert np.nonzero(mr.is_excluded)[0].tolist() == [i, i + 1]
    assert_allclose(mr.value[i + 1], abs(t["viscosity"].iloc[i + 1] - t["viscosity"].iloc[i]))


def test_run_length_sets_we4_and_nhs_shift():
    x = np.r_[np.full(6, 1.0), np.full(6, 3.0)] + np.tile([0.0, 0.01], 6)
    default = control_chart(x, rules=("we4", "nhs_shift"))
    assert not default.signals
    ch = control_chart(x, rules=("we4", "nhs_shift"), run_length=6)
    # the run of 6 above the centre is flagged from its 6th point on (index 11), both rules
    assert sorted({s.index for s in ch.signals}) == [5, 11]
    assert {s.rule for s in ch.signals} == {"we4", "nhs_shift"}
    assert describe_rule("we4", run_length=6) == "6 points in a row on one side of the centre line"


def test_a_point_on_the_centre_line_breaks_a_run():
    x = np.array([2.0, 2, 2, 0, 2, 2, 2, -2, -2, -2, -2, -2, -2])
    ch = control_chart(x, rules="nhs_shift", run_length=4)
    assert ch.centre[0] == pytest.approx(x.mean())
    above = x > x.mean()
    # runs above: 3, then (a point below), 3: neither reaches 4; the run of 6 below does
    assert not any(above[s.index] for s in ch.signals)
    assert [s.index for s in ch.signals] == [10, 11, 12]


def test_trend_length_sets_nhs_trend_and_nelson3():
    x = np.array([5.0, 1, 2, 3, 4, 5, 0, 6, 1, 7, 2, 8])
    assert not control_chart(x, rules=("nhs_trend", "nelson3")).signals
    ch = control_chart(x, rules=("nhs_trend", "nelson3"), trend_length=5)
    assert {(s.index, s.rule) for s in ch.signals} == {(5, "nhs_trend"), (5, "nelson3")}
    with pytest.raises(StatisticsError):
        control_chart(x, trend_length=1)
