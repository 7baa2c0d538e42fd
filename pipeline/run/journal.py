"""The run's journal: each site is recorded as soon as it is published, so ``--resume`` after an
interrupted run skips the sites it already finished."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from pipeline.files import atomic_write_text
from pipeline.run.outcome import SiteOutcome
from pipeline.vocabulary import RunStatus

JOURNAL = ".journal.jsonl"


class Journal:
    """Sites finished by the current run, one JSON line each, flushed as they finish."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def reset(self, run_id: str) -> None:
        atomic_write_text(self.path, json.dumps({"run_id": run_id}) + "\n", durable=True)

    def record(self, outcome: SiteOutcome) -> None:
        # appended, not replaced: a line cut by a crash loses that site only (see finished)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(outcome)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def finished(self) -> dict[str, SiteOutcome]:
        """Sites the interrupted run published (ok or warnings), by site id."""
        out: dict[str, SiteOutcome] = {}
        if not self.path.is_file():
            return out
        fields = set(SiteOutcome.__dataclass_fields__)
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by the crash
            if "site_id" in row and row.get("published") and row.get("status") != RunStatus.FAILED:
                out[row["site_id"]] = SiteOutcome(**{k: v for k, v in row.items() if k in fields})
        return out

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
