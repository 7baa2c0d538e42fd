"""One site in a worker process: execute its notebook with papermill, render it, publish it.

The run's parent (:mod:`pipeline.run.execute`) hands each site to a pool worker or a Dask worker
as a :class:`SiteTask`; :func:`run_site` produces the site's report and returns its
:class:`~pipeline.run.outcome.SiteOutcome`. This module and what it imports leave out the
parent's data stack (pandas, the input tables, the contracts): a worker imports only what
running a notebook needs, about 0.3 s of CPU and 60 MB less per worker process.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.exceptions import KaizenError
from pipeline.files import atomic_write_text
from pipeline.run.interrupt import ignore_in_worker
from pipeline.run.outcome import SiteOutcome
from pipeline.run.publish import publish, record_failure
from pipeline.vocabulary import RunStatus

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "site_report.ipynb"
#: Attempts at a site whose kernel died or did not start (each in a fresh kernel).
KERNEL_RETRIES = 3


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
    validation_status: RunStatus = RunStatus.OK
    kernel_name: str = "python3"
    pdf: bool = False
    change: str = ""


def ready() -> None:
    """A no-op task: submitting one per worker makes the pool start its processes at once."""


def init_worker(shared: tuple[str, int] | None = None) -> None:
    """Prepare a worker process: leave SIGINT and SIGTERM to the parent (which stops the run
    and its workers), die with the parent, use the run's warm kernel process
    (``shared``: its socket and pid) or start one of its own, and build the nbconvert exporter
    meanwhile."""
    from pipeline.report.render import warm_up
    from pipeline.run.kernels import WarmKernelServer, die_with_parent, warm_kernels_enabled

    ignore_in_worker()
    die_with_parent()
    if shared is not None:
        WarmKernelServer.attach(*shared)
    elif warm_kernels_enabled():
        WarmKernelServer.start()
    warm_up()


def start_rehearsed_warm_kernels() -> None:
    """On a Dask worker: start its warm kernel process, rehearsed, unless one runs already."""
    from pipeline.run.kernels import WarmKernelServer

    WarmKernelServer.start(rehearse=True)


def stop_warm_kernels() -> None:
    from pipeline.run.kernels import WarmKernelServer

    WarmKernelServer.stop_for_this_process()


def run_site(task: SiteTask) -> SiteOutcome:
    """Execute, render and publish one site (runs in a worker process)."""
    import papermill as pm
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from pipeline.report.render import render_notebook
    from pipeline.run.provisioner import SiteKernelManager, use_warm_fork_provisioner

    use_warm_fork_provisioner()

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
            record_failure(Path(task.final_dir), nb_path, error, run_id=task.run_id, notebook=True)
        return SiteOutcome(
            site_id=task.site_id,
            status=RunStatus.FAILED,
            error=error,
            attempts=attempts,
            seconds=time.perf_counter() - started,
            change=task.change,
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
                kernel_manager_class=SiteKernelManager,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                start_timeout=120,
            )
            timings["execute"] = time.perf_counter() - t0
            break
        except (PapermillExecutionError, CellExecutionError) as exc:
            return failed(_cell_error(exc))  # the notebook's own error: running again repeats it
        except (DeadKernelError, RuntimeError) as exc:
            # The kernel died, or did not start or answer (jupyter_client and nbclient raise
            # RuntimeError for those): worth another attempt in a fresh kernel.
            text = f"{type(exc).__name__}: {exc}"
            if attempts < KERNEL_RETRIES:
                time.sleep(0.5 * 2 ** (attempts - 1))
                continue
            return failed(f"the notebook could not run: {text.splitlines()[0]}")
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
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
    atomic_write_text(stage / "report.html", html)
    timings["render"] = time.perf_counter() - t0
    if task.pdf:  # the print step lives in report/pdf.py; a failure fails the site, as asked
        from pipeline.report.pdf import write_pdf

        t0 = time.perf_counter()
        try:
            write_pdf(stage / "report.html", site_name=site_name or task.site_id, as_of=task.as_of)
        except KaizenError as exc:
            return failed(str(exc))
        timings["pdf"] = time.perf_counter() - t0
    publish(stage, Path(task.final_dir), Path(task.trash_dir))
    return SiteOutcome(
        site_id=task.site_id,
        status=task.validation_status,
        attempts=attempts,
        seconds=time.perf_counter() - started,
        timings=timings,
        published=True,
        change=task.change,
    )


def _cell_error(exc: Any) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
    cell = getattr(exc, "exec_count", None)
    where = f" in cell {cell}" if cell else ""
    return f"notebook error{where}: {ename}: {evalue[0] if evalue else ''}".rstrip(": ")


__all__ = [
    "KERNEL_RETRIES",
    "NOTEBOOK",
    "SiteTask",
    "init_worker",
    "ready",
    "run_site",
    "start_rehearsed_warm_kernels",
    "stop_warm_kernels",
]
