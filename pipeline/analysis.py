"""Compute everything one site's report shows, as one result object that also writes results.json.

This is the only thing the site notebook calls to get numbers: it reads the site's slice of the
inputs, builds each metric's series, and runs the statistics. Pure apart from
:func:`load_site_analysis` and :meth:`SiteAnalysis.write_results`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Project, StatisticsSettings, load_project
from pipeline.formatting import json_safe
from pipeline.inputs import SiteTables
from pipeline.series import MetricSeries, build_series

RESULTS_FILE = "results.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricAnalysis:
    """One metric at one site: its definition, series and statistics."""

    metric_id: str
    name: str
    unit: str
    chart: str
    better: str
    period: str
    aggregate: str
    series: MetricSeries
    events: tuple[dict[str, Any], ...] = ()

    @property
    def values(self) -> pd.Series:
        return self.series.rates()

    @property
    def latest(self) -> float | None:
        v = self.values.dropna()
        return float(v.iloc[-1]) if len(v) else None

    @property
    def latest_time(self) -> pd.Timestamp | None:
        pts = self.series.points
        ok = pts[self.values.notna()]
        return pd.Timestamp(ok["time"].iloc[-1]) if len(ok) else None

    def to_dict(self) -> dict[str, Any]:
        pts = self.series.points
        return {
            "metric_id": self.metric_id,
            "name": self.name,
            "unit": self.unit,
            "chart": self.chart,
            "better": self.better,
            "period": self.period,
            "aggregate": self.aggregate,
            "kind": self.series.kind,
            "latest": self.latest,
            "latest_time": self.latest_time,
            "n_points": int(self.values.notna().sum()),
            "events": list(self.events),
            "series": [
                {"time": t, "value": v, "n": n}
                for t, v, n in zip(pts["time"], self.values, pts["n"], strict=True)
            ],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteAnalysis:
    """Everything one site's report shows."""

    site_id: str
    site_name: str
    project_name: str
    as_of: pd.Timestamp
    window_start: pd.Timestamp
    run_id: str
    settings: StatisticsSettings
    metrics: tuple[MetricAnalysis, ...]
    events: pd.DataFrame
    goals: pd.DataFrame
    validation: dict[str, Any] = field(default_factory=dict)
    data_freshness: pd.Timestamp | None = None

    @property
    def status(self) -> str:
        return str(self.validation.get("status", "ok"))

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "site_id": self.site_id,
                "site_name": self.site_name,
                "project": self.project_name,
                "as_of": self.as_of.date().isoformat(),
                "window_start": self.window_start.date().isoformat(),
                "run_id": self.run_id,
                "status": self.status,
                "data_freshness": self.data_freshness,
                "settings": {
                    "rules": self.settings.rules,
                    "min_phase_points": self.settings.min_phase_points,
                    "sustain_points": self.settings.sustain_points,
                    "alpha": self.settings.alpha,
                    "screen_mr": self.settings.screen_mr,
                },
                "metrics": [m.to_dict() for m in self.metrics],
                "validation": self.validation,
            }
        )

    def write_results(self, output_dir: str | Path) -> Path:
        """Write ``results.json`` (every number the report shows) into ``output_dir``."""
        path = Path(output_dir) / RESULTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(RESULTS_FILE + ".tmp")
        tmp.write_text(
            json.dumps(self.to_dict(), indent=1, ensure_ascii=False, allow_nan=False),
            encoding="utf-8",
        )
        os.replace(tmp, path)
        return path


def analyse_site(
    data: SiteTables,
    *,
    project: Project,
    site_id: str,
    as_of: pd.Timestamp,
    run_id: str = "",
    validation: dict[str, Any] | None = None,
) -> SiteAnalysis:
    """Compute the site's results from its slice of the inputs."""
    site = project.site(site_id)
    settings = project.statistics_for(site_id)
    as_of = pd.Timestamp(as_of).normalize()
    window_start = pd.Timestamp(project.lookback_start(as_of)).normalize()
    obs = data["observations"]
    events = data["events"]
    metrics_table = data["metrics"]
    goals = data.get("goals")
    goals = goals if goals is not None else pd.DataFrame()

    used = [m for m in metrics_table["metric_id"] if (obs["metric_id"] == m).any()]
    results = []
    for metric_id in used:
        row = metrics_table[metrics_table["metric_id"] == metric_id].iloc[0]
        series = build_series(
            obs,
            metric_id=metric_id,
            chart=str(row["chart"]),
            period=str(row.get("period") or "week"),
            aggregate=str(row.get("aggregate") or "mean"),
            start=window_start,
            end=as_of,
        )
        metric_events = tuple(
            {
                "event_id": e["event_id"],
                "title": e["title"],
                "effective_date": e["effective_date"],
                "status": e["status"],
            }
            for _, e in events.iterrows()
            if metric_id in str(e["metric_ids"] or "").split(";")
        )
        results.append(
            MetricAnalysis(
                metric_id=metric_id,
                name=str(row["name"]),
                unit=str(row["unit"] or ""),
                chart=str(row["chart"]),
                better=str(row["better"]),
                period=str(row.get("period") or "week"),
                aggregate=str(row.get("aggregate") or "mean"),
                series=series,
                events=metric_events,
            )
        )
    freshness = obs["timestamp"].max() if len(obs) else None
    return SiteAnalysis(
        site_id=site_id,
        site_name=site.name,
        project_name=project.name,
        as_of=as_of,
        window_start=window_start,
        run_id=run_id,
        settings=settings,
        metrics=tuple(results),
        events=events,
        goals=goals,
        validation=validation or {},
        data_freshness=freshness,
    )


def load_site_analysis(
    *,
    project_file: str,
    site_data: str,
    site_id: str,
    as_of: str,
    validation_file: str = "",
    run_id: str = "",
) -> SiteAnalysis:
    """What the site notebook calls: read the project, the site's slice and its validation."""
    project = load_project(project_file)
    if site_data:
        data = SiteTables.load(site_data)
    else:  # running the notebook by hand: read and split the project's tables here
        from pipeline.inputs import read_tables, split_by_site

        data = split_by_site(read_tables(project), [site_id])[site_id]
    validation: dict[str, Any] = {}
    if validation_file and Path(validation_file).is_file():
        validation = json.loads(Path(validation_file).read_text(encoding="utf-8"))
    stamp = pd.Timestamp(as_of) if as_of else pd.Timestamp(dt.date.today())
    return analyse_site(
        data, project=project, site_id=site_id, as_of=stamp, run_id=run_id, validation=validation
    )
