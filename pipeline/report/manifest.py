"""``manifest.json``, typed: what one run folder holds (each site's run status, error, timings and
the run that produced its report) and its one loader.

``run`` writes the file (:mod:`pipeline.run.manifest`); the portfolio, ``send`` and the next run
read it through :func:`load_manifest`, which checks it against the JSON Schema shipped beside
results.json (``report/schemas/manifest.schema.json``, generated from these dataclasses by
``python -m tools.schemas``). A manifest written before manifests carried a ``schema_version``
has the same shape and reads as version 1.0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.report.documents import check_document, read_document
from pipeline.vocabulary import RunStatus

__all__ = [
    "MANIFEST_FILE",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "Manifest",
    "SiteOutcome",
    "load_manifest",
    "parse_manifest",
]

#: major.minor: a reader accepts every file of its major version (minor versions only add keys).
SCHEMA_VERSION = "1.0"
MANIFEST_FILE = "manifest.json"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "manifest.schema.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteOutcome:
    """What happened to one site in a run (one entry of the manifest's ``sites``)."""

    site_id: str
    status: RunStatus
    error: str | None = None
    #: each critical data-contract rule the site's data did not meet, in words (table, column,
    #: what is wrong, the file's lines, examples), one per rule; empty for other failures
    problems: tuple[str, ...] = ()
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

    def kept_unchanged(self) -> SiteOutcome:
        """This site's outcome in a run that found its published report current (not run)."""
        return SiteOutcome(
            site_id=self.site_id,
            status=self.status,
            published=True,
            run_id=self.run_id,
            change="unchanged",
        )

    @property
    def is_unchanged(self) -> bool:
        return self.change == "unchanged"

    @property
    def is_failed(self) -> bool:
        return self.status == RunStatus.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """One run folder's record: the run, and each site's outcome in the configuration's order."""

    run_id: str
    as_of: str
    project: str = ""
    generated_at: str | None = None
    #: the Kaizen Reports version that wrote the file
    version: str = ""
    seconds: float = 0.0
    validation_seconds: float = 0.0
    #: the digest of everything the run read (``fingerprint.inputs_digest``), "" if none
    inputs_digest: str = ""
    sites: tuple[SiteOutcome, ...]
    #: contract failures of rows that belong to no selected site (each with a ``message``)
    data_outside_sites: tuple[dict[str, Any], ...] = ()
    #: sites per run status
    summary: dict[str, int] = field(default_factory=dict)

    def site(self, site_id: str) -> SiteOutcome | None:
        return next((s for s in self.sites if s.site_id == site_id), None)

    def status_counts(self) -> dict[str, int]:
        """Sites per run status, every status present (0 when none)."""
        return {s.value: sum(o.status == s for o in self.sites) for s in RunStatus}

    def to_dict(self) -> dict[str, Any]:
        """The file's content, ``schema_version`` first."""
        from pipeline.formatting import json_safe  # pandas: not for a worker's SiteOutcome

        return {"schema_version": SCHEMA_VERSION, **json_safe(asdict(self))}


def validate_manifest(data: Any, *, source: str = MANIFEST_FILE) -> None:
    """Check ``data`` against the manifest's schema (an :class:`InputError` naming the field)."""
    if isinstance(data, dict) and "schema_version" not in data:
        data = {"schema_version": "1.0", **data}  # written before manifests were versioned
    check_document(
        data,
        SCHEMA_FILE,
        version=SCHEMA_VERSION,
        source=source,
        hint="run `kaizen-reports run` again to write it anew",
    )


def parse_manifest(data: Any, *, source: str = MANIFEST_FILE) -> Manifest:
    """:class:`Manifest` from the parsed JSON of a manifest.json (checked against the schema)."""
    validate_manifest(data, source=source)
    fields = {k: v for k, v in data.items() if k != "schema_version"}
    sites = tuple(
        SiteOutcome(
            **{**s, "status": RunStatus(s["status"]), "problems": tuple(s.get("problems", ()))}
        )
        for s in fields.pop("sites")
    )
    outside = tuple(fields.pop("data_outside_sites", ()))
    return Manifest(**fields, sites=sites, data_outside_sites=outside)


def load_manifest(path: str | Path) -> Manifest:
    """Read a run folder's manifest.json (the folder, or the file itself).

    Raises
    ------
    InputError
        when the file is missing, is not JSON, or does not match the schema.
    """
    file, data = read_document(path, MANIFEST_FILE)
    return parse_manifest(data, source=str(file))
