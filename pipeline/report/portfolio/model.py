"""What the portfolio says, as typed values: run status, scorecard, verdict lists, goals, practices,
savings and history, built from the run's ``manifest.json`` and each site's ``results.json``.

The page (:mod:`.page`) and ``portfolio.json`` are both drawn from one :class:`Portfolio`, so
they cannot disagree. Run status (did the report work) and performance (how the site is doing)
are kept apart: nothing in the scorecard or the lists depends on the run status, except that a
site without published results has no numbers to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scipy import stats

from pipeline.data.contracts import describe_failure
from pipeline.exceptions import InputError, StatisticsError
from pipeline.formatting import finite, fmt_date, is_missing, json_safe
from pipeline.report.findings import (
    ASSURANCE_TEXT,
    GOAL_STATUS_TEXT,
    OUTCOME_TEXT,
    VARIATION_TEXT,
    verdict_label,
)
from pipeline.report.manifest import MANIFEST_FILE, Manifest, SiteOutcome, load_manifest
from pipeline.report.results import load_results
from pipeline.stats.pooling import PooledEffect, StudyEffect, pool_effects
from pipeline.stats.verdicts import MIN_BEFORE_POINTS
from pipeline.vocabulary import (
    AssuranceIcon,
    Better,
    EventStatus,
    GoalStatus,
    RunStatus,
    Severity,
    VariationIcon,
    Verdict,
)

SCHEMA_VERSION = "1.0"
PORTFOLIO_FILE = "portfolio.json"
SCHEMA_FILE = Path(__file__).with_name("portfolio.schema.json")

#: Run statuses, problems first (the order of the run-status list).
STATUS_ORDER = (RunStatus.FAILED, RunStatus.WARNINGS, RunStatus.OK)
#: Verdicts that did not (or not yet) bring a lasting gain, worst first.
NOT_WORKED = (Verdict.WORSENED, Verdict.NO_CLEAR_CHANGE, Verdict.TOO_EARLY)
#: Goals the governance team must look at, worst first.
GOALS_OF_CONCERN = (GoalStatus.MISSED, GoalStatus.OFF_TRACK, GoalStatus.AT_RISK)
#: A claimed saving is verified only while its improvement is sustained (issue 16).
SAVING_STATUS = {Verdict.SUSTAINED: "verified", Verdict.FADED: "at_risk"}
SAVING_ORDER = ("verified", "at_risk", "unverified")
SAVING_TEXT = {
    "verified": "verified",
    "at_risk": "at risk",
    "unverified": "unverified",
}
#: Earlier runs shown in the history (plus this one).
HISTORY_RUNS = 5


def verdict_of(value: object) -> Verdict | None:
    """The verdict of a results.json event (None: not judged)."""
    try:
        return None if value is None else Verdict(str(value))
    except ValueError:
        return None


def verdict_text_of(event: Mapping[str, Any], verdict: Verdict) -> str:
    """The verdict's label for a results.json event, as the site's report writes it: a
    too-early verdict with too few periods before the change reads "No baseline to judge"."""
    n_before = finite((event.get("verdict") or {}).get("n_before"))
    lacks = n_before is not None and n_before < MIN_BEFORE_POINTS
    return verdict_label(verdict, lacks_baseline=lacks)


def _text(value: object, default: str = "") -> str:
    if value is None or is_missing(value) or str(value).strip() == "":
        return default
    return str(value)


def date_text(value: object) -> str:
    """``2026-11-27`` (or a timestamp) as "27 Nov 2026"; text that is no date stays as it is."""
    try:
        return fmt_date(value)
    except (ValueError, TypeError):
        return str(value)


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    text: str
    href: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRun:
    """How one site's run went: the report status and why, never the site's performance."""

    site_id: str
    name: str
    status: RunStatus
    reason: str
    #: a failed site's critical contract rules, each in full, when it failed several
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...]
    report_href: str | None
    evidence: tuple[Link, ...]
    has_results: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """One site's metric in the scorecard: MDC icons, latest value and change."""

    site_id: str
    metric_id: str
    name: str
    variation: str
    variation_text: str
    #: "H" or "L": the side of the special cause (from the metric's better direction).
    direction: str
    assurance: str
    assurance_text: str
    latest_text: str
    #: what the latest value is ("latest week, 16 Nov 2026") and the current level beside it
    #: ("level of the last 8 weeks", "7.74 minutes"): the site report's tile labels, so a card
    #: never sets the latest week alone next to the whole phase's change ("8.30 minutes",
    #: "fell 37%", where 8.30 is 8% below the baseline and 37% belongs to the phase's level)
    latest_label: str = ""
    current_label: str = ""
    current_text: str = ""
    change: float | None
    change_text: str
    href: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalGroup:
    """A site's own metrics (not shared with other sites) under the goal they serve."""

    title: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    metric_id: str
    name: str
    n_sites: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreRow:
    site_id: str
    name: str
    href: str | None
    #: One cell per shared column, in column order (None: the site does not measure it).
    cells: tuple[Cell | None, ...]
    groups: tuple[GoalGroup, ...]
    n_concern: int
    n_improvement: int
    n_fails: int
    has_results: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Scorecard:
    columns: tuple[Column, ...]
    rows: tuple[ScoreRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Improvement:
    """One (event, metric) and its verdict."""

    site_id: str
    site: str
    metric_id: str
    metric: str
    event_id: str
    title: str
    practice: str | None
    effective_date: str | None
    verdict: Verdict
    verdict_text: str
    #: The metric's better direction (lower, higher, neutral).
    better: str
    #: The verdict's one effect figure (results.json ``verdict.figure``) and its unit:
    #: percent (relative to the counterfactual), percentage_points or difference.
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    unit: str
    #: The change relative to the counterfactual in percent, with its interval (ranking, pooling).
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    alpha: float
    href: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalRow:
    site_id: str
    site: str
    metric_id: str
    metric: str
    goal_id: str
    title: str
    target: str
    due_date: str | None
    status: GoalStatus
    status_text: str
    progress: float | None
    href: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Study:
    """One (event, metric) of a practice in the forest plot."""

    site_id: str
    site: str
    event_id: str
    title: str
    metric: str
    verdict: Verdict
    #: Improvement-positive log ratio of levels and its interval, as factors ("times better").
    factor: float
    factor_low: float
    factor_high: float
    weight: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Practice:
    """One practice (events' ``practice``) across the sites that used it."""

    name: str
    sites: tuple[str, ...]
    uses: tuple[Improvement, ...]
    studies: tuple[Study, ...]
    pooled: PooledEffect | None
    #: Uses where it did not work: no clear change or worsened (faded ones did not hold).
    not_worked: tuple[Improvement, ...]
    faded: tuple[Improvement, ...]
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Saving:
    """A claimed saving against the evidence for its event."""

    site_id: str
    site: str
    event_id: str
    title: str
    claimed: float
    status: str
    verdicts: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SavingTotal:
    site_id: str | None
    site: str
    claimed: float
    verified: float
    at_risk: float
    unverified: float
    n_claims: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One item of one site (a metric's icons, an event's verdict, a goal) across runs."""

    site_id: str
    site: str
    kind: str
    item_id: str
    label: str
    #: The value in each run of :attr:`History.runs` (None: not in that run), oldest first.
    values: tuple[str | None, ...]
    texts: tuple[str, ...]
    #: For a variation icon, H or L per run (the side of a special cause), else "".
    directions: tuple[str, ...]
    #: Compared with the previous run: "new", "changed" or "" (the same).
    change: str


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    runs: tuple[str, ...]
    previous: str | None
    rows: tuple[HistoryRow, ...]

    @property
    def changes(self) -> tuple[HistoryRow, ...]:
        return tuple(r for r in self.rows if r.change)


@dataclass(frozen=True, slots=True, kw_only=True)
class EarlierRun:
    as_of: str
    href: str
    counts: dict[str, int] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Portfolio:
    """Everything the portfolio page shows; :meth:`to_dict` is ``portfolio.json``."""

    project: str
    as_of: str
    run_id: str
    generated_at: str | None
    currency: str | None
    alpha: float
    counts: dict[str, int]
    sites: tuple[SiteRun, ...]
    scorecard: Scorecard
    best_practice: tuple[Improvement, ...]
    needs_sustainment: tuple[Improvement, ...]
    did_not_work: tuple[Improvement, ...]
    goals: tuple[GoalRow, ...]
    practices: tuple[Practice, ...]
    savings: tuple[Saving, ...]
    saving_totals: tuple[SavingTotal, ...]
    saving_total: SavingTotal
    events_without_claim: int
    history: History
    earlier_runs: tuple[EarlierRun, ...]
    newer_run: str | None
    data_outside_sites: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"]["changes"] = [asdict(r) for r in self.history.changes]
        for practice, obj in zip(data["practices"], self.practices, strict=True):
            practice["pooled"] = obj.pooled.to_dict() if obj.pooled else None
        return {"schema_version": SCHEMA_VERSION, **json_safe(data)}


# --------------------------------------------------------------------------- reading a run


def load_run(out_root: Path) -> tuple[Manifest, dict[str, dict[str, Any]]]:
    """The run's manifest and each published site's results (by site id).

    Raises
    ------
    InputError
        The manifest is missing, unreadable or does not match its schema.
    """
    manifest = load_manifest(out_root)
    return manifest, _site_results(out_root, manifest)


def _site_results(out_root: Path, manifest: Manifest) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for entry in manifest.sites:
        sid = entry.site_id
        path = out_root / sid / "results.json"
        if sid and "/" not in sid and path.is_file():
            try:
                results[sid] = load_results(path).to_dict()
            except InputError:
                continue  # an unreadable results file is shown as "no results", not a crash
    return results


def run_folders(base: Path) -> list[str]:
    """As-of folders beside this one that hold a manifest (the ``latest`` symlink excluded)."""
    if not base.is_dir():
        return []
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / MANIFEST_FILE).is_file()
    )


def latest_run(base: Path, *, today: dt.date) -> str | None:
    """The run folder ``OUT/latest`` means: the newest as-of that is not after ``today`` (a run
    dated in the future, allowed with ``--allow-future-as-of``, does not take ``latest`` over from
    the runs of real days); the newest of all when every run is in the future; None when none."""
    runs = run_folders(base)
    current = [r for r in runs if r <= today.isoformat()]
    chosen = current or runs
    return chosen[-1] if chosen else None


# --------------------------------------------------------------------------- building


def build_portfolio(
    manifest: Manifest,
    results: Mapping[str, Mapping[str, Any]],
    *,
    out_root: Path,
    project_name: str,
    site_names: Mapping[str, str],
    as_of: str,
    run_id: str,
    today: dt.date,
    currency: str | None = None,
    alpha: float = 0.05,
) -> Portfolio:
    """The portfolio of the run in ``out_root`` (only read: links go to files that exist, and
    earlier runs beside it give the history). ``today`` (:func:`pipeline.data.config.today`)
    decides which run is the newest: a run folder dated after it is no "newer run"."""
    names = {}
    for entry in manifest.sites:
        sid = entry.site_id
        res = results.get(sid) or {}
        names[sid] = str(site_names.get(sid) or res.get("site_name") or sid)
    sites = tuple(
        sorted(
            (_site_run(e, results.get(e.site_id), names, out_root) for e in manifest.sites),
            key=lambda s: (STATUS_ORDER.index(s.status), s.name.casefold()),
        )
    )  # fmt: skip
    # A failed site's folder may still hold its last good results.json: its numbers are not this
    # run's, so they stay out of the performance parts (the run status links the old report).
    failed = {s.site_id for s in sites if s.status == RunStatus.FAILED}
    published = [
        (sid, names.get(sid, sid), res) for sid, res in results.items() if sid not in failed
    ]
    published.sort(key=lambda r: r[1].casefold())
    missing = [s for s in sites if not s.has_results]
    improvements = collect_improvements(published)
    runs = run_folders(out_root.parent)
    # the run OUT/latest points at, if it is newer than this one; a future-dated run (from
    # --allow-future-as-of) is none, even where latest_run falls back to it for want of others
    latest = latest_run(out_root.parent, today=today)
    newer = latest if latest and out_root.name < latest <= today.isoformat() else None
    savings = collect_savings(published)
    return Portfolio(
        project=project_name,
        as_of=as_of,
        run_id=run_id,
        generated_at=manifest.generated_at,
        currency=currency,
        alpha=alpha,
        counts=manifest.status_counts(),
        sites=sites,
        scorecard=build_scorecard(published, names, out_root, missing=missing),
        best_practice=tuple(
            sorted(
                (i for i in improvements if i.verdict == Verdict.SUSTAINED),
                key=_rank,
            )
        ),
        needs_sustainment=tuple(
            sorted(
                (i for i in improvements if i.verdict == Verdict.FADED),
                key=_rank,
            )
        ),
        did_not_work=tuple(
            sorted(
                (i for i in improvements if i.verdict in NOT_WORKED),
                key=lambda i: (NOT_WORKED.index(i.verdict), i.site.casefold(), i.title),
            )
        ),
        goals=collect_goals(published),
        practices=collect_practices(improvements, alpha=alpha),
        savings=savings,
        saving_totals=saving_totals(savings),
        saving_total=_total(None, "All sites", savings),
        events_without_claim=_events_without_claim(published),
        history=build_history(out_root, {sid: res for sid, _, res in published}, names),
        earlier_runs=_earlier_runs(out_root, runs),
        newer_run=newer,
        data_outside_sites=tuple(
            _text(f.get("message") or f.get("description"), "data for no configured site")
            for f in manifest.data_outside_sites
        ),
    )


def _rank(i: Improvement) -> float:
    """Largest effect first, by the relative change (comparable across metrics and sites)."""
    return -abs(i.relative if i.relative is not None else (i.estimate or 0.0))


def _site_run(
    entry: SiteOutcome, res: Mapping[str, Any] | None, names: Mapping[str, str], out: Path
) -> SiteRun:
    sid = entry.site_id
    status = entry.status
    href = quote(sid)
    has_report = (out / sid / "report.html").is_file()
    evidence = []
    if status == RunStatus.FAILED:
        if (out / sid / "failed" / "report.ipynb").is_file():
            evidence.append(Link(text="executed notebook (report.ipynb)",
                                 href=f"{href}/failed/report.ipynb"))  # fmt: skip
        if (out / sid / "failed" / "error.txt").is_file():
            evidence.append(Link(text="error message (error.txt)", href=f"{href}/failed/error.txt"))
        if has_report:
            run = f" from run {res.get('run_id')}" if res and res.get("run_id") else ""
            evidence.append(Link(text=f"last good report{run}", href=f"{href}/report.html"))
    problems: tuple[str, ...] = ()
    if status == RunStatus.FAILED:
        reason = _text(entry.error, "no reason was recorded")
        if len(entry.problems) > 1:
            # the error's first line is the summary; the rules are listed one by one
            reason = reason.splitlines()[0]
            problems = tuple(_text(p) for p in entry.problems)
    elif res is None:
        reason = "no results were published for this site"
    elif status == RunStatus.WARNINGS:
        reason = "the report was produced; some data broke a warning rule of the contracts"
    else:
        reason = "the report was produced from data that passed every contract rule"
    return SiteRun(
        site_id=sid,
        name=names.get(sid, sid),
        status=status,
        reason=reason,
        problems=problems,
        warnings=_warnings(res) if status == RunStatus.WARNINGS and res else (),
        report_href=f"{href}/report.html" if has_report and status != RunStatus.FAILED else None,
        evidence=tuple(evidence),
        has_results=res is not None and status != RunStatus.FAILED,
    )


def _warnings(res: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for f in (res.get("validation") or {}).get("failures", []):
        if f.get("severity") != Severity.WARNING:
            continue
        rows = [int(r) for r in f.get("rows") or () if finite(r) is not None]
        count = finite(f.get("unexpected_count"))
        out.append(
            describe_failure(
                table=_text(f.get("table"), "?"),
                column=_text(f.get("column")) or None,
                description=_text(f.get("description"), _text(f.get("rule"), "a contract rule")),
                rows=rows,
                unexpected_count=0 if count is None else int(count),
                examples=[_text(e) for e in f.get("examples") or ()],
            )
        )
    return tuple(out)


#: The side of an improving special cause, by the metric's better direction (a concern is the
#: other side).
_IMPROVING_SIDE: dict[str, str] = {Better.LOWER: "L", Better.HIGHER: "H"}
_CONCERNING_SIDE: dict[str, str] = {Better.LOWER: "H", Better.HIGHER: "L"}


def _direction(variation: str, better: str) -> str:
    """The MDC icon's letter: H when the special cause is high, L when low."""
    if variation == VariationIcon.SPECIAL_CAUSE_IMPROVEMENT:
        return _IMPROVING_SIDE.get(better, "")
    if variation == VariationIcon.SPECIAL_CAUSE_CONCERN:
        return _CONCERNING_SIDE.get(better, "")
    return ""


def build_scorecard(
    published: list[tuple[str, str, Mapping[str, Any]]],
    names: Mapping[str, str],
    out_root: Path,
    *,
    missing: Iterable[SiteRun] = (),
) -> Scorecard:
    """Sites x metrics: a column per metric that two or more sites share (by metric_id); each
    site's other metrics grouped under the goal they serve."""
    users: dict[str, list[str]] = {}
    metric_names: dict[str, str] = {}
    for sid, _, res in published:
        for m in res.get("metrics", []):
            mid = str(m.get("metric_id"))
            users.setdefault(mid, []).append(sid)
            metric_names.setdefault(mid, _text(m.get("name"), mid))
    columns = tuple(
        Column(metric_id=mid, name=metric_names[mid], n_sites=len(s))
        for mid, s in sorted(users.items(), key=lambda kv: (-len(kv[1]), metric_names[kv[0]]))
        if len(s) >= 2
    )
    shared = {c.metric_id for c in columns}
    rows = []
    for sid, name, res in published:
        tiles = {str(t.get("metric_id")): t for t in (res.get("summary") or {}).get("tiles", [])}
        goal_titles = {
            str(g.get("goal_id")): _text(g.get("title"), str(g.get("goal_id")))
            for g in (res.get("roadmap") or {}).get("goals", [])
        }
        cells: dict[str, Cell] = {}
        groups: dict[str, list[Cell]] = {}
        for m in res.get("metrics", []):
            cell = _cell(sid, m, tiles.get(str(m.get("metric_id"))) or {})
            cells[cell.metric_id] = cell
            if cell.metric_id not in shared:
                goal_ids = [str(g.get("goal_id")) for g in m.get("goals", [])]
                title = goal_titles.get(goal_ids[0], goal_ids[0]) if goal_ids else "No goal set"
                groups.setdefault(title, []).append(cell)
        ordered = sorted(groups.items(), key=lambda kv: (kv[0] == "No goal set", kv[0]))
        every = list(cells.values())
        has_report = (out_root / sid / "report.html").is_file()
        rows.append(
            ScoreRow(
                site_id=sid,
                name=name,
                href=f"{quote(sid)}/report.html" if has_report else None,
                cells=tuple(cells.get(c.metric_id) for c in columns),
                groups=tuple(GoalGroup(title=t, cells=tuple(c)) for t, c in ordered),
                n_concern=sum(c.variation == VariationIcon.SPECIAL_CAUSE_CONCERN for c in every),
                n_improvement=sum(
                    c.variation == VariationIcon.SPECIAL_CAUSE_IMPROVEMENT for c in every
                ),
                n_fails=sum(c.assurance == AssuranceIcon.CONSISTENTLY_FAILS for c in every),
                has_results=True,
            )
        )
    # Needs attention first: concerns and failing targets, then fewest improvements, then name.
    rows.sort(key=lambda r: (-(r.n_concern + r.n_fails), -r.n_improvement, r.name.casefold()))
    rows += [
        ScoreRow(site_id=s.site_id, name=s.name, href=None, cells=tuple(None for _ in columns),
                 groups=(), n_concern=0, n_improvement=0, n_fails=0, has_results=False)
        for s in sorted(missing, key=lambda s: s.name.casefold())
    ]  # fmt: skip
    return Scorecard(columns=columns, rows=tuple(rows))


def _cell(sid: str, m: Mapping[str, Any], tile: Mapping[str, Any]) -> Cell:
    mid = str(m.get("metric_id"))
    variation = _text(m.get("variation") or tile.get("variation"), VariationIcon.NOT_ENOUGH_DATA)
    assurance = _text(m.get("assurance") or tile.get("assurance"), AssuranceIcon.NO_TARGET)
    return Cell(
        site_id=sid,
        metric_id=mid,
        name=_text(m.get("name"), mid),
        variation=variation,
        variation_text=_text(tile.get("variation_text"), VARIATION_TEXT.get(variation, variation)),
        direction=_direction(variation, str(m.get("better"))),
        assurance=assurance,
        assurance_text=_text(tile.get("assurance_text"), ASSURANCE_TEXT.get(assurance, assurance)),
        latest_text=_text(tile.get("latest_text"), "not enough data"),
        latest_label=_text(tile.get("latest_label"), ""),
        current_label=_text(tile.get("current_label"), ""),
        current_text=_text(tile.get("current_text"), ""),
        change=finite(m.get("change")),
        change_text=_text(tile.get("change_text"), "no baseline"),
        href=f"{quote(sid)}/report.html#metric-{quote(mid)}",
    )


def collect_improvements(
    published: Iterable[tuple[str, str, Mapping[str, Any]]],
) -> list[Improvement]:
    """Every (event, metric) with a verdict, across sites."""
    found = []
    for sid, site, res in published:
        alpha = finite((res.get("settings") or {}).get("alpha")) or 0.05
        for m in res.get("metrics", []):
            mid = str(m.get("metric_id"))
            for e in m.get("events", []):
                verdict = verdict_of(e.get("outcome"))
                if verdict is None:
                    continue
                verdict_block = e.get("verdict") or {}
                effect = verdict_block.get("effect") or {}
                # The verdict's one effect figure, the number the site's tiles and findings show
                # (none for a verdict without one: too early, say); only results written before
                # verdicts carried a figure fall back to the classical change.
                if "figure" in verdict_block:
                    pc = verdict_block.get("figure") or {}
                else:
                    pc = ((e.get("detail") or {}).get("impact") or {}).get("percent_change") or {}
                unit = str(pc.get("unit") or "percent")
                if effect.get("relative") is not None:
                    rel = (effect.get("relative"), effect.get("relative_low"),
                           effect.get("relative_high"))  # fmt: skip
                elif unit == "percent":
                    rel = (pc.get("estimate"), pc.get("ci_low"), pc.get("ci_high"))
                else:
                    rel = (None, None, None)
                found.append(
                    Improvement(
                        site_id=sid,
                        site=site,
                        metric_id=mid,
                        metric=_text(m.get("name"), mid),
                        event_id=str(e.get("event_id")),
                        title=_text(e.get("title"), str(e.get("event_id"))),
                        practice=_text(e.get("practice")) or None,
                        effective_date=e.get("effective_date"),
                        verdict=verdict,
                        verdict_text=verdict_text_of(e, verdict),
                        better=_text(m.get("better"), "neutral"),
                        estimate=finite(pc.get("estimate")),
                        ci_low=finite(pc.get("ci_low")),
                        ci_high=finite(pc.get("ci_high")),
                        unit=unit,
                        relative=finite(rel[0]),
                        relative_low=finite(rel[1]),
                        relative_high=finite(rel[2]),
                        alpha=alpha,
                        href=f"{quote(sid)}/report.html#metric-{quote(mid)}",
                    )
                )
    return found


def collect_goals(published: Iterable[tuple[str, str, Mapping[str, Any]]]) -> tuple[GoalRow, ...]:
    """Goals missed, off track or at risk: worst first, then by due date."""
    found = []
    for sid, site, res in published:
        targets = {
            g.get("goal_id"): g.get("target_text")
            for g in (res.get("roadmap") or {}).get("goals", [])
        }
        for m in res.get("metrics", []):
            mid = str(m.get("metric_id"))
            for g in m.get("goals", []):
                try:
                    status = GoalStatus(str(g.get("status")))
                except ValueError:
                    continue
                if status not in GOALS_OF_CONCERN:
                    continue
                found.append(
                    GoalRow(
                        site_id=sid,
                        site=site,
                        metric_id=mid,
                        metric=_text(m.get("name"), mid),
                        goal_id=str(g.get("goal_id")),
                        title=_text(g.get("title"), str(g.get("goal_id"))),
                        target=_text(targets.get(g.get("goal_id"))),
                        due_date=g.get("due_date"),
                        status=status,
                        status_text=GOAL_STATUS_TEXT.get(status, status),
                        progress=finite((g.get("progress") or {}).get("percent_of_target")),
                        href=f"{quote(sid)}/report.html#strategy",
                    )
                )
    found.sort(key=lambda r: (GOALS_OF_CONCERN.index(r.status), str(r.due_date or "9999"), r.site))
    return tuple(found)


def collect_practices(improvements: list[Improvement], *, alpha: float) -> tuple[Practice, ...]:
    """Each practice with the sites that used it; pooled when measured at two or more sites.

    A study is one (event, metric) with a verdict other than too early and a relative change
    (percent against the counterfactual) with a finite interval; several metrics of one event are separate studies (they are shown as such).
    """
    by_name: dict[str, list[Improvement]] = {}
    spelling: dict[str, str] = {}
    for i in improvements:
        if not i.practice:
            continue
        key = " ".join(i.practice.split()).casefold()
        by_name.setdefault(key, []).append(i)
        spelling.setdefault(key, " ".join(i.practice.split()))
    out = []
    for key, uses in by_name.items():
        uses.sort(key=lambda i: (i.site.casefold(), i.title, i.metric))
        sites = tuple(dict.fromkeys(i.site for i in uses))
        candidates: list[tuple[Improvement, StudyEffect]] = []
        for i in uses:
            if (
                i.verdict == Verdict.TOO_EARLY
                or i.better
                not in (Better.LOWER, Better.HIGHER)  # no direction to call an improvement
                or i.relative is None
                or i.relative_low is None
                or i.relative_high is None
            ):
                continue
            study = StudyEffect.from_percent_change(
                label=f"{i.site}: {i.title} ({i.metric})",
                site_id=i.site_id,
                estimate=i.relative,
                ci_low=i.relative_low,
                ci_high=i.relative_high,
                alpha=i.alpha,
                lower_is_better=i.better == Better.LOWER,
            )
            if study is not None:
                candidates.append((i, study))
        pooled = None
        note = ""
        if len(sites) < 2:
            note = "used at one site only: nothing to pool yet"
        elif len({s.site_id for _, s in candidates}) < 2:
            note = "measured at fewer than two sites so far: nothing to pool yet"
        else:
            try:
                pooled = pool_effects([s for _, s in candidates], alpha=alpha)
            except StatisticsError as exc:
                note = str(exc)
        weights = pooled.weights if pooled else tuple(0.0 for _ in candidates)
        studies = tuple(
            Study(
                site_id=i.site_id,
                site=i.site,
                event_id=i.event_id,
                title=i.title,
                metric=i.metric,
                verdict=i.verdict,
                factor=PooledEffect.factor(s.effect),
                factor_low=PooledEffect.factor(s.effect - _z(i.alpha) * s.variance**0.5),
                factor_high=PooledEffect.factor(s.effect + _z(i.alpha) * s.variance**0.5),
                weight=w,
            )
            for (i, s), w in zip(candidates, weights, strict=True)
        )
        out.append(
            Practice(
                name=spelling[key],
                sites=sites,
                uses=tuple(uses),
                studies=studies,
                pooled=pooled,
                not_worked=tuple(
                    i for i in uses if i.verdict in (Verdict.NO_CLEAR_CHANGE, Verdict.WORSENED)
                ),
                faded=tuple(i for i in uses if i.verdict == Verdict.FADED),
                note=note,
            )
        )
    out.sort(key=lambda p: (p.pooled is None, -len(p.sites), p.name.casefold()))
    return tuple(out)


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def collect_savings(published: Iterable[tuple[str, str, Mapping[str, Any]]]) -> tuple[Saving, ...]:
    """Each event's claimed saving with its evidence: verified only when every measured metric
    of the event is sustained, at risk when the weakest is faded, unverified otherwise."""
    events: dict[tuple[str, str], dict[str, Any]] = {}
    for sid, site, res in published:
        for m in res.get("metrics", []):
            for e in m.get("events", []):
                claimed = finite(e.get("claimed_saving"))
                if claimed is None:
                    continue
                key = (sid, str(e.get("event_id")))
                item = events.setdefault(
                    key,
                    {"site": site, "title": _text(e.get("title"), key[1]), "claimed": claimed,
                     "verdicts": [], "status": _text(e.get("status"))},
                )  # fmt: skip
                verdict = verdict_of(e.get("outcome"))
                if verdict is not None:
                    item["verdicts"].append(verdict)
    out = []
    for (sid, eid), item in events.items():
        verdicts: list[Verdict] = item["verdicts"]
        if not verdicts:
            status = "unverified"
            reason = {
                EventStatus.PLANNED: "planned: nothing to measure yet",
                EventStatus.CANCELLED: "cancelled",
            }.get(item["status"], "no measured verdict")
        else:
            status = max(
                (SAVING_STATUS.get(v, "unverified") for v in verdicts), key=SAVING_ORDER.index
            )
            reason = "; ".join(dict.fromkeys(OUTCOME_TEXT.get(v, v).lower() for v in verdicts))
        out.append(
            Saving(
                site_id=sid,
                site=item["site"],
                event_id=eid,
                title=item["title"],
                claimed=item["claimed"],
                status=status,
                verdicts=tuple(v.value for v in verdicts),
                reason=reason,
            )
        )
    out.sort(key=lambda s: (s.site.casefold(), SAVING_ORDER.index(s.status), -s.claimed))
    return tuple(out)


def _total(site_id: str | None, site: str, savings: Iterable[Saving]) -> SavingTotal:
    items = list(savings)

    def amount(status: str) -> float:
        return float(sum(s.claimed for s in items if s.status == status))

    return SavingTotal(
        site_id=site_id,
        site=site,
        claimed=float(sum(s.claimed for s in items)),
        verified=amount("verified"),
        at_risk=amount("at_risk"),
        unverified=amount("unverified"),
        n_claims=len(items),
    )


def saving_totals(savings: tuple[Saving, ...]) -> tuple[SavingTotal, ...]:
    sites = dict.fromkeys((s.site_id, s.site) for s in savings)
    return tuple(_total(sid, name, (s for s in savings if s.site_id == sid)) for sid, name in sites)


def _events_without_claim(published: Iterable[tuple[str, str, Mapping[str, Any]]]) -> int:
    seen: dict[tuple[str, str], bool] = {}
    for sid, _, res in published:
        for m in res.get("metrics", []):
            for e in m.get("events", []):
                key = (sid, str(e.get("event_id")))
                has = finite(e.get("claimed_saving")) is not None
                seen[key] = seen.get(key, False) or has
    return sum(1 for v in seen.values() if not v)


# --------------------------------------------------------------------------- history


def _history_items(res: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """(kind, item id) -> (label, value, text, H/L) of one run's results for one site."""
    items: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for m in res.get("metrics", []):
        mid = str(m.get("metric_id"))
        name = _text(m.get("name"), mid)
        variation = _text(m.get("variation"), VariationIcon.NOT_ENOUGH_DATA)
        assurance = _text(m.get("assurance"), AssuranceIcon.NO_TARGET)
        side = _direction(variation, str(m.get("better")))
        items[("variation", mid)] = (
            name,
            variation,
            VARIATION_TEXT.get(variation, variation),
            side,
        )
        items[("assurance", mid)] = (name, assurance, ASSURANCE_TEXT.get(assurance, assurance), "")
        for e in m.get("events", []):
            verdict = verdict_of(e.get("outcome"))
            if verdict is None:
                continue
            label = f"{_text(e.get('title'), str(e.get('event_id')))} ({name})"
            key = ("verdict", f"{e.get('event_id')}:{mid}")
            items[key] = (label, verdict.value, verdict_text_of(e, verdict), "")
        for g in m.get("goals", []):
            status = _text(g.get("status"), GoalStatus.NOT_ENOUGH_DATA)
            label = _text(g.get("title"), str(g.get("goal_id")))
            items[("goal", str(g.get("goal_id")))] = (
                label,
                status,
                GOAL_STATUS_TEXT.get(status, status),
                "",
            )
    return items


def build_history(
    out_root: Path, results: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]
) -> History:
    """Each site's icons, verdicts and goal statuses across this run and up to
    :data:`HISTORY_RUNS` earlier ones (read from their results.json), each item marked new or
    changed when it differs from the previous run."""
    earlier = [r for r in run_folders(out_root.parent) if r < out_root.name][-HISTORY_RUNS:]
    runs = (*earlier, out_root.name)
    per_run: list[Mapping[str, Mapping[str, Any]]] = []
    for name in earlier:
        try:
            earlier_results = _site_results(
                out_root.parent / name, load_manifest(out_root.parent / name)
            )
        except InputError:
            earlier_results = {}  # an unreadable earlier run shows as "not in this run"
        per_run.append(earlier_results)
    per_run.append(results)
    rows = []
    previous = earlier[-1] if earlier else None
    kind_order = {"variation": 0, "assurance": 1, "verdict": 2, "goal": 3}
    for sid in sorted(results, key=lambda s: names.get(s, s).casefold()):
        items_by_run = [_history_items(run.get(sid) or {}) for run in per_run]
        keys = list(dict.fromkeys(k for items in items_by_run for k in items))
        keys.sort(key=lambda k: (kind_order[k[0]], k[1]))
        for kind, item_id in keys:
            values = tuple(
                items[(kind, item_id)][1] if (kind, item_id) in items else None
                for items in items_by_run
            )
            texts = tuple(
                items[(kind, item_id)][2] if (kind, item_id) in items else "not in this run"
                for items in items_by_run
            )
            directions = tuple(
                items[(kind, item_id)][3] if (kind, item_id) in items else ""
                for items in items_by_run
            )
            label = next(
                items[(kind, item_id)][0] for items in reversed(items_by_run)
                if (kind, item_id) in items
            )  # fmt: skip
            change = ""
            if previous is not None and values[-1] is not None:
                # A site that was not in the previous run at all is new as a whole, not per item.
                if sid in per_run[-2] and values[-2] is None:
                    change = "new"
                elif values[-2] is not None and values[-2] != values[-1]:
                    change = "changed"
            rows.append(
                HistoryRow(
                    site_id=sid,
                    site=names.get(sid, sid),
                    kind=kind,
                    item_id=item_id,
                    label=label,
                    values=values,
                    texts=texts,
                    directions=directions,
                    change=change,
                )
            )
    return History(runs=runs, previous=previous, rows=tuple(rows))


def _earlier_runs(out_root: Path, runs: list[str]) -> tuple[EarlierRun, ...]:
    """The runs with a report date before this one's, newest first (as the history compares
    with; a run dated later is not "earlier", the newer-run banner names it)."""
    out = []
    for name in reversed(runs):
        if name >= out_root.name:
            continue
        try:
            counts: dict[str, int] | None = load_manifest(out_root.parent / name).status_counts()
        except InputError:
            counts = None
        page = "index.html" if (out_root.parent / name / "index.html").is_file() else MANIFEST_FILE
        out.append(EarlierRun(as_of=name, href=f"../{quote(name)}/{page}", counts=counts))
    return tuple(out)
