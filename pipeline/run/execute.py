"""Run every site's notebook: validate once, execute with papermill, render, publish atomically.

The parent process reads and validates the inputs once, writes each site's slice to a private
staging folder, and hands the sites to a pool of worker processes (or a Dask cluster). Each worker
executes ``notebooks/site_report.ipynb`` for a site, renders it with one reused nbconvert exporter,
and publishes the site's folder in one rename, so a crash never leaves a half-written report in
place of a good one. The parent then writes ``manifest.json`` and the portfolio page.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.config import Project, parse_as_of
from pipeline.exceptions import ConfigError, KaizenError, LockHeld, NotebookFailed
from pipeline.files import child_path

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "site_report.ipynb"
STAGING = ".staging"
TRASH = ".trash"
KERNEL_RETRIES = 3

#: Messages of kernel start-up problems worth retrying (a cell error is never retried).
_TRANSIENT = (
    "Kernel died before replying",
    "Kernel didn't respond",
    "Address already in use",
    "kernel_info",
    "DeadKernelError",
    "Kernel died",
    "Timeout waiting for",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteTask:
    """Everything a worker needs to produce one site's report (plain, picklable values)."""

    site_id: str
    as_of: str
    run_id: str
    project_file: str
    site_data: str
    validation_file: str
    stage_dir: str
    final_dir: str
    trash_dir: str
    notebook: str = str(NOTEBOOK)
    validation_status: str = "ok"
    kernel_name: str = "python3"


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteOutcome:
    """What happened to one site."""

    site_id: str
    status: str  # ok | warnings | failed
    error: str | None = None
    seconds: float = 0.0
    attempts: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    published: bool = False

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The outcome of one ``run``: where it wrote, and each site's outcome."""

    run_id: str
    as_of: str
    output: Path
    sites: tuple[SiteOutcome, ...]
    seconds: float
    validation_seconds: float = 0.0
    #: contract failures of rows that belong to no selected site (e.g. an unconfigured site id)
    data_outside_sites: tuple[dict[str, Any], ...] = ()

    @property
    def failed_sites(self) -> tuple[SiteOutcome, ...]:
        return tuple(s for s in self.sites if s.is_failed)

    @property
    def success(self) -> bool:
        return not self.failed_sites

    @property
    def exit_code(self) -> int:
        return 0 if self.success else 1

    @property
    def index(self) -> Path:
        return self.output / "index.html"

    def raise_for_failures(self) -> RunResult:
        if self.failed_sites:
            first = self.failed_sites[0]
            raise NotebookFailed(first.error or "failed", site_id=first.site_id)
        return self


ProgressCallback = Callable[[SiteOutcome], None]


def run_project(
    project: Project,
    *,
    as_of: str | dt.date | None = None,
    site_ids: Iterable[str] | None = None,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    resume: bool = False,
    on_site_done: ProgressCallback | None = None,
    on_start: Callable[[int], None] | None = None,
    notebook: str | Path | None = None,
    kernel_name: str = "python3",
) -> RunResult:
    """Validate the inputs, run the selected sites, publish reports, manifest and portfolio page.

    Only one run at a time may write to an output folder (a lock names the holder). Each finished
    site is recorded in a journal as soon as it is published, so ``resume=True`` after an
    interrupted run skips the sites it already finished. ``notebook`` replaces the site template
    (a customised copy with the same parameters); ``kernel_name`` picks the Jupyter kernel.

    Raises
    ------
    ConfigError
        Unknown site ids, a bad ``as_of``, or an unknown executor.
    LockHeld
        Another run is writing to the same output folder.
    InputError
        An input table cannot be read at all.
    """
    started = time.perf_counter()
    sites = project.select_sites(list(site_ids) if site_ids else None)
    stamp = parse_as_of(as_of)
    if executor not in ("local", "dask"):
        raise ConfigError(f"unknown executor {executor!r}; use local or dask")
    project.output.mkdir(parents=True, exist_ok=True)
    run_id = f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
    with RunLock(project.output, run_id=run_id, as_of=stamp.date().isoformat()):
        return _run_locked(
            project, sites=sites, stamp=stamp, run_id=run_id, jobs=jobs, executor=executor,
            scheduler=scheduler, resume=resume, on_site_done=on_site_done, on_start=on_start,
            notebook=notebook, kernel_name=kernel_name, started=started,
        )  # fmt: skip


def _run_locked(
    project: Project,
    *,
    sites: tuple[Any, ...],
    stamp: pd.Timestamp,
    run_id: str,
    jobs: int | None,
    executor: str,
    scheduler: str | None,
    resume: bool,
    on_site_done: ProgressCallback | None,
    on_start: Callable[[int], None] | None,
    notebook: str | Path | None,
    kernel_name: str,
    started: float,
) -> RunResult:

    as_of_text = stamp.date().isoformat()
    out_root = project.output / as_of_text
    out_root.mkdir(parents=True, exist_ok=True)
    recover_interrupted(out_root)
    log = RunLog(out_root / "logs" / f"{run_id}.log")
    journal = Journal(out_root / JOURNAL)
    finished = journal.finished() if resume else {}
    if not resume:
        journal.reset(run_id)
    log.write(f"run {run_id} as_of {as_of_text}: {len(sites)} site(s), executor {executor}")

    outcomes: list[SiteOutcome] = []

    def done(outcome: SiteOutcome) -> None:
        outcomes.append(outcome)
        journal.record(outcome)
        log.site(outcome)
        if on_site_done:
            on_site_done(outcome)

    if on_start:
        on_start(len(sites))
    for sid in [s.id for s in sites if s.id in finished]:
        prior = finished[sid]
        log.write(f"site {sid}: finished by the interrupted run, skipped (--resume)")
        done(prior)
    todo = [s for s in sites if s.id not in finished]

    n_jobs = max(1, jobs or os.cpu_count() or 1)
    pool = None
    if executor == "local" and n_jobs > 1 and len(todo) > 1:
        # started first, so that workers warm up while this process reads and validates
        pool = _start_pool(min(n_jobs, len(todo)))
    try:
        return _run_sites(
            project, sites=sites, todo=todo, stamp=stamp, run_id=run_id, out_root=out_root,
            log=log, journal=journal, outcomes=outcomes, done=done, pool=pool, n_jobs=n_jobs,
            executor=executor, scheduler=scheduler, notebook=notebook, kernel_name=kernel_name,
            started=started,
        )  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_sites(
    project: Project,
    *,
    sites: tuple[Any, ...],
    todo: list[Any],
    stamp: pd.Timestamp,
    run_id: str,
    out_root: Path,
    log: RunLog,
    journal: Journal,
    outcomes: list[SiteOutcome],
    done: Callable[[SiteOutcome], None],
    pool: ProcessPoolExecutor | None,
    n_jobs: int,
    executor: str,
    scheduler: str | None,
    notebook: str | Path | None,
    kernel_name: str,
    started: float,
) -> RunResult:
    from pipeline.data import contracts, inputs
    from pipeline.report import portfolio

    as_of_text = stamp.date().isoformat()
    t0 = time.perf_counter()
    tables = inputs.read_tables(project) if todo else None
    outside: tuple[dict[str, Any], ...] = ()
    validation_seconds = 0.0
    tasks: list[SiteTask] = []
    stage_root = out_root / STAGING / run_id
    if tables is not None:
        report = contracts.validate_project(
            tables, project, as_of=stamp, site_ids=[s.id for s in todo]
        )
        slices = inputs.split_by_site(tables, [s.id for s in todo])
        validation_seconds = time.perf_counter() - t0
        log.write(f"read and validated the inputs in {validation_seconds:.2f}s")
        outside = tuple(
            {**f.to_dict(), "site_id": f.site_id, "message": str(f)}
            for f in report.project_failures
        )
        for f in outside:
            log.write(f"data outside the selected sites: {f['message']}")
        for site in todo:
            validation = report.for_site(site.id)
            stage = child_path(stage_root, site.id)
            stage.mkdir(parents=True, exist_ok=True)
            vfile = stage / "validation.json"
            _write_json(vfile, validation.to_dict())
            if validation.has_critical:
                error = validation.reason()
                _record_failure(child_path(out_root, site.id), vfile, error)
                done(SiteOutcome(site_id=site.id, status="failed", error=error))
                continue
            data_file = stage_root / f"{site.id}.inputs.pkl"
            slices[site.id].save(data_file)
            tasks.append(
                SiteTask(
                    site_id=site.id,
                    as_of=as_of_text,
                    run_id=run_id,
                    project_file=str(project.path),
                    site_data=str(data_file),
                    validation_file=str(vfile),
                    stage_dir=str(stage),
                    final_dir=str(child_path(out_root, site.id)),
                    trash_dir=str(out_root / TRASH),
                    validation_status=validation.status,
                    notebook=str(notebook or NOTEBOOK),
                    kernel_name=kernel_name,
                )  # fmt: skip
            )
    if tasks:
        if executor == "dask":
            runner = _run_dask(tasks, n_jobs, scheduler)
        elif pool is not None:
            runner = _run_pool(pool, tasks)
        else:
            runner = _run_in_process(tasks)
        for outcome in runner:
            done(outcome)
    shutil.rmtree(stage_root, ignore_errors=True)
    _remove_if_empty(out_root / STAGING)
    _remove_if_empty(out_root / TRASH)

    order = {s.id: i for i, s in enumerate(sites)}
    outcomes.sort(key=lambda o: order[o.site_id])
    result = RunResult(
        run_id=run_id,
        as_of=as_of_text,
        output=out_root,
        sites=tuple(outcomes),
        seconds=time.perf_counter() - started,
        validation_seconds=validation_seconds,
        data_outside_sites=outside,
    )
    write_manifest(result, project)
    portfolio.write_portfolio(project, out_root, as_of=as_of_text, run_id=run_id)
    journal.close()
    failed = len(result.failed_sites)
    log.write(
        f"run {run_id} done in {result.seconds:.1f}s: {len(outcomes) - failed} ok, {failed} failed"
    )
    return result


def _start_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, each started now (not at its first site)."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=init_worker
    )
    for _ in range(workers):
        pool.submit(_ready)
    return pool


def _ready() -> None:
    """A no-op task: submitting one per worker makes the pool start its processes at once."""


def _run_in_process(tasks: list[SiteTask]) -> Iterable[SiteOutcome]:
    from pipeline.run.kernels import WarmKernelServer

    try:
        for task in tasks:
            yield run_site(task)
    finally:  # sites ran in this process: do not keep its warm kernel process after the run
        WarmKernelServer.stop_for_this_process()


def _run_pool(pool: ProcessPoolExecutor, tasks: list[SiteTask]) -> Iterable[SiteOutcome]:
    futures = {pool.submit(run_site, t): t for t in tasks}
    for fut in as_completed(futures):
        task = futures[fut]
        try:
            yield fut.result()
        except Exception as exc:  # a worker process died: the site failed, the run goes on
            yield SiteOutcome(site_id=task.site_id, status="failed", error=f"worker died: {exc}")


def _run_dask(tasks: list[SiteTask], jobs: int, scheduler: str | None) -> Iterable[SiteOutcome]:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=min(jobs, len(tasks)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        futures = client.map(
            run_site, tasks, pure=False, key=[f"site-{t.site_id}-{t.run_id}" for t in tasks]
        )
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for fut in dask_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:
                task = by_key[fut.key]
                yield SiteOutcome(
                    site_id=task.site_id, status="failed", error=f"worker died: {exc}"
                )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def init_worker() -> None:
    """Prepare a worker process: die with the parent, start the warm kernel process, and build
    the nbconvert exporter while it imports."""
    from pipeline.report.render import warm_up
    from pipeline.run.kernels import WarmKernelServer, die_with_parent, warm_kernels_enabled

    die_with_parent()
    if warm_kernels_enabled():
        WarmKernelServer.start()
    warm_up()


def run_site(task: SiteTask) -> SiteOutcome:
    """Execute, render and publish one site (runs in a worker process)."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from pipeline.report.render import render_notebook
    from pipeline.run.kernels import IPCKernelManager

    started = time.perf_counter()
    stage = Path(task.stage_dir)
    stage.mkdir(parents=True, exist_ok=True)
    nb_path = stage / "report.ipynb"
    params = {
        "site_id": task.site_id,
        "as_of": task.as_of,
        "project_file": task.project_file,
        "site_data": task.site_data,
        "validation_file": task.validation_file,
        "output_dir": str(stage),
        "run_id": task.run_id,
    }
    timings: dict[str, float] = {}
    attempts = 0

    def failed(error: str) -> SiteOutcome:
        """The site failed: keep its executed notebook (if any) as evidence, report why."""
        if nb_path.exists():
            _record_failure(Path(task.final_dir), nb_path, error, notebook=True)
        return SiteOutcome(
            site_id=task.site_id,
            status="failed",
            error=error,
            attempts=attempts,
            seconds=time.perf_counter() - started,
        )

    while True:
        attempts += 1
        t0 = time.perf_counter()
        try:
            nb = pm.execute_notebook(
                task.notebook,
                str(nb_path),
                parameters=params,
                kernel_name=task.kernel_name,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                kernel_manager_class=IPCKernelManager,
                start_timeout=120,
            )
            timings["execute"] = time.perf_counter() - t0
            break
        except PapermillExecutionError as exc:
            return failed(_cell_error(exc))
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if attempts < KERNEL_RETRIES and any(m in text for m in _TRANSIENT):
                time.sleep(0.5 * 2 ** (attempts - 1))
                continue
            return failed(f"the notebook could not run: {text.splitlines()[0]}")
    results_file = stage / "results.json"
    if not results_file.exists():
        return failed("the notebook finished without writing results.json")
    t0 = time.perf_counter()
    site_name = json.loads(results_file.read_text(encoding="utf-8")).get("site_name")
    nb.metadata["kaizen"] = {"title": f"{site_name or task.site_id} — Kaizen report {task.as_of}"}
    try:
        html = render_notebook(nb, site_id=task.site_id)
    except KaizenError as exc:
        return failed(str(exc))
    _write_text(stage / "report.html", html)
    timings["render"] = time.perf_counter() - t0
    publish(stage, Path(task.final_dir), Path(task.trash_dir))
    return SiteOutcome(
        site_id=task.site_id,
        status=task.validation_status,
        attempts=attempts,
        seconds=time.perf_counter() - started,
        timings=timings,
        published=True,
    )


def _cell_error(exc: Any) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
    cell = getattr(exc, "exec_count", None)
    where = f" in cell {cell}" if cell else ""
    return f"notebook error{where}: {ename}: {evalue[0] if evalue else ''}".rstrip(": ")


JOURNAL = ".journal.jsonl"
LOCK = ".kaizen.lock"


class RunLock:
    """An exclusive lock on an output folder, released by the OS if the holder dies.

    The lock file says who holds it (pid, host, run id, start time), so a second run can name
    the holder in its error message.
    """

    def __init__(self, output: Path, *, run_id: str, as_of: str) -> None:
        self.path = output / LOCK
        self.info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": run_id,
            "as_of": as_of,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace")
            os.close(fd)
            try:
                h = json.loads(holder)
                who = (
                    f"run {h.get('run_id')} (pid {h.get('pid')} on {h.get('host')}, as_of "
                    f"{h.get('as_of')}, started {h.get('started')})"
                )
            except ValueError:
                who = "another run"
            raise LockHeld(
                f"{who} is writing to {self.path.parent}; wait for it to finish or use "
                "another --output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(self.info).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Journal:
    """Sites finished by the current run, one JSON line each, flushed as they finish."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def reset(self, run_id: str) -> None:
        _write_text(self.path, json.dumps({"run_id": run_id}) + "\n")

    def record(self, outcome: SiteOutcome) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(outcome)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def finished(self) -> dict[str, SiteOutcome]:
        """Sites the interrupted run published (ok or warnings), by site id."""
        out: dict[str, SiteOutcome] = {}
        if not self.path.is_file():
            return out
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by the crash
            if "site_id" in row and row.get("published") and row.get("status") != "failed":
                out[row["site_id"]] = SiteOutcome(**row)
        return out

    def close(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class RunLog:
    """The run's log file (one per run, next to the manifest): plain, timestamped lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, message: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")

    def site(self, outcome: SiteOutcome) -> None:
        timings = " ".join(f"{k}={v:.2f}s" for k, v in outcome.timings.items())
        line = f"site {outcome.site_id}: {outcome.status} in {outcome.seconds:.2f}s"
        if outcome.attempts > 1:
            line += f" after {outcome.attempts} attempts"
        if timings:
            line += f" ({timings})"
        if outcome.error:
            line += f": {outcome.error}"
        self.write(line)


def publish(stage: Path, final: Path, trash: Path) -> None:
    """Replace ``final`` by ``stage`` so that a reader sees either the old folder or the new one.

    The old folder is first renamed into ``trash`` (same file system), then the new one renamed
    into place; :func:`recover_interrupted` puts the old one back if a crash fell between the two.
    """
    trash.mkdir(parents=True, exist_ok=True)
    old = trash / f"{final.name}.{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(stage, final)
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted(out_root: Path) -> None:
    """Undo what a killed run left behind: restore moved-away reports, drop stale staging."""
    trash = out_root / TRASH
    if trash.is_dir():
        for old in sorted(trash.iterdir()):
            site = old.name.rsplit(".", 1)[0]
            target = out_root / site
            if not target.exists() and (old / "report.html").exists():
                os.replace(old, target)
            else:
                shutil.rmtree(old, ignore_errors=True)
        _remove_if_empty(trash)
    staging = out_root / STAGING
    if staging.is_dir():
        shutil.rmtree(staging, ignore_errors=True)


def _record_failure(final: Path, source: Path, error: str, *, notebook: bool = False) -> None:
    """Keep the evidence of a failed site beside (never in place of) its last good report."""
    failed = final / "failed"
    failed.mkdir(parents=True, exist_ok=True)
    if source.exists():
        name = "report.ipynb" if notebook else source.name
        shutil.copyfile(source, failed / (name + ".tmp"))
        os.replace(failed / (name + ".tmp"), failed / name)
    _write_text(failed / "error.txt", error + "\n")


def write_manifest(result: RunResult, project: Project) -> Path:
    """``manifest.json``: run id, timings, per-site status and error (no secrets)."""
    from pipeline import __version__

    manifest = {
        "run_id": result.run_id,
        "as_of": result.as_of,
        "project": project.name,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "seconds": round(result.seconds, 3),
        "validation_seconds": round(result.validation_seconds, 3),
        "sites": [
            {
                **{k: v for k, v in asdict(o).items() if k not in ("timings",)},
                "seconds": round(o.seconds, 3),
                "timings": {k: round(v, 3) for k, v in o.timings.items()},
            }
            for o in result.sites
        ],
        "data_outside_sites": list(result.data_outside_sites),
        "summary": {
            "ok": sum(o.status == "ok" for o in result.sites),
            "warnings": sum(o.status == "warnings" for o in result.sites),
            "failed": sum(o.status == "failed" for o in result.sites),
        },
    }
    path = result.output / "manifest.json"
    _write_json(path, manifest)
    return path


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


__all__ = [
    "RunResult",
    "SiteOutcome",
    "SiteTask",
    "publish",
    "recover_interrupted",
    "run_project",
    "run_site",
    "write_manifest",
]
