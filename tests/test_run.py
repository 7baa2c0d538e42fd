"""End to end: real papermill, real nbconvert, real kernels, through the CLI and the API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pipeline.data.config import load_project
from pipeline.run.execute import NOTEBOOK, run_project
from tests.conftest import AS_OF

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "pipeline"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_run_writes_every_site_report_index_and_manifest(mini_project: Path) -> None:
    proc = cli("run", "--project", str(mini_project), "--as-of", AS_OF, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    out = mini_project.parent / "out" / AS_OF
    assert proc.stdout.strip() == str(out / "index.html")
    for site in ("north", "south"):
        for name in ("report.html", "report.ipynb", "results.json", "validation.json"):
            assert (out / site / name).is_file(), f"{site}/{name}"
        html = (out / site / "report.html").read_text()
        assert "Traceback" not in html and "In&nbsp;[" not in html and "site_id =" not in html
        results = json.loads((out / site / "results.json").read_text())
        assert results["site_id"] == site and results["as_of"] == AS_OF
        nb = nbformat.read(out / site / "report.ipynb", as_version=4)
        assert nb.metadata["papermill"]["parameters"]["site_id"] == site
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["site_id"] for s in manifest["sites"]] == ["north", "south"]
    assert all(s["status"] == "ok" for s in manifest["sites"])
    assert manifest["run_id"] and manifest["summary"]["failed"] == 0
    assert (mini_project.parent / "out" / "latest").resolve() == out.resolve()
    index = (out / "index.html").read_text()
    assert 'href="north/report.html"' in index and 'href="south/report.html"' in index


def _failing_template(tmp_path: Path, site: str) -> Path:
    """A customised template that fails in a cell for one site (as a user's edit might)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(
        2,
        nbformat.v4.new_code_cell(
            f'if site_id == "{site}":\n    raise ValueError("sensor feed for {site} is corrupt")'
        ),
    )
    path = tmp_path / "failing.ipynb"
    nbformat.write(nb, path)
    return path


def test_failing_site_keeps_its_notebook_and_others_succeed(
    mini_project: Path, tmp_path: Path
) -> None:
    project = load_project(mini_project)
    result = run_project(
        project, as_of=AS_OF, jobs=2, notebook=_failing_template(tmp_path, "south")
    )
    assert result.exit_code == 1
    assert [o.site_id for o in result.failed_sites] == ["south"]
    failed = result.failed_sites[0]
    assert "ValueError: sensor feed for south is corrupt" in (failed.error or "")
    out = result.output
    assert (out / "north" / "report.html").is_file()
    kept = nbformat.read(out / "south" / "failed" / "report.ipynb", as_version=4)
    # papermill's error marker sits at the top of the executed notebook
    assert "An Exception was encountered at" in "".join(kept.cells[0].source)
    assert not (out / "south" / "report.html").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    south = next(s for s in manifest["sites"] if s["site_id"] == "south")
    assert south["status"] == "failed" and "sensor feed" in south["error"]
    index = (out / "index.html").read_text()
    assert "sensor feed for south is corrupt" in index


def test_cli_exit_code_1_names_the_failed_site(mini_project: Path, tmp_path: Path) -> None:
    # The same failure through the CLI: a user's customised template fails for one site.
    shutil.copy(_failing_template(tmp_path, "north"), tmp_path / "t.ipynb")
    env = {**os.environ}
    code = (
        "import sys; from pipeline.data.config import load_project; from pipeline.run.execute import run_project;"
        f"r = run_project(load_project({str(mini_project)!r}), as_of={AS_OF!r}, jobs=1,"
        f" notebook={str(tmp_path / 't.ipynb')!r}, site_ids=['north']); sys.exit(r.exit_code)"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
    assert proc.returncode == 1


def test_unknown_site_is_rejected_with_the_known_ones(mini_project: Path) -> None:
    proc = cli("run", "--project", str(mini_project), "--site", "west", "--as-of", AS_OF)
    assert proc.returncode == 2
    assert "unknown site id(s) 'west'; known sites: north, south" in proc.stderr
    assert not (mini_project.parent / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday-ish"], "--as-of 'yesterday-ish' is not a date"),
        (["--jobs", "0"], "Invalid value for '--jobs'"),
    ],
)
def test_usage_errors_exit_2(mini_project: Path, args: list[str], message: str) -> None:
    proc = cli("run", "--project", str(mini_project), *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    (tmp_path / "kaizen.yaml").write_text("sites: [ {id: ../x} ]\ntables: {}\n")
    proc = cli("run", "--project", str(tmp_path / "kaizen.yaml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = cli("run", "--project", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_single_site_and_rerun_is_idempotent(mini_project: Path) -> None:
    project = load_project(mini_project)
    first = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1)
    assert first.success and [o.site_id for o in first.sites] == ["north"]
    before = json.loads((first.output / "north" / "results.json").read_text())
    second = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1)
    after = json.loads((second.output / "north" / "results.json").read_text())
    before.pop("run_id"), after.pop("run_id")
    assert before == after
    assert not (first.output / ".staging").exists() and not (first.output / ".trash").exists()


def test_data_for_an_unconfigured_site_is_named_in_manifest_and_index(mini_project: Path) -> None:
    obs = mini_project.parent / "data" / "observations.csv"
    with obs.open("a") as fh:
        fh.write("west,lead_time,2026-06-01,21.5,,\n")
    project = load_project(mini_project)
    result = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1)
    assert result.success  # the configured site is produced
    manifest = json.loads((result.output / "manifest.json").read_text())
    outside = manifest["data_outside_sites"]
    assert outside and "west" in outside[0]["message"]
    index = (result.output / "index.html").read_text()
    assert "belongs to no configured" in index and "west" in index
