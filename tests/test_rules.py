"""Signal rules: Western Electric, Nelson, Anhøj and NHS, with the conventions of PRODUCT.md.

Series are built by hand around a known centre (0) and sigma (1) so that every expected index
follows from the rule's definition; flags are compared with qcc's ``qccRulesViolating*``
(R/rules.R) where qcc and our conventions coincide (single phase, constant n).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stats import rules as R
from pipeline.stats.spc import control_chart


def flagged(values, rule):
    """Indexes flagged by ``rule`` among ``values`` judged against centre 0 and sigma 1."""
    v = np.asarray(values, dtype=float)
    one = np.ones_like(v)
    zones = R.Zones(lo1=-one, hi1=one, lo2=-2 * one, hi2=2 * one, lcl=-3 * one, ucl=3 * one)
    out = R.evaluate_rules(v, 0 * one, zones, np.zeros(v.shape[0], dtype=int), [rule])
    return np.nonzero(out[rule][0])[0].tolist()


def test_frozen_chart_uses_baseline_zones():
    # a calibration phase alternating +/-0.564 has mean 0 and mean moving range 1.128, so
    # sigma = 1; frozen, the later points are judged against centre 0 and sigma 1
    base = [0.564 * (1 if i % 2 else -1) for i in range(40)]
    ch = control_chart(
        base + [-0.5, 2.5, 0.5, 2.2, 3.5],
        phases=[1] * 40 + [2] * 5,
        freeze_baseline=True,
        rules="all",
    )
    assert ch.phases[0].centre == pytest.approx(0, abs=1e-12)
    assert ch.phases[0].sigma == pytest.approx(1, rel=1e-12)
    assert np.nonzero(ch.flags["we2"])[0].tolist() == [43, 44]
    assert np.nonzero(ch.flags["we1"])[0].tolist() == [44]


def test_rule_sets_and_defaults():
    assert R.resolve_rules(None, has_limits=True) == ("we1", "we2", "we3", "we4")
    assert R.resolve_rules(None, has_limits=False) == ("anhoej_run", "anhoej_crossings")
    assert len(R.resolve_rules("all", has_limits=True)) == 18
    assert R.resolve_rules(("nhs", "we1"), has_limits=True)[0] == "we1"
    assert R.resolve_rules("nelson", has_limits=False) == ("nelson2", "nelson3", "nelson4")
    with pytest.raises(ValueError, match="unknown rule set"):
        R.resolve_rules("xx", has_limits=True)


def test_we1_beyond_three_sigma_strictly():
    assert flagged([0, 3.5, 0, -3.2, 3.0], "we1") == [1, 3]


def test_we2_two_of_three_flags_the_completing_point_only_if_it_is_beyond():
    # points 0 and 2 beyond +2: point 2 completes the pattern; point 1 is not beyond -> not flagged
    assert flagged([2.5, 0.5, 2.2, 0.1, 0.1], "we2") == [2]
    # the pattern completed by a point that is itself not beyond is not flagged there
    assert flagged([0.1, 2.5, 2.2, 0.1], "we2") == [2]
    # ... and never before the 3rd point of a phase (the window must be complete)
    assert flagged([2.5, 2.2, 0.1], "we2") == []
    # opposite sides do not combine
    assert flagged([2.5, -2.5, 0.1], "we2") == []


def test_we3_four_of_five():
    assert flagged([1.5, 1.5, 0.2, 1.5, 1.5, 1.5, 0.0], "we3") == [4, 5]


def test_we4_eight_on_one_side_and_centre_line_breaks():
    run = [0.5] * 9
    assert flagged(run, "we4") == [7, 8]
    broken = [0.5] * 4 + [0.0] + [0.5] * 4
    assert flagged(broken, "we4") == []


def test_nelson_runs_trends_alternation():
    assert flagged([0.5] * 10, "nelson2") == [8, 9]
    assert flagged([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5], "nelson3") == [5, 6]
    # ties break a trend
    assert flagged([0, 0.1, 0.2, 0.2, 0.3, 0.4, 0.5], "nelson3") == []
    alt = [0.3 * (-1) ** i for i in range(15)]
    assert flagged(alt, "nelson4") == [13, 14]
    assert flagged(alt[:13], "nelson4") == []


def test_nelson_5_6_7_8():
    assert flagged([2.5, 0.5, 2.2], "nelson5") == [2]
    assert flagged([1.5, 1.5, 0.2, 1.5, 1.5], "nelson6") == [4]
    assert flagged([0.2, -0.3] * 8, "nelson7") == [14, 15]
    # 8 beyond 1 sigma with both sides present (qcc qccRulesViolatingNEL8)
    mix = [1.5, -1.5] * 4
    assert flagged(mix, "nelson8") == [7]
    assert flagged([1.5] * 8, "nelson8") == []


def test_nhs_rules():
    assert flagged([0.5] * 7, "nhs_shift") == [6]
    assert flagged([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "nhs_trend") == [6]
    assert flagged([0, 0.1, 0.2, 0.3, 0.4, 0.5], "nhs_trend") == []
    assert flagged([0, 3.5], "nhs_outside") == [1]
    assert flagged([0, -2.5, -2.1, 0], "nhs_two_of_three") == [2]


def test_windows_start_at_the_mth_point_of_each_phase():
    # 5 points above at the end of phase 1 and 4 at the start of phase 2: no 8-run in either
    x = [-1, 1] * 6 + [1.0] * 5 + [5, 4] + [5.0] * 4 + [4, 5, 4, 5]
    ph = [1] * 17 + [2] * 10
    ch = control_chart(x, phases=ph, rules="we4")
    assert not ch.flags["we4"][:17].any()
    assert not ch.flags["we4"][17:].any()


def test_missing_values_are_skipped_by_runs():
    x = [1.0, -1.0] * 10 + [2.0, 2.0, 2.0, np.nan, 2.0, 2.0, 2.0, 2.0, 2.0]
    ch = control_chart(x, phases=[1] * 20 + [2] * 9, freeze_baseline=True, rules="we4")
    assert ch.flags["we4"].sum() == 1 and ch.flags["we4"][-1]
    assert not ch.flags["we4"][23]


def test_labels_follow_better():
    x = [0.0, 1, -1, 0.5, -0.5] * 4 + [5.0]
    hi = control_chart(x, better="higher")
    lo = control_chart(x, better="lower")
    ne = control_chart(x)
    assert [s.label for s in hi.signals] == ["improvement"]
    assert [s.label for s in lo.signals] == ["concern"]
    assert [s.label for s in ne.signals] == ["neutral"]
    assert hi.variation() == "special_cause_improvement"
    assert lo.variation() == "special_cause_concern"
    assert ne.variation() == "special_cause_neutral"
    assert control_chart(x[:-1]).variation() == "common_cause"
    # on dispersion charts a higher spread is always a concern
    assert control_chart(x, chart="mr", better="higher").signals[-1].label == "concern"


# --------------------------------------------------------------------------- Anhøj


# qicharts2 (../shared/reference/README.md): n useful -> (longest run allowed, fewest crossings)
ANHOEJ_TABLE = {
    10: (6, 2), 12: (7, 3), 14: (7, 4), 17: (7, 5), 19: (7, 6), 22: (7, 7), 23: (8, 7),
    24: (8, 8), 27: (8, 9), 30: (8, 10), 35: (8, 12), 40: (8, 14), 45: (8, 17), 46: (9, 17),
    50: (9, 19), 60: (9, 23), 70: (9, 28), 80: (9, 32), 90: (9, 37), 91: (10, 37), 100: (10, 41),
}  # fmt: skip


@pytest.mark.parametrize("n", sorted(ANHOEJ_TABLE))
def test_anhoej_critical_values(n):
    # qicharts2 runs.analysis: round(log2(n)) + 3 and qbinom(0.05, n - 1, 0.5)
    assert (int(R.longest_run_max(n)), int(R.crossings_min(n))) == ANHOEJ_TABLE[n]


def test_anhoej_statistics_drop_centre_line_points_and_missing():
    # median 5: the three 5s are on the centre line and dropped, the NaN too
    x = [1, 2, 9, 5, 8, 7, np.nan, 3, 5, 2, 9, 8, 7, 6, 5, 1, 2]
    ch = control_chart(x, chart="run")
    rs = ch.run_stats[0]
    assert ch.phases[0].centre == 5
    useful = [v for v in x if not np.isnan(v) and v != 5]
    signs = np.sign(np.array(useful) - 5)
    runs = 1 + int(np.sum(signs[1:] != signs[:-1]))
    assert rs.n_useful == len(useful) == 13
    assert rs.crossings == runs - 1
    lengths, cur = [], 1
    for a, b in zip(signs[:-1], signs[1:], strict=True):
        if a == b:
            cur += 1
        else:
            lengths.append(cur)
            cur = 1
    lengths.append(cur)
    assert rs.longest_run == max(lengths)
    assert rs.longest_run_max == 7 and rs.crossings_min == 3


def test_anhoej_signals():
    # 20 points: 10 below then 10 above the median -> run of 10 > 7 and 1 crossing < 6
    x = list(range(1, 21))
    ch = control_chart(x, chart="run", better="higher")
    rs = ch.run_stats[0]
    assert (rs.n_useful, rs.longest_run, rs.longest_run_max, rs.crossings, rs.crossings_min) == (
        20, 10, 7, 1, 6,
    )  # fmt: skip
    run_idx = np.nonzero(ch.flags["anhoej_run"])[0].tolist()
    assert run_idx == [7, 8, 9, 17, 18, 19]  # from the 8th point of each run on
    labels = {s.index: s.label for s in ch.signals if s.rule == "anhoej_run"}
    assert labels[7] == "concern" and labels[17] == "improvement"
    assert ch.flags["anhoej_crossings"].all()
    assert ch.variation() == "special_cause_improvement"


def test_anhoej_per_phase_and_frozen():
    x = [1, 3] * 10 + [10, 12] * 10
    ph = [1] * 20 + [2] * 20
    rec = control_chart(x, phases=ph, rules="anhoej")
    assert [r.phase for r in rec.run_stats] == [1, 2]
    assert rec.run_stats[0].crossings == 19
    frz = control_chart(x, phases=ph, rules="anhoej", freeze_baseline=True)
    assert len(frz.run_stats) == 1 and frz.run_stats[0].n_useful == 40
    assert frz.run_stats[0].longest_run == 21  # the last 3 of phase 1 (above 2) + all of phase 2
