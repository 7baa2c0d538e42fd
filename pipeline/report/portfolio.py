"""The portfolio page (``OUT/<as_of>/index.html``): every site, its status, tiles and key charts.

Built from the run's ``manifest.json`` and each site's ``results.json`` — never from report HTML.
Every string from data or configuration is escaped; numbers go through :mod:`pipeline.formatting`,
so the page never shows NaN, None or inf. The page is self-contained: inline CSS, inline SVG
sparklines and one small inline script that sorts the site list (the list reads well without it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from pipeline.data.config import Project
from pipeline.exceptions import InputError
from pipeline.files import atomic_symlink, atomic_write_text
from pipeline.formatting import (
    esc,
    finite,
    fmt_date,
    fmt_number,
    fmt_percent_value,
    interval_label,
    is_missing,
)
from pipeline.report.findings import GOAL_STATUS_TEXT, OUTCOME_TEXT, VARIATION_ICON, VARIATION_TEXT
from pipeline.report.palette import css_custom_properties
from pipeline.report.results import load_results

CSS = Path(__file__).parent / "templates" / "kaizen" / "static" / "report.css"

#: Problems first: the order the site list starts in, and the "status" sort key.
STATUS_RANK = {"failed": 0, "warnings": 1, "ok": 2}
STATUS_TEXT = {"ok": "ok", "warnings": "warnings", "failed": "failed"}
#: Outcomes worth copying, best first: still holding, then gains that faded.
#: Best practice worth copying lists sustained improvements only (a faded gain needs
#: sustainment, not copying).
RANKED_OUTCOMES = ("sustained",)
OFF_TRACK = ("missed", "off_track")
MAX_IMPROVEMENTS = 25
SPARK_W, SPARK_H, SPARK_PAD = 160.0, 40.0, 3.0

SORT_SCRIPT = """
(function () {
  var list = document.getElementById("site-list");
  var bar = document.getElementById("site-sort");
  if (!list || !bar) { return; }
  var note = document.getElementById("sort-note");
  var buttons = bar.querySelectorAll("button[data-key]");
  function sortBy(button) {
    var key = button.getAttribute("data-key");
    var dir = button.getAttribute("aria-pressed") === "true" &&
      button.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    var items = Array.prototype.slice.call(list.children);
    items.sort(function (a, b) {
      var x = a.getAttribute("data-" + key), y = b.getAttribute("data-" + key);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (c === 0) { c = a.getAttribute("data-site") < b.getAttribute("data-site") ? -1 : 1; }
      return dir === "asc" ? c : -c;
    });
    items.forEach(function (item) { list.appendChild(item); });
    Array.prototype.forEach.call(buttons, function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
    button.setAttribute("data-dir", dir);
    if (note) { note.textContent = button.getAttribute("data-" + dir); }
  }
  Array.prototype.forEach.call(buttons, function (b) {
    b.addEventListener("click", function () { sortBy(b); });
  });
  bar.hidden = false;
})();
"""


def text_or(value: object, default: str = "not enough data") -> str:
    """A display string, or ``default`` when the value is missing or blank."""
    if is_missing(value) or str(value).strip() == "":
        return default
    return str(value)


def load_run(out_root: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The run's manifest and each published site's results (by site id)."""
    manifest = json.loads((out_root / "manifest.json").read_text(encoding="utf-8"))
    results: dict[str, dict[str, Any]] = {}
    for entry in manifest.get("sites", []):
        path = out_root / str(entry["site_id"]) / "results.json"
        if path.is_file():
            try:
                results[entry["site_id"]] = load_results(path).to_dict()
            except InputError:
                continue  # an unreadable results file is shown as "no results", not a crash
    return manifest, results


def write_portfolio(project: Project, out_root: Path, *, as_of: str, run_id: str) -> Path:
    """Write ``index.html`` for the run in ``out_root`` and point ``OUT/latest`` at the newest run."""
    manifest, results = load_run(out_root)
    names = {s.id: s.name for s in project.sites}
    page = render_portfolio(
        manifest,
        results,
        out_root=out_root,
        project_name=project.name,
        site_names=names,
        as_of=as_of,
        run_id=run_id,
    )
    path = atomic_write_text(out_root / "index.html", page)
    _point_latest(out_root)
    return path


def render_portfolio(
    manifest: dict[str, Any],
    results: dict[str, dict[str, Any]],
    *,
    out_root: Path,
    project_name: str,
    site_names: dict[str, str],
    as_of: str,
    run_id: str,
) -> str:
    """The portfolio page's HTML (``out_root`` is only read, for links to files that exist)."""
    sites = []
    for entry in manifest.get("sites", []):
        sid = str(entry.get("site_id", ""))
        res = results.get(sid)
        name = site_names.get(sid) or (res or {}).get("site_name") or sid
        sites.append((entry, res, str(name)))
    sites.sort(key=lambda s: (STATUS_RANK.get(str(s[0].get("status")), 3), s[2].casefold()))
    counts = _counts(manifest)
    cards = "".join(_site_card(entry, res, name, out_root) for entry, res, name in sites)
    ok_results = [
        (name, res) for entry, res, name in sites if res and entry.get("status") != "failed"
    ]
    newer, earlier = _other_runs(out_root, as_of)
    newer_note = (
        f'<p class="banner" role="note">A newer run exists: <a href="../{esc(quote(newer))}/'
        f'index.html">{esc(_date_text(newer))}</a>.</p>'
        if newer
        else ""
    )
    outside = manifest.get("data_outside_sites") or []
    if outside:
        items = "".join(
            f"<li>{esc(f.get('message') or f.get('description'))}</li>" for f in outside
        )
        newer_note += (
            '<div class="banner fail" role="note"><strong>Data that belongs to no configured '
            f"site</strong> (no report was made for it):<ul>{items}</ul></div>"
        )
    generated = manifest.get("generated_at")
    generated_text = (
        f" · generated {esc(str(generated)[:16].replace('T', ' '))} UTC" if generated else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Kaizen Reports">
<title>{esc(project_name)} — Kaizen portfolio, {esc(_date_text(as_of))}</title>
<style>{css_custom_properties()}{CSS.read_text(encoding="utf-8")}</style></head>
<body><main class="report portfolio">
<header><p class="meta">{esc(project_name)} · Kaizen portfolio</p>
<h1>Improvement portfolio, {esc(_date_text(as_of))}</h1>
<p class="meta">As of {esc(_date_text(as_of))} · run {esc(run_id)}{generated_text} ·
{len(sites)} site(s)</p>
{newer_note}
<ul class="stats" aria-label="Sites by status">
<li class="ok"><strong>{counts["ok"]}</strong> ok</li>
<li class="warnings"><strong>{counts["warnings"]}</strong> with data-quality warnings</li>
<li class="failed"><strong>{counts["failed"]}</strong> failed</li></ul>
<nav class="toc" aria-label="Contents"><ol><li><a href="#sites">Sites</a></li>
<li><a href="#improvements">Most effective improvements</a></li>
<li><a href="#goals">Goals off track</a></li><li><a href="#earlier">Earlier runs</a></li></ol></nav>
</header>
<section id="sites"><h2>Sites</h2>
<p class="muted">Problems first: failed, then warnings, then ok. Icons follow NHS “Making Data
Count”: ▲ special cause improving, ▼ special cause concerning, ○ common cause. Sparklines show
the recalculated control chart: values (line), centre (dashed), control limits (thin red); the
last point is coloured by its variation.</p>
<div id="site-sort" class="sortbar no-print" hidden><span>Sort:</span>
<button type="button" data-key="rank" aria-pressed="true" data-dir="asc"
 data-asc="Sorted by status, problems first." data-desc="Sorted by status, ok first.">Status</button>
<button type="button" data-key="site" aria-pressed="false"
 data-asc="Sorted by site, A to Z." data-desc="Sorted by site, Z to A.">Site</button>
<span id="sort-note" class="muted" aria-live="polite">Sorted by status, problems first.</span></div>
<ol id="site-list" class="cards">{cards}</ol></section>
<section id="improvements"><h2>Most effective improvements</h2>
{_improvements(ok_results)}</section>
<section id="goals"><h2>Goals off track</h2>
{_goals_off_track(ok_results)}</section>
<section id="earlier"><h2>Earlier runs</h2>
{earlier}</section>
<p class="meta">Built from manifest.json and each site's results.json by Kaizen Reports.</p>
</main>
<script>{SORT_SCRIPT}</script>
</body></html>
"""


# --------------------------------------------------------------------------- header


def _counts(manifest: dict[str, Any]) -> dict[str, int]:
    sites = manifest.get("sites", [])
    return {
        status: sum(1 for s in sites if s.get("status") == status)
        for status in ("ok", "warnings", "failed")
    }


def _date_text(value: str) -> str:
    try:
        return fmt_date(pd.Timestamp(value))
    except (ValueError, TypeError):
        return str(value)


# --------------------------------------------------------------------------- site cards


def _site_card(entry: dict[str, Any], res: dict[str, Any] | None, name: str, out_root: Path) -> str:
    sid = str(entry.get("site_id", ""))
    status = str(entry.get("status", "failed"))
    status_cls = status if status in STATUS_RANK else "failed"
    href = quote(sid)
    has_report = (out_root / sid / "report.html").is_file()
    title = (
        f'<a href="{esc(href)}/report.html">{esc(name)}</a>'
        if has_report and status != "failed"
        else esc(name)
    )
    parts = [
        f'<li class="card {esc(status_cls)}" data-rank="{STATUS_RANK.get(status, 3)}" '
        f'data-site="{esc(name.casefold())}"><div class="card-head"><h3>{title}</h3>'
        f'<span class="badge {esc(status_cls)}">{esc(STATUS_TEXT.get(status, status))}</span></div>'
        f'<p class="meta">{esc(sid)}</p>'
    ]
    if status == "failed":
        parts.append(_failed_note(entry, res, sid, out_root, has_report))
    elif res is None:
        parts.append('<p class="banner fail">No results were published for this site.</p>')
    else:
        if status == "warnings":
            parts.append(_warning_note(res))
        summary = res.get("summary") or {}
        headline = text_or(summary.get("headline"), "")
        if headline:
            parts.append(f'<p class="headline">{esc(headline)}</p>')
        parts.append(_mini_tiles(res))
        if has_report:
            parts.append(
                f'<p><a href="{esc(href)}/report.html">Open the full report for {esc(name)}</a></p>'
            )
    parts.append("</li>")
    return "".join(parts)


def _failed_note(
    entry: dict[str, Any], res: dict[str, Any] | None, sid: str, out_root: Path, has_report: bool
) -> str:
    reason = text_or(entry.get("error"), "no reason was recorded")
    links = []
    failed = out_root / sid / "failed"
    href = esc(quote(sid))
    if (failed / "report.ipynb").is_file():
        links.append(f'<a href="{href}/failed/report.ipynb">executed notebook (report.ipynb)</a>')
    if (failed / "error.txt").is_file():
        links.append(f'<a href="{href}/failed/error.txt">error message (error.txt)</a>')
    if has_report:
        run = f" from run {esc(res.get('run_id'))}" if res and res.get("run_id") else ""
        links.append(f'<a href="{href}/report.html">last good report{run}</a>')
    more = f"<p>Evidence: {' · '.join(links)}</p>" if links else ""
    return (
        '<div class="banner fail" role="note"><strong>No report this run.</strong> '
        f'<span class="reason">{esc(reason)}</span>{more}</div>'
    )


def _warning_note(res: dict[str, Any]) -> str:
    failures = [
        f
        for f in (res.get("validation") or {}).get("failures", [])
        if f.get("severity") == "warning"
    ]
    if not failures:
        return '<p class="banner" role="note">Data-quality warnings: see the report.</p>'
    items = []
    for f in failures[:3]:
        where = ".".join(text_or(f.get(k), "") for k in ("table", "column") if f.get(k))
        what = text_or(f.get("description"), text_or(f.get("rule"), "a contract rule"))
        rows = _finite(f.get("unexpected_count"))
        count = "" if rows is None else f"; {_plural(rows, 'row')}"
        items.append(f"{where}: {what}{count}" if where else f"{what}{count}")
    extra = f"; and {_plural(len(failures) - 3, 'more rule')}" if len(failures) > 3 else ""
    return (
        '<div class="banner" role="note"><strong>Data-quality warnings</strong> '
        f"from {_plural(len(failures), 'contract rule')}: {esc(' · '.join(items))}{esc(extra)}. "
        "The report was produced; read the affected charts with care.</div>"
    )


def _plural(count: float, word: str) -> str:
    n = int(round(count))
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _key_metric_ids(res: dict[str, Any]) -> list[str]:
    keys = [k.get("metric_id") for k in (res.get("summary") or {}).get("key_charts", []) or []]
    keys = [str(k) for k in keys if k]
    if not keys:
        keys = [str(m.get("metric_id")) for m in res.get("metrics", [])[:3]]
    return keys


def _mini_tiles(res: dict[str, Any]) -> str:
    summary = res.get("summary") or {}
    metrics = {str(m.get("metric_id")): m for m in res.get("metrics", [])}
    keys = _key_metric_ids(res)
    tiles = summary.get("tiles") or []
    if not tiles:
        return '<p class="muted">No metrics in this report.</p>'
    out = []
    for t in tiles:
        mid = str(t.get("metric_id"))
        variation = str(t.get("variation") or "not_enough_data")
        icon, cls = VARIATION_ICON.get(variation, ("", "common"))
        var_text = text_or(t.get("variation_text"), VARIATION_TEXT.get(variation, "not known"))
        spark = ""
        if mid in keys and mid in metrics:
            spark = sparkline(
                metrics[mid].get("control_chart") or {},
                name=text_or(t.get("name"), mid),
                latest_text=text_or(t.get("latest_text")),
                variation=variation,
                variation_text=var_text,
            )
        goal = text_or(t.get("goal_text"), "")
        goal = "none set" if goal.casefold() == "no goal" else goal
        out.append(
            f'<div class="mini-tile"><span class="name">{esc(text_or(t.get("name"), mid))}</span>'
            f'<span class="val">{esc(text_or(t.get("latest_text")))}</span>'
            f'<span class="row">{esc(text_or(t.get("change_text"), "no baseline"))}</span>'
            f'<span class="badge {esc(cls)}"><span aria-hidden="true">{esc(icon)}</span> '
            f"{esc(var_text)}</span>{spark}"
            + (f'<span class="row">Goal: {esc(goal)}</span>' if goal else "")
            + "</div>"
        )
    return f'<div class="mini-tiles">{"".join(out)}</div>'


# --------------------------------------------------------------------------- sparkline


_finite = finite


def _polylines(
    points: Sequence[dict[str, Any]], field: str, x: Any, y: Any, *, split_phases: bool
) -> list[str]:
    """Polyline point lists for one field, broken at gaps (and at phase changes for limits)."""
    lines: list[list[str]] = []
    current: list[str] = []
    phase = None
    for i, p in enumerate(points):
        v = _finite(p.get(field))
        if v is None or (split_phases and p.get("phase") != phase):
            if len(current) > 1:
                lines.append(current)
            current = []
        phase = p.get("phase")
        if v is not None:
            current.append(f"{x(i):.1f},{y(v):.1f}")
    if len(current) > 1:
        lines.append(current)
    return [" ".join(line) for line in lines]


def sparkline(
    chart: dict[str, Any],
    *,
    name: str,
    latest_text: str,
    variation: str,
    variation_text: str,
) -> str:
    """A small inline SVG of a control chart's points: values, centre, limits, the last point.

    The chart is the ``control_chart`` JSON of ``results.json``. Returns "" when fewer than two
    values are known. The SVG carries ``role="img"`` and an ``aria-label`` that says the same.
    """
    points = [p for p in chart.get("points") or [] if isinstance(p, dict)]
    values = [_finite(p.get("value")) for p in points]
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return ""
    span = [
        v
        for p in points
        for k in ("value", "centre", "lcl", "ucl")
        if (v := _finite(p.get(k))) is not None
    ]
    lo, hi = min(span), max(span)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    n = len(points)

    def x(i: int) -> float:
        return SPARK_PAD + i * (SPARK_W - 2 * SPARK_PAD) / max(n - 1, 1)

    def y(v: float) -> float:
        return SPARK_H - SPARK_PAD - (v - lo) / (hi - lo) * (SPARK_H - 2 * SPARK_PAD)

    shapes = []
    for field, cls, split in (("lcl", "lim", True), ("ucl", "lim", True), ("centre", "cl", True)):
        shapes += [
            f'<polyline class="{cls}" points="{pts}"/>'
            for pts in _polylines(points, field, x, y, split_phases=split)
        ]
    shapes += [
        f'<polyline class="val" points="{pts}"/>'
        for pts in _polylines(points, "value", x, y, split_phases=False)
    ]
    last_i, last_v = known[-1]
    _, cls = VARIATION_ICON.get(variation, ("", "common"))
    shapes.append(f'<circle class="last {cls}" cx="{x(last_i):.1f}" cy="{y(last_v):.1f}" r="3"/>')
    first_t = points[known[0][0]].get("time")
    last_t = points[last_i].get("time")
    has_limits = any(_finite(p.get("ucl")) is not None for p in points)
    label = (
        f"{name}: control chart of {len(known)} points from {_date_text(str(first_t))} to "
        f"{_date_text(str(last_t))}; latest {latest_text}; {variation_text.lower()}"
        + ("; centre line and control limits shown." if has_limits else "; centre line shown.")
    )
    return (
        f'<svg class="spark" role="img" aria-label="{esc(label)}" viewBox="0 0 {SPARK_W:.0f} '
        f'{SPARK_H:.0f}" width="{SPARK_W:.0f}" height="{SPARK_H:.0f}"><title>{esc(label)}</title>'
        f"{''.join(shapes)}</svg>"
    )


# --------------------------------------------------------------------------- across sites


def _pct(value: Any) -> str:
    x = _finite(value)
    if x is None:
        return "not enough data"
    return fmt_percent_value(x, digits=1 if abs(x) < 10 else 0, signed=True)


def _pp(value: Any) -> str:
    """A difference already in percentage points, signed: '−2.1 pp'."""
    if _finite(value) is None:
        return "not enough data"
    return fmt_number(value, digits=1, signed=True) + " pp"


def collect_improvements(sites: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sustained, then faded, (event, metric) gains across sites, each ranked by |% change|."""
    found = []
    for site_name, res in sites:
        for m in res.get("metrics", []):
            for e in m.get("events", []):
                outcome = e.get("outcome")
                if outcome not in RANKED_OUTCOMES:
                    continue
                # the verdict's one effect figure (the number the site's tiles and findings
                # show); results written before verdicts carried one fall back to the classical
                pc = (e.get("verdict") or {}).get("figure") or (
                    ((e.get("detail") or {}).get("impact") or {}).get("percent_change") or {}
                )
                est = _finite(pc.get("estimate"))
                if est is None:
                    continue
                found.append(
                    {
                        "site": site_name,
                        "site_id": res.get("site_id"),
                        "metric": text_or(m.get("name"), str(m.get("metric_id"))),
                        "metric_id": m.get("metric_id"),
                        "title": text_or(e.get("title"), str(e.get("event_id"))),
                        "effective_date": e.get("effective_date"),
                        "outcome": outcome,
                        "estimate": est,
                        "ci_low": _finite(pc.get("ci_low")),
                        "ci_high": _finite(pc.get("ci_high")),
                        "unit": pc.get("unit", "percent"),
                        "rank_by": abs(_finite(pc.get("relative")) or est),
                        "alpha": _finite((res.get("settings") or {}).get("alpha")) or 0.05,
                    }
                )
    found.sort(key=lambda r: (RANKED_OUTCOMES.index(r["outcome"]), -r["rank_by"]))
    return found


def _improvements(sites: list[tuple[str, dict[str, Any]]]) -> str:
    rows = collect_improvements(sites)
    if not rows:
        return "<p>No improvement has a sustained gain in this run yet.</p>"
    body = []
    for rank, r in enumerate(rows[:MAX_IMPROVEMENTS], start=1):
        fmt = _pp if r.get("unit") == "percentage_points" else _pct
        ci = (
            f"{fmt(r['ci_low'])} to {fmt(r['ci_high'])}"
            if r["ci_low"] is not None and r["ci_high"] is not None
            else "not enough data"
        )
        link = f"{quote(str(r['site_id']))}/report.html#metric-{quote(str(r['metric_id']))}"
        when = _date_text(str(r["effective_date"])) if r["effective_date"] else "no date"
        body.append(
            f'<tr class="{esc(r["outcome"])}"><td class="num">{rank}</td>'
            f'<th scope="row">{esc(r["title"])}<small>{esc(r["site"])} · '
            f'<a href="{esc(link)}">{esc(r["metric"])}</a> · effective {esc(when)}</small></th>'
            f'<td class="num"><strong>{esc(fmt(r["estimate"]))}</strong>'
            f"<small>{esc(interval_label(r['alpha']))} {esc(ci)}</small></td>"
            f"<td>{esc(OUTCOME_TEXT.get(r['outcome'], r['outcome']))}</td></tr>"
        )
    more = (
        f'<p class="muted">{len(rows) - MAX_IMPROVEMENTS} more in the site reports.</p>'
        if len(rows) > MAX_IMPROVEMENTS
        else ""
    )
    return (
        "<p>Best practice worth copying: improvements whose verdict is sustained (the gain is "
        "clear and holding), ranked by the size of the change in the metric against what it "
        "would have been without the change, with its confidence interval.</p>"
        '<div class="table-wrap"><table class="ranked"><caption>Improvements ranked by effect'
        '</caption><thead><tr><th scope="col" class="num">#</th>'
        '<th scope="col">Improvement, site and metric</th><th scope="col" class="num">Change'
        '</th><th scope="col">Outcome</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
        f"{more}"
    )


def collect_goals_off_track(sites: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Goals that are missed or off track, missed first, then by due date."""
    found = []
    for site_name, res in sites:
        targets = {
            g.get("goal_id"): g.get("target_text")
            for g in (res.get("roadmap") or {}).get("goals", [])
        }
        for m in res.get("metrics", []):
            for g in m.get("goals", []):
                if g.get("status") not in OFF_TRACK:
                    continue
                progress = (g.get("progress") or {}).get("percent_of_target")
                found.append(
                    {
                        "site": site_name,
                        "site_id": res.get("site_id"),
                        "metric": text_or(m.get("name"), str(m.get("metric_id"))),
                        "metric_id": m.get("metric_id"),
                        "title": text_or(g.get("title"), str(g.get("goal_id"))),
                        "target": text_or(targets.get(g.get("goal_id")), ""),
                        "due_date": g.get("due_date"),
                        "status": g.get("status"),
                        "progress": _finite(progress),
                    }
                )
    found.sort(
        key=lambda r: (OFF_TRACK.index(r["status"]), str(r["due_date"] or "9999"), r["site"])
    )
    return found


def _goals_off_track(sites: list[tuple[str, dict[str, Any]]]) -> str:
    rows = collect_goals_off_track(sites)
    if not rows:
        return "<p>No goal is off track or missed.</p>"
    body = []
    for r in rows:
        progress = "not enough data" if r["progress"] is None else f"{r['progress']:.0f}%"
        progress = "0%" if progress == "-0%" else progress
        link = f"{quote(str(r['site_id']))}/report.html#strategy"
        status_cls = "failed" if r["status"] == "missed" else "warnings"
        target = f" · target: {esc(r['target'])}" if r["target"] else ""
        body.append(
            f'<tr><th scope="row">{esc(r["title"])}<small>{esc(r["site"])} · '
            f'<a href="{esc(link)}">{esc(r["metric"])}</a>{target}</small></th>'
            f"<td>{esc(_date_text(str(r['due_date'])) if r['due_date'] else 'no date')}</td>"
            f'<td class="num">{esc(progress)}</td><td><span class="badge {status_cls}">'
            f"{esc(GOAL_STATUS_TEXT.get(r['status'], r['status']))}</span></td></tr>"
        )
    return (
        "<p>Progress is the share of the targeted change achieved so far.</p>"
        '<div class="table-wrap"><table class="off-track"><caption>Goals missed or off track'
        '</caption><thead><tr><th scope="col">Goal, site and metric</th>'
        '<th scope="col">Due</th><th scope="col" class="num">Progress'
        f'</th><th scope="col">Status</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


# --------------------------------------------------------------------------- runs


def _runs(base: Path) -> list[str]:
    """As-of folders beside this one that hold a manifest (the ``latest`` symlink excluded)."""
    if not base.is_dir():
        return []
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / "manifest.json").is_file()
    )


def _other_runs(out_root: Path, as_of: str) -> tuple[str | None, str]:
    """The newest run if newer than this one, and the HTML list of the other runs."""
    runs = _runs(out_root.parent)
    newer = runs[-1] if runs and runs[-1] > out_root.name else None
    items = []
    for name in reversed(runs):
        if name == out_root.name:
            continue
        counts = ""
        try:
            manifest = json.loads((out_root.parent / name / "manifest.json").read_text("utf-8"))
            c = _counts(manifest)
            counts = f" — {c['ok']} ok, {c['warnings']} with warnings, {c['failed']} failed"
        except (OSError, ValueError, AttributeError):
            counts = " — manifest unreadable"
        target = (
            "index.html" if (out_root.parent / name / "index.html").is_file() else "manifest.json"
        )
        items.append(
            f'<li><a href="../{esc(quote(name))}/{target}">{esc(_date_text(name))}</a>{esc(counts)}</li>'
        )
    if not items:
        return newer, "<p>This is the first run.</p>"
    return newer, f'<ol class="runs">{"".join(items)}</ol>'


def _point_latest(out_root: Path) -> None:
    """``OUT/latest`` -> the newest as_of folder (a relative symlink, replaced atomically)."""
    base = out_root.parent
    runs = _runs(base)
    if not runs:
        return
    atomic_symlink(base / "latest", runs[-1])
