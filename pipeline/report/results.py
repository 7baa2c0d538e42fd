"""results.json: every number a site's report shows, written once and read back through one loader.

The file carries a ``schema_version`` and is described by the JSON Schema shipped in the package
(``pipeline/report/schemas/results.schema.json``, draft 2020-12). :func:`write_results` checks
what it writes against that schema; :func:`load_results` checks what it reads and returns a typed
:class:`SiteResults`, so the portfolio, the mailer and the tests never guess the file's shape.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.exceptions import InputError, KaizenError
from pipeline.files import atomic_write_json, atomic_write_text, child_path
from pipeline.formatting import shorten
from pipeline.report.analysis import RESULTS_FILE, MetricAnalysis, SiteAnalysis
from pipeline.report.documents import check_document, read_document_bytes, schema, where
from pipeline.report.findings import SiteSummary, Tile, summarise_site
from pipeline.report.plots.style import MIN_FONT, RC, ChartImage, date_axis
from pipeline.stats.spc import ControlChart
from pipeline.vocabulary import (
    Aggregate,
    AssuranceIcon,
    Better,
    ChartType,
    EventStatus,
    GoalStatus,
    Kind,
    Period,
    RunStatus,
    VariationIcon,
    Verdict,
)

#: major.minor: a reader accepts every file of its major version (minor versions only add keys).
SCHEMA_VERSION = "1.4"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "results.schema.json"
#: Beside results.json, what :func:`write_results` checked: the SHA-256 of the bytes it wrote
#: after checking them against the schema, and of the schema it checked them against. A reader
#: finding both the same (:func:`load_results`) reads the file without checking it again:
#: the check was a thirtieth of a second a site, and the portfolio page read every site of
#: this run and of the earlier runs its history shows, after the last site, with a core idle.
CHECKED_FILE = "results.checked.json"

__all__ = [
    "CHECKED_FILE",
    "RESULTS_FILE",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "EventResults",
    "GoalResults",
    "MetricResults",
    "SiteResults",
    "SiteSummary",
    "Tile",
    "load_results",
    "results_schema",
    "site_results",
    "validate_results",
    "write_results",
]


# --------------------------------------------------------------------------- the typed view


class _Model(BaseModel):
    # frozen like every result object; extra keys are kept (a newer minor version adds keys)
    model_config = ConfigDict(frozen=True, extra="allow")


class Settings(_Model):
    rules: str
    min_phase_points: int
    sustain_points: int
    alpha: float
    screen_mr: bool = False


class SeriesPoint(_Model):
    time: str | None
    value: float | None
    n: float | None = None


class EventResults(_Model):
    """One improvement event on one metric, with its verdict (``outcome``)."""

    event_id: str
    title: str
    kind: str = ""
    owner: str = ""
    status: EventStatus
    goal_id: str | None = None
    start_date: str | None = None
    effective_date: str | None = None
    outcome: Verdict | None
    verdict: dict[str, Any] | None = None
    note: str = ""
    detail: dict[str, Any] | None = None


class GoalResults(_Model):
    goal_id: str
    title: str
    target_kind: str = ""
    target_value: float | None = None
    baseline_start: str | None = None
    baseline_end: str | None = None
    due_date: str | None = None
    target: float | None = None
    status: GoalStatus
    progress: dict[str, Any] | None = None
    assurance: dict[str, Any] | None = None
    note: str = ""


class MetricResults(_Model):
    metric_id: str
    name: str
    unit: str = ""
    chart: ChartType
    better: Better
    period: Period | None = None
    aggregate: Aggregate | None = None
    kind: Kind | None = None
    is_rate: bool = False
    latest: float | None = None
    latest_time: str | None = None
    n_points: int = 0
    baseline_centre: float | None = None
    current_centre: float | None = None
    change: float | None = None
    variation: VariationIcon = VariationIcon.NOT_ENOUGH_DATA
    assurance: AssuranceIcon = AssuranceIcon.NO_TARGET
    note: str = ""
    phase_names: dict[str, str] = {}
    control_chart: dict[str, Any] | None = None
    frozen_chart: dict[str, Any] | None = None
    events: tuple[EventResults, ...]
    goals: tuple[GoalResults, ...]
    series: tuple[SeriesPoint, ...] = ()


class SiteResults(_Model):
    """A site's results.json, typed (see the JSON Schema for what each field means)."""

    schema_version: str
    site_id: str
    site_name: str
    project: str = ""
    as_of: str
    window_start: str = ""
    run_id: str = ""
    status: RunStatus
    data_freshness: str | None = None
    settings: Settings
    metrics: tuple[MetricResults, ...]
    summary: SiteSummary
    culture: dict[str, Any] | None = None
    roadmap: dict[str, Any] | None = None
    validation: dict[str, Any] = {}

    def metric(self, metric_id: str) -> MetricResults:
        for m in self.metrics:
            if m.metric_id == metric_id:
                return m
        raise KeyError(metric_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, as the file holds them (enum members become their strings)."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- schema


def results_schema() -> dict[str, Any]:
    """The JSON Schema of results.json (draft 2020-12)."""
    return schema(SCHEMA_FILE)


def validate_results(data: Any, *, source: str = RESULTS_FILE, site_id: str | None = None) -> None:
    """Check ``data`` against the schema and its major version.

    Raises
    ------
    InputError
        naming the file, the first offending field (``metrics[2].events[0].outcome``) and why.
    """
    check_document(
        data,
        SCHEMA_FILE,
        version=SCHEMA_VERSION,
        source=source,
        site_id=site_id,
        hint="re-run the site's report to write it again",
    )


def load_results(path: str | Path) -> SiteResults:
    """Read a site's results.json (a file, or a site folder holding one) into :class:`SiteResults`.

    It is checked against the schema unless :data:`CHECKED_FILE` beside it says that these very
    bytes were checked against this schema when they were written.

    Raises
    ------
    InputError
        when the file is missing, is not JSON, or does not match the schema.
    """
    file, raw, data = read_document_bytes(path, RESULTS_FILE)
    checked = _checked(hashlib.sha256(raw).hexdigest()) == _read_checked(file)
    return parse_results(data, source=str(file), checked=checked)


def parse_results(data: Any, *, source: str = RESULTS_FILE, checked: bool = False) -> SiteResults:
    """:class:`SiteResults` from the parsed JSON of a results.json (checked as
    :func:`load_results` checks a file, unless ``checked``: these bytes passed the same
    schema when they were written)."""
    if not checked:
        validate_results(data, source=source)
    try:
        return SiteResults.model_validate(data)
    except ValidationError as exc:  # the schema and the model disagree: a bug, said plainly
        err = exc.errors()[0]
        raise InputError(
            f"{source} cannot be read as site results at {where(err['loc'])}: {err['msg']}"
        ) from None


# --------------------------------------------------------------------------- writing

#: The email's key charts are drawn for a phone: shown at most ``EMAIL_CHART_CSS_PX`` wide (the
#: whole chart column of a 390-px screen, centred in the 600-px column on a desktop), with no
#: text smaller than ``EMAIL_CHART_FONT_PT`` points on a figure ``EMAIL_CHART_WIDTH_IN`` wide, so
#: the smallest text is ``EMAIL_CHART_TEXT_PX`` CSS px: 360 / (3.33 * 72) * 8 = 12 px at 600 and
#: 390 px, and 11 px on a 360-px phone (column 330 px). Nothing in the email depends on a media
#: query (Outlook ignores them): the width attribute says 360 and ``max-width: 100%`` shrinks it.
#: Twice the pixels (720 wide) keeps it sharp on phones.
EMAIL_CHART_CSS_PX = 360
EMAIL_CHART_FONT_PT = MIN_FONT
EMAIL_CHART_TEXT_PX = 12.0
EMAIL_CHART_WIDTH_IN = EMAIL_CHART_CSS_PX * EMAIL_CHART_FONT_PT / (72 * EMAIL_CHART_TEXT_PX)
EMAIL_CHART_HEIGHT_IN = 2.5
EMAIL_CHART_PX = 2 * EMAIL_CHART_CSS_PX
#: The chart's margins (inches: left, right, top, bottom); the legend sits under the axes, where
#: a phone-wide chart has room for it.
_EMAIL_MARGINS = (0.62, 0.72, 0.14, 0.62)
#: A chart has a handful of colours plus their anti-aliased edges: a 64-colour palette PNG is a
#: third of the size of the full-colour one and looks the same.
_EMAIL_COLOURS = 64


def site_results(site: SiteAnalysis) -> dict[str, Any]:
    """The content of results.json: the site model's numbers plus the executive summary."""
    data = {"schema_version": SCHEMA_VERSION, **site.to_dict()}
    data["summary"] = summarise_site(site).to_dict()
    return data


def write_results(site: SiteAnalysis, output_dir: str | Path) -> Path:
    """Write ``results.json`` (checked against its schema), :data:`CHECKED_FILE` beside it and
    what the email's key charts are drawn from (:func:`write_key_chart_data`) into
    ``output_dir``."""
    data = site_results(site)
    validate_results(data, site_id=site.site_id)
    write_key_chart_data(site, output_dir)
    path = atomic_write_json(Path(output_dir) / RESULTS_FILE, data)
    atomic_write_json(path.with_name(CHECKED_FILE), _checked(_sha256(path)))
    return path


@cache
def _schema_sha256() -> str:
    return _sha256(SCHEMA_FILE)


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _checked(results_sha256: str) -> dict[str, str]:
    """What :data:`CHECKED_FILE` holds for a results.json of these bytes, checked now."""
    return {"results_sha256": results_sha256, "schema_sha256": _schema_sha256()}


def _read_checked(results_file: Path) -> Any:
    """What :data:`CHECKED_FILE` beside ``results_file`` says (None: nothing readable)."""
    try:
        return json.loads((results_file.parent / CHECKED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def email_chart(chart: ControlChart, *, unit: str = "", phase_names: Any = None) -> ChartImage:
    """A control chart drawn for the email (see ``EMAIL_CHART_CSS_PX``): figure only, no SVG
    (drawing the SVG is most of a chart's cost and the email never shows it), legend under the
    axes, at most six date ticks, no text under ``EMAIL_CHART_FONT_PT`` and none past the edge.
    """
    from pipeline.report.plots.control import plot_control_chart

    image = plot_control_chart(
        chart,
        title=None,
        unit=unit,
        phase_names=phase_names,
        width=EMAIL_CHART_WIDTH_IN,
        height=EMAIL_CHART_HEIGHT_IN,
        vector=False,
    )
    assert image.figure is not None
    _fit_for_email(image.figure)
    return image


def _fit_for_email(fig: Figure) -> None:
    width, height = (float(v) for v in fig.get_size_inches())
    left, right, top, bottom = _EMAIL_MARGINS
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height
    )
    ax = fig.axes[0]
    if isinstance(ax.xaxis.get_major_locator(), mdates.AutoDateLocator):
        date_axis(ax, maxticks=6)
        locator = ax.xaxis.get_major_locator()
        assert isinstance(locator, mdates.AutoDateLocator)
        # six-monthly ticks reach 30 months and yearly ones start at three years: seven
        # monthly ticks close the gap (else matplotlib warns and falls back to its default);
        # five year labels at most fit the narrow axis
        ticks = locator.maxticks
        ticks[mdates.MONTHLY], ticks[mdates.YEARLY] = 7, 5
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(EMAIL_CHART_PX / width)
    renderer = canvas.get_renderer()
    legend = ax.get_legend()
    if legend is not None:
        handles, labels = ax.get_legend_handles_labels()
        legend.remove()
        # under the tick labels, from the figure's left edge: one row if it fits, else two
        for ncol in (len(labels), -(-len(labels) // 2)):
            placed = ax.legend(
                handles, labels, loc="upper left", ncol=ncol, frameon=False,
                fontsize=EMAIL_CHART_FONT_PT, bbox_to_anchor=(0.02, 0.3 / height),
                bbox_transform=fig.transFigure, handlelength=1.4, columnspacing=0.9,
                borderaxespad=0, borderpad=0,
            )  # fmt: skip
            if placed.get_window_extent(renderer).x1 <= fig.bbox.width:
                break
    # the texts drawn from data (tick labels are numbers and dates at the style's 8.5 pt);
    # fig.findobj would build every tick of both axes once more just to list them
    legend = ax.get_legend()
    texts = [*ax.texts, ax.xaxis.label, ax.yaxis.label, *(legend.texts if legend else ())]
    for text in texts:
        text.set_parse_math(False)  # labels are data: "$" is a currency sign (style.RC)
        if float(text.get_fontsize()) < EMAIL_CHART_FONT_PT:
            text.set_fontsize(EMAIL_CHART_FONT_PT)
    # a phase label longer than the room beside its line is shortened until it fits inside the
    # axes (clear of the y label on the left and of the UCL/CL/LCL labels on the right)
    start, edge = ax.get_window_extent(renderer).x0, ax.get_window_extent(renderer).x1
    for text in ax.texts:
        coords = getattr(text, "xycoords", None)
        if isinstance(coords, tuple) and coords[0] == "axes fraction":
            continue  # placed in axes units on x: the UCL/CL/LCL labels of the right margin
        words = text.get_text()
        limit = len(words)
        while limit > 8:
            box = text.get_window_extent(renderer)
            if box.x0 >= start - 1 and box.x1 <= edge:
                break
            limit -= 2
            text.set_text(shorten(words, limit))


def email_chart_png(image: ChartImage) -> bytes:
    """The PNG of :func:`email_chart`: ``EMAIL_CHART_PX`` wide, a 64-colour palette image
    (Pillow's fast octree quantiser: a fifth of the cost of matplotlib's own PNG writer)."""
    fig = image.figure
    assert fig is not None
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(EMAIL_CHART_PX / float(fig.get_size_inches()[0]))
    with matplotlib.rc_context(RC):
        canvas.draw()
    rgb = PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
    palette_image = rgb.convert("RGB").quantize(
        _EMAIL_COLOURS, method=PIL.Image.Quantize.FASTOCTREE
    )
    buf = io.BytesIO()
    # the pixel density says the CSS size: EMAIL_CHART_PX pixels are EMAIL_CHART_CSS_PX CSS px
    dpi = 96 * EMAIL_CHART_PX / EMAIL_CHART_CSS_PX
    palette_image.save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


def _key_charts(site: SiteAnalysis) -> Iterator[tuple[str, ControlChart, MetricAnalysis]]:
    """(file, chart, metric) of each key chart: the charts the report shows, against the frozen
    baseline where the metric has improvement events."""
    for item in summarise_site(site).key_charts:
        metric = site.metric(item["metric_id"])
        chart = metric.frozen if metric.frozen is not None else metric.chart
        if chart is not None:
            yield str(item["file"]), chart, metric


def key_chart_data_file(png_file: str) -> str:
    """Where the data of the key chart ``png_file`` (results.json's ``summary.key_charts[].file``,
    ``charts/<metric_id>.png``) is kept: ``charts/<metric_id>.json``."""
    return str(Path(png_file).with_suffix(".json").as_posix())


def write_key_chart_data(site: SiteAnalysis, output_dir: str | Path) -> list[Path]:
    """The key charts' data (each chart exactly, :meth:`ControlChart.to_state`, with its unit and
    phase names), one JSON file each, from which ``send`` draws the email's PNGs
    (:func:`key_chart_png`): a run that sends nothing draws none."""
    written = []
    for file, chart, metric in _key_charts(site):
        data = {
            "chart": chart.to_state(),
            "unit": metric.unit,
            "phase_names": {str(k): v for k, v in metric.phase_names.items()},
        }
        # the name holds the metric id: child_path refuses one that would leave the folder
        path = child_path(output_dir, *key_chart_data_file(file).split("/"))
        written.append(atomic_write_text(path, json.dumps(data, allow_nan=False)))
    return written


def key_chart_png(data_file: str | Path) -> bytes:
    """The email's PNG of the key chart whose data :func:`write_key_chart_data` wrote to
    ``data_file`` (the same picture as drawing it from the site's analysis).

    Raises
    ------
    InputError
        when the file cannot be read as a key chart's data.
    """
    try:
        data = json.loads(Path(data_file).read_text(encoding="utf-8"))
        chart = ControlChart.from_state(data["chart"])
        names = {int(k): str(v) for k, v in data["phase_names"].items()}
        unit = str(data["unit"])
    except (OSError, ValueError, KeyError, TypeError, KaizenError) as exc:
        raise InputError(f"{data_file} cannot be read as a key chart's data: {exc}") from None
    return email_chart_png(email_chart(chart, unit=unit, phase_names=names))
