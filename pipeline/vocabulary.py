"""The words every layer shares, defined once: chart types, verdicts, statuses, severities, icons.

Each vocabulary is a :class:`enum.StrEnum`, so a member *is* its string (``Verdict.FADED ==
"faded"``, ``json.dumps`` writes ``"faded"``) and values read back from results.json or a table
compare equal to the members without conversion. Properties of chart types (which need
subgroups, which are attribute charts, which use ``n``) are sets here, so ``stats``, ``report``
and the contracts can no longer mean different things by the same name.

This module sits at the foundation of the layers: it imports only :mod:`pipeline.exceptions`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from pipeline.exceptions import KaizenError

__all__ = [
    "ATTRIBUTE_CHARTS",
    "COMPANION_CHARTS",
    "COUNT_CHARTS",
    "DISPERSION_CHARTS",
    "METRIC_CHARTS",
    "PERCENT_CHARTS",
    "PROPORTION_CHARTS",
    "RATE_CHARTS",
    "READING_CHARTS",
    "SHIFT_CHARTS",
    "SIZED_CHARTS",
    "SUBGROUP_CHARTS",
    "Aggregate",
    "AssuranceIcon",
    "Better",
    "ChartType",
    "EventKind",
    "EventStatus",
    "GoalStatus",
    "Kind",
    "Period",
    "RunStatus",
    "Severity",
    "SignalLabel",
    "SuggestionStatus",
    "TargetKind",
    "VariationIcon",
    "Verdict",
    "WHOLE_CHARTS",
    "parse",
]


class ChartType(StrEnum):
    """Every chart the statistics layer draws (``stats.spc.control_chart``'s ``chart``)."""

    XMR = "xmr"
    MR = "mr"
    RUN = "run"
    XBAR_R = "xbar_r"
    R = "r"
    XBAR_S = "xbar_s"
    S = "s"
    P = "p"
    NP = "np"
    C = "c"
    U = "u"
    P_PRIME = "p_prime"
    U_PRIME = "u_prime"
    G = "g"
    T = "t"

    @property
    def display_name(self) -> str:
        """The chart's name in a sentence ("X-bar and R chart")."""
        return _CHART_TITLES[self]

    @property
    def label(self) -> str:
        """The chart's name as a chart title or axis label ("X-bar (R)")."""
        return _CHART_LABELS[self]

    @property
    def needs_subgroups(self) -> bool:
        return self in SUBGROUP_CHARTS

    @property
    def is_attribute(self) -> bool:
        return self in ATTRIBUTE_CHARTS

    @property
    def uses_n(self) -> bool:
        return self in SIZED_CHARTS


#: Charts computed from readings in subgroups (the x-bar charts and their R / S companions).
SUBGROUP_CHARTS = frozenset({ChartType.XBAR_R, ChartType.R, ChartType.XBAR_S, ChartType.S})
#: Attribute charts: counts of defectives or defects, binomial or Poisson limits.
ATTRIBUTE_CHARTS = frozenset(
    {ChartType.P, ChartType.NP, ChartType.C, ChartType.U, ChartType.P_PRIME, ChartType.U_PRIME}
)
#: Charts that need ``n`` (inspected units or opportunities) per point.
SIZED_CHARTS = frozenset(
    {ChartType.P, ChartType.NP, ChartType.U, ChartType.P_PRIME, ChartType.U_PRIME}
)
#: Charts of defectives (binomial): before/after compares proportions.
PROPORTION_CHARTS = frozenset({ChartType.P, ChartType.NP, ChartType.P_PRIME})
#: Charts of defects (Poisson): before/after compares rates.
COUNT_CHARTS = frozenset({ChartType.C, ChartType.U, ChartType.U_PRIME})
#: Charts whose plotted value is the count divided by ``n``.
RATE_CHARTS = frozenset({ChartType.P, ChartType.P_PRIME, ChartType.U, ChartType.U_PRIME})
#: Charts whose plotted value is a proportion, shown to people as a percentage.
PERCENT_CHARTS = frozenset({ChartType.P, ChartType.P_PRIME})
#: Charts whose plotted value is a whole count (defects, defectives, units between events): a
#: point reads "4 incidents", never "4.00"; their means keep the house precision ("1.50").
WHOLE_CHARTS = frozenset({ChartType.C, ChartType.NP, ChartType.G})
#: Charts of a spread (moving range, range, SD): a lower value is always the better one.
DISPERSION_CHARTS = frozenset({ChartType.MR, ChartType.R, ChartType.S})
#: Charts a metric may name in the metrics table (the companions mr, r and s are drawn with them).
METRIC_CHARTS = frozenset(ChartType) - DISPERSION_CHARTS
#: The dispersion chart shown with each chart of individuals or subgroup means: the moving
#: ranges of an XmR chart, the ranges or standard deviations of an X-bar chart (Montgomery 6.2).
COMPANION_CHARTS = {ChartType.XMR: ChartType.MR, ChartType.XBAR_R: ChartType.R,
                    ChartType.XBAR_S: ChartType.S}  # fmt: skip
#: Charts that plot the readings themselves (or their means), so a metric's lower_bound and
#: upper_bound apply to the points; attribute and rare-event charts are bounded by their model.
READING_CHARTS = frozenset({ChartType.XMR, ChartType.RUN, ChartType.XBAR_R, ChartType.XBAR_S})
#: Small-shift charts of ``kaizen-reports chart`` only (``stats.smallshift``, as qcc): not
#: ChartType members, since no metric is drawn with them in a report.
SHIFT_CHARTS = ("ewma", "cusum")

_CHART_TITLES = {
    ChartType.XMR: "XmR (individuals)",
    ChartType.MR: "moving range",
    ChartType.RUN: "run (median)",
    ChartType.XBAR_R: "X-bar and R",
    ChartType.R: "range (R)",
    ChartType.XBAR_S: "X-bar and S",
    ChartType.S: "standard deviation (S)",
    ChartType.P: "p (proportion)",
    ChartType.NP: "np (number defective)",
    ChartType.C: "c (count)",
    ChartType.U: "u (rate per unit)",
    ChartType.P_PRIME: "Laney p′",
    ChartType.U_PRIME: "Laney u′",
    ChartType.G: "g (units or days between events)",
    ChartType.T: "t (time between events)",
}


_CHART_LABELS = {
    ChartType.XMR: "Individuals (XmR)",
    ChartType.MR: "Moving range",
    ChartType.RUN: "Run",
    ChartType.XBAR_R: "X-bar (R)",
    ChartType.R: "Range (R)",
    ChartType.XBAR_S: "X-bar (S)",
    ChartType.S: "Standard deviation (S)",
    ChartType.P: "Proportion (p)",
    ChartType.NP: "Number defective (np)",
    ChartType.C: "Count (c)",
    ChartType.U: "Rate (u)",
    ChartType.P_PRIME: "Laney p′",
    ChartType.U_PRIME: "Laney u′",
    ChartType.G: "Between events (g)",
    ChartType.T: "Time between events (t)",
}


class Kind(StrEnum):
    """How a metric's before/after impact is computed: means, proportions or rates."""

    CONTINUOUS = "continuous"
    PROPORTION = "proportion"
    COUNT = "count"

    @classmethod
    def of_chart(cls, chart: str) -> Kind:
        if chart in PROPORTION_CHARTS:
            return cls.PROPORTION
        if chart in COUNT_CHARTS:
            return cls.COUNT
        return cls.CONTINUOUS


class Better(StrEnum):
    """Which direction of a metric is an improvement."""

    LOWER = "lower"
    HIGHER = "higher"
    NEUTRAL = "neutral"


class Period(StrEnum):
    """How raw rows are grouped into one plotted point."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Aggregate(StrEnum):
    """How the rows of one period combine into the plotted value (individuals and run charts)."""

    MEAN = "mean"
    MEDIAN = "median"
    SUM = "sum"


class EventKind(StrEnum):
    """An improvement event's ``kind`` (events table)."""

    KAIZEN_EVENT = "kaizen_event"
    LEAN_PROJECT = "lean_project"
    OTHER = "other"

    @property
    def label(self) -> str:
        """The kind as a reader sees it ("Kaizen event")."""
        return {"kaizen_event": "Kaizen event", "lean_project": "Lean project"}.get(
            self.value, self.value.capitalize()
        )


class EventStatus(StrEnum):
    """An improvement event's ``status`` (events table)."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The status as a reader sees it ("in progress")."""
        return self.value.replace("_", " ")

    @property
    def starts_phase(self) -> bool:
        """An event in progress or done starts a new phase at its effective date."""
        return self in (EventStatus.DONE, EventStatus.IN_PROGRESS)


class SuggestionStatus(StrEnum):
    """An improvement suggestion's ``status`` (suggestions table), in the order of the funnel."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    IMPLEMENTED = "implemented"
    REJECTED = "rejected"


class Verdict(StrEnum):
    """What became of one improvement event on one metric (results.json
    ``metrics[].events[].outcome``)."""

    SUSTAINED = "sustained"
    FADED = "faded"
    NO_CLEAR_CHANGE = "no_clear_change"
    WORSENED = "worsened"
    TOO_EARLY = "too_early"
    #: a clear change on a metric with no better direction (``better: neutral``): neither an
    #: improvement nor a failure, so never credited
    CHANGED = "changed"

    @property
    def is_credited(self) -> bool:
        """The event is credited with an improvement (it worked, at least at first)."""
        return self in (Verdict.SUSTAINED, Verdict.FADED)


class GoalStatus(StrEnum):
    """Where a goal stands (results.json ``metrics[].goals[].status``)."""

    ACHIEVED = "achieved"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    MISSED = "missed"
    WITHIN = "within"
    OUTSIDE = "outside"
    NOT_ENOUGH_DATA = "not_enough_data"

    @property
    def is_on_track(self) -> bool:
        return self in (GoalStatus.ACHIEVED, GoalStatus.ON_TRACK, GoalStatus.WITHIN)


class TargetKind(StrEnum):
    """How a goal's ``target_value`` is read."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"
    HOLD = "hold"


class RunStatus(StrEnum):
    """How a site's run went (whether the report was produced, not how the site performs)."""

    OK = "ok"
    WARNINGS = "warnings"
    FAILED = "failed"


class Severity(StrEnum):
    """A data-contract expectation's ``meta.severity``."""

    CRITICAL = "critical"
    WARNING = "warning"


class SignalLabel(StrEnum):
    """The direction of a rule signal relative to the metric's ``better``."""

    IMPROVEMENT = "improvement"
    CONCERN = "concern"
    NEUTRAL = "neutral"


class VariationIcon(StrEnum):
    """NHS Making Data Count variation icon of a metric's latest points."""

    COMMON_CAUSE = "common_cause"
    SPECIAL_CAUSE_IMPROVEMENT = "special_cause_improvement"
    SPECIAL_CAUSE_CONCERN = "special_cause_concern"
    SPECIAL_CAUSE_NEUTRAL = "special_cause_neutral"
    NOT_ENOUGH_DATA = "not_enough_data"


class AssuranceIcon(StrEnum):
    """NHS Making Data Count assurance icon: the process limits against the target."""

    CONSISTENTLY_MEETS = "consistently_meets"
    HIT_AND_MISS = "hit_and_miss"
    CONSISTENTLY_FAILS = "consistently_fails"
    NOT_APPLICABLE = "not_applicable"
    NO_TARGET = "no_target"


E = TypeVar("E", bound=StrEnum)


def parse(vocabulary: type[E], value: object, *, what: str = "") -> E:
    """``value`` as a member of ``vocabulary``, or a :class:`KaizenError` listing the allowed
    values (for input that has not been through a contract, e.g. a hand-built table)."""
    try:
        return vocabulary(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in vocabulary)
        label = what or vocabulary.__name__
        raise KaizenError(f"{label} {value!r} is not one of: {allowed}") from None
