"""The portfolio page (``OUT/<as_of>/index.html``) and ``portfolio.json``, from one :class:`Portfolio`.

The HTML comes from the Jinja2 templates in ``report/templates/portfolio`` with autoescaping on;
Python hands them typed values (numbers, text, coordinates of the forest plots), never markup.
The page is self-contained: inline CSS, inline SVG icons and plots, and one small inline script
that re-sorts the scorecard (the page reads well without it: the server order puts the sites
that need attention first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from pipeline.data.config import Project, today
from pipeline.files import LATEST, atomic_symlink, atomic_write_json, atomic_write_text
from pipeline.formatting import (
    NOT_ENOUGH,
    fmt_count,
    fmt_effect,
    fmt_effect_interval,
    fmt_money,
    fmt_percent_value,
    fmt_progress,
    interval_label,
    shorten,
)
from pipeline.report.portfolio.model import (
    PORTFOLIO_FILE,
    SAVING_TEXT,
    Portfolio,
    Practice,
    build_portfolio,
    date_text,
    latest_run,
    load_run,
)
from pipeline.report.templating import environment, render


def pct_text(value: float | None) -> str:
    """A % change for people: "−45%", "+3.0%" (one decimal below 10), never "-0%"."""
    if value is None or not math.isfinite(value):
        return NOT_ENOUGH
    return fmt_percent_value(value, digits=1 if abs(value) < 10 else 0, signed=True)


def effect_text(value: float | None, unit: str) -> str:
    """A verdict's effect figure in its unit: "−27%", "+3.2 pp", "−1.40" (a difference), at the
    precision the site report gives it (:func:`pipeline.formatting.fmt_effect`)."""
    text = fmt_effect(value, unit=unit)
    return f"{text} pp" if unit == "percentage_points" and text != NOT_ENOUGH else text


def effect_interval_text(low: float | None, high: float | None, unit: str) -> str:
    """The effect figure's interval as the site report writes it: "−35% to −27%", "+0.4 to
    +3.8" (:func:`pipeline.formatting.fmt_effect_interval`)."""
    return fmt_effect_interval(low, high, unit=unit)


def effect_ci_text(low: float | None, high: float | None, unit: str, alpha: float) -> str:
    """The interval with its label, "95% CI −35% to −27%", or "" where an end is missing (the
    figure beside it already says "not enough data")."""
    if low is None or high is None:
        return ""
    return fmt_effect_interval(low, high, unit=unit, alpha=alpha)


def money_text(value: float | None, currency: str | None) -> str:
    """An amount in the project currency: "EUR 420,000" (no currency configured: "420,000");
    :func:`pipeline.formatting.fmt_money` writes it, as for the site report's savings."""
    return fmt_money(value, currency)


def factor_text(value: float) -> str:
    """A pooled factor: "×1.34"."""
    return f"×{value:.2f}"


#: The helpers the templates call (numbers and words, never markup).
FORMAT = SimpleNamespace(
    date=date_text,
    progress=fmt_progress,
    pct=pct_text,
    effect=effect_text,
    effect_interval=effect_interval_text,
    effect_ci=effect_ci_text,
    count=fmt_count,
    factor=factor_text,
    interval_label=interval_label,
    saving=lambda status: SAVING_TEXT.get(status, status),
)


# --------------------------------------------------------------------------- forest plots


@dataclass(frozen=True, slots=True, kw_only=True)
class ForestRow:
    label: str
    short: str
    verdict: str
    x: float
    x_low: float
    x_high: float
    y: float
    size: float
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ForestPlot:
    """Coordinates of one practice's forest plot (log scale of "times better")."""

    label_x: float
    width: float
    height: float
    left: float
    right: float
    rows: tuple[ForestRow, ...]
    diamond: str
    diamond_y: float
    pooled_text: str
    one_x: float
    ticks: tuple[tuple[float, str], ...]
    axis_y: float
    label: str


FOREST_W, FOREST_ROW, FOREST_LEFT, FOREST_LABEL = 640.0, 22.0, 10.0, 250.0


def forest_plot(practice: Practice) -> ForestPlot | None:
    """The forest plot of a pooled practice: one row per study (square sized by its weight,
    line = its interval), the pooled diamond, and the no-effect line at ×1."""
    pooled = practice.pooled
    if pooled is None:
        return None
    lows = [s.factor_low for s in practice.studies] + [pooled.factor(pooled.ci_low), 1.0]
    highs = [s.factor_high for s in practice.studies] + [pooled.factor(pooled.ci_high), 1.0]
    lo, hi = math.log(min(lows)), math.log(max(highs))
    pad = 0.05 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    left, right = FOREST_LABEL, FOREST_W - FOREST_LEFT

    def x(factor: float) -> float:
        return left + (math.log(factor) - lo) / (hi - lo) * (right - left)

    rows = []
    top = 8.0
    max_w = max((s.weight for s in practice.studies), default=1.0) or 1.0
    for i, s in enumerate(practice.studies):
        rows.append(
            ForestRow(
                label=f"{s.site}: {s.title} ({s.metric})",
                short=shorten(f"{s.site.split(',')[0]} · {s.metric}", 44),
                verdict=s.verdict.value,
                x=x(s.factor),
                x_low=x(s.factor_low),
                x_high=x(s.factor_high),
                y=top + i * FOREST_ROW + FOREST_ROW / 2,
                size=4.0 + 6.0 * math.sqrt(s.weight / max_w),
                text=(
                    f"{factor_text(s.factor)} ({factor_text(s.factor_low)} to "
                    f"{factor_text(s.factor_high)}), weight {100 * s.weight:.0f}%"
                ),
            )
        )
    dy = top + len(rows) * FOREST_ROW + FOREST_ROW / 2
    c, a, b = (x(pooled.factor(v)) for v in (pooled.estimate, pooled.ci_low, pooled.ci_high))
    diamond = f"{a:.1f},{dy:.1f} {c:.1f},{dy - 7:.1f} {b:.1f},{dy:.1f} {c:.1f},{dy + 7:.1f}"
    axis_y = dy + FOREST_ROW
    candidates = (0.25, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
    ticks = tuple((x(t), f"×{t:g}") for t in candidates if lo <= math.log(t) <= hi)
    label_ci = interval_label(pooled.alpha)
    pooled_text = (
        f"Pooled {factor_text(pooled.factor(pooled.estimate))} "
        f"({label_ci} {factor_text(pooled.factor(pooled.ci_low))} to "
        f"{factor_text(pooled.factor(pooled.ci_high))})"
    )
    label = (
        f"Forest plot of {practice.name}: {len(rows)} studies at {pooled.n_sites} sites; "
        + "; ".join(f"{r.label} {r.text}" for r in rows)
        + f"; {pooled_text}; I² {100 * pooled.i2:.0f}%."
    )
    return ForestPlot(
        label_x=FOREST_LEFT,
        width=FOREST_W,
        height=axis_y + 18.0,
        left=left,
        right=right,
        rows=tuple(rows),
        diamond=diamond,
        diamond_y=dy,
        pooled_text=pooled_text,
        one_x=x(1.0),
        ticks=ticks,
        axis_y=axis_y,
        label=label,
    )


# --------------------------------------------------------------------------- page


def render_portfolio(portfolio: Portfolio) -> str:
    """The portfolio page's HTML."""
    return str(
        render(
            "portfolio/index.html.j2",
            p=portfolio,
            fmt=FORMAT,
            forests={pr.name: forest_plot(pr) for pr in portfolio.practices},
            money=lambda v: money_text(v, portfolio.currency),
        )
    )


def warm_up() -> None:
    """Compile the page's templates now (a fifth of a second the first page of a process
    costs), for a run to do while its sites are still running."""
    env = environment()
    for name in env.list_templates(filter_func=lambda n: n.startswith("portfolio/")):
        env.get_template(name)


def write_portfolio(project: Project, out_root: Path, *, as_of: str, run_id: str) -> Path:
    """Write ``index.html`` and ``portfolio.json`` for the run in ``out_root`` and point
    ``OUT/latest`` at the newest run."""
    manifest, results = load_run(out_root)
    portfolio = build_portfolio(
        manifest,
        results,
        out_root=out_root,
        project_name=project.name,
        site_names={s.id: s.name for s in project.sites},
        as_of=as_of,
        run_id=run_id,
        today=today(),
        currency=project.currency,
        alpha=project.statistics.alpha,
    )
    atomic_write_json(out_root / PORTFOLIO_FILE, portfolio.to_dict())
    path = atomic_write_text(out_root / "index.html", render_portfolio(portfolio))
    _point_latest(out_root)
    return path


def _point_latest(out_root: Path) -> None:
    """``OUT/latest`` -> the newest as_of folder not after today (:func:`latest_run`; a relative
    symlink, replaced atomically, so a run for today takes it back from a future-dated one)."""
    base = out_root.parent
    run = latest_run(base, today=today())
    if run is not None:
        atomic_symlink(base / LATEST, run)
