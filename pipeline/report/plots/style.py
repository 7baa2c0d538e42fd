"""Shared look of every chart, and turning a figure into SVG/PNG for reports and emails."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from pipeline.report import palette  # noqa: E402

# NHS "Making Data Count" palette (pipeline.report.palette): improvement blue, concern orange,
# common cause grey; the charts use the published chart-point shades of blue and orange.
IMPROVEMENT = palette.IMPROVEMENT_POINT
CONCERN = palette.CONCERN_POINT
COMMON = palette.COMMON
NEUTRAL = palette.NEUTRAL
CENTRE = palette.CENTRE
LIMIT = palette.LIMIT
TARGET = palette.TARGET
ZONE = palette.ZONE
INK = palette.INK

RC: Any = {
    # every label is data (metric names, event titles): "$" is a currency sign, never mathtext
    "text.parse_math": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.edgecolor": "#b0b0b0",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#ececec",
    "grid.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.fonttype": "none",
    "svg.hashsalt": "kaizen",
}


#: Fixed margins (left, right, top, bottom) in inches for time-series charts: laying out a
#: figure with matplotlib's constrained layout costs about three times as much as drawing it.
SERIES_MARGINS = (0.75, 0.8, 0.42, 0.36)


def new_figure(
    width: float = 7.5,
    height: float = 3.0,
    *,
    margins: tuple[float, float, float, float] | None = None,
) -> tuple[Figure, plt.Axes]:
    """A figure and its axes in the house style (not registered with pyplot's global state).

    With ``margins`` (inches: left, right, top, bottom) the axes get a fixed place, which is
    fast; without, matplotlib's constrained layout fits everything, which is slower.
    """
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout=None if margins else "constrained")
        ax = fig.add_subplot()
    if margins:
        left, right, top, bottom = margins
        fig.subplots_adjust(
            left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height
        )
    return fig, ax


def _plain_text(fig: Figure) -> None:
    """Texts made outside :data:`RC`'s context (titles, legends, annotations) took the global
    ``text.parse_math``; set it off on each, so ``$\\alert$`` or ``$ per $`` shows as written."""
    for text in fig.findobj(Text):
        text.set_parse_math(False)


def figure_to_svg(fig: Figure) -> str:
    """The figure as an SVG document (text kept as text, deterministic ids)."""
    buf = io.StringIO()
    _plain_text(fig)
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def figure_to_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for email ``cid:`` images and ``--format png``)."""
    buf = io.BytesIO()
    _plain_text(fig)
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def truncate(text: str, limit: int = 38) -> str:
    """Shorten at a word boundary with an ellipsis: long titles stay readable on the axis."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–") + "…"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChartImage:
    """A rendered chart with its text alternative; displays itself in a notebook as a <figure>.

    ``alt`` is the text alternative (what the chart shows, in words); ``caption`` is optional
    visible text under the chart. The SVG is rendered at once (reports use it); the PNG (emails,
    ``--format png``) is rendered from the kept figure only when asked for.
    """

    svg: str
    alt: str
    caption: str = ""
    figure: Figure | None = field(default=None, repr=False, compare=False)
    png_bytes: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_figure(cls, fig: Figure, *, alt: str, caption: str = "") -> ChartImage:
        return cls(svg=figure_to_svg(fig), alt=alt, caption=caption, figure=fig)

    @property
    def png(self) -> bytes:
        if self.png_bytes is not None:
            return self.png_bytes
        if self.figure is None:
            raise ValueError("this chart image has no figure to render a PNG from")
        return figure_to_png(self.figure)

    def png_data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def _repr_html_(self) -> str:
        from pipeline.report.templating import render

        return render("site/figure.html.j2", image=self).body
