"""The email's colours and labels, in one place (the report's palette module will replace the
colours when it lands; the email keeps only these names).

Email clients ignore stylesheets unevenly (Outlook on Windows renders with Word), so the body is
styled inline from these values by the templates.
"""

from __future__ import annotations

#: NHS "Making Data Count" icon colours: improvement blue, concern orange, common-cause grey;
#: ``ink`` and friends are the text and rule colours of the body.
COLOURS: dict[str, str] = {
    "improvement": "#1f5fa8",
    "concern": "#c25400",
    "neutral": "#6a3d9a",
    "common": "#5f6b7a",
    "ink": "#111111",
    "text": "#222222",
    "muted": "#44505c",
    "faint": "#5f6b7a",
    "rule": "#e1e5ea",
    "page": "#f2f4f7",
    "panel": "#ffffff",
    "tile": "#f7f9fb",
    "header": "#1d3557",
    "header_text": "#ffffff",
    "header_muted": "#c9d6e8",
    "warning_bg": "#fff4e5",
    "warning_text": "#6b3d00",
    "warning_rule": "#f0c36d",
    "error_text": "#8a1f11",
    "link": "#1d3557",
}

FONT = "Arial,Helvetica,sans-serif"

#: The icons as text badges (email has no SVG): label and colour name.
VARIATION: dict[str, tuple[str, str]] = {
    "common_cause": ("Common cause variation", "common"),
    "special_cause_improvement": ("Special cause: improving", "improvement"),
    "special_cause_concern": ("Special cause: concerning", "concern"),
    "special_cause_neutral": ("Special cause: neither better nor worse", "neutral"),
}
ASSURANCE: dict[str, tuple[str, str]] = {
    "consistently_meets": ("Consistently meets the target", "improvement"),
    "hit_and_miss": ("Hit and miss against the target", "common"),
    "consistently_fails": ("Consistently fails the target", "concern"),
    "no_target": ("No target", "common"),
}


def badge(kind: str, text: str, table: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """``(label, colour)`` of an icon, or None when there is nothing to show."""
    label, colour = table.get(kind, ("", "common"))
    label = text or label
    return (label, COLOURS[colour]) if label else None
