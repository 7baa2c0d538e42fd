"""Compute everything one site's report shows, as one result object (the site model).

This is the only thing the site notebook calls to get numbers: it builds each metric's series,
its control charts (recalculated per phase and against the frozen baseline), the before/after
impact of every improvement event, goal progress, assurance and sustainment, culture metrics and
the roadmap. Pure apart from :func:`load_site_analysis`, which reads the site's staged tables.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.config import Project, StatisticsSettings, load_project
from pipeline.data.inputs import SiteTables
from pipeline.exceptions import StatisticsError
from pipeline.formatting import (
    count_of,
    fmt_date,
    fmt_date_span,
    fmt_number,
    is_missing,
    json_safe,
)
from pipeline.stats.capability import ProcessCapability, process_capability
from pipeline.stats.goals import (
    Assurance,
    EventDates,
    EventOutcome,
    GoalProgress,
    assess_assurance,
    assess_goal_progress,
    evaluate_events,
    target_level,
)
from pipeline.stats.pareto import Pareto, pareto
from pipeline.stats.series import MetricSeries, build_series
from pipeline.stats.spc import ControlChart, control_chart, phase_labels_at
from pipeline.vocabulary import (
    COMPANION_CHARTS,
    PERCENT_CHARTS,
    READING_CHARTS,
    SIZED_CHARTS,
    WHOLE_CHARTS,
    AssuranceIcon,
    Better,
    ChartType,
    EventStatus,
    GoalStatus,
    Kind,
    RunStatus,
    TargetKind,
    VariationIcon,
    Verdict,
    parse,
)

RESULTS_FILE = "results.json"
#: Event statuses whose effective date starts a new phase (planned and cancelled ones do not).
PHASE_STATUSES = tuple(s for s in EventStatus if s.starts_phase)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventImpact:
    """One improvement event on one metric: its dates and what became of it."""

    event_id: str
    title: str
    kind: str
    owner: str
    status: str
    goal_id: str | None
    start_date: pd.Timestamp | None
    effective_date: pd.Timestamp | None
    outcome: EventOutcome | None = None
    note: str = ""
    #: The kind of kaizen (events' optional ``practice`` column, e.g. "5S", "SMED").
    practice: str | None = None
    #: The saving claimed for the event (optional column), in the project currency.
    claimed_saving: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "title": self.title,
            "kind": self.kind,
            "owner": self.owner,
            "status": self.status,
            "goal_id": self.goal_id,
            "practice": self.practice,
            "claimed_saving": self.claimed_saving,
            "start_date": self.start_date,
            "effective_date": self.effective_date,
            "outcome": self.outcome.outcome if self.outcome else None,
            "verdict": self.outcome.verdict.to_dict() if self.outcome else None,
            "note": self.note,
            "detail": self.outcome.to_dict() if self.outcome else None,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalResult:
    """One goal of one metric: progress, assurance and the target level."""

    goal_id: str
    title: str
    target_kind: TargetKind
    target_value: float
    baseline_start: pd.Timestamp | None
    baseline_end: pd.Timestamp | None
    due_date: pd.Timestamp | None
    target: float | None = None
    progress: GoalProgress | None = None
    assurance: Assurance | None = None
    note: str = ""

    @property
    def status(self) -> GoalStatus:
        return self.progress.status if self.progress else GoalStatus.NOT_ENOUGH_DATA

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal_id": self.goal_id,
            "title": self.title,
            "target_kind": self.target_kind,
            "target_value": self.target_value,
            "baseline_start": self.baseline_start,
            "baseline_end": self.baseline_end,
            "due_date": self.due_date,
            "target": self.target,
            "status": self.status,
            "progress": self.progress.to_dict() if self.progress else None,
            "assurance": self.assurance.to_dict() if self.assurance else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Annotation:
    """An assignable-cause note on one point of a metric's chart (the annotations table)."""

    index: int
    time: pd.Timestamp
    note: str
    exclude: bool

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "time": self.time, "note": self.note, "exclude": self.exclude}


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricAnalysis:
    """One metric at one site: its definition, series, charts, events and goals."""

    metric_id: str
    name: str
    unit: str
    chart_type: ChartType
    better: Better
    period: str
    aggregate: str
    series: MetricSeries
    chart: ControlChart | None = None
    frozen: ControlChart | None = None
    companion: ControlChart | None = None
    events: tuple[EventImpact, ...] = ()
    goals: tuple[GoalResult, ...] = ()
    phase_names: dict[int, str] = field(default_factory=dict)
    note: str = ""
    #: assignable-cause notes from the annotations table, on the chart's points
    annotations: tuple[Annotation, ...] = ()
    #: capability of the current phase, where the metric has specification limits
    capability: ProcessCapability | None = None
    capability_note: str = ""
    #: the current level: the mean of the last ``level_points`` points (settings.sustain_points),
    #: which the goals judge and the tile shows (not the latest phase's centre, which a fading
    #: gain leaves behind)
    current_level: float | None = None
    level_points: int = 8

    @property
    def kind(self) -> Kind:
        return self.series.kind

    @property
    def values(self) -> pd.Series:
        return self.series.rates()

    def last_points(self, window: int) -> int:
        """How many points "the latest ``window`` points" are: ``window``, or all the points
        with data when there are fewer (a metric with 3 points has no latest 8)."""
        return min(window, int(self.values.notna().sum()))

    @property
    def is_rate(self) -> bool:
        """True when the plotted value is a proportion (shown as a percentage)."""
        return self.chart_type in PERCENT_CHARTS

    @property
    def is_whole(self) -> bool:
        """True when each plotted value is a whole count (c, np and g charts): '4 incidents'."""
        return self.chart_type in WHOLE_CHARTS

    @property
    def latest(self) -> float | None:
        v = self.values.dropna()
        return float(v.iloc[-1]) if len(v) else None

    @property
    def latest_time(self) -> pd.Timestamp | None:
        ok = self.series.points[self.values.notna().to_numpy()]
        return pd.Timestamp(ok["time"].iloc[-1]) if len(ok) else None

    @property
    def baseline_centre(self) -> float | None:
        return _phase_centre(self.chart, 0)

    @property
    def current_centre(self) -> float | None:
        return _phase_centre(self.chart, -1)

    @property
    def change(self) -> float | None:
        """Relative change of the current phase's centre against the baseline phase's."""
        b, c = self.baseline_centre, self.current_centre
        if b is None or c is None or b == 0 or self.chart is None or len(self.chart.phases) < 2:
            return None
        return (c - b) / abs(b)

    @property
    def variation(self) -> VariationIcon:
        """NHS variation icon for the latest points: a concern in the current process wins;
        otherwise the signals against the frozen baseline say whether the process has moved.
        A provisional baseline (fewer points than a phase needs) is no reference to have moved
        from: then the current process's own signals decide, as its section says them."""
        if self.chart is None:
            return VariationIcon.NOT_ENOUGH_DATA
        k = 8
        if self.chart.has_concern(last=k):
            return VariationIcon.SPECIAL_CAUSE_CONCERN
        frozen = self.frozen
        settled = frozen is not None and bool(frozen.phases) and not frozen.phases[0].is_provisional
        reference = frozen if frozen is not None and settled else self.chart
        return reference.variation(last=k)

    @property
    def assurance(self) -> AssuranceIcon:
        verdicts = [g.assurance.verdict for g in self.goals if g.assurance is not None]
        return verdicts[0] if verdicts else AssuranceIcon.NO_TARGET

    def to_dict(self) -> dict[str, Any]:
        pts = self.series.points
        return {
            "metric_id": self.metric_id,
            "name": self.name,
            "unit": self.unit,
            "chart": self.chart_type,
            "better": self.better,
            "period": self.period,
            "aggregate": self.aggregate,
            "kind": self.kind,
            "is_rate": self.is_rate,
            "latest": self.latest,
            "latest_time": self.latest_time,
            "n_points": int(self.values.notna().sum()),
            "baseline_centre": self.baseline_centre,
            "current_centre": self.current_centre,
            "change": self.change,
            "variation": self.variation,
            "assurance": self.assurance,
            "note": self.note,
            "phase_names": {str(k): v for k, v in self.phase_names.items()},
            "control_chart": self.chart.to_dict() if self.chart else None,
            "frozen_chart": self.frozen.to_dict() if self.frozen else None,
            "companion_chart": self.companion.to_dict() if self.companion else None,
            "events": [e.to_dict() for e in self.events],
            "goals": [g.to_dict() for g in self.goals],
            "annotations": [a.to_dict() for a in self.annotations],
            "capability": self.capability.to_dict() if self.capability else None,
            "series": [
                {"time": t, "value": v, "n": n}
                for t, v, n in zip(pts["time"], pts["value"], pts["n"], strict=True)
            ],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteAnalysis:
    """Everything one site's report shows."""

    site_id: str
    site_name: str
    project_name: str
    as_of: pd.Timestamp
    window_start: pd.Timestamp
    run_id: str
    settings: StatisticsSettings
    metrics: tuple[MetricAnalysis, ...]
    events: pd.DataFrame
    goals: pd.DataFrame
    culture: Any = None
    roadmap: Any = None
    validation: dict[str, Any] = field(default_factory=dict)
    data_freshness: pd.Timestamp | None = None
    #: the day of the site's earliest observation (None: it has none)
    first_observation: pd.Timestamp | None = None
    #: defect categories in the report window (the optional defects table)
    pareto: Pareto | None = None

    @property
    def status(self) -> RunStatus:
        return RunStatus(self.validation.get("status", RunStatus.OK))

    @property
    def has_data(self) -> bool:
        """Whether any metric has a value in the report window."""
        return any(m.series.points["value"].notna().any() for m in self.metrics)

    def metric(self, metric_id: str) -> MetricAnalysis:
        for m in self.metrics:
            if m.metric_id == metric_id:
                return m
        raise KeyError(metric_id)

    def to_dict(self) -> dict[str, Any]:
        """Every computed number, JSON-ready (results.json adds the summary: see
        :mod:`pipeline.report.results`)."""
        return json_safe(
            {
                "site_id": self.site_id,
                "site_name": self.site_name,
                "project": self.project_name,
                "as_of": self.as_of.date().isoformat(),
                "window_start": self.window_start.date().isoformat(),
                "run_id": self.run_id,
                "status": self.status,
                "data_freshness": self.data_freshness,
                "settings": {
                    "rules": self.settings.rules,
                    "min_phase_points": self.settings.min_phase_points,
                    "sustain_points": self.settings.sustain_points,
                    "alpha": self.settings.alpha,
                    "screen_mr": self.settings.screen_mr,
                    "run_length": self.settings.run_length,
                    "trend_length": self.settings.trend_length,
                },
                "metrics": [m.to_dict() for m in self.metrics],
                "culture": self.culture.to_dict() if self.culture is not None else None,
                "roadmap": self.roadmap.to_dict() if self.roadmap is not None else None,
                "pareto": self.pareto.to_dict() if self.pareto is not None else None,
                "validation": self.validation,
            }
        )


def _phase_centre(chart: ControlChart | None, which: int) -> float | None:
    if chart is None or not chart.phases:
        return None
    phase = chart.phases[which]
    if phase.centre is not None:
        return float(phase.centre)
    centre = chart.centre[phase.first : phase.last + 1]
    centre = centre[np.isfinite(centre)]
    return float(centre[-1]) if centre.size else None


def _date(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return None if pd.isna(ts) else ts


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def metric_events(events: pd.DataFrame, metric_id: str) -> pd.DataFrame:
    """The events that name ``metric_id`` in their ``;``-separated metric_ids."""
    if events is None:
        return pd.DataFrame(columns=["event_id", "status", "effective_date", "metric_ids"])
    if events.empty:  # keep every column: a site before its first event still gets a report
        return events.iloc[0:0]
    lists = events["metric_ids"].fillna("").astype(str).str.split(";")
    mask = lists.map(lambda ids: metric_id in [i.strip() for i in ids])
    return events[mask.to_numpy(dtype=bool)]


def analyse_metric(
    obs: pd.DataFrame,
    definition: pd.Series,
    *,
    events: pd.DataFrame,
    goals: pd.DataFrame,
    settings: StatisticsSettings,
    window_start: pd.Timestamp,
    as_of: pd.Timestamp,
    annotations: pd.DataFrame | None = None,
) -> MetricAnalysis:
    """Series, charts, event impacts and goals of one metric.

    ``annotations`` (the site's rows of the annotations table) put notes on the chart's points;
    a point whose note says ``exclude`` is left out of the limits (qicharts2's ``exclude``).
    """
    metric_id = str(definition["metric_id"])
    chart_type = parse(ChartType, definition["chart"], what="chart")
    better = parse(Better, _text(definition.get("better")) or Better.NEUTRAL, what="better")
    period = _text(definition.get("period")) or "week"
    aggregate = _text(definition.get("aggregate")) or "mean"
    series = build_series(
        obs, metric_id=metric_id, chart=chart_type, period=period, aggregate=aggregate,
        start=window_start, end=as_of,
    )  # fmt: skip
    mine = metric_events(events, metric_id)
    phase_events = mine[
        mine["status"].isin(PHASE_STATUSES).to_numpy()
        & (mine["effective_date"] <= as_of).to_numpy()
    ].sort_values("effective_date")
    pts = series.points
    first_time = pts["time"].min() if len(pts) else None
    if first_time is not None:
        phase_events = phase_events[(phase_events["effective_date"] > first_time).to_numpy()]
    starts = list(phase_events["effective_date"])
    phase_names = {1: "Baseline"}
    for k, (_, e) in enumerate(phase_events.iterrows(), start=2):
        phase_names[k] = _text(e["title"]) or _text(e["event_id"])

    chart = frozen = companion = None
    note = ""
    if series.points["value"].notna().sum() >= 2:
        # run, g and t charts: their own defaults (Anhøj; we1 and Anhøj as qicharts2)
        own_default = chart_type in (ChartType.RUN, ChartType.G, ChartType.T)
        rules = None if own_default and settings.rules == "we" else settings.rules
        kwargs: dict[str, Any] = {
            "chart": chart_type,
            "better": better,
            "rules": rules,
            "screen_mr": settings.screen_mr,
            "min_phase_points": settings.min_phase_points,
            "run_length": settings.run_length,
            "trend_length": settings.trend_length,
        }
        if chart_type in READING_CHARTS:  # attribute charts are bounded by their model already
            kwargs["lower_bound"] = _bound(definition.get("lower_bound"))
            kwargs["upper_bound"] = _bound(definition.get("upper_bound"))
        if series.readings is not None:
            r = series.readings
            kwargs.update(values=r["value"].to_numpy(), subgroups=r["subgroup"].to_numpy(),
                          times=r["time"].to_numpy(), phases=phase_labels_at(r["time"], starts))  # fmt: skip
        else:
            kwargs.update(values=pts["value"].to_numpy(), times=pts["time"].to_numpy(),
                          phases=phase_labels_at(pts["time"], starts))  # fmt: skip
            if chart_type in SIZED_CHARTS:
                kwargs["n"] = pts["n"].to_numpy()
        notes = _annotations(annotations, metric_id, pts["time"], as_of=as_of)
        if any(a.exclude for a in notes) and chart_type != ChartType.MR:
            excluded = np.zeros(len(pts), dtype=bool)
            excluded[[a.index for a in notes if a.exclude]] = True
            if series.readings is not None:  # per reading: its subgroup's point
                order = pd.factorize(series.readings["subgroup"], sort=False)[0]
                kwargs["exclude"] = excluded[order]
            else:
                kwargs["exclude"] = excluded
        try:
            chart = control_chart(**kwargs)
            if starts:
                frozen = control_chart(**kwargs, freeze_baseline=True)
        except StatisticsError as exc:
            note = f"No control chart: {exc.message}"
        spread = COMPANION_CHARTS.get(chart_type)
        if chart is not None and spread is not None:
            # dispersion: lower is better, the metric's bounds do not apply
            ckw = {k: v for k, v in kwargs.items() if not k.endswith("_bound")}
            try:
                companion = control_chart(**{**ckw, "chart": spread, "better": "lower"})
            except StatisticsError:  # (single-reading subgroups have no range): the chart stands
                companion = None
    else:
        notes = ()
        note = _no_chart_note(obs, metric_id, n=int(series.points["value"].notna().sum()),
                              window_start=window_start, as_of=as_of)  # fmt: skip
    capability, capability_note = _capability(definition, series, chart, alpha=settings.alpha)

    impacts = _event_impacts(
        series, mine, chart=chart, goals=goals, better=better, settings=settings,
        window_start=window_start, as_of=as_of,
    )  # fmt: skip
    goal_results = _goal_results(
        series, goals, metric_id=metric_id, chart=chart, better=better, as_of=as_of,
        impacts=impacts, sustain_points=settings.sustain_points,
    )  # fmt: skip
    return MetricAnalysis(
        metric_id=metric_id,
        name=_text(definition.get("name")) or metric_id,
        unit=_text(definition.get("unit")),
        chart_type=chart_type,
        better=better,
        period=period,
        aggregate=aggregate,
        series=series,
        chart=chart,
        frozen=frozen,
        companion=companion,
        events=impacts,
        goals=goal_results,
        phase_names=phase_names,
        note=note,
        annotations=notes,
        capability=capability,
        capability_note=capability_note,
        current_level=_current_level(series, settings.sustain_points),
        # as many as the level is the mean of: a metric with 3 points has a level of 3
        level_points=min(settings.sustain_points, int(series.rates().notna().sum())),
    )


def _no_chart_note(
    obs: pd.DataFrame, metric_id: str, *, n: int, window_start: pd.Timestamp, as_of: pd.Timestamp
) -> str:
    """Why a metric has no control chart, in one sentence: no data at all by ``as_of`` (a
    report dated before the metric's first reading), none in the report window, or one value."""
    if n:
        return "Not enough data for a control chart (one value in the window)."
    first = first_observation(obs, metric_id=metric_id)
    if first is None or first > as_of:
        return f"No data on or before {fmt_date(as_of)}."
    return f"No data in the report window ({fmt_date_span(window_start, as_of)})."


def first_observation(obs: pd.DataFrame, *, metric_id: str | None = None) -> pd.Timestamp | None:
    """The day of the earliest observation (of ``metric_id``, or of any metric), or None."""
    rows = obs if metric_id is None else obs[(obs["metric_id"] == metric_id).to_numpy()]
    first = pd.to_datetime(rows["timestamp"]).min() if len(rows) else None
    return None if first is None or pd.isna(first) else pd.Timestamp(first).normalize()


_TRUE = frozenset({"true", "yes", "1"})


def _site_pareto(
    defects: pd.DataFrame | None, *, window_start: pd.Timestamp, as_of: pd.Timestamp
) -> Pareto | None:
    """Pareto of the site's defect categories in the report window (None without defects)."""
    if defects is None or not len(defects):
        return None
    t = defects["timestamp"]
    rows = defects[(t >= window_start).to_numpy() & (t < as_of + pd.Timedelta(days=1)).to_numpy()]
    rows = rows.dropna(subset=["category"])
    if not len(rows) or not (rows["count"].fillna(0) > 0).any():
        return None
    return pareto(rows["category"].astype(str).to_numpy(), rows["count"].to_numpy())


def _annotations(
    table: pd.DataFrame | None, metric_id: str, times: pd.Series, *, as_of: pd.Timestamp
) -> tuple[Annotation, ...]:
    """The metric's annotations, each on the last point at or before its timestamp; one dated
    after the report date is left off (the contract warns of it: on the last point, a note
    dated 2030 read as if it explained that point)."""
    if table is None or not len(table) or not len(times):
        return ()
    rows = table[table["metric_id"] == metric_id].dropna(subset=["timestamp"])
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    stamps = pd.to_datetime(rows["timestamp"])
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    rows = rows[(stamps < end).to_numpy()]
    t = pd.to_datetime(pd.Series(times)).to_numpy()
    out = []
    for _, row in rows.sort_values("timestamp", kind="stable").iterrows():
        i = int(np.searchsorted(t, pd.Timestamp(row["timestamp"]).to_datetime64(), side="right"))
        if i == 0:  # before the window
            continue
        exclude = _text(row.get("exclude")).strip().lower() in _TRUE
        out.append(
            Annotation(
                index=i - 1,
                time=pd.Timestamp(t[i - 1]),
                note=_text(row.get("note")),
                exclude=exclude,
            )
        )
    return tuple(out)


def _capability(
    definition: pd.Series, series: MetricSeries, chart: ControlChart | None, *, alpha: float
) -> tuple[ProcessCapability | None, str]:
    """Capability of the current phase, for a metric with lsl and/or usl."""
    lsl, usl = _bound(definition.get("lsl")), _bound(definition.get("usl"))
    if lsl is None and usl is None:
        return None, ""
    if chart is None or series.chart not in (ChartType.XMR, ChartType.XBAR_R, ChartType.XBAR_S):
        return None, "Capability is computed for individuals and X-bar charts only."
    last = chart.phases[-1]
    keep = ~chart.is_excluded
    points = chart.value[last.first : last.last + 1][keep[last.first : last.last + 1]]
    have = int(np.isfinite(np.asarray(points, dtype=float)).sum())
    if have < chart.min_phase_points:
        # Cp from 2 readings read "Cp 1.75 (0.05 to 3.93)": a number no one should act on
        return None, (
            f"No capability yet: the current phase has {count_of(have, 'point')}, fewer than "
            f"the {chart.min_phase_points} a phase needs (min_phase_points)."
        )
    # in control or not by the rules and lengths of the metric's own chart
    judged: dict[str, Any] = {"rules": chart.rules, "run_length": chart.run_length,
                              "trend_length": chart.trend_length}  # fmt: skip
    try:
        if series.readings is not None:
            r = series.readings
            codes = pd.factorize(r["subgroup"], sort=False)[0]
            sel = (codes >= last.first) & (codes <= last.last) & keep[codes]
            cap = process_capability(
                r["value"].to_numpy()[sel], subgroups=r["subgroup"].to_numpy()[sel],
                lsl=lsl, usl=usl, target=_bound(definition.get("target")), alpha=alpha, **judged,
            )  # fmt: skip
        else:
            v = np.asarray(chart.value[last.first : last.last + 1], dtype=float)
            v = v[keep[last.first : last.last + 1]]
            cap = process_capability(
                v, lsl=lsl, usl=usl, target=_bound(definition.get("target")), alpha=alpha,
                **judged,
            )  # fmt: skip
    except StatisticsError as exc:
        return None, f"No capability: {exc.message}"
    return cap, ""


def value_bounds(chart_type: str, chart: ControlChart | None) -> tuple[float | None, float | None]:
    """The values a metric cannot pass: its configured ``lower_bound`` / ``upper_bound`` (which
    the chart carries), and 0 below for g and t charts (days or units between incidents are
    never negative). The verdict and the segmented regression hold a counterfactual within
    them; the charts draw nothing beyond them."""
    lower = chart.lower_bound if chart is not None else None
    upper = chart.upper_bound if chart is not None else None
    if lower is None and chart_type in (ChartType.G, ChartType.T):
        lower = 0.0
    return lower, upper


def _bound(value: Any) -> float | None:
    """A metric's optional bound: None when blank."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def _impact_frame(series: MetricSeries) -> pd.DataFrame:
    pts = series.points
    frame = pd.DataFrame({"time": pts["time"], "value": pts["value"].astype(float)})
    if series.kind == Kind.PROPORTION:
        frame["n"] = pts["n"].astype(float)
    elif series.kind == Kind.COUNT:
        frame["n"] = pts["n"].astype(float) if series.chart != ChartType.C else 1.0
    return frame


def _event_impacts(
    series: MetricSeries,
    events: pd.DataFrame,
    *,
    chart: ControlChart | None,
    goals: pd.DataFrame,
    better: Better,
    settings: StatisticsSettings,
    window_start: pd.Timestamp,
    as_of: pd.Timestamp,
) -> tuple[EventImpact, ...]:
    # the full period grid: a period without a usable value stays as a gap, so the verdict's
    # time axis (and its autocorrelation) keeps every period in its place
    frame = _impact_frame(series)
    bad = frame["value"].isna().to_numpy().copy()
    if "n" in frame:
        bad |= frame["n"].isna().to_numpy() | ~(frame["n"] > 0).to_numpy()
    frame.loc[bad, "value"] = np.nan

    judged = events[
        events["status"].isin(PHASE_STATUSES).to_numpy()
        & (events["effective_date"] <= as_of).to_numpy()
    ].sort_values("effective_date")
    outcomes: dict[str, EventOutcome] = {}
    lower, upper = value_bounds(series.chart, chart)
    if len(judged) and int((~bad).sum()) >= 4:
        baseline_start = _goal_baseline_start(judged.iloc[0], goals) or window_start
        dates = [
            EventDates(
                event_id=str(e["event_id"]), start=e["start_date"], effective=e["effective_date"]
            )
            for _, e in judged.iterrows()
        ]
        for res in evaluate_events(
            frame, dates, kind=series.kind, better=better, alpha=settings.alpha,
            sustain_points=settings.sustain_points, min_phase_points=settings.min_phase_points,
            baseline_start=max(baseline_start, window_start), as_of=as_of,
            event_order=series.chart in (ChartType.G, ChartType.T),
            # the metric's possible values bound a trend's counterfactual
            lower_bound=lower, upper_bound=upper,
        ):  # fmt: skip
            outcomes[res.event_id] = res
    out = []
    for _, e in events.sort_values("effective_date").iterrows():
        eid = str(e["event_id"])
        status = _text(e["status"])
        if status == EventStatus.PLANNED:
            note = "Planned: nothing to measure yet."
        elif status == EventStatus.CANCELLED:
            note = "Cancelled: not part of the comparison."
        elif eid not in outcomes:
            note = "Not enough data around this change to compare before and after."
        else:
            note = ""
        saving = e.get("claimed_saving")
        out.append(
            EventImpact(
                event_id=eid,
                title=_text(e["title"]),
                kind=_text(e["kind"]),
                owner=_text(e["owner"]),
                status=status,
                goal_id=_text(e.get("goal_id")) or None,
                start_date=_date(e["start_date"]),
                effective_date=_date(e["effective_date"]),
                outcome=outcomes.get(eid),
                note=note,
                practice=_text(e.get("practice")).strip() or None,
                claimed_saving=None if is_missing(saving) else float(saving),
            )
        )
    return tuple(out)


def _goal_baseline_start(event: pd.Series, goals: pd.DataFrame) -> pd.Timestamp | None:
    gid = _text(event.get("goal_id"))
    if not gid or goals is None or goals.empty:
        return None
    row = goals[goals["goal_id"] == gid]
    return _date(row["baseline_start"].iloc[0]) if len(row) else None


def _goal_results(
    series: MetricSeries,
    goals: pd.DataFrame,
    *,
    metric_id: str,
    chart: ControlChart | None,
    better: Better,
    as_of: pd.Timestamp,
    impacts: tuple[EventImpact, ...] = (),
    sustain_points: int = 8,
) -> tuple[GoalResult, ...]:
    if goals is None or goals.empty:
        return ()
    rates = series.rates()
    times = pd.to_datetime(series.points["time"])
    out = []
    for _, g in goals[goals["metric_id"] == metric_id].iterrows():
        b0, b1 = _date(g["baseline_start"]), _date(g["baseline_end"])
        kind = parse(TargetKind, _text(g["target_kind"]), what="target_kind")
        value = float(g["target_value"])
        result = GoalResult(
            goal_id=_text(g["goal_id"]), title=_text(g["title"]), target_kind=kind,
            target_value=value, baseline_start=b0, baseline_end=b1, due_date=_date(g["due_date"]),
        )  # fmt: skip
        mask = rates.notna().to_numpy().copy()
        if b0 is not None:
            mask &= (times >= b0).to_numpy()
        if b1 is not None:
            mask &= (times <= b1).to_numpy()
        baseline = float(rates[mask].mean()) if mask.any() else np.nan
        if series.chart in SIZED_CHARTS and mask.any():
            pts = series.points[mask]  # pooled: sum of counts over sum of sizes
            size = float(pts["n"].sum())
            baseline = float(pts["value"].sum()) / size if size > 0 else np.nan
            if series.chart == ChartType.NP:
                baseline *= float(pts["n"].mean())
        current = _current_level(series, sustain_points)
        if not np.isfinite(baseline) or current is None:
            out.append(_replace(result, note="Not enough data in the baseline window."))
            continue
        try:
            target = target_level(baseline, kind, value, better)
        except StatisticsError as exc:  # a relative target on a level at or below 0
            out.append(_replace(result, note=f"No progress measured: {exc.message}."))
            continue
        if kind != TargetKind.HOLD and _aims_the_wrong_way(target - baseline, better):
            # a cut entered as +0.2: "achieved" or "0% of the way" would both mislead
            out.append(
                _replace(result, note=_wrong_way_note(kind, value, target, baseline, better))
            )
            continue
        progress = assess_goal_progress(
            baseline=baseline, current=current, target_kind=kind, target_value=value,
            start=b1 or as_of, due=result.due_date or as_of, as_of=as_of, better=better,
            is_fading=_is_fading(impacts, result.goal_id),
        )  # fmt: skip
        assurance = None
        if chart is not None and chart.has_limits:
            last = chart.latest_phase
            lcl = chart.lcl[last.first : last.last + 1]
            ucl = chart.ucl[last.first : last.last + 1]
            ok = np.isfinite(lcl) & np.isfinite(ucl)
            if ok.any():
                assurance = assess_assurance(
                    lcl=float(lcl[ok][-1]), ucl=float(ucl[ok][-1]), target=target,
                    better=better,
                )  # fmt: skip
        out.append(_replace(result, target=target, progress=progress, assurance=assurance))
    return tuple(out)


def _aims_the_wrong_way(target_change: float, better: Better) -> bool:
    """A target on the worse side of its baseline (higher where lower is better, or lower where
    higher is better): a sign slip in the goals table, not a goal anyone sets."""
    if better == Better.LOWER:
        return target_change > 0
    if better == Better.HIGHER:
        return target_change < 0
    return False


def _wrong_way_note(
    kind: TargetKind, value: float, target: float, baseline: float, better: Better
) -> str:
    sign = (
        " A relative target_value is signed: -0.2 cuts the baseline by 20%, 0.2 raises it by 20%."
        if kind == TargetKind.RELATIVE
        else ""
    )
    return (
        f"No progress measured: the target {fmt_number(target)} (target_value {fmt_number(value)}) "
        f"is worse than the baseline {fmt_number(baseline)} for a metric where {better} is "
        f"better; check the goals table.{sign}"
    )


def _current_level(series: MetricSeries, points: int) -> float | None:
    """The current level: the mean of the last ``points`` points with data (pooled counts over
    pooled sizes for p, np, u charts, as the baseline is)."""
    pts = series.points
    rates = series.rates()
    ok = rates.notna().to_numpy()
    if not ok.any():
        return None
    last = pts[ok].tail(points)
    if series.chart in SIZED_CHARTS:
        size = float(last["n"].sum())
        if size <= 0:
            return None
        level = float(last["value"].sum()) / size
        return level * float(last["n"].mean()) if series.chart == ChartType.NP else level
    return float(rates[ok].tail(points).mean())


def _is_fading(impacts: tuple[EventImpact, ...], goal_id: str) -> bool:
    """True when the improvement behind a goal has faded: the verdict of the latest judged event
    linked to the goal (or, if none is linked, of the metric's latest judged event)."""
    judged = [
        e for e in impacts if e.outcome is not None and e.outcome.outcome != Verdict.TOO_EARLY
    ]
    linked = [e for e in judged if e.goal_id == goal_id] or judged
    return bool(linked) and linked[-1].outcome.outcome == Verdict.FADED  # type: ignore[union-attr]


def _replace(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)


def analyse_site(
    data: SiteTables,
    *,
    project: Project,
    site_id: str,
    as_of: pd.Timestamp,
    run_id: str = "",
    validation: dict[str, Any] | None = None,
) -> SiteAnalysis:
    """Compute the site's results from its slice of the inputs."""
    from pipeline.stats.culture import summarise_culture
    from pipeline.stats.roadmap import build_roadmap

    site = project.site(site_id)
    settings = project.statistics_for(site_id)
    as_of = pd.Timestamp(as_of).normalize()
    window_start = pd.Timestamp(project.lookback_start(as_of)).normalize()
    obs = data["observations"]
    events = data["events"]
    metrics_table = data["metrics"]
    goals = data.get("goals")
    goals = goals if goals is not None else pd.DataFrame(columns=["goal_id", "metric_id"])

    used = set(obs["metric_id"].dropna().unique())
    results = tuple(
        analyse_metric(
            obs,
            row,
            events=events,
            goals=goals,
            settings=settings,
            window_start=window_start,
            as_of=as_of,
            annotations=data.get("annotations"),
        )  # fmt: skip
        for _, row in metrics_table.iterrows()
        if row["metric_id"] in used
    )
    achieved = {
        g.goal_id: g.status == GoalStatus.ACHIEVED for m in results for g in m.goals if g.progress
    }
    culture = summarise_culture(
        suggestions=data.get("suggestions"), headcount=data.get("headcount"),
        surveys=data.get("surveys"), as_of=as_of, window_start=window_start,
        currency=project.currency,
    )  # fmt: skip
    roadmap = build_roadmap(
        events=events, goals=goals, as_of=as_of, achieved=achieved, metrics=metrics_table
    )
    # the newest reading the report uses: later rows are left out (it read "as of 1 Jun 2024 ·
    # data up to 29 Nov 2026")
    used_rows = obs[(obs["timestamp"] < as_of + pd.Timedelta(days=1)).to_numpy()]
    freshness = used_rows["timestamp"].max() if len(used_rows) else None
    return SiteAnalysis(
        pareto=_site_pareto(data.get("defects"), window_start=window_start, as_of=as_of),
        site_id=site_id,
        site_name=site.name,
        project_name=project.name,
        as_of=as_of,
        window_start=window_start,
        run_id=run_id,
        settings=settings,
        metrics=results,
        events=events,
        goals=goals,
        culture=culture,
        roadmap=roadmap,
        validation=validation or {},
        data_freshness=_date(freshness),
        first_observation=first_observation(obs),
    )


def load_site_analysis(
    *,
    project_file: str,
    site_data: str,
    site_id: str,
    as_of: str,
    validation_file: str = "",
    run_id: str = "",
) -> SiteAnalysis:
    """What the site notebook calls: read the project, the site's slice and its validation."""
    project = load_project(project_file)
    if site_data:
        data = SiteTables.load(site_data)
    else:  # running the notebook by hand: read and split the project's tables here
        from pipeline.data.inputs import read_tables, split_by_site

        data = split_by_site(read_tables(project), [site_id])[site_id]
    validation: dict[str, Any] = {}
    if validation_file and Path(validation_file).is_file():
        validation = json.loads(Path(validation_file).read_text(encoding="utf-8"))
    stamp = pd.Timestamp(as_of) if as_of else pd.Timestamp(dt.date.today())
    return analyse_site(
        data, project=project, site_id=site_id, as_of=stamp, run_id=run_id, validation=validation
    )
