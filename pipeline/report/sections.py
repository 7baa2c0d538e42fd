"""The site report's sections as HTML fragments built from a :class:`SiteAnalysis`.

Every string that comes from data or configuration passes through :func:`esc`, so a title such as
``<script>alert(1)</script>`` is shown as text and never runs. Numbers go through
:mod:`pipeline.formatting`, so no table or sentence ever shows NaN, None or inf.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.formatting import (
    confidence_level,
    esc,
    fmt_date,
    fmt_interval,
    fmt_number,
    fmt_percent_value,
    fmt_pvalue,
    interval_label,
    is_missing,
)
from pipeline.report.analysis import EventImpact, MetricAnalysis, SiteAnalysis
from pipeline.report.findings import (
    ASSURANCE_TEXT,
    GOAL_STATUS_TEXT,
    OUTCOME_TEXT,
    VARIATION_ICON,
    VARIATION_TEXT,
    event_sentence,
    summarise_site,
    value_text,
)
from pipeline.report.plots.style import ChartImage
from pipeline.vocabulary import AssuranceIcon, Better, ChartType, RunStatus, Severity

ASSURANCE_ICON: dict[str, tuple[str, str]] = {
    AssuranceIcon.CONSISTENTLY_MEETS: ("P", "met"),
    AssuranceIcon.HIT_AND_MISS: ("?", "hitmiss"),
    AssuranceIcon.CONSISTENTLY_FAILS: ("F", "fails"),
    AssuranceIcon.NOT_APPLICABLE: ("–", "common"),
    AssuranceIcon.NO_TARGET: ("–", "common"),
}


@dataclass(frozen=True, slots=True)
class Html:
    """An HTML fragment that a notebook cell displays as itself."""

    body: str

    def __repr__(self) -> str:  # the text/plain twin of every output: keep it short
        return f"<report section, {len(self.body):,} characters of HTML>"

    def _repr_html_(self) -> str:
        return self.body


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str = "",
    numeric: Sequence[int] = (),
    raw: Sequence[int] = (),
) -> str:
    """A real <table>: cells are escaped unless their column is listed in ``raw``."""
    head = "".join(
        f'<th scope="col"{" class=num" if i in numeric else ""}>{esc(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = str(v) if i in raw else esc(v)
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def badge(text: str, cls: str, icon: str = "") -> str:
    icon_html = f'<span aria-hidden="true">{esc(icon)}</span> ' if icon else ""
    return f'<span class="badge {esc(cls)}">{icon_html}{esc(text)}</span>'


def csv_link(frame: pd.DataFrame, filename: str, label: str = "Download the data (CSV)") -> str:
    data = base64.b64encode(frame.to_csv(index=False).encode("utf-8")).decode("ascii")
    return (
        f'<p class="no-print"><a download="{esc(filename)}" '
        f'href="data:text/csv;base64,{data}">{esc(label)}</a></p>'
    )


# --------------------------------------------------------------------------- header and summary


def header(site: SiteAnalysis) -> Html:
    banner = ""
    warnings = [
        f for f in site.validation.get("failures", []) if f.get("severity") == Severity.WARNING
    ]
    if site.status == RunStatus.WARNINGS or warnings:
        tables = sorted({str(f.get("table")) for f in warnings})
        banner = (
            '<div class="banner" role="note"><strong>Data-quality warning.</strong> '
            f"{len(warnings)} data-contract rule(s) raised warnings ({esc(', '.join(tables))}). "
            "The report was produced; read the affected charts with care. "
            '<a href="#data-quality">See data quality</a>.</div>'
        )
    toc = [("summary", "Executive summary"), ("strategy", "Strategic alignment")]
    toc += [(f"metric-{m.metric_id}", m.name) for m in site.metrics]
    if site.culture is not None:
        toc.append(("culture", "Culture of continuous improvement"))
    toc += [("data-quality", "Data quality"), ("methods", "Methods and glossary")]
    items = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in toc)
    return Html(
        f'<header><p class="meta">{esc(site.project_name)} · Kaizen impact report</p>'
        f"<h1>{esc(site.site_name)}</h1>"
        f'<p class="meta">Report window {esc(fmt_date(site.window_start))} to '
        f"{esc(fmt_date(site.as_of))} · as of {esc(fmt_date(site.as_of))} · data up to "
        f"{esc(fmt_date(site.data_freshness))} · run {esc(site.run_id or 'manual')}</p>"
        f'{banner}<nav class="toc" aria-label="Contents"><strong>Contents</strong>'
        f"<ol>{items}</ol></nav></header>"
    )


def summary(site: SiteAnalysis) -> Html:
    s = summarise_site(site)
    tiles = []
    for t in s.tiles:
        v_icon, v_cls = VARIATION_ICON.get(t.variation, ("", "common"))
        a_icon, a_cls = ASSURANCE_ICON.get(t.assurance, ("", "common"))
        tiles.append(
            f'<div class="tile"><h3><a href="#metric-{esc(t.metric_id)}">{esc(t.name)}</a></h3>'
            f'<div class="big">{esc(t.latest_text)}</div>'
            f'<div class="row">latest · {esc(t.change_text)}</div>'
            f'<div class="row">{badge(t.variation_text, v_cls, v_icon)}</div>'
            f'<div class="row">{badge(t.assurance_text, a_cls, a_icon)}</div>'
            f'<div class="row">Goal: {esc(t.goal_text)}</div></div>'
        )
    findings = "".join(f"<li>{esc(f)}</li>" for f in s.findings)
    return Html(
        '<section id="summary"><h2>Executive summary</h2>'
        f'<p class="lead"><strong>{esc(s.headline.rstrip("."))}{"" if s.headline.endswith("…") else "."}</strong></p>'
        f'<h3>Findings</h3><ul class="findings">{findings}</ul>'
        f'<h3>Metrics</h3><div class="tiles">{"".join(tiles)}</div>'
        '<p class="muted">Icons follow NHS “Making Data Count”: ▲ special cause improving, '
        "▼ special cause concerning, ○ common cause; assurance P = consistently meets the "
        "target, ? = hit and miss, F = consistently fails.</p></section>"
    )


# --------------------------------------------------------------------------- strategy


def strategy(site: SiteAnalysis) -> Html:
    rows = []
    for m in site.metrics:
        for g in m.goals:
            prog = g.progress
            pct = "not enough data"
            if prog is not None and not is_missing(prog.percent_of_target):
                pct = fmt_percent_value(prog.percent_of_target)
            rows.append(
                (
                    g.title,
                    m.name,
                    value_text(m, g.target) if g.target is not None else "not enough data",
                    fmt_date(g.due_date),
                    pct,
                    GOAL_STATUS_TEXT.get(g.status, g.status),
                    ASSURANCE_TEXT.get(
                        g.assurance.verdict if g.assurance else AssuranceIcon.NO_TARGET,
                        "No target set",
                    ),
                )
            )
    goals_html = (
        table(
            ["Goal", "Metric", "Target", "Due", "Progress", "Status", "Assurance"],
            rows,
            caption="Goals and progress toward them",
            numeric=(4,),
        )
        if rows
        else "<p>No goals are set for this site's metrics.</p>"
    )
    road = ""
    if site.roadmap is not None:
        from pipeline.report.plots.roadmap import plot_roadmap

        road = plot_roadmap(site.roadmap)._repr_html_() + site.roadmap._repr_html_()
    return Html(
        '<section id="strategy"><h2>Strategic alignment</h2>'
        "<p>Every improvement serves a goal. Progress is the share of the targeted change "
        "achieved so far (current process centre against the goal's baseline).</p>"
        f"{goals_html}<h3>Roadmap</h3>{road}</section>"
    )


# --------------------------------------------------------------------------- metrics


def _metric_sentence(metric: MetricAnalysis) -> str:
    judged = [e for e in metric.events if e.outcome is not None]
    if judged:
        return event_sentence(metric, judged[-1])
    if metric.chart is None:
        return f"{metric.name}: {metric.note or 'not enough data for a control chart'}."
    text = VARIATION_TEXT.get(metric.variation, metric.variation).lower()
    return (
        f"{metric.name} is at {value_text(metric, metric.latest)} in the latest "
        f"{metric.period}; the chart shows {text}."
    )


def _phase_table(metric: MetricAnalysis) -> str:
    chart = metric.chart
    if chart is None:
        return ""
    rows = []
    for p in chart.phases:
        lcl = p.lcl if p.lcl is not None else None
        ucl = p.ucl if p.ucl is not None else None
        rows.append(
            (
                metric.phase_names.get(p.phase, f"Phase {p.phase}"),
                fmt_date(chart.time[p.first]) if chart.time[p.first] is not None else "",
                p.n_points,
                value_text(metric, p.centre) if p.centre is not None else "varies with n",
                value_text(metric, lcl)
                if lcl is not None
                else ("varies with n" if chart.has_limits else "none"),
                value_text(metric, ucl)
                if ucl is not None
                else ("varies with n" if chart.has_limits else "none"),
                "provisional" if p.is_provisional else "",
            )
        )
    return table(
        ["Phase", "From", "Points", "Centre", "Lower limit", "Upper limit", "Note"],
        rows,
        caption="Phases (limits recalculated per phase)",
        numeric=(2, 3, 4, 5),
    )


def _signal_list(metric: MetricAnalysis) -> str:
    chart = metric.chart
    if chart is None:
        return ""
    recent = [s for s in chart.signals_in(last=26)]
    if not recent:
        return "<p>No rule signals in the last 26 points of the recalculated chart.</p>"
    by_rule: dict[str, list[Any]] = {}
    for s in recent:
        by_rule.setdefault(f"{s.rule} ({s.label})", []).append(s)
    items = "".join(
        f"<li>{esc(rule)}: {len(sigs)} point(s), latest {esc(fmt_date(sigs[-1].time))}</li>"
        for rule, sigs in by_rule.items()
    )
    return f"<p>Rule signals in the last 26 points:</p><ul>{items}</ul>"


def _impact_table(metric: MetricAnalysis, events: Sequence[EventImpact], *, alpha: float) -> str:
    rows = []
    for e in events:
        res = e.outcome
        imp = res.impact if res is not None else None
        if imp is None:
            rows.append((e.title, fmt_date(e.effective_date), e.note or "not enough data",
                         "", "", "", "", ""))  # fmt: skip
            continue
        d, pc = imp.difference, imp.percent_change
        ci = fmt_interval(d.ci_low, d.ci_high, fmt=lambda v: value_text(metric, v))
        pct = fmt_percent_value(pc.estimate, digits=1)
        if pc.estimate is not None and pc.ci_low is not None and pc.ci_high is not None:
            pct += (
                " ("
                + fmt_interval(pc.ci_low, pc.ci_high, fmt=lambda v: fmt_percent_value(v, digits=1))
                + ")"
            )
        rows.append(
            (
                e.title,
                fmt_date(e.effective_date),
                OUTCOME_TEXT.get(res.outcome, res.outcome) if res else "",
                f"{value_text(metric, imp.before.mean)} (n={imp.before.n})",
                f"{value_text(metric, imp.after.mean)} (n={imp.after.n})",
                f"{value_text(metric, d.estimate)}; {interval_label(imp.alpha)} {ci}",
                pct,
                fmt_pvalue(d.pvalue),
            )
        )
    return table(
        ["Event", "Effective", "Outcome", "Before", "After", "Difference (after − before)",
         f"% change ({interval_label(alpha)})", "p-value"],
        rows,
        caption="Before and after each improvement (transition period left out)",
        numeric=(6, 7),
    )  # fmt: skip


def _impact_details(metric: MetricAnalysis, event: EventImpact) -> str:
    res = event.outcome
    imp = res.impact if res is not None else None
    if res is None or imp is None:
        return ""
    parts = []
    ci_label = interval_label(imp.alpha)
    mw = imp.mann_whitney
    rows = []
    if imp.hedges_g is not None:
        rows.append(("Hedges' g (standardised difference)", fmt_number(imp.hedges_g, digits=2)))
    if mw is not None:
        rows.append(("Mann-Whitney U (before sample)", fmt_number(mw.statistic, digits=1)))
        rows.append(("Mann-Whitney p-value", fmt_pvalue(mw.pvalue)))
        if mw.hodges_lehmann is not None:
            hl_ci = (
                f" ({ci_label} {value_text(metric, mw.ci_low)} to {value_text(metric, mw.ci_high)})"
                if mw.ci_low is not None and mw.ci_high is not None
                else ""
            )
            rows.append(("Hodges-Lehmann shift", value_text(metric, mw.hodges_lehmann) + hl_ci))
    for label, ratio in (
        ("Ratio of proportions", imp.proportion_ratio),
        ("Rate ratio", imp.rate_ratio),
    ):
        if ratio is not None and ratio.estimate is not None:
            ci = (
                f" ({ci_label} {fmt_number(ratio.ci_low, digits=2)} to {fmt_number(ratio.ci_high, digits=2)})"
                if ratio.ci_low is not None and ratio.ci_high is not None
                else ""
            )
            rows.append((label, fmt_number(ratio.estimate, digits=2) + ci))
    if imp.model is not None:
        rows.append(
            (
                "Model",
                str(getattr(imp.model, "name", "")) + ": " + str(getattr(imp.model, "reason", "")),
            )
        )
    seg = imp.segmented_regression
    if seg is not None:
        for label, coef in (("Level change at the change point", seg.level_change),
                            ("Slope change per period", seg.slope_change)):  # fmt: skip
            ci = (
                f" ({ci_label} {fmt_number(coef.ci_low)} to {fmt_number(coef.ci_high)})"
                if coef.ci_low is not None and coef.ci_high is not None
                else ""
            )
            rows.append((label, fmt_number(coef.estimate) + ci))
        cf = seg.counterfactual
        rows.append(("Counterfactual (no change) at the end", value_text(metric, cf.estimate)))
        rows.append(("Durbin-Watson", fmt_number(seg.durbin_watson, digits=2)))
        if seg.note:
            rows.append(("Autocorrelation", seg.note))
    if res.sustainment is not None:
        rows.append(("Sustainment", res.sustainment.sentence(metric.name)))
    if rows:
        parts.append(table(["Statistic", "Value"], rows, caption=f"Details: {event.title}"))
    if seg is not None:
        from pipeline.report.plots.impact import plot_segmented

        parts.append(plot_segmented(imp, name=metric.name, unit=metric.unit)._repr_html_())
    return "".join(parts)


_CHART_CACHE: dict[int, tuple[Any, ChartImage]] = {}


def control_chart_image(metric: MetricAnalysis, *, frozen: bool = False) -> ChartImage | None:
    """The metric's control chart (recalculated limits, or against the frozen baseline) as the
    report shows it; drawn once per process and reused for the email's key-chart PNGs."""
    from pipeline.report.plots.control import plot_control_chart

    chart = metric.frozen if frozen else metric.chart
    if chart is None:
        return None
    cached = _CHART_CACHE.get(id(chart))
    if cached is not None and cached[0] is chart:
        return cached[1]
    if frozen:
        title = "Against the frozen baseline"
    elif metric.frozen is not None:
        title = "Limits recalculated per phase"
    else:
        title = (
            "Run chart around the median" if metric.chart_type == ChartType.RUN else "Control chart"
        )
    image = plot_control_chart(chart, title=title, unit=metric.unit, phase_names=metric.phase_names)
    _CHART_CACHE[id(chart)] = (chart, image)  # keeps the chart alive, so its id stays unique
    return image


def metric_section(site: SiteAnalysis, metric: MetricAnalysis) -> Html:
    parts = [
        f'<section id="metric-{esc(metric.metric_id)}"><h2>{esc(metric.name)}</h2>',
        f'<p class="meta">{esc(metric.chart_type.display_name)} chart · '
        f"one point per {esc(metric.period)} ({esc(metric.aggregate)}) · "
        f"{esc(metric.better if metric.better != Better.NEUTRAL else 'no direction')}"
        f"{' is better' if metric.better != Better.NEUTRAL else ''}"
        f"{' · unit: ' + esc(metric.unit) if metric.unit else ''}</p>",
        f"<p><strong>{esc(_metric_sentence(metric))}</strong></p>",
    ]
    if metric.chart is not None:
        for image in (control_chart_image(metric), control_chart_image(metric, frozen=True)):
            if image is not None:
                parts.append(image._repr_html_())
        parts.append(_phase_table(metric))
        parts.append(_signal_list(metric))
        frame = pd.DataFrame(
            {
                "time": [t for t in metric.chart.time],
                "value": metric.chart.value,
                "n": metric.chart.n,
                "phase": metric.chart.phase,
                "centre": metric.chart.centre,
                "lcl": metric.chart.lcl,
                "ucl": metric.chart.ucl,
                "signals": [";".join(s) for s in metric.chart.point_signals()],
            }
        )
        parts.append(csv_link(frame, f"{site.site_id}-{metric.metric_id}.csv"))
    else:
        parts.append(f"<p>{esc(metric.note)}</p>")
    if metric.events:
        parts.append("<h3>Improvements on this metric</h3>")
        parts.append(_impact_table(metric, metric.events, alpha=site.settings.alpha))
        for e in metric.events:
            detail = _impact_details(metric, e)
            if detail:
                parts.append(
                    f"<details><summary>Statistics for “{esc(e.title)}”</summary>{detail}</details>"
                )
    for g in metric.goals:
        lines = []
        if g.progress is not None:
            lines.append(g.progress.sentence(metric.name))
        if g.assurance is not None:
            lines.append(g.assurance.sentence(metric.name))
        if not lines:
            lines.append(g.note or "Not enough data to judge progress.")
        parts.append(f"<h3>Goal: {esc(g.title)}</h3>" + "".join(f"<p>{esc(x)}</p>" for x in lines))
    parts.append("</section>")
    return Html("".join(parts))


# --------------------------------------------------------------------------- culture, quality, methods


def culture(site: SiteAnalysis) -> Html:
    if site.culture is None:
        return Html("")
    from pipeline.report.plots import culture as plots

    charts = [
        plots.plot_idea_funnel(site.culture),
        plots.plot_ideas_per_employee(site.culture),
        plots.plot_participation(site.culture),
        plots.plot_time_to_implement(site.culture),
        *plots.plot_surveys(site.culture),
    ]
    return Html(
        '<section id="culture"><h2>Culture of continuous improvement</h2>'
        f'<div class="grid2">{"".join(c._repr_html_() for c in charts)}</div>'
        f"{site.culture._repr_html_()}</section>"
    )


def data_quality(site: SiteAnalysis) -> Html:
    failures = site.validation.get("failures", [])
    if failures:
        body = table(
            ["Severity", "Table", "Column", "Rule", "Rows", "Examples"],
            (
                (
                    f.get("severity"),
                    f.get("table"),
                    f.get("column") or "",
                    f.get("description"),
                    ", ".join(str(r) for r in f.get("rows", [])[:8])
                    + (" …" if f.get("unexpected_count", 0) > 8 else ""),
                    ", ".join(str(x) for x in f.get("examples", [])[:3]),
                )
                for f in failures
            ),
            caption="Data-contract results",
        )
    else:
        body = "<p>Every data-contract rule passed for this site.</p>"
    counts = site.validation.get("row_counts", {})
    if counts:
        body += table(
            ["Table", "Rows"],
            ((t, f"{int(c):,}") for t, c in counts.items()),
            caption="Rows read for this site",
            numeric=(1,),
        )
    coverage = []
    for m in site.metrics:
        pts = m.series.points
        missing = int(m.values.isna().sum())
        coverage.append(
            (
                m.name,
                fmt_date(pts["time"].min()) if len(pts) else "no data",
                fmt_date(pts["time"].max()) if len(pts) else "no data",
                int(m.values.notna().sum()),
                missing,
            )
        )
    if coverage:
        body += table(
            ["Metric", "First period", "Last period", "Points", "Missing periods"],
            coverage,
            caption="Date coverage in the report window",
            numeric=(3, 4),
        )
    return Html(f'<section id="data-quality"><h2>Data quality</h2>{body}</section>')


def methods(site: SiteAnalysis) -> Html:
    s = site.settings
    rule_names = {
        "we": "Western Electric rules 1–4",
        "nelson": "Nelson rules 1–8",
        "anhoej": "Anhøj rules (longest run, number of crossings)",
        "nhs": "NHS Making Data Count rules",
        "all": "all rule sets",
    }
    params = table(
        ["Parameter", "Value"],
        [
            ("Rules for charts with limits", rule_names.get(s.rules, s.rules)),
            (
                "Rules for run charts",
                "Anhøj rules" if s.rules == "we" else rule_names.get(s.rules, s.rules),
            ),
            ("Minimum points for a phase's own limits", s.min_phase_points),
            ("Points checked for sustainment", s.sustain_points),
            ("Significance level / confidence", f"{s.alpha:g} / {confidence_level(s.alpha)}"),
            ("Moving-range screening", "on" if s.screen_mr else "off"),
            ("Report window", f"{fmt_date(site.window_start)} to {fmt_date(site.as_of)}"),
        ],
        caption="Parameters of this run",
    )
    glossary = [
        (
            "Control chart",
            "A time series with a centre line and control limits (±3 sigma) that separate routine (common-cause) variation from signals of change (special cause).",
        ),
        (
            "XmR chart",
            "Individuals chart; sigma = mean moving range / 1.128 (Wheeler; qcc default).",
        ),
        (
            "p, np, c, u charts",
            "Attribute charts for proportions, counts of defectives, counts and rates; limits from the binomial or Poisson model, per point when the sample size varies (Montgomery).",
        ),
        (
            "Laney p′ / u′",
            "Attribute charts whose limits widen by the between-period variation of large samples (Laney 2002).",
        ),
        (
            "Phase",
            "The stretch of data between two improvement events. Limits are recalculated per phase; phases with fewer points than the minimum are provisional.",
        ),
        (
            "Frozen baseline",
            "The first phase's centre and limits extended forward, so an improvement shows as signals against the old process.",
        ),
        (
            "Before/after",
            "Welch's t-test and interval for the difference in means, % change with a Fieller interval, Hedges' g, Mann-Whitney U with the Hodges-Lehmann shift; the transition between start and effective date is left out.",
        ),
        (
            "Segmented regression",
            "y = b0 + b1·t + b2·post + b3·t_after fitted by OLS with Newey-West (HAC) errors; b2 is the level change, b3 the slope change; the counterfactual is the line without the change.",
        ),
        (
            "Assurance",
            "Whether the process limits sit entirely on the good side of the target (consistently meets), straddle it (hit and miss) or sit on the bad side (consistently fails) — NHS Making Data Count.",
        ),
        (
            "Sustained",
            "No concern signal in the last points of the latest phase and the centre still at least half the achieved gain better than the baseline.",
        ),
    ]
    gl = "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in glossary)
    return Html(
        '<section id="methods"><h2>Methods and glossary</h2>'
        f"{params}<dl>{gl}</dl>"
        '<p class="muted">Sources: Montgomery, Introduction to Statistical Quality Control; '
        "Wheeler, Understanding Variation; NIST/SEMATECH e-Handbook of Statistical Methods; "
        "Anhøj &amp; Olesen (2014); Laney (2002); NHS England, Making Data Count. "
        "Statistics computed with statsmodels and scipy.</p></section>"
    )


__all__ = [
    "Html",
    "culture",
    "data_quality",
    "esc",
    "header",
    "methods",
    "metric_section",
    "strategy",
    "summary",
    "table",
]
