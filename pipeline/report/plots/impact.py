"""Before/after charts: the segmented-regression (interrupted time series) chart and a compact
before/after comparison, both with a generated text alternative."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from pipeline.formatting import count_of, fmt_interval, fmt_number, interval_label, percent_unit
from pipeline.report.plots.style import (
    CENTRE,
    COMMON,
    CONCERN,
    IMPROVEMENT,
    INK,
    NEUTRAL,
    ZONE,
    ChartImage,
    date_axis,
    fit_title,
    new_figure,
    number_axis,
    percent_axis,
    set_fitted_title,
)
from pipeline.stats.impact import ImpactEstimate
from pipeline.vocabulary import Kind


def _colour(estimate: ImpactEstimate) -> str:
    return {"improved": IMPROVEMENT, "worsened": CONCERN}.get(estimate.direction, NEUTRAL)


def _x(times: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(times):
        return pd.to_datetime(times).to_numpy()
    return times.to_numpy(dtype=float)


def plot_segmented(
    estimate: ImpactEstimate,
    *,
    name: str = "Metric",
    unit: str = "",
    facts: Sequence[tuple[str, str]] = (),
    headline: str = "",
    has_narrow: bool = True,
) -> ChartImage:
    """Observed points, fitted pre/post lines, the counterfactual (no-change) line with its
    confidence band (none when the model withheld it), the change point, and the transition
    shaded. ``facts`` are the model's figures as the page words them (label, text); the text
    alternative repeats them, so it says what the table beside the chart says. Where the model
    held the counterfactual at one of the metric's bounds (the baseline's trend would cross
    it), the dashed line runs along the bound and the legend says it is held, as the table
    beside it does; the band is the model's, clipped to the bounds.
    ``headline``: the sentence the text alternative opens with, the page's verdict where the
    chart sits beside one (the report's statistics panel); without it, the classical
    before/after sentence (:meth:`ImpactEstimate.sentence`, a chart drawn on its own).
    ``has_narrow=False`` draws no phone variant (the report's statistics panels)."""
    seg = estimate.segmented_regression
    fig, ax = new_figure(margins=(0.75, 0.3, 0.35, 0.9))
    # the axis says the unit (the title names the metric): "PPC (share of planned tasks done)"
    # ran past the top of the chart
    if estimate.kind == Kind.PROPORTION:
        label = percent_unit(unit)
    else:
        label = unit or name
    if seg is None:
        ax.text(0.5, 0.5, "not enough data for segmented regression", ha="center", va="center",
                transform=ax.transAxes, color=INK)  # fmt: skip
        ax.set_axis_off()
        return ChartImage.from_figure(
            fig, alt=f"{name}: not enough data for a segmented-regression chart.",
            has_narrow=has_narrow,
        )  # fmt: skip
    s = seg.series
    # a g or t chart's model numbers the events: drawn against that number its lines are the
    # straight lines fitted (against dates they bent wherever incidents came close together)
    x = s["t"].to_numpy(dtype=float) if seg.is_event_order else _x(s["time"])
    win = s["window"].to_numpy()
    colour = _colour(estimate)
    trans = np.flatnonzero(win == "transition")
    after = np.flatnonzero(win == "after")
    if trans.size:
        ax.axvspan(x[trans[0]], x[after[0]], color=ZONE, lw=0, label="transition (left out)")
    ax.axvline(x[after[0]], color=CENTRE, lw=0.8, ls=":", label="change")
    pre = win == "before"
    post = win == "after"
    ax.plot(x[pre], s["value"][pre], "o", ms=3, color=COMMON, label="observed")
    ax.plot(x[post], s["value"][post], "o", ms=3, color=colour)
    if trans.size:
        ax.plot(x[trans], s["value"].to_numpy()[trans], "o", ms=3, mfc="none", color=COMMON)
    ax.plot(x[pre], s["fitted"][pre], "-", lw=1.6, color=CENTRE, label="fitted")
    ax.plot(x[post], s["fitted"][post], "-", lw=1.6, color=colour)
    cf_mask = post & s["counterfactual"].notna().to_numpy()
    if seg.counterfactual is not None:
        cf_line = s["counterfactual"].to_numpy(dtype=float)
        band_low = s["counterfactual_low"].to_numpy(dtype=float)
        band_high = s["counterfactual_high"].to_numpy(dtype=float)
        is_held = bool(np.any(s["counterfactual_held"].to_numpy(dtype=bool)[cf_mask]))
        if np.isfinite(band_low[cf_mask]).any():  # a series that does not vary has no band
            ax.fill_between(x[cf_mask], band_low[cf_mask], band_high[cf_mask], color=COMMON,
                            alpha=0.18, lw=0, label=f"no change, {interval_label(estimate.alpha)}")  # fmt: skip
        ax.plot(x[cf_mask], cf_line[cf_mask], "--", lw=1.2, color=COMMON,
                label="without the change" + (" (held at the bound)" if is_held else ""))  # fmt: skip
    else:
        # a legend entry, not a line: the model withheld the counterfactual (too short a baseline)
        ax.plot([], [], " ", label="no counterfactual")  # the table beside it says why
    ax.set_ylabel(label)
    if seg.is_event_order:  # the title says what the axis counts (a label met the legend)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    elif pd.api.types.is_datetime64_any_dtype(s["time"]):
        date_axis(ax)
    if estimate.kind == Kind.PROPORTION:
        percent_axis(ax)
    else:
        number_axis(ax)
    when = (
        "before and after, by occurrence" if seg.is_event_order else "before and after the change"
    )
    set_fitted_title(ax, f"{name}: {when}")
    # two columns: three ran off the right edge of the phone's drawing
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize=8)
    cf = seg.counterfactual
    if not facts:  # a chart drawn on its own (not beside the report's table) still says them
        facts = [
            ("fitted at the last period", fmt_number(seg.observed_fitted)),
            (
                "counterfactual (no change)",
                seg.counterfactual_note
                if cf is None
                else f"{fmt_number(cf.estimate)} "
                f"({fmt_interval(cf.ci_low, cf.ci_high, alpha=estimate.alpha)})",
            ),
        ]
    # one sentence of "label: text" clauses: a text that ends a sentence of its own must not
    # leave "forward.." behind
    figures = "; ".join(f"{label}: {text.rstrip('. ')}" for label, text in facts)
    point = "point" if seg.is_event_order else "period"
    left_out = (
        f", {count_of(int(trans.size), f'transition {point}')} left out" if trans.size else ""
    )
    per = ", one point per occurrence in order" if seg.is_event_order else " per period"
    alt = (
        f"{name}{per}, {count_of(int(pre.sum()), point)} before and {int(post.sum())} "
        f"after the change{left_out}. {headline or estimate.sentence(name)} {figures}. "
        f"{seg.note}"
    )
    return ChartImage.from_figure(fig, alt=alt, has_narrow=has_narrow)


def plot_before_after(
    estimate: ImpactEstimate, *, name: str = "Metric", unit: str = ""
) -> ChartImage:
    """Compact chart: the before and after means with their difference's confidence interval."""
    fig, ax = new_figure(width=4.0, height=2.4)
    b, a, d = estimate.before, estimate.after, estimate.difference
    colour = _colour(estimate)
    ax.barh([1, 0], [b.mean, a.mean], color=[COMMON, colour], height=0.6)
    ax.set_yticks([1, 0], [f"before (n={b.n})", f"after (n={a.n})"])
    for y, v in ((1, b.mean), (0, a.mean)):
        ax.text(v, y, f" {v:.3g}", va="center", ha="left", color=INK)
    if d.ci_low is not None and d.ci_high is not None:
        ax.errorbar([a.mean], [0], xerr=[[d.estimate - d.ci_low], [d.ci_high - d.estimate]],
                    fmt="none", ecolor=INK, capsize=3, lw=1)  # fmt: skip
    what = "mean" if estimate.kind == Kind.CONTINUOUS else "pooled rate"
    ax.set_xlabel(f"{what} {f'({unit})' if unit else ''}".strip())
    ax.set_title(fit_title(name, 48), loc="left")
    ax.grid(axis="y", visible=False)
    alt = (
        f"Bar chart of the {what} of {name}: {b.mean:.3g} before ({b.n} periods) and {a.mean:.3g} "
        f"after ({a.n} periods). {estimate.sentence(name)}"
    )
    return ChartImage.from_figure(fig, alt=alt)
