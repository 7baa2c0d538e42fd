"""The output folder's lock: one run at a time writes to it, and a second run names the holder.

An output folder also belongs to one project: the first run writes which (:data:`OWNER`), and a
run of another project is refused, since its manifest and portfolio page would replace the first
project's for the same report date and leave that project's site folders orphaned.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from contextlib import ExitStack
from pathlib import Path

from pipeline.exceptions import ConfigError, KaizenError
from pipeline.files import atomic_write_json, exclusive_lock

LOCK = ".kaizen.lock"
#: who holds the lock, beside it (the lock file itself is ``filelock``'s)
HOLDER = ".kaizen.lock.json"
#: which project's reports the folder holds: its kaizen.yaml (resolved path) and name
OWNER = ".kaizen-project.json"


class RunLock:
    """An exclusive lock on an output folder, released by the OS if the holder dies.

    A file beside the lock says who holds it (pid, host, run id, start time), so a second run can
    name the holder in its error message.

    Raises
    ------
    LockHeld
        On entry, when another run holds the lock.
    ConfigError
        On entry, when the output folder is not writable, or holds the reports of another
        project that still writes there (a project moved or copied with its reports elsewhere
        does not: its kaizen.yaml is gone, or names another output folder).
    """

    def __init__(
        self, output: Path, *, run_id: str, as_of: str, project: tuple[Path, str] | None = None
    ) -> None:
        self.path = output / LOCK
        self.holder = output / HOLDER
        self.owner = output / OWNER
        self.project = project
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
            self._claim()
            atomic_write_json(self.holder, self.info)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def _claim(self) -> None:
        """Record this run's project as the folder's, unless another project holds it."""
        if self.project is None:
            return
        file, name = str(self.project[0].resolve()), self.project[1]
        try:
            owner = json.loads(self.owner.read_text(encoding="utf-8"))
            theirs = str(owner["project_file"])
        except (OSError, ValueError, KeyError, TypeError):
            theirs = ""
        if theirs and theirs != file and _writes_to(theirs, self.path.parent):
            raise ConfigError(
                f"the output folder {self.path.parent} holds the reports of another project "
                f"({owner.get('name') or 'unnamed'}, {theirs}); this project ({file}) would "
                "replace its manifest and portfolio page",
                hint="Give each project its own output folder (output: in kaizen.yaml, or --output)",
            )
        if theirs != file:
            atomic_write_json(self.owner, {"project_file": file, "name": name})

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self.holder.unlink(missing_ok=True)
            self._stack.close()
            self._stack = None


def _writes_to(project_file: str, output: Path) -> bool:
    """Whether the project at ``project_file`` (still there, and readable) writes to ``output``."""
    from pipeline.data.config import load_project

    try:
        return load_project(project_file).output.resolve() == output.resolve()
    except (KaizenError, OSError):
        return False
