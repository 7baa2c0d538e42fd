"""The run's journal: each site is recorded as soon as it is published, so ``--resume`` after an
interrupted run skips the sites it already finished, and carries on with the options it ran with
(its report date, ``--force``, ``--site``, ``--pdf``)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.files import atomic_write_text
from pipeline.run.outcome import SiteOutcome
from pipeline.vocabulary import RunStatus

JOURNAL = ".journal.jsonl"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """The options of a run that decide what ``--resume`` still has to do, and how."""

    as_of: str
    #: every site runs, even one whose published report matches its inputs
    force: bool = False
    #: the sites asked for (``--site``), None for every configured site
    sites: tuple[str, ...] | None = None
    pdf: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sites": None if self.sites is None else list(self.sites)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOptions:
        sites = data.get("sites")
        return cls(
            as_of=str(data["as_of"]),
            force=bool(data.get("force", False)),
            sites=None if sites is None else tuple(str(s) for s in sites),
            pdf=bool(data.get("pdf", False)),
        )


def is_finished(outcome: SiteOutcome) -> bool:
    """Whether ``--resume`` skips this site: its report was published and it did not fail."""
    return outcome.published and outcome.status != RunStatus.FAILED


def interrupted_runs(output: Path) -> list[Path]:
    """The journals of runs in ``output`` that did not finish, one per report date's folder."""
    if not output.is_dir():
        return []
    return sorted(p for p in output.glob(f"*/{JOURNAL}") if not p.parent.is_symlink())


class Journal:
    """Sites finished by the current run, one JSON line each, flushed as they finish; first, the
    options it runs with (and again, after them, those of each ``--resume``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def reset(self, run_id: str, options: RunOptions) -> None:
        """Start the journal of a new run."""
        line = json.dumps({"run_id": run_id, "options": options.to_dict()})
        atomic_write_text(self.path, line + "\n", durable=True)

    def resume(self, run_id: str, options: RunOptions) -> None:
        """Record that ``run_id`` carries the interrupted run on, with ``options``."""
        self._append({"run_id": run_id, "options": options.to_dict()})

    def options(self) -> RunOptions | None:
        """The options the last run of this journal ran with (None: a journal that did not
        record them, or none)."""
        found = None
        for row in self._rows():
            if isinstance(row.get("options"), dict):
                try:
                    found = RunOptions.from_dict(row["options"])
                except (KeyError, TypeError, ValueError):
                    continue
        return found

    def record(self, outcome: SiteOutcome) -> None:
        self._append(asdict(outcome))

    def _append(self, row: dict[str, Any]) -> None:
        # appended, not replaced: a line cut by a crash loses that site only (see finished)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by the crash
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def finished(self) -> dict[str, SiteOutcome]:
        """Sites the interrupted run published (ok or warnings), by site id."""
        out: dict[str, SiteOutcome] = {}
        fields = set(SiteOutcome.__dataclass_fields__)
        for row in self._rows():
            if "site_id" not in row:
                continue  # the options of a run
            try:
                outcome = SiteOutcome(**{k: v for k, v in row.items() if k in fields})
            except TypeError:
                continue  # not an outcome this version can read: the site runs again
            if is_finished(outcome):
                out[outcome.site_id] = outcome
        return out

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
