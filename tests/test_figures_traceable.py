"""Every figure in a report's text can be checked against a chart or a table on the same page.

A reader who doubts "fell 27% (95% CI −28% to −26%)" or "47% of the way to 6.24 hours" must find
the same figure, written the same way, in a table or a chart of the report. This reads the demo's
reports (the session's one demo run, tests/demo_run.py) as HTML and checks each number and date
of the running text against what the page's tables and charts (their text, their per-point hover
titles) show: within the same section, and anywhere on the page for the executive summary (its
headline, findings and tiles sum up the whole report).

What is not a figure of this report is left out, and said here: the header line (report window
and run id), the Methods and glossary section (definitions, rule sets and sources), titles in
quotes (data: an event's name), the interval's level ("95% CI", which comes from ``alpha``) and
the windows a sentence is about ("the last 8 weeks", "the latest 8 points": settings, in the
Methods section). A count of points a sentence says formed signals ("earlier 9 points formed
rule signals") is checked against the chart: the number of its points whose hover text names a
signal before the latest points.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, NavigableString, Tag

from tests.demo_run import SITES

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

#: a number as the report writes one: '27', '−28', '+0.18', '6.24', '227,850'
NUMBER = re.compile(r"(?<![\w.,])[−+-]?\d[\d,]*(?:\.\d+)?(?![\d\w])")
DATE = re.compile(r"\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b")
NOT_FIGURES = (
    re.compile(r"“[^”]*”"),  # a title in quotes: data, not a figure
    re.compile(r"\b\d+(?:\.\d+)?% CI\b"),  # the interval's level, from alpha
    re.compile(r"\b(?:last|latest) \d+ (?:points?|weeks?|months?|days?|periods?|quarters?)\b"),
)
#: "earlier 9 points formed rule signals", "earlier 4 points fell outside the limits"
SIGNAL_COUNT = re.compile(r"earlier (\d+) points? (formed rule signals|fell outside the limits)")
#: "3 of 7 categories make up 87.4% of the 1,671 defects": the rows of the Pareto table
CATEGORY_COUNT = re.compile(r"(\d+) of (\d+) categories make up ([\d.]+)%")
OUTSIDE = ("a point above the upper limit", "a point below the lower limit")
SKIP_SECTIONS = {"methods"}
EVIDENCE = ("table", "svg")
NOT_TEXT = (*EVIDENCE, "nav", "script", "style", "figure")


def _numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def _evidence(root: Tag) -> tuple[set[str], set[str]]:
    """(numbers, dates) that the tables and charts under ``root`` show."""
    numbers: set[str] = set()
    dates: set[str] = set()
    for node in root.find_all(EVIDENCE):
        text = node.get_text(" ")
        dates.update(DATE.findall(text))
        numbers.update(_numbers(DATE.sub(" ", text)))
    return numbers, dates


def _text_strings(section: Tag) -> list[str]:
    """The running text of a section: every string outside its tables, charts and figures."""
    out = []
    for s in section.find_all(string=True):
        if not isinstance(s, NavigableString) or not s.strip():
            continue
        if any(p.name in NOT_TEXT for p in s.parents if isinstance(p, Tag)):
            continue
        out.append(" ".join(s.split()))
    return out


def _signalled_before_latest(section: Tag, latest: int, *, outside: bool) -> int:
    """Points of the section's first chart whose hover text names a signal (``outside``: a
    point beyond a limit), before the latest ``latest`` points."""
    svg = section.find("svg")
    assert isinstance(svg, Tag)
    titles = [t.get_text() for t in svg.find_all("title") if DATE.match(t.get_text())]
    earlier = titles[: max(len(titles) - latest, 0)]
    if outside:
        return sum(any(line.startswith(OUTSIDE) for line in t.split("\n")) for t in earlier)
    return sum("\n" in t for t in earlier)


def _pareto_rows(section: Tag) -> list[tuple[str, float]]:
    """(category, cumulative %) of the section's Pareto table, without its total row."""
    table = section.find("table")
    assert isinstance(table, Tag)
    rows = []
    for tr in table.find_all("tr")[1:]:
        cells = [c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])]
        if cells[-1]:
            rows.append((cells[0], float(cells[-1])))
    return rows


def untraceable(html: str) -> list[str]:
    """Each figure of the page's text that no table or chart of its scope shows, with where."""
    page = BeautifulSoup(html, "html.parser")
    main = page.find("main")
    assert isinstance(main, Tag)
    page_numbers, page_dates = _evidence(main)
    # the goals table: a metric section's goal lines quote its progress and target
    strategy = main.find("section", id="strategy")
    goal_numbers, goal_dates = _evidence(strategy) if isinstance(strategy, Tag) else (set(), set())
    problems = []
    for section in main.find_all("section", recursive=False):
        sid = section.get("id", "")
        if sid in SKIP_SECTIONS:
            continue
        numbers, dates = (page_numbers, page_dates) if sid == "summary" else _evidence(section)
        if sid != "summary":
            numbers, dates = numbers | goal_numbers, dates | goal_dates
        unsigned = {n.lstrip("−+-") for n in numbers}
        for text in _text_strings(section):
            for m in SIGNAL_COUNT.finditer(text):
                shown = _signalled_before_latest(section, 8, outside=m.group(2).endswith("limits"))
                if int(m.group(1)) != shown:
                    problems.append(f"#{sid}: {m.group(0)!r} but the chart flags {shown}")
            for m in CATEGORY_COUNT.finditer(text):
                rows = _pareto_rows(section)
                few = next(k for k, (_, cum) in enumerate(rows, 1) if cum >= float(m.group(3)))
                if (int(m.group(1)), int(m.group(2))) != (few, len(rows)):
                    problems.append(
                        f"#{sid}: {m.group(0)!r} but the table has {few} of {len(rows)}"
                    )
            checked = CATEGORY_COUNT.sub(lambda m: m.group(3) + "%", SIGNAL_COUNT.sub(" ", text))
            for pattern in NOT_FIGURES:
                checked = pattern.sub(" ", checked)
            problems += [f"#{sid}: date {d!r} in {text!r}" for d in DATE.findall(checked)
                         if d not in dates]  # fmt: skip
            for n in _numbers(DATE.sub(" ", checked)):
                if n in numbers or (n[0].isdigit() and n in unsigned):
                    continue
                problems.append(f"#{sid}: {n!r} in {text!r}")
    return problems


@pytest.mark.parametrize("site", SITES)
def test_every_figure_of_the_text_is_in_a_chart_or_table(run_dir: Path, site: str) -> None:
    html = (run_dir / site / "report.html").read_text(encoding="utf-8")
    problems = untraceable(html)
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_figure_no_table_shows() -> None:
    """The check itself can fail: a sentence quoting a figure that its section does not show."""
    page = """<main><section id="metric-x"><p>Downtime fell 31% to 4.20 hours on 3 Mar 2026.</p>
    <table><tr><td>fell 31%</td><td>3 Mar 2026</td></tr></table></section></main>"""
    assert untraceable(page) == [
        "#metric-x: '4.20' in 'Downtime fell 31% to 4.20 hours on 3 Mar 2026.'"
    ]
    shown = page.replace("<td>fell 31%</td>", "<td>fell 31%</td><td>4.20</td>")
    assert untraceable(shown) == []


def test_a_chart_of_gaps_between_events_counts_points_not_days(run_dir: Path) -> None:
    """A g chart has one point per incident: its tile read "8 days · latest day, 31 Oct 2026",
    as if the metric were measured daily; the tile and the sentences say "point" as the chart does."""
    html = (run_dir / "build-manchester" / "report.html").read_text(encoding="utf-8")
    words = BeautifulSoup(html, "html.parser").get_text(" ")
    assert "latest day" not in words
    tile = re.search(r"Days between recordable incidents\s+\S+ days?\s+latest (\w+), ", words)
    assert tile is not None and tile.group(1) == "point", tile
    section = BeautifulSoup(html, "html.parser").find(id="metric-build_days_between_incidents")
    assert isinstance(section, Tag)
    # its header said "one point per day (mean)"; and its chart's "CL 18.0" sat beside the phase
    # table's "18 days": a count's whole numbers read alike on the chart and in the table
    assert "one point per occurrence" in section.get_text(" ")
    labels = [t.get_text() for t in section.find_all("text")]
    assert any(re.fullmatch(r"CL \d[\d.]*", t) for t in labels), labels
    assert not [t for t in labels if re.fullmatch(r"(U|L)?CL \d+\.0", t)], labels
