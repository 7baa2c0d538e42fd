"""The email body: the HTML and plain-text parts of a site's message."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from pipeline.delivery.summary import SiteSummary, Tile
from pipeline.formatting import fmt_date

# Colours and labels of the NHS "Making Data Count" icons, as text badges (email has no SVG).
_VARIATION = {
    "common_cause": ("Common cause variation", "#5f6b7a"),
    "special_cause_improvement": ("Special cause: improving", "#1f5fa8"),
    "special_cause_concern": ("Special cause: concerning", "#c25400"),
    "special_cause_neutral": ("Special cause: neither better nor worse", "#6a3d9a"),
}
_ASSURANCE = {
    "consistently_meets": ("Consistently meets the target", "#1f5fa8"),
    "hit_and_miss": ("Hit and miss against the target", "#5f6b7a"),
    "consistently_fails": ("Consistently fails the target", "#c25400"),
    "no_target": ("No target", "#5f6b7a"),
}
_FONT = "font-family:Arial,Helvetica,sans-serif;"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(kind: str, text: str, table: Mapping[str, tuple[str, str]]) -> str:
    label, colour = table.get(kind, ("", "#5f6b7a"))
    text = text or label
    if not text:
        return ""
    return (
        f'<span style="{_FONT}display:inline-block;font-size:12px;color:#ffffff;'
        f'background-color:{colour};padding:2px 6px;border-radius:3px;">{_e(text)}</span>'
    )


def _tile_html(t: Tile) -> str:
    rows = [
        f'<div style="{_FONT}font-size:13px;color:#44505c;font-weight:bold;">{_e(t.name)}</div>',
        f'<div style="{_FONT}font-size:22px;color:#111111;font-weight:bold;padding:4px 0;">'
        f"{_e(t.latest)}</div>",
    ]
    if t.change:
        rows.append(f'<div style="{_FONT}font-size:13px;color:#333333;">{_e(t.change)}</div>')
    badges = [
        b
        for b in (
            _badge(t.variation, t.variation_text, _VARIATION),
            _badge(t.assurance, t.assurance_text, _ASSURANCE),
        )
        if b
    ]
    if badges:
        rows.append(f'<div style="padding-top:6px;line-height:22px;">{"<br>".join(badges)}</div>')
    if t.goal:
        rows.append(
            f'<div style="{_FONT}font-size:12px;color:#44505c;padding-top:4px;">{_e(t.goal)}</div>'
        )
    return "".join(rows)


def render_html(s: SiteSummary, *, attachment_note: str) -> str:
    """The email's HTML: table layout, inline styles, ``cid:`` images, every data string escaped."""
    title = f"{s.site_name} — {s.as_of}"
    window = (
        f"Window {s.window_start} to {fmt_date(s.as_of)}"
        if s.window_start
        else (f"Report date {fmt_date(s.as_of)}")
    )
    meta = [window]
    if s.data_freshness:
        meta.append(f"data as of {s.data_freshness}")
    if s.run_id:
        meta.append(f"run {s.run_id}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title></head>",
        '<body style="margin:0;padding:0;background-color:#f2f4f7;">',
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'bgcolor="#f2f4f7" style="background-color:#f2f4f7;"><tr><td align="center" '
        'style="padding:16px 8px;">',
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'bgcolor="#ffffff" style="width:600px;max-width:100%;background-color:#ffffff;'
        'border:1px solid #d8dde3;">',
        f'<tr><td bgcolor="#1d3557" style="{_FONT}background-color:#1d3557;color:#ffffff;'
        f'padding:16px 20px;"><div style="font-size:12px;color:#c9d6e8;">{_e(s.project)}</div>'
        f'<div style="font-size:20px;font-weight:bold;padding-top:2px;">{_e(s.site_name)}</div>'
        f'<div style="font-size:12px;color:#c9d6e8;padding-top:4px;">{_e(" · ".join(meta))}'
        "</div></td></tr>",
    ]
    if s.status == "warnings":
        parts.append(
            f'<tr><td bgcolor="#fff4e5" style="{_FONT}background-color:#fff4e5;color:#6b3d00;'
            'font-size:13px;padding:10px 20px;border-bottom:1px solid #f0c36d;">'
            "The input data had quality warnings; see the Data quality section of the attached "
            "report.</td></tr>"
        )
    if s.headline:
        parts.append(
            f'<tr><td style="{_FONT}font-size:17px;line-height:24px;color:#111111;'
            f'padding:16px 20px 4px 20px;font-weight:bold;">{_e(s.headline)}</td></tr>'
        )
    if s.findings:
        items = "".join(
            f'<tr><td valign="top" width="16" style="{_FONT}font-size:14px;color:#1d3557;'
            f'padding:3px 0;">&#8226;</td><td style="{_FONT}font-size:14px;line-height:20px;'
            f'color:#222222;padding:3px 0;">{_e(f)}</td></tr>'
            for f in s.findings
        )
        parts.append(
            '<tr><td style="padding:8px 20px;"><table role="presentation" width="100%" '
            f'cellpadding="0" cellspacing="0" border="0">{items}</table></td></tr>'
        )
    if s.tiles:
        rows = []
        for i in range(0, len(s.tiles), 2):
            pair = s.tiles[i : i + 2]
            cells = "".join(
                '<td width="50%" valign="top" style="padding:5px;"><table role="presentation" '
                'width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="#f7f9fb" '
                'style="background-color:#f7f9fb;border:1px solid #e1e5ea;"><tr>'
                f'<td style="padding:10px 12px;">{_tile_html(t)}</td></tr></table></td>'
                for t in pair
            )
            if len(pair) == 1:
                cells += '<td width="50%" style="padding:5px;">&nbsp;</td>'
            rows.append(f"<tr>{cells}</tr>")
        parts.append(
            f'<tr><td style="{_FONT}font-size:15px;font-weight:bold;color:#1d3557;'
            'padding:14px 20px 2px 20px;">Summary</td></tr>'
            '<tr><td style="padding:4px 15px;"><table role="presentation" width="100%" '
            f'cellpadding="0" cellspacing="0" border="0">{"".join(rows)}</table></td></tr>'
        )
    for c in s.charts:
        width = min(560, c.width or 560)
        height = round(c.height * width / c.width) if c.width else 0
        size = f' height="{height}"' if height else ""
        parts.append(
            f'<tr><td style="padding:12px 20px 4px 20px;"><img src="cid:{_e(c.cid)}" '
            f'width="{width}"{size} alt="{_e(c.alt)}" style="display:block;width:100%;'
            f'max-width:{width}px;height:auto;border:0;"></td></tr>'
            f'<tr><td style="{_FONT}font-size:12px;color:#5f6b7a;padding:0 20px 8px 20px;">'
            f"{_e(c.alt)}</td></tr>"
        )
    parts.append(
        f'<tr><td style="{_FONT}font-size:13px;line-height:19px;color:#333333;'
        'padding:14px 20px 18px 20px;border-top:1px solid #e1e5ea;">'
        f"{_e(attachment_note)}</td></tr>"
    )
    parts.append("</table></td></tr></table></body></html>")
    return "\n".join(parts) + "\n"


def render_text(s: SiteSummary, *, attachment_note: str) -> str:
    """The plain-text alternative: the same content in lines."""
    lines = [f"{s.project}: {s.site_name}", f"Report for {fmt_date(s.as_of)}"]
    if s.window_start:
        lines[-1] += f" (window {s.window_start} to {fmt_date(s.as_of)})"
    lines.append("")
    if s.status == "warnings":
        lines += ["Note: the input data had quality warnings; see the attached report.", ""]
    if s.headline:
        lines += [s.headline, ""]
    for f in s.findings:
        lines.append(f"- {f}")
    if s.findings:
        lines.append("")
    if s.tiles:
        lines.append("Summary")
    for t in s.tiles:
        detail = [
            d
            for d in (
                t.change,
                t.variation_text or _VARIATION.get(t.variation, ("",))[0],
                t.assurance_text or _ASSURANCE.get(t.assurance, ("",))[0],
                t.goal,
            )
            if d
        ]
        lines.append(f"* {t.name}: {t.latest}")
        lines += [f"    {d}" for d in detail]
    if s.tiles:
        lines.append("")
    lines.append(attachment_note)
    return "\n".join(lines) + "\n"


def size_text(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(1, round(n / 1000))} KB"
