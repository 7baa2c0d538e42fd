"""The roadmap timeline: one row per improvement event, grouped under the goal it serves."""

from __future__ import annotations

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pipeline.formatting import fmt_date, shorten
from pipeline.report.plots.style import (
    COMMON,
    CONCERN,
    IMPROVEMENT,
    INK,
    NEUTRAL,
    ChartImage,
    date_axis,
    new_figure,
)
from pipeline.stats.roadmap import Roadmap, RoadmapItem
from pipeline.vocabulary import EventStatus

__all__ = ["plot_roadmap"]

STATUS_COLOURS: dict[str, str] = {
    EventStatus.DONE: IMPROVEMENT,
    EventStatus.IN_PROGRESS: NEUTRAL,
    EventStatus.PLANNED: "#a7a9ac",
    EventStatus.CANCELLED: "#d9d9d9",
}
OVERDUE_COLOUR = CONCERN
#: darker than the concern orange so that text stays legible on white (WCAG contrast)
OVERDUE_TEXT = "#9a5b00"
GROUP_BAND = "#eef1f4"
OVERDUE_SYMBOL = "⚠"
LABEL_CHARS = 38


def _num(t: pd.Timestamp) -> float:
    return float(mdates.date2num(t))


def _describe(roadmap: Roadmap) -> str:
    items = roadmap.items
    parts = [
        f"Roadmap timeline as of {fmt_date(roadmap.as_of)}: {len(items)} improvement"
        f"{'s' if len(items) != 1 else ''} in {len(roadmap.groups)} group"
        f"{'s' if len(roadmap.groups) != 1 else ''}"
    ]
    for g in roadmap.groups:
        events = []
        for i in g.items:
            text = (
                f"{i.title} ({i.status.replace('_', ' ')}, {fmt_date(i.start_date)} to effective "
                f"{fmt_date(i.effective_date)}"
                + (f", ends {fmt_date(i.end_date)}" if i.end_date is not None else "")
                + (", OVERDUE" if i.is_overdue else "")
                + ")"
            )
            events.append(text)
        head = g.title + (" (goal overdue)" if g.is_overdue else "")
        if g.due_date is not None:
            head += f", due {fmt_date(g.due_date)}"
        parts.append(f"{head}: " + "; ".join(events))
    n = len(roadmap.overdue_events)
    parts.append(f"{n} overdue improvement{'s' if n != 1 else ''}" if n else "nothing overdue")
    return ". ".join(parts) + "."


def plot_roadmap(roadmap: Roadmap, *, width: float = 7.5) -> ChartImage:
    """A Gantt-like timeline.

    Each event is a row: a bar from its start to its effective date (the transition), a diamond
    at the effective date, a thin line on to its end date if given; the colour shows the status
    (done, in progress, planned — hatched, cancelled). Overdue events are orange **and** carry a
    ⚠ before their label and an "overdue N days" note, so colour is never the only signal. Rows
    are grouped under a shaded header row per goal (its due date as a dotted line across the group); a
    dashed vertical line marks ``as_of``.
    """
    if not roadmap.items:
        fig, ax = new_figure(width, 1.4)
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No improvement events for this site", ha="center", va="center",
                color=COMMON, transform=ax.transAxes)  # fmt: skip
        return ChartImage.from_figure(
            fig, alt=f"Roadmap timeline as of {fmt_date(roadmap.as_of)}: no improvement events."
        )

    n_rows = sum(1 + len(g.items) for g in roadmap.groups)
    height = 1.3 + 0.27 * n_rows
    fig, ax = new_figure(width, height)
    dates: list[pd.Timestamp] = [roadmap.as_of]
    for g in roadmap.groups:
        if g.due_date is not None:
            dates.append(g.due_date)
        for it in g.items:
            dates += [d for d in (it.start_date, it.effective_date, it.end_date) if d is not None]
    lo, hi = min(dates), max(dates)
    pad = max((hi - lo).days * 0.03, 7)
    xmin, xmax = _num(lo - pd.Timedelta(days=pad)), _num(hi + pd.Timedelta(days=pad * 3))

    ticks: list[float] = []
    labels: list[str] = []
    overdue_rows: list[bool] = []
    y = n_rows - 1
    for g in roadmap.groups:
        ax.axhspan(y - 0.5, y + 0.5, color=GROUP_BAND, zorder=0, lw=0)
        head = (f"{OVERDUE_SYMBOL} " if g.is_overdue else "") + shorten(g.title, 46)
        if g.due_date is not None:
            head += (
                f" · overdue since {fmt_date(g.due_date)}"
                if g.is_overdue
                else f" · due {fmt_date(g.due_date)}"
            )
            # the due date as a dotted line across the group's own rows
            colour = OVERDUE_TEXT if g.is_overdue else INK
            ax.plot([_num(g.due_date)] * 2, [y - len(g.items) - 0.45, y - 0.5], color=colour,
                    lw=1.3, ls=":", zorder=2)  # fmt: skip
        ax.text(0.004, y, head, transform=ax.get_yaxis_transform(), va="center", ha="left",
                fontsize=8, fontweight="bold", color=OVERDUE_TEXT if g.is_overdue else INK,
                zorder=5, bbox={"facecolor": GROUP_BAND, "edgecolor": "none", "pad": 0.5})  # fmt: skip
        y -= 1
        for it in g.items:
            _draw_item(ax, it, y)
            ticks.append(y)
            labels.append(
                (f"{OVERDUE_SYMBOL} " if it.is_overdue else "") + shorten(it.title, LABEL_CHARS)
            )
            overdue_rows.append(it.is_overdue)
            y -= 1

    ax.axvline(_num(roadmap.as_of), color=INK, lw=1, ls="--", zorder=2)
    ax.set_yticks(ticks, labels, fontsize=8)
    for tick, late in zip(ax.get_yticklabels(), overdue_rows, strict=True):
        if late:
            tick.set_color(OVERDUE_TEXT)
            tick.set_fontweight("bold")
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_xlim(xmin, xmax)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    date_axis(ax, maxticks=9)

    present = {i.status for i in roadmap.items if not i.is_overdue}
    handles: list[Artist] = [
        Patch(
            facecolor=STATUS_COLOURS[s],
            edgecolor=INK if s == EventStatus.PLANNED else STATUS_COLOURS[s],
            hatch="////" if s == EventStatus.PLANNED else None,
            label=s.label,
        )  # fmt: skip
        for s in (
            EventStatus.DONE,
            EventStatus.IN_PROGRESS,
            EventStatus.PLANNED,
            EventStatus.CANCELLED,
        )
        if s in present
    ]
    if roadmap.overdue_events:
        handles.append(Patch(facecolor=OVERDUE_COLOUR, label=f"{OVERDUE_SYMBOL} overdue"))
    handles.append(Line2D([], [], marker="D", ls="", color=COMMON, mec=INK, label="effective"))
    if any(g.due_date is not None for g in roadmap.groups):  # the dotted line is drawn
        handles.append(Line2D([], [], color=INK, ls=":", lw=1.3, label="goal due"))
    handles.append(
        Line2D([], [], color=INK, ls="--", lw=1, label=f"as of {fmt_date(roadmap.as_of)}")
    )
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5),
               frameon=False, fontsize=8, handlelength=1.6)  # fmt: skip
    ax.set_title("Roadmap: improvements by goal", loc="left")
    # a timeline's labels cannot shrink with the page: a phone scrolls it sideways instead
    return ChartImage.from_figure(fig, alt=_describe(roadmap), has_narrow=False)


def _draw_item(ax: Axes, it: RoadmapItem, y: float) -> None:
    colour = OVERDUE_COLOUR if it.is_overdue else STATUS_COLOURS.get(it.status, COMMON)
    start = it.start_date or it.effective_date
    eff = it.effective_date or it.start_date
    planned = it.status == EventStatus.PLANNED
    if start is not None and eff is not None:
        left = _num(start)
        ax.barh(y, max(_num(eff) - left, 1.5), left=left, height=0.56, color=colour, zorder=3,
                lw=0.6, edgecolor=INK if planned else colour, hatch="////" if planned else None)  # fmt: skip
    if it.end_date is not None and eff is not None and it.end_date > eff:
        ax.plot([_num(eff), _num(it.end_date)], [y, y], color=colour, lw=2, zorder=3,
                solid_capstyle="butt")  # fmt: skip
        ax.plot([_num(it.end_date)], [y], marker="|", ms=8, mew=1.5, color=colour, zorder=4)
    if eff is not None:
        ax.plot([_num(eff)], [y], marker="D", ms=5.5, color=colour, mec=INK, mew=0.6, zorder=5)
    last = it.end_date or eff or start
    if last is None:
        return
    if it.status == EventStatus.CANCELLED:
        ax.annotate("cancelled", xy=(_num(last), y), xytext=(7, 0), textcoords="offset points",
                    va="center", fontsize=8, color=COMMON)  # fmt: skip
    elif it.is_overdue:
        ax.annotate(f"{OVERDUE_SYMBOL} overdue {it.days_overdue} day"
                    f"{'s' if it.days_overdue != 1 else ''}", xy=(_num(last), y), xytext=(7, 0),
                    textcoords="offset points", va="center", fontsize=8, color=OVERDUE_TEXT,
                    fontweight="bold")  # fmt: skip
