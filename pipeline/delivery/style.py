"""The email's colours and icon labels: the report's one palette, as inline styles need it.

Email clients ignore stylesheets unevenly (Outlook on Windows renders with Word), so the body is
styled inline from these names by the templates; every colour comes from
:mod:`pipeline.report.palette` (text-safe shades for text and badges).
"""

from __future__ import annotations

from pipeline.report import palette
from pipeline.vocabulary import AssuranceIcon, VariationIcon

#: Template colour names -> palette colours.
COLOURS: dict[str, str] = {
    **palette.EMAIL,
    "text": palette.INK,
    "faint": palette.COMMON_TEXT,
    "rule": palette.LINE,
    "page": palette.SOFT,
    "panel": palette.BACKGROUND,
    "tile": palette.SOFT,
    "header": palette.INK,
    "header_text": palette.BACKGROUND,
    "header_muted": palette.LINE,
    "warning_bg": palette.WARN_BACKGROUND,
    "warning_text": palette.CONCERN_TEXT,
    "warning_rule": palette.WARN,
    "error_text": palette.FAIL,
    "link": palette.LINK,
}

FONT = "Arial,Helvetica,sans-serif"

#: The icons as text badges (email has no SVG): label and colour name.
VARIATION: dict[str, tuple[str, str]] = {
    VariationIcon.COMMON_CAUSE: ("Common cause variation", "common"),
    VariationIcon.SPECIAL_CAUSE_IMPROVEMENT: ("Special cause: improving", "improvement"),
    VariationIcon.SPECIAL_CAUSE_CONCERN: ("Special cause: concerning", "concern"),
    VariationIcon.SPECIAL_CAUSE_NEUTRAL: ("Special cause: neither better nor worse", "neutral"),
}
ASSURANCE: dict[str, tuple[str, str]] = {
    AssuranceIcon.CONSISTENTLY_MEETS: ("Consistently meets the target", "improvement"),
    AssuranceIcon.HIT_AND_MISS: ("Hit and miss against the target", "common"),
    AssuranceIcon.CONSISTENTLY_FAILS: ("Consistently fails the target", "concern"),
    AssuranceIcon.NO_TARGET: ("No target", "common"),
}


def badge(kind: str, text: str, table: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """``(label, colour)`` of an icon, or None when there is nothing to show."""
    label, colour = table.get(kind, ("", "common"))
    label = text or label
    return (label, COLOURS[colour]) if label else None
