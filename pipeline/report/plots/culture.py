"""Culture charts: the idea funnel, ideas per employee and area participation by month, time to
implement by quarter, and survey scores on control charts — each with a text alternative."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from pipeline.formatting import NOT_ENOUGH, count_of, fmt_count, fmt_date, fmt_number, fmt_percent
from pipeline.report.plots.control import plot_control_chart
from pipeline.report.plots.style import (
    COMMON,
    IMPROVEMENT,
    INK,
    SERIES_MARGINS,
    ChartImage,
    date_axis,
    new_figure,
)
from pipeline.stats.culture import CultureSummary, SurveyTrend

__all__ = [
    "plot_idea_funnel",
    "plot_ideas_per_employee",
    "plot_participation",
    "plot_time_to_implement",
    "plot_survey",
    "plot_surveys",
]

#: Width (inches) of a culture chart: two sit side by side in a 1,000-px page, where their
#: smallest text (8.5 pt) is 11 px or more.
WIDTH = 5.2
#: time-series margins with room for the title above the legend line
_TITLED = (SERIES_MARGINS[0], SERIES_MARGINS[1], 0.62, SERIES_MARGINS[3])

_FUNNEL_LABELS = {
    "submitted": "Submitted",
    "accepted": "Accepted (incl. implemented)",
    "implemented": "Implemented",
    "rejected": "Rejected",
    "awaiting": "Awaiting a decision",
}
_FUNNEL_COLOURS = {
    "submitted": "#9ac9ea",
    "accepted": "#5fb0e6",
    "implemented": IMPROVEMENT,
    "rejected": "#c9c9c9",
    "awaiting": "#e3e3e3",
}


def _empty(title: str, message: str, alt: str) -> ChartImage:
    fig, ax = new_figure(WIDTH, 1.6)
    ax.set_axis_off()
    _title(ax, title, pad=16)
    ax.text(0.5, 0.45, message, ha="center", va="center", color=COMMON, transform=ax.transAxes)
    return ChartImage.from_figure(fig, alt=alt)


def _month_axis(ax) -> None:
    date_axis(ax, maxticks=7)


def _title(ax, text: str, *, pad: float = 6) -> None:
    """A title that starts at the figure's left edge, not the axes': a long title then fits a
    chart whose axes leave room for labels on the left."""
    left = ax.get_position().x0  # figure fraction
    width = ax.get_position().width
    title = ax.set_title(text, loc="left", pad=pad)
    title.set_x(-(left - 0.02) / width)


def _legend(ax) -> None:
    """Legend above the plot, right-aligned on the title's line, so it never hides data."""
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, fontsize=8.5,
              borderaxespad=0.2)  # fmt: skip


def _quarter_label(quarter: str, ideas: int) -> str:
    """'2025 Q3', 12 -> "Q3 ’25 · 12 ideas", one bar's label on the time-to-implement chart."""
    year, _, q = quarter.partition(" ")
    head = f"{q} \u2019{year[-2:]}" if q and len(year) == 4 else quarter
    return f"{head} \u00b7 {fmt_count(ideas)} idea{'' if ideas == 1 else 's'}"


def _month(value) -> str:
    return pd.Timestamp(value).strftime("%b %Y")


def _period(summary: CultureSummary) -> str:
    return f"{fmt_date(summary.window_start)} to {fmt_date(summary.as_of)}"


def plot_idea_funnel(summary: CultureSummary) -> ChartImage:
    """Horizontal bars: ideas submitted in the window, accepted, implemented, rejected, awaiting;
    each bar labelled with its count and its share of the submitted ideas."""
    title = "Idea funnel"
    f = summary.funnel
    if f is None or f.submitted == 0:
        return _empty(title, f"No ideas submitted: {NOT_ENOUGH}",
                      f"Idea funnel: no ideas were submitted from {_period(summary)}.")  # fmt: skip
    stages = list(f.stages())
    counts = [getattr(f, s) for s in stages]
    fig, ax = new_figure(WIDTH, 2.4, margins=(2.15, 0.45, 0.42, 0.5))
    y = np.arange(len(stages))[::-1]
    ax.barh(y, counts, color=[_FUNNEL_COLOURS[s] for s in stages], height=0.62, zorder=2)
    top = max(counts)
    for yi, s, c in zip(y, stages, counts, strict=True):
        text = fmt_count(c) if s == "submitted" else f"{fmt_count(c)} ({fmt_percent(f.share(s))})"
        ax.text(c + top * 0.01, yi, text, va="center", ha="left", fontsize=8.5, color=INK)
    ax.set_yticks(y, [_FUNNEL_LABELS[s] for s in stages])
    ax.set_xlim(0, top * 1.18)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("ideas")
    _title(ax, f"{title}: ideas submitted {_period(summary)}")
    alt = (
        f"Idea funnel, ideas submitted from {_period(summary)}: {fmt_count(f.submitted)} submitted, "
        f"{fmt_count(f.accepted)} accepted ({fmt_percent(f.share('accepted'))}, including those "
        f"implemented), {fmt_count(f.implemented)} implemented "
        f"({fmt_percent(f.share('implemented'))}), {fmt_count(f.rejected)} rejected "
        f"({fmt_percent(f.share('rejected'))}) and {fmt_count(f.awaiting)} awaiting a decision."
    )
    return ChartImage.from_figure(fig, alt=alt)


def plot_ideas_per_employee(summary: CultureSummary) -> ChartImage:
    """Ideas per 100 employees per month (line and points) with the window's rate as a dashed
    line; months without headcount are gaps. Without any headcount: ideas per month."""
    m = summary.monthly
    title = "Ideas per 100 employees per month"
    if not len(m):
        return _empty(title, NOT_ENOUGH, f"{title}: {NOT_ENOUGH} in the window.")
    fig, ax = new_figure(WIDTH, 2.8, margins=_TITLED)
    x = pd.to_datetime(m["month"]) + pd.Timedelta(days=14)
    rate = 100 * m["ideas_per_employee"].astype(float)
    if rate.notna().any():
        ax.plot(x, rate, color=IMPROVEMENT, lw=1.4, marker="o", ms=4, zorder=3,
                label="ideas per 100 employees")  # fmt: skip
        avg = summary.ideas_per_100_employees
        if avg is not None:
            ax.axhline(avg, color=INK, lw=0.9, ls="--", zorder=2,
                       label=f"window rate {fmt_number(avg, digits=1)}")  # fmt: skip
        ax.set_ylim(0, max(float(rate.max()) * 1.15, 1e-9))
        ax.set_ylabel("ideas per 100 employees")
        _legend(ax)
        ok = m[rate.notna()]
        r = rate[rate.notna()]
        alt = (
            f"{title}, {len(ok)} months from {_month(ok['month'].iloc[0])} to "
            f"{_month(ok['month'].iloc[-1])}: from {fmt_number(r.iloc[0], digits=1)} to "
            f"{fmt_number(r.iloc[-1], digits=1)}, lowest {fmt_number(r.min(), digits=1)}, highest "
            f"{fmt_number(r.max(), digits=1)}; over the window "
            f"{fmt_number(avg, digits=1) if avg is not None else NOT_ENOUGH}."
        )
        missing = int(rate.isna().sum())
        if missing:
            alt += f" {count_of(missing, 'month')} without headcount {'is' if missing == 1 else 'are'} left out."
    else:
        title = "Ideas per month (no headcount, so no rate per employee)"
        ax.bar(x, m["ideas"], width=20, color=IMPROVEMENT, zorder=2)
        ax.set_ylabel("ideas")
        alt = (
            f"Ideas submitted per month, {len(m)} months: from {fmt_count(m['ideas'].iloc[0])} to "
            f"{fmt_count(m['ideas'].iloc[-1])}; ideas per employee: {NOT_ENOUGH} (no headcount)."
        )
    _month_axis(ax)
    _title(ax, title, pad=16)
    return ChartImage.from_figure(fig, alt=alt)


def plot_participation(summary: CultureSummary) -> ChartImage:
    """Share of the site's areas that submitted at least one idea, per month."""
    m = summary.monthly
    title = "Participation: share of areas submitting ideas each month"
    if not len(m) or summary.n_areas == 0:
        return _empty(title, NOT_ENOUGH, f"{title}: {NOT_ENOUGH}.")
    fig, ax = new_figure(WIDTH, 2.6, margins=_TITLED)
    x = pd.to_datetime(m["month"]) + pd.Timedelta(days=14)
    share = 100 * m["area_share"].astype(float)
    ax.bar(x, share, width=20, color=IMPROVEMENT, alpha=0.85, zorder=2)
    avg = summary.participation_rate
    if avg is not None:
        ax.axhline(100 * avg, color=INK, lw=0.9, ls="--", zorder=3,
                   label=f"average {fmt_percent(avg)}")  # fmt: skip
        _legend(ax)
    ax.set_ylim(0, 105)
    ax.set_yticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_ylabel(f"% of {summary.n_areas} areas")
    _month_axis(ax)
    _title(ax, title, pad=16)
    alt = (
        f"{title}, {len(m)} months from {_month(m['month'].iloc[0])} to "
        f"{_month(m['month'].iloc[-1])}, out of {summary.n_areas} areas: between "
        f"{fmt_percent(m['area_share'].min())} and {fmt_percent(m['area_share'].max())}, "
        f"average {fmt_percent(avg)}; latest month {fmt_percent(m['area_share'].iloc[-1])}."
    )
    return ChartImage.from_figure(fig, alt=alt)


def plot_time_to_implement(summary: CultureSummary) -> ChartImage:
    """Median days from submission to implementation, per quarter of implementation, as
    horizontal bars (oldest quarter at the top), each quarter's label naming the number of
    ideas implemented in it.

    Horizontal, as the idea funnel: eight quarters' labels side by side under vertical bars
    overlapped one another at 1280 px ("8 ideas11 ideas") and on a phone ("Q1 ’25Q2 ’25");
    one to a line they never do."""
    q = summary.time_to_implement
    title = "Median days to implement, by quarter"
    if not len(q):
        return _empty(title, f"No ideas implemented in the window: {NOT_ENOUGH}",
                      f"{title}: no ideas were implemented in the window.")  # fmt: skip
    rows = len(q)
    # a bar row of 0.26 inch keeps the 8.5-pt labels apart; legend and title above
    fig, ax = new_figure(WIDTH, max(2.6, 1.05 + 0.26 * rows), margins=(1.45, 0.45, 0.62, 0.45))
    y = np.arange(rows)[::-1]
    days = q["median_days"].astype(float).to_numpy()
    ax.barh(y, days, color=IMPROVEMENT, height=0.62, zorder=2)
    top = float(np.nanmax(days)) if np.isfinite(days).any() else 1.0
    for yi, d in zip(y, days, strict=True):
        # on a white ground: the window median's dashed line passes behind, not through, it
        ax.text(d + top * 0.01, float(yi), fmt_number(d, digits=0), va="center", ha="left",
                fontsize=8.5, color=INK, zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})  # fmt: skip
    labels = [_quarter_label(str(lab), int(n))
              for lab, n in zip(q["quarter"], q["implemented"], strict=True)]  # fmt: skip
    ax.set_yticks(y, labels, fontsize=8.5)
    ax.grid(axis="y", visible=False)
    if summary.median_days_to_implement is not None:
        ax.axvline(summary.median_days_to_implement, color=INK, lw=0.9, ls="--", zorder=3,
                   label=f"window median {fmt_number(summary.median_days_to_implement, digits=0)}"
                   " days")  # fmt: skip
        _legend(ax)
    ax.set_xlim(0, max(top, 1e-9) * 1.15)
    ax.set_xlabel("days (median)")
    _title(ax, title, pad=16)
    parts = ", ".join(
        f"{lab} {fmt_number(d, digits=0)} days ({fmt_count(n)} ideas)"
        for lab, d, n in zip(q["quarter"], days, q["implemented"], strict=True)
    )
    alt = (
        f"{title}: {parts}. Over the window the median was "
        f"{fmt_number(summary.median_days_to_implement, digits=0)} days."
    )
    return ChartImage.from_figure(fig, alt=alt)


def plot_survey(trend: SurveyTrend) -> ChartImage:
    """One survey instrument's scores on an XmR chart (higher is better unless configured)."""
    title = f"{trend.name} score"
    if trend.chart is None:
        if trend.latest_score is None:
            return _empty(title, NOT_ENOUGH, f"{title}: {NOT_ENOUGH}.")
        return _empty(
            title,
            f"Only one survey ({fmt_number(trend.latest_score)} on {fmt_date(trend.latest_date)}):"
            " a control chart needs at least two",
            f"{title}: one survey, score {fmt_number(trend.latest_score)} on "
            f"{fmt_date(trend.latest_date)}; {NOT_ENOUGH} for a control chart.",
        )
    # a little narrower than the other culture charts: its limit labels are 8 pt
    image = plot_control_chart(trend.chart, title=title, unit="score", width=4.9, height=2.8)
    return replace(image, alt=f"{image.alt} {trend.sentence()}")


def plot_surveys(summary: CultureSummary) -> list[ChartImage]:
    """One control chart per survey instrument, in the summary's order."""
    return [plot_survey(t) for t in summary.surveys]
