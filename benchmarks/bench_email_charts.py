"""Benchmark: the email's key-chart PNGs of every demo site, as drawn now against the former way.

The former way, rebuilt in the same run from the same public functions: each key chart drawn by
``plot_control_chart`` for the 560-px column (4.9 x 2.6 in, with its wide and narrow SVGs, as
every report chart is) and saved by ``figure_to_png`` at 840 px (matplotlib's RGBA PNG writer).
Now: ``results.email_chart`` (3.33 in, figure only, no SVG) and ``results.email_chart_png`` (one
Agg draw, a 64-colour palette PNG, 720 px). The two alternate site by site; the figures are
medians over sites and repeats of process CPU seconds (steadier than wall time on a shared
machine) and wall seconds, with the PNG bytes per site. Not a test: nothing here asserts a time.

    .venv/bin/python benchmarks/bench_email_charts.py [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipeline.data.config import load_project
from pipeline.data.demo import write_demo_project
from pipeline.data.inputs import read_tables, split_by_site
from pipeline.formatting import count_of
from pipeline.report import results
from pipeline.report.analysis import analyse_site
from pipeline.report.findings import summarise_site
from pipeline.report.plots.control import plot_control_chart
from pipeline.report.plots.style import figure_to_png

AS_OF = "2026-11-27"


def former(chart, metric) -> bytes:
    image = plot_control_chart(
        chart, title=None, unit=metric.unit, phase_names=metric.phase_names, width=4.9, height=2.6
    )
    assert image.figure is not None
    return figure_to_png(image.figure, dpi=round(840 / 4.9))


def now(chart, metric) -> bytes:
    return results.email_chart_png(
        results.email_chart(chart, unit=metric.unit, phase_names=metric.phase_names)
    )


def site_charts(site):
    for item in summarise_site(site).key_charts:
        metric = site.metric(item["metric_id"])
        chart = metric.frozen if metric.frozen is not None else metric.chart
        if chart is not None:
            yield chart, metric


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="kaizen-bench-") as tmp:
        project = load_project(write_demo_project(Path(tmp), as_of=AS_OF))
        ids = [s.id for s in project.sites]
        parts = split_by_site(read_tables(project), ids)
        sites = [
            analyse_site(parts[sid], project=project, site_id=sid, as_of=pd.Timestamp(AS_OF))
            for sid in ids
        ]
    ways = {"former": former, "now": now}
    for way in ways.values():  # warm up: fonts, caches
        for chart, metric in site_charts(sites[0]):
            way(chart, metric)
    cpu: dict[str, list[float]] = {k: [] for k in ways}
    wall: dict[str, list[float]] = {k: [] for k in ways}
    size: dict[str, dict[str, int]] = {k: {} for k in ways}
    for r in range(args.repeat):
        for i, site in enumerate(sites):
            order = list(ways) if (r + i) % 2 == 0 else list(ways)[::-1]
            for name in order:
                c0, w0 = time.process_time(), time.perf_counter()
                pngs = [ways[name](chart, metric) for chart, metric in site_charts(site)]
                cpu[name].append(time.process_time() - c0)
                wall[name].append(time.perf_counter() - w0)
                size[name][site.site_id] = sum(len(p) for p in pngs)
    print(f"{len(sites)} demo sites, {count_of(args.repeat, 'repeat')}, 3 key charts per site")
    print(f"{'':8} {'CPU s/site':>11} {'wall s/site':>12}  PNG bytes per site")
    for name in ways:
        sizes = ", ".join(f"{k} {v:,}" for k, v in size[name].items())
        print(
            f"{name:8} {statistics.median(cpu[name]):11.3f} "
            f"{statistics.median(wall[name]):12.3f}  {sizes}"
        )
    ratio = statistics.median(cpu["former"]) / statistics.median(cpu["now"])
    print(f"cpu_ratio_former_to_now: {ratio:.2f}")


if __name__ == "__main__":
    main()
