"""What the report says about signals, tiles and downloads: plain words a reader can check
against the chart beside them."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest

from pipeline.report.signals import glossary_rows, rule_label, signal_name
from pipeline.stats.rules import RULE_SETS


def test_every_rule_of_every_set_is_in_the_glossary():
    terms = [t for t, _ in glossary_rows()]
    for rules in RULE_SETS.values():
        for rule in rules:
            assert any(f"({rule};" in t for t in terms), rule
    assert rule_label("we4") == "Western Electric 4" and rule_label("nhs_shift") == "NHS shift"
    assert signal_name("nhs_trend", 1) == "7 points in a row rising"
    assert signal_name("we2", 1) == "2 of 3 points more than 2 sigma above the centre line"
    assert signal_name("we1", -1) == "a point below the lower limit"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    from pipeline.report.analysis import load_site_analysis
    from tests.conftest import AS_OF, write_mini_project

    project = write_mini_project(tmp_path_factory.mktemp("words") / "project")
    return load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)


def test_methods_and_signal_lists_use_words_not_codes(site) -> None:
    from pipeline.report import sections

    methods = sections.methods(site)._repr_html_()
    assert "Western Electric 4 (we4; Western Electric set)" in methods
    assert "Anhøj crossings (anhoej_crossings; Anhøj set)" in methods
    for m in site.metrics:
        html = sections.metric_section(site, m)._repr_html_()
        listed = re.findall(r"<li>(.*?): latest \d", html)
        # no count of flagged points beside a chart that colours the whole run ("8 points in
        # a row above the centre line ...: 1 point" sat beside nine coloured points)
        assert not re.findall(r"<li>[^<]*: \d+ points?, latest", html)
        for item in listed:
            assert not re.match(r"^(we|nelson|nhs|anhoej)", item), item
        # nor anywhere else in the section's words (a capability warning said "signals: we1,
        # we2, we4"); the glossary alone gives the codes
        words = re.sub(r"<svg.*?</svg>|<[^>]+>", " ", html, flags=re.S)
        assert not re.search(r"\b(we|nelson)\d\b", words), re.findall(r".{40}\bwe\d\b", words)


def test_tiles_label_the_latest_value_and_the_current_level(site) -> None:
    from pipeline.report.findings import make_tile

    lead = site.metric("lead_time")
    tile = make_tile(lead)
    assert tile.latest_label.startswith("latest week, ")
    from pipeline.report import sections
    from pipeline.report.findings import goal_sentence, value_text

    # the tile's current level is the level the goal judges ("now" in its sentence): the mean of
    # the last sustain_points weeks, not the latest phase's centre that a fading gain leaves behind
    assert lead.current_level is not None
    assert tile.current_text == value_text(lead, lead.current_level)
    assert tile.current_label == f"level of the last {lead.level_points} weeks"
    expected = float(lead.values.dropna().tail(lead.level_points).mean())
    assert lead.current_level == pytest.approx(expected)
    for goal in lead.goals:
        if goal.progress is not None:
            assert goal.progress.current == pytest.approx(lead.current_level)
            assert f"(now {tile.current_text})" in goal_sentence(lead, goal)

    html = sections.summary(site)._repr_html_()
    assert f"level of the last {lead.level_points} weeks <strong>" in html


def test_csv_download_names_metric_unit_phases_and_frozen_limits(site) -> None:
    from pipeline.report import sections

    lead = site.metric("lead_time")
    html = sections.metric_section(site, lead)._repr_html_()
    data = re.search(r'href="data:text/csv;base64,([^"]+)"', html).group(1)
    frame = pd.read_csv(io.StringIO(base64.b64decode(data).decode("utf-8")))
    assert set(frame["metric"]) == {"Order lead time"} and set(frame["unit"]) == {"days"}
    assert set(frame["phase_name"]) == {"Baseline", "5S in dispatch"}
    # frozen-baseline limits are the first phase's, carried forward to every point
    base = frame[frame["phase"] == 1]
    assert frame["frozen_ucl"].nunique() == 1
    assert frame["frozen_ucl"].iloc[-1] == pytest.approx(base["ucl"].iloc[0])
    assert "signals_in_words" in frame


def _download(html: str) -> pd.DataFrame:
    data = re.search(r'href="data:text/csv;base64,([^"]+)"', html).group(1)
    text = base64.b64decode(data).decode("utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_csv_downloads_keep_formulas_in_names_and_titles_as_text(tmp_path) -> None:
    """A metric name, an event title or a defect category that starts like a formula reaches
    the download behind a leading ' (OWASP CSV injection): Excel would have run it."""
    import dataclasses

    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.stats.pareto import pareto
    from tests.conftest import AS_OF, write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    data = project.parent / "data"
    metrics = pd.read_csv(data / "metrics.csv", dtype=str, keep_default_na=False)
    metrics.loc[metrics["metric_id"] == "lead_time", "name"] = "=2+3 lead"
    metrics.to_csv(data / "metrics.csv", index=False)
    events = pd.read_csv(data / "events.csv", dtype=str, keep_default_na=False)
    events["title"] = "=cmd|' /C calc'!A0"
    events.to_csv(data / "events.csv", index=False)
    site = load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)

    frame = _download(sections.metric_section(site, site.metric("lead_time"))._repr_html_())
    assert set(frame["metric"]) == {"'=2+3 lead"}
    assert set(frame["phase_name"]) == {"Baseline", "'=cmd|' /C calc'!A0"}
    # numbers stay numbers: no column of figures gained a quote
    for column in ("value", "centre", "lcl", "ucl", "frozen_lcl"):
        assert not frame[column].str.startswith("'").any(), column
        pd.to_numeric(frame[column].replace("", None))

    hostile = dataclasses.replace(
        site, pareto=pareto(['=HYPERLINK("http://evil.example","click")', "Scratches"], [3, 1])
    )
    frame = _download(sections.pareto(hostile).body)
    assert frame["category"].tolist() == [
        '\'=HYPERLINK("http://evil.example","click")',
        "Scratches",
    ]
    assert frame["count"].tolist() == ["3", "1"]


def test_sentence_agrees_with_a_chart_that_had_signals(site) -> None:
    """A chart whose latest points are common cause but which had a point outside its limits
    earlier says both (the workshop's X-bar chart said only 'common cause')."""
    from dataclasses import replace

    import numpy as np

    from pipeline.report.sections import _metric_sentence
    from pipeline.stats.spc import control_chart

    values = np.r_[np.tile([9.0, 11.0], 5), [30.0], np.tile([9.0, 11.0], 10)]
    chart = control_chart(values, rules="we")
    assert [s.index for s in chart.signals if s.rule == "we1"] == [10]
    metric = replace(site.metric("lead_time"), chart=chart, frozen=None, events=())
    assert metric.variation == "common_cause"
    assert _metric_sentence(metric).endswith(
        "the latest 8 points show common cause variation, though earlier 1 point fell outside "
        "the limits (neither better nor worse)."  # a chart without a direction: neutral signals
    )


def test_sentence_counts_the_points_the_chart_colours(site) -> None:
    from dataclasses import replace

    import numpy as np

    from pipeline.report.sections import _metric_sentence
    from pipeline.stats.spc import control_chart

    # 10 points at 9.5 then 9, 11 alternating: centre 9.83, so indices 0-10 are one run below
    # it; Western Electric 4 flags its 8th to 11th points (7-10), the chart colours all 11
    values = np.r_[np.full(10, 9.5), np.tile([9.0, 11.0], 10)]
    chart = control_chart(values, rules="we")
    assert np.flatnonzero(chart.flags["we4"]).tolist() == [7, 8, 9, 10]
    metric = replace(site.metric("lead_time"), chart=chart, frozen=None, events=())
    assert _metric_sentence(metric).endswith(
        "though earlier 11 points formed rule signals (neither better nor worse)."
    )


def test_a_score_on_a_scale_reads_out_of_its_top(site) -> None:
    """A tile read "8.21 score 0–10": the unit after the value read as part of it."""
    import dataclasses

    from pipeline.report.findings import make_tile, value_text

    score = dataclasses.replace(site.metric("lead_time"), unit="score 0–10")
    tile = make_tile(score)
    assert tile.latest_text.endswith(" out of 10"), tile.latest_text
    assert "score 0–10" not in tile.latest_text
    if tile.current_text:
        assert tile.current_text.endswith(" out of 10"), tile.current_text
    assert value_text(score, 8.214) == "8.21 out of 10"
    assert value_text(score, 8.214, table=True) == "8.21"  # the header line names the scale


def test_a_long_unit_is_said_in_sentences_and_tiles_and_named_once_above_tables(site) -> None:
    import dataclasses

    from pipeline.report import sections
    from pipeline.report.findings import make_tile, value_text

    lead = dataclasses.replace(site.metric("lead_time"), unit="days behind the plan")
    # a tile's big figure and a sentence carry the unit ("3.63% behind plan" read "3.63")
    assert make_tile(lead).latest_text.endswith(" days behind the plan")
    assert value_text(lead, 2.5) == "2.50 days behind the plan"
    # a table cell leaves it to the metric's header line, which names it once
    assert value_text(lead, 2.5, table=True) == "2.50"
    html = sections.metric_section(site, lead)._repr_html_()
    assert "unit: days behind the plan" in html


def test_a_listed_signal_names_when_it_last_fired_without_a_count_of_points(site) -> None:
    """'8 points in a row above the centre line (Western Electric 4), neutral: 1 point' sat
    beside nine coloured points: the count was of the points that complete the run, while the
    chart colours the whole run. The list now names the signal and when it last fired."""
    import dataclasses

    import numpy as np

    from pipeline.report import sections
    from pipeline.stats.spc import control_chart

    lead = site.metric("lead_time")
    # 20 points alternating about 10, then 10 at 10.5: a run of 11 points above the centre line
    # (10.17), which Western Electric 4 flags at its 8th to 11th points
    x = np.r_[np.tile([9.0, 11.0], 10), np.full(10, 10.5)]
    times = pd.date_range("2026-01-05", periods=30, freq="W-MON")
    chart = control_chart(x, times=times, rules="we")
    assert [s.rule for s in chart.signals] == ["we4"] * 4
    html = sections.metric_section(site, dataclasses.replace(lead, chart=chart))._repr_html_()
    items = re.findall(r"<li>([^<]*)</li>", html.split("Rule signals in the last", 1)[1])
    assert items[0] == (
        "8 points in a row above the centre line (Western Electric 4), neutral: latest 27 Jul 2026"
    ), items


def test_the_words_of_a_signal_use_the_run_length_its_chart_used() -> None:
    """A project may set ``run_length``: with 6, a run of 6 flags Western Electric 4, and the
    hover titles, the signal list and the glossary said "8 points in a row" all the same. They
    say what the chart used; the capability warning uses the same words (one wording)."""
    from pipeline.report.plots.control import point_titles
    from pipeline.stats.capability import process_capability
    from pipeline.stats.rules import rule_words
    from pipeline.stats.spc import control_chart

    x = np.r_[np.full(6, 1.0), np.full(6, 3.0)] + np.tile([0.0, 0.01], 6)
    chart = control_chart(x, rules=("we4",), run_length=6)
    assert chart.signals
    assert signal_name("we4", 1, chart=chart) == "6 points in a row above the centre line"
    titles = point_titles(chart)
    assert any("6 points in a row above the centre line" in t for t in titles), titles
    assert not any("8 points" in t for t in titles)
    rows = dict(glossary_rows(run_length=6, trend_length=5))
    assert rows["Western Electric 4 (we4; Western Electric set)"].startswith("6 points in a row")
    assert rows["NHS shift (nhs_shift; NHS Making Data Count set)"].startswith("6 points")
    assert rows["Nelson 2 (nelson2; Nelson set)"].startswith("9 points")  # not configurable
    assert rows["Nelson 3 (nelson3; Nelson set)"].startswith("5 points in a row rising")
    capability = process_capability(x, lsl=0, usl=4, rules=("we4",), run_length=6)
    assert rule_words("we4", run_length=6) in capability.warnings[0], capability.warnings


def test_a_metric_without_an_effect_size_or_with_few_points_is_described_in_plain_words(
    tmp_path,
) -> None:
    """A defect rate that was 0 before and after an event has a verdict but no effect size; a
    metric with 3 points has a level of 3 points, not of sustain_points (a reviewer's report
    said "made no clear difference ...: it not enough data" and "the latest 8 points")."""
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.findings import event_headline, event_sentence, make_tile
    from tests.conftest import AS_OF, SCHEMA, write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    data = project.parent / "data"
    weeks = pd.date_range("2025-07-07", "2026-06-22", freq="W-MON")
    obs = pd.read_csv(data / "observations.csv")
    extra = [("north", "zero", w.date().isoformat(), 0, 50, "") for w in weeks]
    extra += [("north", "short", w.date().isoformat(), v, "", "") for w, v in
              zip(weeks[-3:], (10.0, 11.0, 12.0), strict=True)]  # fmt: skip
    pd.concat([obs, pd.DataFrame(extra, columns=obs.columns)]).to_csv(
        data / "observations.csv", index=False
    )
    metrics = pd.read_csv(data / "metrics.csv")
    metrics.loc[len(metrics)] = ("zero", "Zero defects", "%", "p", "lower", "week", "sum")
    metrics.loc[len(metrics)] = ("short", "Short metric", "units", "xmr", "lower", "week", "mean")
    metrics.to_csv(data / "metrics.csv", index=False)
    events = pd.read_csv(data / "events.csv", dtype=str, keep_default_na=False)
    row = dict(zip(SCHEMA["events"], events.iloc[0], strict=True))
    row.update(event_id="north-e2", title="Zero change", start_date="2026-01-05",
               effective_date="2026-01-12", metric_ids="zero")  # fmt: skip
    pd.concat([events, pd.DataFrame([row])]).to_csv(data / "events.csv", index=False)

    site = load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)
    zero = site.metric("zero")
    judged = [e for e in zero.events if e.outcome is not None]
    assert judged and judged[-1].outcome.verdict.outcome == "no_clear_change"
    sentence = event_sentence(zero, judged[-1])
    assert "no size of effect" in sentence and "it not enough data" not in sentence
    assert "not enough data" not in event_headline(zero, judged[-1])
    assert make_tile(zero).change_text == "No clear change after “Zero change”"

    short = site.metric("short")
    assert short.level_points == 3
    assert make_tile(short).current_label == "level of the last 3 weeks"
    html = sections.metric_section(site, short)._repr_html_()
    assert "the latest 3 points show" in html and "the latest 8 points" not in html
    assert "in the last 3 points" in html and "26 points" not in html


def _words(html: str) -> str:
    text = re.sub(r"<svg.*?</svg>|<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    return " ".join(text.split())


def test_a_report_dated_before_the_sites_data_says_so_once(tmp_path) -> None:
    """An --as-of before a site's first reading read "Not enough data for a control chart
    (fewer than two values in the window).. Not enough data for a control chart …" in each
    metric, a tile per metric saying "not enough data", and "as of 2 Mar 2025 · data up to
    22 Jun 2026": the report and its summary now make one statement."""
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.findings import summarise_site
    from tests.conftest import write_mini_project

    project = write_mini_project(tmp_path / "project")
    site = load_site_analysis(
        project_file=str(project), site_data="", site_id="north", as_of="2025-03-02"
    )
    statement = (
        "No data on or before 2 Mar 2025 for this site: its observations start on 7 Jul 2025."
    )
    summary = summarise_site(site)
    assert summary.headline == statement and summary.findings == () and summary.key_charts == ()
    assert _words(sections.summary(site)._repr_html_()) == f"Executive summary {statement}"
    header = _words(sections.header(site)._repr_html_())
    assert "as of 2 Mar 2025 · no data on or before 2 Mar 2025 ·" in header
    assert "data up to" not in header
    for m in site.metrics:
        words = _words(sections.metric_section(site, m)._repr_html_())
        assert words.count(f"{m.name}: no data on or before 2 Mar 2025.") == 1, words
        assert "not enough data for a control chart" not in words.lower(), words
        assert ".." not in words, words
        assert "nan" not in words.lower().split()


def test_a_metric_with_one_value_says_why_it_has_no_chart_in_one_sentence(tmp_path) -> None:
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from tests.conftest import write_mini_project

    project = write_mini_project(tmp_path / "project")
    site = load_site_analysis(
        project_file=str(project), site_data="", site_id="north", as_of="2025-07-08"
    )
    assert site.has_data
    for m in site.metrics:
        assert m.chart is None
        words = _words(sections.metric_section(site, m)._repr_html_())
        said = f"{m.name}: not enough data for a control chart (one value in the window)."
        assert words.count(said) == 1 and ".." not in words, words
    header = _words(sections.header(site)._repr_html_())
    assert "data up to 8 Jul 2025" in header  # the newest reading the report uses


def test_a_metric_that_did_not_vary_says_so_without_an_interval(tmp_path) -> None:
    """A metric at 5 every week read "stayed level 0.0% (95% CI 0.0% to 0.0%)", and its
    segmented regression quoted p-values computed from ~1e-16 residuals: now the verdict, the
    findings and the statistics panel say it did not vary and give no interval or test."""
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.findings import effect_text, event_sentence
    from tests.conftest import AS_OF, SCHEMA, write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    data = project.parent / "data"
    weeks = pd.date_range("2025-07-07", "2026-06-22", freq="W-MON")
    obs = pd.read_csv(data / "observations.csv")
    extra = [("north", "flat", w.date().isoformat(), 5.0, "", "") for w in weeks]
    pd.concat([obs, pd.DataFrame(extra, columns=obs.columns)]).to_csv(
        data / "observations.csv", index=False
    )
    metrics = pd.read_csv(data / "metrics.csv")
    metrics.loc[len(metrics)] = ("flat", "Flat metric", "units", "xmr", "lower", "week", "mean")
    metrics.to_csv(data / "metrics.csv", index=False)
    events = pd.read_csv(data / "events.csv", dtype=str, keep_default_na=False)
    row = dict(zip(SCHEMA["events"], events.iloc[0], strict=True))
    row.update(event_id="north-e2", title="Flat change", start_date="2026-01-05",
               effective_date="2026-01-12", metric_ids="flat")  # fmt: skip
    pd.concat([events, pd.DataFrame([row])]).to_csv(data / "events.csv", index=False)

    site = load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)
    flat = site.metric("flat")
    event = next(e for e in flat.events if e.outcome is not None)
    verdict = event.outcome.verdict
    assert verdict.is_constant and verdict.outcome == "no_clear_change"
    assert verdict.effect.ci_low is None and verdict.effect.pvalue is None
    assert "no variation: no test possible" in verdict.reasons[0]
    assert effect_text(flat, event).startswith("did not vary")
    sentence = event_sentence(flat, event)
    assert "did not vary" in sentence and "CI" not in sentence and "0.0%" not in sentence
    seg = event.outcome.impact.segmented_regression
    assert seg.is_constant and seg.level_change.pvalue is None and seg.level_change.se is None
    words = _words(sections.metric_section(site, flat)._repr_html_())
    assert "did not vary" in words and "0.0% to 0.0%" not in words, words
    assert "nan" not in words.lower().split()
    assert "95% CI" not in words.split("Statistics for")[1], words
    assert "Classical p-value (Welch) no variation: no test possible" in words, words
    assert "Mann-Whitney p-value no variation: no test possible" in words, words


def test_an_event_dated_before_the_data_has_no_baseline_it_is_not_too_recent(tmp_path) -> None:
    """An improvement dated before the metric's first point, with a year of data after it,
    read "… is too recent to judge (38 weeks of data since)": waiting will not help, the data
    have no baseline. Every sentence about it says so."""
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.findings import event_headline, event_sentence, make_tile
    from pipeline.report.portfolio.model import collect_improvements
    from pipeline.report.results import site_results
    from tests.conftest import AS_OF, SCHEMA, write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    data = project.parent / "data"
    events = pd.read_csv(data / "events.csv", dtype=str, keep_default_na=False)
    row = dict(zip(SCHEMA["events"], events.iloc[0], strict=True))
    row.update(start_date="2020-01-06", effective_date="2020-01-13")
    pd.DataFrame([row]).to_csv(data / "events.csv", index=False)
    site = load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)
    metric = next(m for m in site.metrics if m.events)
    (event,) = metric.events
    v = event.outcome.verdict
    assert v.outcome == "too_early" and v.lacks_baseline and v.n_before == 0 and v.n_after > 8
    sentence = event_sentence(metric, event)
    assert "cannot be judged" in sentence and "0 weeks of data before it" in sentence, sentence
    # the transition (start 6 Jan, effective 13 Jan) is not in the before window: said so
    assert "(the transition from its start on 6 Jan 2020 left out)" in sentence, sentence
    assert "too recent" not in sentence
    assert event_headline(metric, event).endswith(f"no baseline to judge “{event.title}”")
    assert make_tile(metric).change_text.startswith(f"No baseline to judge “{event.title}”")
    assert event.outcome.sentence("It") == "It cannot be judged: too little data before it."
    # the impact table, the statistics panel and the portfolio give it the same label
    html = sections.metric_section(site, metric)._repr_html_()
    assert "No baseline to judge" in html and "Too early to judge" not in html
    (row,) = collect_improvements([("north", site.site_name, site_results(site))])
    assert row.verdict == "too_early" and row.verdict_text == "No baseline to judge"


def test_a_goal_whose_target_is_worse_than_its_baseline_is_not_judged(tmp_path) -> None:
    """A cut of 20% entered as +0.2 on a lower-is-better metric aimed at a level worse than the
    baseline: the tile said "off track: 0% of the way", the table "−134%", the assurance
    "consistently meets the target". The goal now says what is wrong and is not judged."""
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.findings import goal_text
    from tests.conftest import AS_OF, write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    data = project.parent / "data"
    metric = pd.read_csv(data / "metrics.csv").query("better == 'lower'").iloc[0]
    pd.DataFrame(
        [("G1", "north", metric.metric_id, "Cut it by 20%", "2025-07-01", "2025-12-31",
          "relative", 0.2, "2026-12-31")],
        columns=["goal_id", "site_id", "metric_id", "title", "baseline_start", "baseline_end",
                 "target_kind", "target_value", "due_date"],
    ).to_csv(data / "goals.csv", index=False)  # fmt: skip
    text = project.read_text(encoding="utf-8")
    if "goals:" not in text:
        text = text.replace("tables:\n", "tables:\n  goals: {path: data/goals.csv}\n", 1)
    project.write_text(text, encoding="utf-8")
    site = load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)
    m = site.metric(metric.metric_id)
    (goal,) = m.goals
    assert goal.progress is None and goal.assurance is None
    assert "is worse than the baseline" in goal.note and "where lower is better" in goal.note
    assert "-0.2 cuts the baseline by 20%" in goal.note
    assert "of the way" not in goal_text(m)


def test_a_stale_report_says_how_old_its_data_are_above_everything(tmp_path) -> None:
    """The banner said only "1 data-contract rule raised warnings (observations)" over a
    report whose newest data were two months old."""
    import json

    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from tests.conftest import write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    validation = {
        "status": "warnings", "stale": True,
        "failures": [{"table": "observations", "rule": "data_is_current", "severity": "warning",
                      "description": "the site has observations in the last periods"}],
    }  # fmt: skip
    vfile = tmp_path / "validation.json"
    vfile.write_text(json.dumps(validation), encoding="utf-8")
    site = load_site_analysis(project_file=str(project), site_data="", site_id="north",
                              as_of="2026-09-28", validation_file=str(vfile))  # fmt: skip
    html = sections.header(site)._repr_html_()
    newest = pd.Timestamp(site.data_freshness)
    weeks = (pd.Timestamp("2026-09-28") - newest.normalize()).days // 7
    assert f"<strong>Old data.</strong> The newest data are from {newest:%-d %b %Y}, " in html
    assert f"{weeks} weeks before the report date (28 Sep 2026)" in html and weeks >= 2


def test_a_change_on_a_metric_with_no_better_direction_is_no_improvement(tmp_path) -> None:
    """better: neutral: the mini project's lead-time cut was "Sustained improvement: fell …",
    ranked as best practice on the portfolio. It is a change, said so everywhere, and never
    best practice."""
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.findings import event_headline, event_sentence, make_tile
    from pipeline.report.portfolio.model import collect_improvements
    from pipeline.report.results import site_results
    from tests.conftest import AS_OF, write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    data = project.parent / "data"
    metrics = pd.read_csv(data / "metrics.csv", dtype=str, keep_default_na=False)
    metrics["better"] = "neutral"
    metrics.to_csv(data / "metrics.csv", index=False)
    site = load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)
    metric = next(m for m in site.metrics if m.events)
    (event,) = metric.events
    v = event.outcome.verdict
    assert v.outcome == "changed" and not v.is_credited
    assert make_tile(metric).change_text.startswith("Changed (no better direction): ")
    sentence = event_sentence(metric, event)
    assert "changed clearly" in sentence and "neither an improvement nor a failure" in sentence
    assert "improve" not in event_headline(metric, event)
    html = sections.metric_section(site, metric)._repr_html_()
    assert "Changed (no better direction)" in html and "Sustained" not in html
    (row,) = collect_improvements([("north", site.site_name, site_results(site))])
    assert row.verdict == "changed" and row.verdict_text == "Changed (no better direction)"
    methods = sections.methods(site)._repr_html_()
    assert "Changed (no better direction): a clear change on a metric" in methods


def test_a_provisional_baseline_gives_no_special_cause_icon_of_its_own(tmp_path) -> None:
    """Six weekly points, an improvement after the third: the frozen chart's 3-point baseline
    put every later point beyond its limits, and the tile, email and portfolio showed a red
    "Special cause: concerning" while the section said "No rule signals". A provisional
    baseline is no reference: the current process's own signals decide."""
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.findings import make_tile
    from pipeline.vocabulary import VariationIcon
    from tests.conftest import AS_OF, write_mini_project

    project = write_mini_project(tmp_path / "project", sites=("north",))
    data = project.parent / "data"
    obs = pd.read_csv(data / "observations.csv", dtype=str, keep_default_na=False)
    lead = obs[(obs["metric_id"] == "lead_time")].tail(6).copy()
    weeks = pd.date_range(end=pd.Timestamp(AS_OF), periods=6, freq="W-MON")
    lead["timestamp"] = [w.date().isoformat() for w in weeks]
    lead["value"] = ["10", "10.2", "9.9", "13", "13.1", "12.9"]
    others = obs[obs["metric_id"] != "lead_time"]
    pd.concat([others, lead]).to_csv(data / "observations.csv", index=False)
    events = pd.read_csv(data / "events.csv", dtype=str, keep_default_na=False)
    events["start_date"] = events["effective_date"] = lead["timestamp"].iloc[3]
    events.to_csv(data / "events.csv", index=False)
    site = load_site_analysis(project_file=str(project), site_data="", site_id="north", as_of=AS_OF)
    metric = next(m for m in site.metrics if m.metric_id == "lead_time")
    assert metric.frozen is not None and metric.frozen.phases[0].is_provisional
    assert metric.frozen.variation(last=8) == VariationIcon.SPECIAL_CAUSE_CONCERN  # the old icon
    assert not metric.chart.has_concern(last=8)
    assert metric.variation == metric.chart.variation(last=8)
    assert metric.variation != VariationIcon.SPECIAL_CAUSE_CONCERN
    assert "concerning" not in make_tile(metric).variation_text.lower()


def test_a_long_headline_is_cut_between_words_and_never_on_a_dangling_word() -> None:
    """A 90-character metric name cut the site's headline to "...and is holding, after…",
    promising an event it no longer named; a cut inside the event's title left its quotation
    open. The cut now ends on a word that stands, and closes the quotation."""
    from pipeline.formatting import shorten

    name = "Average end-to-end lot cycle time from wafer start to final probe across all nodes"
    text = f"{name} fell 27% (95% CI −28% to −26%) and is holding, after “WIP caps and dispatch”"
    limit = text.index("“") + 4  # the cut falls just inside the event's title
    cut = shorten(text, limit)
    assert len(cut) <= limit and cut.endswith("and is holding…"), cut
    quoted = shorten(
        f"{name}: no clear change after “Express check-in: online pre-registration”", 120
    )
    assert len(quoted) <= 120 and quoted.endswith("…”") and quoted.count("“") == 1, quoted
    assert not quoted.removesuffix("…”").endswith((" ", ":", "after")), quoted
    assert shorten("Lot cycle time fell 20%", 150) == "Lot cycle time fell 20%"
