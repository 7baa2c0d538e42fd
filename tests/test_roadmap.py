"""Roadmap: grouping by goal, overdue rules, targets in words, escaping, timeline chart."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipeline.data.inputs import parse_table
from pipeline.formatting import shorten
from pipeline.report.plots.roadmap import plot_roadmap
from pipeline.stats.roadmap import OTHER_GROUP, build_roadmap, describe_target
from tests.test_culture import assert_clean, typed_demo

AS_OF = pd.Timestamp("2026-03-31")
HOSTILE = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


def _events(rows: list[dict]) -> pd.DataFrame:
    base = {"site_id": "s", "kind": "kaizen_event", "metric_ids": "m1", "owner": "Cell team",
            "goal_id": None, "end_date": None}  # fmt: skip
    return parse_table("events", pd.DataFrame([base | r for r in rows]))[0]


def _goals(rows: list[dict]) -> pd.DataFrame:
    base = {"site_id": "s", "metric_id": "m1", "baseline_start": "2025-01-01",
            "baseline_end": "2025-06-30", "target_kind": "relative", "target_value": -0.5}  # fmt: skip
    return parse_table("goals", pd.DataFrame([base | r for r in rows]))[0]


def _event(eid, status, start, eff, end=None, goal=None, title=None):
    return {"event_id": eid, "title": title or f"Event {eid}", "status": status,
            "start_date": start, "effective_date": eff, "end_date": end, "goal_id": goal}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "eff", "end", "overdue", "days"),
    [
        ("planned", "2026-03-30", None, True, 1),  # should be effective by now: 31 - 30 = 1 day
        ("planned", "2026-03-31", None, False, 0),  # effective today: not yet late
        ("planned", "2026-04-10", "2026-04-20", False, 0),
        ("in_progress", "2026-02-16", None, True, 43),  # no end: effective 16 Feb + 43 d = 31 Mar
        ("in_progress", "2026-02-16", "2026-04-30", False, 0),  # follow-up until a future end
        ("in_progress", "2026-02-16", "2026-03-01", True, 30),  # end passed 30 days ago
        ("done", "2025-01-01", "2025-02-01", False, 0),
        ("cancelled", "2025-01-01", None, False, 0),
    ],
)
def test_event_overdue_rules(status, eff, end, overdue, days):
    ev = _events([_event("E1", status, "2025-12-01", eff, end)])
    item = build_roadmap(events=ev, goals=None, as_of=AS_OF).items[0]
    assert item.is_overdue is overdue
    assert item.days_overdue == days
    assert bool(item.overdue_reason) is overdue


def test_goal_overdue_and_days_left():
    goals = _goals([
        {"goal_id": "G1", "title": "Past, not achieved", "due_date": "2026-03-01"},
        {"goal_id": "G2", "title": "Past, achieved", "due_date": "2026-03-01"},
        {"goal_id": "G3", "title": "Past, no verdict", "due_date": "2026-03-30"},
        {"goal_id": "G4", "title": "Future", "due_date": "2026-04-30"},
        {"goal_id": "G5", "title": "Today", "due_date": "2026-03-31"},
    ])  # fmt: skip
    r = build_roadmap(events=None, goals=goals, as_of=AS_OF, achieved={"G1": False, "G2": True})
    g = {row.goal_id: row for row in r.goals}
    assert g["G1"].is_overdue and g["G1"].days_to_due == -30  # 1 Mar to 31 Mar
    assert g["G1"].due_text == "overdue by 30 days"
    assert not g["G2"].is_overdue and g["G2"].due_text.startswith("achieved")
    assert g["G3"].is_overdue and g["G3"].due_text == "overdue by 1 day"  # not known achieved
    assert not g["G4"].is_overdue and g["G4"].due_text == "30 days left"
    assert not g["G5"].is_overdue and g["G5"].due_text == "due today"
    assert [row.goal_id for row in r.overdue_goals] == ["G1", "G3"]
    assert_clean(r.to_dict())


@pytest.mark.parametrize(
    ("kind", "value", "better", "text"),
    [
        ("relative", -0.5, None, "halve it (−50%)"),
        ("relative", -0.3, None, "cut it by 30% (−30%)"),
        ("relative", 0.25, None, "raise it by 25% (+25%)"),
        ("relative", 1.0, None, "double it (+100%)"),
        ("absolute", 2.0, "lower", "at most 2.00"),
        ("absolute", 0.03, "lower", "at most 0.030"),
        ("absolute", 95, "higher", "at least 95.0"),
        ("absolute", 4.0, "neutral", "reach 4.00"),
        ("absolute", float("nan"), "lower", "no target set"),
    ],
)
def test_describe_target(kind, value, better, text):
    assert describe_target(kind, value, better) == text


def test_grouping_order_and_other_group():
    goals = _goals([
        {"goal_id": "G2", "title": "Later goal", "due_date": "2026-12-31"},
        {"goal_id": "G1", "title": "Sooner goal", "due_date": "2026-06-30"},
        {"goal_id": "G9", "title": "Goal without events", "due_date": "2026-09-30"},
    ])  # fmt: skip
    ev = _events([
        _event("E3", "done", "2025-05-01", "2025-05-10", goal="G1"),
        _event("E1", "done", "2025-03-01", "2025-03-10", goal="G1"),
        _event("E2", "planned", "2026-05-01", "2026-05-10", goal="G2"),
        _event("E4", "done", "2025-02-01", "2025-02-10"),
        _event("E5", "done", "2025-02-01", "2025-02-10", goal="GX"),
    ])  # fmt: skip
    r = build_roadmap(events=ev, goals=goals, as_of=AS_OF)
    assert [g.title for g in r.groups] == [
        "Sooner goal", "Later goal", "Goal GX (not in the goals table)", OTHER_GROUP,
    ]  # fmt: skip
    assert [i.event_id for i in r.groups[0].items] == ["E1", "E3"]  # by start date
    assert [g.goal_id for g in r.goals] == ["G1", "G9", "G2"]  # by due date
    assert r.goals[0].target_text == "halve it (−50%)"
    assert r.goals[0].baseline_text == "1 Jan 2025 to 30 Jun 2025"
    frame = r.to_frame()
    assert len(frame) == 5 and frame.loc[frame.event_id == "E4", "group"].item() == OTHER_GROUP
    assert len(r.goals_frame()) == 3
    d = r.to_dict()
    assert_clean(d)
    assert d["n_events"] == 5 and d["groups"][-1]["title"] == OTHER_GROUP
    assert "goal_id" not in d["groups"][-1]  # absent rather than null


def test_html_escapes_every_string():
    goals = _goals([{"goal_id": "G1", "title": HOSTILE[1], "due_date": "2026-06-30"}])
    ev = _events([
        _event("E1", "in_progress", "2026-01-01", "2026-02-01", goal="G1", title=HOSTILE[0]),
        _event("E2", "done", "2025-01-01", "2025-02-01", title="Tom & Jerry's \"5S\""),
    ])  # fmt: skip
    ev.loc[1, "owner"] = HOSTILE[1]
    r = build_roadmap(events=ev, goals=goals, as_of=AS_OF)
    page = r._repr_html_()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Tom &amp; Jerry&#39;s &#34;5S&#34;" in page  # pandas' Styler escapes as markupsafe
    assert page.count("<caption>") == 2 and "⚠" in page  # overdue shown by symbol, not colour
    assert HOSTILE[0] in r.summary()  # plain text stays literal
    img = plot_roadmap(r)
    assert img.png.startswith(b"\x89PNG") and "OVERDUE" in img.alt
    assert "&lt;script&gt;" in img._repr_html_() and "<script>" not in img._repr_html_()


def test_shorten_labels():
    assert shorten("Short title", 38) == "Short title"
    long = "Express check-in: online pre-registration and key pick-up at the desk"
    t = shorten(long, 40)
    assert len(t) <= 40 and t.endswith("…") and t.startswith("Express check-in")


def test_demo_roadmaps_and_chart():
    t = typed_demo()
    for site in t["events"]["site_id"].unique():
        r = build_roadmap(
            events=t["events"][t["events"].site_id == site],
            goals=t["goals"][t["goals"].site_id.isin([site, "*"])],
            as_of=AS_OF, metrics=t["metrics"],
        )  # fmt: skip
        assert_clean(r.to_dict())
        assert r.items and r.goals
        text = r.summary() + r._repr_html_()
        assert not re.search(r"\b(nan|none|nat|inf)\b", text.lower())
        if site == "hotel-lisbon":
            # "Complaint recovery" is in progress, no end date, effective 16 Feb 2026: overdue;
            # its goal was due 31 Jan 2026 and is not known to be achieved
            assert [i.event_id for i in r.overdue_events] == ["HOT-E2"]
            assert [g.goal_id for g in r.overdue_goals] == ["HOT-G2"]
            assert r.goals[0].target_text.startswith("at most 2.00")  # complaints: lower is better
            img = plot_roadmap(r)
            assert img.alt.startswith("Roadmap timeline as of 31 Mar 2026: 2 improvements")
            assert "1 overdue improvement" in img.alt


def test_empty_roadmap_chart():
    r = build_roadmap(events=None, goals=None, as_of=AS_OF)
    assert r.is_empty and r.to_dict()["n_events"] == 0
    assert "No goals" in r._repr_html_()
    assert plot_roadmap(r).alt.endswith("no improvement events.")


def test_absolute_target_of_a_proportion_reads_as_a_percentage() -> None:
    from pipeline.stats.roadmap import describe_target

    assert describe_target("absolute", 0.03, "lower", is_rate=True) == "at most 3.0%"
    assert describe_target("absolute", 0.955, "higher", is_rate=True) == "at least 95.5%"
    assert describe_target("absolute", 2.0, "lower") == "at most 2.00"
    # the unit is said (the portfolio's "target: at most 5.0" had none)
    assert describe_target("absolute", 5.0, "lower", unit="minutes") == "at most 5.00 minutes"
    assert describe_target("absolute", 5.0, "lower", unit="% behind plan") == (
        "at most 5.00% behind plan"
    )


def test_the_legend_names_the_goal_due_line_only_where_one_is_drawn():
    """A site with no goals had "goal due" in its roadmap's legend, and no such line."""
    ev = _events([_event("E1", "done", "2025-03-01", "2025-03-10")])

    def labels(goals):
        image = plot_roadmap(build_roadmap(events=ev, goals=goals, as_of=AS_OF))
        (legend,) = image.figure.legends
        return [t.get_text() for t in legend.get_texts()]

    assert "goal due" not in labels(None)
    ev = _events([_event("E1", "done", "2025-03-01", "2025-03-10", goal="G1")])
    assert "goal due" in labels(_goals([{"goal_id": "G1", "title": "G", "due_date": "2026-06-30"}]))
