"""Shared fixtures: a small two-site project written fresh for each test that needs one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.data.inputs import SCHEMA

AS_OF = "2026-06-29"
#: fixtures shared by several modules (the throwaway PostgreSQL server lives there)
pytest_plugins = [
    "tests.contract_fixtures",
    "tests.demo_run",
    "tests.mini_run",
    "tests.xdist_scheduling",
]


def write_mini_project(root: Path, *, sites: tuple[str, ...] = ("north", "south")) -> Path:
    """A small but complete project: one continuous and one proportion metric per site."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    weeks = pd.date_range("2025-07-07", "2026-06-22", freq="W-MON")
    obs = []
    for site in sites:
        for i, w in enumerate(weeks):
            level = 20.0 if i < 26 else 15.0
            for d in range(3):
                obs.append(
                    (
                        site,
                        "lead_time",
                        (w + pd.Timedelta(days=d)).date().isoformat(),
                        round(level + rng.normal(0, 1.5), 2),
                        "",
                        "",
                    )
                )
            obs.append((site, "defects", w.date().isoformat(), int(rng.binomial(50, 0.1)), 50, ""))
    pd.DataFrame(
        obs, columns=["site_id", "metric_id", "timestamp", "value", "n", "subgroup"]
    ).to_csv(data / "observations.csv", index=False)
    pd.DataFrame(
        [
            ("lead_time", "Order lead time", "days", "xmr", "lower", "week", "mean"),
            ("defects", "Defective units", "%", "p", "lower", "week", "sum"),
        ],
        columns=["metric_id", "name", "unit", "chart", "better", "period", "aggregate"],
    ).to_csv(data / "metrics.csv", index=False)
    pd.DataFrame(
        [
            (
                s,
                f"{s}-e1",
                "5S in dispatch",
                "kaizen_event",
                "",
                "2025-12-22",
                "2026-01-05",
                "",
                "lead_time",
                "Dispatch team",
                "done",
                "5S",
                "",
            )
            for s in sites
        ],
        columns=list(SCHEMA["events"]),
    ).to_csv(data / "events.csv", index=False)
    site_yaml = "".join(
        f"  - id: {s}\n    name: {s.title()} Plant\n    stakeholders: ['Ops <ops-{s}@example.com>']\n"
        for s in sites
    )
    (root / "kaizen.yaml").write_text(
        textwrap.dedent(
            """\
            project: Mini Programme
            output: out
            lookback: 12 months
            tables:
              metrics: {path: data/metrics.csv}
              observations: {path: data/observations.csv}
              events: {path: data/events.csv}
            sites:
            """
        )
        + site_yaml,
        encoding="utf-8",
    )
    return root / "kaizen.yaml"


@pytest.fixture
def mini_project(tmp_path: Path) -> Path:
    return write_mini_project(tmp_path / "project")
