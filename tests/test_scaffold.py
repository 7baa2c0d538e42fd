"""``kaizen-reports init``: a new project that validates and computes as it is."""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.data.config import load_project
from pipeline.data.contracts import validate_project
from pipeline.data.inputs import read_tables, split_by_site
from pipeline.data.scaffold import write_new_project
from pipeline.exceptions import ConfigError
from pipeline.report.analysis import analyse_site

AS_OF = dt.date(2026, 11, 27)


def test_new_project_validates_and_its_example_improvement_is_measured(tmp_path: Path) -> None:
    path = write_new_project(tmp_path / "p", site_id="plant-a", site_name='Plant A: "Leeds" #1',
                             as_of=AS_OF)  # fmt: skip
    project = load_project(path)
    assert project.site_ids == ("plant-a",) and project.sites[0].name == 'Plant A: "Leeds" #1'
    tables = read_tables(project)
    report = validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["plant-a"])
    assert report.for_site("plant-a").status == "ok", report.for_site("plant-a").failures
    site = analyse_site(
        split_by_site(tables, ["plant-a"])["plant-a"], project=project, site_id="plant-a",
        as_of=pd.Timestamp(AS_OF),
    )  # fmt: skip
    (event,) = site.metrics[0].events
    assert event.outcome is not None and event.outcome.outcome == "sustained"


def test_init_refuses_an_existing_project_and_unsafe_ids(tmp_path: Path) -> None:
    write_new_project(tmp_path, as_of=AS_OF)
    with pytest.raises(ConfigError, match="already exists"):
        write_new_project(tmp_path, as_of=AS_OF)
    with pytest.raises(ConfigError, match="not a safe slug"):
        write_new_project(tmp_path / "q", site_id="../x")
    runner = CliRunner()
    done = runner.invoke(main, ["init", str(tmp_path)])
    assert done.exit_code == 2 and "already exists" in done.output
    fresh = runner.invoke(main, ["init", str(tmp_path / "new"), "--site", "north"])
    assert fresh.exit_code == 0 and (tmp_path / "new" / "kaizen.yaml").is_file()


def test_init_overwrites_no_table_a_user_put_there_first(tmp_path: Path) -> None:
    """The usual first step, put the export in data/ and init the folder, keeps the export."""
    data = tmp_path / "p" / "data"
    data.mkdir(parents=True)
    (data / "observations.csv").write_text("keep\n", encoding="utf-8")
    done = CliRunner().invoke(main, ["init", str(tmp_path / "p")])
    assert done.exit_code == 2, done.output
    assert "observations.csv" in done.output and "overwrites no table" in done.output
    assert (data / "observations.csv").read_text(encoding="utf-8") == "keep\n"
    assert sorted(p.name for p in (tmp_path / "p").rglob("*")) == ["data", "observations.csv"]


def test_init_prints_a_next_command_that_runs_in_a_folder_with_spaces(tmp_path: Path) -> None:
    """The "next:" hint is quoted for the shell, so copying it works for "My Plant/kaizen.yaml"."""
    done = CliRunner().invoke(main, ["init", str(tmp_path / "My Plant")])
    assert done.exit_code == 0, done.output
    hint = next(line for line in done.output.splitlines() if "next: " in line)
    command = shlex.split(hint.split("next: ", 1)[1])
    assert command[:3] == ["kaizen-reports", "run", "--project"]
    assert Path(command[3]) == tmp_path / "My Plant" / "kaizen.yaml" and Path(command[3]).is_file()
