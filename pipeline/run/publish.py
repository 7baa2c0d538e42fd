"""Staging and publishing a site's folder: a reader sees the old report or the new one, never half.

Each site is built in ``<as_of>/.staging/<run_id>/<site>/`` (its input slice and validation
result beside it) and moved into place in one rename; the folder it replaces goes through
``.trash/`` so that :func:`recover_interrupted` can put it back after a crash between the two.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.files import atomic_write_bytes, atomic_write_json, atomic_write_text, child_path
from pipeline.report.render import mark_stale

if TYPE_CHECKING:  # a worker publishes without the input tables' stack (pandas)
    from pipeline.data.inputs import SiteTables

STAGING = ".staging"
TRASH = ".trash"


def stage_site(
    stage_root: Path, site_id: str, *, validation: dict[str, Any], data: SiteTables | None
) -> tuple[Path, Path, Path | None]:
    """Create the site's staging folder; write its validation result and (when given) its input
    slice as Arrow IPC files. Returns (stage folder, validation file, slice folder)."""
    stage = child_path(stage_root, site_id)
    stage.mkdir(parents=True, exist_ok=True)
    vfile = atomic_write_json(stage / "validation.json", validation)
    slice_dir = None
    if data is not None:
        slice_dir = child_path(stage_root, f"{site_id}.inputs")
        data.save(slice_dir)
    return stage, vfile, slice_dir


def publish(stage: Path, final: Path, trash: Path) -> None:
    """Replace ``final`` by ``stage`` so that a reader sees either the old folder or the new one.

    The old folder is first renamed into ``trash`` (same file system), then the new one renamed
    into place; :func:`recover_interrupted` puts the old one back if a crash fell between the two.
    """
    trash.mkdir(parents=True, exist_ok=True)
    old = trash / f"{final.name}.{uuid.uuid4().hex[:8]}"
    if final.exists():
        final.replace(old)
    stage.replace(final)
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted(out_root: Path) -> None:
    """Undo what a killed run left behind: restore moved-away reports, drop stale staging."""
    trash = out_root / TRASH
    if trash.is_dir():
        for old in sorted(trash.iterdir()):
            site = old.name.rsplit(".", 1)[0]
            target = out_root / site
            if not target.exists() and (old / "report.html").exists():
                old.replace(target)
            else:
                shutil.rmtree(old, ignore_errors=True)
        remove_if_empty(trash)
    staging = out_root / STAGING
    if staging.is_dir():
        shutil.rmtree(staging, ignore_errors=True)


def record_failure(
    final: Path, source: Path, error: str, *, run_id: str, notebook: bool = False
) -> None:
    """Keep the evidence of a failed site beside (never in place of) its last good report, and
    say at the top of that report that run ``run_id`` failed, so that a reader who opens it from
    a bookmark or an old email knows it is not this run's."""
    failed = final / "failed"
    if source.exists():
        name = "report.ipynb" if notebook else source.name
        atomic_write_bytes(failed / name, source.read_bytes())
    atomic_write_text(failed / "error.txt", error + "\n")
    kept = final / "report.html"
    if kept.is_file():
        html = kept.read_text(encoding="utf-8")
        marked = mark_stale(html, run_id=run_id, error=error)
        if marked != html:
            atomic_write_text(kept, marked)


def remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
