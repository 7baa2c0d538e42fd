"""The site report's sections, each rendered from a Jinja2 template under ``templates/site/``.

Each function gathers typed values and text formatted by :mod:`pipeline.formatting` from a
:class:`SiteAnalysis` and hands them to its template; the templates autoescape every value, so a
title such as ``<script>alert(1)</script>`` is shown as text and never runs, and no table or
sentence ever shows NaN, None or inf. Each returns an :class:`Html` that a notebook cell displays
as itself, so the notebook stays thin.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pandas as pd

from pipeline.files import child_path
from pipeline.formatting import (
    NOT_ENOUGH,
    confidence_level,
    count_of,
    difference_unit,
    fmt_count,
    fmt_count_shift,
    fmt_date,
    fmt_date_span,
    fmt_interval,
    fmt_money,
    fmt_number,
    fmt_percent,
    fmt_percent_value,
    fmt_points,
    fmt_progress,
    fmt_pvalue,
    fmt_ratio,
    interval_label,
    is_missing,
    percent_unit,
    sentence_case,
    spreadsheet_csv,
    stale_data_text,
)
from pipeline.report.analysis import EventImpact, MetricAnalysis, SiteAnalysis, value_bounds
from pipeline.report.findings import (
    ASSURANCE_TEXT,
    GOAL_STATUS_TEXT,
    NO_BASELINE_TEXT,
    VARIATION_ICON,
    VARIATION_TEXT,
    early_gain_text,
    effect_text,
    event_sentence,
    goal_sentence,
    hold_band,
    label_of,
    point_word,
    summarise_site,
    value_text,
    verdict_label,
)
from pipeline.report.plots.style import ChartImage
from pipeline.report.templating import Html, render
from pipeline.stats.culture import change_text
from pipeline.stats.impact import NO_VARIATION
from pipeline.stats.verdicts import MIN_BEFORE_POINTS
from pipeline.vocabulary import (
    AssuranceIcon,
    Better,
    ChartType,
    GoalStatus,
    RunStatus,
    Severity,
    Verdict,
)

#: NHS Making Data Count assurance icons: (letter, css class); colour is never the only signal.
ASSURANCE_ICON: dict[str, tuple[str, str]] = {
    AssuranceIcon.CONSISTENTLY_MEETS: ("P", "met"),
    AssuranceIcon.HIT_AND_MISS: ("?", "hitmiss"),
    AssuranceIcon.CONSISTENTLY_FAILS: ("F", "fails"),
    AssuranceIcon.NOT_APPLICABLE: ("–", "common"),
    AssuranceIcon.NO_TARGET: ("–", "common"),
}
#: How many of the latest points the signal list looks at.
SIGNAL_WINDOW = 26
#: Points behind a metric's variation icon (MetricAnalysis.variation looks at the last 8).
VARIATION_POINTS = 8
#: How a signal label reads in the metric's sentence.
SIGNAL_WORDS = {
    "improvement": "improvement",
    "concern": "concern",
    "neutral": "neither better nor worse",
}
#: Rules that flag a single point beyond a limit.
OUTSIDE_RULES = ("we1", "nelson1", "nhs_outside")


def csv_data(frame: pd.DataFrame) -> str:
    """``frame`` as CSV in base64, for a ``data:text/csv`` download link; text cells that a
    spreadsheet would run as formulas are escaped (:func:`~pipeline.formatting.spreadsheet_csv`)."""
    return base64.b64encode(spreadsheet_csv(frame).encode("utf-8")).decode("ascii")


# --------------------------------------------------------------------------- header and summary


def header(site: SiteAnalysis) -> Html:
    warnings = [
        f for f in site.validation.get("failures", []) if f.get("severity") == Severity.WARNING
    ]
    banner = None
    if site.status == RunStatus.WARNINGS or warnings:
        banner = {
            "count": len(warnings),
            "tables": sorted({str(f.get("table")) for f in warnings}),
            # old data is said in words: "1 data-contract rule raised warnings" hid it
            "stale": stale_data_text(site.data_freshness, site.as_of)
            if site.validation.get("stale")
            else "",
        }
    toc = [("summary", "Executive summary"), ("strategy", "Strategic alignment")]
    toc += [(f"metric-{m.metric_id}", m.name) for m in site.metrics]
    if site.culture is not None:
        toc.append(("culture", "Culture of continuous improvement"))
    toc += [("data-quality", "Data quality"), ("methods", "Methods and glossary")]
    return render(
        "site/header.html.j2",
        project_name=site.project_name,
        site_name=site.site_name,
        window_start=site.window_start,
        as_of=site.as_of,
        data_freshness=site.data_freshness,
        run_id=site.run_id,
        banner=banner,
        toc=toc,
    )


def summary(site: SiteAnalysis) -> Html:
    s = summarise_site(site)
    headline = s.headline.rstrip(".") + ("" if s.headline.endswith("…") else ".")
    return render(
        "site/summary.html.j2",
        headline=headline,
        findings=s.findings,
        # a site without data in its window: its one statement, not a tile per metric that
        # says "not enough data" again
        tiles=s.tiles if site.has_data else (),
        variation_icons=VARIATION_ICON,
        assurance_icons=ASSURANCE_ICON,
    )


# --------------------------------------------------------------------------- strategy


def strategy(site: SiteAnalysis) -> Html:
    """Strategic alignment: one table of the goals (target, baseline, due date and time left,
    progress, status, assurance), then the roadmap of the improvements by goal. The goals were
    told twice, here and again above the roadmap (target, baseline, due, time left): each is
    said once now, the roadmap's chart and table naming the goals only as their headings."""
    planned = {g.goal_id: g for g in site.roadmap.goals} if site.roadmap is not None else {}
    rows: list[dict[str, Any]] = []
    for m in site.metrics:
        for g in m.goals:
            prog = g.progress
            pct = NOT_ENOUGH
            # with its unit: no header line above this table names each goal's metric's unit,
            # and a phone's card read 'Target: 2.00' for complaints per 100 stays
            target = value_text(m, g.target) if g.target is not None else NOT_ENOUGH
            if prog is not None and prog.target_kind == "hold":
                # a hold goal is judged within / outside its band, not "x% of the way"
                target = hold_band(m, prog, table=True, with_unit=True)
                pct = f"now {value_text(m, prog.current)}"
            elif prog is not None and not is_missing(prog.percent_of_target):
                pct = fmt_progress(prog.percent_of_target)
            plan = planned.pop(g.goal_id, None)
            rows.append(
                {
                    "goal_id": g.goal_id,
                    "title": g.title,
                    "metric": m.name,
                    "target": target,
                    "baseline": fmt_date_span(g.baseline_start, g.baseline_end),
                    "due": fmt_date(g.due_date) if g.due_date is not None else "no due date",
                    "time_left": plan.due_text if plan is not None else "",
                    "is_overdue": plan.is_overdue if plan is not None else False,
                    "progress": pct,
                    "status": GOAL_STATUS_TEXT.get(g.status, g.status),
                    "assurance": ASSURANCE_TEXT.get(
                        g.assurance.verdict if g.assurance else AssuranceIcon.NO_TARGET,
                        "No target set",
                    ),
                }
            )
    # a goal of a metric this site has no analysis for still has its row (from the roadmap)
    for plan in planned.values():
        rows.append(
            {
                "goal_id": plan.goal_id,
                "title": plan.title,
                "metric": plan.metric_name,
                "target": plan.target_text,
                "baseline": plan.baseline_text,
                "due": fmt_date(plan.due_date) if plan.due_date is not None else "no due date",
                "time_left": plan.due_text if plan.due_date is not None else "",
                "is_overdue": plan.is_overdue,
                "progress": NOT_ENOUGH,
                "status": GOAL_STATUS_TEXT.get(GoalStatus.NOT_ENOUGH_DATA, NOT_ENOUGH),
                "assurance": ASSURANCE_TEXT.get(AssuranceIcon.NO_TARGET, "No target set"),
            }
        )
    roadmap_chart = None
    if site.roadmap is not None:
        from pipeline.report.plots.roadmap import plot_roadmap

        roadmap_chart = plot_roadmap(site.roadmap)
    return render(
        "site/strategy.html.j2",
        goal_rows=rows,
        level_points=site.settings.sustain_points,
        roadmap_chart=roadmap_chart,
        roadmap=site.roadmap,
    )


# --------------------------------------------------------------------------- metrics


def _metric_sentence(metric: MetricAnalysis) -> str:
    judged = [e for e in metric.events if e.outcome is not None]
    if judged:
        return event_sentence(metric, judged[-1])
    if metric.chart is None:
        # the note is a sentence of its own: one full stop ("window).." read twice)
        note = metric.note.rstrip(".") or "not enough data for a control chart"
        return f"{metric.name}: {note[:1].lower() + note[1:]}."
    text = VARIATION_TEXT.get(metric.variation, metric.variation).lower()
    shown = metric.last_points(VARIATION_POINTS)
    sentence = (
        f"{metric.name} is at {value_text(metric, metric.latest)} in the latest "
        f"{point_word(metric)}; the latest {count_of(shown, 'point')} "
        f"{'shows' if shown == 1 else 'show'} {text}"
    )
    # the sentence must agree with the chart, which draws every signal of the window: the
    # signals before the latest points are said too, with their labels
    from pipeline.stats.spc import signal_labels

    chart = metric.chart
    latest = signal_labels(chart, last=VARIATION_POINTS)
    earlier = [x for x in signal_labels(chart, last=VARIATION_POINTS, earlier=True)
               if x not in latest]  # fmt: skip
    if earlier:
        from pipeline.report.plots.control import pattern_labels

        words = " and then ".join(SIGNAL_WORDS.get(x, x) for x in earlier)
        present = [int(i) for i in range(len(chart)) if not chart.is_missing[i]]
        cut = present[-VARIATION_POINTS] if len(present) >= VARIATION_POINTS else 0
        drawn = pattern_labels(chart)
        outside = {s.index for s in chart.signals if s.rule in OUTSIDE_RULES and s.index < cut}
        n = len(outside) if outside else int((drawn[:cut] != "").sum())
        what = "fell outside the limits" if outside else "formed rule signals"
        join = "though" if not latest else "and"
        sentence += f", {join} earlier {n} point{'s' if n != 1 else ''} {what} ({words})"
    return sentence + "."


def _limit_text(metric: MetricAnalysis, value: float | None) -> str:
    if value is not None:
        return value_text(metric, value, table=True)
    return "varies with n"


def _phase_rows(metric: MetricAnalysis) -> list[tuple[Any, ...]]:
    """The phases table's rows; a run chart has no limits, so its rows have no limit cells
    (:func:`_phase_table`), where they read "none", "none"."""
    chart = metric.chart
    if chart is None:
        return []
    rows = []
    for p in chart.phases:
        centre = (
            value_text(metric, p.centre, table=True) if p.centre is not None else "varies with n"
        )
        limits = (
            (
                _limit_text(metric, p.lcl),
                _limit_text(metric, p.ucl),
            )
            if chart.has_limits
            else ()
        )
        rows.append(
            (
                metric.phase_names.get(p.phase, f"Phase {p.phase}"),
                fmt_date(chart.time[p.first]) if chart.time[p.first] is not None else "",
                p.n_points,
                centre,
                *limits,
                "provisional" if p.is_provisional else "",
            )
        )
    return rows + _current_level_row(metric)


def _phase_table(metric: MetricAnalysis) -> dict[str, Any]:
    """The phases table (columns, rows, caption, numeric columns): a run chart has no limits,
    and its caption says its centre line is each phase's median."""
    rows = _phase_rows(metric)
    if metric.chart is not None and not metric.chart.has_limits:
        # "Centre", as for charts with limits: the current level's row is a mean (its note)
        return {"headers": ["Phase", "From", "Points", "Centre", "Note"], "rows": rows,
                "caption": "Phases (centre line: the median of each phase)",
                "numeric": (2, 3)}  # fmt: skip
    return {
        "headers": ["Phase", "From", "Points", "Centre", "Lower limit", "Upper limit", "Note"],
        "rows": rows, "caption": "Phases (limits recalculated per phase)", "numeric": (2, 3, 4, 5),
    }  # fmt: skip


def _constant_limits(metric: MetricAnalysis) -> bool:
    """True when the latest phase has one pair of limits (the phases table shows them), not
    limits that vary with each period's sample size."""
    chart = metric.chart
    if chart is None or not chart.phases:
        return False
    last = chart.phases[-1]
    return last.lcl is not None and last.ucl is not None


def _current_level_row(metric: MetricAnalysis) -> list[tuple[Any, ...]]:
    """The current level as a row of the phases table: the tile, the goal lines and the goals
    table quote it, so the page shows where it comes from (the mean of the latest points)."""
    if metric.current_level is None:
        return []
    times = metric.series.points[metric.values.notna().to_numpy()]["time"].tail(metric.level_points)
    return [
        (
            "Current level",
            fmt_date(times.iloc[0]),
            len(times),
            value_text(metric, metric.current_level, table=True),
            *(("", "") if metric.chart is not None and metric.chart.has_limits else ()),
            f"mean of the latest {count_of(len(times), 'point')}",
        )
    ]


def _signal_rows(metric: MetricAnalysis) -> list[tuple[str, Any]]:
    """(signal in words, latest time) of the signals in the latest points: "8 points in a row
    below the centre line (Western Electric 4), improvement", and when it last fired.

    No count of points: the rule flags the points that complete its pattern ("...: 1 point"
    beside a run of nine coloured points read as a contradiction); the chart colours the whole
    pattern and its hover texts and results.json give every flagged point."""
    from pipeline.report.signals import rule_label, signal_name

    chart = metric.chart
    if chart is None:
        return []
    by_rule: dict[str, list[Any]] = {}
    for sig in chart.signals_in(last=SIGNAL_WINDOW):
        direction = chart.directions.get(sig.rule)
        d = int(direction[sig.index]) if direction is not None else 0
        words = signal_name(sig.rule, d, chart=chart)
        key = f"{words[:1].upper()}{words[1:]} ({rule_label(sig.rule)}), {sig.label}"
        by_rule.setdefault(key, []).append(sig)
    return [(rule, sigs[-1].time) for rule, sigs in by_rule.items()]


def _impact_rows(metric: MetricAnalysis, events: Sequence[EventImpact]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for e in events:
        res = e.outcome
        imp = res.impact if res is not None else None
        if res is None or imp is None:
            # judged without before/after figures (no baseline, say): the verdict's own label
            said = label_of(res.verdict) if res is not None else e.note or NOT_ENOUGH
            rows.append((e.title, fmt_date(e.effective_date), said, "", "", ""))
            continue
        verdict = res.verdict
        outcome = label_of(verdict)
        rows.append(
            (
                e.title,
                fmt_date(e.effective_date),
                outcome,
                effect_text(metric, e),
                f"{value_text(metric, imp.before.mean, table=True)} (n={imp.before.n})",
                f"{value_text(metric, imp.after.mean, table=True)} (n={imp.after.n})",
            )
        )
    return rows


#: What exp(b) of a GLM's coefficient is called on the page.
RATIO_NAMES = {"odds_ratio": "odds ratio", "rate_ratio": "rate ratio"}


def model_unit_text(metric: MetricAnalysis, value: Any, *, scale: str, signed: bool = False) -> str:
    """A segmented-regression level or difference in the metric's own terms: percentage points
    for proportions, events per period for a c chart, the metric's unit otherwise."""
    if is_missing(value):
        return NOT_ENOUGH
    if scale == "percentage_points":
        return f"{fmt_number(value, digits=1, signed=signed)} percentage points"
    if scale == "proportion":
        return fmt_percent(value, digits=1, signed=signed)
    unit = metric.unit if metric.unit and len(metric.unit) <= 24 else ""
    text = fmt_number(value, unit=unit, signed=signed)
    if metric.chart_type == ChartType.C:  # one count per period: a rate per period
        text += f" per {metric.period}"
    return text


def metric_bounds(metric: MetricAnalysis) -> tuple[float | None, float | None]:
    """The values the metric cannot pass: its configured ``lower_bound``/``upper_bound``, and 0
    below for g and t charts (days or events between incidents are never negative)."""
    return value_bounds(metric.chart_type, metric.chart)


def model_rows(metric: MetricAnalysis, seg: Any) -> list[tuple[str, str]]:
    """The segmented regression's rows on the metric's own scale: odds or rate ratios (exp of
    the coefficient and of its interval's ends) for the GLMs, units for OLS; the level change in
    percentage points or units; the counterfactual in units, or why there is none. Which model
    was fitted is said once, in the Methods table (:func:`model_rows_for_methods`)."""
    nat = seg.natural_scale
    label = interval_label(seg.alpha)
    period = "point" if metric.chart_type in (ChartType.G, ChartType.T) else metric.period
    rows: list[tuple[str, str]] = []
    if nat is None:
        return rows
    if seg.is_constant:  # no interval, no test: the one fact is that nothing varied
        return [("Segmented regression", seg.note)]
    if nat.ratio is not None:
        name = RATIO_NAMES[nat.ratio]

        def ratio(e: Any, tail: str = "") -> str:
            ci = fmt_interval(e.ci_low, e.ci_high, fmt=fmt_ratio)
            return f"{name} {fmt_ratio(e.estimate)}{tail} ({label} {ci})"

        rows.append(("Level change at the change point", ratio(nat.level_change)))
        rows.append((f"Slope change per {period}", ratio(nat.slope_change, f" per {period}")))
    else:

        def units(e: Any, tail: str = "") -> str:
            ci = fmt_interval(e.ci_low, e.ci_high, fmt=lambda v: fmt_number(v, signed=True))
            return (
                f"{model_unit_text(metric, e.estimate, scale=nat.scale, signed=True)}{tail} "
                f"({label} {ci})"
            )

        rows.append(("Level change at the change point", units(nat.level_change)))
        rows.append((f"Slope change per {period}", units(nat.slope_change, f" per {period}")))

    def diff(e: Any) -> str:
        digits = 1 if nat.scale == "percentage_points" else None
        ci = fmt_interval(
            e.ci_low, e.ci_high, fmt=lambda v: fmt_number(v, digits=digits, signed=True)
        )
        return f"{model_unit_text(metric, e.estimate, scale=nat.scale, signed=True)} ({label} {ci})"

    if nat.ratio is not None:
        rows.append(
            (f"Level change in the first {period} after, against no change",
             diff(nat.level_difference))
        )  # fmt: skip
    level_scale = "proportion" if nat.scale == "percentage_points" else nat.scale
    cf = seg.counterfactual
    when = fmt_date(seg.counterfactual_time)
    if cf is None:
        rows.append(("Counterfactual (no change)", seg.counterfactual_note))
    else:
        ci = fmt_interval(
            cf.ci_low, cf.ci_high,
            fmt=lambda v: fmt_percent(v, digits=1) if level_scale == "proportion" else fmt_number(v),
        )  # fmt: skip
        # a straight line carried forward can cross a bound the metric cannot (days between
        # incidents below 0): the model holds it at the bound, as the verdict does, and says so
        held = ""
        if seg.counterfactual_bound is not None:
            lowest = seg.counterfactual_bound == metric_bounds(metric)[0]
            held = (
                f", held at the {'lowest' if lowest else 'highest'} value the metric can take: "
                f"the baseline's trend carried this far falls {'below' if lowest else 'above'} it"
            )
        interval = f" ({label} {ci})"
        if cf.ci_low == cf.ci_high == seg.counterfactual_bound:  # no interval left to show
            interval, held = "", held + f", its whole {label} too"
        text = (
            f"{model_unit_text(metric, cf.estimate, scale=level_scale)}{interval}{held}; "
            f"fitted {model_unit_text(metric, seg.observed_fitted, scale=level_scale)}"
        )
        rows.append((f"Counterfactual (no change) at {when}", text))
        if nat.end_difference is not None:
            rows.append((f"Fitted against the counterfactual at {when}", diff(nat.end_difference)))
    return rows


def _plain(metric: MetricAnalysis, value: Any) -> str:
    """A value as :func:`value_text` writes it, without the unit (an interval's end)."""
    if metric.is_rate:
        return fmt_percent(value, digits=1)
    return fmt_number(value, whole=metric.is_whole)


def _shift_text(metric: MetricAnalysis, shift: Any, ci_label: str, *, rank: bool = False) -> str:
    """A classical difference (Welch, Hodges-Lehmann) with its interval: the unit once, after
    the estimate, and every figure signed, as each effect interval is; a difference of
    proportions in percentage points ("+20.0 percentage points (95% CI +18.0 to +22.0)"), never
    as if it were a percentage of something; a rank shift (``rank``) between whole counts in the
    count format ("−1 incident (95% CI −2 to 0)"), not "−1.00"."""
    est, lo, hi = shift.estimate, shift.ci_low, shift.ci_high
    counts = rank and metric.is_whole

    def end(v: Any) -> str:
        if metric.is_rate:
            return fmt_number(100 * float(v), digits=1, signed=True)
        if counts:
            return fmt_count_shift(v)
        return fmt_number(v, signed=True, whole=metric.is_whole)

    if metric.is_rate:
        text = fmt_points(est)
    elif counts:
        text = fmt_count_shift(est, unit=metric.unit)
    else:
        text = fmt_number(est, unit=difference_unit(metric.unit), signed=True,
                          whole=metric.is_whole)  # fmt: skip
    if is_missing(lo) or is_missing(hi):
        return text
    return f"{text} ({ci_label} {fmt_interval(lo, hi, fmt=end)})"


#: The classical before/after test of each kind of metric, as the statistics panel names its
#: difference and its p-value (:func:`pipeline.stats.impact.estimate_impact`).
CLASSICAL_TESTS = {
    "continuous": ("Welch", "Welch"),
    "proportion": ("pooled proportions, Newcombe interval", "two-proportion z-test"),
    "count": ("rate difference, GLM", "GLM Wald test"),
}


def _impact_details(metric: MetricAnalysis, event: EventImpact) -> dict[str, Any] | None:
    """The rows and chart of an event's statistics panel (None when there is nothing to show)."""
    res = event.outcome
    imp = res.impact if res is not None else None
    if res is None or imp is None:
        return None
    ci_label = interval_label(imp.alpha)
    mw = imp.mann_whitney
    v = res.verdict
    rows = [
        ("Verdict", label_of(v)),
        ("Why", "; ".join(v.reasons)),
        ("Effect (verdict)", effect_text(metric, event)),
        # the verdict's and the segmented regression's models are described once, per metric,
        # in Methods (written from the models fitted, where metrics can be compared)
        ("Models", f"as listed for {metric.name} under “{MODELS_CAPTION}” in Methods"),
        ("Periods used (verdict)", f"{v.n_before} before, {v.n_after} after, {v.n_missing} gaps"),
    ]
    if v.outcome == Verdict.FADED and (early := early_gain_text(metric, event)):
        rows.append(("Early gain (verdict)", early))  # the finding's "(by 46% in its first ...)"
    rows.append(("Classical figures below", "assume independent periods; for reference only"))
    # the classical before/after figures live here, not in the improvements table: they are
    # for reference, and three more columns made that table scroll sideways at 1280 px
    d, pc = imp.difference, imp.percent_change
    # which classical test gave the difference: Welch for measurements; for proportions and
    # counts the pooled windows (it said "Welch" beside a two-proportion z-test)
    test = CLASSICAL_TESTS.get(str(imp.kind), ("Welch", "Welch"))
    rows.append((f"Classical difference ({test[0]})", _shift_text(metric, d, ci_label)))
    pct = fmt_percent_value(pc.estimate, digits=1)
    if pc.estimate is not None and pc.ci_low is not None and pc.ci_high is not None:
        pct_ci = fmt_interval(pc.ci_low, pc.ci_high, fmt=lambda x: fmt_percent_value(x, digits=1))
        pct = f"{pct} ({ci_label} {pct_ci})"
    rows.append(("Classical % change", pct))
    rows.append((f"Classical p-value ({test[1]})", _pvalue_text(d.pvalue, d.method)))
    if imp.hedges_g is not None:
        rows.append(("Hedges' g (standardised difference)", fmt_number(imp.hedges_g, digits=2)))
    if mw is not None:
        rows.append(("Mann-Whitney U (before sample)", fmt_number(mw.statistic, digits=1)))
        rows.append(("Mann-Whitney p-value", _pvalue_text(mw.pvalue, mw.method)))
        if mw.hodges_lehmann is not None:
            hl = SimpleNamespace(estimate=mw.hodges_lehmann, ci_low=mw.ci_low, ci_high=mw.ci_high)
            rows.append(("Hodges-Lehmann shift", _shift_text(metric, hl, ci_label, rank=True)))
    for label, ratio in (
        ("Ratio of proportions, whole windows", imp.proportion_ratio),
        ("Rate ratio, whole windows", imp.rate_ratio),
    ):
        if ratio is not None and ratio.estimate is not None:
            ci = (
                f" ({ci_label} {fmt_interval(ratio.ci_low, ratio.ci_high, fmt=fmt_ratio)})"
                if ratio.ci_low is not None and ratio.ci_high is not None
                else ""
            )
            rows.append((label, fmt_ratio(ratio.estimate) + ci))
    if imp.model is not None:
        m = imp.model
        rows.append(
            (
                "Rate or proportion model",
                f"{sentence_case(m.family)} GLM ({m.link} link): {m.reason}",
            )
        )
    seg = imp.segmented_regression
    facts = model_rows(metric, seg) if seg is not None else []
    if seg is not None:
        rows += facts
        if not seg.is_constant:  # seg.note, among the facts, says why there is no test
            rows.append(("Durbin-Watson", fmt_number(seg.durbin_watson, digits=2)))
        if seg.note and not seg.is_constant:
            rows.append(("Autocorrelation", seg.note))
    chart = None
    if seg is not None:
        from pipeline.report.plots.impact import plot_segmented

        # in a closed statistics panel: one drawing, which a phone scrolls sideways
        # its text alternative opens with the verdict as the panel's first rows say it (the
        # classical sentence, "fell 42%, an improvement", contradicted a "no clear change")
        headline = f"Verdict: {label_of(v)}; {metric.name} {effect_text(metric, event)}."
        chart = plot_segmented(
            imp, name=metric.name, unit=metric.unit, facts=facts, headline=headline,
            has_narrow=False,
        )  # fmt: skip
    if not rows and chart is None:
        return None
    return {"title": event.title, "rows": rows, "chart": chart}


def _pvalue_text(pvalue: float | None, method: str) -> str:
    """A test's p-value as the panel writes it; a series with no variation has no test."""
    if pvalue is None and NO_VARIATION in method:
        return NO_VARIATION
    return fmt_pvalue(pvalue)


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
        title = f"{metric.name}: against the frozen baseline"
    elif metric.frozen is not None:
        title = f"{metric.name}: limits recalculated per phase"
    else:
        kind = "run chart" if metric.chart_type == ChartType.RUN else "control chart"
        title = f"{metric.name}: {kind}"
    notes = [(a.index, a.note) for a in metric.annotations]
    image = plot_control_chart(
        chart, title=title, unit=metric.unit, phase_names=metric.phase_names, notes=notes
    )
    _CHART_CACHE[id(chart)] = (chart, image)  # keeps the chart alive, so its id stays unique
    return image


#: What the companion chart of each chart type shows (its title and the summary that opens it).
COMPANION_TITLES = {
    ChartType.MR: "moving ranges (MR chart)",
    ChartType.R: "subgroup ranges (R chart)",
    ChartType.S: "subgroup standard deviations (S chart)",
}


def companion_chart_image(metric: MetricAnalysis) -> ChartImage | None:
    """The dispersion chart beside the metric's chart: moving ranges for XmR, R or S for X-bar."""
    from pipeline.report.plots.control import plot_control_chart

    chart = metric.companion
    if chart is None:
        return None
    what = COMPANION_TITLES.get(ChartType(chart.chart), chart.chart)
    unit = metric.unit
    # in a closed panel (an XmR chart's moving ranges) one drawing, which a phone scrolls
    # sideways; an open one (R or S beside X-bar) gets its phone drawing like the chart above it
    return plot_control_chart(
        chart, title=f"{metric.name}: {what}", unit=unit, phase_names=metric.phase_names,
        height=2.4, has_narrow=companion_open(metric),
    )  # fmt: skip


def companion_open(metric: MetricAnalysis) -> bool:
    """X-bar charts are read with their R or S chart (shown open); an XmR chart's moving ranges
    are there for whoever wants them (in a closed panel)."""
    return metric.chart_type in (ChartType.XBAR_R, ChartType.XBAR_S)


def _metric_meta(metric: MetricAnalysis) -> str:
    """'XmR (individuals) chart · one point per week (mean) · lower is better · unit: days'."""
    direction = f"{metric.better} is better" if metric.better != Better.NEUTRAL else "no direction"
    parts = [
        f"{metric.chart_type.display_name} chart",
        # a g or t chart plots each occurrence's gap since the previous one, not a period
        "one point per occurrence (the gap since the previous one)"
        if metric.chart_type in (ChartType.G, ChartType.T)
        else f"one point per {metric.period} ({metric.aggregate})",
        direction,
    ]
    if metric.is_rate:  # a proportion is shown in % of what its n counts, as on its axis
        parts.append(f"unit: {percent_unit(metric.unit)}")
    elif metric.unit:
        parts.append(f"unit: {metric.unit}")
    return " · ".join(parts)


def _csv_frame(metric: MetricAnalysis) -> pd.DataFrame:
    """The chart's points as a reader downloads them: the metric and unit on every row, the
    phase by name, the recalculated and the frozen-baseline limits, the signals by rule id and
    in words."""
    from pipeline.report.signals import signal_name

    chart = metric.chart
    assert chart is not None
    words: list[list[str]] = [[] for _ in range(len(chart))]
    for sig in chart.signals:
        direction = chart.directions.get(sig.rule)
        d = int(direction[sig.index]) if direction is not None else 0
        words[sig.index].append(f"{signal_name(sig.rule, d, chart=chart)} ({sig.label})")
    frame = pd.DataFrame(
        {
            "metric_id": metric.metric_id,
            "metric": metric.name,
            "unit": metric.unit,
            "time": list(chart.time),
            "value": chart.value,
            "n": chart.n,
            "phase": chart.phase,
            "phase_name": [metric.phase_names.get(int(p), f"Phase {int(p)}") for p in chart.phase],
            "centre": chart.centre,
            "lcl": chart.lcl,
            "ucl": chart.ucl,
        }
    )
    frozen = metric.frozen
    if frozen is not None and len(frozen) == len(chart):
        frame["frozen_centre"] = frozen.centre
        frame["frozen_lcl"] = frozen.lcl
        frame["frozen_ucl"] = frozen.ucl
        frame["frozen_signals"] = [";".join(x) for x in frozen.point_signals()]
    frame["signals"] = [";".join(x) for x in chart.point_signals()]
    frame["signals_in_words"] = ["; ".join(x) for x in words]
    return frame


def metric_section(site: SiteAnalysis, metric: MetricAnalysis) -> Html:
    charts: list[ChartImage] = []
    if metric.chart is not None:
        for image in (control_chart_image(metric), control_chart_image(metric, frozen=True)):
            if image is not None:
                charts.append(image)
    details = [d for d in (_impact_details(metric, e) for e in metric.events) if d is not None]
    goals = []
    for g in metric.goals:
        lines = []
        if g.progress is not None:
            lines.append(goal_sentence(metric, g))
        if g.assurance is not None:
            lines.append(
                g.assurance.sentence(
                    metric.name,
                    fmt=lambda v: value_text(metric, v),
                    name_limits=_constant_limits(metric),
                )
            )
        if not lines:
            lines.append(g.note or "Not enough data to judge progress.")
        goals.append({"title": g.title, "lines": lines})
    has_chart = metric.chart is not None
    companion = companion_chart_image(metric)
    return render(
        "site/metric.html.j2",
        metric_id=metric.metric_id,
        name=metric.name,
        meta=_metric_meta(metric),
        sentence=_metric_sentence(metric),
        has_chart=has_chart,
        charts=charts,
        companion=companion,
        companion_open=companion_open(metric),
        companion_title=sentence_case(COMPANION_TITLES.get(ChartType(metric.companion.chart), ""))
        if metric.companion is not None
        else "",
        phases=_phase_table(metric),
        signal_rows=_signal_rows(metric),
        signal_points=count_of(metric.last_points(SIGNAL_WINDOW), "point"),
        csv_data=csv_data(_csv_frame(metric)) if has_chart else "",
        # the download's name holds data ids: child_path refuses one that is not a plain name
        csv_name=child_path(".", f"{site.site_id}-{metric.metric_id}.csv").name,
        impact_rows=_impact_rows(metric, metric.events) if metric.events else [],
        alpha=site.settings.alpha,
        details=details,
        goals=goals,
        annotation_rows=[
            (k, fmt_date(a.time), a.note, "yes" if a.exclude else "")
            for k, a in enumerate(metric.annotations, start=1)
        ],
        capability=_capability_view(metric),
    )


def _capability_view(metric: MetricAnalysis) -> dict[str, Any] | None:
    """The capability block's values, formatted (None when the metric has no spec limits)."""
    c = metric.capability
    if c is None:
        return {"note": metric.capability_note, "rows": []} if metric.capability_note else None
    names = {"cp": "Cp", "cpl": "Cpl", "cpu": "Cpu", "cpk": "Cpk", "cpm": "Cpm", "pp": "Pp",
             "ppk": "Ppk"}  # fmt: skip

    def two(v: Any) -> str:
        return fmt_number(v, digits=2)

    rows = [
        (names[k], two(v.estimate), fmt_interval(v.ci_low, v.ci_high, fmt=two))
        for k, v in c.indices().items()
        if v.estimate is not None
    ]

    def level(v: float) -> str:
        return value_text(metric, v, table=True)

    inputs = [("Readings of the current phase", fmt_count(c.n))]
    inputs += [
        (label, level(v))
        for label, v in (
            ("Lower specification limit (LSL)", c.lsl),
            ("Upper specification limit (USL)", c.usl),
            ("Target", c.target),
        )
        if v is not None
    ]  # fmt: skip
    inputs += [
        ("Mean", level(c.mean)),
        (f"Within sigma ({c.sigma_method})", level(c.sigma_within)),
        ("Overall sigma", level(c.sigma_overall)),
    ]

    def ppm(v: float | None) -> str:
        return "" if v is None else fmt_number(v, digits=0)

    outside = [
        ("below LSL", c.observed_below_lsl, c.expected_ppm_below_lsl),
        ("above USL", c.observed_above_usl, c.expected_ppm_above_usl),
    ]
    return {
        "note": "",
        "rows": rows,
        "alpha": c.alpha,
        "inputs": inputs,
        "outside_rows": [
            (what, fmt_percent(obs, digits=1), ppm(exp))
            for what, obs, exp in outside
            if obs is not None
        ],
        "warnings": list(c.warnings),
    }


def pareto(site: SiteAnalysis) -> Html:
    """The site's Pareto chart of defect categories (nothing without a defects table)."""
    if site.pareto is None:
        return Html("")
    from pipeline.report.plots.pareto import plot_pareto

    p = site.pareto
    few = p.vital_few()
    return render(
        "site/pareto.html.j2",
        chart=plot_pareto(p),
        total=fmt_count(p.total),
        window_start=site.window_start,
        as_of=site.as_of,
        vital=[c.category for c in few],
        n_categories=len(p.categories),
        # at the table's precision: the sentence's share is the table's cumulative %
        vital_share=fmt_number(few[-1].cumulative_percent, digits=1) if few else "",
        rows=[
            (
                c.category,
                fmt_count(c.count),
                fmt_number(c.percent, digits=1),
                fmt_number(c.cumulative_percent, digits=1),
            )
            for c in p.categories
        ]
        + [("All categories", fmt_count(p.total), fmt_number(100.0, digits=1), "")],  # fmt: skip
        csv_data=csv_data(p.to_frame()),
        csv_name=child_path(".", f"{site.site_id}-defects-pareto.csv").name,
    )


# --------------------------------------------------------------------------- culture, quality, methods


def culture(site: SiteAnalysis) -> Html:
    c = site.culture
    if c is None:
        return Html("")
    from pipeline.report.plots import culture as plots

    charts = [
        plots.plot_idea_funnel(c),
        plots.plot_ideas_per_employee(c),
        plots.plot_participation(c),
        plots.plot_time_to_implement(c),
        *plots.plot_surveys(c),
    ]
    area_rows = []
    if len(c.by_area):
        area_rows = [
            (
                area,
                fmt_count(ideas),
                fmt_count(done),
                fmt_percent(share),
                fmt_money(saving, c.currency) if estimates else "none estimated",
            )
            for area, ideas, done, share, saving, estimates in zip(
                c.by_area["area"],
                c.by_area["ideas"],
                c.by_area["implemented"],
                c.by_area["share_implemented"],
                c.by_area["savings"],
                c.by_area["savings_estimates"],
                strict=True,
            )  # fmt: skip
        ]
    survey_rows = [
        (
            s.name,
            fmt_count(s.n_surveys),
            fmt_number(s.latest_score),
            # signed at the latest score's precision, as the findings write it
            change_text(s.change, s.latest_score)
            if s.change is not None and s.latest_score is not None
            else NOT_ENOUGH,
            # what the survey's chart shows, latest and earlier, in the words of its sentence
            s.signal_text,
        )
        for s in c.surveys
    ]
    return render(
        "site/culture.html.j2",
        charts=charts,
        findings=list(c.findings),
        headline_rows=[tuple(r) for r in c.headline()],
        headline_caption=(
            f"Culture of improvement, {fmt_date(c.window_start)} to {fmt_date(c.as_of)}"
        ),
        area_rows=area_rows,
        survey_rows=survey_rows,
        notes=list(c.notes),
    )


def data_quality(site: SiteAnalysis) -> Html:
    failures = site.validation.get("failures", [])
    failure_rows = [
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
    ]
    counts = site.validation.get("row_counts", {})
    count_rows = [(t, fmt_count(c)) for t, c in counts.items()]
    coverage = []
    for m in site.metrics:
        pts = m.series.points
        coverage.append(
            (
                m.name,
                fmt_date(pts["time"].min()) if len(pts) else "no data",
                fmt_date(pts["time"].max()) if len(pts) else "no data",
                int(m.values.notna().sum()),
                int(m.values.isna().sum()),
            )
        )
    return render(
        "site/data_quality.html.j2",
        failure_rows=failure_rows,
        count_rows=count_rows,
        coverage_rows=coverage,
    )


#: The classical before/after comparison of each kind of metric (the statistics panel's
#: reference figures), as the Methods section names it.
CLASSICAL_METHODS = {
    "continuous": "Welch's t-test, Fieller interval for the % change, Hedges' g, Mann-Whitney U "
    "with the Hodges-Lehmann shift",
    "proportion": "two-proportion z-test for the difference (Newcombe score interval), ratio of "
    "proportions (Katz log interval), Mann-Whitney U",
    "count": "rate ratio from a Poisson GLM with offset log(n), negative binomial when "
    "over-dispersed; Mann-Whitney U",
}


#: The Methods table that describes each metric's models (the statistics panels name it).
MODELS_CAPTION = "Models fitted for this site"
NO_EVENT_JUDGED = "no improvement event with data to judge"


def model_rows_for_methods(site: SiteAnalysis) -> list[tuple[str, str, str, str, str]]:
    """One row per metric of the models actually fitted for this site: the chart, the verdict's
    model, the segmented regression and the classical comparison (never a blank cell)."""
    rows = []
    for m in site.metrics:
        chart = f"{m.chart_type.display_name} chart"
        if m.chart_type in (ChartType.G, ChartType.T):
            chart += "; verdicts in event order (one point per incident, not per calendar period)"
        impacts = [e.outcome for e in m.events if e.outcome is not None]
        if not impacts:
            rows.append((m.name, chart, NO_EVENT_JUDGED, NO_EVENT_JUDGED, NO_EVENT_JUDGED))
            continue
        judged = [e for e in m.events if e.outcome is not None]
        methods = dict.fromkeys(e.outcome.verdict.method for e in judged if e.outcome)
        # the statistics panels refer here: where a metric's events were judged differently
        # (a level against a trend baseline), each method names its events
        verdict = (
            "; ".join(methods)
            if len(methods) == 1
            else "; ".join(
                ", ".join(
                    f"“{e.title}”" for e in judged if e.outcome and e.outcome.verdict.method == k
                )
                + f": {k}"
                for k in methods
            )
        )
        segs = [o.impact.segmented_regression for o in impacts if o.impact is not None]
        fitted = [sg for sg in segs if sg is not None]
        seg = (
            "; ".join(
                dict.fromkeys(
                    f"{sg.model}, Newey-West (HAC) errors, maxlags {sg.maxlags}" for sg in fitted
                )
            )
            if fitted
            else "not fitted (too few periods)"
        )
        if any(sg.counterfactual is None for sg in fitted):
            seg += (
                f"; no counterfactual where the baseline has fewer than "
                f"{site.settings.min_phase_points} periods"
            )
        families = {o.impact.model.family for o in impacts if o.impact and o.impact.model}
        classical = CLASSICAL_METHODS.get(str(m.kind), "")
        if families and m.kind == "count":
            classical += f" (fitted here: {', '.join(sorted(families))})"
        rows.append((m.name, chart, verdict, seg, classical or "none"))
    return rows


def shared_model_clauses(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """The clauses (``"; "``-separated) of the verdict model that every judged metric's row of
    the Methods table shares ("AR(1) and over-dispersion allowed for in the covariance", ...),
    in their order; none when fewer than two metrics were judged. The table says them once,
    under it, and each row keeps what is its own: they filled five lines of every row."""
    judged = [r[2] for r in rows if r[2] != NO_EVENT_JUDGED]
    if len(judged) < 2:
        return []
    first = judged[0].split("; ")
    return [c for c in first if all(c in v.split("; ") for v in judged[1:])]


def _without_clauses(text: str, clauses: Sequence[str]) -> str:
    return "; ".join(c for c in text.split("; ") if c not in clauses)


def verdict_glossary(sustain_points: int, min_phase_points: int, alpha: float) -> str:
    """How each improvement's verdict is reached, in the words of its labels (the rule of
    :mod:`pipeline.stats.verdicts`)."""
    lvl = confidence_level(alpha)
    return (
        "Each improvement is judged once, from a segmented regression of the metric on its "
        "period grid that allows for autocorrelation and for a trend the baseline was already "
        "on: the after window is compared with what the baseline predicts (its level, or its "
        "trend carried forward where that explains the data better), at the "
        f"{lvl} level shared between the whole after window and its first half. "
        f"{verdict_label(Verdict.SUSTAINED)}: a clear gain over the whole after window, its "
        f"second half not clearly worse than its first. {verdict_label(Verdict.FADED)}: a "
        "clear gain at first that the second half lost, or a clear gain in the first half "
        f"only. {verdict_label(Verdict.WORSENED)}: a clear change the bad way. "
        f"{verdict_label(Verdict.NO_CLEAR_CHANGE)}: neither. "
        f"{verdict_label(Verdict.CHANGED)}: a clear change on a metric whose better direction "
        f"is neutral. {verdict_label(Verdict.TOO_EARLY)}: fewer than {sustain_points} periods "
        f"of data after the change ({NO_BASELINE_TEXT.lower()}: fewer than "
        f"{MIN_BEFORE_POINTS} before it). Provisional: fewer than {min_phase_points} periods "
        "before or after the change, the points a phase needs."
    )


def methods(site: SiteAnalysis) -> Html:
    s = site.settings
    rule_names = {
        "we": "Western Electric rules 1–4",
        "nelson": "Nelson rules 1–8",
        "anhoej": "Anhøj rules (longest run, number of crossings)",
        "nhs": "NHS Making Data Count rules",
        "all": "all rule sets",
    }
    parameters = [
        ("Rules for charts with limits", rule_names.get(s.rules, s.rules)),
        (
            "Rules for run charts",
            "Anhøj rules" if s.rules == "we" else rule_names.get(s.rules, s.rules),
        ),
        ("Minimum points for a phase's own limits", s.min_phase_points),
        ("Periods after a change before its verdict", s.sustain_points),
        ("Significance level / confidence", f"{s.alpha:g} / {confidence_level(s.alpha)}"),
        ("Moving-range screening", "on" if s.screen_mr else "off"),
        ("Points in a row on one side (WE 4 / NHS)", s.run_length or "8 / 7"),
        ("Points in a row trending (NHS / Nelson 3)", s.trend_length or "7 / 6"),
        ("Report window", f"{fmt_date(site.window_start)} to {fmt_date(site.as_of)}"),
    ]
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
            "g and t charts",
            "Rare events (e.g. safety incidents): the g chart plots the days or units between events, centre line the median, limits from the mean gap (geometric model); the t chart plots the time between events as an individuals chart of time^(1/3.6), back-transformed (qicharts2). A longer gap means rarer events.",
        ),
        (
            "Process capability",
            "Cp, Cpk (within-subgroup sigma: moving range / 1.128 or mean R / d2) and Pp, Ppk (overall standard deviation) of the current phase against the specification limits; Cpm with a target. Intervals: chi-square for Cp and Pp, Bissell for Cpk and Ppk, Boyles for Cpm (Montgomery; qcc). Indices of a process with signals describe no stable process.",
        ),
        (
            "Pareto chart",
            "Defect or waste categories largest first with the cumulative percentage; the few that make up 80% are where improvement pays most.",
        ),
        (
            "Excluded point",
            "A point with an assignable cause (annotations table, exclude): drawn and judged against the limits but left out of the centre line, sigma and runs analysis; moving ranges bridge it (qicharts2).",
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
            "The classical reference figures, assuming independent periods: for measured values Welch's t-test and interval for the difference in means, % change with a Fieller interval, Hedges' g, Mann-Whitney U with the Hodges-Lehmann shift; for proportions the two-proportion test and the ratio of proportions; for counts the rate ratio (Poisson or negative binomial GLM). The transition between start and effective date is left out.",
        ),
        (
            "Segmented regression",
            "y = b0 + b1·t + b2·post + b3·t_after on the period grid, with Newey-West (HAC) errors: OLS for measured values, a binomial GLM (logit) for proportions, a Poisson or negative binomial GLM (log, offset log n) for counts (which metric used which model is in the table above). b2 is the level change and b3 the slope change: in the metric's units for OLS, as odds ratios or rate ratios (exp of the coefficient and of its interval's ends) for the GLMs, whose level change is also given in percentage points or events against no change. The counterfactual is the baseline's line carried forward; it is shown only when the baseline has at least the minimum points of a phase (Wagner et al. 2002).",
        ),
        (
            "Assurance",
            "Whether the process limits sit entirely on the good side of the target (consistently meets), straddle it (hit and miss) or sit on the bad side (consistently fails) — NHS Making Data Count.",
        ),
        ("Verdicts", verdict_glossary(s.sustain_points, s.min_phase_points, s.alpha)),
    ]
    from pipeline.report.signals import glossary_rows

    models = model_rows_for_methods(site)
    shared = shared_model_clauses(models)

    glossary.append(
        (
            "Signals: improvement, concern, neutral",
            "A rule signal is labelled from the metric's better direction: improvement (blue) "
            "when the pattern points the good way, concern (orange) when it points the bad way, "
            "neutral (purple) for a metric without a direction or a pattern without one. The "
            "chart colours every point of the pattern; the CSV download lists, per point, the "
            "rules that flagged it (the point that completes the pattern and those that "
            "continue it).",
        )
    )
    return render(
        "site/methods.html.j2",
        parameter_rows=parameters,
        model_rows=[(r[0], r[1], _without_clauses(r[2], shared), *r[3:]) for r in models],
        shared_clauses=shared,
        models_caption=MODELS_CAPTION,
        glossary=glossary,
        rule_glossary=glossary_rows(
            run_length=site.settings.run_length, trend_length=site.settings.trend_length
        ),
    )


__all__ = [
    "ASSURANCE_ICON",
    "Html",
    "control_chart_image",
    "culture",
    "data_quality",
    "header",
    "methods",
    "metric_section",
    "strategy",
    "summary",
]
