"""The report's quality-toolbox parts from the demo: capability, Pareto, notes, the g chart."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest

from pipeline.data.config import load_project
from pipeline.data.demo import write_demo_project
from pipeline.data.inputs import read_tables, split_by_site
from pipeline.report import sections
from pipeline.report.analysis import SiteAnalysis, analyse_site
from pipeline.report.results import site_results
from pipeline.stats.pareto import pareto

AS_OF = "2026-11-27"
# one xdist worker runs the whole module, so its module-scoped fixtures are built once
pytestmark = pytest.mark.xdist_group("quality_sections")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SiteAnalysis]:
    project = load_project(write_demo_project(tmp_path_factory.mktemp("demo"), as_of=AS_OF))
    wanted = ["atelier-florence", "fab-dresden", "build-manchester"]
    parts = split_by_site(read_tables(project), wanted)
    return {
        s: analyse_site(parts[s], project=project, site_id=s, as_of=pd.Timestamp(AS_OF))
        for s in wanted
    }


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", "", html, flags=re.S))


def test_capability_section_for_the_metric_with_spec_limits(sites):
    site = sites["atelier-florence"]
    metric = site.metric("atelier_stitch_density")
    cap = metric.capability
    assert cap is not None and (cap.lsl, cap.usl, cap.target) == (3.7, 4.3, 4.0)
    text = _text(sections.metric_section(site, metric).body)
    assert "Process capability" in text and "Cpk" in text and "95% CI" in text
    assert f"{cap.cpk.estimate:.2f}" in text
    others = [m for m in site.metrics if m.metric_id != "atelier_stitch_density"]
    assert all(m.capability is None for m in others)
    d = site_results(site)
    (stitch,) = [m for m in d["metrics"] if m["metric_id"] == "atelier_stitch_density"]
    assert stitch["capability"]["cp"]["estimate"] == pytest.approx(cap.cp.estimate)


def test_pareto_section_and_escaping(sites):
    site = sites["fab-dresden"]
    assert site.pareto is not None
    text = _text(sections.pareto(site).body)
    assert "Where defects come from" in text and "Particles" in text
    assert sections.pareto(sites["build-manchester"]).body == ""  # no defects there
    hostile = dataclasses.replace(site, pareto=pareto(["<script>alert(1)</script>", "b"], [3, 1]))
    html = sections.pareto(hostile).body
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_annotation_excludes_its_point_and_is_listed(sites):
    site = sites["fab-dresden"]
    metric = site.metric("fab_eq_downtime")
    (note,) = metric.annotations
    assert note.exclude and metric.chart.is_excluded[note.index]
    assert metric.chart.is_excluded.sum() == 1
    # left out of the limits: the baseline centre is the mean of the other points of its phase
    ph = metric.chart.phases[0]
    values = metric.chart.value[ph.first : ph.last + 1]
    keep = ~metric.chart.is_excluded[ph.first : ph.last + 1] & ~pd.isna(values)
    assert ph.centre == pytest.approx(values[keep].mean())
    text = _text(sections.metric_section(site, metric).body)
    assert "Grid power outage" in text and "Notes on the chart" in text


def test_the_safety_metric_has_a_g_chart(sites):
    metric = sites["build-manchester"].metric("build_days_between_incidents")
    chart = metric.chart
    assert chart.chart == "g" and len(chart.phases) == 2  # the safety huddles start phase 2
    assert set(chart.rules) == {"we1", "anhoej_run", "anhoej_crossings"}
    assert chart.phases[1].centre > chart.phases[0].centre  # longer gaps: rarer incidents


def test_no_capability_from_a_current_phase_shorter_than_a_phase_needs(sites):
    # a reviewer's report: "Cp 1.75 (0.05 to 3.93)" from the 2 readings since an event
    import numpy as np

    from pipeline.report.analysis import _capability
    from pipeline.stats.spc import control_chart

    metric = sites["atelier-florence"].metric("atelier_stitch_density")
    y = np.random.default_rng(3).normal(4.0, 0.05, 40)
    definition = pd.Series({"lsl": 3.7, "usl": 4.3, "target": 4.0})
    short = control_chart(y, phases=[0] * 38 + [1] * 2, min_phase_points=12)
    cap, note = _capability(definition, metric.series, short, alpha=0.05)
    assert cap is None
    assert note == (
        "No capability yet: the current phase has 2 points, fewer than the 12 a phase needs "
        "(min_phase_points)."
    )
    whole = control_chart(y, min_phase_points=12)
    cap, note = _capability(definition, dataclasses.replace(metric.series, readings=None), whole,
                            alpha=0.05)  # fmt: skip
    assert cap is not None and note == ""
