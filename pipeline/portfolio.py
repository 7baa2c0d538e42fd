"""The portfolio page (``OUT/<as_of>/index.html``): every site, its status, its tiles, links.

Built from the run's ``manifest.json`` and each site's ``results.json`` — never from report HTML.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from pipeline.config import Project
from pipeline.formatting import fmt_date, fmt_number

CSS = Path(__file__).parent / "templates" / "kaizen" / "static" / "report.css"


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def load_run(out_root: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The run's manifest and each published site's results (by site id)."""
    manifest = json.loads((out_root / "manifest.json").read_text(encoding="utf-8"))
    results: dict[str, dict[str, Any]] = {}
    for entry in manifest.get("sites", []):
        path = out_root / entry["site_id"] / "results.json"
        if path.is_file():
            results[entry["site_id"]] = json.loads(path.read_text(encoding="utf-8"))
    return manifest, results


def write_portfolio(project: Project, out_root: Path, *, as_of: str, run_id: str) -> Path:
    """Write ``index.html`` for the run in ``out_root`` and point ``OUT/latest`` at the newest run."""
    manifest, results = load_run(out_root)
    names = {s.id: s.name for s in project.sites}
    rows = []
    for entry in manifest.get("sites", []):
        sid = entry["site_id"]
        status = entry["status"]
        res = results.get(sid)
        link = (
            f'<a href="{esc(sid)}/report.html">{esc(names.get(sid, sid))}</a>'
            if res and (out_root / sid / "report.html").is_file()
            else esc(names.get(sid, sid))
        )
        reason = esc(entry.get("error") or "")
        if status == "failed" and (out_root / sid / "failed" / "report.ipynb").is_file():
            reason += f' (<a href="{esc(sid)}/failed/report.ipynb">executed notebook</a>)'
        metrics = ""
        if res:
            metrics = "; ".join(
                f"{esc(m['name'])}: {esc(fmt_number(m.get('latest'), unit=m.get('unit') or ''))}"
                for m in res.get("metrics", [])
            )
        rows.append(
            f'<tr data-status="{esc(status)}" data-site="{esc(sid)}"><td>{link}</td>'
            f'<td><span class="badge {esc(status)}">{esc(status)}</span></td>'
            f"<td>{metrics}</td><td>{reason}</td></tr>"
        )
    runs = sorted(
        (
            p.name
            for p in out_root.parent.iterdir()
            if p.is_dir() and not p.is_symlink() and (p / "manifest.json").is_file()
        ),
        reverse=True,
    )
    earlier = " · ".join(
        f'<a href="../{esc(r)}/index.html">{esc(fmt_date(r))}</a>' for r in runs if r != as_of
    )
    summary = manifest.get("summary", {})
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(project.name)} — Kaizen portfolio {esc(as_of)}</title>
<style>{CSS.read_text(encoding="utf-8")}</style></head>
<body><main class="report">
<p class="meta">Kaizen Reports · portfolio</p>
<h1>{esc(project.name)}</h1>
<p class="meta">As of {esc(fmt_date(as_of))} · run {esc(run_id)} ·
{int(summary.get("ok", 0))} ok, {int(summary.get("warnings", 0))} with warnings,
{int(summary.get("failed", 0))} failed</p>
<h2 id="sites">Sites</h2>
<div class="table-wrap"><table id="site-table"><thead><tr><th>Site</th><th>Status</th>
<th>Latest values</th><th>Notes</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>
<h2 id="earlier">Earlier runs</h2><p>{earlier or "This is the first run."}</p>
</main></body></html>
"""
    path = out_root / "index.html"
    tmp = path.with_name(".index.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    _point_latest(out_root)
    return path


def _point_latest(out_root: Path) -> None:
    """``OUT/latest`` -> the newest as_of folder (a relative symlink, replaced atomically)."""
    base = out_root.parent
    runs = sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and (p / "manifest.json").is_file() and not p.is_symlink()
    )
    if not runs:
        return
    link = base / "latest"
    tmp = base / ".latest.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(runs[-1], tmp)
    os.replace(tmp, link)
