"""Writing ``manifest.json``: what a run folder holds — each site's status, error, timings and the
run that produced its report. A partial rerun (``run --site A``) merges into it: the sites it did
not run keep their entries, so the portfolio and ``send`` still find their published reports.

The file's shape, its schema and its one loader are in :mod:`pipeline.report.manifest`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from pipeline.exceptions import InputError
from pipeline.files import atomic_write_json, atomic_write_text
from pipeline.report.manifest import (
    MANIFEST_FILE,
    Manifest,
    SiteOutcome,
    load_manifest,
    validate_manifest,
)
from pipeline.run.outcome import RunResult

MANIFEST = MANIFEST_FILE
#: The digest of what the run folder's portfolio page was built from (see portfolio_inputs).
PORTFOLIO_INPUTS = ".portfolio-inputs"


def read_manifest(out_root: Path) -> Manifest | None:
    """The run folder's manifest, or None when there is none (or it cannot be read: a run
    writes a new one either way)."""
    try:
        return load_manifest(out_root)
    except InputError:
        return None


def kept_sites(
    out_root: Path, *, configured: Iterable[str], rerun: Iterable[str]
) -> list[SiteOutcome]:
    """The entries of the folder's previous manifest for configured sites this run does not
    run, as they were (with the id of the run that produced each)."""
    previous = read_manifest(out_root)
    if previous is None:
        return []
    skip = set(rerun)
    wanted = [s for s in configured if s not in skip]
    by_id = {
        s.site_id: replace(s, run_id=s.run_id or previous.run_id)
        for s in previous.sites
        if s.site_id in wanted
    }
    return [by_id[s] for s in wanted if s in by_id]


def write_manifest(result: RunResult, *, project_name: str, order: Iterable[str]) -> Path:
    """Write ``manifest.json`` for ``result`` (its sites and the sites it kept), sites in
    ``order`` (the configuration's). No secrets: ids, statuses, errors and timings only."""
    from pipeline import __version__

    rank = {s: i for i, s in enumerate(order)}
    sites = sorted(
        [*result.sites, *result.kept_sites], key=lambda o: rank.get(o.site_id, len(rank))
    )
    manifest = Manifest(
        run_id=result.run_id,
        as_of=result.as_of,
        project=project_name,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        version=__version__,
        seconds=round(result.seconds, 3),
        validation_seconds=round(result.validation_seconds, 3),
        sites=tuple(
            replace(
                o,
                run_id=o.run_id or result.run_id,
                seconds=round(o.seconds, 3),
                timings={k: round(v, 3) for k, v in o.timings.items()},
            )
            for o in sites
        ),
        inputs_digest=result.inputs_digest,
        data_outside_sites=result.data_outside_sites,
    )
    data = replace(manifest, summary=manifest.status_counts()).to_dict()
    validate_manifest(data)  # a field the schema does not know is a bug: fail here, not in send
    return atomic_write_json(result.output / MANIFEST, data)


def portfolio_inputs(result: RunResult, *, order: Iterable[str]) -> str:
    """A digest of what the portfolio page of ``result``'s folder is built from, apart from the
    run id and time: each site's status, error and report run, the data outside the sites, the
    run's inputs (configuration, data, as_of: ``result.inputs_digest``) and the manifest of each
    run folder beside this one (the page's history and its links to other runs)."""
    rank = {s: i for i, s in enumerate(order)}
    sites = sorted(
        [*result.sites, *result.kept_sites], key=lambda o: rank.get(o.site_id, len(rank))
    )
    h = hashlib.sha256()
    for part in (
        result.inputs_digest,
        [(o.site_id, str(o.status), o.error, o.published, o.run_id) for o in sites],
        list(result.data_outside_sites),
    ):
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    base = result.output.parent
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        manifest = folder / MANIFEST
        if folder == result.output or folder.is_symlink() or not manifest.is_file():
            continue
        h.update(folder.name.encode())
        h.update(hashlib.sha256(manifest.read_bytes()).digest())
    return h.hexdigest()


def read_portfolio_inputs(out_root: Path) -> str | None:
    """The digest the folder's portfolio page was built from, when the page is there."""
    if not ((out_root / "index.html").is_file() and (out_root / "portfolio.json").is_file()):
        return None
    try:
        return (out_root / PORTFOLIO_INPUTS).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def write_portfolio_inputs(out_root: Path, digest: str) -> None:
    """Record what the portfolio page just written was built from ("" when unknown)."""
    if digest:
        atomic_write_text(out_root / PORTFOLIO_INPUTS, digest + "\n")
    else:
        (out_root / PORTFOLIO_INPUTS).unlink(missing_ok=True)
