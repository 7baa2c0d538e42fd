"""Culture metrics: idea funnel, ideas per employee, participation, time to implement, savings,
surveys; checked by hand on small frames, run on the demo tables, charts rendered."""

from __future__ import annotations

import functools
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from pipeline.data.inputs import parse_table
from pipeline.report.plots import culture as plots
from pipeline.stats.culture import summarise_culture

AS_OF = pd.Timestamp("2025-03-31")
START = pd.Timestamp("2025-01-01")
D = pd.Timestamp


def assert_clean(obj, path="$"):
    """No None, NaN or infinity anywhere in a to_dict() result, and valid strict JSON."""
    if path == "$":
        json.dumps(obj, allow_nan=False)
    assert obj is not None, path
    if isinstance(obj, float):
        assert math.isfinite(obj), path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str), path
            assert_clean(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            assert_clean(v, f"{path}[{i}]")
    else:
        assert isinstance(obj, str | int | bool), (path, type(obj))


def _typed(name: str, rows: list[dict]) -> pd.DataFrame:
    return parse_table(name, pd.DataFrame(rows))[0]


def small_suggestions() -> pd.DataFrame:
    rows = [
        # submitted before the window: not in the cohort, but implemented inside it (21 days)
        ("S1", "2024-12-20", "A", "implemented", "2025-01-10", 100.0),
        ("S2", "2025-01-05", "A", "implemented", "2025-01-15", 200.0),  # 10 days
        ("S3", "2025-01-20", "B", "accepted", None, 50.0),
        ("S4", "2025-02-03", "A", "rejected", None, None),
        ("S5", "2025-02-10", "B", "implemented", "2025-03-12", None),  # 30 days, no estimate
        ("S6", "2025-03-01", "C", "submitted", None, None),
        ("S7", "2025-03-15", "A", "implemented", "2025-03-20", 300.0),  # 5 days
        ("S8", "2025-04-02", "A", "submitted", None, None),  # after as_of: ignored
    ]
    return _typed(
        "suggestions",
        [
            {"site_id": "s", "suggestion_id": i, "submitted_on": d, "area": a, "status": st,
             "implemented_on": imp, "estimated_saving": sav}
            for i, d, a, st, imp, sav in rows
        ],
    )  # fmt: skip


def small_headcount() -> pd.DataFrame:
    return _typed(
        "headcount",
        [{"site_id": "s", "month": m, "headcount": h}
         for m, h in (("2025-01-01", 50), ("2025-02-01", 50), ("2025-03-01", 40))],
    )  # fmt: skip


def test_hand_computed_small_site():
    c = summarise_culture(
        suggestions=small_suggestions(), headcount=small_headcount(), surveys=None,
        as_of=AS_OF, window_start=START,
    )  # fmt: skip
    assert c is not None
    f = c.funnel
    # cohort = S2..S7 (6 ideas); accepted = S2, S3, S5, S7 (implemented ones count as accepted)
    assert (f.submitted, f.accepted, f.implemented, f.rejected, f.awaiting) == (6, 4, 3, 1, 1)
    assert c.share_implemented == pytest.approx(3 / 6)
    # months Jan-Mar 2025: 2, 2, 2 ideas over 50, 50, 40 employees
    assert c.monthly["ideas"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(c.monthly["ideas_per_employee"], [0.04, 0.04, 0.05], rtol=1e-12)
    assert c.ideas_per_employee == pytest.approx(6 / 140)  # sum(ideas) / sum(headcount)
    assert c.ideas_per_employee_start is None  # fewer than 2 x 3 months: no start/end trend
    # areas A, B, C known; each month 2 of them submitted: (AB, AB, CA)
    assert c.n_areas == 3
    assert c.participation_rate == pytest.approx(2 / 3)
    # implemented in the window: S1 21, S2 10, S5 30, S7 5 days -> median (10 + 21) / 2
    assert c.median_days_to_implement == pytest.approx(15.5)
    assert c.n_implemented_in_window == 4
    assert c.time_to_implement.to_dict("list") == {
        "quarter": ["2025 Q1"], "quarter_start": [D("2025-01-01")], "implemented": [4],
        "median_days": [15.5],
    }  # fmt: skip
    # savings of the cohort's implemented ideas: S2 200 + S7 300 (S5 has no estimate)
    assert c.savings_total == pytest.approx(500.0)
    assert c.savings_estimates == 2
    area = c.by_area.set_index("area")
    assert area.index.tolist() == ["A", "B", "C"]  # by ideas, most first
    assert area.loc["A"].tolist() == [3, 2, pytest.approx(2 / 3), 500.0, 2]
    assert area.loc["B"].tolist() == [2, 1, 0.5, 0.0, 0]
    assert area.loc["C", "ideas"] == 1
    # 6 / 140 = 0.0429 per employee -> 4.3 per 100 employees
    assert c.findings[0] == (
        "Ideas per 100 employees averaged 4.3 a month; 50% of ideas were implemented, "
        "a median of 16 days after submission."
    )
    assert c.findings[1].startswith("A contributed the most ideas (3)")
    d = c.to_dict()
    assert_clean(d)
    assert d["funnel"]["share_implemented"] == 0.5
    assert d["ideas_per_100_employees"] == pytest.approx(600 / 140)
    assert "nan" not in c.summary().lower() and "none" not in c.summary().lower()
    frame = c.to_frame().set_index("measure")
    assert frame.loc["share_implemented", "text"] == "50%"


def test_trend_from_first_to_last_three_months():
    # Jul-Dec 2024: 1, 1, 1 ideas then 3, 3, 3 ideas, 100 employees throughout
    months = pd.date_range("2024-07-01", periods=6, freq="MS")
    rows = [{"site_id": "s", "suggestion_id": f"I{k}-{j}", "submitted_on": m + pd.Timedelta(days=3),
             "area": "A", "status": "submitted", "implemented_on": None, "estimated_saving": None}
            for k, (m, n) in enumerate(zip(months, [1, 1, 1, 3, 3, 3], strict=True))
            for j in range(n)]  # fmt: skip
    rows.append(dict(rows[0], suggestion_id="early", submitted_on=D("2024-06-10")))
    hc = [{"site_id": "s", "month": m, "headcount": 100.0} for m in months]
    c = summarise_culture(
        suggestions=_typed("suggestions", rows), headcount=_typed("headcount", hc), surveys=None,
        as_of=D("2024-12-31"), window_start=D("2024-06-01"),
    )  # fmt: skip
    # June is the first idea's month (a part month of data) and is left out
    assert c.monthly["month"].iloc[0] == D("2024-07-01")
    assert c.ideas_per_employee_start == pytest.approx(3 / 300)
    assert c.ideas_per_employee_end == pytest.approx(9 / 300)
    assert c.findings[0].startswith("Ideas per 100 employees rose from 1.0 to 3.0 a month")


def test_no_headcount_says_not_enough_data():
    c = summarise_culture(suggestions=small_suggestions(), headcount=None, surveys=None,
                          as_of=AS_OF, window_start=START)  # fmt: skip
    d = c.to_dict()
    assert_clean(d)
    assert "ideas_per_employee" not in d and "ideas_per_100_employees" not in d
    assert any("not enough data" in n for n in c.notes)
    assert "not enough data" in c.summary()
    assert c.findings[0].startswith("6 ideas were submitted (headcount: not enough data)")
    assert plots.plot_ideas_per_employee(c).alt.startswith("Ideas submitted per month")


def test_none_without_rows_and_surveys_only():
    empty = small_suggestions().iloc[0:0]
    assert summarise_culture(suggestions=None, headcount=None, surveys=None, as_of=AS_OF,
                             window_start=START) is None  # fmt: skip
    assert summarise_culture(suggestions=empty, headcount=None, surveys=None, as_of=AS_OF,
                             window_start=START) is None  # fmt: skip


def test_survey_xmr_and_change_vs_first_year():
    rows = [
        ("2023-03-01", "engagement", 56.0, 10.0),  # same date: weighted (560 + 1860) / 40 = 60.5
        ("2023-03-01", "engagement", 62.0, 30.0),
        ("2023-09-01", "engagement", 62.0, 20.0),
        ("2024-06-01", "engagement", 70.0, 25.0),
        ("2025-03-01", "engagement", 74.0, 25.0),
        ("2025-03-01", "customer_satisfaction", 8.1, 90.0),
    ]
    sv = _typed("surveys", [{"site_id": "s", "date": d, "instrument": i, "score": s,
                             "responses": r} for d, i, s, r in rows])  # fmt: skip
    c = summarise_culture(suggestions=None, headcount=None, surveys=sv, as_of=AS_OF,
                          window_start=D("2023-01-01"))  # fmt: skip
    e = c.survey("engagement")
    assert e.scores["score"].tolist() == [60.5, 62.0, 70.0, 74.0]
    # first year = surveys before 2024-02-29: mean(60.5, 62) = 61.25; change 74 - 61.25
    assert e.first_year_mean == pytest.approx(61.25)
    assert e.change == pytest.approx(12.75)
    # XmR: centre mean = 266.5 / 4; moving ranges 1.5, 8, 4 -> sigma = (13.5 / 3) / 1.128
    assert e.chart.centre[0] == pytest.approx(66.625)
    assert e.chart.ucl[0] == pytest.approx(66.625 + 3 * 4.5 / 1.128)
    assert e.better == "higher"
    one = c.survey("customer_satisfaction")
    assert one.chart is None and one.change is None and one.latest_score == 8.1
    assert_clean(c.to_dict())
    assert "Engagement scored 74.0" in e.sentence()
    images = plots.plot_surveys(c)
    assert len(images) == 2 and all(img.alt for img in images)
    alts = {t.instrument: img.alt for t, img in zip(c.surveys, images, strict=True)}
    assert "not enough data for a control chart" in alts["customer_satisfaction"]
    assert alts["engagement"].startswith("Engagement score: Individuals (XmR) control chart")


def test_html_escapes_area_names():
    s = small_suggestions()
    s.loc[s["suggestion_id"] == "S7", "area"] = "<script>alert(1)</script>"
    c = summarise_culture(suggestions=s, headcount=small_headcount(), surveys=None,
                          as_of=AS_OF, window_start=START)  # fmt: skip
    page = c._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<caption>" in page


@functools.cache
def typed_demo() -> dict[str, pd.DataFrame]:
    """The demo tables for as_of 2026-03-31, typed as inputs.SCHEMA (built once per session)."""
    from pipeline.data.demo import build_demo_tables

    return {k: parse_table(k, v)[0] for k, v in build_demo_tables("2026-03-31").items()}


@pytest.fixture
def demo():
    return typed_demo()


def test_demo_sites_run_and_charts_render(demo):
    as_of = D("2026-03-31")
    for site in demo["suggestions"]["site_id"].unique():
        part = {k: demo[k][demo[k]["site_id"] == site] for k in ("suggestions", "headcount",
                                                                  "surveys")}  # fmt: skip
        c = summarise_culture(**part, as_of=as_of, window_start=as_of - pd.DateOffset(months=12))
        d = c.to_dict()
        assert_clean(d)
        assert 1 <= len(c.findings) <= 3
        for text in (*c.findings, c.summary(), c._repr_html_()):
            assert not re.search(r"\b(nan|none|inf|nat)\b", text.lower()), text
        assert {s.instrument for s in c.surveys} == {"engagement", "customer_satisfaction"}
        assert c.ideas_per_employee_start is not None and c.median_days_to_implement > 0
        if site == "fab-dresden":
            charts = [plots.plot_idea_funnel(c), plots.plot_ideas_per_employee(c),
                      plots.plot_participation(c), plots.plot_time_to_implement(c),
                      *plots.plot_surveys(c)]  # fmt: skip
            for img in charts:
                assert img.png.startswith(b"\x89PNG") and len(img.alt) > 40
                assert not re.search(r"\b(nan|none|inf|nat)\b", img.alt.lower()), img.alt
            assert "implemented" in charts[0].alt and "months" in charts[1].alt


def _said_labels(text: str) -> set[str]:
    return {w for w in ("improvement", "concern") if w in text}


def test_every_survey_sentence_says_the_signals_its_chart_draws(demo):
    """The hotel's satisfaction chart coloured signals that its sentence denied: the sentence
    summarised the latest point only. Its claims are now derived from the chart's signals and
    checked here against what the chart draws (plots.control.pattern_labels colours points)."""
    from pipeline.report.plots.control import pattern_labels

    as_of = D("2026-11-30")
    tables = {k: parse_table(k, v)[0] for k, v in build_tables(as_of).items()}
    checked = 0
    for site in tables["surveys"]["site_id"].unique():
        part = {k: tables[k][tables[k]["site_id"] == site] for k in ("suggestions", "headcount",
                                                                      "surveys")}  # fmt: skip
        c = summarise_culture(**part, as_of=as_of, window_start=as_of - pd.DateOffset(months=24))
        finding = next((f for f in c.findings if f.startswith("Latest survey scores")), "")
        for s in c.surveys:
            if s.chart is None:
                continue
            drawn = set(pattern_labels(s.chart)) - {""}
            assert _said_labels(s.signal_text) == drawn, (site, s.instrument, s.signal_text)
            assert _said_labels(s.sentence()) == drawn
            latest_point = int(np.nonzero(~s.chart.is_missing)[0][-1])
            latest_drawn = set(pattern_labels(s.chart)[latest_point:]) - {""}
            assert ("no special-cause variation at the latest" in s.signal_text) == (
                bool(drawn) and not latest_drawn
            )
            if drawn and s.name.lower() in finding:
                # the finding names this survey's signals in its own clause
                clause = finding.split(f"{s.name.lower()}:")[-1].split(";")[0]
                assert _said_labels(clause) == drawn, (site, finding)
            checked += 1
    assert checked >= 4


def build_tables(as_of):
    from pipeline.data.demo import build_demo_tables

    return build_demo_tables(str(as_of.date()))


def test_participation_reads_as_areas_of_areas_and_savings_carry_the_currency():
    c = summarise_culture(suggestions=small_suggestions(), headcount=small_headcount(),
                          surveys=None, as_of=AS_OF, window_start=START,
                          currency="EUR")  # fmt: skip
    mean_areas = c.participation_rate * c.n_areas
    text = c.participation_text()
    assert text.endswith(f"of {c.n_areas} areas ({round(100 * c.participation_rate)}%)")
    assert text.startswith(f"{mean_areas:.1f}".rstrip("0").rstrip(".")) or text.startswith(
        f"{round(mean_areas)}"
    )
    finding = " ".join(c.findings)
    assert "Each month, on average" in finding or "each month, on average" in finding
    assert "% of the" not in finding
    headline = dict(c.headline())
    assert headline["Estimated savings"].startswith("EUR ")
    if c.savings_total:
        assert f"EUR {c.savings_total:,.0f}" in finding


def test_a_survey_known_by_its_initials_keeps_them():
    """A survey named "nps" was shown as "Nps"."""
    from pipeline.stats.culture import instrument_name

    assert [instrument_name(x) for x in ("nps", "enps_q3", "customer_satisfaction", "team nps")] == [
        "NPS", "eNPS q3", "Customer satisfaction", "Team NPS",
    ]  # fmt: skip
