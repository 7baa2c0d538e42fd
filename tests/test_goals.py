"""Goal progress, assurance, sustainment and event outcomes (rules from PRODUCT.md, NHS MDC)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.stats.goals import (
    EventDates,
    assess_assurance,
    assess_goal_progress,
    assess_sustainment,
    classify_outcome,
    evaluate_events,
    sequence_windows,
    target_level,
)


def test_target_level():
    assert target_level(40.0, "relative", -0.5) == 20.0  # halve it
    assert target_level(40.0, "absolute", 25.0) == 25.0


@pytest.mark.parametrize(
    ("current", "as_of", "status", "pct"),
    [
        (20.0, "2026-03-01", "achieved", 100.0),
        (30.0, "2026-03-01", "on_track", 50.0),  # half the change, a third of the time
        (35.0, "2026-09-01", "off_track", 25.0),  # a quarter of the change, ~2/3 of the time
        (35.0, "2027-02-01", "missed", 25.0),
    ],
)
def test_goal_progress(current, as_of, status, pct):
    g = assess_goal_progress(
        baseline=40.0, current=current, target_kind="relative", target_value=-0.5,
        start="2026-01-01", due="2026-12-31", as_of=as_of,
    )  # fmt: skip
    assert g.status == status
    assert g.percent_of_target == pytest.approx(pct)
    assert "nan" not in g.sentence() and g.to_dict()["status"] == status


@pytest.mark.parametrize(
    ("lcl", "ucl", "target", "better", "verdict"),
    [
        (2.0, 4.0, 5.0, "lower", "consistently_meets"),
        (2.0, 4.0, 3.0, "lower", "hit_and_miss"),
        (2.0, 4.0, 1.0, "lower", "consistently_fails"),
        (2.0, 4.0, 1.0, "higher", "consistently_meets"),
        (2.0, 4.0, 5.0, "higher", "consistently_fails"),
        (2.0, 4.0, 4.0, "lower", "consistently_meets"),  # on the limit counts as met
        (2.0, 4.0, 3.0, "neutral", "hit_and_miss"),
    ],
)
def test_assurance(lcl, ucl, target, better, verdict):
    assert assess_assurance(lcl=lcl, ucl=ucl, target=target, better=better).verdict == verdict


def test_sustainment_rule():
    ok = assess_sustainment(baseline_centre=10, achieved_centre=6, latest_centre=7.5,
                            concern=[False] * 8, better="lower")  # fmt: skip
    assert ok.status == "sustained"  # 62.5% of the gain kept, no concern
    lost = assess_sustainment(baseline_centre=10, achieved_centre=6, latest_centre=8.5,
                              concern=[False] * 8, better="lower")  # fmt: skip
    assert lost.status == "not_sustained"  # 37.5% kept
    signal = assess_sustainment(baseline_centre=10, achieved_centre=6, latest_centre=6,
                                concern=[False] * 7 + [True], better="lower")  # fmt: skip
    assert signal.status == "not_sustained" and signal.has_recent_concern
    early = assess_sustainment(baseline_centre=10, achieved_centre=6, latest_centre=6,
                               concern=[False] * 5, better="lower")  # fmt: skip
    assert early.status == "too_early"
    none = assess_sustainment(baseline_centre=10, achieved_centre=11, latest_centre=11,
                              concern=[False] * 8, better="lower")  # fmt: skip
    assert none.status == "no_gain"


def test_classify_outcome_synthetic_cases():
    rng = np.random.default_rng(7)
    before = rng.normal(9, 0.5, 40)
    held = rng.normal(5, 0.5, 40)
    faded = np.r_[rng.normal(5, 0.5, 24), np.linspace(5, 8.6, 16) + rng.normal(0, 0.3, 16)]
    same = rng.normal(9, 0.5, 40)
    assert classify_outcome(before, held, better="lower").outcome == "sustained"
    assert classify_outcome(before, faded, better="lower").outcome == "faded"
    assert classify_outcome(before, same, better="lower").outcome == "no_clear_change"
    assert classify_outcome(before, held[:5], better="lower").outcome == "too_early"
    # a concern signal among the last 8 points means it is not holding
    flags = np.zeros(40, dtype=bool)
    flags[-1] = True
    assert classify_outcome(before, held, better="lower", concern=flags).outcome == "faded"


def test_sequence_windows_chain_change_points():
    times = pd.date_range("2025-01-06", periods=40, freq="W-MON")
    evs = [
        EventDates(event_id="B", start="2025-06-02", effective="2025-06-16"),
        EventDates(event_id="A", start="2025-02-17", effective="2025-03-03"),
    ]
    w = sequence_windows(times, evs)
    assert [x.event_id for x in w] == ["A", "B"]
    assert w[0].start == times[0] and w[0].change_at == pd.Timestamp("2025-03-03")
    assert w[0].end == pd.Timestamp("2025-05-26")  # last period before B's transition
    assert w[1].start == pd.Timestamp("2025-03-03")  # from the previous change point
    assert w[1].end == times[-1]


def test_demo_cases_are_classified_correctly():
    from pipeline.data.demo import DEMO_CASES, build_demo_tables
    from pipeline.stats.series import build_series

    tables = build_demo_tables("2026-11-27")
    obs, metrics, events = tables["observations"], tables["metrics"], tables["events"]
    expected = {"sustained": "sustained", "faded": "faded", "no_change": "no_clear_change"}
    for case, outcome in expected.items():
        site, metric, event_id = DEMO_CASES[case]
        m = metrics[metrics.metric_id == metric].iloc[0]
        o = obs[obs.site_id == site].copy()
        o["timestamp"] = pd.to_datetime(o["timestamp"])
        s = build_series(o, metric_id=metric, chart=m["chart"], period=m["period"],
                         aggregate=m["aggregate"])  # fmt: skip
        ev = events[(events.site_id == site) & events.metric_ids.str.contains(metric)
                    & (events.status != "cancelled")]  # fmt: skip
        dates = [EventDates(event_id=r.event_id, start=r.start_date, effective=r.effective_date)
                 for r in ev.itertuples()]  # fmt: skip
        res = {r.event_id: r for r in evaluate_events(s.points[["time", "value"]], dates,
                                                        better=m["better"])}  # fmt: skip
        assert res[event_id].outcome == outcome, (case, res[event_id].reasons)
