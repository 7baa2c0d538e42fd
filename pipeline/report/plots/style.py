"""Shared look of every chart, and turning a figure into SVG/PNG for reports and emails.

A chart the page shows open is drawn once and saved twice: at its own size for wide screens and
print, and as a narrow variant (:data:`NARROW_WIDTH` inches, type scaled up) that the page shows
below 600 px, so chart text stays at least 10 px on a 390-px phone. A chart without a narrow
variant (in a closed panel, or the roadmap timeline; each save costs as much as the other) scrolls
sideways on a phone at a legible width (``ChartImage.min_width``). Charts use the page's font stack
(:data:`FONT_STACK`, the same list as ``report.css``), one style of date axis
(:func:`date_axis`) and percent axes for proportions (:func:`percent_axis`).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text as _mtext  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.backends.backend_mixed import MixedModeRenderer  # noqa: E402
from matplotlib.backends.backend_svg import RendererSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.textpath import TextToPath  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedFormatter,
    FixedLocator,
    Formatter,
    FuncFormatter,
    NullFormatter,
    NullLocator,
)
from matplotlib.transforms import Bbox, IdentityTransform  # noqa: E402

from pipeline.formatting import compact_scale, fmt_compact, fmt_number, shorten  # noqa: E402
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
BACKGROUND = palette.BACKGROUND

#: One font stack for the page (``report.css``'s ``--font``) and the charts' SVG text. Chart text
#: is laid out with DejaVu Sans; Verdana, which most machines without DejaVu have, is as wide.
FONT_STACK = (
    "DejaVu Sans",
    "Verdana",
    "Segoe UI",
    "Roboto",
    "Helvetica Neue",
    "Arial",
    "sans-serif",
)
#: Smallest type on any chart (points at the figure's own size).
MIN_FONT = 8.0
#: Width (inches) of the narrow variant, and its smallest type: 10 pt on a 4.6-inch (331 pt)
#: figure shown 370 px wide is 11.2 px.
NARROW_WIDTH = 4.6
NARROW_MIN_FONT = 10.0
#: Longest text (characters) on a narrow chart; longer labels are shortened at a word boundary.
NARROW_TEXT = 30
#: A narrow chart's title wraps onto lines of at most this many characters instead (it names
#: the metric: "Defective wafers per lot…" left the reader to guess the rest), at most
#: NARROW_TITLE_LINES of them: on two, "Schedule variance of completed work packages: limits
#: recalculated per phase" read "...work packages: limits…", and the chart's kind was lost.
NARROW_TITLE = 30
NARROW_TITLE_LINES = 3

RC: Any = {
    # every label is data (metric names, event titles): "$" is a currency sign, never mathtext
    "text.parse_math": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.family": "sans-serif",
    "font.sans-serif": list(FONT_STACK[:-1]),
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
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "axes.formatter.use_mathtext": False,
    "axes.unicode_minus": True,
    "svg.fonttype": "none",
    "svg.hashsalt": "kaizen",
}


#: The font-family lists that decide which font a generic family ("sans-serif") resolves to.
_FAMILY_RC = ("font.serif", "font.sans-serif", "font.cursive", "font.fantasy", "font.monospace")


@functools.lru_cache(maxsize=16384)
def _svg_text_metrics(text: str, fontprop: Any, ismath: Any, _families: Any) -> Any:
    return _TEXT_TO_PATH.get_text_width_height_descent(text, fontprop, ismath)


def _text_metrics(renderer: Any, text: str, fontprop: Any, ismath: Any, dpi: float) -> Any:
    """Text metrics, cached for the whole process when measured for SVG.

    matplotlib caches a text's width, height and descent per renderer object, and each save
    makes a new renderer, so every save (the wide drawing, the narrow one, every chart of a
    site) measured the same tick labels and titles afresh: laying text out was about a sixth of
    drawing a chart. What the SVG renderer measures depends only on the string, the font
    properties and the fonts that the generic families resolve to (it measures at a fixed size
    and scales, whatever the figure's dpi: ``TextToPath``), so one cache keyed on those serves
    every SVG renderer, with the same numbers. Other renderers (Agg for PNGs) keep matplotlib's
    own cache. matplotlib's own test suite replaces the same function to fix text metrics.
    """
    # a save to SVG draws through a MixedModeRenderer around the SVG renderer (or, while it
    # rasterises an artist, around an Agg one)
    inner = renderer._renderer if type(renderer) is MixedModeRenderer else renderer
    if type(inner) is RendererSVG and ismath != "TeX":
        rc: Any = matplotlib.rcParams
        families = tuple(tuple(rc[k]) for k in _FAMILY_RC)
        return _svg_text_metrics(text, fontprop.copy(), ismath, families)
    return _MATPLOTLIB_TEXT_METRICS(renderer, text, fontprop, ismath, dpi)


_MATPLOTLIB_TEXT_METRICS = _mtext._get_text_metrics_with_cache  # type: ignore[attr-defined]
_TEXT_TO_PATH = TextToPath()
_mtext._get_text_metrics_with_cache = _text_metrics  # type: ignore[attr-defined]

#: Laid-out texts for SVG saves (see :func:`_text_layout`), at most :data:`_LAYOUTS_MAX`.
_LAYOUTS: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_LAYOUTS_MAX = 16384


def _text_layout(text: Text, renderer: Any) -> Any:
    """A text's layout (its box, and each line's size and place), kept for the whole process
    when laid out for SVG.

    matplotlib lays a text out afresh each time it is measured or drawn (``Text._get_layout``):
    a tick label is laid out about five times per save (the axis's tick-label extents, the axis
    label's and the title's placement, drawing it), and since matplotlib 3.10 each layout also
    looks up the font's height metrics through the font manager. For the SVG renderer the
    layout depends only on the text, its font properties and the fonts the generic families
    resolve to (text metrics: :func:`_text_metrics`), the figure's dpi, and the text's line
    spacing, alignment and rotation, which is the key here; positions are applied afterwards
    by matplotlib. A wrapped, TeX or mathtext text, or any other renderer, gets matplotlib's.
    """
    inner = renderer._renderer if type(renderer) is MixedModeRenderer else renderer
    t: Any = text  # matplotlib's private attributes, which its stubs do not name
    fig: Any = text.figure
    if (
        type(inner) is not RendererSVG
        or fig is None
        or text.get_usetex()
        or text.get_wrap()
        or text.get_parse_math()
    ):
        return _MATPLOTLIB_TEXT_LAYOUT(text, renderer)
    rc: Any = matplotlib.rcParams
    key = (
        text.get_text(),
        text.get_fontproperties().copy(),
        tuple(tuple(rc[k]) for k in _FAMILY_RC),
        float(fig.dpi),
        t._linespacing,
        t._get_multialignment(),
        text.get_rotation(),
        text.get_horizontalalignment(),
        text.get_verticalalignment(),
        text.get_rotation_mode(),
    )
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout = tuple(_MATPLOTLIB_TEXT_LAYOUT(text, renderer))
        if len(_LAYOUTS) >= _LAYOUTS_MAX:
            _LAYOUTS.clear()
        _LAYOUTS[key] = layout
    # the caller gets its own box and line list, as from matplotlib
    return tuple(
        Bbox(x.get_points().copy())
        if isinstance(x, Bbox)
        else list(x)
        if isinstance(x, list)
        else x
        for x in layout
    )


_MATPLOTLIB_TEXT_LAYOUT: Any = getattr(Text, "_get_layout", None)
if _MATPLOTLIB_TEXT_LAYOUT is not None and hasattr(Text, "_get_multialignment"):
    Text._get_layout = _text_layout  # type: ignore[attr-defined]


class _Axes(Axes):
    """The house axes: matplotlib's, placing titles without measuring the y axis when there is
    nothing there to avoid.

    Before each draw matplotlib lifts a title clear of the x axis's tick labels when they are on
    top, and of the y axis's offset text ("1e6") if that overlaps it; to find the offset text it
    works out the whole y axis's extent (its ticks and every tick label) once per title, a tenth
    of drawing a chart. Our charts put x ticks at the bottom and their y formatters (fixed while
    a figure is saved, :func:`_fixed_ticks`) write no offset, so for them this is matplotlib's
    own placement without that measuring; any other axes goes through matplotlib's.
    """

    def _update_title_position(self, renderer: Any) -> None:
        me: Any = self  # matplotlib's private attributes, which its stubs do not name
        titles = (me.title, me._left_title, me._right_title)
        formatter = self.yaxis.get_major_formatter()
        if (
            me._autotitlepos is False
            or not any(t.get_text() for t in titles)
            or self.child_axes
            or len(me._twinned_axes.get_siblings(self)) > 1
            or len(me.get_figure(root=False)._align_label_groups["title"].get_siblings(self)) > 1
            or self.xaxis.get_ticks_position() in ("top", "unknown")
            or self.xaxis.get_label_position() == "top"
            or not isinstance(
                formatter, FixedFormatter | FuncFormatter | NullFormatter | _CompactFormatter
            )
            or formatter.get_offset()
        ):
            Axes._update_title_position(self, renderer)  # type: ignore[attr-defined]
            return
        # matplotlib's placement (Axes._update_title_position) for one axes, no twins or
        # children, x ticks at the bottom and no offset text on the y axis
        top = self.get_window_extent().ymax
        for title in titles:
            x, _ = title.get_position()
            title.set_position((x, 1.0))
            if top < 0:
                return
            if title.get_window_extent(renderer).ymin < top:
                _, y = self.transAxes.inverted().transform((0, top))
                title.set_position((x, y))
                if title.get_window_extent(renderer).ymin < top:
                    _, y = self.transAxes.inverted().transform(
                        (0.0, 2 * top - title.get_window_extent(renderer).ymin)
                    )
                    title.set_position((x, y))
        ymax = max(title.get_position()[1] for title in titles)
        for title in titles:
            x, _ = title.get_position()
            title.set_position((x, ymax))


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
    fast; without, matplotlib's constrained layout fits everything, which is slower. Taken from
    the stock of blank figures (:func:`stock_figures`) while it lasts.
    """
    stock = _STOCK[bool(margins)]
    if stock:
        fig, ax = stock.pop()
        fig.set_size_inches(width, height)
    else:
        fig, ax = _blank_figure(width, height, fixed=bool(margins))
    setattr(fig, _MARGINS_ATTR, margins)  # the narrow variant scales them
    if margins:
        _place(fig, margins, width, height)
    return fig, ax


def _blank_figure(width: float, height: float, *, fixed: bool) -> tuple[Figure, plt.Axes]:
    """A new figure and axes in the house style: fixed margins (placed by the caller) or
    matplotlib's constrained layout."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout=None if fixed else "constrained")
        ax = fig.add_subplot(axes_class=_Axes)
    return fig, ax


#: Blank figures made ahead by :func:`stock_figures` for :func:`new_figure` to hand out, by
#: layout: fixed margins (True) or constrained (False).
_STOCK: dict[bool, list[tuple[Figure, plt.Axes]]] = {True: [], False: []}
#: Ticks made ahead on each axis of a stocked figure: as many as a date axis or a y axis of
#: ours shows, and one or two either side of the view (matplotlib makes ticks for those too).
STOCK_TICKS = 12


def stock_figures(fixed: int = 32, constrained: int = 4) -> None:
    """Make blank figures now, each with :data:`STOCK_TICKS` ticks on either axis, for
    :func:`new_figure` to hand out instead of making them while a site draws.

    Making a figure, its axes and its ticks took about 6 ms of each chart's drawing (matplotlib
    makes each tick's two marks, grid line and two labels one by one), and a site draws some
    twenty figures: with a stock, a 24-site run took 7 % less CPU. The warm kernel process calls
    this once before it forks (:mod:`pipeline.run.kernels`), so every site's kernel starts with
    its own stock, for free.

    A stocked figure is a new one made earlier, in the same style: :func:`new_figure` sizes and
    places it as it would a new one, the ticks carry whatever the chart sets later (matplotlib
    applies ``tick_params`` to the ticks an axis already has), and a test compares every
    section's HTML with and without the stock, byte for byte. A site that draws more figures
    than the stock holds makes the rest as before. The default holds the most a demo site
    draws (23 with fixed margins, 2 with constrained layout) with room to spare.
    """
    for layout, count in ((True, fixed), (False, constrained)):
        for _ in range(count):
            fig, ax = _blank_figure(7.5, 3.0, fixed=layout)
            with matplotlib.rc_context(RC):  # ticks as new_figure's axes would make them
                ax.xaxis.get_major_ticks(STOCK_TICKS)
                ax.yaxis.get_major_ticks(STOCK_TICKS)
            _STOCK[layout].append((fig, ax))


def _plain_text(fig: Figure) -> None:
    """Texts made outside :data:`RC`'s context (titles, legends, annotations) took the global
    ``text.parse_math``; set it off on each, so ``$\\alert$`` or ``$ per $`` shows as written."""
    for text in _texts(fig):
        text.set_parse_math(False)


def _texts(fig: Figure) -> list[Text]:
    """Every text artist of ``fig``, as ``fig.findobj(Text)`` finds them, but an axis gives only
    the ticks it has: ``Axis.get_children`` (what ``findobj`` walks) first works out the ticks
    again, and that made up a tenth of drawing a chart. Ticks an axis makes while it is drawn are
    made inside :data:`RC`'s context, so they start plain too."""
    found: list[Text] = []
    stack: list[Artist] = [fig]
    while stack:
        artist = stack.pop()
        if isinstance(artist, Text):
            found.append(artist)
        if isinstance(artist, Axis):
            stack += [artist.label, artist.offsetText, *artist.majorTicks, *artist.minorTicks]
        else:
            stack += artist.get_children()
    return found


@contextmanager
def _fixed_ticks(fig: Figure) -> Iterator[None]:
    """While ``fig`` is saved, each axis's major ticks are the ones its locator and formatter
    give now, held fixed; the real locator and formatter come back afterwards.

    One draw asks an axis for its ticks about ten times (tick labels, axis label and title
    placement, the legend); with a date axis each ask re-runs the date rules. The ticks cannot
    change within one save (same limits, size and fonts), so the picture is the same, byte for
    byte; the narrow variant and the PNG each work theirs out afresh.
    """
    saved: list[tuple[Any, Any, Any]] = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            major = axis.major
            formatter = axis.get_major_formatter()
            if isinstance(axis.get_major_locator(), NullLocator | FixedLocator):
                continue
            locs = [float(v) for v in axis.get_majorticklocs()]
            fixed_fmt = FixedFormatter(formatter.format_ticks(locs))
            fixed_fmt.set_offset_string(formatter.get_offset())
            fixed_loc = FixedLocator(locs)
            fixed_loc.set_axis(axis)
            fixed_fmt.set_axis(axis)
            saved.append((major, major.locator, major.formatter))
            # assigned directly: the setters would also mark the axis as no longer default
            major.locator, major.formatter = fixed_loc, fixed_fmt
    try:
        yield
    finally:
        for major, locator, formatter in saved:
            major.locator, major.formatter = locator, formatter


_MARGINS_ATTR = "_kaizen_margins"


def _place(fig: Figure, margins: tuple[float, float, float, float], width: float, height: float):
    left, right, top, bottom = margins
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height
    )


def _text_width(text: str, prop: Any) -> float:
    """Width in points of ``text`` set in ``prop`` (the SVG renderer's measure, cached)."""
    rc: Any = matplotlib.rcParams
    families = tuple(tuple(rc[k]) for k in _FAMILY_RC)
    return float(_svg_text_metrics(text, prop.copy(), False, families)[0])


def fit_margins(fig: Figure, ax: plt.Axes, *, right_texts: Sequence[Text] = ()) -> None:
    """Widen a figure's fixed margins where its texts need more: the left one to the y axis's
    widest tick label and the axis label beside it ("−1,250,000" pushed "hours" off the
    figure), the right one to the widest of ``right_texts`` (texts placed just right of the
    axes: the UCL/CL/LCL labels). The narrow variant scales the margins with its type, so what
    fits here fits on a phone. Margins are never narrowed; a figure without fixed margins
    (constrained layout) is left alone."""
    margins = getattr(fig, _MARGINS_ATTR, None)
    if not margins:
        return
    left, right, top, bottom = margins
    width, height = (float(v) for v in fig.get_size_inches())
    with matplotlib.rc_context(RC):
        lo, hi = sorted(ax.yaxis.get_view_interval())
        locs = [float(v) for v in ax.yaxis.get_majorticklocs() if lo <= v <= hi]
        labels = ax.yaxis.get_major_formatter().format_ticks(locs) if locs else []
        tick = ax.yaxis.get_major_ticks()[0]
        prop = tick.label1.get_fontproperties()
        widest = max((_text_width(str(t), prop) for t in labels if t), default=0.0)
        pad = float(cast("Any", tick).get_pad())  # points (its stub says it returns None)
        need = widest + tick.get_tick_padding() + pad
        if ax.get_ylabel():
            # the rotated label's height is about its font size, and its pad
            need += 1.25 * float(ax.yaxis.label.get_fontsize()) + float(ax.yaxis.labelpad)
        need_right = max(
            (_text_width(t.get_text(), t.get_fontproperties()) for t in right_texts),
            default=0.0,
        )
    # 3 points to spare either side (the figure's edge, the offset of the right-hand texts)
    left = max(left, (need + 3) / 72)
    right = max(right, (need_right + 5) / 72) if right_texts else right
    if (left, right) != margins[:2]:
        setattr(fig, _MARGINS_ATTR, (left, right, top, bottom))
        _place(fig, (left, right, top, bottom), width, height)


def spread_apart(ys: Sequence[float], *, gap: float, lo: float, hi: float) -> list[float]:
    """Places for labels wanted at ``ys`` (top first, in display units) at least ``gap``
    apart, each moved as little as it can be, and all within ``lo`` .. ``hi`` where they fit.

    Labels too close run together into one block centred on their wanted places (the mean of
    them, less their spacing: pool-adjacent-violators, so each block is as near its labels as
    the spacing allows), blocks that then touch merge in turn; the whole is then shifted inside
    ``lo`` .. ``hi``. Labels already ``gap`` apart stay where they are."""
    blocks: list[tuple[int, int, float]] = []  # (first label, labels, top)
    for i, y in enumerate(ys):
        blocks.append((i, 1, float(y)))
        while len(blocks) > 1:
            (a, na, top_a), (_, nb, top_b) = blocks[-2], blocks[-1]
            if top_b <= top_a - na * gap:
                break
            n = na + nb
            top = sum(float(ys[j]) + (j - a) * gap for j in range(a, a + n)) / n
            blocks[-2:] = [(a, n, top)]
    out = [top - k * gap for _, n, top in blocks for k in range(n)]
    if out and out[0] > hi:
        out = [y - (out[0] - hi) for y in out]
    if out and out[-1] < lo:
        out = [y + (lo - out[-1]) for y in out]
    return out


def date_axis(ax: plt.Axes, *, maxticks: int = 8) -> None:
    """The one date axis of every chart: month names, the year where it changes ("2026", "Feb",
    "Mar"), no offset text in the corner."""
    loc = mdates.AutoDateLocator(minticks=3, maxticks=maxticks)
    fmt = mdates.ConciseDateFormatter(
        loc,
        formats=["%Y", "%b", "%d %b", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y", "%b", "%d %b", "%H:%M", "%H:%M"],
        offset_formats=["", "", "", "", "", ""],
    )
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(fmt)


def percent_axis(ax: plt.Axes, *, axis: str = "y") -> None:
    """Tick labels of a proportion (0-1) as percentages: 0.25 -> "25%"."""

    def label(v: float, _pos: int) -> str:
        pct = v * 100
        return fmt_number(pct, digits=0 if abs(pct) >= 10 or pct == 0 else 1) + "%"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(label))


def number_axis(ax: plt.Axes, *, axis: str = "y") -> None:
    """Tick labels through the report's number formatter (one minus sign, thousands separators);
    large and very small ticks compact, with one suffix for the whole axis ("950bn", "1.00tn"
    ran off the figure as "1,000,000,000,000": :func:`~pipeline.formatting.fmt_compact`)."""

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(_CompactFormatter())


class _CompactFormatter(Formatter):
    """:func:`number_axis`'s tick labels: the suffix and decimals are worked out once from all
    of an axis's ticks (:meth:`set_locs`, which matplotlib calls before it labels them), not
    again for every label."""

    def __init__(self) -> None:
        self._form: tuple[int, tuple[float, str]] | None = None

    def set_locs(self, locs: Any) -> None:
        super().set_locs(locs)
        scale = compact_scale(max((abs(float(x)) for x in locs), default=0.0))
        self._form = (_tick_digits(locs, scale[0]), scale)

    def __call__(self, x: float, pos: int | None = None) -> str:
        if self._form is None and isinstance(self.axis, Axis):  # labelled before any set_locs
            self.set_locs(self.axis.get_majorticklocs())
        digits, scale = self._form or (0, (1.0, ""))
        return fmt_compact(x, digits=digits, scale=scale)


def _tick_digits(locs: Any, factor: float = 1.0) -> int:
    """Decimals that write the step between ticks (a sequence or array of their places)
    exactly, in units of ``factor``."""
    if len(locs) < 2:
        return 0
    step = abs(float(locs[1] - locs[0])) / factor
    digits = 0
    # enough decimals to write the step exactly: ticks 0.25 apart need two (2.75, not 2.8)
    while step and abs(step * 10**digits - round(step * 10**digits)) > 1e-6 and digits < 6:
        digits += 1
    return digits


def figure_to_svg(fig: Figure, *, point_titles: Sequence[str] = ()) -> str:
    """The figure as an SVG document (text kept as text, deterministic ids).

    ``point_titles``: one tooltip per point of the scatter whose gid is :data:`POINTS_GID`, in
    the order its points were given; each point becomes ``<g><title>…</title>point</g>``, which
    browsers show on hover (no JavaScript).
    """
    buf = io.StringIO()
    _plain_text(fig)
    with matplotlib.rc_context(RC), _fixed_ticks(fig):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    return _with_titles(svg, point_titles) if point_titles else svg


#: gid of the scatter whose points get a ``<title>`` each (see :func:`figure_to_svg`).
POINTS_GID = "kz-points"
_POINT = re.compile(r"<(?:path|use)\b[^>]*?/>", re.S)


def _with_titles(svg: str, titles: Sequence[str]) -> str:
    head = f'<g id="{POINTS_GID}">'
    a = svg.find(head)
    if a < 0:
        return svg
    b = svg.find("\n   </g>", a)  # the group's own closing tag (matplotlib indents by level)
    body = svg[a + len(head) : b]
    defs_end = body.rfind("</defs>")
    offset = defs_end + len("</defs>") if defs_end >= 0 else 0
    items = iter(titles)

    def wrap(m: re.Match[str]) -> str:
        title = next(items, None)
        if title is None:
            return m.group(0)
        return f"<g><title>{html.escape(title, quote=False)}</title>{m.group(0)}</g>"

    body = body[:offset] + _POINT.sub(wrap, body[offset:])
    return svg[: a + len(head)] + body + svg[b:]


def narrow_svg(fig: Figure, *, point_titles: Sequence[str] = ()) -> str:
    """The figure redrawn for a phone (:func:`narrow_layout`); the figure is restored
    afterwards (the PNG for emails keeps the full size). Ids are prefixed so the two SVGs of
    one chart never share one."""
    with narrow_layout(fig):
        svg = figure_to_svg(fig, point_titles=point_titles)
    svg = re.sub(r'\bid="', 'id="n-', svg)
    svg = svg.replace("url(#", "url(#n-").replace('xlink:href="#', 'xlink:href="#n-')
    return svg


@contextmanager
def narrow_layout(fig: Figure) -> Iterator[None]:
    """While inside, ``fig`` is laid out for a phone: :data:`NARROW_WIDTH` inches wide, every
    text scaled so the smallest is :data:`NARROW_MIN_FONT` pt, margins scaled alike, long
    texts shortened, a legend above the axes moved under them; all restored on leaving."""
    width, height = (float(v) for v in fig.get_size_inches())
    texts = [t for t in _texts(fig) if t.get_text()]
    ticks = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = axis.get_ticklabels()
            if labels:
                ticks.append((ax, axis, float(labels[0].get_fontsize())))
    sizes = [float(t.get_fontsize()) for t in texts] + [s for _, _, s in ticks]
    smallest = min(sizes) if sizes else NARROW_MIN_FONT
    k = max(1.0, NARROW_MIN_FONT / smallest)
    new_w = min(width, NARROW_WIDTH)
    new_h = height * max(1.0, min(k, 1.5)) * (1.0 if new_w == width else 1.12)
    saved_text = [(t, t.get_fontsize()) for t in texts]
    titles = {id(x) for ax in fig.axes for x in _axes_titles(ax)}
    saved_words = [(t, t.get_text()) for t in texts if len(t.get_text()) > NARROW_TEXT]
    formatters = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            f = axis.get_major_formatter()
            if isinstance(f, FixedFormatter):
                formatters.append((f, list(f.seq)))
    # a legend above the axes (beside the title) moves under the chart: no room beside it
    legends: list[tuple[Any, Any, Any]] = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None and leg.get_bbox_to_anchor().y0 >= ax.bbox.y1 - 1:
            legends.append((leg, getattr(leg, "_loc", 0), leg.get_bbox_to_anchor()))
    saved_pars = (
        fig.subplotpars.left,
        fig.subplotpars.right,
        fig.subplotpars.top,
        fig.subplotpars.bottom,
    )
    try:
        for t, size in saved_text:
            t.set_fontsize(float(size) * k)
        title_lines = 1
        for t, words in saved_words:
            if id(t) in titles:
                lines = wrap_title(words, NARROW_TITLE)
                title_lines = max(title_lines, len(lines))
                t.set_text("\n".join(lines))
            else:
                t.set_text(shorten(words, NARROW_TEXT))
        for f, seq in formatters:
            f.seq = [shorten(str(w), NARROW_TEXT) for w in seq]
        for leg, _loc, _box in legends:
            leg.set_bbox_to_anchor((0.01, 0.0), transform=fig.transFigure)
            leg.set_loc("lower left")
        for ax, axis, size in ticks:
            ax.tick_params(axis="x" if axis is ax.xaxis else "y", labelsize=size * k)
        fig.set_size_inches(new_w, new_h)
        margins = getattr(fig, _MARGINS_ATTR, None)
        if margins:
            left, right, top, bottom = margins
            extra = 0.28 * k if legends else 0.0
            # a title's second line: its font size (points) and a little leading, in inches
            above = (title_lines - 1) * _title_size(fig) * 1.25 / 72  # sizes are scaled already
            new_h += extra + above
            fig.set_size_inches(new_w, new_h)
            _place(fig, (left * k, right * k, top * k + above, bottom * k + extra), new_w, new_h)
        yield
    finally:
        for t, size in saved_text:
            t.set_fontsize(size)
        for t, words in saved_words:
            t.set_text(words)
        for f, seq in formatters:
            f.seq = seq
        for leg, loc, box in legends:
            # ``box`` is already in display units: anchored as it is, not through the axes again
            leg.set_bbox_to_anchor(box, transform=IdentityTransform())
            leg.set_loc(loc)
        for ax, axis, size in ticks:
            ax.tick_params(axis="x" if axis is ax.xaxis else "y", labelsize=size)
        fig.set_size_inches(width, height)
        if getattr(fig, _MARGINS_ATTR, None):
            left_, right_, top_, bottom_ = saved_pars
            fig.subplots_adjust(left=left_, right=right_, top=top_, bottom=bottom_)


def figure_to_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for email ``cid:`` images and ``--format png``)."""
    buf = io.BytesIO()
    _plain_text(fig)
    with matplotlib.rc_context(RC), _fixed_ticks(fig):
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def wrap_title(text: str, width: int, *, lines: int = NARROW_TITLE_LINES) -> list[str]:
    """A title on at most ``lines`` lines of about ``width`` characters, broken between words;
    what does not fit on them is shortened on the last (:func:`~pipeline.formatting.shorten`),
    the metric's name before the chart's kind after it (:func:`fit_title`)."""
    words = " ".join(str(text).split())
    out, rest = _wrap(words, width, lines)
    limit = len(words)
    while len(rest) > width and ": " in words and limit > 2 * width:
        limit -= 1  # the title in fewer characters, its kind kept, until the lines hold it
        out, rest = _wrap(fit_title(words, limit), width, lines)
    return [*out, shorten(rest, width)]


def _wrap(words: str, width: int, lines: int) -> tuple[list[str], str]:
    """The first ``lines - 1`` lines of ``words`` broken between words, and what is left."""
    out: list[str] = []
    while len(words) > width and len(out) < lines - 1:
        cut = words.rfind(" ", 0, width + 1)
        if cut <= 0:
            break
        out.append(words[:cut])
        words = words[cut + 1 :]
    return out, words


def set_fitted_title(ax: plt.Axes, text: str, *, pad: float = 6.0) -> Text:
    """Set ``ax``'s left title and, if it runs past the figure's right edge, shorten it the
    way :func:`fit_title` does until it fits, measured in the title's font (a character count
    let "...: limits recalculated per phase" of a long metric name run off the edge)."""
    title = ax.set_title(" ".join(str(text).split()), loc="left", pad=pad)
    full = title.get_text()
    fig_width = float(ax.get_figure(root=True).get_figwidth())  # type: ignore[union-attr]
    room = (1 - ax.get_position().x0) * fig_width * 72 - 4  # points, 4 to spare
    prop = title.get_fontproperties()
    width = _text_width(full, prop)
    if width <= room:
        return title
    limit = min(len(full) - 1, int(len(full) * room / width) + 2)
    while limit > 8 and _text_width(fit_title(full, limit), prop) > room:
        limit -= 1
    title.set_text(fit_title(full, limit))
    return title


def fit_title(text: str, limit: int) -> str:
    """A chart title ("<metric>: <kind of chart>") in ``limit`` characters: the metric's name is
    shortened at a word boundary and the kind after the last ": " kept whole, since two charts
    of one metric differ only by it ("...: limits recalculated per phase", "...: against the
    frozen baseline")."""
    text = " ".join(str(text).split())
    head, sep, kind = text.rpartition(": ")
    if len(text) <= limit or not sep or len(kind) > limit // 2:
        return shorten(text, limit)
    return f"{shorten(head, limit - len(kind) - 2)}: {kind}"


def _axes_titles(ax: plt.Axes) -> list[Text]:
    """An axes' three titles (centre, left, right; matplotlib keeps the side ones private)."""
    return [
        x
        for x in (ax.title, *(getattr(ax, a, None) for a in ("_left_title", "_right_title")))
        if x is not None
    ]


def _title_size(fig: Figure) -> float:
    sizes = [float(t.get_fontsize()) for ax in fig.axes for t in _axes_titles(ax) if t.get_text()]
    return max(sizes) if sizes else 10.0


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
    narrow: str = ""
    min_width: int = 0
    figure: Figure | None = field(default=None, repr=False, compare=False)
    png_bytes: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_figure(
        cls,
        fig: Figure,
        *,
        alt: str,
        caption: str = "",
        point_titles: Sequence[str] = (),
        has_narrow: bool = True,
    ) -> ChartImage:
        """Render ``fig`` as SVG, and as its narrow phone variant unless ``has_narrow`` is
        False: then a phone scrolls the chart sideways at ``min_width`` px, the width at which
        its smallest text is 10.5 px (a timeline whose labels cannot shrink with the page, a
        chart in a closed panel: the narrow save would cost as much as the wide one)."""
        svg = figure_to_svg(fig, point_titles=point_titles)
        small = narrow_svg(fig, point_titles=point_titles) if has_narrow else ""
        min_width = 0
        if not has_narrow:
            sizes = [float(t.get_fontsize()) for t in _texts(fig) if t.get_text()]
            if sizes:
                min_width = int(float(fig.get_size_inches()[0]) * 72 * 10.5 / min(sizes)) + 1
        return cls(svg=svg, alt=alt, caption=caption, narrow=small, min_width=min_width, figure=fig)

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
