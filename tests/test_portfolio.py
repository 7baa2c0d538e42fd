"""The portfolio page and portfolio.json from hand-made runs (no notebooks, no browser), and the
pooling of one practice across sites."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import numpy as np
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.meta_analysis import combine_effects

from pipeline.exceptions import ConfigError, StatisticsError
from pipeline.report import portfolio
from pipeline.report.portfolio.model import latest_run
from pipeline.report.portfolio.page import interval_label, money_text, pct_text
from pipeline.stats.pooling import StudyEffect, pool_effects

AS_OF = "2026-11-27"
EARLIER = "2026-10-30"
HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAME = "North <b>&\"'"


def _event(
    event_id: str,
    title: str,
    outcome: str | None,
    estimate: float | None,
    *,
    practice: str | None = None,
    saving: float | None = None,
    status: str = "done",
) -> dict[str, Any]:
    detail = None
    if estimate is not None:
        detail = {
            "impact": {
                "percent_change": {
                    "estimate": estimate,
                    "ci_low": estimate - 5,
                    "ci_high": estimate + 5,
                }
            }
        }
    return {
        "event_id": event_id,
        "title": title,
        "status": status,
        "effective_date": "2026-03-02T00:00:00",
        "outcome": outcome,
        "practice": practice,
        "claimed_saving": saving,
        "detail": detail,
    }


def _metric(
    metric_id: str,
    name: str,
    *,
    better: str = "lower",
    variation: str = "common_cause",
    assurance: str = "hit_and_miss",
    events: list[dict[str, Any]] | None = None,
    goals: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "metric_id": metric_id,
        "name": name,
        "chart": "xmr",
        "better": better,
        "variation": variation,
        "assurance": assurance,
        "change": -0.25,
        "events": events or [],
        "goals": goals or [],
    }


def _goal(goal_id: str, title: str, status: str, percent: float | None, due: str) -> dict[str, Any]:
    return {
        "goal_id": goal_id,
        "title": title,
        "status": status,
        "due_date": due,
        "progress": {"percent_of_target": percent},
    }


def _results(
    site_id: str, name: str, metrics: list[dict[str, Any]], *, alpha: float = 0.05
) -> dict[str, Any]:
    goals = [g for m in metrics for g in m["goals"]]
    return {
        "schema_version": "1.0",
        "site_id": site_id,
        "site_name": name,
        "as_of": AS_OF,
        "run_id": "run-1",
        "status": "ok",
        "settings": {"rules": "we", "min_phase_points": 12, "sustain_points": 8, "alpha": alpha},
        "summary": {
            "headline": "",
            "findings": [],
            "key_charts": [],
            "tiles": [
                {
                    "metric_id": m["metric_id"],
                    "name": m["name"],
                    "latest_text": f"{m['name']} latest",
                    "latest_label": "latest week, 16 Nov 2026",
                    "current_label": "level of the last 8 weeks",
                    "current_text": f"{m['name']} level",
                    "change_text": "-25% vs baseline",
                    "variation": m["variation"],
                    "assurance": m["assurance"],
                }
                for m in metrics
            ],
        },
        "metrics": metrics,
        "roadmap": {"goals": [{"goal_id": g["goal_id"], "title": g["title"],
                               "target_text": "cut it by 50%"} for g in goals]},
        "validation": {
            "failures": [
                {"table": "observations", "column": "value", "description": "value is filled in",
                 "severity": "warning", "unexpected_count": 5}
            ]
        },
    }  # fmt: skip


def _north(*, earlier: bool = False) -> dict[str, Any]:
    return _results(
        "north",
        HOSTILE_NAME,
        [
            _metric(
                "lead",
                "Lead time",
                variation="special_cause_improvement",
                events=[
                    _event("N1", HOSTILE, "faded" if earlier else "sustained", -12.0,
                           practice="5S", saving=1000.0),
                    _event("N2", "Small sustained gain", "sustained", -3.0),
                    _event("N3", "Faded big gain", "sustained" if earlier else "faded", -60.0,
                           practice="SMED", saving=5000.0),
                    _event("N4", "No change here", "no_clear_change", 4.0, practice="SMED",
                           saving=800.0),
                    _event("N5", "Planned", None, None, status="planned", saving=300.0),
                ]
                + ([] if earlier else [_event("N6", "Worse", "worsened", 20.0, practice="5S")]),
                goals=[_goal("G1", "Halve lead time", "off_track", 20.0, "2027-03-31T00:00:00")],
            ),
            _metric("shared", "Shared defects", variation="special_cause_concern",
                    assurance="consistently_fails"),
        ],
    )  # fmt: skip


def _south() -> dict[str, Any]:
    return _results(
        "south",
        "South",
        [
            _metric(
                "cycle",
                "Cycle time",
                events=[
                    _event("S1", "Big sustained gain", "sustained", -45.0, practice="smed",
                           saving=9000.0),
                    _event("S2", "Too early", "too_early", -10.0, practice="5S"),
                ],
                goals=[
                    _goal("G2", "Missed goal", "missed", -0.0, "2026-09-30T00:00:00"),
                    _goal("G3", "At risk goal", "at_risk", 50.0, "2027-01-31T00:00:00"),
                    _goal("G4", "On track goal", "on_track", 80.0, "2027-01-31T00:00:00"),
                ],
            ),
            _metric("shared", "Shared defects", better="higher",
                    variation="special_cause_improvement", assurance="consistently_meets"),
        ],
        alpha=0.1,
    )  # fmt: skip


def _write_run(base: Path, as_of: str, *, with_results: bool = True, earlier: bool = False) -> Path:
    out = base / as_of
    sites = [
        {"site_id": "north", "status": "warnings", "error": None},
        {"site_id": "south", "status": "ok", "error": None},
        {"site_id": "east", "status": "failed", "error": "cell 7 raised ValueError: <bad> & worse"},
    ]
    manifest = {
        "run_id": f"run-{as_of}",
        "as_of": as_of,
        "generated_at": f"{as_of}T06:00:00+00:00",
        "sites": sites,
    }
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if with_results:
        for sid, res in (("north", _north(earlier=earlier)), ("south", _south())):
            (out / sid).mkdir()
            (out / sid / "results.json").write_text(json.dumps(res), encoding="utf-8")
            (out / sid / "report.html").write_text("<p>report</p>", encoding="utf-8")
        failed = out / "east" / "failed"
        failed.mkdir(parents=True)
        (failed / "report.ipynb").write_text("{}", encoding="utf-8")
        (failed / "error.txt").write_text("boom\n", encoding="utf-8")
    return out


def _project(currency: str | None = "EUR") -> Any:
    names = {"north": HOSTILE_NAME, "south": "South", "east": "East"}
    return SimpleNamespace(
        name="Demo & <co>",
        sites=tuple(SimpleNamespace(id=k, name=v) for k, v in names.items()),
        currency=currency,
        statistics=SimpleNamespace(alpha=0.05),
    )


@pytest.fixture
def run(tmp_path: Path) -> Path:
    base = tmp_path / "reports"
    older = _write_run(base, EARLIER, earlier=True)
    portfolio.write_portfolio(_project(), older, as_of=EARLIER, run_id="r0")
    out = _write_run(base, AS_OF)
    portfolio.write_portfolio(_project(), out, as_of=AS_OF, run_id="run-x")
    return out


@pytest.fixture
def page(run: Path) -> str:
    return (run / "index.html").read_text(encoding="utf-8")


@pytest.fixture
def data(run: Path) -> dict[str, Any]:
    return json.loads((run / "portfolio.json").read_text(encoding="utf-8"))


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}">')
    return page[start : page.index("</section>", start)]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --------------------------------------------------------------------------- run status


def test_run_status_is_apart_from_performance(page: str) -> None:
    status = _section(page, "run-status")
    assert (
        "1 report produced from clean data 1 produced with data-quality warnings 1 failed"
        in _text(status)
    )
    rows = re.findall(r'<tr[^>]*? class="run (\w+)"', status)
    assert rows == ["failed", "warnings", "ok"]  # problems first
    assert "cell 7 raised ValueError: &lt;bad&gt; &amp; worse" in status
    assert 'href="east/failed/report.ipynb"' in status and 'href="east/failed/error.txt"' in status
    assert (
        "table &#39;observations&#39;, column &#39;value&#39;: rule not met on 5 rows — value is filled in"
        in status
    )
    # The performance sections carry no run status.
    for section in ("scorecard", "improvements", "practices", "savings"):
        assert "run-badge" not in _section(page, section)
        assert "report ok" not in _section(page, section)


def test_scorecard_rows_columns_icons_and_order(page: str, data: dict[str, Any]) -> None:
    card = data["scorecard"]
    # "shared" is measured at both sites: its own column; the rest grouped by goal.
    assert [c["metric_id"] for c in card["columns"]] == ["shared"]
    # North has a concerning signal and a failing target: it needs attention first.
    # The failed site has a row without numbers (its folder's results are an earlier run's).
    assert [r["site_id"] for r in card["rows"]] == ["north", "south", "east"]
    assert [r["has_results"] for r in card["rows"]] == [True, True, False]
    north = card["rows"][0]
    assert north["cells"][0]["variation"] == "special_cause_concern"
    assert north["cells"][0]["direction"] == "H"  # lower is better: a concern is high
    assert card["rows"][1]["cells"][0]["direction"] == "H"  # higher is better, improving
    assert [g["title"] for g in north["groups"]] == ["Halve lead time"]
    section = _section(page, "scorecard")
    assert section.count('class="mdc mdc-variation') == 4
    assert section.count('class="mdc mdc-assurance') == 4
    assert 'class="mdc mdc-variation concern"' in section
    assert (
        'class="mdc mdc-assurance fail"' in section and 'class="mdc mdc-assurance pass"' in section
    )
    assert 'aria-label="Variation: Special cause: concerning"' in section
    assert "Lead time latest" in section and "-25% vs baseline" in section
    # the latest week and the current level are labelled, as on the site's tile: a card read
    # "8.30 minutes" over "fell 37%", and 8.30 was the latest week, 37% the phase level's change
    cell = section[section.index("Lead time latest") :].split("</div>", 1)[0]
    assert "latest week, 16 Nov 2026" in cell
    assert "level of the last 8 weeks <strong>Lead time level</strong>" in cell
    assert north["cells"][0]["latest_label"] == "latest week, 16 Nov 2026"
    assert 'data-label="Shared defects"' in section  # the phone layout labels each cell
    assert 'id="score-sort" class="sortbar no-print" hidden' in section  # shown by the script


def test_scorecard_cards_are_labelled_lists_and_articles(page: str, data: dict[str, Any]) -> None:
    """Each metric's card is a labelled article (in a shared metric's column, naming the site
    too) or a labelled item of its goal's list; a site's goals are a list of those lists (they
    were divs: a screen reader heard one run of text per site)."""
    from html.parser import HTMLParser

    class Cards(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[tuple[str, dict[str, str | None]]] = []
            self.cards: list[tuple[str, str | None, str | None]] = []  # tag, label, parent's role

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if "score-cell" in (a.get("class") or "").split():
                parent = self.stack[-1] if self.stack else ("", {})
                self.cards.append(
                    (tag, a.get("aria-label"), parent[0] + ":" + str(parent[1].get("role")))
                )
            if tag not in ("br", "img", "meta", "input", "path", "rect", "circle", "line"):
                self.stack.append((tag, a))

        def handle_endtag(self, tag: str) -> None:
            while self.stack and self.stack.pop()[0] != tag:
                pass

    parser = Cards()
    parser.feed(_section(page, "scorecard"))
    rows = data["scorecard"]["rows"]
    shared = sum(1 for r in rows for c in r["cells"] if c)
    grouped = sum(len(g["cells"]) for r in rows for g in r["groups"])
    assert len(parser.cards) == shared + grouped
    articles = [c for c in parser.cards if c[0] == "article"]
    items = [c for c in parser.cards if c[0] == "li"]
    assert len(articles) == shared and len(items) == grouped
    assert all(parent == "ul:list" for _, _, parent in items)
    named = {(r["name"], c["name"]) for r in rows for c in r["cells"] if c}
    assert {label for _, label, _ in articles} == {f"{m}, {s}" for s, m in named}
    assert {label for _, label, _ in items} == {
        c["name"] for r in rows for g in r["groups"] for c in g["cells"]
    }


def test_tables_a_phone_shows_as_cards_keep_table_roles(page: str) -> None:
    """Below 640 px the scorecard, the run status and every stacked table become a card per row
    (CSS display: block), which drops a table's semantics in screen readers; ARIA roles keep
    them, as in the site reports."""
    tables = re.findall(r'<table class="([^"]*)"([^>]*)>(.*?)</table>', page, re.S)
    cards = [t for t in tables if {"stack", "scorecard", "run-status"} & set(t[0].split())]
    assert {"scorecard", "run-status"} <= {c for t in cards for c in t[0].split()}
    assert len(cards) >= 5
    for cls, attrs, body in cards:
        assert 'role="table"' in attrs, cls
        assert len(re.findall(r"<tr\b", body)) == len(re.findall(r'<tr role="row"', body)), cls
        assert len(re.findall(r"<td\b", body)) == len(re.findall(r'<td role="cell"', body)), cls
        heads = re.findall(r"<th\b[^>]*>", body)
        assert heads and all(
            'role="columnheader"' in h or 'role="rowheader"' in h for h in heads
        ), cls


def test_one_small_script_and_self_contained(page: str) -> None:
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1 and "scorecard-body" in scripts[0]
    assert not re.search(r"<script[^>]+src=", page)
    assert "<style>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "url(" not in page and "@import" not in page and "@font-face" not in page


# --------------------------------------------------------------------------- lists


def test_improvement_lists_by_verdict(page: str, data: dict[str, Any]) -> None:
    best = [i["title"] for i in data["best_practice"]]
    assert best == ["Big sustained gain", HOSTILE, "Small sustained gain"]  # ranked by effect
    assert [i["title"] for i in data["needs_sustainment"]] == ["Faded big gain"]
    assert [(i["title"], i["verdict"]) for i in data["did_not_work"]] == [
        ("Worse", "worsened"),
        ("No change here", "no_clear_change"),
        ("Too early", "too_early"),
    ]
    section = _section(page, "improvements")
    best_html = section[section.index('id="best-practice"') : section.index('id="needs-sust')]
    assert "Faded big gain" not in best_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in best_html
    assert "−45%" in best_html and "90% CI −50% to −40%" in best_html  # south's alpha is 0.1
    assert "95% CI −17% to −7%" in best_html  # one precision for both ends, as the site report
    assert 'href="south/report.html#metric-cycle"' in best_html


def test_goals_missed_off_track_and_at_risk(page: str, data: dict[str, Any]) -> None:
    assert [g["title"] for g in data["goals"]] == ["Missed goal", "Halve lead time", "At risk goal"]
    section = _section(page, "goals")
    assert "On track goal" not in section
    assert "missed (due date passed)" in section and "at risk" in section
    assert "-0%" not in section and ">0%<" in section
    assert "target: cut it by 50%" in section


# --------------------------------------------------------------------------- practices


def test_practices_pooled_across_sites(data: dict[str, Any], page: str) -> None:
    practices = {p["name"]: p for p in data["practices"]}
    smed = practices["SMED"]  # "SMED" and "smed" are one practice
    assert smed["sites"] == [HOSTILE_NAME, "South"]
    assert smed["pooled"]["k"] == 3 and smed["pooled"]["n_sites"] == 2
    assert [i["title"] for i in smed["not_worked"]] == ["No change here"]
    assert [i["title"] for i in smed["faded"]] == ["Faded big gain"]
    five_s = practices["5S"]  # worsened at north, too early at south: one site measured
    assert five_s["pooled"] is None and "fewer than two sites" in five_s["note"]
    assert [i["verdict"] for i in five_s["not_worked"]] == ["worsened"]
    section = _section(page, "practices")
    assert section.count('<figure class="chart forest">') == 1
    assert "Did not work at:" in section and "No change here" in section
    assert "I² " in section


def test_counts_read_in_words_not_as_a_form(page: str) -> None:
    # "2 sites", "1 claim": never "site(s)", whatever the count
    text = _text(page)
    assert "(s)" not in text
    assert "used at 2 sites:" in text and "at 2 sites; I²" in text
    assert "; South</small></h3>" in page  # sites joined by "; ": their names carry commas


def test_pooled_effect_equals_statsmodels_on_the_same_numbers() -> None:
    # Three studies as the portfolio builds them: % changes with 95% intervals, two metrics
    # where lower is better and one where higher is better.
    studies = [
        StudyEffect.from_percent_change(label="a", site_id="x", estimate=-51.4, ci_low=-57.2,
                                        ci_high=-44.9, alpha=0.05, lower_is_better=True),
        StudyEffect.from_percent_change(label="b", site_id="x", estimate=17.7, ci_low=14.5,
                                        ci_high=21.1, alpha=0.05, lower_is_better=False),
        StudyEffect.from_percent_change(label="c", site_id="y", estimate=0.83, ci_low=-9.2,
                                        ci_high=11.8, alpha=0.05, lower_is_better=True),
    ]  # fmt: skip
    assert all(s is not None for s in studies)
    ok = [s for s in studies if s is not None]
    pooled = pool_effects(ok, alpha=0.05)
    effect = np.array([s.effect for s in ok])
    variance = np.array([s.variance for s in ok])
    ref = combine_effects(effect, variance, method_re="iterated")
    frame = ref.summary_frame()
    assert_allclose(pooled.estimate, frame.loc["random effect", "eff"], rtol=1e-10)
    assert_allclose(pooled.se, frame.loc["random effect", "sd_eff"], rtol=1e-10)
    assert_allclose(
        [pooled.ci_low, pooled.ci_high],
        frame.loc["random effect", ["ci_low", "ci_upp"]].to_numpy(dtype=float),
        rtol=1e-10,
    )
    assert_allclose(pooled.tau2, ref.tau2, rtol=1e-10)
    assert_allclose(pooled.weights, frame["w_re"].to_numpy(dtype=float)[:3], rtol=1e-10)
    # I² by its definition (Higgins & Thompson 2002): (Q - df) / Q, with Q by hand.
    w = 1 / variance
    q = float(np.sum(w * (effect - np.sum(w * effect) / np.sum(w)) ** 2))
    assert_allclose(pooled.q, q, rtol=1e-10)
    assert_allclose(pooled.i2, (q - 2) / q, rtol=1e-10)
    # The study effect: log ratio, sign turned for lower-is-better; the SE from the interval on
    # the log scale over 2 z(0.975) (Cochrane Handbook 6.5.2.2).
    assert_allclose(ok[0].effect, -math.log(1 - 0.514), rtol=1e-12)
    se = (math.log(1 - 0.449) - math.log(1 - 0.572)) / (2 * 1.959963984540054)
    assert_allclose(ok[0].variance, se**2, rtol=1e-9)


def test_pooling_edge_cases() -> None:
    same = [StudyEffect(label=str(i), site_id=str(i), effect=0.2, variance=0.01) for i in range(3)]
    pooled = pool_effects(same)
    assert pooled.i2 == 0.0 and pooled.tau2 == 0.0  # no spread: I² is 0, never negative
    assert_allclose(pooled.estimate, 0.2)
    with pytest.raises(StatisticsError):
        pool_effects(same[:1])
    # A bound at or below -100% has no log ratio: not a study.
    assert (
        StudyEffect.from_percent_change(label="x", site_id="x", estimate=-90, ci_low=-100,
                                        ci_high=-80, alpha=0.05, lower_is_better=True)
        is None
    )  # fmt: skip


# --------------------------------------------------------------------------- savings


def test_claimed_against_verified_savings(data: dict[str, Any], page: str) -> None:
    by_event = {s["event_id"]: s for s in data["savings"]}
    assert by_event["N1"]["status"] == "verified"  # sustained
    assert by_event["N3"]["status"] == "at_risk"  # faded
    assert by_event["N4"]["status"] == "unverified"  # no clear change
    assert by_event["N5"]["status"] == "unverified"  # planned
    assert "planned" in by_event["N5"]["reason"]
    total = data["saving_total"]
    assert total["claimed"] == 16100.0
    assert (total["verified"], total["at_risk"], total["unverified"]) == (10000.0, 5000.0, 1100.0)
    north = next(t for t in data["saving_totals"] if t["site_id"] == "north")
    assert (north["claimed"], north["verified"]) == (7100.0, 1000.0)
    section = _section(page, "savings")
    assert "EUR 16,100" in section and "EUR 10,000" in section
    assert money_text(1234.4, None) == "1,234"


def test_interval_label_and_percent_texts() -> None:
    assert interval_label(0.05) == "95% CI" and interval_label(0.1) == "90% CI"
    assert interval_label(0.2) == "80% CI"
    assert pct_text(-45.2) == "−45%" and pct_text(3.04) == "+3.0%" and pct_text(-0.01) == "0.0%"
    assert pct_text(None) == "not enough data"


# --------------------------------------------------------------------------- history


def test_history_marks_what_changed_since_the_previous_run(data: dict[str, Any], page: str) -> None:
    history = data["history"]
    assert history["runs"] == [EARLIER, AS_OF] and history["previous"] == EARLIER
    changes = {(c["item_id"], c["change"]) for c in history["changes"]}
    assert ("N1:lead", "changed") in changes  # faded -> sustained
    assert ("N3:lead", "changed") in changes  # sustained -> faded
    assert ("N6:lead", "new") in changes
    assert not any(item.startswith("N2") for item, _ in changes)
    section = _section(page, "history")
    assert "New since the previous run (30 Oct 2026)" in section
    assert "improvement faded → sustained improvement" in section
    assert 'href="../2026-10-30/index.html"' in section
    assert "1 ok, 1 with warnings, 1 failed" in section


def test_first_run_site_without_results_and_latest(tmp_path: Path) -> None:
    base = tmp_path / "reports"
    out = _write_run(base, AS_OF, with_results=False)
    page = portfolio.write_portfolio(_project(None), out, as_of=AS_OF, run_id="r").read_text()
    assert "This is the first run" in page
    assert "no results were published for this site" in page
    assert "No site published results in this run." in page
    assert "No improvement is sustained" in page and "No goal is missed" in page
    assert "failed/report.ipynb" not in page  # only links to files that exist
    assert (base / "latest").is_symlink() and (base / "latest").readlink() == Path(AS_OF)
    older = _write_run(base, EARLIER)
    text = portfolio.write_portfolio(_project(), older, as_of=EARLIER, run_id="r0").read_text()
    assert (base / "latest").readlink() == Path(AS_OF)  # re-rendering an older run keeps it
    assert 'A newer run exists: <a href="../2026-11-27/index.html">' in text


def test_a_future_dated_run_does_not_take_latest_over(tmp_path: Path) -> None:
    """``run --allow-future-as-of`` writes its folder, but ``latest`` stays with the newest run
    not after today (today is read from the clock: the dates are relative to it)."""
    base = tmp_path / "reports"
    today = dt.date.today()
    future = (today + dt.timedelta(days=400)).isoformat()
    portfolio.write_portfolio(_project(), _write_run(base, future), as_of=future, run_id="f")
    assert (base / "latest").readlink() == Path(future)  # the only run: latest all the same
    out = _write_run(base, AS_OF)
    portfolio.write_portfolio(_project(), out, as_of=AS_OF, run_id="r")
    assert (base / "latest").readlink() == Path(AS_OF)
    portfolio.write_portfolio(_project(), base / future, as_of=future, run_id="f2")
    assert (base / "latest").readlink() == Path(AS_OF)  # re-rendering the future run keeps it
    assert latest_run(base, today=today) == AS_OF
    assert latest_run(base, today=today + dt.timedelta(days=400)) == future
    assert latest_run(tmp_path / "none", today=today) is None


def test_a_future_dated_run_is_no_newer_run(tmp_path: Path) -> None:
    """The notice "A newer run exists" leaves out run folders dated after today: on today's run
    it pointed at a run of a day nobody has seen yet (``run --allow-future-as-of``)."""
    from pipeline.report.portfolio.model import build_portfolio, load_run

    base = tmp_path / "reports"
    today = dt.date.today()
    future = (today + dt.timedelta(days=400)).isoformat()
    _write_run(base, future)
    out = _write_run(base, AS_OF)
    page = portfolio.write_portfolio(_project(), out, as_of=AS_OF, run_id="r").read_text()
    assert "A newer run exists" not in page
    assert json.loads((out / "portfolio.json").read_text())["newer_run"] is None

    # the same folders on a clock of their own: the run of EARLIER sees AS_OF as newer only
    # once AS_OF is not after today
    older = _write_run(base, EARLIER)
    manifest, results = load_run(older)

    def newer(on: str) -> str | None:
        return build_portfolio(
            manifest, results, out_root=older, project_name="p", site_names={}, as_of=EARLIER,
            run_id="r0", today=dt.date.fromisoformat(on),
        ).newer_run  # fmt: skip

    assert newer(EARLIER) is None
    assert newer("2026-11-26") is None
    assert newer(AS_OF) == AS_OF
    assert newer(future) == future


def test_earlier_runs_are_the_runs_dated_before_this_one(tmp_path: Path) -> None:
    """Run on 27 Nov after a run of 4 Dec, its page said "This is the first run" in its
    history and listed "4 Dec 2026" under "Earlier runs". Earlier runs are the ones before it."""
    from pipeline.report.portfolio.model import build_portfolio, load_run

    base = tmp_path / "reports"
    _write_run(base, EARLIER)
    _write_run(base, "2026-12-04")
    out = _write_run(base, AS_OF)
    manifest, results = load_run(out)
    page = build_portfolio(
        manifest, results, out_root=out, project_name="p", site_names={}, as_of=AS_OF,
        run_id="r", today=dt.date(2026, 12, 4),
    )  # fmt: skip
    assert [r.as_of for r in page.earlier_runs] == [EARLIER]
    assert page.newer_run == "2026-12-04"


# --------------------------------------------------------------------------- escaping, JSON


def test_every_string_is_escaped(page: str) -> None:
    assert HOSTILE not in page
    assert "<b>" not in page
    assert "North &lt;b&gt;&amp;&#34;&#39;" in page or "North &lt;b&gt;&amp;&quot;&#x27;" in page
    assert "Demo &amp; &lt;co&gt;" in page
    for word in ("NaN", "None", "inf", "nan", "null"):
        assert not re.search(rf"\b{word}\b", _text(page)), word


def test_portfolio_json_validates_against_its_schema(run: Path, data: dict[str, Any]) -> None:
    schema = json.loads(portfolio.SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema)
    assert data["schema_version"] == portfolio.SCHEMA_VERSION
    assert data["currency"] == "EUR"
    earlier = json.loads((run.parent / EARLIER / "portfolio.json").read_text(encoding="utf-8"))
    jsonschema.validate(earlier, schema)
    broken = {**data, "saving_total": {**data["saving_total"], "claimed": "lots"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_currency_must_be_an_iso_code(tmp_path: Path) -> None:
    from pipeline.data.demo import write_demo_project

    project_file = write_demo_project(tmp_path / "demo", as_of=AS_OF)
    from pipeline.data.config import load_project

    assert load_project(project_file).currency == "EUR"
    text = project_file.read_text(encoding="utf-8").replace("currency: EUR", "currency: euro")
    project_file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="currency: 'euro' is not an ISO 4217 code"):
        load_project(project_file)


def test_a_verdict_without_a_figure_shows_no_classical_figure_instead() -> None:
    """A too-early event's verdict has no effect figure (the site report's Effect column says
    'not enough data'); the portfolio showed the classical before/after change in its place
    ("+14% (95% CI −35% to +72%)"). Only results from before verdicts carried a figure fall
    back to it."""
    from pipeline.report.portfolio.model import collect_improvements

    event = _event("E1", "Too early", "too_early", 14.0)
    event["verdict"] = {"outcome": "too_early", "figure": None, "n_before": 30, "n_after": 3}
    older = _event("E2", "Older results", "sustained", -20.0)  # no verdict block at all
    results = _results("north", "North", [_metric("m", "Lead time", events=[event, older])])
    early, before_figures = collect_improvements([("north", "North", results)])
    assert early.verdict == "too_early" and early.estimate is None and early.ci_low is None
    assert early.relative is None
    assert before_figures.estimate == -20.0 and before_figures.ci_low == -25.0


def test_studies_that_agree_exactly_pool_without_a_warning() -> None:
    """The same improvement at two sites (Q = 0): statsmodels' unclipped I² divided by zero and
    its RuntimeWarning reached the run's terminal; the pooled effect is the common one, I² 0."""
    import warnings

    ok = [StudyEffect(label="a", site_id=s, effect=0.5, variance=0.25) for s in "xy"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pooled = pool_effects(ok, alpha=0.05)
    assert pooled.q == 0 and pooled.i2 == 0 and pooled.tau2 == 0 and pooled.estimate == 0.5
