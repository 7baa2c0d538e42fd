"""One verdict, shown the same everywhere: from the demo's results.json, the tiles, the findings,
the headline and the portfolio agree with ``metrics[].events[].verdict`` for every
(event, metric); and the demo's known cases get the verdicts a statistician would sign."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.data.config import load_project
from pipeline.data.demo import DEMO_SITES, write_demo_project
from pipeline.data.inputs import read_tables, split_by_site
from pipeline.formatting import interval_label
from pipeline.report.analysis import analyse_site
from pipeline.report.findings import effect_text, label_of, verdict_label
from pipeline.report.portfolio.model import collect_improvements
from pipeline.report.portfolio.page import effect_interval_text
from pipeline.report.results import site_results
from pipeline.vocabulary import Verdict

AS_OF = "2026-06-29"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """site id -> (analysis, results.json content as written and read back)."""
    project_file = write_demo_project(tmp_path_factory.mktemp("demo"), as_of=AS_OF)
    project = load_project(project_file)
    ids = [str(s["id"]) for s in DEMO_SITES]
    parts = split_by_site(read_tables(project), ids)
    out = {}
    for sid in ids:
        site = analyse_site(parts[sid], project=project, site_id=sid, as_of=pd.Timestamp(AS_OF))
        out[sid] = (site, json.loads(json.dumps(site_results(site))))
    return out


def _judged(site):
    for m in site.metrics:
        for e in m.events:
            if e.outcome is not None:
                yield m, e


def test_outcome_is_the_verdict_and_its_block_is_complete(demo):
    for _, results in demo.values():
        for m in results["metrics"]:
            for e in m["events"]:
                if e["verdict"] is None:
                    assert e["outcome"] is None  # planned or cancelled: not judged
                    continue
                v = e["verdict"]
                assert e["outcome"] == v["outcome"] in set(Verdict)
                assert v["reasons"] and v["method"] and v["n_before"] >= 0
                if v["outcome"] != Verdict.TOO_EARLY:
                    eff = v["effect"]
                    assert eff["ci_low"] <= eff["estimate"] <= eff["ci_high"]
                    assert v["figure"]["unit"] in ("percent", "percentage_points", "difference")


def test_tiles_findings_headline_and_portfolio_show_the_verdicts_figure(demo):
    for site, results in demo.values():
        summary = results["summary"]
        tiles = {t["metric_id"]: t for t in summary["tiles"]}
        for m, e in _judged(site):
            v = e.outcome.verdict
            if v.outcome == Verdict.TOO_EARLY:
                continue
            figure = effect_text(m, e)
            # the tile's change is the figure of the metric's latest judged event
            latest = [x for x in m.events if x.outcome is not None
                      and x.outcome.verdict.outcome != Verdict.TOO_EARLY][-1]  # fmt: skip
            if latest is e:
                # the tile names the verdict beside its figure (a figure alone reads like a
                # success); the email and the portfolio's mini tiles show this same text
                label = label_of(v)
                assert tiles[m.metric_id]["change_text"].startswith(f"{label}: {figure}")
            # every finding about this event shows this figure; so does a headline that
            # states a change (sustained or worsened)
            for text in summary["findings"]:
                if f"“{e.title}”" in text and m.name in text:
                    assert figure in text, (text, figure)
                    assert v.outcome != Verdict.FADED or "faded" in text
                    if v.outcome == Verdict.FADED and v.early is not None:
                        # the early figure names the window it covers ("in its first 13 weeks")
                        assert f"in its first {v.early.nobs} " in text, text
            head = summary["headline"]
            names_it = f"“{e.title}”" in head and head.startswith(m.name)
            if names_it and v.outcome in (Verdict.SUSTAINED, Verdict.WORSENED):
                assert figure in head, (head, figure)
        # the portfolio ranks the same figure
        rows = collect_improvements([(site.site_id, site.site_name, results)])
        metrics = {m.metric_id: m for m in site.metrics}
        for row in rows:
            event = next(
                e for m, e in _judged(site)
                if m.metric_id == row.metric_id and e.title == row.title
            )  # fmt: skip
            fig = event.outcome.verdict.figure
            assert row.verdict == event.outcome.verdict.outcome
            # in the site's words: "No baseline to judge" where the report says so
            v = event.outcome.verdict
            assert row.verdict_text == verdict_label(v.outcome, lacks_baseline=v.lacks_baseline)
            if fig is None:
                continue
            assert row.estimate == pytest.approx(fig["estimate"])
            assert row.ci_low == pytest.approx(fig["ci_low"])
            # and writes its interval as the site report does, digit for digit
            interval = effect_interval_text(row.ci_low, row.ci_high, row.unit)
            assert f"({interval_label(row.alpha)} {interval})" in effect_text(
                metrics[row.metric_id], event
            )


def test_each_headline_names_the_metric_it_opens_with(demo):
    """results.json's summary names the metric its headline opens with: the part an email
    subject may shorten (see test_mailer)."""
    for site, results in demo.values():
        summary = results["summary"]
        names = {m.name for m in site.metrics}
        assert summary["headline_metric"] in names, (summary["headline"], names)
        assert summary["headline"].startswith(summary["headline_metric"])


def test_manchester_safety_huddles_are_not_best_practice(demo):
    site, results = demo["build-manchester"]
    m_id = "build_safety_incidents"
    (event,) = [e for m, e in _judged(site) if m.metric_id == m_id]
    v = event.outcome.verdict
    assert v.outcome == Verdict.NO_CLEAR_CHANGE and v.is_provisional
    rows = collect_improvements([(site.site_id, site.site_name, results)])
    assert event.title not in [r.title for r in rows if r.verdict == Verdict.SUSTAINED]
    assert any("provisional" in f for f in results["summary"]["findings"])
    (tile,) = [t for t in results["summary"]["tiles"] if t["metric_id"] == m_id]
    assert tile["change_text"].startswith("No clear change (provisional): fell ")


def test_the_hotels_check_in_goal_is_not_on_track(demo):
    site, results = demo["hotel-lisbon"]
    metric = site.metric("hotel_checkin_time")
    (event,) = [e for e in metric.events if e.outcome is not None]
    assert event.outcome.verdict.outcome == Verdict.FADED
    goal = metric.goals[0]
    assert goal.status not in ("on_track", "achieved")
    # progress is measured from the current level (the last sustain_points weeks)
    assert goal.progress is not None
    last = metric.values.dropna().tail(site.settings.sustain_points).mean()
    assert goal.progress.current == pytest.approx(last)


def test_demo_cases_get_their_verdicts(demo):
    expected = {
        ("fab-dresden", "fab_cycle_time"): Verdict.SUSTAINED,
        ("hotel-lisbon", "hotel_checkin_time"): Verdict.FADED,
        ("build-manchester", "build_rework_hours"): Verdict.NO_CLEAR_CHANGE,
    }
    for (sid, metric_id), outcome in expected.items():
        site, _ = demo[sid]
        got = [e.outcome.verdict.outcome for e in site.metric(metric_id).events if e.outcome]
        assert got == [outcome], (sid, metric_id, got)


def test_results_json_is_what_write_results_writes(demo, tmp_path: Path):
    from pipeline.report.results import write_results

    site, results = demo["fab-dresden"]
    path = write_results(site, tmp_path)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert [e["outcome"] for m in written["metrics"] for e in m["events"]] == [
        e["outcome"] for m in results["metrics"] for e in m["events"]
    ]


def test_the_stitch_density_goal_is_a_hold_target(demo):
    # "Hold ... at 4.0 per cm" is kept within a tolerance, not approached: within / outside
    site, results = demo["atelier-florence"]
    (goal,) = site.metric("atelier_stitch_density").goals
    assert goal.progress is not None and goal.progress.target_kind == "hold"
    assert goal.status in ("within", "outside")
    (tile,) = [t for t in results["summary"]["tiles"] if t["metric_id"] == "atelier_stitch_density"]
    # the tile names the band it is held within (or outside), never a share of the way
    text = tile["goal_text"]
    assert ("within the band" in text or "outside the band" in text) and "of the way" not in text


def test_every_demo_subject_says_its_headlines_verdict(demo):
    """The email subject is cut to 78 characters; the verdict sits before the event's title in
    the headline, so the cut never leaves "improved after “Express…" for a gain that faded."""
    from pipeline.delivery.compose import site_subject
    from pipeline.delivery.summary import EmailSummary
    from pipeline.report.findings import SiteSummary

    words = {
        Verdict.SUSTAINED: "and is holding",
        Verdict.FADED: "the gain has faded",
        Verdict.NO_CLEAR_CHANGE: "no clear change",
        Verdict.WORSENED: "got worse",
        Verdict.TOO_EARLY: "too early to judge",
    }
    checked = 0
    for site, results in demo.values():
        head = results["summary"]["headline"]
        said = SiteSummary(headline=head, findings=(), tiles=(), key_charts=())
        email = EmailSummary(
            site_id=site.site_id, site_name=site.site_name, project="demo", as_of=AS_OF,
            summary=said,
        )  # fmt: skip
        subject = site_subject(email)
        assert len(subject) <= 78
        for m, e in _judged(site):
            if head.startswith(m.name) and f"“{e.title}”" in head:
                assert words[e.outcome.verdict.outcome] in subject, (subject, head)
                checked += 1
    assert checked == len(demo)  # every demo headline names a judged event


def test_findings_name_every_goal_the_goals_table_flags(demo):
    """Manchester's findings named 1 off-track goal while its goals table showed 3: the finding
    is written from the goal statuses, so both name the same goals."""
    from pipeline.report.findings import ATTENTION

    flagged_somewhere = False
    for site, results in demo.values():
        text = " ".join(results["summary"]["findings"])
        for m in site.metrics:
            for g in m.goals:
                named = f"“{g.title}”" in text
                assert named == (g.status in ATTENTION), (site.site_id, g.title, g.status)
                flagged_somewhere |= named
    assert flagged_somewhere  # the demo has goals off track: the test can fail


def test_the_statistics_panels_chart_says_the_verdict_not_the_classical_comparison(demo):
    """A screen reader heard the segmented-regression chart's text alternative open with the
    classical before/after sentence ("fell 42% (95% CI 27% to 55%), an improvement") beside a
    panel whose verdict was "no clear change": it now opens with the panel's verdict."""
    from pipeline.report.sections import _impact_details

    checked = 0
    for site, _ in demo.values():
        for m, e in _judged(site):
            details = _impact_details(m, e)
            if details is None or details["chart"] is None:
                continue
            v = e.outcome.verdict
            label = label_of(v)
            alt = details["chart"].alt
            assert f"Verdict: {label}; {m.name} {effect_text(m, e)}." in alt, alt
            assert e.outcome.impact.sentence(m.name) not in alt
            checked += 1
    assert checked >= 5
