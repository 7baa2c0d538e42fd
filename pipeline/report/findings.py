"""Plain-language findings, tiles and the headline of a site, generated from its results.

Every number in a sentence comes from a result object; nothing is typed by hand. Sentences never
contain NaN, None or inf: a missing number reads "not enough data".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.formatting import (
    fmt_date,
    fmt_number,
    fmt_percent,
    fmt_percent_value,
    interval_label,
    is_missing,
)
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
    GoalStatus.NOT_ENOUGH_DATA: "not enough data",
}
OUTCOME_TEXT: dict[str, str] = {
    Verdict.SUSTAINED: "Sustained improvement",
    Verdict.FADED: "Improvement faded",
    Verdict.NO_CLEAR_CHANGE: "No clear change",
    Verdict.WORSENED: "Worsened",
    Verdict.TOO_EARLY: "Too early to judge",
}
PERIOD_WORD = {"day": "day", "week": "week", "month": "month"}


def value_text(metric: MetricAnalysis, value: Any) -> str:
    """A metric's value as people read it: percentages for proportions, units otherwise."""
    if is_missing(value):
        return "not enough data"
    if metric.is_rate:
        return fmt_percent(value, digits=1)
    unit = metric.unit
    if unit and len(unit) > 12:  # long units ("complaints per 100 stays") read better alone
        return fmt_number(value)
    return fmt_number(value, unit=unit)


def _pct_words(estimate: float, lo: float | None, hi: float | None, *, alpha: float) -> str:
    """'27% (95% CI 25% to 29%)' for a fall or rise of ``estimate`` percent; an interval that
    spans no change keeps its signs ('12% (95% CI −72% to +13%)')."""
    mag = fmt_percent_value(abs(estimate))
    if lo is None or hi is None:
        return mag
    label = interval_label(alpha)
    if (lo < 0) == (hi < 0):
        a, b = sorted((abs(lo), abs(hi)))
        return f"{mag} ({label} {fmt_percent_value(a)} to {fmt_percent_value(b)})"
    return (
        f"{mag} ({label} {fmt_percent_value(lo, signed=True)} to "
        f"{fmt_percent_value(hi, signed=True)})"
    )


def event_sentence(metric: MetricAnalysis, event: EventImpact) -> str:
    """One sentence on what an improvement did to a metric."""
    title = f"“{event.title}”"
    when = fmt_date(event.effective_date)
    res = event.outcome
    if res is None or res.impact is None:
        return f"{title} ({when}): {event.note or 'not enough data to judge its effect on ' + metric.name}."
    imp = res.impact
    pc = imp.percent_change
    period = PERIOD_WORD.get(metric.period, "period")
    n_after = imp.after.n
    if pc.estimate is None:
        change = f"changed by {fmt_number(imp.difference.estimate)}"
    else:
        verb = "fell" if pc.estimate < 0 else "rose"
        change = f"{verb} {_pct_words(pc.estimate, pc.ci_low, pc.ci_high, alpha=imp.alpha)}"
    if res.outcome == Verdict.SUSTAINED:
        return (
            f"{metric.name} {change} after {title} on {when} and has held for {n_after} {period}s."
        )
    if res.outcome == Verdict.FADED:
        kept = res.sustainment.retained_share if res.sustainment else None
        kept_txt = f"; only {fmt_percent(kept)} of the gain remains" if not is_missing(kept) else ""
        early = res.early
        start = ""
        if early is not None and not is_missing(early.estimate) and imp.before.mean:
            start = f" (at first by {fmt_percent(abs(early.estimate) / abs(imp.before.mean))})"
        return (
            f"{metric.name} improved after {title} on {when}{start}, but the gain has faded"
            f"{kept_txt}: the latest {period}s are back near the old level."
        )
    if res.outcome == Verdict.NO_CLEAR_CHANGE:
        return f"{title} on {when} made no clear difference to {metric.name}: it {change}."
    if res.outcome == Verdict.WORSENED:
        return f"{metric.name} got worse after {title} on {when}: it {change}."
    return f"{title} on {when} is too recent to judge ({n_after} {period}s of data since)."


def event_headline(metric: MetricAnalysis, event: EventImpact) -> str:
    """A subject-line version of :func:`event_sentence`."""
    res = event.outcome
    title = f"“{event.title}”"
    if res is None or res.impact is None:
        return f"{metric.name}: {event.note or 'not enough data'}".rstrip(".")
    pc = res.impact.percent_change.estimate
    if res.outcome == Verdict.SUSTAINED and pc is not None:
        verb = "fell" if pc < 0 else "rose"
        return f"{metric.name} {verb} {fmt_percent_value(abs(pc))} after {title} and is holding"
    if res.outcome == Verdict.FADED:
        return f"{metric.name} improved after {title}, but the gain has faded"
    if res.outcome == Verdict.NO_CLEAR_CHANGE:
        return f"{title} made no clear difference to {metric.name}"
    if res.outcome == Verdict.WORSENED:
        return f"{metric.name} got worse after {title}"
    return f"{title} is too recent to judge"


def goal_share(metric: MetricAnalysis, goal: Any) -> str:
    """'62% of the way to 33.3 days' (never negative: moving away reads 0%)."""
    pct = goal.progress.percent_of_target if goal.progress is not None else None
    if pct is None or is_missing(pct):
        return f"not enough data on the way to {value_text(metric, goal.target)}"
    share = fmt_percent_value(max(float(pct), 0.0))
    return f"{share} of the way to {value_text(metric, goal.target)}"


def goal_text(metric: MetricAnalysis) -> str:
    if not metric.goals:
        return "No goal"
    g = metric.goals[0]
    if g.progress is None:
        return g.note or "not enough data"
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

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSummary:
    """What the executive summary and the email show."""

    headline: str
    findings: tuple[str, ...]
    tiles: tuple[Tile, ...]
    key_charts: tuple[dict[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "findings": list(self.findings),
            "tiles": [t.to_dict() for t in self.tiles],
            "key_charts": list(self.key_charts),
        }


def make_tile(metric: MetricAnalysis) -> Tile:
    change = metric.change
    if is_missing(change):
        change_text = "No change point yet" if metric.chart is not None else "Not enough data"
    else:
        change_text = f"{fmt_percent(change, signed=True)} vs baseline"
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
    )


def _score(metric: MetricAnalysis, event: EventImpact) -> float:
    """Rank findings: sustained gains first (by size), then faded, then no change."""
    res = event.outcome
    if res is None or res.impact is None:
        return -1.0
    base = {Verdict.SUSTAINED: 3.0, Verdict.FADED: 2.0, Verdict.WORSENED: 1.5}.get(
        res.outcome, 1.0 if res.outcome == Verdict.NO_CLEAR_CHANGE else 0.0
    )
    pc = res.impact.percent_change.estimate
    return base + (min(abs(pc), 99.0) / 100.0 if pc is not None else 0.0)


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


def summarise_site(site: SiteAnalysis) -> SiteSummary:
    """Tiles, three to five findings and a headline for a site."""
    ranked = sorted(
        ((m, e) for m in site.metrics for e in m.events if e.outcome is not None),
        key=lambda me: _score(*me),
        reverse=True,
    )
    findings: list[str] = [event_sentence(m, e) for m, e in _highlights(ranked, 3)]
    for m in site.metrics:
        for g in m.goals:
            if g.status in (GoalStatus.OFF_TRACK, GoalStatus.MISSED) and len(findings) < 4:
                findings.append(
                    f"Goal “{g.title}” is {GOAL_STATUS_TEXT[g.status]}: {goal_share(m, g)}."
                )
    for m in site.metrics:
        if m.variation == VariationIcon.SPECIAL_CAUSE_CONCERN and not any(
            m.name in f for f in findings
        ):
            if len(findings) < 5:
                period = PERIOD_WORD.get(m.period, "period")
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
    return SiteSummary(
        headline=_shorten(headline, 150),
        findings=tuple(findings[:5]),
        tiles=tuple(make_tile(m) for m in site.metrics),
        key_charts=tuple(charts),
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
