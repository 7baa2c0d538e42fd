"""The one exception tree of Kaizen Reports.

::

    KaizenError
    ├── ConfigError          kaizen.yaml is missing, malformed or inconsistent; unknown site ids
    ├── InputError           an input table cannot be read or parsed (file, SQL, types, dates)
    ├── ContractViolation    a critical data-contract rule failed for a site
    ├── StatisticsError      data that a statistic cannot be computed from (too few points, bad n)
    ├── NotebookFailed       a site's notebook raised; the executed notebook is kept
    ├── RenderError          the executed notebook could not be turned into HTML
    ├── DeliveryError        an email could not be built or delivered
    └── LockHeld             another run holds the output folder's lock

    KeyboardInterrupt
    └── RunInterrupted       a run stopped on SIGINT (Ctrl-C) or SIGTERM; ``--resume`` finishes it

Every error carries the fields a person needs to act (site, table, column, rows) and a ``__str__``
that says them in one line.

``RunInterrupted`` is the one error outside ``KaizenError``, as Python's own ``KeyboardInterrupt``
is outside ``Exception``: it is raised by a signal handler wherever the run happens to be, and an
``except Exception`` there (a worker that died is a failed site, a broken notebook is a failed
site) must not turn the interruption into a site failure and go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class KaizenError(Exception):
    """Root of every error Kaizen Reports raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        site_id: str | None = None,
        table: str | None = None,
        column: str | None = None,
        rows: Sequence[Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.site_id = site_id
        self.table = table
        self.column = column
        self.rows: list[Any] | None = list(rows) if rows is not None else None
        self.hint = hint

    def __str__(self) -> str:
        where = []
        if self.site_id:
            where.append(f"site {self.site_id!r}")
        if self.table:
            where.append(f"table {self.table!r}")
        if self.column:
            where.append(f"column {self.column!r}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" and {len(self.rows) - 5} more" if len(self.rows) > 5 else ""
            text += f" ({'row' if len(self.rows) == 1 else 'rows'} {shown}{more})"
        if self.hint:  # a sentence of its own after the message's full stop
            text += f". {self.hint[:1].upper()}{self.hint[1:]}"
        return text


class ConfigError(KaizenError):
    """The project configuration is missing, malformed or inconsistent."""


class InputError(KaizenError):
    """An input table cannot be read or parsed."""


class ContractViolation(KaizenError):
    """A critical data-contract rule failed."""


class StatisticsError(KaizenError):
    """The data do not allow the requested statistic."""


class NotebookFailed(KaizenError):
    """A site's notebook raised an error while executing."""


class RenderError(KaizenError):
    """The executed notebook could not be rendered."""


class DeliveryError(KaizenError):
    """An email could not be built or delivered."""


class LockHeld(KaizenError):
    """Another run holds the lock on the output folder."""


class RunInterrupted(KeyboardInterrupt):
    """A run stopped on a signal (SIGINT from Ctrl-C, or SIGTERM from a scheduler or ``kill``).

    ``finished`` of ``total`` sites were published (and journaled) before it stopped; both are
    None when the run had not yet started its sites. ``exit_code`` is the shell's convention for
    a process ended by that signal, 128 + the signal's number (130, 143).
    """

    def __init__(
        self, signum: int, *, finished: int | None = None, total: int | None = None
    ) -> None:
        super().__init__(signum)
        self.signum = signum
        self.finished = finished
        self.total = total

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        if self.finished is None or self.total is None:
            return "Interrupted before any site ran; nothing was published"
        sites = f"{self.finished} of {self.total} site{'' if self.total == 1 else 's'} finished"
        if self.finished == self.total:
            return (
                f"Interrupted: {sites}, but not the manifest and the portfolio page; "
                "rerun with --resume to write them"
            )
        return f"Interrupted: {sites}; rerun with --resume to finish the rest"
