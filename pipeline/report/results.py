"""results.json: every number a site's report shows, written once by the pipeline's own function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.files import atomic_write_json
from pipeline.report.analysis import RESULTS_FILE, SiteAnalysis
from pipeline.report.findings import summarise_site
from pipeline.report.sections import control_chart_image


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
    written = []
    for item in summarise_site(site).key_charts:
        metric = site.metric(item["metric_id"])
        image = control_chart_image(metric, frozen=metric.frozen is not None)
        if image is None:
            continue
        path = Path(output_dir) / item["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image.png)
        written.append(path)
    return written
