"""Goal progress, assurance, sustainment and event outcomes (rules from PRODUCT.md, NHS MDC)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.exceptions import StatisticsError
from pipeline.stats.goals import (
    EventDates,
    assess_assurance,
    assess_goal_progress,
    assess_sustainment,
    evaluate_events,
    sequence_windows,
    target_level,
)


def test_target_level():
    assert target_level(40.0, "relative", -0.5) == 20.0  # halve it
    assert target_level(40.0, "absolute", 25.0) == 25.0


@pytest.mark.parametrize("baseline", [0.0, -9.7e8])
def test_a_relative_target_refuses_a_baseline_at_or_below_zero(baseline):
    # +50% on a level of -9.7e8 would aim at -1.46e9, worse than the baseline it is to improve
    with pytest.raises(StatisticsError, match="absolute target"):
        target_level(baseline, "relative", 0.5, "higher")


def test_a_goal_whose_baseline_was_its_target_is_said_in_words():
    g = assess_goal_progress(
        baseline=5.0, current=5.0, target_kind="absolute", target_value=5.0,
        start="2026-01-01", due="2026-12-31", as_of="2026-06-01",
    )  # fmt: skip
    assert g.status == "achieved" and g.percent_of_target is None
    text = g.sentence("Flat metric")
    assert "n/a" not in text and "was at its target 5.00 from the baseline on" in text


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


def test_evaluate_events_gives_the_verdict_and_the_classical_figures():
    rng = np.random.default_rng(7)
    times = pd.date_range("2025-01-06", periods=80, freq="W-MON")
    values = np.r_[rng.normal(9, 0.5, 40), rng.normal(5, 0.5, 40)]
    frame = pd.DataFrame({"time": times, "value": values})
    (res,) = evaluate_events(
        frame, [EventDates(event_id="E", start=times[40], effective=times[40])], better="lower"
    )
    assert res.outcome == "sustained" and res.verdict.outcome == res.outcome
    assert res.impact is not None and res.impact.difference.estimate < 0  # classical, kept
    d = res.to_dict()
    assert d["outcome"] == "sustained" and d["verdict"]["outcome"] == "sustained"
    too_soon = evaluate_events(
        frame, [EventDates(event_id="E", start=times[75], effective=times[75])], better="lower"
    )[0]
    assert too_soon.outcome == "too_early"


def test_fading_goal_is_at_risk_not_on_track():
    kw = dict(baseline=40.0, current=30.0, target_kind="relative", target_value=-0.5,
              start="2026-01-01", due="2026-12-31", as_of="2026-03-01")  # fmt: skip
    assert assess_goal_progress(**kw).status == "on_track"
    g = assess_goal_progress(**kw, is_fading=True)
    assert g.status == "at_risk" and not g.is_on_track and "fading" in g.sentence()


@pytest.mark.parametrize(
    ("current", "better", "status"),
    [
        (10.4, "lower", "within"),  # tolerance 5% of 10: up to 10.5
        (10.6, "lower", "outside"),
        (8.0, "lower", "within"),  # better than the baseline is within a hold target
        (9.6, "higher", "within"),
        (9.4, "higher", "outside"),
        (10.6, "neutral", "outside"),
        (9.6, "neutral", "within"),
    ],
)
def test_hold_target_is_judged_within_or_outside(current, better, status):
    g = assess_goal_progress(
        baseline=10.0, current=current, target_kind="hold", target_value=0.05,
        start="2026-01-01", due="2026-12-31", as_of="2026-03-01", better=better,
    )  # fmt: skip
    assert g.status == status
    assert g.percent_of_target is None and "of the way" not in g.sentence()
    assert target_level(10.0, "hold", 0.05, "lower") == pytest.approx(10.5)
    assert target_level(10.0, "hold", 0.05, "higher") == pytest.approx(9.5)


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
        # the demo's check-in noise is AR(1) (phi 0.3): the verdict allows for it
        assert res[event_id].outcome == outcome, (case, res[event_id].reasons)


def test_goal_sentences_write_negative_numbers_with_the_minus_sign():
    g = assess_goal_progress(
        baseline=-2.0, current=-3.5, target_kind="absolute", target_value=-5.0,
        start="2026-01-01", due="2026-12-31", as_of="2026-06-01", better="lower",
    )  # fmt: skip
    text = g.sentence()
    assert "\u22122.00" in text and "\u22125.00" in text and "-" not in text.replace("—", "")


def test_a_metric_that_moved_away_from_its_target_says_so_not_a_negative_share():
    """The goals table said "−134%", the tile "0% of the way": one rule now, in one place."""
    from pipeline.formatting import fmt_progress

    g = assess_goal_progress(
        baseline=40.0, current=47.0, target_kind="relative", target_value=-0.25,
        start="2026-01-01", due="2026-12-31", as_of="2026-06-01",
    )  # fmt: skip
    assert g.percent_of_target == pytest.approx(-70.0) and g.status == "off_track"
    assert g.sentence("Wait") == (
        "Wait has moved away from its target 30.0: from its baseline 40.0 to 47.0 now: behind "
        "the pace needed for the due date."
    )
    assert fmt_progress(g.percent_of_target) == "0% (moved away)"
    assert [fmt_progress(v) for v in (62.4, -0.0, None)] == ["62%", "0%", "not enough data"]
