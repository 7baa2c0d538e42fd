"""The portfolio page from a hand-made manifest and results.json files (no notebooks, no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.report import portfolio

AS_OF = "2026-11-27"
HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAME = "North <b>&\"'"


def _point(i: int, value: float | None, *, phase: int = 1, limits: bool = True) -> dict[str, Any]:
    return {
        "index": i,
        "time": f"2026-{1 + i // 4:02d}-{1 + (i % 4) * 7:02d}",
        "value": value,
        "phase": phase,
        "centre": 10.0 if phase == 1 else 7.0,
        "lcl": (7.0 if phase == 1 else 5.0) if limits else None,
        "ucl": (13.0 if phase == 1 else 9.0) if limits else None,
        "signals": [],
    }


def _event(title: str, outcome: str | None, estimate: float | None) -> dict[str, Any]:
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
        "event_id": title[:8],
        "title": title,
        "status": "done" if outcome else "planned",
        "effective_date": "2026-03-02T00:00:00",
        "outcome": outcome,
        "detail": detail,
    }


def _results(
    site_id: str, name: str, events: list[dict[str, Any]], goals: list[dict[str, Any]]
) -> dict[str, Any]:
    points = [_point(i, 10.0 + (i % 3), phase=1) for i in range(12)]
    points += [_point(12 + i, 7.0 + (i % 2), phase=2) for i in range(12)]
    points[5]["value"] = None  # a gap
    return {
        "schema_version": "1.0",
        "site_id": site_id,
        "site_name": name,
        "as_of": "2026-06-29",
        "run_id": "run-1",
        "status": "ok",
        "settings": {"rules": "we", "min_phase_points": 12, "sustain_points": 8, "alpha": 0.05},
        "summary": {
            "headline": f"Lead time fell after {events[0]['title'] if events else 'nothing'}",
            "findings": [],
            "tiles": [
                {
                    "metric_id": "lead",
                    "name": "Lead time",
                    "latest_text": "7.5 days",
                    "change_text": "-25% vs baseline",
                    "variation": "special_cause_improvement",
                    "variation_text": "Special cause: improving",
                    "assurance": "hit_and_miss",
                    "assurance_text": "Hit and miss against the target",
                    "goal_text": "No goal",
                },
                {
                    "metric_id": "defects",
                    "name": "Defects",
                    "latest_text": "not enough data",
                    "change_text": "",
                    "variation": "not_enough_data",
                    "variation_text": "Not enough data",
                    "assurance": "no_target",
                    "assurance_text": "No target set",
                    "goal_text": "",
                },
            ],
            "key_charts": [{"metric_id": "lead", "file": "charts/lead.png", "alt": "Lead time"}],
        },
        "metrics": [
            {
                "metric_id": "lead",
                "name": "Lead time",
                "chart": "xmr",
                "better": "lower",
                "control_chart": {"chart": "xmr", "phases": [], "points": points},
                "events": events,
                "goals": goals,
            },
            {
                "metric_id": "defects",
                "name": "Defects",
                "chart": "p",
                "better": "lower",
                "control_chart": {"chart": "p", "phases": [], "points": [_point(0, float("nan"))]},
                "events": [],
                "goals": [],
            },
        ],
        "roadmap": {
            "goals": [{"goal_id": g["goal_id"], "target_text": "cut it by 50%"} for g in goals]
        },
        "validation": {
            "failures": [
                {
                    "table": "observations",
                    "column": "value",
                    "description": "value is filled in",
                    "severity": "warning",
                    "unexpected_count": 5,
                }
            ]
        },
    }


def _goal(goal_id: str, title: str, status: str, percent: float | None, due: str) -> dict[str, Any]:
    return {
        "goal_id": goal_id,
        "title": title,
        "status": status,
        "due_date": due,
        "progress": {"percent_of_target": percent},
    }


def _write_run(base: Path, as_of: str, *, with_results: bool = True) -> Path:
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
        "summary": {"ok": 1, "warnings": 1, "failed": 1},
    }
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if with_results:
        north = _results(
            "north",
            HOSTILE_NAME,
            [
                _event(HOSTILE, "sustained", -12.0),
                _event("Small sustained gain", "sustained", 3.0),
                _event("Faded big gain", "faded", -60.0),
                _event("No change here", "no_clear_change", -40.0),
                _event("Planned", None, None),
            ],
            [_goal("G1", "Halve lead time", "off_track", 20.0, "2027-03-31T00:00:00")],
        )
        south = _results(
            "south",
            "South",
            [_event("Big sustained gain", "sustained", -45.0)],
            [
                _goal("G2", "Missed goal", "missed", -0.0, "2026-09-30T00:00:00"),
                _goal("G3", "On track goal", "on_track", 80.0, "2027-01-31T00:00:00"),
            ],
        )
        for sid, res in (("north", north), ("south", south)):
            (out / sid).mkdir()
            (out / sid / "results.json").write_text(json.dumps(res), encoding="utf-8")
            (out / sid / "report.html").write_text("<p>report</p>", encoding="utf-8")
        failed = out / "east" / "failed"
        failed.mkdir(parents=True)
        (failed / "report.ipynb").write_text("{}", encoding="utf-8")
        (failed / "error.txt").write_text("boom\n", encoding="utf-8")
    return out


def _project(names: dict[str, str] | None = None) -> Any:
    names = names or {"north": HOSTILE_NAME, "south": "South", "east": "East"}
    return SimpleNamespace(
        name="Demo & <co>",
        sites=tuple(SimpleNamespace(id=k, name=v) for k, v in names.items()),
    )


@pytest.fixture
def page(tmp_path: Path) -> str:
    out = _write_run(tmp_path / "reports", AS_OF)
    path = portfolio.write_portfolio(_project(), out, as_of=AS_OF, run_id="run-x")
    return path.read_text(encoding="utf-8")


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}">')
    return page[start : page.index("</section>", start)]


def test_header_counts_and_run(page: str) -> None:
    assert "run run-x" in page
    assert "27 Nov 2026" in page
    stats = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[page.index('class="stats"') :]))
    assert "1 ok 1 with data-quality warnings 1 failed" in stats


def test_failed_site_shows_reason_and_evidence_links(page: str) -> None:
    card = page[page.index('data-site="east"') :]
    card = card[: card.index("</li>")]
    assert "cell 7 raised ValueError: &lt;bad&gt; &amp; worse" in card
    assert 'href="east/failed/report.ipynb"' in card
    assert 'href="east/failed/error.txt"' in card
    assert 'class="badge failed"' in card


def test_sites_start_problems_first_and_sorting_controls_exist(page: str) -> None:
    order = re.findall(r'<li class="card (\w+)" data-rank="(\d)"', page)
    assert [s for s, _ in order] == ["failed", "warnings", "ok"]
    assert [r for _, r in order] == ["0", "1", "2"]
    assert 'data-key="rank"' in page and 'data-key="site"' in page
    assert 'id="site-sort" class="sortbar no-print" hidden' in page  # shown by the script only
    assert (
        page.count("<script>") == 1
        and "src=" not in page.split("<script>")[1].split("</script>")[0]
    )


def test_tiles_sparkline_and_warning_reason(page: str) -> None:
    card = page[page.index('data-site="north') :]
    card = card[: card.index("</li>")]
    assert "7.5 days" in card and "Special cause: improving" in card
    assert "Goal: none set" in card
    assert card.count('<svg class="spark" role="img"') == 1  # only the key metric
    label = re.search(r'<svg class="spark" role="img" aria-label="([^"]+)"', card)
    assert label and "Lead time: control chart of 23 points" in label.group(1)
    assert "latest 7.5 days" in label.group(1)
    assert 'class="last improvement"' in card
    assert "observations.value: value is filled in; 5 rows" in card
    assert 'href="north/report.html"' in card


def test_sparkline_breaks_at_gaps_and_phases() -> None:
    points = [_point(i, float(i), phase=1 + (i >= 6)) for i in range(12)]
    points[3]["value"] = None
    svg = portfolio.sparkline(
        {"points": points},
        name="X",
        latest_text="11",
        variation="special_cause_concern",
        variation_text="Special cause: concerning",
    )
    assert svg.count('class="val"') == 2  # split by the gap
    assert svg.count('class="cl"') == 2  # one centre line per phase
    assert svg.count('class="lim"') == 4
    assert 'class="last concern"' in svg
    assert "11 points" in svg
    assert (
        portfolio.sparkline(
            {"points": [_point(0, 1.0)]}, name="X", latest_text="1", variation="", variation_text=""
        )
        == ""
    )
    run_chart = [_point(i, float(i % 2), limits=False) for i in range(5)]
    svg = portfolio.sparkline(
        {"points": run_chart}, name="X", latest_text="1", variation="", variation_text=""
    )
    assert "lim" not in svg and "centre line shown." in svg


def test_improvements_ranked_sustained_only_by_size(page: str) -> None:
    section = _section(page, "improvements")
    titles = re.findall(r'<th scope="row">(.*?)<small>', section)
    assert titles == [
        "Big sustained gain",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "Small sustained gain",
    ]
    assert "Faded big gain" not in section  # best practice is sustained only
    assert "No change here" not in section and "Planned" not in section
    assert "−45%" in section and "95% CI −50% to −40%" in section
    assert "+3.0%" in section  # small changes keep a decimal
    assert 'href="south/report.html#metric-lead"' in section


def test_collect_improvements_handles_missing_numbers() -> None:
    res = {
        "site_id": "a",
        "metrics": [
            {
                "metric_id": "m",
                "name": "M",
                "events": [
                    _event("nan estimate", "sustained", float("nan")),
                    _event("no detail", "sustained", None),
                    _event("ok", "sustained", -5.0),
                    _event("faded", "faded", -9.0),
                ],
            }
        ],
    }
    rows = portfolio.collect_improvements([("A", res)])
    assert [r["title"] for r in rows] == ["ok"]


def test_goals_off_track_missed_first(page: str) -> None:
    section = _section(page, "goals")
    titles = re.findall(r'<th scope="row">(.*?)<small>', section)
    assert titles == ["Missed goal", "Halve lead time"]
    assert "On track goal" not in section
    assert "missed (due date passed)" in section and "off track" in section
    assert "-0%" not in section and ">0%<" in section
    assert "target: cut it by 50%" in section


def test_every_string_is_escaped(page: str) -> None:
    assert HOSTILE not in page
    assert "<b>" not in page
    assert "North &lt;b&gt;&amp;&quot;&#x27;" in page
    assert "Demo &amp; &lt;co&gt;" in page
    for word in ("NaN", "None", "inf", "nan"):
        assert not re.search(rf"\b{word}\b", re.sub(r"<[^>]+>", " ", page)), word


def test_self_contained(page: str) -> None:
    assert "<style>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "url(" not in page and "@import" not in page and "@font-face" not in page


def test_earlier_runs_and_latest_symlink(tmp_path: Path) -> None:
    base = tmp_path / "reports"
    older = _write_run(base, "2026-10-30", with_results=False)
    portfolio.write_portfolio(_project(), older, as_of="2026-10-30", run_id="r0")
    (base / "2026-09-01").mkdir()  # no manifest: not a run
    newest = _write_run(base, AS_OF)
    page = portfolio.write_portfolio(_project(), newest, as_of=AS_OF, run_id="r1").read_text(
        "utf-8"
    )
    earlier = _section(page, "earlier")
    assert 'href="../2026-10-30/index.html"' in earlier
    assert "2026-09-01" not in earlier and "latest" not in earlier and AS_OF not in earlier
    assert "1 ok, 1 with warnings, 1 failed" in earlier
    assert (base / "latest").is_symlink() and (base / "latest").readlink() == Path(AS_OF)

    # Re-rendering the older run keeps latest on the newest and says a newer run exists.
    again = portfolio.write_portfolio(_project(), older, as_of="2026-10-30", run_id="r0b")
    text = again.read_text("utf-8")
    assert (base / "latest").readlink() == Path(AS_OF)
    assert 'A newer run exists: <a href="../2026-11-27/index.html">' in text
    assert 'href="../2026-11-27/index.html"' in _section(text, "earlier")


def test_first_run_and_site_without_results(tmp_path: Path) -> None:
    out = _write_run(tmp_path / "reports", AS_OF, with_results=False)
    page = portfolio.write_portfolio(_project(), out, as_of=AS_OF, run_id="r").read_text("utf-8")
    assert "This is the first run." in page
    assert "No results were published for this site." in page
    assert "No improvement has a sustained gain" in page and "No goal is off track" in page
    assert "failed/report.ipynb" not in page  # only links to files that exist
