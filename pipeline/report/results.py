"""results.json: every number a site's report shows, written once by the pipeline's own function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.files import atomic_write_json, child_path
from pipeline.report.analysis import RESULTS_FILE, SiteAnalysis
from pipeline.report.findings import summarise_site
from pipeline.report.plots.style import figure_to_png

#: The email's key charts are drawn for its content column of 560 CSS px (a 600-px email less
#: its padding), at 1.5 times the pixels: sharp enough on phones (twice costs 0.2 s more per
#: chart to encode). 4.9 in wide, the smallest chart text (7 pt) shows at
#: 560 / (4.9 * 72) * 7 = 11.1 px, tick labels (9 pt) at 14.3 px. No title: at this width it
#: would run into the legend, and the email writes the chart's name under it.
EMAIL_CHART_WIDTH_IN = 4.9
EMAIL_CHART_HEIGHT_IN = 2.6
EMAIL_CHART_PX = 840


def site_results(site: SiteAnalysis) -> dict[str, Any]:
    """The content of results.json: the site model's numbers plus the executive summary."""
    data = site.to_dict()
    data["summary"] = summarise_site(site).to_dict()
    return data


def write_results(site: SiteAnalysis, output_dir: str | Path) -> Path:
    """Write ``results.json`` (and the email's key-chart PNGs) into ``output_dir``."""
    write_key_charts(site, output_dir)
    return atomic_write_json(Path(output_dir) / RESULTS_FILE, site_results(site))


def write_key_charts(site: SiteAnalysis, output_dir: str | Path) -> list[Path]:
    """PNG files of the key charts (for the email's ``cid:`` images): the same charts the
    report shows, against the frozen baseline where the metric has improvement events."""
    from pipeline.report.plots.control import plot_control_chart

    written = []
    for item in summarise_site(site).key_charts:
        metric = site.metric(item["metric_id"])
        chart = metric.frozen if metric.frozen is not None else metric.chart
        if chart is None:
            continue
        image = plot_control_chart(
            chart,
            title=None,
            unit=metric.unit,
            phase_names=metric.phase_names,
            width=EMAIL_CHART_WIDTH_IN,
            height=EMAIL_CHART_HEIGHT_IN,
        )
        assert image.figure is not None
        png = figure_to_png(image.figure, dpi=round(EMAIL_CHART_PX / EMAIL_CHART_WIDTH_IN))
        # the name holds the metric id: child_path refuses one that would leave the folder
        path = child_path(output_dir, *str(item["file"]).split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        written.append(path)
    return written
