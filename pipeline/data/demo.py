"""Write a deterministic, realistic demo project (``kaizen.yaml`` and every input table), four sites.

The demo is what ``kaizen-reports demo`` runs and what the end-to-end tests use. Every value comes from
a numpy ``Generator`` with a fixed seed per site, and every date is placed relative to ``as_of``, so
the same ``as_of`` always writes byte-identical files. The random draws do not depend on ``as_of``
either (only the calendar does), so the statistics come out the same for every ``as_of``.

Calendar
--------
Weekly data cover the :data:`HISTORY_WEEKS` (96, about 22 months) complete Monday-to-Sunday weeks that
end on the last Sunday on or before ``as_of``; a week is identified below by its index ``w`` (0 = the
oldest). Monthly data (safety incidents) cover the 21 complete calendar months before ``as_of``'s
month. No observation, suggestion, headcount or survey date lies after ``as_of``; only the one
``planned`` event has dates in the future.

Sites and metrics
-----------------
``fab-dresden`` (semiconductor fab, Europe/Berlin)
    ``fab_cycle_time`` lot cycle time, days, one row per lot out (xmr, week, mean, lower);
    ``fab_defective_wafers`` defective wafers per inspected lot, n = 25 wafers (p, week, sum, lower);
    ``fab_eq_downtime`` unplanned equipment downtime, hours per day (xmr, week, sum, lower);
    ``fab_particle_adders`` particles on monitor wafers, n = wafers scanned (u, week, sum, lower).
``hotel-lisbon`` (boutique hotel, Europe/Lisbon)
    ``hotel_checkin_time`` check-in time, minutes, three sampled guests a day (xmr, week, median,
    lower); ``hotel_guest_satisfaction`` review score 0–10, one row per review (run, week, mean,
    higher); ``hotel_complaints`` complaints per 100 stays, one row per day with n = stays / 100
    (u, week, sum, lower); ``hotel_rooms_ready`` rooms ready when the guest arrived, n = arrivals
    (p, week, sum, higher).
``build-manchester`` (urban construction firm, Europe/London)
    ``build_schedule_variance`` % behind plan per completed work package, negative = ahead (xmr,
    week, mean, lower); ``build_rework_hours`` rework hours per working day (xmr, week, sum, lower);
    ``build_plan_complete`` Last Planner's percent plan complete, one row per crew and week with
    n = tasks planned (p, week, sum, higher); ``build_safety_incidents`` recordable incidents, one
    row per month (c, month, sum, lower); ``build_days_between_incidents`` the same incidents as
    days since the previous one, one row per incident (g, day, mean, higher: the rare-event view).
``atelier-florence`` (luxury leather-goods workshop, Europe/Rome)
    ``atelier_defects_per_unit`` defects found at final inspection, n = units inspected per day (u,
    week, sum, lower); ``atelier_first_pass_yield`` units right first time, n = units inspected
    (p, week, sum, higher); ``atelier_lead_time`` order lead time, whole days, one row per order
    (xmr, week, mean, lower); ``atelier_stitch_density`` saddle-stitch density, stitches per cm,
    a weekly audit of 5 pieces with ``subgroup`` = the audit label (xbar_r, week, mean, neutral).

``atelier_stitch_density`` carries specification limits 3.7 to 4.3 with target 4.0 (the report
shows its capability). The optional ``defects`` table has monthly defect counts by category for
``atelier-florence`` and ``fab-dresden`` (a Pareto chart each); ``annotations`` marks
fab-dresden's worst downtime week as a grid power outage (left out of the limits) and puts a note on
atelier-florence's lead time.

For p and u charts ``value`` is the count (defectives, defects, complaints or good units) and ``n``
the units inspected; the charted statistic is sum(value) / sum(n) per period, so absolute goal
targets of those metrics are proportions (0.03) or rates (2.0 complaints per 100 stays).

Cases the statistics must tell apart (:data:`DEMO_CASES`)
---------------------------------------------------------
sustained (``fab-dresden``, ``fab_cycle_time``, ``FAB-E1``)
    Lean project "WIP caps and dispatch rules": lot cycle time steps from about 47.5 to 34.5 days at
    the effective date (w = 52, 44 weekly points after) and holds to ``as_of``.
faded (``hotel-lisbon``, ``hotel_checkin_time``, ``HOT-E1``)
    Kaizen event "Express check-in": the median check-in time drops from about 9 to 5 minutes at
    w = 50, holds for 30 weeks, then drifts back over the last 16 weeks to about 8.6 minutes, so
    the latest points signal a concern against the improved phase and most of the gain is gone.
no_change (``build-manchester``, ``build_rework_hours``, ``BLD-E2``)
    Kaizen event "First-time-right checklist for drylining" at w = 56: before and after are the same
    process (same distribution, nothing changes at the event): the change made no real difference.
data_warning (``atelier-florence``, ``atelier_lead_time``, ``ATL-E2``)
    Five order rows of ``atelier_lead_time`` have a blank ``value`` (missed readings): a warning for
    the data contracts, not a failure. The metric itself improves (about 22 to 16 days, sustained) at
    ATL-E2 (w = 74).

Other events: ``FAB-E2`` (done, downtime cut by about a third), ``FAB-E3`` (planned, dates in
the future; names defective wafers and particle adders), ``HOT-E2`` (in_progress, effective six
weeks before ``as_of``: a short, provisional phase), ``BLD-E1`` (done, sustained; names schedule
variance and PPC), ``BLD-E3`` (done, monthly c chart: 9 months before, 11 after), ``ATL-E1``
(done; names DPU and first-pass yield, both improve) and ``ATL-E3`` (cancelled, with past dates:
it must not start a phase). Goal ``HOT-G2`` (complaints) is the one overdue goal: due at the end of
the month two months before ``as_of``'s month, and not met.

Practices and claimed savings (the portfolio's "what worked where" and "verified impact")
-----------------------------------------------------------------------------------------
Events carry a ``practice`` and a ``claimed_saving`` in euros (``currency: EUR``). Poka-yoke runs at
two sites and works at one (``ATL-E1``, sustained) but not at the other (``BLD-E2``, no change):
:data:`DEMO_PRACTICE`. Flow runs at two sites and works at both (``FAB-E1``, ``ATL-E2``); standard
work runs twice at one site (``HOT-E1`` faded, ``HOT-E2`` too early). ``BLD-E3`` claims no saving,
so a missing claim is shown as such; ``ATL-E3`` (cancelled) has no practice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data.inputs import SCHEMA
from pipeline.exceptions import ConfigError

#: The demo's kaizen.yaml starts with this: how ``write_demo_project`` knows an earlier demo.
DEMO_FIRST_LINE = "# Kaizen Reports demo project"

__all__ = [
    "DEMO_BOUNDS",
    "DEMO_CASES",
    "DEMO_METRICS",
    "DEMO_PRACTICE",
    "DEMO_SITES",
    "HISTORY_WEEKS",
    "build_demo_tables",
    "write_demo_project",
]

HISTORY_WEEKS = 96
MONTHS_OF_INCIDENTS = 21

DEMO_CASES: dict[str, tuple[str, str, str]] = {
    "sustained": ("fab-dresden", "fab_cycle_time", "FAB-E1"),
    "faded": ("hotel-lisbon", "hotel_checkin_time", "HOT-E1"),
    "no_change": ("build-manchester", "build_rework_hours", "BLD-E2"),
    "data_warning": ("atelier-florence", "atelier_lead_time", "ATL-E2"),
}

#: The practice used at two sites that worked at one and not at the other: (practice, (site, event)
#: where it worked, (site, event) where it did not).
DEMO_PRACTICE: tuple[str, tuple[str, str], tuple[str, str]] = (
    "Poka-yoke",
    ("atelier-florence", "ATL-E1"),
    ("build-manchester", "BLD-E2"),
)

DEMO_SITES: tuple[dict[str, object], ...] = (
    {
        "id": "fab-dresden",
        "name": "Dresden Wafer Fab",
        "timezone": "Europe/Berlin",
        "stakeholders": (
            "Ana Lange <ana.lange@example.com>",
            "Jonas Becker <jonas.becker@example.com>",
        ),
        "seed": 20240151,
    },
    {
        "id": "hotel-lisbon",
        "name": "Casa Alfama Boutique Hotel, Lisbon",
        "timezone": "Europe/Lisbon",
        "stakeholders": (
            "Inês Carvalho <ines.carvalho@example.com>",
            "Rui Tavares <rui.tavares@example.com>",
        ),
        "seed": 20240202,
    },
    {
        "id": "build-manchester",
        "name": "Northern Quarter Construction, Manchester",
        "timezone": "Europe/London",
        "stakeholders": (
            "Priya Shah <priya.shah@example.com>",
            "Tom Whitfield <tom.whitfield@example.com>",
            "Site Office <manchester.site@example.com>",
        ),
        "seed": 20240363,
    },
    {
        "id": "atelier-florence",
        "name": "Atelier Oltrarno, Florence",
        "timezone": "Europe/Rome",
        "stakeholders": ("Giulia Moretti <giulia.moretti@example.com>",),
        "seed": 20240404,
    },
)

# (site_id, metric_id, name, unit, chart, better, period, aggregate); aggregate is "sum" for the
# attribute charts (value and n are summed per period) and "mean" for xbar (one subgroup a week).
DEMO_METRICS: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("fab-dresden", "fab_cycle_time", "Lot cycle time", "days", "xmr", "lower", "week", "mean"),
    ("fab-dresden", "fab_defective_wafers", "Defective wafers per lot", "wafers", "p", "lower",
     "week", "sum"),
    ("fab-dresden", "fab_eq_downtime", "Unplanned equipment downtime", "hours", "xmr", "lower",
     "week", "sum"),
    ("fab-dresden", "fab_particle_adders", "Particle adders per monitor wafer",
     "particles per wafer", "u", "lower", "week", "sum"),
    ("hotel-lisbon", "hotel_checkin_time", "Check-in time", "minutes", "xmr", "lower", "week",
     "median"),
    ("hotel-lisbon", "hotel_guest_satisfaction", "Guest satisfaction (reviews)", "score 0–10",
     "run", "higher", "week", "mean"),
    ("hotel-lisbon", "hotel_complaints", "Complaints per 100 stays", "complaints per 100 stays",
     "u", "lower", "week", "sum"),
    ("hotel-lisbon", "hotel_rooms_ready", "Rooms ready at check-in", "share of arrivals", "p",
     "higher", "week", "sum"),
    ("build-manchester", "build_schedule_variance", "Schedule variance of completed work packages",
     "% behind plan", "xmr", "lower", "week", "mean"),
    ("build-manchester", "build_rework_hours", "Rework hours", "hours", "xmr", "lower", "week",
     "sum"),
    ("build-manchester", "build_plan_complete", "Percent plan complete (PPC)",
     "share of planned tasks done", "p", "higher", "week", "sum"),
    ("build-manchester", "build_safety_incidents", "Recordable safety incidents", "incidents", "c",
     "lower", "month", "sum"),
    ("build-manchester", "build_days_between_incidents", "Days between recordable incidents",
     "days", "g", "higher", "day", "mean"),
    ("atelier-florence", "atelier_defects_per_unit", "Defects per unit at final inspection",
     "defects per unit", "u", "lower", "week", "sum"),
    ("atelier-florence", "atelier_first_pass_yield", "First-pass yield", "share right first time",
     "p", "higher", "week", "sum"),
    ("atelier-florence", "atelier_lead_time", "Order lead time", "days", "xmr", "lower", "week",
     "mean"),
    ("atelier-florence", "atelier_stitch_density", "Saddle-stitch density", "stitches per cm",
     "xbar_r", "neutral", "week", "mean"),
)  # fmt: skip

#: The values a demo metric can take (metrics.lower_bound / upper_bound): none below 0 hours or
#: days, a review score between 0 and 10, schedule variance not capped either way.
DEMO_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "fab_cycle_time": (0.0, None),
    "fab_eq_downtime": (0.0, None),
    "hotel_checkin_time": (0.0, None),
    "hotel_guest_satisfaction": (0.0, 10.0),
    "build_rework_hours": (0.0, None),
    "atelier_lead_time": (0.0, None),
    "atelier_stitch_density": (0.0, None),
}

#: Specification limits and target (metrics.lsl / usl / target): the report shows capability.
DEMO_SPECS: dict[str, tuple[float | None, float | None, float | None]] = {
    "atelier_stitch_density": (3.7, 4.3, 4.0),
}

#: Defect categories per site (the defects table, one row per category and month) with their
#: expected monthly counts: a few vital categories and a trivial many, as real defect data are.
DEMO_DEFECTS: dict[str, dict[str, float]] = {
    "atelier-florence": {
        "Edge paint runs": 38.0, "Stitch skipped or loose": 21.0, "Leather scar missed": 9.0,
        "Hardware scratched": 5.0, "Glue marks": 4.0, "Colour mismatch": 1.5,
    },
    "fab-dresden": {
        "Particles": 44.0, "Pattern defects": 19.0, "Scratches": 8.0, "Film thickness": 6.0,
        "Edge chipping": 2.5,
    },
}  # fmt: skip

# Column order of each table: the pipeline's own schema (pipeline.data.inputs.SCHEMA).
OBSERVATION_COLUMNS = tuple(SCHEMA["observations"])
EVENT_COLUMNS = tuple(SCHEMA["events"])
GOAL_COLUMNS = tuple(SCHEMA["goals"])
METRIC_COLUMNS = tuple(SCHEMA["metrics"])
SUGGESTION_COLUMNS = tuple(SCHEMA["suggestions"])
HEADCOUNT_COLUMNS = tuple(SCHEMA["headcount"])
SURVEY_COLUMNS = tuple(SCHEMA["surveys"])
DEFECT_COLUMNS = tuple(SCHEMA["defects"])
ANNOTATION_COLUMNS = tuple(SCHEMA["annotations"])

# Month names spelled out here so titles do not depend on the machine's locale.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_TS = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class _Calendar:
    """Dates of the demo, all relative to ``as_of``."""

    as_of: date
    last_day: date  # last Sunday on or before as_of: the end of the last complete week
    first_monday: date

    @classmethod
    def from_as_of(cls, as_of: date) -> _Calendar:
        last_day = as_of - timedelta(days=(as_of.weekday() + 1) % 7)
        first_monday = last_day - timedelta(days=7 * HISTORY_WEEKS - 1)
        return cls(as_of=as_of, last_day=last_day, first_monday=first_monday)

    def week(self, w: int) -> date:
        """Monday of week ``w`` (0 = the oldest week; may be negative or beyond the history)."""
        return self.first_monday + timedelta(days=7 * w)

    def day(self, w: int, d: int) -> date:
        return self.week(w) + timedelta(days=d)

    def month(self, k: int) -> date:
        """First day of the month ``k`` months after ``as_of``'s month (k <= 0 is the past)."""
        index = self.as_of.year * 12 + self.as_of.month - 1 + k
        return date(index // 12, index % 12 + 1, 1)

    def month_end(self, k: int) -> date:
        return self.month(k + 1) - timedelta(days=1)


@dataclass(slots=True)
class _Site:
    """Everything generated for one site, before it becomes tables."""

    site_id: str
    observations: list[tuple[str, str, float, float, str]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    goals: list[dict[str, object]] = field(default_factory=list)

    def observe(
        self,
        metric_id: str,
        when: datetime | date,
        value: float,
        n: float = np.nan,
        subgroup: str = "",
    ) -> None:
        if not isinstance(when, datetime):
            when = datetime(when.year, when.month, when.day)
        self.observations.append((metric_id, when.strftime(_TS), float(value), float(n), subgroup))

    def event(
        self,
        event_id: str,
        title: str,
        kind: str,
        goal_id: str,
        start: date,
        effective: date,
        end: date | None,
        metric_ids: tuple[str, ...],
        owner: str,
        status: str,
        practice: str = "",
        claimed_saving: float | None = None,
    ) -> None:
        self.events.append(
            {
                "site_id": self.site_id,
                "event_id": event_id,
                "title": title,
                "kind": kind,
                "goal_id": goal_id,
                "start_date": start.isoformat(),
                "effective_date": effective.isoformat(),
                "end_date": end.isoformat() if end else "",
                "metric_ids": ";".join(metric_ids),
                "owner": owner,
                "status": status,
                "practice": practice,
                "claimed_saving": "" if claimed_saving is None else _number(claimed_saving),
            }
        )

    def goal(
        self,
        goal_id: str,
        metric_id: str,
        title: str,
        baseline: tuple[date, date],
        target_kind: str,
        target_value: float,
        due: date,
    ) -> None:
        self.goals.append(
            {
                "goal_id": goal_id,
                "site_id": self.site_id,
                "metric_id": metric_id,
                "title": title.format(due=f"{_MONTHS[due.month - 1]} {due.year}"),
                "baseline_start": baseline[0].isoformat(),
                "baseline_end": baseline[1].isoformat(),
                "target_kind": target_kind,
                "target_value": target_value,
                "due_date": due.isoformat(),
            }
        )


def write_demo_project(
    directory: Path, *, as_of: date | str | None = None, output: Path | None = None
) -> Path:
    """Write the demo project (``kaizen.yaml`` and ``data/<table>.csv``) into ``directory``.

    Parameters
    ----------
    directory
        Folder to write into; created if missing. A demo project written there earlier is
        overwritten; anything else is not (see Raises).
    as_of
        The reporting date the data lead up to (a date or an ISO string); default today.
    output
        Output folder for reports, written into ``kaizen.yaml`` as an absolute path;
        default ``reports`` (relative to the project file).

    Returns
    -------
    Path
        The path of the written ``kaizen.yaml``.

    Raises
    ------
    ConfigError
        ``directory`` holds a project that is not the demo (its kaizen.yaml does not start with
        the demo's first line), or, without a kaizen.yaml, input tables the demo would replace.
    """
    day = _as_date(as_of)
    directory = Path(directory).expanduser()
    data = directory / "data"
    tables = build_demo_tables(day)
    _refuse_to_replace(directory / "kaizen.yaml", [data / f"{name}.csv" for name in tables])
    data.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        _write_csv(frame, data / f"{name}.csv")
    out = str(Path(output).expanduser().resolve()) if output is not None else "reports"
    path = directory / "kaizen.yaml"
    path.write_text(_project_yaml(day, out), encoding="utf-8", newline="\n")
    return path


def _refuse_to_replace(config: Path, tables: list[Path]) -> None:
    """Raise ConfigError unless writing the demo to ``config`` and ``tables`` replaces nothing
    but an earlier demo: ``make demo`` runs again, a user's own project is never overwritten."""
    if config.is_file():
        with config.open(encoding="utf-8", errors="replace") as fh:
            if fh.readline().startswith(DEMO_FIRST_LINE):
                return
        raise ConfigError(
            f"{config} is not a demo project; demo writes only into a new folder or over an "
            "earlier demo (use another --dir)"
        )
    taken = [p.name for p in tables if p.exists()]
    if taken:
        raise ConfigError(
            f"{config.parent} already holds input tables the demo would replace "
            f"({', '.join(taken)} in {tables[0].parent}); use another --dir"
        )


def build_demo_tables(as_of: date | str | None = None) -> dict[str, pd.DataFrame]:
    """The seven demo input tables as DataFrames of strings and numbers, keyed by table name."""
    cal = _Calendar.from_as_of(_as_date(as_of))
    builders: dict[str, Callable[[_Site, _Calendar, np.random.Generator], None]] = {
        "fab-dresden": _fab,
        "hotel-lisbon": _hotel,
        "build-manchester": _build,
        "atelier-florence": _atelier,
    }
    sites: list[_Site] = []
    culture: list[dict[str, pd.DataFrame]] = []
    for spec in DEMO_SITES:
        site_id = str(spec["id"])
        seed = int(spec["seed"])  # type: ignore[call-overload]
        site = _Site(site_id)
        builders[site_id](site, cal, np.random.default_rng(seed))
        sites.append(site)
        culture.append(_culture(site_id, cal, np.random.default_rng(seed + 1)))

    metrics = pd.DataFrame(
        [
            (*m[1:], *DEMO_BOUNDS.get(m[1], (None, None)), *DEMO_SPECS.get(m[1], (None,) * 3))
            for m in DEMO_METRICS
        ],
        columns=list(METRIC_COLUMNS),
    )
    obs = pd.DataFrame(
        [(s.site_id, *row) for s in sites for row in s.observations],
        columns=list(OBSERVATION_COLUMNS),
    )
    obs = obs.sort_values(["site_id", "metric_id", "timestamp", "subgroup"], kind="stable")
    events = pd.DataFrame([e for s in sites for e in s.events], columns=list(EVENT_COLUMNS))
    goals = pd.DataFrame([g for s in sites for g in s.goals], columns=list(GOAL_COLUMNS))
    return {
        "metrics": metrics,
        "observations": obs.reset_index(drop=True),
        "events": events,
        "goals": goals,
        "suggestions": pd.concat([c["suggestions"] for c in culture], ignore_index=True),
        "headcount": pd.concat([c["headcount"] for c in culture], ignore_index=True),
        "surveys": pd.concat([c["surveys"] for c in culture], ignore_index=True),
        "defects": _defects(cal),
        "annotations": _annotations(sites),
    }


# --- sites --------------------------------------------------------------------------------------


def _ar1(rng: np.random.Generator, size: int, phi: float, sd: float) -> np.ndarray:
    """Mild week-to-week autocorrelation: a stationary AR(1) series with marginal sd ``sd``."""
    shocks = rng.normal(0.0, sd * np.sqrt(1 - phi**2), size)
    out = np.empty(size)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, size):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def _ramp(w: int, start: int, end: int, before: float, after: float) -> float:
    """Level that moves linearly from ``before`` (at ``start``) to ``after`` (at ``end``)."""
    if w <= start:
        return before
    if w >= end:
        return after
    return before + (after - before) * (w - start) / (end - start)


def _times(
    rng: np.random.Generator, day: date, count: int, first: int, last: int
) -> list[datetime]:
    """``count`` distinct, sorted clock times (whole minutes) between hours ``first`` and ``last``."""
    minutes = np.sort(rng.choice((last - first) * 60, size=count, replace=False)) + first * 60
    base = datetime(day.year, day.month, day.day)
    return [base + timedelta(minutes=int(m)) for m in minutes]


def _fab(site: _Site, cal: _Calendar, rng: np.random.Generator) -> None:

    weeks = HISTORY_WEEKS
    cycle_noise = _ar1(rng, weeks, phi=0.25, sd=0.6)
    defect_noise = _ar1(rng, weeks, phi=0.3, sd=0.08)
    downtime_noise = _ar1(rng, weeks, phi=0.3, sd=0.08)
    for w in range(weeks):
        # sustained case: WIP caps from w=49 (start), effective at w=52
        level = _ramp(w, 49, 52, 47.5, 34.5) + cycle_noise[w]
        downtime_scale = _ramp(w, 68, 70, 1.8, 1.15) * np.exp(downtime_noise[w])
        p_lot = 0.042 * np.exp(defect_noise[w])
        for d in range(7):  # a fab runs around the clock
            day = cal.day(w, d)
            lots_out = int(rng.poisson(1.8))
            for t in _times(rng, day, lots_out, 0, 24):
                value = max(20.0, level + rng.normal(0.0, 3.5))
                site.observe("fab_cycle_time", t, round(value, 1))
            inspected = 1 + int(rng.binomial(3, 0.4))
            for t in _times(rng, day, inspected, 6, 22):
                p = rng.beta(150 * p_lot, 150 * (1 - p_lot))
                site.observe("fab_defective_wafers", t, int(rng.binomial(25, p)), 25)
            hours = 0.0
            if rng.random() < 0.65:
                hours = min(24.0, rng.gamma(1.6, downtime_scale))
            site.observe("fab_eq_downtime", day, round(hours, 1))

    # monitor wafers through the wet benches, scanned for particle adders each morning;
    # drawn after the loop above so that the cycle-time stream does not depend on it
    for w in range(weeks):
        drift = rng.normal(0.0, 0.04)
        for d in range(7):
            day = cal.day(w, d)
            wafers = 4 + int(rng.binomial(2, 0.5))
            adders = int(rng.poisson(wafers * 3.2 * np.exp(drift)))
            site.observe(
                "fab_particle_adders", datetime(day.year, day.month, day.day, 7), adders, wafers
            )

    site.event(
        "FAB-E1",
        "WIP caps and dispatch rules in lithography",
        "lean_project",
        "FAB-G1",
        cal.week(49),
        cal.week(52),
        cal.week(56) + timedelta(days=4),
        ("fab_cycle_time",),
        "Lithography area team",
        "done",
        practice="Flow",
        claimed_saving=420000,
    )
    site.event(
        "FAB-E2",
        "Autonomous maintenance on ion implanters",
        "kaizen_event",
        "FAB-G2",
        cal.week(68),
        cal.week(70),
        cal.week(70) + timedelta(days=4),
        ("fab_eq_downtime",),
        "Equipment engineering",
        "done",
        practice="TPM",
        claimed_saving=180000,
    )
    future = cal.as_of + timedelta(days=21)
    site.event(
        "FAB-E3",
        "Wet-bench particle reduction kaizen",
        "kaizen_event",
        "FAB-G3",
        future,
        future + timedelta(days=14),
        future + timedelta(days=18),
        ("fab_defective_wafers", "fab_particle_adders"),
        "Wet process team",
        "planned",
        practice="5S",
        claimed_saving=60000,
    )

    site.goal(
        "FAB-G1",
        "fab_cycle_time",
        "Cut lot cycle time by 30% by {due}",
        (cal.week(0), cal.week(49) - timedelta(days=1)),
        "relative",
        -0.30,
        cal.month_end(4),
    )
    site.goal(
        "FAB-G2",
        "fab_eq_downtime",
        "Halve unplanned equipment downtime by {due}",
        (cal.week(0), cal.week(68) - timedelta(days=1)),
        "relative",
        -0.5,
        cal.month_end(6),
    )
    site.goal(
        "FAB-G3",
        "fab_defective_wafers",
        "Bring defective wafers below 3% by {due}",
        (cal.week(0), cal.last_day),
        "absolute",
        0.03,
        cal.month_end(9),
    )


def _hotel(site: _Site, cal: _Calendar, rng: np.random.Generator) -> None:

    weeks = HISTORY_WEEKS
    checkin_noise = _ar1(rng, weeks, phi=0.3, sd=0.04)
    satisfaction_noise = _ar1(rng, weeks, phi=0.3, sd=0.12)
    for w in range(weeks):
        # faded case: express check-in from w=48, effective w=50; the gain erodes from w=80 on
        if w < 80:
            level = _ramp(w, 48, 50, 9.0, 5.0)
        else:
            level = _ramp(w, 79, weeks - 1, 5.0, 8.6)
        level *= np.exp(checkin_noise[w])
        complaint_rate = _ramp(w, 86, 92, 3.6, 3.1)  # HOT-E2, still in progress
        for d in range(7):
            day = cal.day(w, d)
            for t in _times(rng, day, 3, 14, 23):
                minutes = max(0.5, level * np.exp(rng.normal(0.0, 0.28)))
                site.observe("hotel_checkin_time", t, round(minutes, 1))
            for t in _times(rng, day, int(rng.poisson(1.6)), 8, 23):
                score = np.clip(np.rint(rng.normal(8.3 + satisfaction_noise[w], 1.4)), 0, 10)
                site.observe("hotel_guest_satisfaction", t, score)
            season = 1.0 + 0.12 * np.cos(2 * np.pi * (day.month - 8) / 12)
            stays = int(np.clip(np.rint(rng.normal(38 * season, 5)), 12, 60))
            complaints = int(rng.poisson(complaint_rate * stays / 100))
            site.observe("hotel_complaints", day, complaints, stays / 100)

    # drawn after the loop above so that the check-in stream does not depend on it
    for w in range(weeks):
        for d in range(7):
            day = cal.day(w, d)
            arrivals = 4 + int(rng.poisson(12))
            ready = int(rng.binomial(arrivals, rng.beta(86, 14)))
            site.observe(
                "hotel_rooms_ready", datetime(day.year, day.month, day.day, 15), ready, arrivals
            )

    site.event(
        "HOT-E1",
        "Express check-in: online pre-registration and key pick-up",
        "kaizen_event",
        "HOT-G1",
        cal.week(48),
        cal.week(50),
        cal.week(50) + timedelta(days=2),
        ("hotel_checkin_time",),
        "Front office team",
        "done",
        practice="Standard work",
        claimed_saving=48000,
    )
    site.event(
        "HOT-E2",
        "Complaint recovery standard work",
        "lean_project",
        "HOT-G2",
        cal.week(86),
        cal.week(90),
        None,
        ("hotel_complaints",),
        "Guest relations",
        "in_progress",
        practice="Standard work",
        claimed_saving=15000,
    )

    site.goal(
        "HOT-G1",
        "hotel_checkin_time",
        "Check every guest in within 5 minutes by {due}",
        (cal.week(0), cal.week(48) - timedelta(days=1)),
        "absolute",
        5.0,
        cal.month_end(2),
    )
    # overdue: due two months before as_of's month and, with the project still running, not met
    site.goal(
        "HOT-G2",
        "hotel_complaints",
        "Cut complaints to 2 per 100 stays by {due}",
        (cal.week(0), cal.week(86) - timedelta(days=1)),
        "absolute",
        2.0,
        cal.month_end(-2),
    )


def _build(site: _Site, cal: _Calendar, rng: np.random.Generator) -> None:

    weeks = HISTORY_WEEKS
    schedule_noise = _ar1(rng, weeks, phi=0.3, sd=1.2)
    rework_noise = _ar1(rng, weeks, phi=0.2, sd=0.05)
    for w in range(weeks):
        level = _ramp(w, 36, 40, 12.0, 6.5)  # Last Planner from w=36, effective w=40
        for t in _times(rng, cal.day(w, 4), int(rng.poisson(6)), 7, 18):
            # work packages are signed off on Fridays; spread the sign-off over the week
            t -= timedelta(days=int(rng.integers(0, 5)))
            site.observe(
                "build_schedule_variance",
                t,
                round(level + schedule_noise[w] + rng.normal(0.0, 6.0), 1),
            )
        for d in range(6):  # Monday to Saturday
            # no_change case: BLD-E2 at w=56 changes nothing, the same process throughout
            hours = rng.gamma(2.5, 3.2) * np.exp(rework_noise[w])
            site.observe("build_rework_hours", cal.day(w, d), round(hours * 2) / 2)

    # the monthly stream is drawn for a fixed number of months, so it does not depend on as_of
    incidents: list[tuple[int, int]] = []
    for k in range(-MONTHS_OF_INCIDENTS, 0):
        rate = 2.4 if k < -11 else 1.1  # daily safety huddles from month -12, effective -11
        count = int(rng.poisson(rate))
        incidents.append((k, count))
        site.observe("build_safety_incidents", cal.month(k), count)

    # Last Planner's own measure: each crew's weekly planned tasks and those done as planned
    crew_effect = rng.normal(0.0, 0.15, 4)
    for w in range(weeks):
        logit = _ramp(w, 36, 40, 0.32, 1.32) + rng.normal(0.0, 0.12)
        friday = cal.day(w, 4)
        for crew in range(4):
            planned = 6 + int(rng.poisson(18))
            p_done = 1 / (1 + np.exp(-(logit + crew_effect[crew])))
            stamp = datetime(friday.year, friday.month, friday.day, 15, 15 * crew)
            site.observe("build_plan_complete", stamp, int(rng.binomial(planned, p_done)), planned)

    site.event(
        "BLD-E1",
        "Last Planner System on every live site",
        "lean_project",
        "BLD-G1",
        cal.week(36),
        cal.week(40),
        cal.week(44),
        ("build_schedule_variance", "build_plan_complete"),
        "Site management",
        "done",
        practice="Last Planner",
        claimed_saving=250000,
    )
    site.event(
        "BLD-E2",
        "First-time-right checklist for drylining",
        "kaizen_event",
        "BLD-G2",
        cal.week(54),
        cal.week(56),
        cal.week(56) + timedelta(days=4),
        ("build_rework_hours",),
        "Finishing trades crew",
        "done",
        practice="Poka-yoke",
        claimed_saving=36000,
    )
    site.event(
        "BLD-E3",
        "Daily safety huddles and permit board",
        "kaizen_event",
        "BLD-G3",
        cal.month(-12),
        cal.month(-11),
        cal.month(-11) + timedelta(days=14),
        ("build_safety_incidents", "build_days_between_incidents"),
        "HSE team",
        "done",
        practice="Visual management",
    )

    site.goal(
        "BLD-G1",
        "build_schedule_variance",
        "Keep work packages within 5% of plan by {due}",
        (cal.week(0), cal.week(36) - timedelta(days=1)),
        "absolute",
        5.0,
        cal.month_end(3),
    )
    site.goal(
        "BLD-G2",
        "build_rework_hours",
        "Cut rework hours by 25% by {due}",
        (cal.week(0), cal.week(54) - timedelta(days=1)),
        "relative",
        -0.25,
        cal.month_end(5),
    )
    site.goal(
        "BLD-G3",
        "build_safety_incidents",
        "Halve recordable safety incidents by {due}",
        (cal.month(-MONTHS_OF_INCIDENTS), cal.month(-12) - timedelta(days=1)),
        "relative",
        -0.5,
        cal.month_end(6),
    )

    # the same incidents, each on its own day, as days since the previous one (a g chart, the
    # rare-event view of safety); drawn last, so every stream above is unchanged. The first
    # incident has no previous one, so no gap: it has no row (a blank would be a data warning).
    previous: date | None = None
    for k, count in incidents:
        first = cal.month(k)
        days = (cal.month(k + 1) - first).days
        for d in sorted(rng.choice(days, size=min(count, days), replace=False).tolist()):
            day = first + timedelta(days=int(d))
            if previous is not None:
                site.observe("build_days_between_incidents", day, float((day - previous).days))
            previous = day


def _atelier(site: _Site, cal: _Calendar, rng: np.random.Generator) -> None:

    weeks = HISTORY_WEEKS
    lead_noise = _ar1(rng, weeks, phi=0.35, sd=0.6)
    for w in range(weeks):
        dpu = _ramp(w, 58, 60, 0.32, 0.17)  # poka-yoke jigs from w=58, effective w=60
        for d in range(5):
            day = cal.day(w, d)
            units = max(3, int(rng.poisson(11)))
            # per-unit defects: gamma-Poisson (mildly over-dispersed), as real workmanship is
            defects = rng.poisson(dpu * rng.gamma(4.0, 0.25, units))
            stamp = datetime(day.year, day.month, day.day, 17, 30)
            site.observe("atelier_defects_per_unit", stamp, int(defects.sum()), units)
            site.observe("atelier_first_pass_yield", stamp, int((defects == 0).sum()), units)
        level = _ramp(w, 68, 74, 22.0, 16.0) + lead_noise[w]  # cellular layout, effective w=74
        for t in _times(rng, cal.day(w, 0), int(rng.poisson(8)), 9, 19):
            t += timedelta(days=int(rng.integers(0, 6)))  # orders ship Monday to Saturday
            site.observe("atelier_lead_time", t, max(5, int(np.rint(level + rng.gamma(4, 1) - 4))))
        audit = cal.day(w, 2)
        label = f"audit {audit.isocalendar().year}-W{audit.isocalendar().week:02d}"
        offset = rng.normal(0.0, 0.03)
        for t in _times(rng, audit, 5, 10, 12):
            site.observe(
                "atelier_stitch_density",
                t,
                round(4.0 + offset + rng.normal(0, 0.08), 2),
                subgroup=label,
            )

    # data_warning case: five missed lead-time readings, spread over the history
    rows = [i for i, row in enumerate(site.observations) if row[0] == "atelier_lead_time"]
    for i in (rows[40], rows[205], rows[390], rows[540], rows[-30]):
        metric_id, ts, _, n, subgroup = site.observations[i]
        site.observations[i] = (metric_id, ts, np.nan, n, subgroup)

    site.event(
        "ATL-E1",
        "Poka-yoke jigs for edge painting",
        "kaizen_event",
        "ATL-G1",
        cal.week(58),
        cal.week(60),
        cal.week(60) + timedelta(days=4),
        ("atelier_defects_per_unit", "atelier_first_pass_yield"),
        "Leather goods cell",
        "done",
        practice="Poka-yoke",
        claimed_saving=95000,
    )
    site.event(
        "ATL-E2",
        "Cellular layout for small leather goods",
        "lean_project",
        "ATL-G2",
        cal.week(68),
        cal.week(74),
        cal.week(76),
        ("atelier_lead_time",),
        "Production planning",
        "done",
        practice="Flow",
        claimed_saving=120000,
    )
    site.event(
        "ATL-E3",
        "Switch to a new linen thread supplier",
        "other",
        "ATL-G3",
        cal.week(80),
        cal.week(82),
        None,
        ("atelier_stitch_density",),
        "Purchasing",
        "cancelled",
    )

    site.goal(
        "ATL-G1",
        "atelier_defects_per_unit",
        "Halve defects per unit by {due}",
        (cal.week(0), cal.week(58) - timedelta(days=1)),
        "relative",
        -0.5,
        cal.month_end(3),
    )
    site.goal(
        "ATL-G2",
        "atelier_lead_time",
        "Cut order lead time by 25% by {due}",
        (cal.week(0), cal.week(68) - timedelta(days=1)),
        "relative",
        -0.25,
        cal.month_end(4),
    )
    site.goal(
        "ATL-G3",
        "atelier_stitch_density",
        # a hold target: keep the level within 7.5% of the baseline's (about 4.0 per cm, so
        # roughly the specification 3.7 to 4.3); judged within / outside, not "x% of the way"
        "Hold saddle-stitch density within 7.5% of its baseline (4.0 per cm)",
        (cal.week(0), cal.week(80) - timedelta(days=1)),
        "hold",
        0.075,
        cal.month_end(12),
    )


# --- culture: suggestions, headcount, surveys ----------------------------------------------------

_CULTURE = {
    # prefix, areas, headcount, ideas per week at the start and at the end, engagement index
    "fab-dresden": (
        "FAB",
        ("Lithography", "Etch", "Wet process", "Implant", "Metrology", "Facilities"),
        420,
        (2.4, 4.4),
        68.0,
    ),
    "hotel-lisbon": (
        "HOT",
        ("Front office", "Housekeeping", "Food & beverage", "Maintenance", "Guest relations"),
        64,
        (1.1, 2.3),
        74.0,
    ),
    "build-manchester": (
        "BLD",
        ("Groundworks", "Structures", "Finishing trades", "Site logistics", "HSE", "Design office"),
        180,
        (1.4, 2.8),
        61.0,
    ),
    "atelier-florence": (
        "ATL",
        ("Cutting", "Stitching", "Edge painting", "Assembly", "Quality", "Logistics"),
        48,
        (1.0, 2.0),
        79.0,
    ),
}


def _culture(site_id: str, cal: _Calendar, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    prefix, areas, staff, (ideas_from, ideas_to), engagement = _CULTURE[site_id]
    weights = rng.dirichlet(np.full(len(areas), 4.0))

    rows: list[dict[str, object]] = []
    for w in range(HISTORY_WEEKS):
        rate = _ramp(w, 0, HISTORY_WEEKS - 1, ideas_from, ideas_to)
        for _ in range(int(rng.poisson(rate))):
            submitted = cal.day(w, int(rng.integers(0, 7)))
            area = areas[int(rng.choice(len(areas), p=weights))]
            u = rng.random()
            days_to_implement = max(1, int(rng.lognormal(np.log(30), 0.6)))
            has_saving = rng.random()
            saving = round(float(rng.lognormal(np.log(1200), 1.0)), -1)
            age = (cal.last_day - submitted).days
            if age < 21:
                status = "submitted" if u < 0.7 else ("accepted" if u < 0.9 else "rejected")
            else:
                status = "rejected" if u < 0.18 else ("accepted" if u < 0.42 else "implemented")
            implemented_on = submitted + timedelta(days=days_to_implement)
            if status == "implemented" and implemented_on > cal.last_day:
                status = "accepted"
            keep_saving = (status == "implemented" and has_saving < 0.75) or (
                status == "accepted" and has_saving < 0.4
            )
            rows.append(
                {
                    "site_id": site_id,
                    "suggestion_id": "",
                    "submitted_on": submitted.isoformat(),
                    "area": area,
                    "status": status,
                    "implemented_on": implemented_on.isoformat() if status == "implemented" else "",
                    "estimated_saving": saving if keep_saving else np.nan,
                }
            )
    rows.sort(key=lambda r: str(r["submitted_on"]))
    for i, row in enumerate(rows, start=1):
        row["suggestion_id"] = f"{prefix}-S{i:04d}"
    suggestions = pd.DataFrame(rows, columns=list(SUGGESTION_COLUMNS))

    # a fixed number of monthly draws (24), so the stream never depends on as_of
    months = [cal.month(k) for k in range(-23, 1)]
    drift = np.cumsum(rng.normal(0.0, 0.01, len(months)))
    heads = [int(round(staff * np.exp(x))) for x in drift]
    headcount = pd.DataFrame(
        {
            "site_id": site_id,
            "month": [m.isoformat() for m in months[-22:]],
            "headcount": heads[-22:],
        },
        columns=list(HEADCOUNT_COLUMNS),
    )

    surveys: list[dict[str, object]] = []
    csat = 8.1 + _ar1(rng, len(months), phi=0.4, sd=0.15)
    csat_responses = rng.poisson(90, len(months))
    engage_noise = rng.normal(0.0, 1.5, len(months))
    engage_rate = rng.uniform(0.6, 0.85, len(months))
    for i, month in enumerate(months):
        if i < 2:
            continue
        day = month + timedelta(days=24)
        if day > cal.as_of:
            continue
        surveys.append(
            {
                "site_id": site_id,
                "date": day.isoformat(),
                "instrument": "customer_satisfaction",
                "score": round(float(csat[i]), 2),
                "responses": int(csat_responses[i]),
            }
        )
        if month.month % 3 == 0:  # engagement pulse survey at the end of each quarter
            surveys.append(
                {
                    "site_id": site_id,
                    "date": day.isoformat(),
                    "instrument": "engagement",
                    "score": round(engagement + 0.15 * i + float(engage_noise[i]), 1),
                    "responses": int(heads[i] * engage_rate[i]),
                }
            )
    return {
        "suggestions": suggestions,
        "headcount": headcount,
        "surveys": pd.DataFrame(surveys, columns=list(SURVEY_COLUMNS)),
    }


# --- writing -------------------------------------------------------------------------------------


def _defects(cal: _Calendar) -> pd.DataFrame:
    """The defects table: each category's count per month over the 21 months before as_of's
    month, from its own generator (seed 2026), so no other demo stream changes."""
    rng = np.random.default_rng(2026)
    rows = []
    for site_id, categories in DEMO_DEFECTS.items():
        metric = "atelier_defects_per_unit" if site_id == "atelier-florence" else ""
        for k in range(-MONTHS_OF_INCIDENTS, 0):
            for category, mean in categories.items():
                count = int(rng.poisson(mean))
                if count:
                    rows.append((site_id, cal.month(k).isoformat(), category, count, metric))
    return pd.DataFrame(rows, columns=list(DEFECT_COLUMNS))


def _annotations(sites: list[_Site]) -> pd.DataFrame:
    """Assignable-cause notes: fab-dresden's worst downtime week had a grid power outage (left
    out of the limits); a note only on atelier-florence's lead time."""
    rows = []
    by_id = {s.site_id: s for s in sites}
    downtime = pd.DataFrame(
        [o[1:3] for o in by_id["fab-dresden"].observations if o[0] == "fab_eq_downtime"],
        columns=["timestamp", "value"],
    )
    day = pd.to_datetime(downtime["timestamp"])
    weekly = downtime.groupby(day.dt.to_period("W-SUN").dt.start_time)["value"].sum()
    rows.append(("fab-dresden", "fab_eq_downtime", weekly.idxmax().date().isoformat(),
                 "Grid power outage: the fab ran on emergency power", "true"))  # fmt: skip
    lead = [o for o in by_id["atelier-florence"].observations if o[0] == "atelier_lead_time"]
    rows.append(("atelier-florence", "atelier_lead_time", lead[len(lead) // 3][1][:10],
                 "Tannery supplier changed", "false"))  # fmt: skip
    return pd.DataFrame(rows, columns=list(ANNOTATION_COLUMNS))


def _as_date(value: date | str | None) -> date:
    if value is None:
        return date.today()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


def _number(x: object) -> str:
    """A number as CSV text: blank for missing, no trailing ``.0`` on whole numbers."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    text = repr(float(x))  # type: ignore[arg-type]
    return text[:-2] if text.endswith(".0") else text


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_numeric_dtype(out[column]):
            out[column] = [_number(x) for x in out[column].tolist()]
    out.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _project_yaml(as_of: date, output: str) -> str:
    def q(text: object) -> str:  # a JSON string is a valid double-quoted YAML scalar
        return json.dumps(str(text), ensure_ascii=False)

    lines = [
        DEMO_FIRST_LINE + ", written by pipeline/data/demo.py (`kaizen-reports demo`).",
        f"# The data lead up to as_of {as_of.isoformat()}: run the reports with "
        f"--as-of {as_of.isoformat()}.",
        "# Every address is an example.com placeholder; secrets come from the environment only.",
        "project: Kaizen Reports demo",
        f"output: {q(output)}",
        "lookback: 24 months",
        "tables:",
    ]
    for name in (
        "metrics",
        "observations",
        "events",
        "goals",
        "suggestions",
        "headcount",
        "surveys",
        "defects",
        "annotations",
    ):
        lines.append(f"  {name}: {{path: data/{name}.csv}}")
    lines += [
        "statistics: {rules: we, min_phase_points: 12, sustain_points: 8, alpha: 0.05}",
        "currency: EUR",
        "sites:",
    ]
    for spec in DEMO_SITES:
        stakeholders = ", ".join(q(s) for s in spec["stakeholders"])  # type: ignore[attr-defined]
        lines += [
            f"  - id: {spec['id']}",
            f"    name: {q(spec['name'])}",
            f"    timezone: {spec['timezone']}",
            f"    stakeholders: [{stakeholders}]",
        ]
    lines += [
        "email:",
        '  from: "Kaizen Reports <kaizen@example.com>"',
        "  error_recipients: [analytics@example.com]",
        "  max_attachment_mb: 10",
        "  smtp: {host: smtp.example.com, port: 587, security: starttls, username: kaizen-demo}",
    ]
    return "\n".join(lines) + "\n"
