"""Control charts drawn from a :class:`~pipeline.stats.spc.ControlChart`: full chart and portfolio sparkline.

Colours follow NHS "Making Data Count": special-cause improvement blue, concern orange, neutral
purple, common cause grey. Limits are drawn as steps where they vary with n; each phase has its own
centre line and limits, and a phase break is labelled with the phase's label (the event name).
A provisional phase (fewer points than ``min_phase_points``) is drawn dashed and lighter and
labelled "provisional (n points)"; on a chart frozen at a provisional baseline every phase's
(baseline) limits are drawn so, labelled once at the baseline. A signal colours the whole pattern that raised it — every point
of the run or trend, the points beyond the zone of a 2-of-3 or 4-of-5 — as Making Data Count does;
the chart object (and results.json) keeps the exact points each rule flagged. Each point carries a
``<title>`` (date, value, signals) that a browser shows on hover.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.text import Annotation

from pipeline.formatting import (
    COMPACT_FROM,
    compact_scale,
    fmt_compact,
    fmt_date,
    fmt_number,
    fmt_percent,
    percent_unit,
    shorten,
)
from pipeline.report.plots.style import (
    BACKGROUND,
    CENTRE,
    COMMON,
    CONCERN,
    IMPROVEMENT,
    INK,
    LIMIT,
    NEUTRAL,
    POINTS_GID,
    SERIES_MARGINS,
    ZONE,
    ChartImage,
    date_axis,
    fit_margins,
    new_figure,
    number_axis,
    percent_axis,
    set_fitted_title,
    spread_apart,
)
from pipeline.report.signals import signal_name
from pipeline.stats.spc import ControlChart
from pipeline.vocabulary import (
    ATTRIBUTE_CHARTS,
    DISPERSION_CHARTS,
    PERCENT_CHARTS,
    WHOLE_CHARTS,
    ChartType,
    SignalLabel,
    VariationIcon,
)

__all__ = [
    "LimitLabel",
    "describe_chart",
    "pattern_labels",
    "pattern_members",
    "plot_control_chart",
    "plot_sparkline",
    "signal_name",
]

CHART_NAMES: dict[str, str] = {c: c.label for c in ChartType}
_LABEL_COLOUR: dict[str, str] = {
    SignalLabel.IMPROVEMENT: IMPROVEMENT,
    SignalLabel.CONCERN: CONCERN,
    SignalLabel.NEUTRAL: NEUTRAL,
}
_VERDICT_COLOUR = {
    VariationIcon.SPECIAL_CAUSE_IMPROVEMENT: IMPROVEMENT,
    VariationIcon.SPECIAL_CAUSE_CONCERN: CONCERN,
    VariationIcon.SPECIAL_CAUSE_NEUTRAL: NEUTRAL,
    VariationIcon.COMMON_CAUSE: COMMON,
}


def _x_axis(chart: ControlChart) -> tuple[np.ndarray, bool]:
    """Dates if the chart's times are dates, else the point index."""
    t = chart.time
    if t.shape[0] and all(v is not None for v in t):
        sample = t[0]
        if isinstance(sample, pd.Timestamp | datetime.date | np.datetime64 | str):
            try:
                dt = pd.to_datetime(pd.Series(t), errors="raise")
                if dt.notna().all():
                    return dt.to_numpy(dtype="datetime64[ns]"), True
            except (ValueError, TypeError):
                pass
        if isinstance(sample, int | float | np.number):
            return np.asarray(t, dtype=float), False
    return np.arange(len(chart), dtype=float), False


#: Charts whose statistic cannot be negative (counts, rates, proportions, dispersions).
NON_NEGATIVE_CHARTS = ATTRIBUTE_CHARTS | DISPERSION_CHARTS
_RUN_RULES = {"we4": 8, "nelson2": 9, "nhs_shift": 7, "anhoej_run": 0}
_TREND_RULES = {"nelson3": 6, "nhs_trend": 7}
_WINDOW_RULES = {"nelson4": 14, "nelson7": 15, "nelson8": 8}
_K_OF_M_RULES = {"we2": (3, 2), "nelson5": (3, 2), "nhs_two_of_three": (3, 2),
                 "we3": (5, 1), "nelson6": (5, 1)}  # fmt: skip


class PhaseLabel(Annotation):
    """A phase-break label that stays inside its room at whatever size the chart is drawn (the
    page's width, a phone's narrow variant, the email's, print).

    Its room is the phase it names, from its break line to the next one (or, left of a late
    break, the phase before it), inside the axes, and clear of the phase labels drawn before it.
    Where the label goes is worked out at draw time, when the text's real extent is known: one
    that would run out of its room (into the next label, the UCL/CL/LCL labels of the right
    margin or the y label on the left) is shortened at a word boundary, and if even a short one
    does not fit it goes to the other side of its line. The label's own text and side are
    restored after each draw, so every size starts from the full label.
    """

    def __init__(
        self, name: str, *args: Any, keep: str = "", breaks: Sequence[Any] = (),
        before: Sequence[PhaseLabel] = (), **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(f"{name}: {keep}" if name and keep else name or keep, *args, **kwargs)
        #: the phase's name, and what a shortened label keeps whole ("provisional (6 points)")
        self.name, self.keep = name, keep
        #: x (data) of the previous break line, this label's line and the next one (None: none)
        self.breaks = tuple(breaks) or (None, self.xy[0], None)
        self.before = list(before)
        #: which phase (0-based) the label names
        self.phase_index = 0
        #: (renderer key, extent) of the latest drawing, for the labels after it
        self._drawn: tuple[tuple[int, Any, Any], Any] | None = None

    def _limits(self, side: str, renderer: Any, taken: Sequence[Any]) -> tuple[float, float, float]:
        """(left, right, anchor) in display x: the room the label may take on ``side`` (its
        alignment: "right" ends it at its line, so it lies left of the line), less the labels
        already placed; left > right when an earlier label covers the line itself."""
        axes = self.axes
        assert axes is not None
        box = axes.get_window_extent(renderer)

        def px(x: Any, default: float) -> float:
            if x is None:
                return default
            return float(axes.transData.transform((axes.convert_xunits(x), 0))[0])

        prev, line, nxt = self.breaks
        anchor = px(line, box.x0)
        if side == "right":
            lo, hi = max(box.x0, px(prev, box.x0)), anchor
        else:
            lo, hi = anchor, min(box.x1, px(nxt, box.x1))
        for t in taken:
            if t.x1 <= anchor + 1:
                lo = max(lo, t.x1 + 2)
            elif t.x0 >= anchor - 1:
                hi = min(hi, t.x0 - 2)
            else:
                return anchor, anchor - 1, anchor
        return lo, hi, anchor

    def fit(self, renderer: Any, taken: Sequence[Any] | None = None) -> Any:
        """Shorten or move the label until it fits (it is left so); returns its extent, or None
        when not even a short label fits (it is then left empty). ``taken``: the extents of the
        labels before it (worked out here when not given)."""
        if taken is None:
            taken = []
            # each label before this one was made with the ones before it: fit them in order
            for i, p in enumerate(self.before):
                taken.append(p.fitted_extent(renderer, [t for t in taken[:i] if t is not None]))
        # from the whole label, whatever an earlier fitting (the email's) left in place
        text = f"{self.name}: {self.keep}" if self.name and self.keep else self.name or self.keep
        ha = "right" if self.get_horizontalalignment() == "right" else "left"
        dx, dy = float(self.xyann[0]), self.xyann[1]
        for side, off in ((ha, dx), ("left" if ha == "right" else "right", -dx)):
            lo, hi, _ = self._limits(side, renderer, [t for t in taken if t is not None])
            if hi - lo < 12:
                continue
            self.set_horizontalalignment("right" if side == "right" else "left")
            self.xyann = (off, dy)
            self.set_text(text)
            ext = self.get_window_extent(renderer)
            if ext.x0 >= lo - 1 and ext.x1 <= hi + 1:
                return ext
            # the characters that fit, from the full label's width; then down until one fits
            n = min(len(text) - 1, int(len(text) * (hi - lo - abs(off)) / max(ext.width, 1.0)))
            while n >= 10:
                self.set_text(self.shortened(n))
                ext = self.get_window_extent(renderer)
                if ext.x0 >= lo - 1 and ext.x1 <= hi + 1:
                    return ext
                n -= 2
        # nothing fits (a chart too narrow for its phases): no label rather than one over
        # another; the phase's own line style and the text alternative still say it
        self.set_text("")
        return None

    def shortened(self, n: int) -> str:
        """The label in about ``n`` characters: the name shortened at a word boundary before
        what it keeps ("Daily safety…: provisional (11 points)"), then the name alone (the
        phase's dashed lines and the phase table still say it is provisional)."""
        room = n - len(self.keep) - 2
        if self.name and self.keep and room >= 8:
            return f"{shorten(self.name, room)}: {self.keep}"
        return shorten(self.name or self.keep, n)

    def _key(self, renderer: Any) -> tuple[int, Any, Any]:
        return (id(renderer), getattr(renderer, "width", None), getattr(renderer, "height", None))

    def fitted_extent(self, renderer: Any, taken: Sequence[Any] | None = None) -> Any:
        """The extent the label has when it is drawn, the label itself left unchanged (the
        one it had in this drawing, when it has been drawn already)."""
        if self._drawn is not None and self._drawn[0] == self._key(renderer):
            return self._drawn[1]
        saved = (self.get_text(), self.get_horizontalalignment(), self.xyann)
        try:
            return self.fit(renderer, taken)
        finally:
            self._restore(saved)

    def _restore(self, saved: tuple[str, str, Any]) -> None:
        text, ha, xyann = saved
        self.set_text(text)
        self.set_horizontalalignment("right" if ha == "right" else "left")
        self.xyann = xyann

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or self.axes is None:
            super().draw(renderer)
            return
        saved = (self.get_text(), self.get_horizontalalignment(), self.xyann)
        try:
            ext = self.fit(renderer)
            super().draw(renderer)
            self._drawn = (self._key(renderer), ext)
        finally:
            self._restore(saved)


class LimitLabel(Annotation):
    """A UCL/CL/LCL label in the right margin that stays clear of the others at whatever size
    the chart is drawn.

    On a flat metric (or wherever the limits lie close together on the page) the three labels
    were drawn over one another. At draw time, when the labels' real heights and places are
    known, the group is spread to a line's height apart (:func:`spread_apart`: each moved as
    little as it can be, the group kept inside the figure); the label's own offset is restored
    after each draw, so every size starts from the limits' own places.
    """

    def __init__(self, text: str, *args: Any, group: list[LimitLabel], **kwargs: Any) -> None:
        super().__init__(text, *args, **kwargs)
        #: the chart's limit labels, this one among them, in the order UCL, CL, LCL
        self.group = group
        group.append(self)

    def nudge(self, renderer: Any) -> float:
        """How far (points, up) this label moves off its limit to stay clear of the others."""
        fig = self.get_figure(root=True)
        assert fig is not None and self.axes is not None
        shown = [lab for lab in self.group if lab.get_visible() and lab.get_text()]
        if self not in shown:
            return 0.0
        # where each label's centre is wanted (display y), the top one first; ties keep the
        # group's order (UCL above CL above LCL)
        data = self.axes.transData  # the group shares one axes
        want = {id(lab): float(data.transform((0, lab.xy[1]))[1]) for lab in shown}
        order = sorted(shown, key=lambda lab: -want[id(lab)])
        height = max(lab.get_window_extent(renderer).height for lab in shown)
        box = fig.bbox
        placed = spread_apart(
            [want[id(lab)] for lab in order],
            gap=height * 1.1,
            lo=box.y0 + height / 2,
            hi=box.y1 - height / 2,
        )
        at = placed[order.index(self)]
        return (at - want[id(self)]) / renderer.points_to_pixels(1.0)

    def placed_extent(self, renderer: Any) -> Any:
        """The extent the label has when drawn (nudged), the label itself left unchanged."""
        saved = self.xyann
        try:
            self.xyann = (saved[0], saved[1] + self.nudge(renderer))
            return self.get_window_extent(renderer)
        finally:
            self.xyann = saved

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or self.axes is None:
            super().draw(renderer)
            return
        saved = self.xyann
        try:
            self.xyann = (saved[0], saved[1] + self.nudge(renderer))
            super().draw(renderer)
        finally:
            self.xyann = saved


def pattern_labels(chart: ControlChart) -> np.ndarray:
    """Per point, the strongest label of any signal pattern it belongs to ('' for none).

    A rule flags the point that completes its pattern and every point that continues it; the
    pattern itself starts earlier: the whole run on one side of the centre (every point back to
    where the run began), the whole trend, the window of an alternating or a within-1-sigma run,
    and, for 2 of 3 / 4 of 5, the points of the window beyond the zone on the signal's side.
    """
    return _patterns(chart)[0]


def pattern_members(chart: ControlChart) -> dict[int, list[Any]]:
    """Per point, the signals whose pattern it is part of without being flagged itself (the
    earlier points of a run, a trend, a window): the hover text names them, as the colour
    shows them."""
    return _patterns(chart)[1]


def _patterns(chart: ControlChart) -> tuple[np.ndarray, dict[int, list[Any]]]:
    n = len(chart)
    members: dict[int, list[Any]] = {}
    rank: dict[str, int] = {
        SignalLabel.NEUTRAL: 1,
        SignalLabel.IMPROVEMENT: 2,
        SignalLabel.CONCERN: 3,
    }
    best = np.zeros(n, dtype=int)
    out = np.full(n, "", dtype=object)
    present = np.nonzero(~chart.is_missing)[0]
    pos = {int(i): k for k, i in enumerate(present)}
    v, c = chart.value, chart.centre
    phase = chart.phase

    flagged = {(int(sig.index), sig.rule) for sig in chart.signals}

    def mark(i: int, label: str, sig: Any = None) -> None:
        r = rank.get(label, 0)
        if r > best[i]:
            best[i], out[i] = r, label
        if sig is not None and (i, sig.rule) not in flagged:
            seen = members.setdefault(i, [])
            if all(x.rule != sig.rule for x in seen):
                seen.append(sig)

    def same_segment(i: int, j: int) -> bool:
        return chart.frozen or phase[i] == phase[j]

    for sig in chart.signals:
        i = int(sig.index)
        mark(i, sig.label)
        direction = int(chart.directions.get(sig.rule, np.zeros(n, dtype=np.int8))[i])
        k = pos.get(i)
        if k is None:
            continue
        # the earlier points of its segment, nearest first, read only as far as the rule looks
        back = (int(j) for j in present[:k][::-1] if same_segment(int(j), i))
        if sig.rule in _RUN_RULES:
            for j in back:
                if np.sign(v[j] - c[j]) != np.sign(v[i] - c[i]):
                    break
                mark(j, sig.label, sig)
        elif sig.rule in _TREND_RULES:
            prev = i
            for j in back:
                step = v[prev] - v[j]
                if not (step > 0 if direction > 0 else step < 0):
                    break
                mark(j, sig.label, sig)
                prev = j
        elif sig.rule in _WINDOW_RULES:
            for j in islice(back, _WINDOW_RULES[sig.rule] - 1):
                mark(j, sig.label, sig)
        elif sig.rule in _K_OF_M_RULES:
            m, z = _K_OF_M_RULES[sig.rule]
            lo, hi = chart.zone(z)
            for j in islice(back, m - 1):
                if (direction > 0 and v[j] > hi[j]) or (direction < 0 and v[j] < lo[j]):
                    mark(j, sig.label, sig)
    return out, members


def _fmt(
    v: float | None,
    *,
    percent: bool = False,
    whole: bool = False,
    scale: tuple[float, str] = (1.0, ""),
) -> str:
    """A chart value as the report's tables show it: percent for proportions, 3 significant
    figures below 100, one minus sign; on a chart of counts (``whole``) a whole number without
    decimals, as its phase table writes it ("CL 18", not "CL 18.0" beside "18 days").

    ``scale`` is the chart's own (:func:`_chart_scale`): on a chart of large values a large
    value is compact ("UCL 1.10tn", which read "UCL 1,102,850" cut off at the edge), on a chart
    of tiny values every value is in its power of ten ("LCL 2.17×10⁻⁶"); a value near 0 on a
    chart of ordinary values stays as the tables write it ("LCL 0.000", not "−4.00×10⁻⁴")."""
    if v is None or not np.isfinite(v):
        return "n/a"
    if percent:
        return fmt_percent(v, digits=1 if abs(v) < 0.1 else 0)
    if v == 0:
        return "0"
    factor = scale[0]
    if factor < 1:
        return fmt_compact(v, scale=scale)
    if factor > 1 and abs(v) >= COMPACT_FROM:
        return fmt_compact(v, whole=whole)
    return fmt_number(v, whole=whole)


def _chart_scale(chart: ControlChart) -> tuple[float, str]:
    """The compact scale (:func:`~pipeline.formatting.compact_scale`) of a chart's values and
    limits: (1.0, '') for ordinary magnitudes."""
    parts = [np.asarray(a, dtype=float) for a in (chart.value, chart.centre, chart.lcl, chart.ucl)]
    both = np.abs(np.concatenate([a.ravel() for a in parts]))
    both = both[np.isfinite(both)]
    return compact_scale(float(both.max())) if both.size else (1.0, "")


def _value_text(v: float, chart: ControlChart, unit: str) -> str:
    """A point's value as the page's tiles and tables write it ('90.0%', '4 incidents')."""
    if chart.chart in PERCENT_CHARTS and np.isfinite(v):
        return fmt_percent(v, digits=1)
    if chart.chart in WHOLE_CHARTS:  # a count: "4 incidents", not "4.00"
        return fmt_number(v, unit=unit, whole=True)
    if not np.isfinite(v):
        return _fmt(v)
    return fmt_number(v, unit=unit)  # "3.63% behind plan", "4.20 hours", "0 hours"


def point_titles(chart: ControlChart, *, unit: str = "") -> list[str]:
    """One hover text per point that is not missing: date, value, and its signals in words."""
    present = np.nonzero(~chart.is_missing)[0]
    by_point: dict[int, list[str]] = {}
    zeros = np.zeros(len(chart), dtype=np.int8)

    def words(sig: Any) -> str:
        d = int(chart.directions.get(sig.rule, zeros)[sig.index])
        return f"{signal_name(sig.rule, d, chart=chart)} ({sig.label})"

    for sig in chart.signals:
        by_point.setdefault(int(sig.index), []).append(words(sig))
    # a point coloured as part of a pattern that another point completes says so too
    for i, sigs in pattern_members(chart).items():
        by_point.setdefault(i, []).extend(f"part of: {words(sig)}" for sig in sigs)
    out = []
    for i in map(int, present):
        head = " · ".join(
            x
            for x in (_time_text(chart.time[i]), _value_text(float(chart.value[i]), chart, unit))
            if x
        )
        sigs = by_point.get(i, [])
        out.append(head + ("\n" + "\n".join(sigs) if sigs else ""))
    return out


def _time_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, pd.Timestamp | datetime.datetime):
        ts = pd.Timestamp(v)  # the page's own date style: '16 Nov 2026'
        return fmt_date(ts) if ts == ts.normalize() else f"{fmt_date(ts)} {ts:%H:%M}"
    if isinstance(v, datetime.date):
        return fmt_date(v)
    return str(v)


def describe_chart(chart: ControlChart, *, title: str | None = None, unit: str = "") -> str:
    """A text alternative for the chart: what it shows, its phases, signals and verdict."""
    name = CHART_NAMES.get(chart.chart, chart.chart)
    present = np.nonzero(~chart.is_missing)[0]
    parts = [f"{title + ': ' if title else ''}{name} control chart of {present.shape[0]} points"]
    if present.shape[0] and chart.time[present[0]] is not None:
        parts[0] += (
            f" from {_time_text(chart.time[present[0]])} to {_time_text(chart.time[present[-1]])}"
        )
    missing = len(chart) - present.shape[0]
    if missing:
        parts.append(f"{missing} missing")
    pct = chart.chart in PERCENT_CHARTS
    whole = chart.chart in WHOLE_CHARTS
    scale = _chart_scale(chart)  # as the chart's own labels write its figures
    u = f" {unit}" if unit and not pct else ""
    for p in chart.phases:
        text = f"phase {p.phase}" + (f" ({p.label})" if len(chart.phases) > 1 else "")
        text += f": centre {_fmt(p.centre, percent=pct, whole=whole, scale=scale)}{u}"
        if chart.has_limits:
            if p.lcl is not None and p.ucl is not None:
                lo, hi = (
                    _fmt(p.lcl, percent=pct, whole=whole, scale=scale),
                    _fmt(p.ucl, percent=pct, whole=whole, scale=scale),
                )
                text += f", limits {lo} to {hi}{u}"
            else:
                text += ", limits vary with sample size"
        if p.is_provisional:
            text += f" (provisional, {p.n_points} points)"
        parts.append(text)
    if chart.frozen:
        parts.append("limits frozen at the first phase")
    counts: dict[str, int] = {
        SignalLabel.IMPROVEMENT: 0,
        SignalLabel.CONCERN: 0,
        SignalLabel.NEUTRAL: 0,
    }
    for lab in pattern_labels(chart):
        if lab:
            counts[lab] += 1
    sig = [f"{v} point{'s' if v != 1 else ''} signal {k}" for k, v in counts.items() if v]
    parts.append("; ".join(sig) if sig else "no special-cause signals")
    parts.append("latest point: " + chart.variation().replace("_", " "))
    return ". ".join(parts) + "."


def plot_control_chart(
    chart: ControlChart,
    *,
    title: str | None = None,
    unit: str = "",
    zones: bool = False,
    phase_names: Mapping[int, str] | None = None,
    width: float = 7.5,
    height: float = 3.0,
    caption: str = "",
    notes: Sequence[tuple[int, str]] = (),
    vector: bool = True,
    has_narrow: bool = True,
) -> ChartImage:
    """Draw a control chart: points, centre line, limits, optional zones, phases and signals.

    Parameters
    ----------
    chart : the computed chart.
    title, unit : shown above the chart and on the y axis (proportions are shown in percent).
    zones : shade the 1- and 2-sigma zones.
    phase_names : name per phase number for the phase-break labels (default: each phase's label,
        e.g. the event that started it).
    notes : (point index, note) pairs, assignable-cause notes: each point gets a numbered marker
        (the report lists the notes by number); points the chart excludes get an open ring.
    vector : False draws only the figure (``ChartImage.figure``, for a PNG: the email's key
        charts) and no SVG, which costs most of the drawing time.
    has_narrow : False draws no narrow phone variant (half the drawing time): for a chart the
        page keeps in a closed panel, which a phone scrolls sideways (see ``ChartImage``).
    """
    # a title gets its own line above the legend's, so a long metric name never runs into it
    left, right, top, bottom = SERIES_MARGINS
    fig, ax = new_figure(width, height, margins=(left, right, top + 0.2 if title else top, bottom))
    x, is_date = _x_axis(chart)
    y = np.asarray(chart.value, dtype=float)
    ends = [(p.first, p.last + 1) for p in chart.phases]
    names = dict(phase_names or {})
    pct = chart.chart in PERCENT_CHARTS
    phase_labels: list[PhaseLabel] = []
    breaks: list[Any] = []  # x of each phase's start (its break line; the first point for phase 1)

    for k, (a, b) in enumerate(ends):
        xs = x[a:b]
        phase = chart.phases[k]
        # a provisional phase's limits rest on too few points: drawn lighter and dashed; on a
        # frozen chart every phase has the baseline's limits, provisional when the baseline is
        # (the safety chart's 10-point baseline was drawn as settled against the frozen limits)
        prov = phase.is_provisional
        alpha = 0.5 if prov else 1.0
        if zones and chart.has_limits:
            lo1, hi1 = chart.zone(1)
            lo2, hi2 = chart.zone(2)
            ax.fill_between(xs, lo2[a:b], hi2[a:b], step="mid", color=ZONE, lw=0, zorder=0)
            ax.fill_between(xs, lo1[a:b], hi1[a:b], step="mid", color="#e6e6e6", lw=0, zorder=0)
        ax.step(xs, chart.centre[a:b], where="mid", color=CENTRE, lw=1.1, zorder=2, alpha=alpha,
                ls=(0, (4, 2)) if prov else "-", label="centre" if k == 0 else None)  # fmt: skip
        if chart.has_limits:
            ax.step(xs, chart.lcl[a:b], where="mid", color=LIMIT, lw=1, ls="--", zorder=2,
                    alpha=alpha, label="limits" if k == 0 else None)  # fmt: skip
            ax.step(xs, chart.ucl[a:b], where="mid", color=LIMIT, lw=1, ls="--", zorder=2,
                    alpha=alpha)  # fmt: skip
        # the line joins points within a phase; a missing value leaves a gap
        ax.plot(xs, y[a:b], color=COMMON, lw=1, zorder=3)
        # a lone phase without a name (a survey's scores) needs no name beside its note
        name = str(names.get(phase.phase, phase.label if len(ends) > 1 else ""))
        # a frozen chart's later phases are provisional through their baseline, labelled once
        note = (
            f"provisional ({phase.n_points} points)"
            if prov and (k == 0 or not chart.frozen)
            else ""
        )
        name = shorten(name, 22 if note else 36)
        if k > 0:
            prev_end = x[a - 1]
            bx = prev_end + (xs[0] - prev_end) / 2 if len(xs) else prev_end
            ax.axvline(bx, color=INK, lw=0.8, ls=":", zorder=1)
        else:
            bx = x[0] if len(x) else 0
        breaks.append(bx)
        if k > 0 or note:
            # a break in the right part of the chart gets its label on the left of the line;
            # PhaseLabel keeps it inside the axes and clear of the labels before it at any size
            on_left = a > 0.6 * len(chart)
            label = PhaseLabel(
                name, keep=note, xy=(bx, 1), xycoords=("data", "axes fraction"),
                xytext=(-3 if on_left else 3, -2), textcoords="offset points",
                ha="right" if on_left else "left", va="top", fontsize=8, color=INK,
                before=list(phase_labels),
                # on the page's background, above the limit lines (a UCL near the top ran
                # through "Baseline: provisional (10 points)") and below the data
                bbox={"boxstyle": "square,pad=0.15", "fc": BACKGROUND, "ec": "none", "alpha": 0.9},
                zorder=2.5,
            )  # fmt: skip
            label.phase_index = k
            ax.add_artist(label)
            label.set_clip_on(False)  # it fits itself inside the axes (add_artist would clip)
            phase_labels.append(label)

    # each label's room: between the break lines either side of its own
    lines = [None, *breaks, None]
    for label in phase_labels:
        k = label.phase_index
        label.breaks = (lines[k], lines[k + 1], lines[k + 2])

    labels = pattern_labels(chart)
    ok = ~np.isnan(y)
    colour = np.array([_LABEL_COLOUR.get(str(lab), COMMON) for lab in labels], dtype=object)
    size = np.where(labels == "", 12.0, 22.0)
    # one scatter for every point, in chart order: the SVG then gets one <title> per point
    points = ax.scatter(x[ok], y[ok], s=size[ok], c=list(colour[ok]), zorder=5, linewidths=0,
                        clip_on=False)  # fmt: skip
    points.set_gid(POINTS_GID)
    for lab, col in _LABEL_COLOUR.items():  # legend entries for the signal colours present
        if (ok & (labels == lab)).any():
            ax.scatter([], [], s=22, color=col, linewidths=0, label=lab)

    excluded = chart.is_excluded & ok
    if excluded.any():
        ax.scatter(x[excluded], y[excluded], s=70, facecolors="none", edgecolors=INK, lw=0.9,
                   zorder=6, label="left out of limits")  # fmt: skip
    for k, (i, _note) in enumerate(notes, start=1):
        if 0 <= i < len(chart) and ok[i]:
            ax.annotate(
                str(k), xy=(x[i], y[i]), xytext=(0, 7), textcoords="offset points",
                ha="center", va="bottom", fontsize=8, color=INK, fontweight="bold", zorder=7,
            )  # fmt: skip

    if is_date:
        date_axis(ax)
    else:
        ax.set_xlabel("point")
    _y_limits(ax, chart)
    if pct:
        percent_axis(ax)
        ax.set_ylabel(percent_unit(unit))
    else:
        number_axis(ax)
        ax.set_ylabel(unit or CHART_NAMES.get(chart.chart, chart.chart))
    last = chart.latest_phase
    whole = chart.chart in WHOLE_CHARTS
    limit_labels: list[LimitLabel] = []
    scale = _chart_scale(chart)
    if chart.has_limits and last.lcl is not None and last.ucl is not None:
        for v, txt in ((last.ucl, "UCL"), (last.centre, "CL"), (last.lcl, "LCL")):
            if v is not None and np.isfinite(v):
                # a LimitLabel keeps clear of the other two (a flat metric drew them as one);
                # it lies in the margin, outside the axes, so it is not clipped to them
                ax.add_artist(LimitLabel(
                    f"{txt} {_fmt(v, percent=pct, whole=whole, scale=scale)}", xy=(1, v), xycoords=("axes fraction", "data"),
                    xytext=(2, 0), textcoords="offset points", va="center", fontsize=8,
                    color=INK, annotation_clip=False, clip_on=False, group=limit_labels,
                ))  # fmt: skip
    # the ticks and limit labels of large numbers ("−1.25M") get the room they need
    fit_margins(fig, ax, right_texts=limit_labels)
    if title:  # measured against the margins just fitted: a wider left one leaves less room
        set_fitted_title(ax, title, pad=17)
    # legend above the axes on the right, clear of the title (left) and of the date offset text
    ax.legend(
        loc="lower right", bbox_to_anchor=(1, 1.0), ncol=5, frameon=False, fontsize=8,
        handlelength=1.6, columnspacing=1.0, borderaxespad=0.2,
    )  # fmt: skip
    alt = describe_chart(chart, title=title, unit=unit)
    if notes:
        alt += " Notes: " + "; ".join(f"{k}. {n}" for k, (_, n) in enumerate(notes, start=1)) + "."
    if not vector:
        return ChartImage(svg="", alt=alt, caption=caption, figure=fig)
    return ChartImage.from_figure(
        fig,
        alt=alt,
        caption=caption,
        point_titles=point_titles(chart, unit=unit),
        has_narrow=has_narrow,
    )


def _y_limits(ax, chart: ControlChart) -> None:
    """Keep the axis inside the values the statistic can take: no axis down to -10 hours."""
    lo, hi = ax.get_ylim()
    lower = chart.lower_bound
    upper = chart.upper_bound
    if chart.chart in NON_NEGATIVE_CHARTS:
        lower = 0.0 if lower is None else max(lower, 0.0)
    if chart.chart in PERCENT_CHARTS:
        upper = 1.0 if upper is None else min(upper, 1.0)
    if lower is not None and lo < lower:
        lo = lower
    if upper is not None and hi > upper:
        hi = upper
    if hi > lo:
        ax.set_ylim(lo, hi)


def plot_sparkline(
    chart: ControlChart, *, width: float = 1.8, height: float = 0.5, last: int = 1
) -> ChartImage:
    """A tiny chart for a portfolio tile: the series, its latest centre and limits, and the last
    point coloured by the variation verdict (NHS icons' colours)."""
    fig, ax = new_figure(width, height)
    fig.set_layout_engine("none")
    ax.set_position((0.02, 0.08, 0.96, 0.84))
    y = np.asarray(chart.value, dtype=float)
    x = np.arange(y.shape[0])
    for p in chart.phases:
        a, b = p.first, p.last + 1
        ax.plot(x[a:b], chart.centre[a:b], color=CENTRE, lw=0.6)
        if chart.has_limits:
            ax.plot(x[a:b], chart.lcl[a:b], color=LIMIT, lw=0.5, ls="--")
            ax.plot(x[a:b], chart.ucl[a:b], color=LIMIT, lw=0.5, ls="--")
        ax.plot(x[a:b], y[a:b], color=COMMON, lw=0.9)
    present = np.nonzero(~np.isnan(y))[0]
    verdict = chart.variation(last=last)
    if present.shape[0]:
        i = present[-1]
        ax.scatter([x[i]], [y[i]], s=14, color=_VERDICT_COLOUR[verdict], zorder=5, linewidths=0)
    ax.axis("off")
    alt = (
        f"Trend of the last {present.shape[0]} points; latest "
        f"{_fmt(float(y[present[-1]]), scale=_chart_scale(chart)) if present.shape[0] else 'n/a'}; "
        f"{verdict.replace('_', ' ')}."
    )
    return ChartImage.from_figure(fig, alt=alt, has_narrow=False)
