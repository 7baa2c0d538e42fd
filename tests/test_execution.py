"""Execution that survives failures: pool and Dask, retries, the lock, SIGKILL, Ctrl-C and
SIGTERM, --resume, logs, and warm kernels that leak nothing from one site to the next."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from pipeline.data.config import load_project
from pipeline.exceptions import ConfigError, LockHeld
from pipeline.report.manifest import load_manifest
from pipeline.report.results import load_results
from pipeline.run.execute import NOTEBOOK, run_project
from pipeline.run.kernels import warm_kernels_enabled
from pipeline.run.lock import RunLock
from tests.conftest import AS_OF, write_mini_project
from tests.mini_run import MiniRun

pytestmark = pytest.mark.slow


def _results(out: Path, site: str) -> dict:
    data = load_results(out / site).to_dict()
    data.pop("run_id")
    return data


@pytest.mark.xdist_group("mini_run")
def test_dask_local_cluster_gives_the_same_reports_as_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mini_run: MiniRun
) -> None:
    import pipeline.run.execute as execute

    # the pool's reports: the session's run of the mini project with two workers, copied here
    project = load_project(mini_run.copy_to(tmp_path / "p"))
    first = {s: _results(mini_run.out, s) for s in ("north", "south")}
    # every Dask worker's warm kernel process rehearses the notebook first (1 site a worker
    # is enough here), which must change no report
    monkeypatch.setattr(execute, "REHEARSE_FROM_SITES", 1)
    # force: the inputs are those of the pool's run, which an incremental run would not repeat
    probe = _kernel_probe_template(tmp_path)  # the template plus a cell that writes kernel.json
    dask = run_project(project, as_of=AS_OF, jobs=2, executor="dask", force=True, notebook=probe)
    assert dask.success, [o.error for o in dask.sites]
    assert {s: _results(dask.output, s) for s in ("north", "south")} == first
    kernels = [
        json.loads((dask.output / s / "kernel.json").read_text()) for s in ("north", "south")
    ]
    assert all(k["rehearsed"] for k in kernels) is warm_kernels_enabled()
    # a site kernel's linear algebra keeps to one thread (sites already run one per core)
    assert [k["blas_threads"] for k in kernels] == [1, 1]


def _flaky_kernel(tmp_path: Path, failures: int) -> Path:
    """A kernelspec whose first ``failures`` starts die at once (a real kernel-start failure)."""
    root = tmp_path / "jupyter"
    spec = root / "kernels" / "flaky"
    spec.mkdir(parents=True)
    counter = tmp_path / "starts"
    script = tmp_path / "flaky.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            path = {str(counter)!r}
            n = int(open(path).read()) if os.path.exists(path) else 0
            open(path, "w").write(str(n + 1))
            if n < {failures}:
                sys.exit(3)
            os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[1:]])
            """
        )
    )
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, str(script), "-f", "{connection_file}"],
                "display_name": "flaky",
                "language": "python",
            }
        )
    )
    return root


def test_kernel_start_failure_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(_flaky_kernel(tmp_path, failures=1)))
    project = load_project(write_mini_project(tmp_path / "p", sites=("north",)))
    result = run_project(project, as_of=AS_OF, jobs=1, kernel_name="flaky")
    assert result.success, result.sites[0].error
    assert result.sites[0].attempts == 2
    assert (tmp_path / "starts").read_text() == "2"
    log = next((result.output / "logs").glob("*.log")).read_text()
    assert "after 2 attempts" in log


def test_a_kernel_that_never_starts_fails_the_site_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(_flaky_kernel(tmp_path, failures=99)))
    project = load_project(write_mini_project(tmp_path / "p", sites=("north",)))
    result = run_project(project, as_of=AS_OF, jobs=1, kernel_name="flaky")
    assert result.exit_code == 1
    assert result.sites[0].attempts == 3
    assert "the notebook could not run" in (result.sites[0].error or "")


def test_lock_names_the_holder(tmp_path: Path) -> None:
    project = load_project(write_mini_project(tmp_path / "p"))
    project.output.mkdir(parents=True)
    with RunLock(project.output, run_id="RUN-HOLDER", as_of=AS_OF):
        with pytest.raises(LockHeld) as err:
            run_project(project, as_of=AS_OF)
        assert "run RUN-HOLDER (pid" in str(err.value) and "is writing to" in str(err.value)
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "run", "--project", str(project.path)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2 and "RUN-HOLDER" in proc.stderr
    # released: a run goes through
    assert run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1).success


LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ site (north|south): ok \(\d+\.\ds( \w+=\d+\.\d\ds)*\) "
    r"\[\d/2 done, 0 failed, \d+s elapsed\]$"
)


@pytest.mark.xdist_group("mini_run")
def test_non_tty_progress_is_plain_timestamped_lines_and_a_log_file(mini_run: MiniRun) -> None:
    """``run --verbose`` with its output captured (no terminal): the session's run."""
    assert mini_run.returncode == 0, mini_run.stderr
    site_lines = [line for line in mini_run.stderr.splitlines() if " site " in line]
    assert len(site_lines) == 2 and all(LINE.match(line) for line in site_lines), site_lines
    assert "\x1b[" not in mini_run.stderr  # no terminal escapes in a cron mail
    logs = list((mini_run.out / "logs").glob("*.log"))
    assert len(logs) == 1 and "site north: ok" in logs[0].read_text()


def _leaky_template(tmp_path: Path) -> Path:
    """The real template plus a cell that records the kernel's state, then dirties it."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            textwrap.dedent(
                """\
                import gc, json, os, warnings, matplotlib, numpy
                state = {
                    "marker": "LEAKED_GLOBAL" in globals(),
                    "frozen": gc.get_freeze_count() > 0,
                    "rc": matplotlib.rcParams["lines.linewidth"],
                    "filters": len(warnings.filters),
                    "cwd": os.getcwd(),
                    "env": os.environ.get("KAIZEN_LEAK"),
                    "random": float(numpy.random.random()),
                }
                with open(os.path.join(output_dir, "state.json"), "w") as fh:
                    json.dump(state, fh)
                LEAKED_GLOBAL = 1
                matplotlib.rcParams["lines.linewidth"] = 9.0
                warnings.simplefilter("ignore")
                os.environ["KAIZEN_LEAK"] = "1"
                os.chdir("/")
                """
            )
        )
    )
    path = tmp_path / "leaky.ipynb"
    nbformat.write(nb, path)
    return path


def test_warm_kernels_leak_nothing_between_sites(tmp_path: Path) -> None:
    project = load_project(write_mini_project(tmp_path / "p", sites=("a1", "b2", "c3")))
    # one worker: all three sites run in turn on the same warm kernel process
    result = run_project(project, as_of=AS_OF, jobs=1, notebook=_leaky_template(tmp_path))
    assert result.success, [o.error for o in result.sites]
    states = [
        json.loads((result.output / s / "state.json").read_text()) for s in ("a1", "b2", "c3")
    ]
    first = states[0]
    assert first["marker"] is False and first["env"] is None and first["rc"] != 9.0
    # the warm process froze its imports before forking: the kernel's collector skips them
    assert first["frozen"] is warm_kernels_enabled()
    for later in states[1:]:
        assert {k: v for k, v in later.items() if k != "random"} == {
            k: v for k, v in first.items() if k != "random"
        }
    # each kernel draws its own random numbers, as a fresh process would
    assert len({s["random"] for s in states}) == 3


def _kernel_probe_template(tmp_path: Path) -> Path:
    """The real template with a first cell that records where its kernel came from."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    probe = textwrap.dedent(
        """\
        import ctypes, json, os, sys, warnings, matplotlib, numpy

        def blas_threads():  # OpenBLAS's own count, from the library numpy loaded
            for line in open("/proc/self/maps"):
                if "openblas" in line.rsplit("/", 1)[-1].lower():
                    lib = ctypes.CDLL(line.split()[-1])
                    for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
                        if hasattr(lib, name):
                            return getattr(lib, name)()
            return "no OpenBLAS"

        with open(os.path.join(output_dir, "kernel.json"), "w") as fh:
            json.dump({
                "blas_threads": blas_threads(),
                "warm_pid": os.getppid(),
                "rehearsed": "pipeline.run.rehearsal" in sys.modules,
                "stocked": len(sys.modules["pipeline.report.plots.style"]._STOCK[True]),
                "filters": len(warnings.filters),
                "rc": sorted((k, repr(v)) for k, v in matplotlib.rcParams.items()),
            }, fh)
        """
    )
    nb.cells.insert(1, nbformat.v4.new_code_cell(probe))
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.skipif(not warm_kernels_enabled(), reason="kernels start cold (KAIZEN_WARM_KERNELS=0)")
def test_a_pool_shares_one_rehearsed_warm_process_that_changes_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.run.execute as execute

    sites = ("a1", "b2", "c3", "d4")
    notebook = _kernel_probe_template(tmp_path)

    def run(folder: str, rehearse_from: int):
        monkeypatch.setattr(execute, "REHEARSE_FROM_SITES", rehearse_from)
        project = load_project(write_mini_project(tmp_path / folder, sites=sites))
        result = run_project(project, as_of=AS_OF, jobs=2, notebook=notebook)
        assert result.success, [o.error for o in result.sites]
        kernels = [json.loads((result.output / s / "kernel.json").read_text()) for s in sites]
        return result, kernels

    plain, plain_kernels = run("plain", rehearse_from=len(sites) + 1)
    rehearsed, kernels = run("rehearsed", rehearse_from=len(sites))
    # a first run: every site runs, so both workers start at once (and both are used)
    log = (rehearsed.output / "logs" / f"{rehearsed.run_id}.log").read_text(encoding="utf-8")
    assert "pool: 2 of 2 worker processes started" in log
    # both workers' kernels are forks of the one warm process the run started ...
    assert len({k["warm_pid"] for k in kernels}) == 1
    assert len({k["warm_pid"] for k in plain_kernels}) == 1
    # ... whose linear algebra keeps to one thread, as the cores already run one site each
    assert {k["blas_threads"] for k in kernels + plain_kernels} == {1}
    # ... which rehearsed the notebook from REHEARSE_FROM_SITES sites on, and not below
    assert all(k["rehearsed"] for k in kernels) and not any(k["rehearsed"] for k in plain_kernels)
    # ... and then made the blank figures each kernel draws on (style.stock_figures)
    assert all(k["stocked"] > 0 for k in kernels) and not any(k["stocked"] for k in plain_kernels)
    # the rehearsal leaves a kernel as it would find it: settings, warnings and every report
    for k, p in zip(kernels, plain_kernels, strict=True):
        assert (k["filters"], k["rc"]) == (p["filters"], p["rc"])
    for s in sites:
        assert _results(rehearsed.output, s) == _results(plain.output, s)
    # and the run stops its warm process when it ends
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(kernels[0]["warm_pid"], 0)


@pytest.mark.skipif(not warm_kernels_enabled(), reason="kernels start cold (KAIZEN_WARM_KERNELS=0)")
def test_sites_run_in_this_process_get_a_rehearsed_warm_process_that_ends_with_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--jobs 1`` (or one site to run): the run starts its warm process before it reads and
    validates, rehearsed and stocked from REHEARSE_FROM_SITES sites as a pool's is, and stops it
    when it ends. A rerun decides once it knows how many sites it runs: one changed site of
    the two is not rehearsed for, nor given a second worker."""
    import pipeline.run.execute as execute

    monkeypatch.setattr(execute, "REHEARSE_FROM_SITES", 2)
    sites = ("a1", "b2")
    project_file = write_mini_project(tmp_path / "p", sites=sites)
    notebook = _kernel_probe_template(tmp_path)
    result = run_project(load_project(project_file), as_of=AS_OF, jobs=1, notebook=notebook)
    assert result.success, [o.error for o in result.sites]
    kernels = [json.loads((result.output / s / "kernel.json").read_text()) for s in sites]
    assert len({k["warm_pid"] for k in kernels}) == 1
    assert all(k["rehearsed"] and k["stocked"] > 0 for k in kernels)
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(kernels[0]["warm_pid"], 0)

    text = project_file.read_text(encoding="utf-8")
    at = text.index("name: ", text.index("id: a1")) + len("name: ")
    project_file.write_text(text[:at] + "Renamed " + text[at:], encoding="utf-8")
    again = run_project(load_project(project_file), as_of=AS_OF, jobs=2, notebook=notebook)
    assert [o.site_id for o in again.sites if not o.is_unchanged] == ["a1"]
    rerun = json.loads((again.output / "a1" / "kernel.json").read_text())
    assert rerun["warm_pid"] != kernels[0]["warm_pid"] and not rerun["rehearsed"]
    # which sites run is known only after validation: the pool starts one worker at once, and
    # another only for a second site while the first is busy (here none: one site changed)
    log = (again.output / "logs" / f"{again.run_id}.log").read_text(encoding="utf-8")
    assert "pool: 1 of 2 worker processes started" in log


def _published(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.glob("*/report.html")) + sorted(out.glob("*/results.json"))
    }


def test_sigkill_at_any_moment_loses_nothing_and_resume_completes(tmp_path: Path) -> None:
    """A run killed (SIGKILL) during validation, in its first site or in a later one: every
    published report is whole, ``--resume`` completes the run, and nothing of it lives on.
    One project serves the three moments in turn (each resume leaves the folder complete for
    the next kill), so the first full run is paid once, not three times."""
    sites = ("s1", "s2", "s3")
    project_file = write_mini_project(tmp_path / "p", sites=sites)
    out = tmp_path / "p" / "out" / AS_OF
    cmd = [sys.executable, "-m", "pipeline", "run", "--project", str(project_file),
           "--as-of", AS_OF, "--jobs", "1"]  # fmt: skip
    assert subprocess.run(cmd, capture_output=True, timeout=300).returncode == 0
    before = _published(out)
    assert len(before) == 6
    for moment in ("validation", "first-site", "later"):
        _kill_and_resume(cmd, out, before, moment)


def _kill_and_resume(cmd: list[str], out: Path, before: dict[str, bytes], moment: str) -> None:
    tag = f"kill-{moment}-{os.getpid()}-{time.monotonic_ns()}"  # marks every process of this run
    earlier_logs = set((out / "logs").glob("*.log"))
    proc = subprocess.Popen(  # --force: every site really runs again (none is "unchanged")
        [*cmd, "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "KAIZEN_TEST_RUN_TAG": tag},
    )  # fmt: skip
    journal = out / ".journal.jsonl"
    deadline = time.monotonic() + 120
    if moment == "validation":
        time.sleep(0.3)
    else:
        want = 1 if moment == "first-site" else 2
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_text().count('"site_id"') >= want:
                break
            time.sleep(0.05)
        time.sleep(0.4)  # well inside the next site's run
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)

    # every report is whole: the old one or the new one, never a half-written file
    now = _published(out)
    assert set(now) == set(before), moment
    for name, data in now.items():
        if name.endswith(".html"):
            assert data.rstrip().endswith(b"</html>"), (moment, name)
        else:
            json.loads(data)

    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, (moment, resumed.stderr)
    assert [s.status for s in load_manifest(out).sites] == ["ok", "ok", "ok"], moment
    assert not (out / ".staging").exists() and not (out / ".trash").exists(), moment
    assert not journal.exists(), moment
    if moment == "later":
        # this kill's resume (not an earlier moment's) skipped the sites already done
        logs = [p.read_text() for p in set((out / "logs").glob("*.log")) - earlier_logs]
        assert any("skipped (--resume)" in text for text in logs)
    # nothing of the killed run lives on: no worker, warm kernel process or kernel
    time.sleep(1.0)
    assert _processes_tagged(tag) == [], moment


def _processes_tagged(tag: str) -> list[str]:
    """Command lines of live processes whose environment carries ``tag``."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"KAIZEN_TEST_RUN_TAG={tag}".encode() in env.read_bytes().split(b"\0"):
                found.append((env.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


INTERRUPTED = re.compile(
    r"^Interrupted: (\d+) of (\d+) sites finished; rerun with --resume to finish the rest$"
)


def _start_run(cmd: list[str], tag: str) -> subprocess.Popen[str]:
    """``cmd`` in a process group of its own, as a terminal runs a command in the foreground
    (a Ctrl-C there is SIGINT to every process of the group), its processes marked ``tag``."""
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "KAIZEN_TEST_RUN_TAG": tag},
    )  # fmt: skip


def _wait_for_a_finished_site(proc: subprocess.Popen[str], journal: Path) -> None:
    """Until the run's (fresh) journal records a finished site; generous, as the host is shared."""
    deadline = time.monotonic() + 300
    while '"site_id"' not in (journal.read_text() if journal.exists() else ""):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no site finished"
        time.sleep(0.05)


def _journaled(journal: Path) -> set[str]:
    """The sites the journal says are finished (published, not failed): what --resume skips."""
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    return {
        r["site_id"] for r in rows if "site_id" in r and r["published"] and r["status"] != "failed"
    }


def _assert_stopped_cleanly(
    proc: subprocess.Popen[str], *, code: int, out: Path, tag: str, total: int
) -> set[str]:
    """The interrupted run left with ``code`` and one plain line, kept what it finished,
    released the lock and left no process behind; returns the sites it finished."""
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("Interrupted")]
    assert len(lines) == 1 and stderr.rstrip().endswith(lines[0]), stderr
    match = INTERRUPTED.match(lines[0])
    assert match, lines[0]
    finished = _journaled(out / ".journal.jsonl")  # kept for --resume, naming the finished sites
    assert int(match[1]) == len(finished) >= 1 and int(match[2]) == total, (lines[0], finished)
    for site in finished:  # published in full
        assert (out / site / "report.html").read_bytes().rstrip().endswith(b"</html>"), site
        load_results(out / site)
    # the lock is free again: another run may take it
    with RunLock(out.parent, run_id="next", as_of=AS_OF):
        pass
    assert not (out / ".staging").exists() and not (out / ".trash").exists()
    # nothing of the run lives on: no worker, warm kernel process, kernel launcher or kernel
    deadline = time.monotonic() + 60
    while _processes_tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_tagged(tag) == []
    return finished


def _last_log(out: Path) -> str:
    return max((out / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime_ns).read_text()


def test_ctrl_c_stops_the_run_keeps_what_it_finished_and_resume_finishes_it(
    tmp_path: Path,
) -> None:
    """Ctrl-C on the terminal (SIGINT to the whole process group: run, pool workers and all),
    pressed again and again while the run stops: exit 130 and one plain line, no traceback."""
    sites = ("s1", "s2", "s3", "s4")
    project_file = write_mini_project(tmp_path / "p", sites=sites)
    out = tmp_path / "p" / "out" / AS_OF
    cmd = [sys.executable, "-m", "pipeline", "run", "--project", str(project_file),
           "--jobs", "2"]  # fmt: skip
    tag = f"sigint-{os.getpid()}-{time.monotonic_ns()}"
    proc = _start_run([*cmd, "--as-of", AS_OF], tag)
    _wait_for_a_finished_site(proc, out / ".journal.jsonl")
    while proc.poll() is None:  # the first SIGINT stops the run; the others fall in its shutdown
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.02)
    finished = _assert_stopped_cleanly(proc, code=130, out=out, tag=tag, total=len(sites))
    assert len(finished) < len(sites)
    # no manifest or portfolio page for a run that did not finish, nor a log that says it did
    assert not (out / "manifest.json").exists() and not (out / "index.html").exists()
    log = _last_log(out)
    assert " interrupted by SIGINT: " in log and " done in " not in log
    interrupted_run = {s: load_results(out / s).run_id for s in finished}

    # --resume, without --as-of: the interrupted run's date, and only the sites it had not done
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert [s.status for s in load_manifest(out).sites] == ["ok"] * len(sites)
    assert {s: load_results(out / s).run_id for s in finished} == interrupted_run
    log = _last_log(out)
    assert all(
        f"site {s}: finished by the interrupted run, skipped (--resume)" in log for s in finished
    )
    assert not (out / ".journal.jsonl").exists()


def test_sigterm_stops_a_forced_run_and_resume_forces_the_rest(tmp_path: Path) -> None:
    """SIGTERM to the run's process alone (a scheduler's timeout, systemctl stop), the sites
    running in that process (--jobs 1): exit 143. The journal keeps --force, so --resume
    re-runs the sites the forced run had not reached, although their inputs are unchanged."""
    sites = ("s1", "s2", "s3")
    project_file = write_mini_project(tmp_path / "p", sites=sites)
    out = tmp_path / "p" / "out" / AS_OF
    cmd = [sys.executable, "-m", "pipeline", "run", "--project", str(project_file),
           "--jobs", "1"]  # fmt: skip
    first = subprocess.run([*cmd, "--as-of", AS_OF], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    before = load_manifest(out)
    manifest = (out / "manifest.json").read_bytes()

    tag = f"sigterm-{os.getpid()}-{time.monotonic_ns()}"
    proc = _start_run([*cmd, "--as-of", AS_OF, "--force"], tag)
    _wait_for_a_finished_site(proc, out / ".journal.jsonl")
    proc.send_signal(signal.SIGTERM)
    finished = _assert_stopped_cleanly(proc, code=143, out=out, tag=tag, total=len(sites))
    # the folder's manifest is still the finished run's: the interrupted one claims nothing
    assert (out / "manifest.json").read_bytes() == manifest
    assert " interrupted by SIGTERM: " in _last_log(out)
    rest = [s for s in sites if s not in finished]
    assert rest, "the run finished before it was stopped"

    # a plain --resume: the journal's --force (and --as-of) carry on
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    after = load_manifest(out)
    assert [s.status for s in after.sites] == ["ok"] * len(sites)
    for site in rest:  # run again, not "unchanged"
        assert after.site(site).change == "--force", site
        assert after.site(site).run_id == after.run_id != before.run_id
        assert load_results(out / site).run_id == after.run_id
    for site in finished:  # the interrupted run's reports, kept
        assert after.site(site).run_id not in (before.run_id, after.run_id)
    assert all(f"site {s}: runs (--force)" in _last_log(out) for s in rest)


def _template_with(tmp_path: Path, code: str) -> Path:
    """The real template with one more cell (after the parameters) running ``code``."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(textwrap.dedent(code)))
    path = tmp_path / "custom.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_kernel_that_dies_mid_run_is_retried_in_a_fresh_ipc_kernel(tmp_path: Path) -> None:
    marker = tmp_path / "died-once"
    template = _template_with(
        tmp_path,
        f"""\
        import os
        from ipykernel.kernelapp import IPKernelApp
        with open(os.path.join(output_dir, "transport.txt"), "w") as fh:
            fh.write(IPKernelApp.instance().transport)
        if not os.path.exists({str(marker)!r}):
            open({str(marker)!r}, "w").close()
            os._exit(1)  # the kernel process dies: nbclient raises DeadKernelError
        """,
    )
    project = load_project(write_mini_project(tmp_path / "p", sites=("north",)))
    result = run_project(project, as_of=AS_OF, jobs=1, notebook=template)
    assert result.success, result.sites[0].error
    assert result.sites[0].attempts == 2
    # the kernel was started by our provisioner: IPC sockets, no TCP ports
    assert (result.output / "north" / "transport.txt").read_text() == "ipc"


def test_a_cell_error_is_never_retried_whatever_its_message(tmp_path: Path) -> None:
    # the very words the retry decision once matched: the exception type decides now
    template = _template_with(tmp_path, 'raise RuntimeError("Kernel died before replying")\n')
    project = load_project(write_mini_project(tmp_path / "p", sites=("north",)))
    result = run_project(project, as_of=AS_OF, jobs=1, notebook=template)
    (site,) = result.sites
    assert site.status == "failed" and site.attempts == 1
    # cell 3: papermill puts the injected parameters cell after the template's own
    assert site.error == "notebook error in cell 3: RuntimeError: Kernel died before replying"


def test_a_worker_process_runs_a_site_without_the_parents_data_stack(tmp_path: Path) -> None:
    """A pool or Dask worker imports what running a notebook needs, not pandas and the input
    tables (0.3 s of CPU and some 60 MB per worker): started as the pool starts one, it gets
    through a site's attempt, which fails here on a notebook that is not there."""
    probe = textwrap.dedent(
        f"""
        import sys
        from pipeline.run.worker import SiteTask, init_worker, run_site
        init_worker()
        out = run_site(SiteTask(
            site_id="north", as_of="{AS_OF}", run_id="r", project_file="kaizen.yaml",
            site_data="", validation_file="", stage_dir=sys.argv[1] + "/stage",
            final_dir=sys.argv[1] + "/north", trash_dir=sys.argv[1] + "/trash",
            notebook=sys.argv[1] + "/missing.ipynb",
        ))
        print(out.status, "pandas" in sys.modules, "pipeline.data.inputs" in sys.modules)
        """
    )
    env = {**os.environ, "KAIZEN_WARM_KERNELS": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True,
        timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["failed", "False", "False"]


def test_site_kernel_manager_starts_answers_and_stops_a_real_kernel(tmp_path: Path) -> None:
    """The site kernel manager (no idle IOPub read at start, quick exit check at shutdown,
    quick reconnects) gives
    a kernel that is ready when it says so, runs code, and is gone after shutdown; its client
    is ours, and the jupyter_client method it narrows still exists under that name."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    from pipeline.run.provisioner import (
        RECONNECT_MS,
        SiteKernelClient,
        SiteKernelManager,
        use_warm_fork_provisioner,
    )

    made: list[SiteKernelManager] = []

    class Recorded(SiteKernelManager):  # type: ignore[misc]
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            made.append(self)

    assert callable(getattr(AsyncKernelManager, "_async_wait", None))
    use_warm_fork_provisioner()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    NotebookClient(nb, kernel_manager_class=Recorded, timeout=60).execute(cwd=str(tmp_path))
    assert nb.cells[0].outputs[0]["text"].strip() == "42"
    (km,) = made
    assert km.client_factory is SiteKernelClient
    assert not km.has_kernel  # shut down and reaped
    # the manager's control socket and the client's sockets retry a connection every few ms
    # (the kernel binds its sockets after they connect; zmq's default retry is after 100 ms)
    assert km.context.getsockopt(zmq.RECONNECT_IVL) == RECONNECT_MS < 100
    assert SiteKernelClient().context.getsockopt(zmq.RECONNECT_IVL) == RECONNECT_MS


def test_an_output_folder_holds_one_projects_reports(tmp_path: Path) -> None:
    """A second project pointed at the same output folder would replace the first's manifest
    and portfolio page for the day: refused, naming both; a copy of the project with its
    reports, and the first project itself, run as before."""
    first = load_project(write_mini_project(tmp_path / "a", sites=("north",)))
    assert run_project(first, as_of=AS_OF, jobs=1).success
    other = write_mini_project(tmp_path / "b", sites=("north",))
    text = other.read_text(encoding="utf-8").replace("output: out", f"output: {first.output}")
    other.write_text(text, encoding="utf-8")
    manifest = (first.output / AS_OF / "manifest.json").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--project", str(other), "--as-of", AS_OF],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "holds the reports of another project" in proc.stderr
    assert str(first.path) in proc.stderr and "own output folder" in proc.stderr
    assert (first.output / AS_OF / "manifest.json").read_bytes() == manifest
    assert not (first.output / ".kaizen.lock.json").exists()
    # the project copied with its reports writes to its own copy: no conflict
    shutil.copytree(tmp_path / "a", tmp_path / "copy", symlinks=True)
    copy = load_project(tmp_path / "copy" / first.path.name)
    assert run_project(copy, as_of=AS_OF, jobs=1, force=True).success
    # copied without its links, "latest" became a folder: refused before any work, not a
    # traceback at the end of the run
    shutil.copytree(tmp_path / "a", tmp_path / "flat")
    flat = load_project(tmp_path / "flat" / first.path.name)
    with pytest.raises(ConfigError, match="not the link to the newest report date"):
        run_project(flat, as_of=AS_OF, jobs=1, force=True)
    assert run_project(copy, as_of=AS_OF, jobs=1, force=True).success
    assert run_project(first, as_of=AS_OF, jobs=1, force=True).success
