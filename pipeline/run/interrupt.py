"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM: the run's process decides, its workers do not.

Ctrl-C on a terminal sends SIGINT to every process of the foreground process group: the run's
process and its pool's workers (or its local Dask cluster's) alike. A worker that took it would die
in the middle of a site (its pool then broken, the parent waiting on it), so the workers ignore
both signals (:func:`ignore_in_worker`, :func:`dask_setup`) and the run's process alone stops the
run: its handler raises
:class:`~pipeline.exceptions.RunInterrupted` (SIGTERM as well as SIGINT), and the run, unwinding,
stops its workers and kernels, keeps what it published and its journal, and releases its lock.
A second signal while it does so is ignored: the shutdown is short and bounded, and a second
exception raised in the middle of it would leave half of it undone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import resource_tracker
from types import FrameType
from typing import Any

from pipeline.exceptions import RunInterrupted

#: What stops a run.
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_installed = False
_received: int | None = None
_leaving = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is not None:  # stopping already: a second Ctrl-C changes nothing
        return
    _received = signum
    raise RunInterrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM raises
    :class:`~pipeline.exceptions.RunInterrupted` and later ones are ignored; the handlers found
    on entry are put back on exit (a notebook or script calling ``run_project`` keeps its own),
    unless :func:`leave_ignoring` was called. Nested, or off the main thread, it changes nothing."""
    global _installed, _received, _leaving
    if _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _received, _leaving = None, False
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)
    _installed = True
    try:
        yield
    finally:
        _installed = False
        for old, handler in previous.items():
            signal.signal(old, signal.SIG_IGN if _leaving else handler)


def leave_ignoring() -> None:
    """The process leaves after an interruption (the command line): when the
    :func:`interruptible` block ends, SIGINT and SIGTERM are ignored, so that a further Ctrl-C
    cannot break into the way out with a traceback."""
    global _leaving
    _leaving = True


@contextmanager
def blocked_for_children() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread while it starts worker processes.

    A child starts with its parent's signal mask, so a worker cannot be stopped by a Ctrl-C meant
    for the run before :func:`ignore_in_worker` runs in it (its imports take a second); here the
    signals wait, and are handled on leaving the block. The standard library starts its
    ``multiprocessing`` resource tracker the same way, and unblocks both signals when it has:
    so it is started first, not by the first worker inside the block.
    """
    resource_tracker.ensure_running()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A handler that does nothing: unlike ``SIG_IGN``, not inherited by the programs a worker
    starts (a kernel gets the default handling back at ``exec``)."""


def ignore_in_worker() -> None:
    """In a worker process (started by :func:`blocked_for_children`): ignore SIGINT and SIGTERM,
    then take signals again. The run's process stops its workers itself."""
    for sig in SIGNALS:
        signal.signal(sig, _ignore)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, run in each worker process of the run's local cluster as it starts
    (``LocalCluster(preload=["pipeline.run.interrupt"])``): as :func:`ignore_in_worker`."""
    if threading.current_thread() is threading.main_thread():
        ignore_in_worker()
