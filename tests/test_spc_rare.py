"""g and t charts for rare events, against qicharts2 0.8.1 and the closed forms of its source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from pipeline.exceptions import StatisticsError
from pipeline.stats.spc import control_chart

REF = Path(__file__).parent / "reference" / "qicharts2"


def test_t_chart_matches_qicharts2_montgomery_example_7_6():
    # qicharts2 tests/testthat/ex_7.6_1.rds: qic(failure, hours, data = tbl_07.14, chart = 't')
    ref = pd.read_csv(REF / "montgomery_7_6_t_chart.csv")
    for screen in (False, True):  # no moving range here reaches 3.267 x the mean: both agree
        ch = control_chart(ref["y"], chart="t", screen_mr=screen)
        assert_allclose(ch.centre, ref["cl"], rtol=1e-9)
        assert_allclose(ch.lcl, ref["lcl"], atol=1e-12)
        assert_allclose(ch.ucl, ref["ucl"], rtol=1e-9)
        rs = ch.run_stats[0]
        assert (rs.n_useful, rs.longest_run, rs.longest_run_max) == (20, 5, 7)
        assert (rs.crossings, rs.crossings_min) == (10, 6)
        assert not ch.signals and not ref["sigma.signal"].any()
    assert ch.rules == ("we1", "anhoej_run", "anhoej_crossings")


def test_t_chart_closed_form_with_gap_and_positive_lcl():
    # qicharts2 R/helper.functions.R qic.t: I chart of y^(1/3.6), lines back-transformed
    x = np.array([np.nan, 30, 34, 29, 31, 35, 28, 33, 30, 32, 29, 31, 36, 30])
    ch = control_chart(x, chart="t")
    y = x[1:] ** (1 / 3.6)
    amr = np.mean(np.abs(np.diff(y)))
    sd = amr / 1.128
    assert_allclose(ch.centre[1], y.mean() ** 3.6, rtol=1e-12)
    assert_allclose(ch.ucl[1], (y.mean() + 3 * sd) ** 3.6, rtol=1e-12)
    assert_allclose(ch.lcl[1], (y.mean() - 3 * sd) ** 3.6, rtol=1e-12)
    assert ch.lcl[1] > 0
    assert ch.to_dict()["points"][0]["value"] is None  # the first event: a gap


def test_g_chart_limits_from_the_mean_centre_the_median():
    # qicharts2 qic.g: cl = mean, sd = sqrt(cl (cl + 1)) (Montgomery 2013, p. 319),
    # limits cl +/- 3 sd with the LCL clipped at 0, then the centre line set to the median
    gaps = np.array([12, 3, 40, 7, 22, 1, 15, 9, 30, 4, 18, 65, 11, 6, 27])
    ch = control_chart(gaps, chart="g")
    m = gaps.mean()
    sd = np.sqrt(m * (m + 1))
    assert_allclose(ch.centre, np.median(gaps))
    assert_allclose(ch.ucl, m + 3 * sd)
    assert_allclose(ch.lcl, 0.0)
    assert_allclose(ch.phases[0].sigma, sd)
    assert ch.phases[0].centre == 12.0
    assert ch.rules == ("we1", "anhoej_run", "anhoej_crossings")
    assert ch.sigma_method == "geometric"


def test_g_chart_a_long_gap_is_an_improvement_when_longer_gaps_are_better():
    gaps = np.array([2, 3, 1, 4, 2, 3, 2, 1, 3, 2, 4, 2, 3, 1, 60])
    ch = control_chart(gaps, chart="g", better="higher")  # longer gaps: rarer incidents
    assert [(s.index, s.rule, s.label) for s in ch.signals] == [(14, "we1", "improvement")]


def test_zone_rules_are_not_evaluated_on_rare_event_charts():
    ch = control_chart([3, 5, 2, 8, 1, 4, 6, 2, 9, 3], chart="g", rules="all")
    assert not {"we2", "we3", "nelson5", "nelson7", "nhs_two_of_three"} & set(ch.rules)
    assert {"we1", "we4", "anhoej_run"} <= set(ch.rules)


@pytest.mark.parametrize(("chart", "values"), [("t", [3, 0, 5]), ("g", [3, -1, 5])])
def test_rare_event_charts_reject_impossible_values(chart, values):
    with pytest.raises(StatisticsError) as err:
        control_chart(values, chart=chart)
    assert err.value.rows == [1]
