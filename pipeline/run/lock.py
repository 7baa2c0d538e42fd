"""The output folder's lock: one run at a time writes to it, and a second run names the holder."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from contextlib import ExitStack
from pathlib import Path

from pipeline.files import atomic_write_json, exclusive_lock

LOCK = ".kaizen.lock"
#: who holds the lock, beside it (the lock file itself is ``filelock``'s)
HOLDER = ".kaizen.lock.json"


class RunLock:
    """An exclusive lock on an output folder, released by the OS if the holder dies.

    A file beside the lock says who holds it (pid, host, run id, start time), so a second run can
    name the holder in its error message.

    Raises
    ------
    LockHeld
        On entry, when another run holds the lock.
    ConfigError
        On entry, when the output folder is not writable.
    """

    def __init__(self, output: Path, *, run_id: str, as_of: str) -> None:
        self.path = output / LOCK
        self.holder = output / HOLDER
        self.info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": run_id,
            "as_of": as_of,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self._stack: ExitStack | None = None

    def _held_message(self) -> str:
        try:
            h = json.loads(self.holder.read_text(encoding="utf-8"))
            who = (
                f"run {h.get('run_id')} (pid {h.get('pid')} on {h.get('host')}, as_of "
                f"{h.get('as_of')}, started {h.get('started')})"
            )
        except (OSError, ValueError, AttributeError):
            who = "another run"
        return (
            f"{who} is writing to {self.path.parent}; wait for it to finish or use "
            "another --output folder"
        )

    def __enter__(self) -> RunLock:
        stack = ExitStack()
        try:
            stack.enter_context(exclusive_lock(self.path, held=self._held_message))
            atomic_write_json(self.holder, self.info)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self.holder.unlink(missing_ok=True)
            self._stack.close()
            self._stack = None
