"""A site's fingerprint: digests of everything its report depends on, so that an unchanged site
is not executed again (incremental runs; ``run --force`` re-runs every site).

The parts are the site's input rows (its Arrow IPC slice) and its validation result, the
configuration that applies to it (the project's settings and its own entry, not other sites'),
the notebook template, the contract suites, the package version, the report date, the
kernel and whether a PDF is printed. The fingerprint is published with the report
(``<site>/fingerprint.json``), so it describes exactly the report beside it; the run log names
the parts that changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pipeline.files import atomic_write_json

FINGERPRINT = "fingerprint.json"


def _digest_bytes(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "little"))  # framed: ("ab","c") differs from ("a","bc")
        h.update(chunk)
    return h.hexdigest()


def _digest_files(files: list[Path]) -> str:
    return _digest_bytes(*(c for f in files for c in (f.name.encode(), f.read_bytes())))


def site_fingerprint(
    *,
    project: Any,
    site: Any,
    as_of: str,
    notebook: str,
    kernel_name: str,
    slice_dir: Path,
    validation: dict[str, Any],
    suites_dir: Path,
    pdf: bool = False,
) -> dict[str, str]:
    """The digests of each input of one site's report, by part name."""
    from pipeline import __version__

    settings = (
        project.name,
        project.lookback_amount,
        project.lookback_unit,
        project.statistics,
        getattr(project, "currency", None),
        site,
    )
    return {
        "data": _digest_files(sorted(slice_dir.glob("*.arrow"))),
        "validation": _digest_bytes(json.dumps(validation, sort_keys=True, default=str).encode()),
        # frozen dataclasses of plain values: their repr is stable and names every field
        "configuration": _digest_bytes(repr(settings).encode()),
        "notebook": _digest_files([Path(notebook)]),
        "contracts": _digest_files(sorted(suites_dir.glob("*.json"))),
        "version": __version__,
        "as_of": as_of,
        "kernel": kernel_name,
        "pdf": "yes" if pdf else "no",  # a run that adds report.pdf must print it
    }


def read_fingerprint(site_dir: Path) -> dict[str, str] | None:
    """The fingerprint published with the report in ``site_dir``, if any."""
    try:
        data = json.loads((site_dir / FINGERPRINT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    parts = data.get("parts") if isinstance(data, dict) else None
    return parts if isinstance(parts, dict) else None


def write_fingerprint(site_dir: Path, parts: dict[str, str]) -> None:
    atomic_write_json(site_dir / FINGERPRINT, {"parts": parts})


def changed_parts(previous: dict[str, str] | None, parts: dict[str, str]) -> list[str]:
    """Names of the parts that differ (every part when there is no previous fingerprint)."""
    if previous is None:
        return list(parts)
    return [k for k in parts if previous.get(k) != parts[k]]
