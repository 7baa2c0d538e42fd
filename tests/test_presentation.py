"""The presentation layer in-process: findings, sections, the email body and the portfolio, built
from a SiteAnalysis of the demo data without kernels, notebooks or a browser."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path

import jinja2
import pandas as pd
import pytest

from pipeline.data.config import load_project
from pipeline.data.demo import write_demo_project
from pipeline.data.inputs import read_tables, split_by_site
from pipeline.report import sections
from pipeline.report.analysis import SiteAnalysis, analyse_site
from pipeline.report.findings import summarise_site
from pipeline.report.results import site_results
from pipeline.report.templating import TEMPLATES, environment, render
from pipeline.vocabulary import Verdict

AS_OF = "2026-11-30"
SITE = "atelier-florence"
# one xdist worker runs the whole module, so its module-scoped fixtures are built once
pytestmark = pytest.mark.xdist_group("presentation")


def _analyse(root: Path, *, alpha: float) -> SiteAnalysis:
    project_file = write_demo_project(root, as_of=AS_OF)
    text = project_file.read_text(encoding="utf-8")
    assert "alpha: 0.05" in text
    project_file.write_text(text.replace("alpha: 0.05", f"alpha: {alpha}"), encoding="utf-8")
    project = load_project(project_file)
    data = split_by_site(read_tables(project), [SITE])[SITE]
    return analyse_site(data, project=project, site_id=SITE, as_of=pd.Timestamp(AS_OF))


@pytest.fixture(scope="module", params=[0.1, 0.2])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SiteAnalysis:
    return _analyse(tmp_path_factory.mktemp(f"alpha{request.param}"), alpha=request.param)


def _page(site: SiteAnalysis) -> str:
    parts = [sections.header(site), sections.summary(site), sections.strategy(site)]
    parts += [sections.metric_section(site, m) for m in site.metrics]
    parts += [sections.pareto(site), sections.culture(site), sections.data_quality(site)]
    parts += [sections.methods(site)]
    return "".join(p._repr_html_() for p in parts)


def _text(html: str) -> str:
    """The page's text: no tags, no inline SVG (chart labels are matplotlib's)."""
    html = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_interval_label_follows_alpha_everywhere(site: SiteAnalysis) -> None:
    level = {0.05: "95", 0.1: "90", 0.2: "80"}[site.settings.alpha]
    others = {"95", "90", "80"} - {level}
    summary = summarise_site(site)
    page = _text(_page(site))
    findings = " ".join(summary.findings)
    # The demo's sustained gains are reported with their interval in the findings and tables.
    assert f"{level}% CI" in findings
    assert page.count(f"{level}% CI") >= 5
    for other in others:
        assert f"{other}% CI" not in page and f"{other}% CI" not in findings
    assert f"Effect (verdict, {level}% CI)" in page  # the improvements table's heading
    assert f"Significance level / confidence {site.settings.alpha:g} / {level}%" in " ".join(
        page.split()
    )


def test_results_json_carries_the_same_words(site: SiteAnalysis) -> None:
    level = {0.05: "95", 0.1: "90", 0.2: "80"}[site.settings.alpha]
    data = site_results(site)
    assert data["settings"]["alpha"] == site.settings.alpha
    assert any(f"{level}% CI" in f for f in data["summary"]["findings"])


def test_sections_show_no_missing_values_and_one_minus_sign(site: SiteAnalysis) -> None:
    page = _text(_page(site))
    for bad in ("nan", "NaN", "None", "inf", "-0%", "0.000"):  # words of the page
        assert bad not in page.split(), bad
    # a hyphen directly before a digit is a minus typed by hand (dates are "3 Mar 2026")
    assert not re.search(r"(?<![\w/])-\d", page), re.findall(r".{20}(?<![\w/])-\d.{10}", page)


def test_every_section_is_a_template(site: SiteAnalysis) -> None:
    html = sections.summary(site)._repr_html_()
    assert html.startswith('<section id="summary">')
    assert repr(sections.summary(site)).startswith("<report section,")


def test_templates_escape_and_are_strict() -> None:
    hostile = "<script>alert(1)</script>"
    out = render(
        "site/header.html.j2",
        project_name=hostile, site_name=hostile, window_start=None, as_of=None,
        data_freshness=None, run_id="", banner=None, toc=[("x", hostile)],
    ).body  # fmt: skip
    assert "<script>" not in out and "&lt;script&gt;" in out
    with pytest.raises(jinja2.UndefinedError):
        render("site/header.html.j2", project_name="x")
    assert environment().autoescape is True


#: An opening HTML tag anywhere in a string, except as a Markdown code span ("`<table>.json`",
#: a placeholder in the contracts' README). SVG's own elements (``<svg``, ``<g``, ``<title>``
#: inside a chart) are not in the list: plots.style edits matplotlib's SVG output.
_HTML_TAG = re.compile(
    r"(?<!`)<(a|b|body|br|caption|code|div|em|h[1-6]|head|html|i|img|li|ol|p|pre|script|section|"
    r"small|span|strong|style|table|tbody|td|th|thead|tr|ul)[\s>/]",
    re.I,
)


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant in ``tree`` (f-string parts included), docstrings left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


def test_no_html_built_from_strings_in_the_package() -> None:
    """Markup lives in the Jinja2 templates (and, for a notebook's display of a stats result,
    in pandas' Styler): no Python string in ``pipeline/`` holds an HTML tag."""
    package = Path(sections.__file__).parents[1]
    found = [
        f"{path.relative_to(package)}:{line}: {text[:60]!r}"
        for path in sorted(package.rglob("*.py"))
        for line, text in _string_literals(ast.parse(path.read_text(encoding="utf-8")))
        if _HTML_TAG.search(text)
    ]
    assert found == []
    assert _HTML_TAG.search("x <td>") and _HTML_TAG.search('<div class="a">')  # the net holds
    assert (TEMPLATES / "site" / "metric.html.j2").is_file()


def _site_folder(site: SiteAnalysis, root: Path) -> Path:
    """The site's results.json as the notebook writes it (no charts: the email skips them)."""
    from pipeline.files import atomic_write_json

    folder = root / site.site_id
    atomic_write_json(folder / "results.json", site_results(site))
    return folder


def test_email_body_reads_the_interval_label_from_results(
    site: SiteAnalysis, tmp_path: Path
) -> None:
    from pipeline.delivery.body import render_html, render_text
    from pipeline.delivery.summary import EmailSummary, read_results

    level = {0.1: "90", 0.2: "80"}[site.settings.alpha]
    folder = _site_folder(site, tmp_path)
    summary = EmailSummary.from_results(
        read_results(folder, site.site_id), site_dir=folder, site_id=site.site_id,
        site_name=site.site_name, project=site.project_name, as_of=AS_OF, domain="example.com",
    )  # fmt: skip
    html = render_html(summary, attachment_note="")
    text = render_text(summary, attachment_note="")
    assert f"{level}% CI" in html and f"{level}% CI" in text
    assert "95% CI" not in html and "95% CI" not in text
    assert summary.summary.tiles[0].latest_text == summarise_site(site).tiles[0].latest_text


def test_portfolio_reads_the_interval_label_from_results(
    site: SiteAnalysis, tmp_path: Path
) -> None:
    from pipeline.report.portfolio.model import build_portfolio, load_run
    from pipeline.report.portfolio.page import render_portfolio

    level = {0.1: "90", 0.2: "80"}[site.settings.alpha]
    _site_folder(site, tmp_path)
    manifest = {
        "run_id": "r1", "as_of": AS_OF, "generated_at": f"{AS_OF}T06:00:00+00:00",
        "sites": [{"site_id": site.site_id, "status": "ok", "error": None}],
        "summary": {"ok": 1, "warnings": 0, "failed": 0},
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    manifest, results = load_run(tmp_path)
    assert set(results) == {site.site_id}
    portfolio = build_portfolio(
        manifest, results, out_root=tmp_path, project_name=site.project_name,
        site_names={site.site_id: site.site_name}, as_of=AS_OF, run_id="r1",
        today=dt.date.fromisoformat(AS_OF), alpha=site.settings.alpha,
    )  # fmt: skip
    page = render_portfolio(portfolio)
    assert f"{level}% CI" in page and "95% CI" not in page


def test_model_output_is_on_the_metric_scale(site: SiteAnalysis) -> None:
    from pipeline.formatting import fmt_ratio

    for m in site.metrics:
        for e in m.events:
            seg = e.outcome.impact.segmented_regression if e.outcome and e.outcome.impact else None
            if seg is None:
                continue
            rows = dict(sections.model_rows(m, seg))
            level = rows["Level change at the change point"]
            nat = seg.natural_scale
            if m.chart_type in ("u", "c"):
                # exp(b2): the page shows the rate ratio, never the log-scale coefficient
                assert level.startswith(f"rate ratio {fmt_ratio(nat.level_change.estimate)}")
            elif m.chart_type in ("p", "np"):
                assert level.startswith(f"odds ratio {fmt_ratio(nat.level_change.estimate)}")
                assert "percentage points" in " ".join(rows.values())
            else:
                assert "ratio" not in level and m.unit in level
            assert sections.fmt_number(seg.level_change.estimate) not in level or (
                m.chart_type not in ("u", "c", "p", "np")
            )


def test_methods_name_the_models_fitted_for_this_site(site: SiteAnalysis) -> None:
    rows = sections.model_rows_for_methods(site)
    assert [r[0] for r in rows] == [m.name for m in site.metrics]
    assert all(cell.strip() for r in rows for cell in r)  # no blank "Model" cell anywhere
    by_name = {r[0]: r for r in rows}
    for m in site.metrics:
        fitted = {
            e.outcome.impact.segmented_regression.model
            for e in m.events
            if e.outcome and e.outcome.impact and e.outcome.impact.segmented_regression
        }
        for model in fitted:
            assert model in by_name[m.name][3]
    page = _text(_page(site))
    assert "Poisson GLM" in page and "binomial GLM (logit)" in page
    assert not re.search(r"Model\s+:", page)


def test_each_model_is_described_once_in_methods(site: SiteAnalysis) -> None:
    """The verdict's and the segmented regression's models are described in the Methods table
    (one row per metric, from the models fitted); an event's statistics panel names that row
    instead of repeating it (it said the same words as the table, in every panel)."""
    import html as html_lib

    page = html_lib.unescape(_text(_page(site)))
    methods = html_lib.unescape(_text(sections.methods(site)._repr_html_()))
    rows = sections.model_rows_for_methods(site)
    judged = [(m, e) for m in site.metrics for e in m.events if e.outcome and e.outcome.impact]
    assert judged
    # what every judged metric's verdict model shares is said once, under the table (it filled
    # five lines of each row); each row keeps the rest of its model
    shared = sections.shared_model_clauses(rows)
    assert shared, "the demo's verdicts share their covariance and testing procedure"
    for clause in shared:
        assert page.count(clause) == methods.count(clause) == 1, clause
    for m, e in judged:
        method = e.outcome.verdict.method
        own = "; ".join(c for c in method.split("; ") if c not in shared)
        assert own and set(method.split("; ")) <= {*own.split("; "), *shared}, method
        in_table = sum(method in r[2] for r in rows)
        assert in_table >= 1 and page.count(own) == methods.count(own) == in_table, own
        seg = e.outcome.impact.segmented_regression
        if seg is not None:
            assert seg.cov_type not in page  # the panel's "OLS; HAC (Newey-West, ...)" row
            by_name = {r[0]: r for r in rows}
            assert f"maxlags {seg.maxlags}" in by_name[m.name][3]
        pointer = f"as listed for {m.name} under “{sections.MODELS_CAPTION}” in Methods"
        assert pointer in page
    assert f"{sections.MODELS_CAPTION}" in methods


def test_a_tile_names_a_too_early_event(site: SiteAnalysis) -> None:
    from dataclasses import replace

    from pipeline.report.findings import make_tile
    from pipeline.vocabulary import Verdict

    m = next(m for m in site.metrics if any(e.outcome for e in m.events))
    e = next(e for e in m.events if e.outcome)
    verdict = replace(e.outcome.verdict, outcome=Verdict.TOO_EARLY)
    early = replace(e, outcome=replace(e.outcome, verdict=verdict))
    tile = make_tile(replace(m, events=(early,)))
    assert tile.change_text.startswith(f"Too early to judge “{e.title}”")
    assert f"{verdict.n_after} {m.period}s of data" in tile.change_text
    assert make_tile(replace(m, events=())).change_text == "No change point yet"


def test_a_hold_goal_names_its_band(site: SiteAnalysis) -> None:
    from pipeline.report.findings import goal_sentence, goal_text, value_text

    holds = [(m, g) for m in site.metrics for g in m.goals
             if g.progress is not None and g.progress.target_kind == "hold"]  # fmt: skip
    assert holds, "the demo's atelier has a hold goal (saddle-stitch density)"
    for m, g in holds:
        prog = g.progress
        tol = abs(prog.target_change)
        low, high = value_text(m, prog.baseline - tol), value_text(m, prog.baseline + tol)
        assert m.better == "neutral"  # a symmetric band: both of its ends are named
        for text in (goal_text(m), goal_sentence(m, g)):
            assert f"band {low.split(' ')[0]} to {high}" in text, text
        assert "limit" not in goal_text(m)


def test_the_goals_table_writes_each_target_in_its_metrics_unit(site: SiteAnalysis) -> None:
    """No header line above the goals table names a unit, and a phone shows each row as a card:
    'Target: 2.00' for complaints per 100 stays left the reader to guess."""
    from pipeline.report.findings import hold_band, value_text

    html = sections.strategy(site)._repr_html_()
    goals_table = html.split("Goals and progress toward them", 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'data-label="Target"[^>]*>([^<]*)<', goals_table)
    expected = []
    for m in site.metrics:
        for g in m.goals:
            if g.progress is not None and g.progress.target_kind == "hold":
                expected.append(hold_band(m, g.progress, table=True, with_unit=True))
            elif g.target is not None:
                expected.append(value_text(m, g.target))
            if g.target is not None and m.unit and not m.is_rate:
                assert expected[-1].endswith(m.unit), expected[-1]
    assert expected and [c.strip() for c in cells] == expected


def test_each_goal_is_told_once_in_one_table(site: SiteAnalysis) -> None:
    """The goals table and a second 'Goals' table above the roadmap carried the same goals
    (target, due date; the baseline and time left in one, the progress in the other): one
    table now has them all, and the roadmap names the goals only as its groups' headings."""
    html = sections.strategy(site)._repr_html_()
    assert html.count("<table") == 2  # the goals, and the improvements by goal
    goals_table = html.split("Goals and progress toward them", 1)[1].split("</table>", 1)[0]
    roadmap_table = html.split("Roadmap: improvements by goal", 1)[1].split("</table>", 1)[0]
    assert site.roadmap is not None and site.roadmap.goals
    for g in site.roadmap.goals:
        row = goals_table.split(f"({g.goal_id})", 1)[1].split("</tr>", 1)[0]
        assert g.baseline_text in row and g.due_text in row, (g.goal_id, row)
        assert html.count(f"({g.goal_id})") == 1  # its id, in the goals table only
        assert g.baseline_text not in roadmap_table and g.target_text not in roadmap_table
    assert "<caption>Goals</caption>" not in html


@pytest.fixture(scope="module")
def manchester(tmp_path_factory: pytest.TempPathFactory) -> SiteAnalysis:
    """The building site, whose days between incidents (a g chart) have a falling baseline."""
    project = load_project(write_demo_project(tmp_path_factory.mktemp("bld"), as_of=AS_OF))
    data = split_by_site(read_tables(project), ["build-manchester"])["build-manchester"]
    return analyse_site(data, project=project, site_id="build-manchester",
                        as_of=pd.Timestamp(AS_OF))  # fmt: skip


def test_a_counterfactual_past_the_metric_bound_is_held_there_on_every_surface(
    manchester: SiteAnalysis,
) -> None:
    """Days between incidents cannot fall below 0 (a g chart's natural bound): the baseline's
    line carried a year forward predicted -5.37 days (95% CI -28.3 to 17.6) and the panel said
    'read it as the trend's direction, not a level', beside a difference of +15.9 days taken
    against that negative level. The counterfactual is held at 0 as the verdict holds its own:
    the panel, the chart's text alternative and results.json say 0 days, its interval clipped
    at 0, and the difference is fitted minus 0."""
    from pipeline.report.analysis import value_bounds

    m = next(m for m in manchester.metrics if m.metric_id == "build_days_between_incidents")
    assert value_bounds(m.chart_type, m.chart) == (0.0, None)
    event = next(e for e in m.events if e.outcome and e.outcome.impact)
    seg = event.outcome.impact.segmented_regression
    assert seg is not None and seg.counterfactual_bound == 0.0
    cf = seg.counterfactual
    assert cf.estimate == 0.0 and cf.ci_low == 0.0 and cf.ci_high > 0
    assert (seg.series["counterfactual"].dropna() >= 0).all()
    assert (seg.series["counterfactual_low"].dropna() >= 0).all()
    rows = dict(sections.model_rows(m, seg))
    (text,) = [v for k, v in rows.items() if k.startswith("Counterfactual")]
    assert text.startswith("0 days (") and "held at the lowest value the metric can take" in text
    assert "\u2212" not in text.split(";")[0]  # no negative level, no negative interval end
    (diff,) = [v for k, v in rows.items() if k.startswith("Fitted against")]
    end = seg.natural_scale.end_difference
    assert end.estimate == pytest.approx(seg.observed_fitted - cf.estimate)
    assert diff.startswith(sections.model_unit_text(m, end.estimate, scale="difference",
                                                    signed=True))  # fmt: skip
    details = sections._impact_details(m, event)
    assert details is not None and text in details["chart"].alt and ".." not in details["chart"].alt
    data = site_results(manchester)
    (metric,) = [x for x in data["metrics"] if x["metric_id"] == m.metric_id]
    saved = metric["events"][0]["detail"]["impact"]["segmented_regression"]
    assert saved["counterfactual_bound"] == 0.0 and saved["counterfactual"]["estimate"] == 0.0
    assert saved["natural_scale"]["end_difference"]["estimate"] == pytest.approx(end.estimate)


@pytest.fixture(scope="module", params=[0, 1])
def rare_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SiteAnalysis:
    """Florence with a first-pass yield of no unit (or one) right first time in the 36 weeks
    after its improvement: a proportion without events in a phase."""
    root = tmp_path_factory.mktemp("rare")
    project_file = write_demo_project(root, as_of=AS_OF)
    (path,) = root.rglob("observations.csv")
    obs = pd.read_csv(path)
    after = (obs["metric_id"] == "atelier_first_pass_yield") & (
        pd.to_datetime(obs["timestamp"]) >= "2026-03-16"
    )
    obs.loc[after, "value"] = 0
    obs.loc[obs.index[after][after.sum() // 2], "value"] = request.param
    obs.to_csv(path, index=False)
    project = load_project(project_file)
    data = split_by_site(read_tables(project), [SITE])[SITE]
    return analyse_site(data, project=project, site_id=SITE, as_of=pd.Timestamp(AS_OF))


def test_a_proportion_with_almost_no_events_reads_honestly(rare_site: SiteAnalysis) -> None:
    """The maximum-likelihood fit of such a phase has no finite estimate: the panel read 'odds
    ratio ×0.00000000000039 (95% CI ×0.000000000000097 to ×0.0000000000015)'. With Firth's fit
    and Newcombe's interval the page shows no NaN, no interval whose ends are equal, no odds
    ratio of zero, and no proportion or interval end below 0%."""
    m = next(m for m in rare_site.metrics if m.metric_id == "atelier_first_pass_yield")
    event = next(e for e in m.events if e.outcome and e.outcome.impact)
    v, imp = event.outcome.verdict, event.outcome.impact
    assert v.outcome == Verdict.WORSENED and v.effect is not None  # better is higher
    assert v.effect.ci_low >= -100 * v.baseline_level and v.after_level >= 0
    d = imp.difference
    assert -1 <= d.ci_low < d.estimate < d.ci_high <= 1
    seg = imp.segmented_regression
    no_event = imp.after.mean == 0
    # no event at all: maximum likelihood has no finite fit, Firth's is used and named
    assert seg is not None and ("Firth" in seg.model) == no_event
    text = re.sub(r"\s+", " ", _text(sections.metric_section(rare_site, m)._repr_html_()))
    text += _text(sections.methods(rare_site)._repr_html_())
    assert "nan" not in text.lower().replace("nance", "")
    assert not re.search(r"CI (\S+) to \1[ );]", text), "an interval collapsed to a point"
    assert not re.search(r"×0\.0+(?![0-9])", text), "an odds or rate ratio of zero"
    rows = dict(sections.model_rows(m, seg))
    (cf,) = [t for k, t in rows.items() if k.startswith("Counterfactual")]
    assert "\u2212" not in cf  # the counterfactual, its interval and the fitted level
    assert ("Firth&#39;s bias-reduced fit" in text) == no_event  # as Methods names the model


def test_a_run_chart_has_a_median_and_no_limit_columns(tmp_path: Path) -> None:
    """Hotel Lisbon's guest satisfaction is a run chart: its phases table had "Lower limit
    none, Upper limit none" and its description read "run chart (median) chart"."""
    project = load_project(write_demo_project(tmp_path, as_of=AS_OF))
    data = split_by_site(read_tables(project), ["hotel-lisbon"])["hotel-lisbon"]
    lisbon = analyse_site(data, project=project, site_id="hotel-lisbon", as_of=pd.Timestamp(AS_OF))
    (run,) = [m for m in lisbon.metrics if m.chart_type == "run"]
    html = sections.metric_section(lisbon, run)._repr_html_()
    text = _text(html)
    assert "Run (median) chart" in text or "run (median) chart" in text
    assert "chart (median) chart" not in text
    phases = text[text.index("Phases (centre line: the median of each phase)") :]
    assert "Centre" in phases and "Lower limit" not in phases and " none " not in phases
