"""The email body: the HTML and plain-text parts of a site's message, from Jinja2 templates."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from pipeline.delivery.style import ASSURANCE, COLOURS, FONT, VARIATION, badge
from pipeline.delivery.summary import EmailSummary
from pipeline.formatting import count_of, fmt_date
from pipeline.report.results import EMAIL_CHART_CSS_PX, Tile
from pipeline.vocabulary import RunStatus

#: Widest a key chart is shown (CSS px): the width it is drawn for, the chart column of a 390-px
#: phone (see ``pipeline.report.results.EMAIL_CHART_CSS_PX``), centred in the 600-px column.
CHART_WIDTH = EMAIL_CHART_CSS_PX


@functools.cache
def environment() -> jinja2.Environment:
    """Templates in ``pipeline/delivery/templates``; ``*.html.j2`` autoescaped, ``*.txt.j2``
    not (plain text has nothing to escape, and escaping would show ``&amp;`` to the reader)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.delivery", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, **context: Any) -> str:
    """One template with the palette and font in its context."""
    return environment().get_template(name).render(c=COLOURS, font=FONT, **context)


def _meta(s: EmailSummary) -> str:
    # the report's own header words ("Report window", "data up to"): "data as of" beside the
    # as-of date read as a second, conflicting report date
    window = (
        f"Report window {s.window_start} to {fmt_date(s.as_of)}"
        if s.window_start
        else f"Report date {fmt_date(s.as_of)}"
    )
    meta = [window]
    if s.data_freshness:
        meta.append(f"data up to {s.data_freshness}")
    if s.run_id:
        meta.append(f"run {s.run_id}")
    return " · ".join(meta)


def _tile(t: Tile) -> dict[str, Any]:
    badges = [
        b
        for b in (
            badge(t.variation, t.variation_text, VARIATION),
            badge(t.assurance, t.assurance_text, ASSURANCE),
        )
        if b
    ]
    # the level a goal and the change are judged from, as the report's tile gives it: the
    # latest point alone ("1.95 … missed") read like a goal met
    level = f"{t.current_label} {t.current_text}" if t.current_text and t.current_label else ""
    details = [d for d in (level, t.change_text, *(label for label, _ in badges), t.goal_text) if d]
    return {
        "name": t.name,
        "latest": t.latest_text,
        "latest_label": t.latest_label,
        "level": level,
        "change": t.change_text,
        "badges": badges,
        "goal": t.goal_text,
        "details": details,
    }


def charts_note(shown: int, metrics: int) -> str:
    """Says that the email's key charts are a selection, when they are: 'Charts for 3 of 5
    metrics; the other 2 are in the full report.' (empty when every metric's chart is shown)."""
    if not shown or shown >= metrics:
        return ""
    rest = metrics - shown
    return (
        f"Charts for {shown} of {count_of(metrics, 'metric')}; the other {rest} "
        f"{'is' if rest == 1 else 'are'} in the full report."
    )


def _context(s: EmailSummary, *, attachment_note: str, report_link: str) -> dict[str, Any]:
    charts = []
    for chart in s.charts:
        # drawn at twice its pixels (sharp on phones), shown at the width it was drawn for
        width = min(CHART_WIDTH, chart.width or CHART_WIDTH)
        height = round(chart.height * width / chart.width) if chart.width else 0
        charts.append(
            {"cid": chart.cid, "alt": chart.alt, "display_width": width, "display_height": height}
        )
    return {
        "title": f"{s.site_name} — {fmt_date(s.as_of)}",
        "preheader": s.headline or f"{s.site_name}: report for {fmt_date(s.as_of)}",
        "project": s.project,
        "site_name": s.site_name,
        "meta": _meta(s),
        "warnings": s.status == RunStatus.WARNINGS,
        "stale_note": s.stale_note,
        "headline": s.summary.headline,
        "findings": list(s.summary.findings),
        "tiles": [_tile(t) for t in s.summary.tiles],
        "charts": charts,
        "charts_note": charts_note(len(charts), len(s.summary.tiles)),
        "report_link": report_link,
        "attachment_note": attachment_note,
    }


def render_html(s: EmailSummary, *, attachment_note: str, report_link: str = "") -> str:
    """The email's HTML: one column under 600 px, tables and inline styles, ``cid:`` images."""
    return render(
        "site_email.html.j2",
        **_context(s, attachment_note=attachment_note, report_link=report_link),
    )


def render_text(s: EmailSummary, *, attachment_note: str, report_link: str = "") -> str:
    """The plain-text alternative: the same content in lines."""
    return render(
        "site_email.txt.j2",
        **_context(s, attachment_note=attachment_note, report_link=report_link),
    )


def render_failures(
    *, subject: str, lead: str, failures: Sequence[Mapping[str, Any]]
) -> tuple[str, str]:
    """``(text, html)`` of the failure email."""
    context = {"subject": subject, "lead": lead, "failures": list(failures)}
    return render("failure_email.txt.j2", **context), render("failure_email.html.j2", **context)


def size_text(n: int) -> str:
    """A byte count for people: ``12 KB``, ``1.2 MB``."""
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(1, round(n / 1000))} KB"
