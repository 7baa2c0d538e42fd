"""Check the input tables against the data contracts before any notebook starts.

The result says, per site, which rules failed, how badly (``critical`` stops the site's report,
``warning`` adds a banner) and where (table, column, rows, examples).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.config import Project
from pipeline.exceptions import ContractViolation
from pipeline.inputs import Tables

CRITICAL, WARNING = "critical", "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """One failed rule for one table (and site)."""

    table: str
    rule: str
    description: str
    severity: str
    column: str | None = None
    rows: tuple[int, ...] = ()
    examples: tuple[str, ...] = ()
    unexpected_count: int = 0
    site_id: str | None = None

    def __str__(self) -> str:
        where = f"table {self.table!r}" + (f", column {self.column!r}" if self.column else "")
        rows = ""
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" and {len(self.rows) - 5} more" if len(self.rows) > 5 else ""
            rows = f" (rows {shown}{more})"
        ex = f"; e.g. {', '.join(repr(e) for e in self.examples[:3])}" if self.examples else ""
        return f"{where}: {self.description}{rows}{ex}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rule": self.rule,
            "description": self.description,
            "severity": self.severity,
            "column": self.column,
            "rows": list(self.rows[:20]),
            "examples": list(self.examples[:5]),
            "unexpected_count": self.unexpected_count,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteValidation:
    """Contract results for one site."""

    site_id: str
    failures: tuple[Failure, ...] = ()
    row_counts: dict[str, int] = field(default_factory=dict)
    rules_checked: int = 0

    @property
    def has_critical(self) -> bool:
        return any(f.severity == CRITICAL for f in self.failures)

    @property
    def has_warnings(self) -> bool:
        return any(f.severity == WARNING for f in self.failures)

    @property
    def status(self) -> str:
        if self.has_critical:
            return "failed"
        return "warnings" if self.has_warnings else "ok"

    def reason(self) -> str:
        """One line naming the critical failures, for the index page and the manifest."""
        crit = [f for f in self.failures if f.severity == CRITICAL]
        if not crit:
            return ""
        first = str(crit[0])
        more = f" (+{len(crit) - 1} more critical rule(s))" if len(crit) > 1 else ""
        return f"data contract failed: {first}{more}"

    def raise_for_failures(self) -> SiteValidation:
        if self.has_critical:
            raise ContractViolation(self.reason(), site_id=self.site_id)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "status": self.status,
            "rules_checked": self.rules_checked,
            "row_counts": dict(self.row_counts),
            "failures": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """Contract results for a run: one :class:`SiteValidation` per site."""

    sites: dict[str, SiteValidation]

    @property
    def success(self) -> bool:
        return not any(v.has_critical for v in self.sites.values())

    @property
    def failed_sites(self) -> tuple[str, ...]:
        return tuple(s for s, v in self.sites.items() if v.has_critical)

    def for_site(self, site_id: str) -> SiteValidation:
        return self.sites[site_id]

    def raise_for_failures(self) -> ValidationReport:
        if not self.success:
            raise ContractViolation(
                "critical data-contract rules failed for site(s) " + ", ".join(self.failed_sites)
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "sites": {s: v.to_dict() for s, v in self.sites.items()}}


def validate_project(
    tables: Tables, project: Project, *, as_of: pd.Timestamp, site_ids: Iterable[str]
) -> ValidationReport:
    """Validate every table for each of ``site_ids``; a failure outside any site counts for all."""
    site_ids = list(site_ids)
    per_site: dict[str, list[Failure]] = {s: [] for s in site_ids}
    for problem in tables.problems:
        failure = Failure(
            table=problem.table,
            rule="parseable_" + problem.expected.split()[0],
            description=f"values are not a valid {problem.expected}",
            severity=CRITICAL,
            column=problem.column,
            rows=problem.rows,
            examples=problem.examples,
            unexpected_count=len(problem.rows),
        )
        targets = [s for s in problem.site_ids if s in per_site] or site_ids
        for s in targets:
            per_site[s].append(failure)
    counts = {
        s: {
            name: int((frame["site_id"] == s).sum()) if "site_id" in frame.columns else len(frame)
            for name, frame in tables.frames.items()
        }
        for s in site_ids
    }
    return ValidationReport(
        sites={
            s: SiteValidation(site_id=s, failures=tuple(per_site[s]), row_counts=counts[s])
            for s in site_ids
        }
    )
