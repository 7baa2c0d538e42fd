"""What the email says about a site: the run folder, its manifest, and each site's results.json."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from pipeline.data.config import parse_as_of, today
from pipeline.exceptions import ConfigError, DeliveryError, InputError
from pipeline.files import LATEST
from pipeline.formatting import fmt_date, fmt_number, is_missing, stale_data_text
from pipeline.report.manifest import Manifest, SiteOutcome, load_manifest
from pipeline.report.portfolio.model import latest_run
from pipeline.report.results import (
    RESULTS_FILE,
    SiteResults,
    SiteSummary,
    Tile,
    key_chart_data_file,
    key_chart_png,
    load_results,
)
from pipeline.vocabulary import RunStatus

MAX_CHARTS = 3
MAX_FINDINGS = 5
MAX_TILES = 24
MAX_TEXT = 400
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFolder:
    """One run's output folder and its manifest."""

    path: Path
    as_of: str
    manifest: Manifest

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def sites(self) -> tuple[SiteOutcome, ...]:
        return self.manifest.sites


def find_run(output: Path, as_of: str | None = "latest") -> RunFolder:
    """The run folder ``OUT/<as_of>`` (``latest``: the folder ``OUT/latest`` points at).

    Raises
    ------
    ConfigError
        No such run, or its manifest is missing or unreadable.
    """

    if as_of in (None, "", "latest"):
        link = output / LATEST
        if link.is_dir():
            path = link.resolve()
        else:
            run = latest_run(output, today=today())
            if run is None:
                raise ConfigError(
                    f"no run in {output}: run `kaizen-reports run` first, or pass --output"
                )
            path = output / run
    else:
        path = output / parse_as_of(as_of).date().isoformat()
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise ConfigError(f"no run for {path.name} in {output}: {manifest_file} does not exist")
    try:
        manifest = load_manifest(manifest_file)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    return RunFolder(path=path, as_of=manifest.as_of or path.name, manifest=manifest)


def display_text(value: Any, *, limit: int = MAX_TEXT) -> str:
    """A display string from results.json: never None/NaN, capped in length."""
    if is_missing(value):
        return ""
    s = " ".join(str(value).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def read_results(site_dir: Path, site_id: str) -> SiteResults:
    """The site's results.json through the report's typed loader (schema-checked)."""
    try:
        return load_results(site_dir / RESULTS_FILE)
    except InputError as exc:
        raise DeliveryError(exc.message, site_id=site_id) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """One key chart: its PNG bytes, Content-ID, alt text and pixel size."""

    metric_id: str
    data: bytes
    cid: str
    alt: str
    width: int
    height: int
    filename: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailSummary:
    """What the email says about one site, taken from its results.json: the run's facts, the
    report's own executive summary (:class:`pipeline.report.findings.SiteSummary`: headline,
    findings, tiles; one definition for the report, the email and the portfolio's tiles) with
    its texts capped for an inbox, and the key charts' PNGs."""

    site_id: str
    site_name: str
    project: str
    as_of: str
    window_start: str = ""
    run_id: str = ""
    status: RunStatus = RunStatus.OK
    data_freshness: str = ""
    #: the data are stale (the contracts' data_is_current): the sentence that says so
    stale_note: str = ""
    summary: SiteSummary = SiteSummary(headline="", findings=(), tiles=(), key_charts=())
    charts: tuple[Chart, ...] = ()
    skipped_charts: tuple[str, ...] = ()

    @property
    def headline(self) -> str:
        return self.summary.headline

    def for_metrics(self, metrics: Sequence[str]) -> EmailSummary:
        """The summary a stakeholder routed to ``metrics`` gets: only their tiles and charts
        (the headline and findings are the site's, so every reader sees the same story)."""
        if not metrics:
            return self
        wanted = set(metrics)
        tiles = tuple(t for t in self.summary.tiles if t.metric_id in wanted)
        return replace(
            self,
            summary=replace(self.summary, tiles=tiles),
            charts=tuple(c for c in self.charts if c.metric_id in wanted),
        )

    @classmethod
    def from_results(
        cls,
        results: SiteResults,
        *,
        site_dir: Path,
        site_id: str,
        site_name: str,
        project: str,
        as_of: str,
        domain: str,
    ) -> EmailSummary:
        """The email's summary of a site's (schema-checked) results; every text is capped."""
        summary = results.summary
        tiles = [_tile(t) for t in summary.tiles]
        if not tiles:
            tiles = [
                Tile(
                    metric_id=m.metric_id,
                    name=display_text(m.name) or m.metric_id,
                    unit=m.unit,
                    latest=m.latest,
                    latest_text=fmt_number(m.latest, unit=display_text(m.unit)),
                    change_text="",
                    variation=m.variation,
                    variation_text="",
                    assurance=m.assurance,
                    assurance_text="",
                    goal_text="",
                )  # fmt: skip
                for m in results.metrics
            ]
        findings = tuple(t for t in (display_text(f) for f in summary.findings) if t)[:MAX_FINDINGS]
        charts, skipped = _charts(summary.key_charts, site_dir, domain)
        freshness = results.data_freshness or ""
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", freshness):
            freshness = fmt_date(freshness)
        return cls(
            site_id=site_id,
            site_name=site_name,
            project=project,
            as_of=as_of,
            window_start=fmt_date(results.window_start) if results.window_start else "",
            run_id=display_text(results.run_id),
            status=results.status,
            data_freshness=display_text(freshness),
            stale_note=stale_data_text(results.data_freshness, as_of)
            if results.validation.get("stale")
            else "",
            summary=replace(
                summary,
                headline=display_text(summary.headline, limit=200),
                findings=findings,
                tiles=tuple(tiles[:MAX_TILES]),
            ),
            charts=tuple(charts),
            skipped_charts=tuple(skipped),
        )


def _tile(t: Tile) -> Tile:
    """A results tile with every text capped (a tile without text shows its number)."""
    return replace(
        t,
        metric_id=display_text(t.metric_id),
        name=display_text(t.name or t.metric_id) or "metric",
        latest_text=display_text(t.latest_text) or fmt_number(t.latest, unit=display_text(t.unit)),
        latest_label=display_text(t.latest_label),
        current_text=display_text(t.current_text),
        current_label=display_text(t.current_label),
        change_text=display_text(t.change_text),
        variation_text=display_text(t.variation_text),
        assurance_text=display_text(t.assurance_text),
        goal_text=display_text(t.goal_text),
    )


def _charts(items: Sequence[Any], site_dir: Path, domain: str) -> tuple[list[Chart], list[str]]:
    """Up to three key-chart PNGs from inside the site folder (paths cannot escape it): drawn
    now from the chart's data the run kept (``charts/<metric_id>.json``), or, for a run folder
    written before the run stopped drawing them, read from the PNG file itself."""
    charts: list[Chart] = []
    skipped: list[str] = []
    root = site_dir.resolve()
    for item in items:
        if len(charts) >= MAX_CHARTS:
            break
        if not isinstance(item, dict) or not item.get("file"):
            continue
        rel = str(item["file"])
        path = (site_dir / rel).resolve()
        data_file = (site_dir / key_chart_data_file(rel)).resolve()
        if not path.is_relative_to(root) or not data_file.is_relative_to(root):
            skipped.append(rel)
            continue
        if data_file.is_file():
            try:
                data = key_chart_png(data_file)
            except InputError:
                skipped.append(rel)
                continue
        elif path.is_file():
            data = path.read_bytes()
        else:
            skipped.append(rel)
            continue
        if not data.startswith(_PNG_MAGIC) or len(data) < 24:
            skipped.append(rel)
            continue
        width, height = struct.unpack(">II", data[16:24])
        metric_id = display_text(item.get("metric_id")) or path.stem
        charts.append(
            Chart(
                metric_id=metric_id,
                data=data,
                cid=make_msgid(idstring=f"chart{len(charts) + 1}", domain=domain)[1:-1],
                alt=display_text(item.get("alt")) or f"Control chart of {metric_id}",
                width=int(width),
                height=int(height),
                filename=f"{re.sub(r'[^A-Za-z0-9_.-]', '_', path.stem)}.png",
            )
        )
    return charts, skipped
