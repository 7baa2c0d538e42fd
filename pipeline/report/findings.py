"""Plain-language findings, tiles and the headline of a site, generated from its results.

Every number in a sentence comes from a result object; nothing is typed by hand. Sentences never
contain NaN, None or inf: a missing number reads "not enough data".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.formatting import (
    count_of,
    difference_unit,
    fmt_date,
    fmt_date_span,
    fmt_effect,
    fmt_effect_interval,
    fmt_number,
    fmt_on_scale,
    fmt_percent,
    fmt_percent_value,
    fmt_progress,
    is_missing,
    scale_of,
    shorten,
)
from pipeline.stats.verdicts import MIN_BEFORE_POINTS, EventVerdict
from pipeline.vocabulary import AssuranceIcon, GoalStatus, RunStatus, VariationIcon, Verdict

if TYPE_CHECKING:
    from pipeline.report.analysis import EventImpact, MetricAnalysis, SiteAnalysis

VARIATION_TEXT: dict[str, str] = {
    VariationIcon.COMMON_CAUSE: "Common cause variation",
    VariationIcon.SPECIAL_CAUSE_IMPROVEMENT: "Special cause: improving",
    VariationIcon.SPECIAL_CAUSE_CONCERN: "Special cause: concerning",
    VariationIcon.SPECIAL_CAUSE_NEUTRAL: "Special cause: neither better nor worse",
    VariationIcon.NOT_ENOUGH_DATA: "Not enough data",
}
#: NHS Making Data Count variation icons: (symbol, css class); colour is never the only signal.
VARIATION_ICON: dict[str, tuple[str, str]] = {
    VariationIcon.COMMON_CAUSE: ("○", "common"),
    VariationIcon.SPECIAL_CAUSE_IMPROVEMENT: ("▲", "improvement"),
    VariationIcon.SPECIAL_CAUSE_CONCERN: ("▼", "concern"),
    VariationIcon.SPECIAL_CAUSE_NEUTRAL: ("◆", "neutral"),
    VariationIcon.NOT_ENOUGH_DATA: ("–", "common"),
}
ASSURANCE_TEXT: dict[str, str] = {
    AssuranceIcon.CONSISTENTLY_MEETS: "Consistently meets the target",
    AssuranceIcon.HIT_AND_MISS: "Hit and miss against the target",
    AssuranceIcon.CONSISTENTLY_FAILS: "Consistently fails the target",
    AssuranceIcon.NOT_APPLICABLE: "No assurance (no improving direction)",
    AssuranceIcon.NO_TARGET: "No target set",
}
GOAL_STATUS_TEXT: dict[str, str] = {
    GoalStatus.ACHIEVED: "achieved",
    GoalStatus.ON_TRACK: "on track",
    GoalStatus.AT_RISK: "at risk",
    GoalStatus.OFF_TRACK: "off track",
    GoalStatus.MISSED: "missed (due date passed)",
    GoalStatus.WITHIN: "within tolerance",
    GoalStatus.OUTSIDE: "outside tolerance",
    GoalStatus.NOT_ENOUGH_DATA: "not enough data",
}
OUTCOME_TEXT: dict[str, str] = {
    Verdict.SUSTAINED: "Sustained improvement",
    Verdict.FADED: "Improvement faded",
    Verdict.NO_CLEAR_CHANGE: "No clear change",
    Verdict.WORSENED: "Worsened",
    Verdict.TOO_EARLY: "Too early to judge",
    Verdict.CHANGED: "Changed (no better direction)",
}
PERIOD_WORD = {"day": "day", "week": "week", "month": "month"}


def point_word(metric: MetricAnalysis) -> str:
    """What one point of the metric's chart is: its period ("week"), or "point" for a g or t
    chart, which has one point per event (days between incidents), not one per period."""
    if metric.chart_type in ("g", "t"):
        return "point"
    return PERIOD_WORD.get(metric.period, "period")


#: The label of a too-early verdict on an event with too few periods of data before it
#: (:attr:`~pipeline.stats.verdicts.EventVerdict.lacks_baseline`): waiting will not help.
NO_BASELINE_TEXT = "No baseline to judge"


def verdict_label(outcome: str, *, provisional: bool = False, lacks_baseline: bool = False) -> str:
    """The verdict's plain label ("No clear change", "Improvement faded (provisional)"), the one
    every page shows beside the change figure, so a figure never reads without its verdict.
    A too-early verdict that ``lacks_baseline`` reads "No baseline to judge"."""
    if lacks_baseline and outcome == Verdict.TOO_EARLY:
        return NO_BASELINE_TEXT
    label = OUTCOME_TEXT.get(outcome, str(outcome))
    if provisional and outcome != Verdict.TOO_EARLY:
        label += " (provisional)"
    return label


def label_of(verdict: EventVerdict) -> str:
    """:func:`verdict_label` of a verdict: provisional, and lacking a baseline, as it says."""
    return verdict_label(
        verdict.outcome, provisional=verdict.is_provisional, lacks_baseline=verdict.lacks_baseline
    )


def value_text(metric: MetricAnalysis, value: Any, *, table: bool = False) -> str:
    """A metric's value as people read it: percentages for proportions, units otherwise.

    Sentences and tiles always carry the unit ("3.63% behind plan"), a score on a scale as
    "8.21 out of 10"; a table cell (``table``) drops a long one ("complaints per 100 stays") and
    a scale's, which the metric's header line names once."""
    if is_missing(value):
        return "not enough data"
    if metric.is_rate:
        return fmt_percent(value, digits=1)
    unit = metric.unit
    if table and unit and (len(unit) > 12 or scale_of(unit) is not None):
        return fmt_number(value, whole=metric.is_whole)
    if scale_of(unit) is not None:  # "8.21 out of 10", not "8.21 score 0–10"
        return fmt_on_scale(value, unit)
    return fmt_number(value, unit=unit, whole=metric.is_whole)


def has_figure(event: EventImpact) -> bool:
    """Whether the event's verdict has an effect figure (:func:`effect_text` gives one)."""
    fig = event.outcome.verdict.figure if event.outcome is not None else None
    return fig is not None and not is_missing(fig["estimate"])


def effect_text(metric: MetricAnalysis, event: EventImpact) -> str:
    """The one effect figure of an event on a metric, in words: 'fell 31% (95% CI −35% to −27%)',
    'rose 2.1 percentage points (95% CI +0.4 to +3.8)', 'fell 12% (95% CI −30% to +6%)': the
    interval as :func:`pipeline.formatting.fmt_effect_interval` writes it everywhere. Read from
    the verdict's ``figure``: the tile, the findings, the headline and (through results.json)
    the portfolio and the email show this number."""
    res = event.outcome
    fig = res.verdict.figure if res is not None else None
    if res is None or fig is None or is_missing(fig["estimate"]):
        return "not enough data"
    if res.verdict.is_constant:  # nothing varied: no change to size, no interval
        return "did not vary (every period the same value, so no interval)"
    est, lo, hi, unit = fig["estimate"], fig["ci_low"], fig["ci_high"], fig["unit"]
    verb = "fell" if est < 0 else "rose" if est > 0 else "stayed level"
    size = fmt_effect(abs(est), unit=unit, signed=False)
    if unit == "percentage_points":
        size += " percentage points"
    elif unit != "percent" and scale_of(metric.unit) is not None:
        size = fmt_number(abs(est), unit=difference_unit(metric.unit))
    elif unit != "percent":
        size = value_text(metric, abs(est))
    if is_missing(lo) or is_missing(hi):
        return f"{verb} {size}"
    interval = fmt_effect_interval(lo, hi, unit=unit, alpha=res.verdict.alpha)
    return f"{verb} {size} ({interval})"


#: What a sentence says in place of the effect when the verdict has no figure to give.
NO_SIZE = "the data give no size of effect to report"


def event_sentence(metric: MetricAnalysis, event: EventImpact) -> str:
    """One sentence on what an improvement did to a metric, from its verdict."""
    title = f"“{event.title}”"
    when = fmt_date(event.effective_date)
    res = event.outcome
    if res is None:
        return f"{title} ({when}): {event.note or 'not enough data to judge its effect on ' + metric.name}."
    v = res.verdict
    period = point_word(metric)
    change = effect_text(metric, event)
    provisional = (
        f" This is provisional: {v.n_before} {period}s before and {v.n_after} after are fewer "
        "than a phase needs."
        if v.is_provisional and v.outcome != Verdict.TOO_EARLY
        else ""
    )
    trend = " (against the trend it was already on)" if v.has_trend else ""
    # no figure (a proportion that was 0 before and after): the verdict stands, with no size
    measured = has_figure(event)
    it = f"it {change}" if measured else NO_SIZE
    if v.outcome == Verdict.SUSTAINED:
        return (
            f"{metric.name} {change if measured else 'improved'}{trend} after {title} on {when} "
            f"and has held for {v.n_after} {period}s.{provisional}"
        )
    if v.outcome == Verdict.FADED:
        early = early_gain_text(metric, event)
        start = f" (by {early})" if early else ""
        return (
            f"{metric.name} improved after {title} on {when}{start}, but the gain has faded: "
            f"over the whole {v.n_after} {period}s {it}.{provisional}"
        )
    if v.outcome == Verdict.NO_CLEAR_CHANGE:
        return (
            f"{title} on {when} made no clear difference to {metric.name}{trend}: "
            f"{it}.{provisional}"
        )
    if v.outcome == Verdict.WORSENED:
        return f"{metric.name} got worse after {title} on {when}{trend}: {it}.{provisional}"
    if v.outcome == Verdict.CHANGED:
        return (
            f"{metric.name} changed clearly after {title} on {when}{trend}: {it}. The metric has "
            f"no better direction, so this is neither an improvement nor a failure.{provisional}"
        )
    if v.lacks_baseline:
        return (
            f"{title} on {when} cannot be judged: {metric.name} has "
            f"{count_of(v.n_before, period)} of data before it{_transition_clause(event)}, and "
            f"a baseline needs {MIN_BEFORE_POINTS}."
        )
    return (
        f"{title} on {when} is too recent to judge ({count_of(v.n_after, period)} of data since)."
    )


def _transition_clause(event: EventImpact) -> str:
    """Says that the periods from the event's start to its effective date are left out of the
    before window (the chart's baseline phase counts them: "provisional (3 points)" beside
    "2 weeks of data before it"); '' when it has no transition."""
    start, effective = event.start_date, event.effective_date
    if start is None or effective is None or is_missing(start) or not start < effective:
        return ""
    return f" (the transition from its start on {fmt_date(start)} left out)"


def event_headline(metric: MetricAnalysis, event: EventImpact) -> str:
    """A subject-line version of :func:`event_sentence`: the metric and the verdict come before
    the event's title, so a subject cut to 78 characters still says what happened (cut after
    "improved after “Express…" it would claim a gain the verdict says has faded)."""
    res = event.outcome
    title = f"“{event.title}”"
    if res is None:
        return f"{metric.name}: {event.note or 'not enough data'}".rstrip(".")
    outcome = res.verdict.outcome
    change = effect_text(metric, event) if has_figure(event) else ""
    if outcome == Verdict.SUSTAINED:
        return f"{metric.name} {change or 'improved'} and is holding, after {title}"
    if outcome == Verdict.FADED:
        return f"{metric.name}: the gain has faded after {title}"
    if outcome == Verdict.NO_CLEAR_CHANGE:
        return f"{metric.name}: no clear change after {title}"
    if outcome == Verdict.WORSENED:
        return f"{metric.name} got worse{': ' + change if change else ''} after {title}"
    if outcome == Verdict.CHANGED:
        return f"{metric.name} changed{': ' + change if change else ''} after {title}"
    if res.verdict.lacks_baseline:
        return f"{metric.name}: no baseline to judge {title}"
    return f"{metric.name}: too early to judge {title}"


def early_gain_text(metric: MetricAnalysis, event: EventImpact) -> str:
    """A faded improvement's early gain, naming the window it covers so a reader can find it
    on the chart: '46% in its first 23 weeks', '4.1 percentage points at first' ('' if none);
    the finding and the statistics panel both say it."""
    res = event.outcome
    e = res.verdict.early if res is not None else None
    if e is None:
        return ""
    period = point_word(metric)
    first = f" in its first {count_of(e.nobs, period)}" if e.nobs else " at first"
    if e.scale == "percentage_points" and not is_missing(e.estimate):
        return f"{fmt_number(abs(e.estimate), digits=1)} percentage points{first}"
    if e.relative is not None:
        return f"{fmt_percent_value(abs(e.relative))}{first}"
    return ""


def latest_judged(metric: MetricAnalysis) -> EventImpact | None:
    """The metric's most recent event with a verdict other than too_early (the tile's change)."""
    judged = [
        e
        for e in metric.events
        if e.outcome is not None and e.outcome.verdict.outcome != Verdict.TOO_EARLY
    ]
    return judged[-1] if judged else None


def goal_share(metric: MetricAnalysis, goal: Any) -> str:
    """'62% of the way to 33.3 days' (:func:`~pipeline.formatting.fmt_progress`: moving away
    reads '0% (moved away)'); for a hold target
    'now 4.00, within the band 3.70 to 4.30 around its baseline 4.00'."""
    prog = goal.progress
    if prog is not None and prog.target_kind == "hold":
        where = "within" if prog.status == GoalStatus.WITHIN else "outside"
        return f"now {value_text(metric, prog.current)}, {where} {hold_band(metric, prog)}"
    pct = prog.percent_of_target if prog is not None else None
    if prog is not None and pct is None and prog.is_achieved:  # the baseline was the target
        return f"at the target {value_text(metric, goal.target)} from the baseline on"
    if pct is None or is_missing(pct):
        return f"not enough data on the way to {value_text(metric, goal.target)}"
    return f"{fmt_progress(pct)} of the way to {value_text(metric, goal.target)}"


def hold_band(
    metric: MetricAnalysis, prog: Any, *, table: bool = False, with_unit: bool | None = None
) -> str:
    """The tolerance band of a hold goal, both sides named where it has two: 'the band 3.70 to
    4.30 stitches per cm around its baseline 4.00' (a neutral metric, symmetric band), 'the band
    of at most 7.50 minutes around its baseline 7.00' (lower is better: only the upper side).
    In a table cell (``table``) just the band: '3.70 to 4.30', 'at most 7.50'; with
    ``with_unit`` (a table without a header line that names the unit) '3.70 to 4.30 stitches
    per cm'."""
    tol = abs(prog.target_change)
    base = value_text(metric, prog.baseline)
    bare = table if with_unit is None else not with_unit
    if metric.better == "lower":
        band = f"at most {value_text(metric, prog.baseline + tol, table=bare)}"
    elif metric.better == "higher":
        band = f"at least {value_text(metric, prog.baseline - tol, table=bare)}"
    else:
        low = value_text(metric, prog.baseline - tol, table=bare)
        if not metric.is_rate:  # the unit once, after the upper end
            low = fmt_number(prog.baseline - tol, whole=metric.is_whole)
        band = f"{low} to {value_text(metric, prog.baseline + tol, table=bare)}"
    if table:
        return band
    return f"the band {'of ' if band.startswith('at ') else ''}{band} around its baseline {base}"


def goal_sentence(metric: MetricAnalysis, goal: Any) -> str:
    """The goal's progress in a sentence; a hold goal names its whole band."""
    prog = goal.progress
    if prog is not None and prog.target_kind == "hold":
        where = "within" if prog.status == GoalStatus.WITHIN else "outside"
        return (
            f"{metric.name} is {where} its tolerance: now {value_text(metric, prog.current)}, "
            f"{where} {hold_band(metric, prog)}."
        )
    return str(prog.sentence(metric.name, fmt=lambda v: value_text(metric, v)))


def goal_text(metric: MetricAnalysis) -> str:
    if not metric.goals:
        return "No goal set"
    g = metric.goals[0]
    if g.progress is None:
        return g.note or "not enough data"
    if g.progress.target_kind == "hold":  # goal_share already says within or outside
        return goal_share(metric, g)
    return f"{goal_share(metric, g)}; {GOAL_STATUS_TEXT.get(g.status, g.status)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tile:
    """One metric's tile in the executive summary (and the email): display texts and icons."""

    metric_id: str
    name: str
    unit: str = ""
    latest: float | None = None
    latest_text: str
    change_text: str
    variation: VariationIcon
    variation_text: str = ""
    assurance: AssuranceIcon
    assurance_text: str = ""
    goal_text: str = ""
    #: When the latest value was measured ("week of 9 Mar 2026"), and the current level: the
    #: mean of the last ``sustain_points`` points, the level the goals judge ("now" in their
    #: sentences), labelled with how many points it spans ("last 8 weeks").
    latest_label: str = ""
    current_text: str = ""
    current_label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSummary:
    """What the executive summary and the email show."""

    headline: str
    findings: tuple[str, ...]
    tiles: tuple[Tile, ...]
    key_charts: tuple[dict[str, str], ...]
    #: The metric's name the headline opens with ("" if it opens with none): the part an
    #: email subject shortens, so that what is said about the metric stays whole.
    headline_metric: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "headline_metric": self.headline_metric,
            "findings": list(self.findings),
            "tiles": [t.to_dict() for t in self.tiles],
            "key_charts": list(self.key_charts),
        }


def make_tile(metric: MetricAnalysis) -> Tile:
    event = latest_judged(metric)
    if event is not None:
        v = event.outcome.verdict if event.outcome is not None else None
        label = label_of(v) if v else ""
        # the verdict first: the figure alone ("fell 44%") reads like a success even when the
        # verdict is no clear change; the email and the portfolio show this same text
        change = f": {effect_text(metric, event)}" if has_figure(event) else ""
        change_text = f"{label}{change} after “{event.title}”"
    elif metric.chart is None:
        change_text = "Not enough data"
    elif early := [e for e in metric.events if e.outcome is not None]:
        # only too_early events: say the event, and that it is too early to judge
        e = early[-1]
        v = e.outcome.verdict if e.outcome is not None else None
        period = point_word(metric)
        effective = f"effective {fmt_date(e.effective_date)}"
        if v is not None and v.lacks_baseline:
            change_text = (
                f"{NO_BASELINE_TEXT} “{e.title}” ({effective}, "
                f"{count_of(v.n_before, period)} of data before it)"
            )
        else:
            since = f", {count_of(v.n_after, period)} of data" if v else ""
            change_text = f"Too early to judge “{e.title}” ({effective}{since})"
    else:
        change_text = "No change point yet"
    current = metric.current_level
    when = metric.latest_time
    unit_word = point_word(metric)
    n_level = metric.level_points
    return Tile(
        metric_id=metric.metric_id,
        name=metric.name,
        unit=metric.unit,
        latest=metric.latest,
        latest_text=value_text(metric, metric.latest),
        change_text=change_text,
        variation=metric.variation,
        variation_text=VARIATION_TEXT.get(metric.variation, metric.variation),
        assurance=metric.assurance,
        assurance_text=ASSURANCE_TEXT.get(metric.assurance, metric.assurance),
        goal_text=goal_text(metric),
        latest_label=f"latest {unit_word}, {fmt_date(when)}" if when is not None else "latest",
        current_text="" if current is None else value_text(metric, current),
        current_label=f"level of the last {n_level} {unit_word}{'s' if n_level != 1 else ''}",
    )


def _score(metric: MetricAnalysis, event: EventImpact) -> float:
    """Rank findings: sustained gains first (by the size of the effect figure), then faded,
    worsened, no clear change."""
    res = event.outcome
    if res is None:
        return -1.0
    v = res.verdict
    base = {Verdict.SUSTAINED: 3.0, Verdict.FADED: 2.0, Verdict.WORSENED: 1.5,
            Verdict.NO_CLEAR_CHANGE: 1.0, Verdict.CHANGED: 0.5}.get(v.outcome, 0.0)  # fmt: skip
    rel = v.effect.relative if v.effect is not None else None
    return base + (min(abs(rel), 99.0) / 100.0 if rel is not None else 0.0)


def _highlights(ranked: list[tuple[Any, Any]], limit: int) -> list[tuple[Any, Any]]:
    """The events worth a finding: the biggest sustained gain, then every gain that faded and
    every change that made no difference (a manager needs to hear those), then other gains."""

    def outcome(me: tuple[Any, Any]) -> str:
        return str(me[1].outcome.outcome)

    best = [me for me in ranked if outcome(me) == Verdict.SUSTAINED][:1]
    lessons = [
        me
        for me in ranked
        if outcome(me) in (Verdict.FADED, Verdict.WORSENED, Verdict.NO_CLEAR_CHANGE)
    ]
    chosen = {id(me) for me in best + lessons}
    rest = [me for me in ranked if id(me) not in chosen]
    return (best + lessons + rest)[:limit]


#: Goal statuses a finding names: the goals a manager has to act on.
ATTENTION = (GoalStatus.OFF_TRACK, GoalStatus.MISSED, GoalStatus.AT_RISK, GoalStatus.OUTSIDE)


def goals_finding(site: SiteAnalysis) -> str | None:
    """One finding on every goal that needs attention, read from the goal statuses the goals
    table shows, so the two always name the same goals: 'Goal “A” is off track: 70% of the way
    to 5.00.', or for several '3 goals are off track: “A” (70% of the way to 5.00), …'."""
    goals = [(m, g) for m in site.metrics for g in m.goals if g.status in ATTENTION]
    if not goals:
        return None
    if len(goals) == 1:
        ((m, g),) = goals
        return f"Goal “{g.title}” is {GOAL_STATUS_TEXT[g.status]}: {goal_share(m, g)}."
    statuses = {g.status for _, g in goals}
    if len(statuses) == 1:
        parts = [f"“{g.title}” ({goal_share(m, g)})" for m, g in goals]
        lead = f"{count_of(len(goals), 'goal')} are {GOAL_STATUS_TEXT[goals[0][1].status]}"
        return f"{lead}: {', '.join(parts[:-1])} and {parts[-1]}."
    parts = [f"“{g.title}” is {GOAL_STATUS_TEXT[g.status]}, {goal_share(m, g)}" for m, g in goals]
    lead = f"{count_of(len(goals), 'goal')} need attention"
    return f"{lead}: {'; '.join(parts[:-1])}; and {parts[-1]}."


def no_data_sentence(site: SiteAnalysis) -> str | None:
    """The one statement of a report without a value in its window ("No data on or before
    1 Jun 2024 for this site: its observations start on 27 Jan 2025."), or None when a metric
    has data. A report dated before the site's data said "Not enough data" for each metric."""
    if site.has_data:
        return None
    first = site.first_observation
    if first is None:
        return f"No data on or before {fmt_date(site.as_of)} for this site."
    if first > site.as_of:
        return (
            f"No data on or before {fmt_date(site.as_of)} for this site: its observations "
            f"start on {fmt_date(first)}."
        )
    span = fmt_date_span(site.window_start, site.as_of)
    return f"No data in the report window ({span}) for this site."


def summarise_site(site: SiteAnalysis) -> SiteSummary:
    """Tiles, three to five findings and a headline for a site; for a site without data in
    the window, that one statement as the headline (no findings, no key charts)."""
    if (nothing := no_data_sentence(site)) is not None:
        return SiteSummary(
            headline=nothing,
            findings=(),
            tiles=tuple(make_tile(m) for m in site.metrics),
            key_charts=(),
        )
    ranked = sorted(
        ((m, e) for m in site.metrics for e in m.events if e.outcome is not None),
        key=lambda me: _score(*me),
        reverse=True,
    )
    findings: list[str] = [event_sentence(m, e) for m, e in _highlights(ranked, 3)]
    if sentence := goals_finding(site):
        findings.append(sentence)
    for m in site.metrics:
        if m.variation == VariationIcon.SPECIAL_CAUSE_CONCERN and not any(
            m.name in f for f in findings
        ):
            if len(findings) < 5:
                period = point_word(m)
                findings.append(
                    f"{m.name} shows special-cause variation in the wrong direction in the last "
                    f"{period}s (latest {value_text(m, m.latest)}): worth a look."
                )
    culture = getattr(site.culture, "findings", ()) if site.culture is not None else ()
    for sentence in culture:
        if len(findings) < 5:
            findings.append(str(sentence))
    if site.status == RunStatus.WARNINGS and len(findings) < 5:
        findings.append(
            "Some input data raised data-quality warnings; see the data-quality section."
        )
    if not findings:
        findings.append("No improvement events with enough data to judge yet.")
    headline = event_headline(*ranked[0]) if ranked else findings[0].rstrip(".")
    key = [m for m, _ in ranked if m.chart is not None]
    key += [m for m in site.metrics if m.chart is not None and m not in key]
    seen: list[str] = []
    charts = []
    for m in key:
        if m.metric_id in seen:
            continue
        seen.append(m.metric_id)
        charts.append(
            {
                "metric_id": m.metric_id,
                "file": f"charts/{m.metric_id}.png",
                "alt": f"{m.name} control chart",
            }
        )
        if len(charts) == 3:
            break
    headline = shorten(headline, 150)
    opens_with = ranked[0][0].name if ranked else ""
    return SiteSummary(
        headline=headline,
        headline_metric=opens_with if opens_with and headline.startswith(opens_with) else "",
        findings=tuple(findings[:5]),
        tiles=tuple(make_tile(m) for m in site.metrics),
        key_charts=tuple(charts),
    )
