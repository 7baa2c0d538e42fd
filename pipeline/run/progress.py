"""Telling people how a run goes: the run's log file, and progress on the console (a live bar on
a terminal; one plain, timestamped line per site on anything else, such as cron or a pipe)."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.formatting import count_of
from pipeline.run.outcome import SiteOutcome


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunLog:
    """The run's log file (one per run, next to the manifest): plain, timestamped lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, message: str) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{_stamp()} {message}\n")

    def site(self, outcome: SiteOutcome) -> None:
        timings = " ".join(f"{k}={v:.2f}s" for k, v in outcome.timings.items())
        status = f"{outcome.status}, unchanged" if outcome.is_unchanged else outcome.status
        line = f"site {outcome.site_id}: {status} in {outcome.seconds:.2f}s"
        if outcome.attempts > 1:
            line += f" after {outcome.attempts} attempts"
        if timings:
            line += f" ({timings})"
        if outcome.error:
            # a multi-line error (several failed contract rules) is one log line per rule
            first, *rest = outcome.error.splitlines()
            line += f": {first}"
        else:
            rest = []
        self.write(line)
        for more in rest:
            self.write(f"site {outcome.site_id}: {more}")


def console_progress(
    quiet: bool, verbose: bool = False, jobs: int | None = None
) -> tuple[Callable[[int], None], Callable[[SiteOutcome], None], Callable[[], None]]:
    """Callbacks ``(on_start, on_site_done, close)`` that show a run's progress on stderr.

    On a terminal a live bar (rich); on anything else one plain line per site, e.g.
    ``2026-11-27T06:00:41Z site fab-dresden: ok (3.2s) [3/24 done, 0 failed, 41s elapsed]``.
    Site ids and errors come from data: they are escaped before rich reads them as markup.
    """
    state: dict[str, Any] = {"total": 0, "done": 0, "failed": 0, "t0": time.perf_counter()}
    bar: Any = None
    task: Any = None
    is_tty = sys.stderr.isatty()
    workers = jobs or os.cpu_count() or 1

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def on_start(total: int) -> None:
        nonlocal bar, task
        state["total"] = total
        if quiet:
            return
        if is_tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            bar = Progress(
                TextColumn("[bold]sites"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("done · {task.fields[failed]} failed · {task.fields[running]} running"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=True,
            )
            bar.start()
            task = bar.add_task("sites", total=total, failed=0, running=min(workers, total))
        else:
            echo(f"{_stamp()} run: {count_of(total, 'site')}")

    def on_site_done(outcome: SiteOutcome) -> None:
        state["done"] += 1
        state["failed"] += outcome.is_failed
        if quiet:
            return
        if bar is not None:
            from rich.markup import escape

            running = min(workers, state["total"] - state["done"])
            bar.update(task, advance=1, failed=state["failed"], running=running)
            if verbose or outcome.error:
                bar.console.print(
                    escape(
                        f"site {outcome.site_id}: {outcome.status} "
                        f"({outcome.seconds:.1f}s) {outcome.error or ''}"
                    )
                )
            return
        elapsed = time.perf_counter() - state["t0"]
        timing = ""
        if verbose and outcome.timings:
            timing = " " + " ".join(f"{k}={v:.2f}s" for k, v in outcome.timings.items())
        status = f"{outcome.status}, unchanged" if outcome.is_unchanged else outcome.status
        line = (
            f"{_stamp()} site {outcome.site_id}: {status} ({outcome.seconds:.1f}s"
            f"{timing}) [{state['done']}/{state['total'] or '?'} done, {state['failed']} failed, "
            f"{elapsed:.0f}s elapsed]"
        )
        if outcome.error:
            line += f" - {outcome.error}"
        echo(line)

    def close() -> None:
        if bar is not None:
            bar.stop()

    return on_start, on_site_done, close
