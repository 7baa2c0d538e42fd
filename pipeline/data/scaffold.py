"""``kaizen-reports init``: a new project folder with a commented kaizen.yaml and input tables.

The tables hold a small worked example (one site, one metric, one improvement) so that the new
project validates and runs at once; replace the rows with your own.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data.inputs import SCHEMA
from pipeline.exceptions import ConfigError
from pipeline.files import site_id_problem

WEEKS = 26
#: The input tables init writes (data/<name>.csv); the others stay commented out in kaizen.yaml.
WRITTEN_TABLES = ("metrics", "observations", "events")

KAIZEN_YAML = """\
# Kaizen Reports project: what to read, which sites to report on, and how to send the reports.
# Reference: pipeline/data/config.py (every setting) and data_contracts/README.md (every data rule).
project: {project}
output: reports                  # where run writes reports/<as_of>/..., relative to this file
lookback: 24 months              # the report window before as_of (N days|weeks|months|years)

# An optional table below: write its file first (its columns: data_contracts/README.md), then
# take the "#" off its line. A file whose numbers are written 12,5: {{path: ..., decimal: ","}}.
tables:                          # CSV (comma, ';' or tab separated) or Parquet files, or SQL
  metrics:      {{path: data/metrics.csv}}
  observations: {{path: data/observations.csv}}
  events:       {{path: data/events.csv}}
  # goals:       {{path: data/goals.csv}}          # optional: targets per metric
  # suggestions: {{path: data/suggestions.csv}}    # optional: the idea system
  # headcount:   {{path: data/headcount.csv}}      # optional: for ideas per employee
  # surveys:     {{path: data/surveys.csv}}        # optional: engagement, customer satisfaction
  # A table from a database instead of a file (the password comes from the environment):
  # observations: {{sql: "SELECT * FROM observations", url: "postgresql+psycopg2://kaizen@db/kaizen",
  #                password_env: KAIZEN_DB_PASSWORD}}

statistics: {{rules: we, min_phase_points: 12, sustain_points: 8, alpha: 0.05}}

sites:
  - id: {site_id}
    name: {site_name}
    timezone: UTC                # e.g. Europe/Berlin: times without an offset are local time
    stakeholders: []             # e.g. ["Ana Lange <ana.lange@example.com>"]

email:                           # used by `kaizen-reports send`
  from: "Kaizen Reports <kaizen@example.com>"
  error_recipients: []
  smtp: {{host: localhost, port: 587, security: starttls}}   # password: KAIZEN_SMTP_PASSWORD
"""


def write_new_project(
    directory: Path,
    *,
    site_id: str = "my-site",
    site_name: str = "My Site",
    as_of: dt.date | None = None,
) -> Path:
    """Write a new project into ``directory`` (which must hold no kaizen.yaml and none of the
    tables it writes, :data:`WRITTEN_TABLES`, yet: nothing is overwritten).

    Returns the path of kaizen.yaml.

    Raises
    ------
    ConfigError
        The folder already holds a project or one of those tables, or ``site_id`` is not a
        safe slug.
    """
    problem = site_id_problem(site_id)
    if problem:
        raise ConfigError(problem)
    directory = Path(directory)
    config = directory / "kaizen.yaml"
    if config.exists():
        raise ConfigError(f"{config} already exists; init writes new projects only")
    data = directory / "data"
    written = [data / f"{name}.csv" for name in WRITTEN_TABLES]
    taken = [p.name for p in written if p.exists()]
    if taken:
        raise ConfigError(
            f"{data} already holds {', '.join(taken)}; init writes new projects only and "
            "overwrites no table (move them aside, or init another folder and point its "
            "kaizen.yaml at them)"
        )
    as_of = as_of or dt.date.today()
    data.mkdir(parents=True, exist_ok=True)

    last_monday = pd.Timestamp(as_of) - pd.Timedelta(days=pd.Timestamp(as_of).weekday() + 7)
    weeks = pd.date_range(end=last_monday, periods=WEEKS, freq="7D")
    change = weeks[WEEKS // 2]
    rng = np.random.default_rng(2026)
    level = np.where(weeks < change, 6.0, 4.5)
    observations = pd.DataFrame(
        {
            "site_id": site_id,
            "metric_id": "order_lead_time",
            "timestamp": [w.date().isoformat() for w in weeks],
            "value": np.round(level + rng.normal(0, 0.35, WEEKS), 2),
            "n": "",
            "subgroup": "",
        }
    )
    metrics = pd.DataFrame(
        [
            (
                "order_lead_time",
                "Order lead time",
                "days",
                "xmr",
                "lower",
                "week",
                "mean",
                0,
                "",
                "",
                "",
                "",
            )
        ],
        columns=list(SCHEMA["metrics"]),
    )
    events = pd.DataFrame(
        [
            (site_id, "E1", "Example: pull system in dispatch", "kaizen_event", "",
             (change - pd.Timedelta(days=7)).date().isoformat(), change.date().isoformat(), "",
             "order_lead_time", "Dispatch team", "done", "Pull system", ""),
        ],
        columns=list(SCHEMA["events"]),
    )  # fmt: skip
    frames = {
        "metrics": metrics,
        "observations": observations[list(SCHEMA["observations"])],
        "events": events,
    }
    for name in WRITTEN_TABLES:
        frames[name].to_csv(data / f"{name}.csv", index=False)
    config.write_text(
        KAIZEN_YAML.format(
            project=json.dumps(f"{site_name} improvement programme", ensure_ascii=False),
            site_id=site_id,
            site_name=json.dumps(site_name, ensure_ascii=False),  # a YAML double-quoted string
        ),
        encoding="utf-8",
    )  # fmt: skip
    return config
