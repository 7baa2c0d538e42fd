"""Control charts drawn from a :class:`~pipeline.stats.spc.ControlChart`: full chart and portfolio sparkline.

Colours follow NHS "Making Data Count": special-cause improvement blue, concern orange, neutral
purple, common cause grey. Limits are drawn as steps where they vary with n; each phase has its own
centre line and limits, and a phase break is labelled with the phase's label (the event name).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd

from pipeline.report.plots.style import (
    CENTRE,
    COMMON,
    CONCERN,
    IMPROVEMENT,
    INK,
    LIMIT,
    NEUTRAL,
    SERIES_MARGINS,
    ZONE,
    ChartImage,
    new_figure,
    truncate,
)
from pipeline.stats.spc import ControlChart
from pipeline.vocabulary import ChartType

__all__ = ["plot_control_chart", "plot_sparkline", "describe_chart"]

CHART_NAMES: dict[str, str] = {c: c.label for c in ChartType}
_LABEL_COLOUR = {"improvement": IMPROVEMENT, "concern": CONCERN, "neutral": NEUTRAL}
_VERDICT_COLOUR = {
    "special_cause_improvement": IMPROVEMENT,
    "special_cause_concern": CONCERN,
    "special_cause_neutral": NEUTRAL,
    "common_cause": COMMON,
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


def _point_labels(chart: ControlChart) -> np.ndarray:
    """Strongest label per point: concern over improvement over neutral; '' if no signal."""
    out = np.full(len(chart), "", dtype=object)
    rank = {"neutral": 1, "improvement": 2, "concern": 3}
    best = np.zeros(len(chart), dtype=int)
    for s in chart.signals:
        r = rank[s.label]
        if r > best[s.index]:
            best[s.index] = r
            out[s.index] = s.label
    return out


def _fmt(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.4g}"


def _time_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, pd.Timestamp | datetime.datetime):
        ts = pd.Timestamp(v)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
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
    u = f" {unit}" if unit else ""
    for p in chart.phases:
        text = f"phase {p.phase}" + (f" ({p.label})" if len(chart.phases) > 1 else "")
        text += f": centre {_fmt(p.centre)}{u}"
        if chart.has_limits:
            if p.lcl is not None and p.ucl is not None:
                text += f", limits {_fmt(p.lcl)} to {_fmt(p.ucl)}{u}"
            else:
                text += ", limits vary with sample size"
        if p.is_provisional:
            text += " (provisional)"
        parts.append(text)
    if chart.frozen:
        parts.append("limits frozen at the first phase")
    counts = {"improvement": 0, "concern": 0, "neutral": 0}
    for lab in _point_labels(chart):
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
) -> ChartImage:
    """Draw a control chart: points, centre line, limits, optional zones, phases and signals.

    Parameters
    ----------
    chart : the computed chart.
    title, unit : shown above the chart and on the y axis.
    zones : shade the 1- and 2-sigma zones.
    phase_names : name per phase number for the phase-break labels (default: each phase's label,
        e.g. the event that started it).
    notes : (point index, note) pairs, assignable-cause notes: each point gets a numbered marker
        (the report lists the notes by number); points the chart excludes get an open ring.
    """
    fig, ax = new_figure(width, height, margins=SERIES_MARGINS)
    x, is_date = _x_axis(chart)
    y = np.asarray(chart.value, dtype=float)
    ends = [(p.first, p.last + 1) for p in chart.phases]
    names = dict(phase_names or {})

    for k, (a, b) in enumerate(ends):
        xs = x[a:b]
        if zones and chart.has_limits:
            lo1, hi1 = chart.zone(1)
            lo2, hi2 = chart.zone(2)
            ax.fill_between(xs, lo2[a:b], hi2[a:b], step="mid", color=ZONE, lw=0, zorder=0)
            ax.fill_between(xs, lo1[a:b], hi1[a:b], step="mid", color="#e6e6e6", lw=0, zorder=0)
        ax.step(xs, chart.centre[a:b], where="mid", color=CENTRE, lw=1.1, zorder=2,
                label="centre" if k == 0 else None)  # fmt: skip
        if chart.has_limits:
            ax.step(xs, chart.lcl[a:b], where="mid", color=LIMIT, lw=1, ls="--", zorder=2,
                    label="limits" if k == 0 else None)  # fmt: skip
            ax.step(xs, chart.ucl[a:b], where="mid", color=LIMIT, lw=1, ls="--", zorder=2)
        # the line joins points within a phase; a missing value leaves a gap
        ax.plot(xs, y[a:b], color=COMMON, lw=1, zorder=3)
        if k > 0:
            prev_end = x[a - 1]
            bx = prev_end + (xs[0] - prev_end) / 2 if len(xs) else prev_end
            ax.axvline(bx, color=INK, lw=0.8, ls=":", zorder=1)
            name = truncate(str(names.get(chart.phases[k].phase, chart.phases[k].label)), 36)
            # a break in the right part of the chart gets its label on the left of the line
            on_left = a > 0.6 * len(chart)
            ax.annotate(
                str(name), xy=(bx, 1), xycoords=("data", "axes fraction"),
                xytext=(-3 if on_left else 3, -2), textcoords="offset points",
                ha="right" if on_left else "left", va="top", fontsize=7.5, color=INK,
            )  # fmt: skip

    labels = _point_labels(chart)
    ok = ~np.isnan(y)
    common = ok & (labels == "")
    ax.scatter(x[common], y[common], s=12, color=COMMON, zorder=4, linewidths=0)
    for lab, colour in _LABEL_COLOUR.items():
        sel = ok & (labels == lab)
        if sel.any():
            ax.scatter(x[sel], y[sel], s=22, color=colour, zorder=5, linewidths=0,
                       label=lab)  # fmt: skip

    excluded = chart.is_excluded & ok
    if excluded.any():
        ax.scatter(x[excluded], y[excluded], s=70, facecolors="none", edgecolors=INK, lw=0.9,
                   zorder=6, label="left out of limits")  # fmt: skip
    for k, (i, _note) in enumerate(notes, start=1):
        if 0 <= i < len(chart) and ok[i]:
            ax.annotate(
                str(k), xy=(x[i], y[i]), xytext=(0, 7), textcoords="offset points",
                ha="center", va="bottom", fontsize=7, color=INK, fontweight="bold", zorder=7,
            )  # fmt: skip

    if is_date:
        loc = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    else:
        ax.set_xlabel("point")
    ax.set_ylabel(unit or CHART_NAMES.get(chart.chart, chart.chart))
    if title:
        ax.set_title(title, loc="left")
    last = chart.latest_phase
    if chart.has_limits and last.lcl is not None and last.ucl is not None:
        for v, txt in ((last.ucl, "UCL"), (last.centre, "CL"), (last.lcl, "LCL")):
            if v is not None and np.isfinite(v):
                ax.annotate(
                    f"{txt} {v:.4g}", xy=(1, v), xycoords=("axes fraction", "data"),
                    xytext=(2, 0), textcoords="offset points", va="center", fontsize=7,
                    color=INK, annotation_clip=False,
                )  # fmt: skip
    # legend above the axes on the right, clear of the title (left) and of the date offset text
    ax.legend(
        loc="lower right", bbox_to_anchor=(1, 1.0), ncol=5, frameon=False, fontsize=7.5,
        handlelength=1.6, columnspacing=1.0, borderaxespad=0.2,
    )  # fmt: skip
    alt = describe_chart(chart, title=title, unit=unit)
    if notes:
        alt += " Notes: " + "; ".join(f"{k}. {n}" for k, (_, n) in enumerate(notes, start=1)) + "."
    return ChartImage.from_figure(fig, alt=alt, caption=caption)


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
        f"{_fmt(float(y[present[-1]])) if present.shape[0] else 'n/a'}; "
        f"{verdict.replace('_', ' ')}."
    )
    return ChartImage.from_figure(fig, alt=alt)
