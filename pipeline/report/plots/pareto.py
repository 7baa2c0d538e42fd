"""Pareto chart: bars of each category's count, largest first, and the cumulative percentage line."""

from __future__ import annotations

import numpy as np

from pipeline.formatting import shorten
from pipeline.report.plots.style import COMMON, CONCERN, INK, ChartImage, new_figure
from pipeline.stats.pareto import Pareto

__all__ = ["plot_pareto"]


def plot_pareto(
    p: Pareto, *, width: float = 7.5, height: float = 3.0, max_bars: int = 12
) -> ChartImage:
    """Bars of the counts (the vital few that reach 80% in the concern colour), the cumulative
    percentage on a second axis (0 to 100%), as qcc's ``paretoChart()`` draws it. More than
    ``max_bars`` categories: the rest are drawn as one "other" bar."""
    cats = list(p.categories)
    labels = [shorten(c.category, 18) for c in cats[:max_bars]]
    counts = [c.count for c in cats[:max_bars]]
    cumulative = [c.cumulative_percent for c in cats[:max_bars]]
    if len(cats) > max_bars:
        labels.append(f"{len(cats) - max_bars} other")
        counts.append(sum(c.count for c in cats[max_bars:]))
        cumulative.append(100.0)
    vital = len(p.vital_few())
    fig, ax = new_figure(width, height)
    x = np.arange(len(labels))
    colours = [CONCERN if i < vital else COMMON for i in range(len(labels))]
    ax.bar(x, counts, color=colours, width=0.7, zorder=2)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7.5)
    ax.set_ylabel("count")
    ax2 = ax.twinx()
    ax2.plot(x, cumulative, color=INK, lw=1.2, marker="o", ms=3, zorder=3)
    ax2.set_ylim(0, 105)
    ax2.axhline(80, color=INK, lw=0.6, ls=":", zorder=1)
    ax2.set_ylabel("cumulative %")
    ax.set_title("Pareto chart of defect categories", loc="left")
    alt = (
        f"Pareto chart of {len(cats)} defect categories, {p.total:g} defects: "
        + "; ".join(f"{c.category} {c.count:g} ({c.percent:.0f}%)" for c in cats[:6])
        + (f"; {len(cats) - 6} more" if len(cats) > 6 else "")
        + f". The first {vital} make up {cats[vital - 1].cumulative_percent:.0f}%."
    )
    return ChartImage.from_figure(fig, alt=alt)
