"""Run every site's notebook: validate once, execute with papermill, render, publish atomically.

The parent process reads and validates the inputs once, writes each site's slice to a private
staging folder, and hands the sites to a pool of worker processes (or a Dask cluster). Each worker
executes ``notebooks/site_report.ipynb`` for a site, renders it with one reused nbconvert exporter,
and publishes the site's folder in one rename, so a crash never leaves a half-written report in
place of a good one. The parent then writes ``manifest.json`` and the portfolio page.

This module is the orchestration; its parts live beside it: :mod:`~pipeline.run.lock` (one run
per output folder), :mod:`~pipeline.run.journal` (``--resume``), :mod:`~pipeline.run.interrupt`
(SIGINT and SIGTERM), :mod:`~pipeline.run.publish` (staging and publishing),
:mod:`~pipeline.run.manifest`, :mod:`~pipeline.run.progress` (log file and console) and
:mod:`~pipeline.run.kernels` (how notebooks get their kernels) and :mod:`~pipeline.run.worker`
(one site in a worker process).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.config import Project, check_as_of, parse_as_of
from pipeline.exceptions import ConfigError, RunInterrupted
from pipeline.files import (
    LOGS,
    check_output_folder,
    child_path,
    writing_to,
)
from pipeline.formatting import count_of
from pipeline.run.fingerprint import (
    changed_parts,
    inputs_digest,
    read_fingerprint,
    site_fingerprint,
    write_fingerprint,
)
from pipeline.run.interrupt import blocked_for_children, interruptible
from pipeline.run.journal import JOURNAL, Journal, RunOptions, interrupted_runs
from pipeline.run.lock import RunLock
from pipeline.run.manifest import (
    kept_sites,
    portfolio_inputs,
    read_manifest,
    read_portfolio_inputs,
    write_manifest,
    write_portfolio_inputs,
)
from pipeline.run.outcome import ProgressCallback, RunResult, SiteOutcome
from pipeline.run.progress import RunLog
from pipeline.run.publish import (
    STAGING,
    TRASH,
    record_failure,
    recover_interrupted,
    remove_if_empty,
    stage_site,
)
from pipeline.run.worker import (
    NOTEBOOK,
    SiteTask,
    init_worker,
    ready,
    run_site,
    start_rehearsed_warm_kernels,
    stop_warm_kernels,
)
from pipeline.vocabulary import RunStatus

#: What GX found per table at the run folder's last validation (see contracts.ValidationCache).
VALIDATION_CACHE = ".validation-cache.json"


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
    pdf: bool | None = None,
    force: bool = False,
    allow_future_as_of: bool = False,
) -> RunResult:
    """Validate the inputs, run the selected sites, publish reports, manifest and portfolio page.

    A site whose inputs (rows, configuration, notebook, contracts, version, as_of) all match the
    fingerprint of its published report is not executed again; ``force=True`` runs every site.

    Only one run at a time may write to an output folder (a lock names the holder). Each finished
    site is recorded in a journal as soon as it is published, so ``resume=True`` after an
    interrupted run skips the sites it already finished and carries on with its options: its
    ``as_of`` (when none is given: the output folder's one interrupted run), ``force``,
    ``site_ids`` (when none are given) and ``pdf`` (when None). ``notebook`` replaces the site
    template (a customised copy with the same parameters); ``kernel_name`` picks the Jupyter kernel.
    ``pdf`` (default: ``output.pdf`` in kaizen.yaml) prints each report to report.pdf beside it.
    An ``as_of`` after today is refused unless ``allow_future_as_of=True``.

    SIGINT and SIGTERM stop the run (see :mod:`pipeline.run.interrupt`): its workers and
    kernels are stopped, the reports it published and its journal are kept, and no manifest or
    portfolio page claims a run that did not finish.

    Raises
    ------
    ConfigError
        Unknown site ids, a bad or future ``as_of``, an unknown executor, or ``resume`` without
        ``as_of`` where several runs were interrupted.
    LockHeld
        Another run is writing to the same output folder.
    InputError
        An input table cannot be read at all.
    RunInterrupted
        On SIGINT or SIGTERM; it says how many sites finished.
    """
    with interruptible():
        started = time.perf_counter()
        stamp = parse_as_of(as_of) if as_of else None
        resumed = _options_to_resume(project, stamp) if resume else None
        if resumed is not None:
            if stamp is None:  # the interrupted run's date, accepted when it started
                stamp, allow_future_as_of = parse_as_of(resumed.as_of), True
            site_ids = site_ids or resumed.sites
            force = force or resumed.force
            pdf = resumed.pdf if pdf is None else pdf
        asked = tuple(site_ids) if site_ids else None
        sites = project.select_sites(list(asked) if asked else None)
        stamp = check_as_of(
            parse_as_of(None) if stamp is None else stamp, allow_future=allow_future_as_of
        )
        if executor not in ("local", "dask"):
            raise ConfigError(f"unknown executor {executor!r}; use local or dask")
        check_output_folder(project.output)
        with writing_to(project.output):
            project.output.mkdir(parents=True, exist_ok=True)
        run_id = f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
        as_of_text = stamp.date().isoformat()
        plan = RunPlan(
            project=project, sites=sites, stamp=stamp, run_id=run_id,
            out_root=child_path(project.output, as_of_text),
            jobs=max(1, jobs or os.cpu_count() or 1), executor=executor, scheduler=scheduler,
            resume=resume, notebook=str(notebook or NOTEBOOK), kernel_name=kernel_name,
            started=started, pdf=project.pdf if pdf is None else pdf, force=force,
            asked_sites=asked, resumed=(resumed is not None) if resume else None,
        )  # fmt: skip
        owner = (project.path, project.name)
        with RunLock(project.output, run_id=run_id, as_of=as_of_text, project=owner):
            return _run_locked(plan, on_start=on_start, on_site_done=on_site_done)


#: What a run asked to ``--resume`` says when there was no interrupted run to finish.
NOTHING_TO_RESUME = "no interrupted run to finish; this is a run as usual"


def _options_to_resume(project: Project, stamp: pd.Timestamp | None) -> RunOptions | None:
    """The options of the interrupted run that ``--resume`` carries on: the one of ``stamp``'s
    folder, or without a date, the one interrupted run of the output folder (None if none)."""
    if stamp is not None:
        journal = child_path(project.output, stamp.date().isoformat()) / JOURNAL
        return Journal(journal).options()
    journals = interrupted_runs(project.output)
    if not journals:
        return None
    if len(journals) > 1:
        dates = ", ".join(j.parent.name for j in journals)
        raise ConfigError(
            f"--resume: runs for several report dates were interrupted ({dates}); say which "
            "to finish with --as-of"
        )
    (journal,) = journals
    return Journal(journal).options() or RunOptions(as_of=journal.parent.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPlan:
    """What one run does, decided before it starts (passed down instead of a dozen arguments)."""

    project: Project
    sites: tuple[Any, ...]
    stamp: pd.Timestamp
    run_id: str
    out_root: Path
    jobs: int
    executor: str
    scheduler: str | None
    resume: bool
    notebook: str
    kernel_name: str
    started: float
    pdf: bool = False
    force: bool = False
    #: the sites asked for, None for every configured site
    asked_sites: tuple[str, ...] | None = None
    #: with ``resume``: whether an interrupted run was found to finish (None: not asked)
    resumed: bool | None = None

    @property
    def as_of(self) -> str:
        return self.stamp.date().isoformat()

    @property
    def options(self) -> RunOptions:
        """What the journal keeps of this plan for ``--resume``."""
        return RunOptions(as_of=self.as_of, force=self.force, sites=self.asked_sites, pdf=self.pdf)


def _run_locked(
    plan: RunPlan,
    *,
    on_start: Callable[[int], None] | None,
    on_site_done: ProgressCallback | None,
) -> RunResult:
    out_root, run_id, sites = plan.out_root, plan.run_id, plan.sites
    with writing_to(out_root):
        out_root.mkdir(parents=True, exist_ok=True)
        recover_interrupted(out_root)
        log = RunLog(out_root / LOGS / f"{run_id}.log")
        journal = Journal(out_root / JOURNAL)
        finished = journal.finished() if plan.resume else {}
        if plan.resume and journal.path.is_file():
            journal.resume(run_id, plan.options)
        else:
            journal.reset(run_id, plan.options)
        log.write(
            f"run {run_id} as_of {plan.as_of}: {count_of(len(sites), 'site')}, executor {plan.executor}"
            + (", --force" if plan.force else "")
        )
        if plan.resumed is False:
            log.write(f"--resume: {NOTHING_TO_RESUME}")

    outcomes: list[SiteOutcome] = []

    def done(outcome: SiteOutcome) -> None:
        if not outcome.run_id:
            outcome = replace(outcome, run_id=run_id)
        outcomes.append(outcome)
        journal.record(outcome)
        log.site(outcome)
        if on_site_done:
            on_site_done(outcome)

    try:
        return _run_sites_and_pages(
            plan, log=log, done=done, outcomes=outcomes, finished=finished, journal=journal,
            on_start=on_start,
        )  # fmt: skip
    except KeyboardInterrupt as exc:  # RunInterrupted from SIGINT or SIGTERM, or a bare Ctrl-C
        signum = exc.signum if isinstance(exc, RunInterrupted) else signal.SIGINT
        if plan.scheduler is None:  # its workers are gone: put back what they had moved away
            recover_interrupted(out_root)
        # what --resume will skip: the journal's word, whichever line the signal fell between
        kept = len(journal.finished().keys() & {s.id for s in sites})
        log.write(
            f"run {run_id} interrupted by {signal.Signals(signum).name}: {kept} of "
            f"{count_of(len(sites), 'site')} finished; the journal keeps them for --resume"
        )
        raise RunInterrupted(signum, finished=kept, total=len(sites)) from None


def _run_sites_and_pages(
    plan: RunPlan,
    *,
    log: RunLog,
    done: Callable[[SiteOutcome], None],
    outcomes: list[SiteOutcome],
    finished: dict[str, SiteOutcome],
    journal: Journal,
    on_start: Callable[[int], None] | None,
) -> RunResult:
    """The run proper, once the lock is held and the journal open: the sites, then the
    manifest and the portfolio page (not reached when the run is interrupted)."""
    out_root, run_id, sites = plan.out_root, plan.run_id, plan.sites
    if on_start:
        on_start(len(sites))
    for sid in [s.id for s in sites if s.id in finished]:
        log.write(f"site {sid}: finished by the interrupted run, skipped (--resume)")
        done(finished[sid])
    todo = [s for s in sites if s.id not in finished]

    table_digests: dict[str, str] = {}  # each table's own digest: the validation cache's keys
    digest, already_read = (None, {}) if not todo else _digest_inputs(plan, table_digests)

    def judged(outcome: SiteOutcome) -> None:
        """A site this run judged (ran, found unchanged, or failed) under today's inputs."""
        done(replace(outcome, inputs=digest or ""))

    unchanged = None if plan.force else _unchanged_run(plan, todo, digest)
    validation_seconds = 0.0
    outside: tuple[dict[str, Any], ...] = ()
    if unchanged is not None:
        current, outside, since = unchanged
        log.write(f"inputs unchanged since run {since}: nothing read, validated or run")
        for outcome in current:
            log.write(
                f"site {outcome.site_id}: unchanged since run {outcome.run_id}, not run again"
            )
            judged(outcome)
    else:
        pool = None
        try:
            rehearse = _rehearse_when(plan, len(todo))
            if plan.executor == "local" and plan.jobs > 1 and len(todo) > 1:
                # started first, so that workers warm up while this process reads and validates
                workers = min(plan.jobs, len(todo))
                at_once = workers if _every_site_runs(plan) else 1
                pool = _start_pool(workers, rehearse=rehearse, at_once=at_once)
            elif plan.executor == "local":
                _start_warm_kernels(rehearse)  # for the sites this process runs itself
            validation_seconds, outside = _run_sites(
                plan, todo=todo, log=log, done=judged, pool=pool, already_read=already_read,
                table_digests=table_digests,
            )  # fmt: skip
        except BaseException:
            _stop_pool(pool, kill=True)  # interrupted, or failed: nothing of the pool goes on
            raise
        else:
            if pool is not None:
                log.write(f"pool: {pool.processes_started()} of {workers} worker processes started")
            _stop_pool(pool, kill=False)
        finally:
            if pool is None and plan.executor == "local":
                stop_warm_kernels()  # whether or not a site ran: none of it outlives the run

    order = {s.id: i for i, s in enumerate(sites)}
    outcomes.sort(key=lambda o: order[o.site_id])
    configured = [s.id for s in plan.project.sites]
    result = RunResult(
        run_id=run_id,
        as_of=plan.as_of,
        output=out_root,
        sites=tuple(outcomes),
        seconds=time.perf_counter() - plan.started,
        validation_seconds=validation_seconds,
        data_outside_sites=outside,
        kept_sites=tuple(kept_sites(out_root, configured=configured, rerun=order)),
        inputs_digest=digest or "",
        resumed=plan.resumed,
    )
    write_manifest(result, project_name=plan.project.name, order=configured)
    page_inputs = portfolio_inputs(result, order=configured) if result.inputs_digest else ""
    if unchanged is not None and page_inputs and read_portfolio_inputs(out_root) == page_inputs:
        # Nothing the page shows has changed (statuses, reports, configuration, the run folders
        # beside this one): it stays as the run that built it wrote it, and this run does not
        # import the statistics stack to draw it again.
        log.write(f"portfolio page unchanged since run {unchanged[2]}, not written again")
    else:
        from pipeline.report import portfolio

        portfolio.write_portfolio(plan.project, out_root, as_of=plan.as_of, run_id=run_id)
        write_portfolio_inputs(out_root, page_inputs)
    journal.close()
    failed = len(result.failed_sites)
    kept = f", {len(result.kept_sites)} kept from earlier runs" if result.kept_sites else ""
    log.write(
        f"run {run_id} done in {result.seconds:.1f}s: {len(outcomes) - failed} ok, "
        f"{failed} failed{kept}"
    )
    return result


def _digest_inputs(plan: RunPlan, per_table: dict[str, str]) -> tuple[str | None, dict[str, Any]]:
    """The digest of every input of the run (and the SQL tables read to take it); each table's
    own digest goes to ``per_table``."""
    from pipeline.data.contracts import SUITES_DIR  # the module, not GX: that loads lazily

    return inputs_digest(
        project=plan.project, site_ids=[s.id for s in plan.sites], as_of=plan.as_of,
        notebook=plan.notebook, kernel_name=plan.kernel_name, suites_dir=SUITES_DIR, pdf=plan.pdf,
        per_table=per_table,
    )  # fmt: skip


def _unchanged_run(
    plan: RunPlan, todo: list[Any], digest: str | None
) -> tuple[list[SiteOutcome], tuple[dict[str, Any], ...], str] | None:
    """When nothing the run reads has changed since the run folder's last run, and every
    selected site's published report was found current under those same inputs: the sites'
    "unchanged" outcomes, the data-outside-sites failures that run recorded, and its id.
    Otherwise None (the inputs are read and validated, and each site's fingerprint decides).

    A site whose last run failed is judged again the usual way, so one failing site is enough
    to send the whole run down the usual path.
    """
    if not todo or digest is None:
        return None
    previous = read_manifest(plan.out_root)
    if previous is None or previous.inputs_digest != digest:
        return None
    current = []
    for site in todo:
        entry = previous.site(site.id)
        final = child_path(plan.out_root, site.id)
        if (
            entry is None
            or entry.inputs != digest
            or not entry.published
            or entry.is_failed
            or not (final / "report.html").is_file()
            or read_fingerprint(final) is None
        ):
            return None
        current.append(entry.kept_unchanged())
    return current, previous.data_outside_sites, previous.run_id


def _run_sites(
    plan: RunPlan,
    *,
    todo: list[Any],
    log: RunLog,
    done: Callable[[SiteOutcome], None],
    pool: _Pool | None,
    already_read: dict[str, Any] | None = None,
    table_digests: dict[str, str] | None = None,
) -> tuple[float, tuple[dict[str, Any], ...]]:
    """Read and validate the inputs once, stage each site, run the sites; returns the
    validation time and the contract failures of rows that belong to no selected site."""
    from pipeline.data import contracts, inputs

    if not todo:
        return 0.0, ()
    out_root = plan.out_root
    t0 = time.perf_counter()
    tables = inputs.read_tables(plan.project, already_read=already_read)
    cache = contracts.ValidationCache(out_root / VALIDATION_CACHE)
    report = contracts.validate_project(
        tables, plan.project, as_of=plan.stamp, site_ids=[s.id for s in todo],
        digests=table_digests, cache=cache,
    )  # fmt: skip
    with writing_to(out_root):
        cache.save()
    if cache.hits:
        log.write(
            f"validation: {count_of(len(cache.hits), 'table')} unchanged since the last "
            f"validation, not validated again ({', '.join(cache.hits)})"
        )
    slices = inputs.split_by_site(tables, [s.id for s in todo])
    validation_seconds = time.perf_counter() - t0
    log.write(f"read and validated the inputs in {validation_seconds:.2f}s")
    outside = tuple(
        {**f.to_dict(), "site_id": f.site_id, "message": str(f)} for f in report.project_failures
    )
    for f in outside:
        log.write(f"data outside the selected sites: {f['message']}")
    tasks: list[SiteTask] = []
    running: dict[Future[SiteOutcome], SiteTask] = {}
    stage_root = out_root / STAGING / plan.run_id
    last = read_manifest(out_root)
    previous = {e.site_id: e for e in (last.sites if last is not None else ())}
    for site in todo:
        validation = report.for_site(site.id)
        with writing_to(out_root, what="the staging folder in"):
            stage, vfile, slice_dir = stage_site(
                stage_root,
                site.id,
                validation=validation.to_dict(),
                data=None if validation.has_critical else slices[site.id],
            )
        if validation.has_critical:
            error = validation.reason()
            record_failure(child_path(out_root, site.id), vfile, error, run_id=plan.run_id)
            done(
                SiteOutcome(
                    site_id=site.id,
                    status=RunStatus.FAILED,
                    error=error,
                    problems=validation.problems(),
                )
            )
            continue
        final = child_path(out_root, site.id)
        parts = site_fingerprint(
            project=plan.project, site=site, as_of=plan.as_of, notebook=plan.notebook,
            kernel_name=plan.kernel_name, slice_dir=Path(str(slice_dir)),
            validation=validation.to_dict(), suites_dir=contracts.SUITES_DIR, pdf=plan.pdf,
        )  # fmt: skip
        write_fingerprint(stage, parts)  # published with the report it describes
        published = read_fingerprint(final)
        changed = changed_parts(published, parts)
        before = previous.get(site.id)
        if (
            not plan.force
            and not changed
            and before is not None
            and before.published
            and not before.is_failed
            and (final / "report.html").is_file()
        ):
            shutil.rmtree(stage, ignore_errors=True)
            shutil.rmtree(str(slice_dir), ignore_errors=True)
            log.write(f"site {site.id}: unchanged since run {before.run_id}, not run again")
            done(before.kept_unchanged())
            continue
        if plan.force:
            change = "--force"
        elif published is None or before is None:
            change = "new"
        elif changed:
            change = ", ".join(changed)
        else:
            change = "last run failed"
        log.write(f"site {site.id}: runs ({change})")
        task = SiteTask(
            change=change,
            site_id=site.id,
            as_of=plan.as_of,
            run_id=plan.run_id,
            project_file=str(plan.project.path),
            site_data=str(slice_dir),
            validation_file=str(vfile),
            stage_dir=str(stage),
            final_dir=str(child_path(out_root, site.id)),
            trash_dir=str(out_root / TRASH),
            validation_status=validation.status,
            notebook=plan.notebook,
            kernel_name=plan.kernel_name,
            pdf=plan.pdf,
        )  # fmt: skip
        if pool is not None:
            # to the pool at once: a worker starts this site while the next ones are staged
            running[pool.submit_site(task)] = task
        else:
            tasks.append(task)
    del tables, slices  # the workers read their slices from disk: free the parent's copy
    _decide_rehearsal(len(tasks) + len(running))
    if tasks or running:
        if running:
            _prepare_portfolio_in_background()
            runner = _pool_outcomes(running, workers=min(plan.jobs, len(todo)))
        elif plan.executor == "dask":
            runner = _run_dask(tasks, plan.jobs, plan.scheduler)
        else:
            runner = _run_in_process(tasks)
        for outcome in runner:
            done(outcome)
    shutil.rmtree(stage_root, ignore_errors=True)
    remove_if_empty(out_root / STAGING)
    remove_if_empty(out_root / TRASH)
    return validation_seconds, outside


#: From this many sites to run, the run's warm kernel process rehearses the notebook first
#: (:mod:`pipeline.run.rehearsal`): the rehearsal costs about one site's work, and saves each
#: site's kernel the first-use work that imports leave undone.
REHEARSE_FROM_SITES = 8


class _Pool(ProcessPoolExecutor):
    """The run's process pool; :meth:`submit_site` hands it a site."""

    #: The no-op tasks that started the first workers (:func:`_start_pool`).
    started: list[Future[None]]

    def submit_site(self, task: SiteTask) -> Future[SiteOutcome]:
        """``run_site(task)`` in a worker. Before the first site, the workers started at once
        have started: the pool starts another only when every one it has is busy, and one
        still starting counts as busy. The pool may start a worker here, which must not take a
        Ctrl-C meant for the run (:func:`~pipeline.run.interrupt.blocked_for_children`)."""
        if self.started:
            wait(self.started)
            self.started = []
        with blocked_for_children():
            return self.submit(run_site, task)

    def processes_started(self) -> int:
        """How many worker processes this pool has started."""
        return len(self._processes or {})


def _start_pool(workers: int, *, rehearse: bool | None, at_once: int) -> _Pool:
    """A pool of up to ``workers`` processes sharing one warm kernel process that this process
    starts first (one import of the stack per run, not one per worker). ``at_once`` of them
    start now, while this process reads and validates; the pool starts the others as sites
    arrive while every started one is busy (a rerun of one changed site uses one)."""
    from pipeline.run.kernels import WarmKernelServer, warm_kernels_enabled

    shared: tuple[str, int] | None = None
    if warm_kernels_enabled():
        server = WarmKernelServer.start(rehearse=rehearse)
        shared = (server.socket_path, server.pid)
    pool = None
    try:
        with blocked_for_children():  # SIGINT and SIGTERM wait in each worker until it ignores them
            pool = _Pool(
                max_workers=workers,
                mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(shared,),
            )
            pool.started = [pool.submit(ready) for _ in range(at_once)]
            if at_once == workers:
                pool.started = []  # nothing to wait for: the pool will not start more
    except BaseException:  # interrupted as the block let the signal through
        _stop_pool(pool, kill=True)
        raise
    return pool


def _rehearse_when(plan: RunPlan, sites: int) -> bool | None:
    """Whether the run's warm kernel process rehearses: from :data:`REHEARSE_FROM_SITES` sites
    to run. Into a folder with no earlier run, or with ``--force``, every site selected runs, so
    that is known now; otherwise only once the inputs are validated and each site's fingerprint
    compared (None: the warm process imports meanwhile and waits to be told, so a rerun of one
    changed site does not wait for a rehearsal that would serve it alone)."""
    if sites < REHEARSE_FROM_SITES:
        return False
    return True if _every_site_runs(plan) else None


def _every_site_runs(plan: RunPlan) -> bool:
    """Known before validation: every selected site runs (``--force``, or a folder with no
    earlier run); otherwise only the fingerprints say which do."""
    return plan.force or read_manifest(plan.out_root) is None


def _start_warm_kernels(rehearse: bool | None) -> None:
    """Start this process's warm kernel process now, before the inputs are read and validated,
    for the sites this process runs itself (one site, or ``--jobs 1``): it imports the stack on
    the other core meanwhile, which a changed site's rerun otherwise waited for after validation.
    ``rehearse`` as for a pool's (:func:`_rehearse_when`)."""
    from pipeline.run.kernels import WarmKernelServer, warm_kernels_enabled

    if warm_kernels_enabled():
        WarmKernelServer.start(rehearse=rehearse)


def _prepare_portfolio_in_background() -> None:
    """Import the portfolio page's stack (pandas, statsmodels, matplotlib: about 3 s) and
    compile its templates on a thread of its own while this process waits for the pool: done
    after the last site, it kept one core idle. A later import finds it loaded, or waits for
    this one; what fails here fails again, with its error, where it is used."""
    import threading

    def load() -> None:
        try:
            from pipeline.report import portfolio

            portfolio.warm_up()
        except Exception:  # noqa: BLE001, S110 - raised again where the module is used
            pass

    threading.Thread(target=load, name="prepare the portfolio page", daemon=True).start()


def _decide_rehearsal(sites: int) -> None:
    """Now that the run knows how many sites it runs, tell its warm kernel process (when it
    waits to be told: :func:`_rehearse_when`) whether to rehearse."""
    from pipeline.run.kernels import WarmKernelServer

    WarmKernelServer.decide(rehearse=sites >= REHEARSE_FROM_SITES)


def _stop_pool(pool: ProcessPoolExecutor | None, *, kill: bool) -> None:
    """Stop the pool and the run's warm kernel process; with ``kill``, the workers at once, in
    the middle of their sites (an interrupted run: they ignore SIGINT and SIGTERM themselves),
    and wait for them to go."""
    if pool is not None:
        if kill:
            # ProcessPoolExecutor can only kill its workers from Python 3.14 (kill_workers)
            workers = list((getattr(pool, "_processes", None) or {}).values())
            for worker in workers:
                worker.kill()
            for worker in workers:
                worker.join(10)
        # not waiting for the workers to exit: each then tears its interpreter down
        # (seconds) while this process writes the manifest and the portfolio page
        pool.shutdown(wait=False, cancel_futures=True)
    stop_warm_kernels()


def _run_in_process(tasks: list[SiteTask]) -> Iterable[SiteOutcome]:
    """The sites run one after another in this process (its warm kernel process, started
    before validation, is stopped when the run ends: :func:`_run_sites_and_pages`)."""
    for task in tasks:
        yield run_site(task)


def _pool_outcomes(
    futures: dict[Future[SiteOutcome], SiteTask], *, workers: int
) -> Iterable[SiteOutcome]:
    """The outcomes of sites submitted to the pool, as they finish.

    Once fewer sites are left than the pool has workers, a core is idle until the run ends:
    this process then imports what the portfolio page needs (the statistics stack, about 3 s),
    which it would otherwise do after the last site, with every core idle."""
    left = len(futures)
    for fut in as_completed(futures):
        task = futures[fut]
        try:
            yield fut.result()
        except Exception as exc:  # a worker process died: the site failed, the run goes on
            yield SiteOutcome(
                site_id=task.site_id, status=RunStatus.FAILED, error=f"worker died: {exc}"
            )
        left -= 1
        if 0 < left < workers:
            import pipeline.report.portfolio  # noqa: F401 - imported now, used by _run_locked


def _run_dask(tasks: list[SiteTask], jobs: int, scheduler: str | None) -> Iterable[SiteOutcome]:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    from pipeline.run.kernels import warm_kernels_enabled

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        # Its worker processes, like the pool's, leave SIGINT and SIGTERM to this process: they
        # start with both held back (as does the cluster's thread, which starts them) and
        # ignore them once they run (the preload's dask_setup).
        with blocked_for_children():
            cluster = LocalCluster(
                n_workers=min(jobs, len(tasks)),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                preload=["pipeline.run.interrupt"],
            )
        client = Client(cluster)
    try:
        workers = len(client.scheduler_info().get("workers", {})) or 1
        if warm_kernels_enabled() and len(tasks) >= REHEARSE_FROM_SITES * workers:
            # each Dask worker has its own warm kernel process: rehearsed where it will fork
            # enough kernels to pay for it (a long-lived worker keeps it for later runs)
            client.run(start_rehearsed_warm_kernels)
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
                    site_id=task.site_id, status=RunStatus.FAILED, error=f"worker died: {exc}"
                )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["NOTEBOOK", "RunPlan", "RunResult", "SiteOutcome", "SiteTask", "run_project", "run_site"]
