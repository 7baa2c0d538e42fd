"""What a run produces: each site's outcome and the run's result (plain values, picklable)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.exceptions import NotebookFailed
from pipeline.vocabulary import RunStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteOutcome:
    """What happened to one site."""

    site_id: str
    status: RunStatus
    error: str | None = None
    seconds: float = 0.0
    attempts: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    published: bool = False
    #: the run that produced the site's published report (another run's, for a site that a
    #: partial rerun kept as it was)
    run_id: str = ""
    #: why the site ran ("data, configuration" changed, "new", "--force"), or "unchanged" when
    #: its published report already matched every input (an incremental run)
    change: str = ""
    #: the digest of the run inputs (``fingerprint.inputs_digest``) under which this site's
    #: report was last found current; empty when it could not be taken
    inputs: str = ""

    @property
    def is_unchanged(self) -> bool:
        return self.change == "unchanged"

    @property
    def is_failed(self) -> bool:
        return self.status == RunStatus.FAILED


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
    #: sites of the run folder this run did not touch (a partial rerun keeps them as they were)
    kept_sites: tuple[SiteOutcome, ...] = ()
    #: the digest of everything this run read (``fingerprint.inputs_digest``), "" if none
    inputs_digest: str = ""

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
