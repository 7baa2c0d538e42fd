"""One palette: the CSS custom properties, the charts and the email read the same colours."""

from __future__ import annotations

import re

from pipeline.report import palette
from pipeline.report.plots import style
from pipeline.report.templating import TEMPLATES

STATIC = TEMPLATES / "kaizen" / "static"


def test_making_data_count_values() -> None:
    # NHSRplotthedots ptd_spc_colours() (>= 0.2): common_cause "#a6a6a6",
    # special_cause_improvement "#00b0f0", special_cause_concern "#e46c0a",
    # special_cause_neutral "#490092", target "#de1b1b"; before 0.2 the points were
    # "#289de0" (improvement) and "#fab428" (concern).
    assert palette.IMPROVEMENT == "#00B0F0" and palette.CONCERN == "#E46C0A"
    assert palette.COMMON == "#A6A6A6" and palette.NEUTRAL == "#490092"
    assert palette.TARGET == "#DE1B1B"
    assert (palette.IMPROVEMENT_POINT, palette.CONCERN_POINT) == ("#289DE0", "#FAB428")


def test_css_custom_properties_are_rendered_from_the_palette() -> None:
    generated = (STATIC / "palette.css").read_text(encoding="utf-8")
    # regenerate with: python -m pipeline.report.palette > .../static/palette.css
    assert palette.css_custom_properties() in generated
    css = (STATIC / "report.css").read_text(encoding="utf-8")
    # no second set of colour variables (other custom properties, such as the font, may live there)
    assert not re.search(r"--[a-z-]+\s*:\s*#", css)
    for name in ("improve", "concern", "common", "ok", "warn", "fail", "link", "muted", "ink"):
        assert f"var(--{name})" in css and name in palette.CSS_PROPERTIES, name


def test_charts_use_the_palette() -> None:
    assert style.IMPROVEMENT == palette.IMPROVEMENT_POINT
    assert style.CONCERN == palette.CONCERN_POINT
    assert style.COMMON == palette.COMMON
    assert style.TARGET == palette.TARGET


def test_text_shades_are_legible_on_white() -> None:
    """WCAG 2.1 relative luminance and contrast ratio (https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio)."""

    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for colour in (palette.IMPROVEMENT_TEXT, palette.CONCERN_TEXT, palette.COMMON_TEXT):
        assert (1.05) / (luminance(colour) + 0.05) >= 4.5, colour
