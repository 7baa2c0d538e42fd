"""What a run produces: each site's outcome and the run's result (plain values, picklable).

:class:`SiteOutcome` lives with the manifest that records it (:mod:`pipeline.report.manifest`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.exceptions import NotebookFailed
from pipeline.report.manifest import SiteOutcome

__all__ = ["ProgressCallback", "RunResult", "SiteOutcome"]


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
    #: with ``resume``: whether there was an interrupted run to finish (None: not asked)
    resumed: bool | None = None

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
