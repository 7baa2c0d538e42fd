"""Charts as a reader sees them: whole signal patterns coloured, a hover title per point, a
narrow drawing for phones with legible type, provisional phases marked, bounded axes, percent
axes for proportions, and one font stack for page and charts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.report.plots.control import pattern_labels, plot_control_chart, signal_name
from pipeline.report.plots.style import (
    FONT_STACK,
    NARROW_MIN_FONT,
    NARROW_WIDTH,
    figure_to_png,
    figure_to_svg,
)
from pipeline.stats.spc import control_chart

CSS = Path(__file__).parents[1] / "pipeline/report/templates/kaizen/static/report.css"
WEEKS = pd.date_range("2025-01-06", periods=30, freq="W-MON")


def _run_series() -> np.ndarray:
    """20 points alternating around 10, then 10 points at 9.5 (all below the centre line)."""
    return np.r_[np.tile([9.0, 11.0], 10), np.full(10, 9.5)]


def test_a_run_is_coloured_whole_and_the_chart_keeps_the_exact_flags():
    ch = control_chart(_run_series(), times=WEEKS, rules="we", better="lower")
    # Western Electric rule 4: 8 consecutive points on one side; it flags the 8th point of the
    # run (index 27) and the points that continue it (28, 29)
    assert np.flatnonzero(ch.flags["we4"]).tolist() == [27, 28, 29]
    labels = pattern_labels(ch)
    # the run began at index 20 (index 19 is 11.0, above the centre): all ten points coloured
    assert np.flatnonzero(labels == "improvement").tolist() == list(range(20, 30))
    assert signal_name("we4", -1) == "8 points in a row below the centre line"


def test_every_point_has_a_hover_title_with_date_value_and_signals():
    ch = control_chart(_run_series(), times=WEEKS, rules="we", better="lower")
    image = plot_control_chart(ch, title="Lead time", unit="days")
    titles = re.findall(r"<title>(.*?)</title>", image.svg, re.S)
    assert len(titles) == 30
    assert titles[0] == "6 Jan 2025 · 9.00 days"  # the page's date style
    assert titles[29].startswith("28 Jul 2025 · 9.50 days\n8 points in a row below the centre line")
    assert "(improvement)" in titles[29]
    assert len(re.findall(r"<title>", image.narrow)) == 30


def _font_sizes(svg: str) -> list[float]:
    return [float(v) for v in re.findall(r"font-size: ([0-9.]+)px", svg)]


def test_the_narrow_drawing_keeps_text_legible_on_a_phone():
    ch = control_chart(_run_series(), times=WEEKS, rules="we")
    image = plot_control_chart(ch, title="Lead time", unit="days")
    width_pt = float(re.search(r'width="([0-9.]+)pt"', image.narrow).group(1))
    assert width_pt == NARROW_WIDTH * 72
    # shown 370 px wide (a 390-px phone less the page's padding), the smallest text is 10 px+
    assert min(_font_sizes(image.narrow)) * 370 / width_pt >= 10
    assert min(_font_sizes(image.narrow)) >= NARROW_MIN_FONT - 1e-9
    html = image._repr_html_()
    assert 'class="chart-wide"' in html and 'class="chart-narrow"' in html
    # the two drawings share no id (a hidden SVG's clip path would blank the visible one)
    wide_ids = set(re.findall(r'id="([^"]+)"', image.svg))
    assert wide_ids and not wide_ids & set(re.findall(r'id="([^"]+)"', image.narrow))
    # the wide drawing (and the email PNG from the same figure) is left as it was
    assert image.figure.get_size_inches()[0] == 7.5


def test_after_the_narrow_drawing_the_figure_draws_as_before():
    """``ChartImage.png`` draws from the figure the narrow SVG was drawn from: the legend above
    the axes must go back where it was (it was anchored through the axes twice, off the
    canvas, and FreeType failed with 'raster overflow')."""
    ch = control_chart(_run_series(), times=WEEKS, rules="we", better="lower")
    fresh = plot_control_chart(ch, title="Lead time", unit="days", has_narrow=False)
    drawn = plot_control_chart(ch, title="Lead time", unit="days")
    assert drawn.figure.axes[0].get_legend() is not None
    assert drawn.narrow and figure_to_svg(drawn.figure) == figure_to_svg(fresh.figure)
    assert figure_to_png(drawn.figure) == figure_to_png(fresh.figure)


def test_a_provisional_phase_is_labelled_with_its_points():
    values = np.r_[np.tile([9.0, 11.0], 10), np.tile([6.0, 7.0], 3)]
    ch = control_chart(values, times=WEEKS[:26], phases=[1] * 20 + [2] * 6, min_phase_points=12)
    assert ch.phases[1].is_provisional
    image = plot_control_chart(ch, phase_names={1: "Baseline", 2: "Kanban"})
    assert "Kanban: provisional (6 points)" in image.svg
    assert "provisional, 6 points" in image.alt


def test_a_chart_frozen_at_a_provisional_baseline_says_so():
    """The safety chart's 10-point baseline was drawn provisional on the per-phase chart and
    settled on the frozen one, whose every limit is that baseline's."""
    values = np.r_[np.tile([9.0, 11.0], 5), np.tile([6.0, 7.0], 8)]
    ch = control_chart(values, times=WEEKS[:26], phases=[1] * 10 + [2] * 16, min_phase_points=12,
                       freeze_baseline=True)  # fmt: skip
    assert all(p.is_provisional for p in ch.phases)
    image = plot_control_chart(ch, phase_names={1: "Baseline", 2: "Kanban"})
    assert "Baseline: provisional (10 points)" in image.svg
    assert "Kanban" in image.svg and "Kanban: provisional" not in image.svg
    settled = control_chart(values, times=WEEKS[:26], phases=[1] * 10 + [2] * 16,
                            min_phase_points=8, freeze_baseline=True)  # fmt: skip
    assert "provisional" not in plot_control_chart(settled, phase_names={1: "Baseline"}).svg


def test_bounds_and_non_negative_statistics_keep_the_axis_in_range():
    hours = np.r_[0.5, 9.0, 0.2, 12.0, 0.1, 8.0, 0.3, 11.0, 0.4, 10.0]
    free = plot_control_chart(control_chart(hours))
    assert free.figure.axes[0].get_ylim()[0] < 0  # an XmR LCL below 0 without a bound
    bounded = plot_control_chart(control_chart(hours, lower_bound=0))
    assert bounded.figure.axes[0].get_ylim()[0] == 0
    p = control_chart([3, 5, 4, 6, 2, 5], chart="p", n=[50] * 6)
    ax = plot_control_chart(p, unit="share of arrivals").figure.axes[0]
    assert ax.get_ylim()[0] >= 0 and ax.get_ylabel() == "% of arrivals"
    assert all(t.get_text().endswith("%") for t in ax.get_yticklabels() if t.get_text())


def test_page_and_charts_use_one_font_stack():
    css = CSS.read_text(encoding="utf-8")
    declared = re.search(r"--font: ([^;]+);", css).group(1)
    assert [f.strip().strip('"') for f in declared.split(",")] == list(FONT_STACK)
    image = plot_control_chart(control_chart([1.0, 2.0, 3.0, 2.0]))
    assert "font-family: 'DejaVu Sans', 'Verdana', 'Segoe UI'" in image.svg


def test_companion_chart_is_computed_shown_and_in_results(mini_project: Path):
    """An XmR metric carries its moving-range chart (results.json ``companion_chart``), shown
    in a panel under the chart; a p chart has none."""
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from tests.conftest import AS_OF

    site = load_site_analysis(
        project_file=str(mini_project), site_data="", site_id="north", as_of=AS_OF
    )
    lead, defects = site.metric("lead_time"), site.metric("defects")
    assert lead.companion is not None and lead.companion.chart == "mr"
    # the moving ranges of the chart's own values, phase by phase (none across a phase break)
    v = lead.chart.value
    mr = lead.companion.value
    same = np.r_[False, lead.chart.phase[1:] == lead.chart.phase[:-1]]
    assert np.allclose(mr[same], np.abs(np.diff(v))[same[1:]], equal_nan=True)
    assert lead.to_dict()["companion_chart"]["chart"] == "mr"
    assert defects.companion is None and defects.to_dict()["companion_chart"] is None
    html = sections.metric_section(site, lead)._repr_html_()
    assert "<summary>Moving ranges (MR chart)" in html
    assert "Order lead time: moving ranges" in html
    # a closed panel's chart is drawn once: a phone scrolls it sideways at a legible width
    panel = html[html.index('<details class="companion">') :]
    panel = panel[: panel.index("</details>")]
    assert "chart-scroll" in panel and "chart-narrow" not in panel
    assert sections.companion_chart_image(lead).min_width >= 700
    # the chart above it keeps its phone drawing
    assert 'class="chart-narrow"' in html[: html.index('<details class="companion">')]


def test_an_xmr_chart_with_an_excluded_point_keeps_its_moving_range_chart(mini_project: Path):
    """The fab's downtime (a power outage excluded) had no MR chart: the companion raised
    "exclusions are not supported on a moving-range chart" and was dropped."""

    from pipeline.report.analysis import load_site_analysis
    from tests.conftest import AS_OF

    data = mini_project.parent / "data"
    obs = pd.read_csv(data / "observations.csv")
    when = obs.loc[(obs["site_id"] == "north") & (obs["metric_id"] == "lead_time"), "timestamp"]
    pd.DataFrame(
        {"site_id": ["north"], "metric_id": ["lead_time"], "timestamp": [when.iloc[5]],
         "note": ["Carrier strike"], "exclude": ["true"]}
    ).to_csv(data / "annotations.csv", index=False)  # fmt: skip
    text = mini_project.read_text(encoding="utf-8")
    mini_project.write_text(
        text.replace("  events: {path: data/events.csv}\n",
                     "  events: {path: data/events.csv}\n  annotations: {path: data/annotations.csv}\n"),
        encoding="utf-8",
    )  # fmt: skip
    site = load_site_analysis(
        project_file=str(mini_project), site_data="", site_id="north", as_of=AS_OF
    )
    lead = site.metric("lead_time")
    assert lead.chart is not None and lead.chart.is_excluded.sum() == 1
    assert not lead.note
    assert lead.companion is not None and lead.companion.chart == "mr"
    i = int(np.nonzero(lead.chart.is_excluded)[0][0])
    assert np.nonzero(lead.companion.is_excluded)[0].tolist() == [i, i + 1]
    # its centre line is the XmR chart's average moving range (sigma x d2), phase by phase
    for x, m in zip(lead.chart.phases, lead.companion.phases, strict=True):
        assert np.isclose(m.centre, x.sigma * 1.128, rtol=1e-9)


def test_tick_labels_write_the_ticks_exactly():
    from pipeline.report.plots.style import new_figure, number_axis

    fig, ax = new_figure(4, 3, margins=(0.6, 0.2, 0.2, 0.4))
    ax.set_ylim(2.2, 4.1)
    ax.set_yticks([2.25, 2.5, 2.75, 3.0])
    number_axis(ax)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2.25", "2.50", "2.75", "3.00"]


def test_ticks_held_for_a_save_change_nothing_and_come_back():
    import io

    import matplotlib

    from pipeline.report.plots.style import RC, figure_to_svg

    ch = control_chart(_run_series(), times=WEEKS, rules="we")
    image = plot_control_chart(ch, title="Cycle time in $ per $ spent", unit="$ per unit")
    fig = image.figure
    ax = fig.axes[0]
    locators = (type(ax.xaxis.get_major_locator()), type(ax.yaxis.get_major_locator()))
    formatters = (type(ax.xaxis.get_major_formatter()), type(ax.yaxis.get_major_formatter()))
    # the same figure saved the plain matplotlib way, whose axes work out their ticks as they go
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plain = buf.getvalue()
    assert figure_to_svg(fig) == plain[plain.find("<svg") :]
    assert (type(ax.xaxis.get_major_locator()), type(ax.yaxis.get_major_locator())) == locators
    assert (
        type(ax.xaxis.get_major_formatter()),
        type(ax.yaxis.get_major_formatter()),
    ) == formatters
    assert locators[0].__name__ == "AutoDateLocator"
    # "$" is a currency sign in every text, never mathtext (the title and the y label)
    assert "Cycle time in $ per $ spent" in image.svg and "$ per unit" in image.svg


def test_text_measured_once_per_process_for_svg_gives_the_same_drawing(monkeypatch):
    """The process-wide text-metrics cache for SVG saves: a chart (wide and narrow) is the
    same, byte for byte, as with matplotlib's per-renderer cache, and a second chart's saves
    find its tick labels and titles measured already."""
    import matplotlib.text

    from pipeline.report.plots import style

    ch = control_chart(_run_series(), times=WEEKS, rules="we", phases=[1] * 20 + [2] * 10)

    def draw() -> tuple[str, str]:
        image = plot_control_chart(ch, title="Lot cycle time", unit="hours")
        return image.svg, image.narrow

    style._svg_text_metrics.cache_clear()
    cached = draw()
    first = style._svg_text_metrics.cache_info()
    again = draw()
    second = style._svg_text_metrics.cache_info()
    assert again == cached
    assert first.misses > 0 and second.misses == first.misses and second.hits > first.hits
    monkeypatch.setattr(
        matplotlib.text, "_get_text_metrics_with_cache", style._MATPLOTLIB_TEXT_METRICS
    )
    assert draw() == cached


def test_text_laid_out_once_per_process_for_svg_gives_the_same_drawing(monkeypatch):
    """The process-wide layout cache for SVG saves: charts (wide and narrow, with a rotated and
    a two-line text) are the same, byte for byte, as matplotlib's own layout, a second drawing
    finds its texts laid out, and a text whose size changes after its layout is laid out anew."""
    from matplotlib.text import Text

    from pipeline.report.plots import style

    ch = control_chart(_run_series(), times=WEEKS, rules="we", phases=[1] * 20 + [2] * 10)

    def draw() -> tuple[str, ...]:
        image = plot_control_chart(ch, title="Lot cycle time", unit="hours")
        fig, ax = style.new_figure(4, 3)
        ax.plot([0, 1, 2], [3, 1, 2])
        ax.set_title("A title on\ntwo lines", loc="left")
        ax.text(1, 2, "turned", rotation=30, ha="right", va="baseline", rotation_mode="anchor")
        big = ax.text(0.5, 1.5, "grows", fontsize=8)
        first = style.figure_to_svg(fig)
        big.set_fontsize(14)
        return image.svg, image.narrow, first, style.figure_to_svg(fig)

    style._LAYOUTS.clear()
    ours = draw()
    laid_out = len(style._LAYOUTS)
    assert laid_out > 0 and ours[2] != ours[3]
    assert draw() == ours and len(style._LAYOUTS) == laid_out
    monkeypatch.setattr(Text, "_get_layout", style._MATPLOTLIB_TEXT_LAYOUT)
    assert draw() == ours


def test_titles_placed_without_measuring_the_y_axis_land_where_matplotlib_puts_them(
    monkeypatch,
):
    """The house axes skip working out the y axis's extent before placing a title when no
    offset text can be in its way: the wide and narrow SVG are the same, byte for byte, as
    with matplotlib's own placement, and an axis with an offset text still gets matplotlib's."""
    from matplotlib.axes import Axes

    from pipeline.report.plots import style

    ch = control_chart(_run_series(), times=WEEKS, rules="we", phases=[1] * 20 + [2] * 10)
    fig, ax = style.new_figure(5, 3)
    ax.plot([0, 1, 2], [1e6, 1e6 + 1, 1e6 + 2])
    ax.set_title("Offset on the y axis", loc="left")

    def draw() -> tuple[str, str, str]:
        image = plot_control_chart(ch, title="Lot cycle time", unit="hours")
        return image.svg, image.narrow, style.figure_to_svg(fig)

    ours = draw()
    assert ">+1e6<" in ours[2]  # the offset text is drawn
    monkeypatch.setattr(style._Axes, "_update_title_position", Axes._update_title_position)
    assert draw() == ours


def test_phase_labels_stay_in_their_room_at_any_width():
    """On narrow charts a phase label ran into the UCL label of the right margin (and into the
    provisional label of the phase before it): each label now fits, at draw time, between its
    break lines, inside the axes and clear of the labels before it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pipeline.report.plots.control import PhaseLabel

    for first, second, name in ((10, 20, "Daily safety huddles and permit board"),
                                (24, 6, "Complaint recovery standard work")):  # fmt: skip
        values = np.r_[np.tile([9.0, 11.0], first // 2), np.tile([6.0, 7.0], second // 2)]
        ch = control_chart(values, times=WEEKS, phases=[1] * first + [2] * second,
                           min_phase_points=12)  # fmt: skip
        for width in (3.6, 4.6, 7.5):
            image = plot_control_chart(ch, phase_names={1: "Baseline", 2: name}, width=width,
                                       vector=False)  # fmt: skip
            fig = image.figure
            renderer = FigureCanvasAgg(fig).get_renderer()
            ax = fig.axes[0]
            box = ax.get_window_extent(renderer)
            labels = [t for t in ax.texts if isinstance(t, PhaseLabel)]
            margin = [t for t in ax.texts if not isinstance(t, PhaseLabel)]  # UCL, CL, LCL
            assert labels and [t.get_text()[:3] for t in margin] == ["UCL", "CL ", "LCL"]
            boxes = [t.fitted_extent(renderer) for t in labels]
            assert boxes[-1] is not None  # the latest phase is always named
            boxes = [b for b in boxes if b is not None]  # too narrow for a label: none at all
            for b in boxes:
                assert box.x0 - 1 <= b.x0 and b.x1 <= box.x1 + 1, (width, b, box)
                for t in margin:
                    m = t.get_window_extent(renderer)
                    assert b.x1 <= m.x0 or b.y1 <= m.y0 or m.y1 <= b.y0, (width, b, m)
            for a, b in zip(boxes, boxes[1:], strict=False):
                assert a.x1 <= b.x0 or b.x1 <= a.x0, (width, a, b)
            # the label's own text is left whole: each size fits it afresh
            assert any(name in t.get_text() or "…" in t.get_text() for t in labels)


def test_a_phones_chart_title_wraps_instead_of_losing_the_metric():
    """At 390 px Dresden's title read "Defective wafers per lot…": a narrow title now wraps
    onto two lines, so the whole of a short title is there, and nothing is drawn past the
    top of the figure (the second line gets its own room)."""
    from pipeline.report.plots.style import narrow_svg, new_figure, wrap_title

    assert wrap_title("Defective wafers per lot: control chart", 30) == [
        "Defective wafers per lot:",
        "control chart",
    ]
    assert wrap_title("Lot cycle time", 30) == ["Lot cycle time"]
    # on two lines this read "...work packages: limits…": which chart it was got lost
    assert wrap_title("Schedule variance of completed work packages: limits recalculated per phase", 30) == [
        "Schedule variance of completed",
        "work packages: limits",
        "recalculated per phase",
    ]  # fmt: skip

    def phone_height(title: str) -> tuple[str, float]:
        fig, ax = new_figure(margins=(0.75, 0.8, 0.42, 0.36))
        ax.plot([1, 2, 3], [1, 3, 2])
        ax.set_title(title, loc="left")
        svg = narrow_svg(fig)
        return svg, float(re.search(r'<svg[^>]*height="([\d.]+)pt"', svg).group(1))

    svg, two_lines = phone_height("Defective wafers per lot: control chart")
    assert "Defective wafers per lot:" in svg and "control chart" in svg and "…" not in svg
    assert two_lines > phone_height("Lot cycle time")[1]  # the second line has its own room


def test_a_long_metric_name_is_shortened_before_the_kind_of_chart():
    """Two charts of one metric differ by what follows the name ("limits recalculated per
    phase", "against the frozen baseline"); a 90-character name cut both at 84 characters to the
    same "Average end-to-end lot cycle time ... across all…". The name is shortened at a word
    boundary and the kind kept whole, on the wide chart and on the phone's three lines."""
    from pipeline.report.plots.style import fit_title, wrap_title

    name = "Average end-to-end lot cycle time from wafer start to final probe across all nodes"
    for kind in ("limits recalculated per phase", "against the frozen baseline"):
        wide = fit_title(f"{name}: {kind}", 84)
        assert len(wide) <= 84 and wide.endswith(f"…: {kind}") and wide.startswith("Average end")
        assert " ".join(wide.split()[: -len(kind.split()) - 1]).rstrip("…") in name  # whole words
        lines = wrap_title(wide, 30)
        assert len(lines) <= 3 and all(len(line) <= 30 for line in lines), lines
        assert " ".join(lines).endswith(f": {kind}") and lines[0].startswith("Average")
    # on the drawn chart the title is measured in its font: it ends inside the figure
    chart = control_chart(np.tile([9.0, 11.0], 10))
    image = plot_control_chart(chart, title=f"{name}: limits recalculated per phase")
    fig = image.figure
    (ax,) = [a for a in fig.axes if a.get_title(loc="left")]
    drawn = ax.get_title(loc="left")
    assert drawn.endswith("…: limits recalculated per phase") and drawn.startswith("Average")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    box = ax._left_title.get_window_extent(FigureCanvasAgg(fig).get_renderer())
    assert box.x1 <= fig.bbox.x1, (box, fig.bbox)
    # a short title is left as it is
    short = plot_control_chart(chart, title="Lot cycle time: control chart").figure
    assert any(a.get_title(loc="left") == "Lot cycle time: control chart" for a in short.axes)
    assert fit_title("Lot cycle time: control chart", 84) == "Lot cycle time: control chart"
    assert fit_title("x" * 100, 84) == "x" * 83 + "…"  # no kind to keep: shortened as before
    # a name with its own ": " keeps its first part; the kind is what follows the last one
    assert fit_title("Plant A: " + "scrap " * 20 + ": control chart", 60).endswith(
        "…: control chart"
    )


def test_phase_labels_sit_on_the_background_above_the_limit_lines():
    """A provisional baseline's UCL near the top of the axes ran through its label ("Baseline:
    provisional (10 points)"): the label has the page's background behind it, drawn over the
    limit and centre lines and under the data line and points."""
    from matplotlib.colors import same_color

    from pipeline.report.palette import BACKGROUND
    from pipeline.report.plots.control import PhaseLabel
    from pipeline.report.plots.style import POINTS_GID

    values = np.r_[np.tile([9.0, 11.0], 5), np.tile([6.0, 7.0], 10)]
    ch = control_chart(values, times=WEEKS, phases=[1] * 10 + [2] * 20, min_phase_points=12)
    fig = plot_control_chart(ch, phase_names={1: "Baseline", 2: "Huddles"}, vector=False).figure
    ax = fig.axes[0]
    labels = [t for t in ax.texts if isinstance(t, PhaseLabel)]
    assert labels
    steps = [ln for ln in ax.lines if ln.get_drawstyle().startswith("steps")]  # centre, limits
    data = [ln for ln in ax.lines if not ln.get_drawstyle().startswith("steps")]
    points = [c for c in ax.collections if c.get_gid() == POINTS_GID]
    assert steps and data and points
    for label in labels:
        patch = label.get_bbox_patch()
        assert patch is not None and same_color(patch.get_facecolor()[:3], BACKGROUND)
        assert all(label.get_zorder() > ln.get_zorder() for ln in steps)
        below = [a.get_zorder() for a in data + points if a.get_zorder() > 1]  # not the break line
        assert below and all(label.get_zorder() < z for z in below)


def _drawn_texts(fig, *, narrow: bool):
    """Every non-empty text of ``fig`` as drawn (wide, or in its phone layout) with its extent
    in display units, and the figure's own box."""
    import contextlib

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pipeline.report.plots.style import RC, _texts, narrow_layout

    with matplotlib.rc_context(RC), narrow_layout(fig) if narrow else contextlib.nullcontext():
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        # the labels of ticks outside the axis's view are made but never drawn
        hidden = set()
        for ax in fig.axes:
            for axis, k in ((ax.xaxis, 0), (ax.yaxis, 1)):
                lo, hi = sorted(axis.get_view_interval())
                for tick in axis.majorTicks:
                    if (
                        not lo - 1e-9 * abs(hi - lo)
                        <= tick.label1.get_position()[k]
                        <= hi + 1e-9 * abs(hi - lo)
                    ):
                        hidden.add(id(tick.label1))
        drawn = [
            (t, t.get_text(), t.get_window_extent(renderer))
            for t in _texts(fig)
            if t.get_text() and t.get_visible() and id(t) not in hidden
        ]
        return drawn, fig.bbox.frozen()


def test_large_and_tiny_magnitudes_read_compact_and_fit_the_figure():
    """Revenue in cents (1e12) read "00,000,000" at the left edge and "UCL 1,102,850" cut off at
    the right: ticks and limit labels are compact ("1.05tn", "UCL 1.10tn") and every text of
    the chart lies inside the figure, wide and on a phone."""
    from pipeline.formatting import MINUS

    rng = np.random.default_rng(7)
    noise = 1 + 0.05 * rng.standard_normal(30)
    for scale in (1e9, 3.3e10, 1e12, 4.2e13, 1e14, -2e11, 2.5e-6):
        ch = control_chart(scale * noise, times=WEEKS)
        fig = plot_control_chart(ch, title="Revenue", unit="cents", vector=False).figure
        for narrow in (False, True):
            drawn, box = _drawn_texts(fig, narrow=narrow)
            ax = fig.axes[0]
            ticks = [text for t, text, _ in drawn if t in ax.get_yticklabels()]
            limits = [text for _, text, _ in drawn if text.split(" ")[0] in ("UCL", "CL", "LCL")]
            assert len(ticks) >= 3 and len(limits) == 3, (scale, ticks, limits)
            assert all(len(t) <= 9 for t in ticks), (scale, ticks)
            assert all(len(t) <= 14 for t in limits), (scale, limits)
            assert len(set(ticks)) == len(ticks), (scale, ticks)  # no two ticks read alike
            for _artist, text, ext in drawn:
                inside = box.x0 - 0.5 <= ext.x0 and ext.x1 <= box.x1 + 0.5
                inside &= box.y0 - 0.5 <= ext.y0 and ext.y1 <= box.y1 + 0.5
                assert inside, (scale, narrow, text, ext, box)
        if abs(scale) >= 1e9:
            assert any(t.endswith(("bn", "tn")) for t in ticks), ticks
        assert not any(MINUS in t for t in ticks) or scale < 0
    tiny = plot_control_chart(control_chart(2.5e-6 * noise, times=WEEKS), vector=False).figure
    assert all("\u00d710\u207b\u2076" in t.get_text() for t in tiny.axes[0].get_yticklabels()
               if t.get_text() not in ("", "0"))  # fmt: skip


def test_limit_labels_of_a_flat_metric_stand_apart():
    """On a flat metric UCL, CL and LCL were drawn over one another at the right edge: each
    label now keeps a line's height from the next, in the order of the limits, at the page's
    width and on a phone, and labels already apart stay at their limits."""
    import contextlib

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pipeline.report.plots.control import LimitLabel
    from pipeline.report.plots.style import RC, narrow_layout

    # a flat series (limits equal), limits close on the page (one outlier stretches the axis),
    # and an ordinary series whose labels are far apart
    close = np.r_[np.full(29, 50.0) + np.tile([0.0, 0.1], 15)[:29], 400.0]
    cases = {"flat": np.full(30, 18.0), "close": close, "apart": _run_series()}
    for name, values in cases.items():
        ch = control_chart(values, times=WEEKS)
        image = plot_control_chart(ch, title="Takt time", unit="seconds")
        fig = image.figure
        for narrow in (False, True):
            with (
                matplotlib.rc_context(RC),
                narrow_layout(fig) if narrow else contextlib.nullcontext(),
            ):
                canvas = FigureCanvasAgg(fig)
                canvas.draw()
                renderer = canvas.get_renderer()
                labels = [t for t in fig.axes[0].texts if isinstance(t, LimitLabel)]
                assert [t.get_text().split()[0] for t in labels] == ["UCL", "CL", "LCL"]
                boxes = [t.placed_extent(renderer) for t in labels]
                for upper, lower in zip(boxes, boxes[1:], strict=False):
                    assert lower.y1 <= upper.y0 + 0.5, (name, narrow, upper, lower)
                for b in boxes:
                    assert fig.bbox.y0 <= b.y0 and b.y1 <= fig.bbox.y1, (name, narrow, b)
                if name == "apart":  # no need to move: each label at its own limit
                    assert all(abs(t.nudge(renderer)) < 1e-9 for t in labels)
        # the SVG the page shows: the three labels on three lines, UCL on top
        for svg in (image.svg, image.narrow):
            ys = {
                m.group(2): float(m.group(1))
                for m in re.finditer(r'<text[^>]*\by="([\d.]+)"[^>]*>(UCL|CL|LCL) ', svg)
            }
            size = min(_font_sizes(svg))
            assert ys["CL"] - ys["UCL"] >= size and ys["LCL"] - ys["CL"] >= size, (name, ys)


def test_labels_spread_apart_move_as_little_as_they_can():
    from pipeline.report.plots.style import spread_apart

    # three on one place: one line up, one down, the middle one stays
    assert spread_apart([10, 10, 10], gap=2, lo=0, hi=100) == [12, 10, 8]
    # two close, one far: only the close pair moves, each by half the shortfall
    assert spread_apart([10, 9.5, 0], gap=2, lo=0, hi=100) == [10.75, 8.75, 0]
    # far apart: untouched
    assert spread_apart([30, 20, 10], gap=2, lo=0, hi=100) == [30, 20, 10]
    # at the top of the room: the block moves down inside it
    assert spread_apart([100, 100, 100], gap=2, lo=0, hi=99) == [99, 97, 95]
    assert spread_apart([], gap=2, lo=0, hi=1) == []


def test_a_limit_near_zero_on_an_ordinary_chart_is_not_written_as_a_power_of_ten():
    """Compact figures follow the chart's own scale: an LCL of −0.0004 beside limits of about 5
    read "LCL −4.00×10⁻⁴" in the email's chart; it reads as the phase table writes it."""
    from pipeline.report.plots.control import LimitLabel

    centre = 3 / 1.128 - 0.0004  # alternating a centre ± 0.5: MR 1, LCL = centre − 3 × 1 / d2
    ch = control_chart(np.tile([centre - 0.5, centre + 0.5], 10))
    assert -0.001 < ch.latest_phase.lcl < 0
    fig = plot_control_chart(ch, vector=False).figure
    labels = [t.get_text() for t in fig.axes[0].texts if isinstance(t, LimitLabel)]
    assert labels == ["UCL 5.32", "CL 2.66", "LCL 0.000"]


def _demo_site_html(tmp_path: Path, site_id: str) -> str:
    """Every section of a demo site's report, drawn in this process as the notebook draws them."""
    from pipeline.data.config import load_project
    from pipeline.data.demo import write_demo_project
    from pipeline.data.inputs import read_tables, split_by_site
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis

    project_file = write_demo_project(tmp_path / "project", as_of="2026-06-29")
    slice_dir = tmp_path / "slice"
    split_by_site(read_tables(load_project(project_file)), [site_id])[site_id].save(slice_dir)
    site = load_site_analysis(
        project_file=str(project_file), site_data=str(slice_dir), site_id=site_id,
        as_of="2026-06-29", validation_file="", run_id="stock",
    )  # fmt: skip
    sections._CHART_CACHE.clear()  # each drawing draws its charts afresh
    parts = [sections.header(site), sections.summary(site), sections.strategy(site)]
    parts += [sections.metric_section(site, m) for m in site.metrics]
    parts += [sections.pareto(site), sections.culture(site), sections.data_quality(site)]
    parts += [sections.methods(site)]
    return "".join(p._repr_html_() for p in parts)


def test_figures_made_ahead_draw_every_section_as_new_ones_do(tmp_path, monkeypatch):
    """The stock of blank figures the warm kernel process makes before it forks: a demo site's
    whole report (both kinds of layout, every chart wide and narrow) is the same, byte for byte,
    drawn on stocked figures as on new ones, and so is an email chart's PNG."""
    from pipeline.report.plots import style

    monkeypatch.setattr(style, "_STOCK", {True: [], False: []})
    fresh = _demo_site_html(tmp_path / "fresh", "fab-dresden")
    style.stock_figures(fixed=40, constrained=4)
    stocked = _demo_site_html(tmp_path / "stocked", "fab-dresden")
    # the site drew on the stock, of both layouts, and left some over
    assert 0 < len(style._STOCK[True]) < 40 and 0 < len(style._STOCK[False]) < 4
    assert stocked == fresh

    ch = control_chart(_run_series(), times=WEEKS, rules="we", phases=[1] * 20 + [2] * 10)
    style._STOCK[True].clear()
    new_png = plot_control_chart(ch, title="Lot cycle time", unit="hours").png
    style.stock_figures(fixed=1, constrained=0)
    assert plot_control_chart(ch, title="Lot cycle time", unit="hours").png == new_png
    assert style._STOCK[True] == []  # drawn on the stocked figure
