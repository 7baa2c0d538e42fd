"""Goal progress, NHS assurance, sustainment and the outcome of each improvement over time.

Pure functions on plain numbers (centres, limits, dates) and on one metric's aggregated series;
the statistics themselves come from :mod:`pipeline.stats.impact` (Welch) and the caller's control chart
(limits and concern signals), so this module never fits anything on its own.

References
----------
NHS England, *Making Data Count* (2019, 2021): assurance icons - a target outside the process
limits on the good side is consistently met, on the bad side consistently failed, between them
hit and miss.
Kaizen Reports PRODUCT.md, "Goals, assurance and sustainment": an improvement still holds when the
latest phase shows no concern signal in its last ``sustain_points`` points and its centre is still
on the improved side of the baseline by at least half the achieved gain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.exceptions import StatisticsError
from pipeline.formatting import finite, fmt_number, fmt_percent_value, fmt_progress, html_tables
from pipeline.stats.impact import ImpactEstimate, estimate_impact
from pipeline.stats.verdicts import EventVerdict, judge_change
from pipeline.vocabulary import AssuranceIcon, Better, GoalStatus, Kind, TargetKind, Verdict

SUSTAIN_POINTS = 8
#: share of the achieved gain that must still be there for an improvement to count as held
RETAINED_SHARE = 0.5


_num = finite


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            out[k] = int(v)
        elif isinstance(v, (float, np.floating)):
            out[k] = _num(v)
        elif isinstance(v, (pd.Timestamp,)):
            out[k] = v.isoformat()
        elif isinstance(v, (list, tuple)):
            out[k] = [str(x) for x in v]
        else:
            out[k] = v if v is None or isinstance(v, (str, int, float)) else str(v)
    return out


class _Verdict:
    """What every verdict here shares: a one-row table, its sentence as the summary, and an
    HTML view of both (each subclass gives ``to_dict`` and ``sentence``)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def sentence(self) -> str:
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])

    def summary(self) -> str:
        return self.sentence()

    def _repr_html_(self) -> str:
        fields = pd.DataFrame(
            [(k, "" if v is None else str(v)) for k, v in self.to_dict().items()],
            columns=["field", "value"],
        )
        return html_tables((self.sentence(), fields))


def _sign(better: str) -> int:
    return -1 if better == Better.LOWER else 1


# --------------------------------------------------------------------------------------------
# goal progress
# --------------------------------------------------------------------------------------------


def target_level(
    baseline: float, target_kind: TargetKind, target_value: float, better: Better = Better.NEUTRAL
) -> float:
    """The level a goal aims at: ``baseline * (1 + target_value)`` for a relative target
    (-0.5 halves the baseline), ``target_value`` itself for an absolute one. For a ``hold``
    target ``target_value`` is the tolerance as a share of the baseline level (0.05 = keep within
    5% of it) and the level returned is the limit on the worse side: ``baseline * (1 + tol)`` when
    lower is better, ``baseline * (1 - tol)`` when higher is better (the upper limit for neutral
    metrics, whose band is symmetric). A relative target needs a baseline above 0: a share of
    a negative level points the wrong way (+50% on a level of -10 would aim at -15)."""
    if target_kind == TargetKind.RELATIVE:
        if not baseline > 0:
            raise StatisticsError(
                "a relative target needs a baseline level above 0, and this one is not: give "
                "the goal an absolute target"
            )
        return float(baseline * (1.0 + target_value))
    if target_kind == TargetKind.ABSOLUTE:
        return float(target_value)
    if target_kind == TargetKind.HOLD:
        tol = abs(float(target_value)) * abs(baseline)
        return float(baseline - tol if better == Better.HIGHER else baseline + tol)
    raise StatisticsError(f"unknown target_kind {target_kind!r}: use relative, absolute or hold")


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalProgress(_Verdict):
    """How far a metric has moved toward its goal, and whether it is on track for the due date.

    ``current`` is the current level: the mean of the last ``sustain_points`` points (pooled for
    attribute charts), not the mean of the whole latest phase, so a gain that is fading shows.
    ``percent_of_target`` = 100 * achieved change / target change, both measured from the
    baseline mean. ``status``:

    - ``achieved``: the current level is at or beyond the target;
    - ``missed``: the due date has passed without reaching it;
    - ``on_track``: the share of the target change achieved is at least the share of the time
      from ``start`` to ``due`` that has elapsed (a straight glide path), and the improvement
      toward it is not fading;
    - ``at_risk``: on that pace, but the verdict on the improvement behind it is ``faded``
      (a fading gain never reads on track);
    - ``off_track``: behind the pace;
    - for ``hold`` targets (keep the metric within a tolerance of its baseline) ``within`` or
      ``outside`` the tolerance instead ("x% of the way" means nothing there).
    """

    baseline: float
    current: float
    target: float
    target_change: float
    achieved_change: float
    percent_of_target: float | None
    elapsed_fraction: float | None
    is_achieved: bool
    is_on_track: bool
    status: GoalStatus
    target_kind: TargetKind = TargetKind.RELATIVE
    is_fading: bool = False

    def sentence(
        self, name: str = "The metric", fmt: Callable[[float | None], str] = fmt_number
    ) -> str:
        """The progress in words; ``fmt`` writes each level (the report passes one that adds the
        metric's unit and writes proportions as percentages, as its tiles do)."""
        if self.target_kind == TargetKind.HOLD:
            where = "within" if self.status == GoalStatus.WITHIN else "outside"
            return (
                f"{name} is {where} its tolerance: now {fmt(self.current)} against the limit "
                f"{fmt(self.target)} around its baseline {fmt(self.baseline)}."
            )
        words = {
            GoalStatus.ACHIEVED: "the goal is achieved",
            GoalStatus.MISSED: "the due date has passed without reaching the goal",
            GoalStatus.ON_TRACK: "on track for the due date",
            GoalStatus.AT_RISK: "at risk: on pace so far, but the gain is fading",
            GoalStatus.OFF_TRACK: "behind the pace needed for the due date",
        }[self.status]
        if self.percent_of_target is None:  # the baseline was the target already
            return (
                f"{name} was at its target {fmt(self.target)} from the baseline on (now "
                f"{fmt(self.current)}): {words}."
            )
        if self.percent_of_target < 0:
            return (
                f"{name} has moved away from its target {fmt(self.target)}: from its baseline "
                f"{fmt(self.baseline)} to {fmt(self.current)} now: {words}."
            )
        pct = fmt_progress(self.percent_of_target)
        return (
            f"{name} has moved {pct} of the way from its baseline {fmt(self.baseline)} to the "
            f"target {fmt(self.target)} (now {fmt(self.current)}): {words}."
        )

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "baseline": self.baseline,
                "current": self.current,
                "target": self.target,
                "target_kind": str(self.target_kind),
                "target_change": self.target_change,
                "achieved_change": self.achieved_change,
                "percent_of_target": self.percent_of_target,
                "elapsed_fraction": self.elapsed_fraction,
                "is_achieved": self.is_achieved,
                "is_on_track": self.is_on_track,
                "is_fading": self.is_fading,
                "status": str(self.status),
            }
        )


def assess_goal_progress(
    *,
    baseline: float,
    current: float,
    target_kind: TargetKind,
    target_value: float,
    start: Any,
    due: Any,
    as_of: Any,
    better: Better = Better.NEUTRAL,
    is_fading: bool = False,
) -> GoalProgress:
    """Progress toward a goal from the baseline mean to the current level (the mean of the last
    ``sustain_points`` points). ``start`` is when work toward the goal began (e.g. the end of the
    baseline window); ``start``, ``due`` and ``as_of`` are dates (anything ``pd.Timestamp``
    reads) or numbers. The improving direction is the sign of the target change. ``is_fading``
    (the verdict on the improvement behind the goal is ``faded``) turns ``on_track`` into
    ``at_risk``. See :class:`GoalProgress` for every status."""
    target = target_level(baseline, target_kind, target_value, better)
    target_change = target - baseline
    achieved = float(current - baseline)

    def num(x: Any) -> float:
        if isinstance(x, (int, float, np.integer, np.floating)):
            return float(x)
        return pd.Timestamp(x).value / 86_400e9

    s, d, a = num(start), num(due), num(as_of)
    elapsed = None if d <= s else min(max((a - s) / (d - s), 0.0), 1.0)
    if target_kind == TargetKind.HOLD:
        tol = abs(target_change)
        if better == Better.LOWER:
            within = current <= target
        elif better == Better.HIGHER:
            within = current >= target
        else:
            within = abs(current - baseline) <= tol
        status = GoalStatus.WITHIN if within else GoalStatus.OUTSIDE
        return GoalProgress(
            baseline=float(baseline), current=float(current), target=target,
            target_change=target_change, achieved_change=achieved, percent_of_target=None,
            elapsed_fraction=elapsed, is_achieved=bool(within), is_on_track=bool(within),
            status=status, target_kind=target_kind, is_fading=is_fading,
        )  # fmt: skip
    if target_change == 0:
        pct = None
        is_achieved = True
    else:
        pct = 100.0 * achieved / target_change
        is_achieved = bool((current - target) * math.copysign(1.0, target_change) >= 0)
    if is_achieved:
        status = GoalStatus.ACHIEVED
    elif a >= d:
        status = GoalStatus.MISSED
    elif pct is not None and elapsed is not None and pct / 100.0 >= elapsed:
        status = GoalStatus.AT_RISK if is_fading else GoalStatus.ON_TRACK
    else:
        status = GoalStatus.OFF_TRACK
    return GoalProgress(
        baseline=float(baseline), current=float(current), target=target,
        target_change=target_change, achieved_change=achieved, percent_of_target=pct,
        elapsed_fraction=elapsed, is_achieved=is_achieved,
        is_on_track=status.is_on_track, status=status, target_kind=target_kind,
        is_fading=is_fading,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# assurance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Assurance(_Verdict):
    """NHS Making Data Count assurance: can the process be relied on to meet the target?"""

    verdict: AssuranceIcon
    lcl: float
    ucl: float
    target: float
    better: str

    def sentence(
        self,
        name: str = "The metric",
        fmt: Callable[[float | None], str] = fmt_number,
        *,
        name_limits: bool = True,
    ) -> str:
        """The verdict in words, naming the target and (``name_limits``) the limits it is judged
        against; ``fmt`` writes each level (the report passes the metric's own: units,
        proportions in %; and leaves the limits unnamed where they vary with the sample size,
        as the phases table does)."""
        target = fmt(self.target)
        limits = "the process limits"
        if name_limits:
            limits += f" ({fmt(self.lcl)} to {fmt(self.ucl)})"
        return {
            AssuranceIcon.CONSISTENTLY_MEETS: f"{name} will consistently meet the target {target}: "
            f"it lies outside {limits} on the good side.",
            AssuranceIcon.CONSISTENTLY_FAILS: f"{name} will consistently fail the target {target} "
            f"unless the process changes: it lies outside {limits} on the wrong side.",
            AssuranceIcon.HIT_AND_MISS: f"{name} will sometimes meet and sometimes miss the target "
            f"{target}: it lies within {limits}.",
            AssuranceIcon.NOT_APPLICABLE: f"{name} has no improving direction, so no assurance verdict.",
        }[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "verdict": self.verdict,
                "lcl": self.lcl,
                "ucl": self.ucl,
                "target": self.target,
                "better": self.better,
            }
        )


def assess_assurance(*, lcl: float, ucl: float, target: float, better: Better) -> Assurance:
    """Assurance from the latest phase's process limits against the target (Making Data Count).

    better = lower: ``ucl <= target`` consistently meets, ``lcl > target`` consistently fails;
    better = higher: ``lcl >= target`` meets, ``ucl < target`` fails; otherwise hit and miss.
    A target exactly on a limit counts as met on the good side (every expected point meets it).
    Neutral metrics get ``not_applicable`` unless the target is between the limits.
    """
    lo, hi = float(min(lcl, ucl)), float(max(lcl, ucl))
    meets, fails, hit_miss = (
        AssuranceIcon.CONSISTENTLY_MEETS,
        AssuranceIcon.CONSISTENTLY_FAILS,
        AssuranceIcon.HIT_AND_MISS,
    )
    if better == Better.LOWER:
        verdict = meets if hi <= target else fails if lo > target else hit_miss
    elif better == Better.HIGHER:
        verdict = meets if lo >= target else fails if hi < target else hit_miss
    else:
        verdict = hit_miss if lo <= target <= hi else AssuranceIcon.NOT_APPLICABLE
    return Assurance(verdict=verdict, lcl=lo, ucl=hi, target=float(target), better=better)


# --------------------------------------------------------------------------------------------
# sustainment
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Sustainment(_Verdict):
    """Does an improvement still hold? (PRODUCT.md: no concern signal in the last
    ``sustain_points`` points of the latest phase, and the latest centre still on the improved side
    of the baseline by at least half the achieved gain.)

    ``status``: ``sustained``, ``not_sustained``, ``no_gain`` (nothing was achieved to sustain) or
    ``too_early`` (the latest phase has fewer than ``sustain_points`` points).
    """

    status: str
    baseline_centre: float
    achieved_centre: float
    latest_centre: float
    achieved_gain: float
    retained_share: float | None
    has_recent_concern: bool
    sustain_points: int
    reasons: tuple[str, ...]

    @property
    def is_sustained(self) -> bool:
        return self.status == "sustained"

    def sentence(self, name: str = "The improvement") -> str:
        if self.status == "sustained":
            return f"{name} is holding: " + "; ".join(self.reasons) + "."
        if self.status == "too_early":
            return f"{name}: too early to say whether it holds ({'; '.join(self.reasons)})."
        if self.status == "no_gain":
            return f"{name}: there is no gain to sustain ({'; '.join(self.reasons)})."
        return f"{name} is not holding: " + "; ".join(self.reasons) + "."

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "status": self.status,
                "is_sustained": self.is_sustained,
                "baseline_centre": self.baseline_centre,
                "achieved_centre": self.achieved_centre,
                "latest_centre": self.latest_centre,
                "achieved_gain": self.achieved_gain,
                "retained_share": self.retained_share,
                "has_recent_concern": self.has_recent_concern,
                "sustain_points": self.sustain_points,
                "reasons": list(self.reasons),
            }
        )


def assess_sustainment(
    *,
    baseline_centre: float,
    achieved_centre: float,
    latest_centre: float,
    concern: Sequence[bool] | np.ndarray,
    better: Better,
    sustain_points: int = SUSTAIN_POINTS,
) -> Sustainment:
    """Apply PRODUCT.md's sustainment rule.

    Parameters
    ----------
    baseline_centre, achieved_centre, latest_centre
        Centre of the baseline, of the improved phase right after the change (the gain achieved)
        and of the latest phase (or of its last ``sustain_points`` points).
    concern
        One boolean per point of the latest phase, True where a rule signalled a *concern*; only
        the last ``sustain_points`` are looked at. Fewer points than that -> ``too_early``.
    better
        ``lower`` or ``higher``; for ``neutral`` the direction of the achieved change is used.
    """
    flags = np.asarray(concern, dtype=bool)
    gain_raw = achieved_centre - baseline_centre
    sign = _sign(better) if better != Better.NEUTRAL else (1 if gain_raw >= 0 else -1)
    gain = sign * gain_raw
    kept = sign * (latest_centre - baseline_centre)
    share = kept / gain if gain > 0 else None
    recent = bool(flags[-sustain_points:].any()) if flags.size else False
    reasons: list[str] = []
    if flags.size < sustain_points:
        status = "too_early"
        reasons.append(f"the latest phase has {flags.size} of the {sustain_points} points needed")
    elif gain <= 0:
        status = "no_gain"
        reasons.append("the achieved centre is not on the improved side of the baseline")
    else:
        assert share is not None  # gain > 0 here
        held = kept >= RETAINED_SHARE * gain
        reasons.append(
            f"{fmt_percent_value(share * 100)} of the achieved gain is retained "
            f"({'at least' if held else 'less than'} {fmt_percent_value(RETAINED_SHARE * 100)})"
        )
        reasons.append(
            f"{'a concern signal' if recent else 'no concern signal'} in the last {sustain_points} points"
        )
        status = "sustained" if held and not recent else "not_sustained"
    return Sustainment(
        status=status, baseline_centre=float(baseline_centre),
        achieved_centre=float(achieved_centre), latest_centre=float(latest_centre),
        achieved_gain=float(gain), retained_share=_num(share), has_recent_concern=recent,
        sustain_points=sustain_points, reasons=tuple(reasons),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# outcome of one event over time, and several events in sequence
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventOutcome:
    """What became of one improvement on one metric: its verdict (computed once, by
    :func:`pipeline.stats.verdicts.judge_change`) and the classical before/after figures
    (:func:`pipeline.stats.impact.estimate_impact`) that the statistics panel shows for reference.

    ``outcome`` is the verdict: ``sustained``, ``faded``, ``no_clear_change``, ``worsened``,
    ``too_early`` or, on a metric with no better direction, ``changed``.
    """

    event_id: str
    verdict: EventVerdict
    impact: ImpactEstimate | None = None
    window: EventWindow | None = None

    @property
    def outcome(self) -> Verdict:
        return self.verdict.outcome

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.verdict.reasons

    def sentence(self, name: str = "The change") -> str:
        words = {
            Verdict.SUSTAINED: "worked and the gain is holding",
            Verdict.FADED: "worked at first, but the gain has faded",
            Verdict.NO_CLEAR_CHANGE: "made no clear difference",
            Verdict.WORSENED: "was followed by a change for the worse",
            Verdict.TOO_EARLY: "is too recent to judge",
            Verdict.CHANGED: "was followed by a clear change (the metric has no better direction)",
        }[self.outcome]
        if self.verdict.lacks_baseline:
            words = "cannot be judged: too little data before it"
        provisional = self.verdict.is_provisional and self.outcome != Verdict.TOO_EARLY
        tail = " (provisional: short phases)" if provisional else ""
        return f"{name} {words}{tail}."

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "verdict": self.verdict.to_dict(),
            "impact": self.impact.to_dict() if self.impact else None,
        }
        if self.window is not None:
            out["window"] = self.window.to_dict()
        return out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "event_id": self.event_id,
                    "outcome": self.outcome,
                    "reasons": "; ".join(self.reasons),
                }
            ]
        )

    def summary(self) -> str:
        return f"{self.event_id}: {self.outcome} - " + "; ".join(self.reasons)

    def _repr_html_(self) -> str:
        reasons = pd.DataFrame({"reason": list(self.reasons)})
        return html_tables((self.sentence(self.event_id), reasons))


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDates:
    """One improvement's dates: work starts at ``start`` (transition), the change is effective at
    ``effective`` (the change point)."""

    event_id: str
    start: Any
    effective: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class EventWindow:
    """Arguments for :func:`pipeline.stats.impact.estimate_impact` for one event in a sequence."""

    event_id: str
    start: Any
    transition_start: Any
    change_at: Any
    end: Any

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "event_id": self.event_id,
                "start": self.start,
                "transition_start": self.transition_start,
                "change_at": self.change_at,
                "end": self.end,
            }
        )


def sequence_windows(
    times: Sequence[Any] | pd.Series,
    events: Sequence[EventDates],
    *,
    baseline_start: Any = None,
    as_of: Any = None,
) -> list[EventWindow]:
    """Before/after windows for several events on one metric, in order of their change points.

    Event i's before window runs from the previous event's change point (for the first event:
    ``baseline_start`` or the first time) up to its own ``start`` (the transition
    ``start..effective`` is left out); its after window runs from ``effective`` to the last time
    before the next event's ``start`` (so the next transition is not counted as "after"), or to
    ``as_of`` (inclusive) / the last time for the last event.
    """
    ts = pd.Series(list(times))
    if ts.empty:
        return []
    dated = pd.api.types.is_datetime64_any_dtype(ts) or not pd.api.types.is_numeric_dtype(ts)
    conv = (
        (lambda v: None if v is None else pd.Timestamp(v))
        if dated
        else (lambda v: None if v is None else float(v))
    )
    if dated:
        ts = pd.to_datetime(ts)
    ordered = sorted(events, key=lambda e: conv(e.effective))  # type: ignore[arg-type, return-value]
    out: list[EventWindow] = []
    prev_change = conv(baseline_start) if baseline_start is not None else ts.min()
    last = ts.max() if as_of is None else min(ts.max(), conv(as_of))
    for i, ev in enumerate(ordered):
        start_i, eff_i = conv(ev.start) or conv(ev.effective), conv(ev.effective)
        if i + 1 < len(ordered):
            nxt = ordered[i + 1]
            nxt_start = conv(nxt.start) or conv(nxt.effective)
            inside = ts[ts < nxt_start]
            end = inside.max() if not inside.empty else eff_i
        else:
            end = last
        out.append(
            EventWindow(
                event_id=ev.event_id,
                start=prev_change,
                transition_start=start_i,
                change_at=eff_i,
                end=end,
            )
        )
        prev_change = eff_i
    return out


def evaluate_events(
    frame: pd.DataFrame,
    events: Sequence[EventDates],
    *,
    kind: Kind = Kind.CONTINUOUS,
    better: Better = Better.NEUTRAL,
    alpha: float = 0.05,
    sustain_points: int = SUSTAIN_POINTS,
    min_phase_points: int = 12,
    baseline_start: Any = None,
    as_of: Any = None,
    event_order: bool = False,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
) -> list[EventOutcome]:
    """Verdict and classical impact of every event on one metric, handled in sequence.

    ``frame`` is what :func:`pipeline.stats.impact.estimate_impact` takes (``time``, ``value``,
    optional ``n``), ideally one row per period of the full grid with missing values as gaps.
    An event whose windows are too short is ``too_early`` with the reason; it never raises.
    ``event_order`` (g and t charts) numbers time by event, in the verdict and in the
    segmented regression alike, and ``lower_bound`` /
    ``upper_bound`` hold a trend's counterfactual within the metric's possible values, in the
    verdict and in the segmented regression alike; see :func:`judge_change`.
    """
    out: list[EventOutcome] = []
    windows = sequence_windows(frame["time"], events, baseline_start=baseline_start, as_of=as_of)
    observed = frame[pd.to_numeric(frame["value"], errors="coerce").notna()]
    for w in windows:
        verdict = judge_change(
            frame, change_at=w.change_at, transition_start=w.transition_start, start=w.start,
            end=w.end, kind=kind, better=better, alpha=alpha, min_phase_points=min_phase_points,
            sustain_points=sustain_points, event_order=event_order, lower_bound=lower_bound,
            upper_bound=upper_bound,
        )  # fmt: skip
        impact = None
        try:
            impact = estimate_impact(
                observed, change_at=w.change_at, transition_start=w.transition_start,
                start=w.start, end=w.end, kind=kind, alpha=alpha, better=better,
                min_baseline_points=min_phase_points, lower_bound=lower_bound,
                upper_bound=upper_bound, event_order=event_order,
            )  # fmt: skip
        except StatisticsError:
            impact = None
        out.append(EventOutcome(event_id=w.event_id, verdict=verdict, impact=impact, window=w))
    return out
