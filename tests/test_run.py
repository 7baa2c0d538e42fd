"""End to end: real papermill, real nbconvert, real kernels, through the CLI and the API."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.data.config import load_project
from pipeline.report.manifest import load_manifest
from pipeline.report.results import load_results
from pipeline.run.execute import NOTEBOOK, run_project
from pipeline.vocabulary import RunStatus
from tests.conftest import AS_OF, write_mini_project
from tests.mini_run import MiniRun

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "pipeline"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def refused(*args: str) -> tuple[int, str]:
    """A command the CLI refuses before any site runs, in-process (a fresh interpreter per
    usage error cost 3-5 s and proved nothing more): its exit code and stderr. An exception
    other than click's exit (a traceback a user would see) fails the test."""
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


@pytest.mark.xdist_group("mini_run")
def test_run_writes_every_site_report_index_and_manifest(mini_run: MiniRun) -> None:
    """``run --jobs 2`` of the mini project through the CLI: the session's run (tests/mini_run.py)."""
    out = mini_run.out
    assert mini_run.stdout.strip() == str(out / "index.html")
    for site in ("north", "south"):
        for name in ("report.html", "report.ipynb", "results.json", "validation.json"):
            assert (out / site / name).is_file(), f"{site}/{name}"
        html = (out / site / "report.html").read_text()
        assert "Traceback" not in html and "In&nbsp;[" not in html and "site_id =" not in html
        results = load_results(out / site)
        assert results.site_id == site and results.as_of == AS_OF
        nb = nbformat.read(out / site / "report.ipynb", as_version=4)
        assert nb.metadata["papermill"]["parameters"]["site_id"] == site
    manifest = load_manifest(out)
    assert [s.site_id for s in manifest.sites] == ["north", "south"]
    assert all(s.status == RunStatus.OK for s in manifest.sites)
    assert manifest.run_id and manifest.summary["failed"] == 0
    assert (mini_run.project_file.parent / "out" / "latest").resolve() == out.resolve()
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
    south = load_manifest(out).site("south")
    assert south is not None and south.is_failed and "sensor feed" in (south.error or "")
    index = (out / "index.html").read_text()
    assert "sensor feed for south is corrupt" in index


def test_the_out_of_date_notice_of_a_long_or_listed_reason_reads_as_one_sentence() -> None:
    from pipeline.report.render import STALE_MARK, mark_stale

    listed = mark_stale(
        f"<p>{STALE_MARK}</p>",
        run_id="R2",
        error="data contract failed: 2 critical rules not met:\n- site 'a': one\n- site 'a': two",
    )
    assert "for this site: data contract failed: 2 critical rules not met. This page" in listed
    long = mark_stale(f"<p>{STALE_MARK}</p>", run_id="R2", error="word " * 80)
    assert "word … This page" in long and "wor…" not in long


def test_a_kept_report_says_a_later_run_failed_until_a_run_succeeds(
    mini_project: Path, tmp_path: Path
) -> None:
    """The last good report stays in place when a later run fails for its site, and says so at its
    top (a reader may open it from a bookmark or an old email); the next good run drops the notice."""
    project = load_project(mini_project)
    good = run_project(project, as_of=AS_OF, jobs=1, site_ids=["south"])
    page = good.output / "south" / "report.html"
    assert good.exit_code == 0 and "out of date" not in page.read_text()
    failing = _failing_template(tmp_path, "south")
    bad = run_project(project, as_of=AS_OF, jobs=1, site_ids=["south"], notebook=failing)
    assert bad.exit_code == 1
    kept = page.read_text()
    notice = kept[kept.index("This report is out of date") :].split("</div>")[0]
    assert bad.run_id in notice and "sensor feed for south is corrupt" in notice
    assert 'href="failed/error.txt"' in notice
    assert good.run_id in kept  # the page is still the good run's report
    again = run_project(project, as_of=AS_OF, jobs=1, site_ids=["south"], notebook=failing)
    assert again.exit_code == 1
    kept = page.read_text()
    assert kept.count("This report is out of date") == 1 and again.run_id in kept
    assert bad.run_id not in kept
    fixed = run_project(project, as_of=AS_OF, jobs=1, site_ids=["south"])
    assert fixed.exit_code == 0 and "out of date" not in page.read_text()


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
    code, stderr = refused(
        "run", "--project", str(mini_project), "--site", "west", "--as-of", AS_OF
    )
    assert code == 2
    assert "unknown site id 'west'; known sites: north, south" in stderr
    assert not (mini_project.parent / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday-ish"], "--as-of 'yesterday-ish' is not a date"),
        # pandas alone reads this month first (4 March) and takes "now": a report dated by a guess
        (["--as-of", "03/04/2026"], "--as-of '03/04/2026' is not a date (use YYYY-MM-DD)"),
        (["--as-of", "now"], "--as-of 'now' is not a date (use YYYY-MM-DD)"),
        (["--as-of", "2026-02-30"], "--as-of '2026-02-30' is not a date (no such day in the"),
        (["--jobs", "0"], "Invalid value for '--jobs'"),
    ],
)
def test_usage_errors_exit_2(mini_project: Path, args: list[str], message: str) -> None:
    code, stderr = refused("run", "--project", str(mini_project), *args)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr


def test_a_future_as_of_is_refused_unless_allowed(mini_project: Path) -> None:
    """A mistyped future date (relative to the real today, so this holds on any day) is a usage
    error before anything is written; --allow-future-as-of is the way to mean it."""
    today = dt.date.today()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    code, stderr = refused("run", "--project", str(mini_project), "--as-of", tomorrow)
    assert code == 2
    assert stderr == (
        f"error: --as-of {tomorrow} is after today ({today.isoformat()}). Check the date, or "
        "pass --allow-future-as-of if a future report date is meant\n"
    )
    assert not (mini_project.parent / "out").exists()
    assert "--allow-future-as-of" in CliRunner().invoke(main, ["run", "--help"]).output


def test_resume_without_a_date_asks_which_when_several_runs_were_interrupted(
    mini_project: Path,
) -> None:
    """``--resume`` without ``--as-of`` finishes the output folder's one interrupted run; with
    two dates interrupted it cannot guess, and says so before anything runs."""
    from pipeline.run.journal import JOURNAL, Journal, RunOptions

    out = mini_project.parent / "out"
    for as_of in ("2026-06-22", AS_OF):
        (out / as_of).mkdir(parents=True)
        Journal(out / as_of / JOURNAL).reset(f"run-{as_of}", RunOptions(as_of=as_of, force=True))
    code, stderr = refused("run", "--project", str(mini_project), "--resume")
    assert code == 2
    assert stderr == (
        f"error: --resume: runs for several report dates were interrupted (2026-06-22, {AS_OF}); "
        "say which to finish with --as-of\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["2026-06-22", AS_OF]  # nothing written


def test_resume_with_nothing_to_resume_says_it_is_a_run_as_usual(mini_project: Path) -> None:
    """A scheduled ``run --resume`` finishes an interrupted run or, with none, runs as usual:
    it said nothing of which, and a user took the fresh run for the resumed one."""
    project = load_project(mini_project)
    result = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1, resume=True)
    assert result.success and result.resumed is False
    log = next((result.output / "logs").glob("*.log")).read_text(encoding="utf-8")
    assert "--resume: no interrupted run to finish; this is a run as usual" in log
    assert run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1).resumed is None


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    (tmp_path / "kaizen.yaml").write_text("sites: [ {id: ../x} ]\ntables: {}\n")
    code, stderr = refused("run", "--project", str(tmp_path / "kaizen.yaml"))
    assert code == 2 and "Traceback" not in stderr
    code, stderr = refused("run", "--project", str(tmp_path / "missing.yaml"))
    assert code == 2 and "does not exist" in stderr


@pytest.mark.parametrize("command", ["run", "send"])
def test_an_output_that_is_a_file_is_one_clear_error_whichever_way_given(
    mini_project: Path, tmp_path: Path, command: str
) -> None:
    """``output:`` in kaizen.yaml and ``--output`` go through the same check: exit 2, one line
    naming the setting, never a FileExistsError traceback."""
    outfile = tmp_path / "outfile"
    outfile.write_text("x")
    yaml = mini_project.read_text().replace("output: out", f'output: "{outfile}"')
    mini_project.write_text(yaml)
    code, stderr = refused(command, "--project", str(mini_project), "--as-of", AS_OF)
    assert code == 2, stderr
    assert stderr == (
        f"error: output in kaizen.yaml ({outfile}) is a file, not a folder. "
        "Point it at a folder; it is created if missing\n"
    )
    code, stderr = refused(command, "--project", str(mini_project), "--output", str(outfile))
    assert code == 2, stderr
    assert stderr.startswith(f"error: --output ({outfile}) is a file, not a folder.")
    assert outfile.read_text() == "x"


def test_single_site_and_rerun_is_idempotent(mini_project: Path) -> None:
    project = load_project(mini_project)
    first = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1)
    assert first.success and [o.site_id for o in first.sites] == ["north"]
    before = load_results(first.output / "north").to_dict()
    second = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1)
    after = load_results(second.output / "north").to_dict()
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
    outside = load_manifest(result.output).data_outside_sites
    assert outside and "west" in outside[0]["message"]
    index = (result.output / "index.html").read_text()
    assert "belongs to no configured" in index and "west" in index


EMAIL = """
email:
  from: "Kaizen Reports <kaizen@example.com>"
"""


def test_a_partial_rerun_keeps_every_other_published_site(tmp_path: Path) -> None:
    """After a full run, ``run --site north`` (a step of the README's tour) replaces north's
    report only: south and west keep theirs, in the manifest, the portfolio and ``send``."""
    from pipeline.delivery.send import send_run
    from tests.mail_fixtures import SmtpServer, smtp_env

    project_file = write_mini_project(tmp_path / "p", sites=("north", "south", "west"))
    project_file.write_text(project_file.read_text() + EMAIL)
    project = load_project(project_file)
    full = run_project(project, as_of=AS_OF, jobs=1)
    assert full.success
    kept_html = {s: (full.output / s / "report.html").read_bytes() for s in ("south", "west")}

    # force: north's inputs did not change, and an incremental run would keep its report as it is
    partial = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1, force=True)
    assert partial.success and [o.site_id for o in partial.sites] == ["north"]
    assert [o.site_id for o in partial.kept_sites] == ["south", "west"]
    manifest = load_manifest(partial.output)
    assert manifest.run_id == partial.run_id
    assert [(s.site_id, s.status, s.run_id) for s in manifest.sites] == [
        ("north", "ok", partial.run_id),
        ("south", "ok", full.run_id),
        ("west", "ok", full.run_id),
    ]
    assert manifest.summary == {"ok": 3, "warnings": 0, "failed": 0}
    for site, html in kept_html.items():
        assert (partial.output / site / "report.html").read_bytes() == html
    index = (partial.output / "index.html").read_text()
    for site in ("north", "south", "west"):
        assert f'href="{site}/report.html"' in index
    log = (partial.output / "logs" / f"{partial.run_id}.log").read_text()
    assert "1 ok, 0 failed, 2 kept from earlier runs" in log

    with SmtpServer() as server:
        sent = send_run(project, as_of=AS_OF, env=smtp_env(server.port))
        received = sorted(r.rcpt_tos[0] for r in server.received)
    assert sent.exit_code == 0
    assert received == ["ops-north@example.com", "ops-south@example.com", "ops-west@example.com"]


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made read-only for real: chmod for a normal user; as root (whom permissions do
    not stop) a read-only tmpfs mounted over it."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("running as root without the right to mount: no way to make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("out", "error: cannot write to the output folder {out}: '.kaizen.lock': "),
        (f"out/{AS_OF}", f"error: cannot write to the output folder {{out}}/{AS_OF}: 'logs': "),
        (
            f"out/{AS_OF}/.staging",
            f"error: cannot write to the staging folder in {{out}}/{AS_OF}: '20",
        ),
    ],
)
def test_a_read_only_output_folder_is_a_clear_error(
    mini_project: Path, where: str, message: str
) -> None:
    out = mini_project.parent / "out"
    (mini_project.parent / where).mkdir(parents=True)
    with read_only(mini_project.parent / where):
        proc = cli("run", "--project", str(mini_project), "--as-of", AS_OF)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    first = proc.stderr.strip().splitlines()[-1]
    assert first.startswith(message.format(out=out)), first
    assert first.endswith("Make it writable, or choose another folder with --output"), first


def _ran(result) -> list[str]:
    return [o.site_id for o in result.sites if not o.is_unchanged]


def test_an_incremental_run_reruns_exactly_the_sites_whose_inputs_changed(
    tmp_path: Path,
) -> None:
    project_file = write_mini_project(tmp_path / "p", sites=("north", "south", "west"))
    data = tmp_path / "p" / "data"
    run = lambda **kw: run_project(load_project(project_file), as_of=AS_OF, jobs=1, **kw)  # noqa: E731
    first = run()
    assert _ran(first) == ["north", "south", "west"]
    assert {o.change for o in first.sites} == {"new"}

    # nothing changed: nothing runs, every report stays, the manifest and log say so
    again = run()
    assert _ran(again) == [] and again.success
    manifest = load_manifest(again.output)
    assert {(s.change, s.run_id) for s in manifest.sites} == {("unchanged", first.run_id)}
    log = (again.output / "logs" / f"{again.run_id}.log").read_text()
    assert f"site south: unchanged since run {first.run_id}, not run again" in log
    # ... decided from the stored inputs' digests alone: nothing was read or validated
    assert again.validation_seconds == 0.0
    assert f"inputs unchanged since run {first.run_id}: nothing read, validated or run" in log

    # a file touched (new modification time, same bytes): still nothing read or run
    obs = data / "observations.csv"
    os.utime(obs, (obs.stat().st_atime + 60, obs.stat().st_mtime + 60))
    touched = run()
    assert _ran(touched) == [] and touched.validation_seconds == 0.0

    # a file's bytes change but no site's rows do (a value quoted): the inputs are read and
    # validated, every site's fingerprint still matches, nothing runs; then the digests again
    text = obs.read_text()
    assert "\nnorth,lead_time," in text
    obs.write_text(text.replace("\nnorth,lead_time,", '\n"north",lead_time,', 1))
    requoted = run()
    assert _ran(requoted) == [] and requoted.validation_seconds > 0
    assert run().validation_seconds == 0.0

    # one site's rows: that site only, and the log says why
    obs.write_text(obs.read_text() + "south,lead_time,2026-06-23,17.5,,\n")
    rows = run()
    assert _ran(rows) == ["south"]
    assert next(o for o in rows.sites if o.site_id == "south").change == "data, validation"
    assert (
        "site south: runs (data, validation)"
        in (rows.output / "logs" / f"{rows.run_id}.log").read_text()
    )

    # one site's configuration (its name): that site only
    project_file.write_text(
        project_file.read_text().replace("name: West Plant", "name: West Works")
    )
    config = run()
    assert _ran(config) == ["west"]
    assert next(o for o in config.sites if o.site_id == "west").change == "configuration"

    # a setting every site shares: every site
    project_file.write_text(
        project_file.read_text().replace("lookback: 12 months", "lookback: 11 months")
    )
    assert _ran(run()) == ["north", "south", "west"]

    # the notebook template: every site
    template = tmp_path / "custom.ipynb"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Prepared by the continuous improvement office."))
    nbformat.write(nb, template)
    changed = run(notebook=template)
    assert _ran(changed) == ["north", "south", "west"]
    assert {o.change for o in changed.sites} == {"notebook"}
    assert _ran(run(notebook=template)) == []

    # --force: every site, whatever changed
    forced = run(notebook=template, force=True)
    assert _ran(forced) == ["north", "south", "west"]
    assert {o.change for o in forced.sites} == {"--force"}
