"""The demo, with hostile strings in its data and configuration, run once per session through
the command line (``python -m pipeline run``): the reports that tests/test_browser.py opens in
Chromium and tests/test_figures_traceable.py reads. A plugin module (tests/conftest.py), so every
module of the ``browser`` xdist group shares the one run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

AS_OF = "2026-11-27"
SCRIPT_TITLE = "<script>alert(1)</script>"
IMG_TITLE = "<img src=x onerror=alert(1)>"
SITE_NAME = "Dresden Wafer Fab <b>&\"'"
#: (site, event) that get the hostile titles: a faded and a sustained improvement, so both also
#: reach the portfolio's ranking of improvements.
SCRIPT_EVENT = ("hotel-lisbon", "HOT-E1")
IMG_EVENT = ("build-manchester", "BLD-E1")
NAME_SITE = "fab-dresden"
SITES = ("atelier-florence", "build-manchester", "fab-dresden", "hotel-lisbon")


def _inject_hostile_strings(project_file: Path) -> None:
    data = project_file.parent / "data"
    events = pd.read_csv(data / "events.csv", dtype=str, keep_default_na=False)
    for (site, event), title in ((SCRIPT_EVENT, SCRIPT_TITLE), (IMG_EVENT, IMG_TITLE)):
        hit = (events["site_id"] == site) & (events["event_id"] == event)
        assert hit.sum() == 1, f"demo event {site}/{event} not found"
        events.loc[hit, "title"] = title
    events.to_csv(data / "events.csv", index=False)
    config = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    for site in config["sites"]:
        if site["id"] == NAME_SITE:
            site["name"] = SITE_NAME
    project_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, with hostile strings, run once: ``OUT/<as_of>``."""
    from pipeline.data.demo import write_demo_project

    root = tmp_path_factory.mktemp("browser")
    out = root / "reports"
    project_file = write_demo_project(root / "project", as_of=AS_OF, output=out)
    _inject_hostile_strings(project_file)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--project", str(project_file)]
        + ["--as-of", AS_OF, "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / AS_OF
