"""Strategic alignment: a site's improvement events grouped by the goal they serve, with status,
dates and overdue flags, and the goals table.

Overdue rules (``as_of`` is the report date; a date *before* ``as_of`` has passed):

* a ``planned`` event is overdue once its ``effective_date`` (or its ``end_date``) has passed: the
  change should already be in place and it has not started;
* an ``in_progress`` event is overdue once its ``end_date`` has passed, or, when it has no
  ``end_date``, once its ``effective_date`` has passed (a change in its follow-up period before
  a future ``end_date`` is on schedule);
* ``done`` and ``cancelled`` events are never overdue;
* a goal is overdue when its ``due_date`` has passed and it is not known to be achieved
  (``achieved`` maps goal_id to the verdict computed elsewhere, e.g. :mod:`pipeline.stats.goals`).

Every string from the data is HTML-escaped in :meth:`Roadmap._repr_html_` (by pandas).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.formatting import (
    count_of,
    fmt_date,
    fmt_date_span,
    fmt_number,
    fmt_percent,
    html_tables,
    is_missing,
)
from pipeline.stats.culture import prune
from pipeline.vocabulary import PERCENT_CHARTS, EventKind, EventStatus

__all__ = ["GoalRow", "Roadmap", "RoadmapGroup", "RoadmapItem", "build_roadmap", "describe_target"]

OTHER_GROUP = "Other improvements"


def _text(v: Any) -> str | None:
    return None if is_missing(v) or not str(v).strip() else str(v).strip()


def _date(v: Any) -> pd.Timestamp | None:
    if is_missing(v):
        return None
    t = pd.Timestamp(v)
    return None if pd.isna(t) else t.normalize()


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def describe_target(
    target_kind: str | None,
    target_value: Any,
    better: str | None = None,
    *,
    is_rate: bool = False,
    unit: str = "",
) -> str:
    """A goal's target in words: ``relative -0.5 -> 'halve it (−50%)'``,
    ``absolute 2.0 (lower is better, unit 'minutes') -> 'at most 2.00 minutes'``; an absolute
    target of a proportion metric (p charts) reads as a percentage: ``0.03 -> 'at most 3.0%'``.
    The level is written as the site report writes the metric's values, so the portfolio's
    "target: at most 5.00 minutes" and the goals table's "5.00 minutes" are one figure."""
    v = None if is_missing(target_value) else float(target_value)
    if v is None:
        return "no target set"
    kind = (target_kind or "").strip().lower()
    if kind == "relative":
        pct = f"{'+' if v > 0 else '−' if v < 0 else ''}{abs(v) * 100:.3g}%"
        if abs(v + 0.5) < 1e-9:
            words = "halve it"
        elif abs(v - 1.0) < 1e-9:
            words = "double it"
        elif v < 0:
            words = f"cut it by {abs(v) * 100:.3g}%"
        elif v > 0:
            words = f"raise it by {v * 100:.3g}%"
        else:
            words = "hold it"
        return f"{words} ({pct})"
    if kind == "hold":
        # the tolerance is a share of the baseline level (stats.goals.target_level)
        pct = f"{abs(v) * 100:.3g}%"
        if better in ("lower", "higher"):
            side = "above" if better == "lower" else "below"
            return f"hold it no more than {pct} {side} its baseline"
        return f"hold it within ±{pct} of its baseline"
    level = fmt_percent(v, digits=1) if is_rate else fmt_number(v, unit=unit)
    if better == "lower":
        return f"at most {level}"
    if better == "higher":
        return f"at least {level}"
    return f"reach {level}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoadmapItem:
    """One improvement event on the roadmap."""

    event_id: str
    title: str
    kind: str
    owner: str
    status: str
    goal_id: str | None
    start_date: pd.Timestamp | None
    effective_date: pd.Timestamp | None
    end_date: pd.Timestamp | None
    is_overdue: bool
    overdue_reason: str = ""
    days_overdue: int = 0

    @property
    def kind_name(self) -> str:
        known = self.kind in tuple(EventKind)
        return EventKind(self.kind).label if known else self.kind.replace("_", " ")

    @property
    def status_name(self) -> str:
        known = self.status in tuple(EventStatus)
        return EventStatus(self.status).label if known else self.status.replace("_", " ")

    def to_dict(self) -> dict[str, Any]:
        return prune(
            {
                "event_id": self.event_id,
                "title": self.title,
                "kind": self.kind,
                "owner": self.owner,
                "status": self.status,
                "goal_id": self.goal_id,
                "start_date": self.start_date,
                "effective_date": self.effective_date,
                "end_date": self.end_date,
                "is_overdue": self.is_overdue,
                "overdue_reason": self.overdue_reason or None,
                "days_overdue": self.days_overdue if self.is_overdue else None,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalRow:
    """One goal with its target in words, baseline window and time left."""

    goal_id: str
    title: str
    metric_id: str
    metric_name: str
    target_kind: str
    target_value: float | None
    target_text: str
    baseline_start: pd.Timestamp | None
    baseline_end: pd.Timestamp | None
    due_date: pd.Timestamp | None
    days_to_due: int | None
    achieved: bool | None
    is_overdue: bool

    @property
    def baseline_text(self) -> str:
        return fmt_date_span(self.baseline_start, self.baseline_end)

    @property
    def due_text(self) -> str:
        """``'124 days left'``, ``'due today'``, ``'overdue by 12 days'``, ``'achieved'``."""
        if self.days_to_due is None:
            return "no due date"
        if self.days_to_due < 0:
            if self.achieved:
                return f"achieved (due {_days(-self.days_to_due)} ago)"
            return f"overdue by {_days(-self.days_to_due)}"
        if self.days_to_due == 0:
            return "due today"
        return f"{_days(self.days_to_due)} left"

    def to_dict(self) -> dict[str, Any]:
        return prune(
            {
                "goal_id": self.goal_id,
                "title": self.title,
                "metric_id": self.metric_id,
                "metric_name": self.metric_name,
                "target_kind": self.target_kind,
                "target_value": self.target_value,
                "target_text": self.target_text,
                "baseline_start": self.baseline_start,
                "baseline_end": self.baseline_end,
                "baseline_text": self.baseline_text,
                "due_date": self.due_date,
                "days_to_due": self.days_to_due,
                "due_text": self.due_text,
                "achieved": self.achieved,
                "is_overdue": self.is_overdue,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RoadmapGroup:
    """The events serving one goal (``goal_id`` None: the "Other improvements" group)."""

    goal_id: str | None
    title: str
    items: tuple[RoadmapItem, ...]
    due_date: pd.Timestamp | None = None
    is_overdue: bool = False

    def to_dict(self) -> dict[str, Any]:
        return prune(
            {
                "goal_id": self.goal_id,
                "title": self.title,
                "due_date": self.due_date,
                "is_overdue": self.is_overdue,
                "events": [i.to_dict() for i in self.items],
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Roadmap:
    """Events by goal and the goals table, as of one date."""

    as_of: pd.Timestamp
    groups: tuple[RoadmapGroup, ...]
    goals: tuple[GoalRow, ...]

    @property
    def items(self) -> tuple[RoadmapItem, ...]:
        return tuple(i for g in self.groups for i in g.items)

    @property
    def overdue_events(self) -> tuple[RoadmapItem, ...]:
        return tuple(i for i in self.items if i.is_overdue)

    @property
    def overdue_goals(self) -> tuple[GoalRow, ...]:
        return tuple(g for g in self.goals if g.is_overdue)

    @property
    def is_empty(self) -> bool:
        return not self.items and not self.goals

    def to_dict(self) -> dict[str, Any]:
        return prune(
            {
                "as_of": self.as_of,
                "n_events": len(self.items),
                "n_overdue_events": len(self.overdue_events),
                "n_overdue_goals": len(self.overdue_goals),
                "groups": [g.to_dict() for g in self.groups],
                "goals": [g.to_dict() for g in self.goals],
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per event: its group (goal) and every field of the item."""
        cols = ["group", "goal_id", "event_id", "title", "kind", "owner", "status", "start_date",
                "effective_date", "end_date", "is_overdue", "overdue_reason", "days_overdue"]  # fmt: skip
        rows = [
            {"group": g.title, **{c: getattr(i, c) for c in cols[1:]}}
            for g in self.groups
            for i in g.items
        ]
        return pd.DataFrame(rows, columns=cols)

    def goals_frame(self) -> pd.DataFrame:
        """One row per goal (the goals table, values as computed)."""
        cols = ["goal_id", "title", "metric_id", "metric_name", "target_kind", "target_value",
                "target_text", "baseline_start", "baseline_end", "due_date", "days_to_due",
                "due_text", "achieved", "is_overdue"]  # fmt: skip
        return pd.DataFrame([{c: getattr(g, c) for c in cols} for g in self.goals], columns=cols)

    def summary(self) -> str:
        lines = [
            f"Roadmap as of {fmt_date(self.as_of)}: {count_of(len(self.items), 'improvement')} for "
            f"{count_of(len(self.goals), 'goal')}; "
            f"{count_of(len(self.overdue_events), 'overdue event')}, "
            f"{count_of(len(self.overdue_goals), 'overdue goal')}."
        ]
        for g in self.groups:
            lines.append(f"{g.title}:")
            for i in g.items:
                flag = f" — OVERDUE: {i.overdue_reason}" if i.is_overdue else ""
                lines.append(
                    f"  {i.title} ({i.kind_name}, {i.owner}, {i.status_name}, effective "
                    f"{fmt_date(i.effective_date)}){flag}"
                )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if self.is_empty:
            return html_tables(("No goals or improvement events for this site.", pd.DataFrame()))
        tables = []
        if self.goals:
            goals = pd.DataFrame(
                [
                    (
                        f"{g.title} ({g.goal_id})",
                        g.metric_name,
                        g.target_text,
                        g.baseline_text,
                        fmt_date(g.due_date),
                        f"⚠ {g.due_text}" if g.is_overdue else g.due_text,
                    )
                    for g in self.goals
                ],
                columns=["Goal", "Metric", "Target", "Baseline", "Due", "Time left"],
            )
            tables.append(("Goals", goals))
        if self.items:
            events = pd.DataFrame(
                [
                    (
                        g.title + (" ⚠ goal overdue" if g.is_overdue else ""),
                        i.title,
                        i.kind_name,
                        i.owner,
                        f"⚠ overdue ({i.status_name}): {i.overdue_reason}"
                        if i.is_overdue
                        else i.status_name,
                        fmt_date(i.start_date),
                        fmt_date(i.effective_date),
                        fmt_date(i.end_date) if i.end_date is not None else "—",
                    )
                    for g in self.groups
                    for i in g.items
                ],
                columns=[
                    "Goal",
                    "Improvement",
                    "Kind",
                    "Owner",
                    "Status",
                    "Start",
                    "Effective",
                    "End",
                ],
            )
            tables.append((f"Roadmap: improvements by goal, as of {fmt_date(self.as_of)}", events))
        return html_tables(*tables)


def _event_overdue(
    status: str, effective: pd.Timestamp | None, end: pd.Timestamp | None, as_of: pd.Timestamp
) -> tuple[bool, str, int]:
    if status == EventStatus.PLANNED:
        passed = [(d, w) for d, w in ((effective, "effective"), (end, "end")) if d is not None]
        passed = [(d, w) for d, w in passed if d < as_of]
        if passed:
            d, what = passed[0]
            return (
                True,
                f"still planned, but its {what} date {fmt_date(d)} has passed",
                (as_of - d).days,
            )
    elif status == EventStatus.IN_PROGRESS:
        deadline, what = (end, "end") if end is not None else (effective, "effective")
        if deadline is not None and deadline < as_of:
            return (
                True,
                f"still in progress after its {what} date {fmt_date(deadline)}",
                (as_of - deadline).days,
            )
    return False, "", 0


def build_roadmap(
    *,
    events: pd.DataFrame | None,
    goals: pd.DataFrame | None,
    as_of: Any,
    achieved: Mapping[str, bool] | None = None,
    metrics: pd.DataFrame | None = None,
) -> Roadmap:
    """Group a site's events by goal and describe its goals.

    Parameters
    ----------
    events : the site's ``events`` rows (typed as :data:`pipeline.data.inputs.SCHEMA`).
    goals : the site's ``goals`` rows (may be None or empty: every event is then in the
        "Other improvements" group).
    as_of : the report date.
    achieved : optional goal_id -> whether the goal is achieved (verdict from elsewhere); a goal
        past its due date that is not known to be achieved is overdue.
    metrics : optional ``metrics`` table, for the metric's name and its ``better`` direction
        (an absolute target reads "at most 2.00 minutes" when lower is better, "at least"
        when higher).

    Groups follow the goals' due dates (then goal_id); goals named by events but missing from
    the goals table get a group of their own; "Other improvements" comes last. Events in a group
    are ordered by start date, then effective date, then event_id.
    """
    as_of = pd.Timestamp(as_of).normalize()
    achieved = dict(achieved or {})
    names: dict[str, str] = {}
    better: dict[str, str] = {}
    units: dict[str, str] = {}
    rates: set[str] = set()
    if metrics is not None and len(metrics):
        for m in metrics.itertuples(index=False):
            mid = _text(getattr(m, "metric_id", None))
            if mid:
                names[mid] = _text(getattr(m, "name", None)) or mid
                better[mid] = (_text(getattr(m, "better", None)) or "").lower()
                units[mid] = _text(getattr(m, "unit", None)) or ""
                if (_text(getattr(m, "chart", None)) or "") in PERCENT_CHARTS:
                    rates.add(mid)

    goal_rows: list[GoalRow] = []
    if goals is not None and len(goals):
        seen: set[str] = set()
        for g in goals.itertuples(index=False):
            gid = _text(g.goal_id)
            if gid is None or gid in seen:
                continue
            seen.add(gid)
            due = _date(g.due_date)
            metric_id = _text(g.metric_id) or ""
            days = (due - as_of).days if due is not None else None
            is_achieved = achieved.get(gid)
            goal_rows.append(
                GoalRow(
                    goal_id=gid,
                    title=_text(g.title) or gid,
                    metric_id=metric_id,
                    metric_name=names.get(metric_id, metric_id),
                    target_kind=(_text(g.target_kind) or "").lower(),
                    target_value=None if is_missing(g.target_value) else float(g.target_value),
                    target_text=describe_target(
                        _text(g.target_kind),
                        g.target_value,
                        better.get(metric_id),
                        is_rate=metric_id in rates,
                        unit=units.get(metric_id, ""),
                    ),  # fmt: skip
                    baseline_start=_date(g.baseline_start),
                    baseline_end=_date(g.baseline_end),
                    due_date=due,
                    days_to_due=days,
                    achieved=None if is_achieved is None else bool(is_achieved),
                    is_overdue=days is not None and days < 0 and is_achieved is not True,
                )
            )
    far = pd.Timestamp.max
    goal_rows.sort(key=lambda r: (r.due_date or far, r.goal_id))

    items: dict[str | None, list[RoadmapItem]] = {}
    if events is not None and len(events):
        for e in events.itertuples(index=False):
            status = (_text(e.status) or "").lower()
            eff, end = _date(e.effective_date), _date(getattr(e, "end_date", None))
            overdue, reason, late = _event_overdue(status, eff, end, as_of)
            gid = _text(getattr(e, "goal_id", None))
            item = RoadmapItem(
                event_id=_text(e.event_id) or "",
                title=_text(e.title) or (_text(e.event_id) or "untitled"),
                kind=(_text(e.kind) or "other").lower(),
                owner=_text(e.owner) or "no owner",
                status=status or "unknown",
                goal_id=gid,
                start_date=_date(e.start_date),
                effective_date=eff,
                end_date=end,
                is_overdue=overdue,
                overdue_reason=reason,
                days_overdue=late,
            )
            items.setdefault(gid, []).append(item)
    for lst in items.values():
        lst.sort(key=lambda i: (i.start_date or far, i.effective_date or far, i.event_id))

    groups: list[RoadmapGroup] = []
    by_id = {g.goal_id: g for g in goal_rows}
    for g in goal_rows:
        if g.goal_id in items:
            groups.append(
                RoadmapGroup(
                    goal_id=g.goal_id,
                    title=g.title,
                    items=tuple(items[g.goal_id]),
                    due_date=g.due_date,
                    is_overdue=g.is_overdue,
                )  # fmt: skip
            )
    for gid in sorted(k for k in items if k is not None and k not in by_id):
        groups.append(
            RoadmapGroup(
                goal_id=gid, title=f"Goal {gid} (not in the goals table)", items=tuple(items[gid])
            )  # fmt: skip
        )
    if None in items:
        groups.append(RoadmapGroup(goal_id=None, title=OTHER_GROUP, items=tuple(items[None])))
    return Roadmap(as_of=as_of, groups=tuple(groups), goals=tuple(goal_rows))
