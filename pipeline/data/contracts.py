"""Check the input tables against the data contracts (Great Expectations suites) before any notebook.

The contracts are the JSON expectation suites in ``data_contracts/<table>.json``, one per input
table. Every expectation carries ``meta.severity`` (``critical`` stops the site's report, ``warning``
adds a banner), ``meta.description`` (the rule in plain words) and ``meta.rule`` (a short id).

How a run is validated
----------------------
Each table is validated **once** for all sites (a batch per table, not per site, so 5,000 sites
cost the same as one), in the parent process, with an ephemeral Great Expectations context (no
project on disk, analytics off, no network). Failing rows come back as GX's unexpected index list
and are attributed to sites through their ``site_id``; a failing metric definition is attributed
to the sites that use the metric; whole-table failures (a missing column, an empty table) count for
every site. Rows of a site that is not configured cannot fail a configured site: they are reported
as project-level failures (``ValidationReport.project_failures``) and logged.

Values that do not come in the table itself reach the suites as suite parameters
(``{"$PARAMETER": name}`` in the JSON, see :func:`suite_parameters`): the configured sites, the
metric ids of the metrics table, the goal ids, ``as_of``, the minimum number of chart points.
Columns named ``kz_*`` are derived here before validation (see :func:`prepare_frame`): the metric's
chart type per observation, the raw text of values that did not parse, the fractional part of
counts, the number of periods with data per site and metric.

Only this module imports great_expectations, and only inside functions: importing it costs
seconds, and the notebooks never need it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.addresses import address_problem
from pipeline.data.config import TABLES, Project, parse_as_of
from pipeline.data.inputs import GLOBAL_TABLES, OPTIONAL_COLUMNS, SCHEMA, Tables, period_start
from pipeline.exceptions import ConfigError, ContractViolation
from pipeline.formatting import count_of, fmt_date, sentence_case
from pipeline.vocabulary import (
    ATTRIBUTE_CHARTS,
    METRIC_CHARTS,
    PROPORTION_CHARTS,
    READING_CHARTS,
    SIZED_CHARTS,
    Aggregate,
    Better,
    ChartType,
    EventKind,
    EventStatus,
    Period,
    RunStatus,
    Severity,
    SuggestionStatus,
    TargetKind,
)

CRITICAL, WARNING = Severity.CRITICAL, Severity.WARNING
SEVERITIES = tuple(Severity)
SUITES_DIR = Path(__file__).resolve().parent / "suites"
#: Expectations about the table's columns: checked on the header the source really had.
STRUCTURE_EXPECTATIONS = ("expect_column_to_exist", "expect_table_columns_to_match_set")


def _in_order(charts: frozenset[ChartType]) -> tuple[str, ...]:
    """A set of chart types in the vocabulary's order (the README and GX see the same list)."""
    return tuple(c.value for c in ChartType if c in charts)


#: The allowed values of the suites' ``*_allowed`` rules, from :mod:`pipeline.vocabulary`: each is
#: a suite parameter (``{"$PARAMETER": "metric_charts"}`` in the JSON), and ``{metric_charts}`` in
#: a rule's description is the list in words, so the check and its message cannot drift apart.
#: The chart sets of row conditions (``kz_chart IN {"$PARAMETER": "sized_charts"}``) are filled in
#: when the suites are loaded (:func:`load_rules`), GX's row conditions taking no parameters.
VOCABULARY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "metric_charts": _in_order(METRIC_CHARTS),
    "better_values": tuple(Better),
    "period_values": tuple(Period),
    "aggregate_values": tuple(Aggregate),
    "event_kinds": tuple(EventKind),
    "event_statuses": tuple(EventStatus),
    "target_kinds": tuple(TargetKind),
    "suggestion_statuses": tuple(SuggestionStatus),
    "sized_charts": _in_order(SIZED_CHARTS),
    "attribute_charts": _in_order(ATTRIBUTE_CHARTS),
    "proportion_charts": _in_order(PROPORTION_CHARTS),
    "reading_charts": _in_order(READING_CHARTS),
}
#: Readings outside their metric's bounds: values it cannot take (a negative cycle time),
#: critical like a negative count, since kept they skew the limits and verdicts and lie off the
#: chart's axis. The metric's bounds are the project's own statement of what is possible.
_BOUND_RULES = ("value_not_below_lower_bound", "value_not_above_upper_bound")
_BOUND_HINT = (
    "correct the rows; if such values are real, change or clear the metric's bound in the "
    "metrics table"
)
#: The rule of a site with no stakeholder at all (validate counts it apart from bad addresses).
NO_STAKEHOLDERS = "site_has_stakeholders"
_MAX_EXAMPLES = 5
_MAX_ROWS_KEPT = 1000

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- results


def failure_lines(rows: Iterable[int], unexpected_count: int = 0) -> str:
    """The file's lines of a failed rule in words: ``line 7``, ``lines 3, 4 and 12 more``, or
    ``5 rows`` when the lines are not known; "" when there are none."""
    lines = list(rows)
    count = max(unexpected_count, len(lines))
    if not lines:
        return count_of(count, "row") if count else ""
    more = count - min(_MAX_EXAMPLES, len(lines))
    shown = ", ".join(str(r) for r in lines[:_MAX_EXAMPLES])
    return f"{'line' if count == 1 else 'lines'} {shown}" + (
        f" and {more} more" if more > 0 else ""
    )


def describe_failure(
    *,
    table: str,
    column: str | None,
    description: str,
    rows: Iterable[int] = (),
    unexpected_count: int = 0,
    examples: Iterable[str] = (),
    hint: str = "",
    site_id: str | None = None,
    with_where: bool = True,
    with_lines: bool = True,
) -> str:
    """The sentence a person reads about one failed rule: where, what is wrong, the file's lines.

    The rule's description is its expectation ("value is filled in"), so the sentence says the
    rule was not met, and where, before quoting it: ``site 'north', table 'observations', column
    'value': rule not met on lines 4, 9 — value is filled in``. The one formatter of failures:
    the validate table (``with_where``/``with_lines`` off, those have their own columns), the
    run log, the manifest, the portfolio and the failure email all use it.
    """
    where = f"table {table!r}" + (f", column {column!r}" if column else "")
    if site_id:
        where = f"site {site_id!r}, {where}"
    lines = failure_lines(rows, unexpected_count) if with_lines else ""
    picked = list(examples)[:3]
    ex = f"; e.g. {', '.join(repr(e) for e in picked)}" if picked else ""
    tail = f". {sentence_case(hint)}" if hint else ""  # the hint is a sentence of its own
    what = f"rule not met{f' on {lines}' if lines else ''} — {description}{ex}{tail}"
    return f"{where}: {what}" if with_where else what


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
    expectation: str | None = None
    hint: str = ""

    def __str__(self) -> str:
        return describe_failure(
            table=self.table, column=self.column, description=self.description,
            rows=self.rows, unexpected_count=self.unexpected_count, examples=self.examples,
            hint=self.hint, site_id=self.site_id,
        )  # fmt: skip

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
            "expectation": self.expectation,
            "hint": self.hint,
            "message": str(self),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteValidation:
    """Contract results for one site."""

    site_id: str
    failures: tuple[Failure, ...] = ()
    row_counts: dict[str, int] = field(default_factory=dict)
    rules_checked: int = 0
    #: No observation in the last periods before as_of (see :func:`freshness_failures`).
    stale: bool = False
    #: No observation in the report window (lookback before as_of).
    empty_window: bool = False

    @property
    def has_critical(self) -> bool:
        return any(f.severity == CRITICAL for f in self.failures)

    @property
    def has_warnings(self) -> bool:
        return any(f.severity == WARNING for f in self.failures)

    @property
    def status(self) -> RunStatus:
        if self.has_critical:
            return RunStatus.FAILED
        return RunStatus.WARNINGS if self.has_warnings else RunStatus.OK

    def problems(self) -> tuple[str, ...]:
        """Each critical failure in words (:func:`describe_failure`), one per rule."""
        return tuple(str(f) for f in self.failures if f.severity == CRITICAL)

    def reason(self) -> str:
        """The critical failures for the index page, the log and the manifest's ``error``: the
        one rule in full, or how many rules failed followed by each of them (one a line)."""
        crit = self.problems()
        if not crit:
            return ""
        if len(crit) == 1:
            return f"data contract failed: {crit[0]}"
        return f"data contract failed: {count_of(len(crit), 'critical rule')} not met:\n" + (
            "\n".join(f"- {p}" for p in crit)
        )

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
            # machine-readable for `send`, which refuses stale reports
            "stale": self.stale,
            "empty_window": self.empty_window,
            "failures": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """Contract results for a run: one :class:`SiteValidation` per site, plus failures of rows
    that belong to no configured site (``project_failures``) and, from ``validate``, the email
    addresses of kaizen.yaml that ``send`` would leave out (``config_failures``, warnings: they
    never stop a report)."""

    sites: dict[str, SiteValidation]
    project_failures: tuple[Failure, ...] = ()
    config_failures: tuple[Failure, ...] = ()
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return not self.failed_sites and not any(
            f.severity == CRITICAL for f in self.project_failures
        )

    @property
    def failed_sites(self) -> tuple[str, ...]:
        return tuple(s for s, v in self.sites.items() if v.has_critical)

    @property
    def failures(self) -> tuple[Failure, ...]:
        """Every failure: project-level first, then the configuration's, then each site's."""
        out = [*self.project_failures, *self.config_failures]
        for v in self.sites.values():
            out.extend(v.failures)
        return tuple(out)

    def for_site(self, site_id: str) -> SiteValidation:
        return self.sites[site_id]

    def raise_for_failures(self) -> ValidationReport:
        if not self.success:
            names = list(self.failed_sites)
            if any(f.severity == CRITICAL for f in self.project_failures):
                names.append("(rows of unconfigured sites)")
            raise ContractViolation("critical data-contract rules failed for " + ", ".join(names))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "project_failures": [
                {**f.to_dict(), "site_id": f.site_id} for f in self.project_failures
            ],
            "config_failures": [
                {**f.to_dict(), "site_id": f.site_id} for f in self.config_failures
            ],
            "sites": {s: v.to_dict() for s, v in self.sites.items()},
        }


# --------------------------------------------------------------------------- the suites


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One expectation of a suite, as the JSON file states it."""

    table: str
    rule: str
    expectation: str
    severity: str
    description: str
    column: str | None
    kwargs: dict[str, Any]

    @property
    def is_structure(self) -> bool:
        return self.expectation in STRUCTURE_EXPECTATIONS

    @property
    def columns(self) -> tuple[str, ...]:
        """The source columns the rule reads (derived ``kz_*`` columns map to their source)."""
        kw = self.kwargs
        cols = [
            kw.get("column"),
            kw.get("column_A"),
            kw.get("column_B"),
            *kw.get("column_list", []),
        ]
        out = [self.column if (c or "").startswith("kz_") else c for c in cols if c]
        return tuple(dict.fromkeys(c for c in out if c))

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(
            v["$PARAMETER"]
            for v in self.kwargs.values()
            if isinstance(v, dict) and "$PARAMETER" in v
        )


@cache
def load_rules(directory: Path = SUITES_DIR) -> dict[str, tuple[Rule, ...]]:
    """Every table's rules from ``data_contracts/<table>.json``, checked for the meta we need.

    Raises
    ------
    ConfigError
        A suite is missing, not JSON, or an expectation lacks ``meta.severity``/``description``.
    """
    out: dict[str, tuple[Rule, ...]] = {}
    for table in TABLES:
        path = directory / f"{table}.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"data contract {path} cannot be read: {exc}") from None
        rules = []
        for i, exp in enumerate(doc.get("expectations", []), start=1):
            meta = exp.get("meta") or {}
            if meta.get("severity") not in SEVERITIES or not meta.get("description"):
                raise ConfigError(
                    f"data contract {path.name}, expectation {i} ({exp.get('type')}): "
                    "meta.severity must be critical or warning and meta.description must be set"
                )
            rules.append(
                Rule(
                    table=table,
                    rule=str(meta.get("rule") or f"{exp['type']}_{i}"),
                    expectation=str(exp["type"]),
                    severity=str(meta["severity"]),
                    description=_with_vocabulary(str(meta["description"])),
                    column=meta.get("column"),
                    kwargs=_with_chart_sets(dict(exp.get("kwargs") or {})),
                )
            )
        out[table] = tuple(rules)
    return out


def _with_chart_sets(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with a row condition's ``{"$PARAMETER": name}`` replaced by the chart set of
    :data:`VOCABULARY_PARAMETERS` (an unknown name is a ConfigError naming it)."""
    condition = kwargs.get("row_condition")
    if not isinstance(condition, dict):
        return kwargs
    value = condition.get("parameter")
    if not (isinstance(value, dict) and "$PARAMETER" in value):
        return kwargs
    name = value["$PARAMETER"]
    if name not in VOCABULARY_PARAMETERS:
        raise ConfigError(
            f"data contract row condition names {name!r}, which is not one of: "
            + ", ".join(VOCABULARY_PARAMETERS)
        )
    return {
        **kwargs,
        "row_condition": {**condition, "parameter": list(VOCABULARY_PARAMETERS[name])},
    }


def _with_vocabulary(description: str) -> str:
    """``description`` with each ``{name}`` of :data:`VOCABULARY_PARAMETERS` spelled out."""
    for name, values in VOCABULARY_PARAMETERS.items():
        description = description.replace(f"{{{name}}}", ", ".join(values))
    return description


def render_readme(directory: Path = SUITES_DIR) -> str:
    """The text of ``data_contracts/README.md``: every rule of every suite (a test keeps it in
    step with the JSON files; regenerate with ``python -m pipeline.data.contracts``)."""
    lines = [
        "# Data contracts",
        "",
        "One Great Expectations 1.x expectation suite per input table (`<table>.json`). "
        "`kaizen-reports validate --project kaizen.yaml` checks them alone; `kaizen-reports run` "
        "checks them once, before any notebook starts.",
        "",
        "- **critical**: the site's report is not produced; the site is marked failed with the "
        "reason (its previous report stays in place).",
        "- **warning**: the report is produced with a data-quality banner and the failure is "
        "listed in its data-quality section.",
        "",
        "Rows are the lines of the file a person sees in an editor, each failing record named "
        "by the line it starts on (the header is line 1; blank lines and the extra lines of a "
        "quoted field that runs over several lines are counted); a Parquet file or SQL query is "
        "numbered as its CSV export would be (the first record is row 2). A value that does "
        "not parse is reported once, by its `*_is_number` or `*_is_date` rule: the not-blank "
        "and uniqueness rules leave its row out, and examples show it as written in the file "
        "(a missing value as `(blank)`, never NaT or NaN). Failing rows "
        "are attributed to the site on the row; a failing metric definition to every site that "
        "uses the metric; a whole-table failure to every site. Rows of a site that is not "
        "configured are reported as project-level failures.",
        "",
        'Suite parameters (`{"$PARAMETER": ...}`) filled in at validation time: '
        "`configured_sites` (every site in kaizen.yaml), `selected_sites` (the sites of this "
        "run), `goal_sites` (configured sites and `*`), `metric_ids` and `metric_ids_pattern` "
        "(the metrics table's ids), `goal_ids` (the goals table's ids), `as_of_end` (the end of "
        "the `as_of` day), `min_points` (the project's `min_phase_points`), and the allowed "
        "values of the `*_allowed` rules and the chart sets of row conditions (those filled in "
        "when the suites load), taken from `pipeline/vocabulary.py` ("
        + ", ".join(f"`{name}`" for name in VOCABULARY_PARAMETERS)
        + "; a description's `{name}` is the list in words). Derived columns: "
        "`kz_chart` (the metric's chart type), `kz_unparsed_<column>` (the text of values that "
        "are not a number/date), `kz_value_remainder` (the fractional part of `value`), "
        "`kz_points` (periods with data for the row's site and metric), `kz_metrics_without_data` (an event's metrics with no observation at its site), `kz_spread_from_median` (how many robust spreads, 1.4826 × MAD, a value lies from its site's and metric's median), `kz_lower_bound` / "
        "`kz_upper_bound` (the metric's bounds, for metrics whose chart plots the readings; "
        "no upper bound for sums).",
        "",
        "Two more checks (warnings) compare the data with the calendar, in "
        "`pipeline/data/contracts.py`: "
        + "; ".join(f"`{k}`: {v}" for k, v in FRESHNESS_RULES.items())
        + ". Their outcome is also in each site's validation.json as `empty_window` and `stale` "
        "(`send` refuses a stale report unless `--allow-stale`).",
        "",
        "This file is generated by `python -m pipeline.data.contracts > data_contracts/README.md` "
        "and checked by `tests/test_contracts.py`.",
    ]
    for table, rules in load_rules(directory).items():
        lines += [
            "",
            f"## {table}",
            "",
            "| rule | severity | column | what it checks | expectation |",
        ]
        lines += ["|---|---|---|---|---|"]
        for r in rules:
            cond = _condition_text(r.kwargs.get("row_condition"))
            what = r.description + (f" (rows where `{cond}`)" if cond else "")
            lines.append(
                f"| `{r.rule}` | {r.severity} | {r.column or ''} | {what} | `{r.expectation}` |"
            )
    return "\n".join(lines) + "\n"


def _condition_text(condition: Any) -> str:
    """A GX row condition (serialised Condition object) in words for the README."""
    if not condition:
        return ""
    if isinstance(condition, str):
        return condition
    column = (condition.get("column") or {}).get("name", "?")
    operator, parameter = condition.get("operator", "?"), condition.get("parameter")
    if isinstance(parameter, list):
        parameter = "(" + ", ".join(map(str, parameter)) + ")"
    return f"{column} {str(operator).lower()} {parameter}"


# --------------------------------------------------------------------------- GX engine


class _Engine:
    """An ephemeral GX context with one dataframe asset; built once per process."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        for name in ("great_expectations", "great_expectations.core"):
            logging.getLogger(name).setLevel(logging.ERROR)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_pandas("kaizen")
        asset = source.add_dataframe_asset("table")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        self._suites: dict[tuple[str, tuple[str, ...]], Any] = {}

    def suite(self, table: str, rules: tuple[Rule, ...]) -> Any:
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )
        from great_expectations.expectations.metadata_types import FailureSeverity

        key = (table, tuple(r.rule for r in rules))
        if key not in self._suites:
            expectations = [
                ExpectationConfiguration(
                    type=r.expectation,
                    kwargs=r.kwargs,
                    severity=FailureSeverity(r.severity),
                    meta={"rule": r.rule, "severity": r.severity, "description": r.description},
                ).to_domain_obj()
                for r in rules
            ]
            self._suites[key] = ExpectationSuite(name=table, expectations=expectations)
        return self._suites[key]

    def validate(
        self,
        table: str,
        frame: pd.DataFrame,
        rules: tuple[Rule, ...],
        params: dict[str, Any],
        *,
        order: list[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Validate ``frame`` against ``rules``; the result dict of each rule id that failed
        (``order``, when given, receives every rule id in the order GX reports them).

        Two passes: every rule with GX's ``BOOLEAN_ONLY`` result format (pass or fail, none of
        the unexpected-value metrics), then only the failed rules with ``COMPLETE`` (the failing
        rows' index lists, which attribute each failure to its sites). Valid data, the usual
        case, pays for the first pass alone."""
        if not rules:
            return {}
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})

        def run(subset: tuple[Rule, ...], result_format: str) -> Any:
            wanted = {p for r in subset for p in r.parameters}
            return batch.validate(
                self.suite(table, subset),
                expectation_parameters={k: v for k, v in params.items() if k in wanted},
                result_format={"result_format": result_format, "include_unexpected_rows": False},
            ).results

        ids: list[str] = []
        failing: set[str] = set()
        for r in run(rules, "BOOLEAN_ONLY"):
            rule = str((r.expectation_config.meta or {}).get("rule"))
            ids.append(rule)
            if not r.success:
                failing.add(rule)
        if order is not None:
            order.extend(ids)
        if not failing:
            return {}
        failed: dict[str, dict[str, Any]] = {}
        for r in run(tuple(x for x in rules if x.rule in failing), "COMPLETE"):
            rule = str((r.expectation_config.meta or {}).get("rule"))
            if r.success:
                continue
            info = dict(r.result or {})
            error = _exception_text(r.exception_info)
            if error:
                info["error"] = error
            failed[rule] = info
        # in the order of the first pass (GX's order over the whole suite)
        rank = {rule: k for k, rule in enumerate(ids)}
        return dict(sorted(failed.items(), key=lambda item: rank.get(item[0], len(rank))))


@cache
def _engine() -> _Engine:
    return _Engine()


def _exception_text(info: Any) -> str:
    if not isinstance(info, dict):
        return ""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "error")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "error")
    return ""


# --------------------------------------------------------------------------- validation


def suite_parameters(
    tables: Tables, project: Project, *, as_of: pd.Timestamp, site_ids: Iterable[str]
) -> dict[str, Any]:
    """The cross-table values the suites refer to as ``{"$PARAMETER": name}``."""
    metric_ids = sorted(
        {str(m) for m in tables["metrics"]["metric_id"].dropna().unique()}
        if "metrics" in tables
        else set()
    )
    goals = tables.get("goals")
    goal_ids = (
        sorted({str(g) for g in goals["goal_id"].dropna().unique()}) if goals is not None else []
    )
    alternatives = "|".join(re.escape(m) for m in sorted(metric_ids, key=len, reverse=True))
    pattern = (
        rf"^\s*(?:{alternatives})\s*(?:;\s*(?:{alternatives})\s*)*;?\s*$" if metric_ids else "(?!)"
    )
    configured = list(project.site_ids)
    return {
        "configured_sites": configured,
        "selected_sites": list(site_ids),
        "goal_sites": [*configured, "*"],
        "metric_ids": metric_ids,
        "metric_ids_pattern": pattern,
        "goal_ids": goal_ids,
        "as_of_end": pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1) - pd.Timedelta(1, "ns"),
        "min_points": int(project.statistics.min_phase_points),
        **{name: list(values) for name, values in VOCABULARY_PARAMETERS.items()},
    }


def prepare_frame(
    table: str, tables: Tables, *, as_of_end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The frame GX validates: the typed table plus the derived ``kz_*`` columns (no data copy).

    ``as_of_end`` (the last instant of the report date) decides ``kz_site_dated``: the site of
    each observation not after it (an observation whose timestamp did not parse counts, its own
    rule reports it), so that a site with rows only after the report date has no data for it.
    """
    frame = tables[table]
    out = frame.copy(deep=False)
    for problem in tables.problems:
        if problem.table != table:
            continue
        raw = np.full(len(frame), None, dtype=object)
        raw[list(problem.positions)] = list(problem.values)
        out[f"kz_unparsed_{problem.column}"] = raw
    if table == "observations":
        # low-cardinality text as categoricals: GX's isin / isnull / duplicated then work on
        # codes, several times faster on millions of rows
        for column in ("site_id", "metric_id", "subgroup"):
            out[column] = _as_category(frame[column])
        metrics = tables["metrics"].dropna(subset=["metric_id"]).drop_duplicates("metric_id")
        chart = dict(zip(metrics["metric_id"], metrics["chart"], strict=True))
        period = dict(zip(metrics["metric_id"], metrics["period"], strict=True))
        out["kz_chart"] = out["metric_id"].map(chart).astype("category")
        # a reading chart's row is "summed" when its metric adds its readings up per period
        # (a doubled row then counts twice: critical), "read" otherwise (averaged, or an x-bar
        # subgroup's reading); attribute charts' rows have their own uniqueness rule
        aggregate = dict(zip(metrics["metric_id"], metrics["aggregate"], strict=True))
        reading = out["kz_chart"].isin(READING_CHARTS).to_numpy(dtype=bool)
        summed = (out["metric_id"].map(aggregate) == "sum").to_numpy(dtype=bool) & out[
            "kz_chart"
        ].isin((ChartType.XMR, ChartType.RUN)).to_numpy(dtype=bool)
        kind = np.where(summed, "summed", "read").astype(object)
        kind[~reading] = None
        out["kz_reading"] = pd.Categorical(kind, categories=["read", "summed"])
        # bounds apply to a reading where the chart plots the readings themselves; a sum of
        # readings may exceed the upper bound of one, so that side is left out for sums
        plotted = metrics["chart"].isin(READING_CHARTS).to_numpy()
        summed = (metrics["aggregate"] == "sum").to_numpy()
        for side, keep in (("lower", plotted), ("upper", plotted & ~summed)):
            bound = metrics[f"{side}_bound"].where(keep)
            lookup = dict(zip(metrics["metric_id"], bound, strict=True))
            out[f"kz_{side}_bound"] = out["metric_id"].map(lookup).astype("float64")
        value = frame["value"].to_numpy(dtype="float64")
        out["kz_value_remainder"] = np.abs(value - np.round(value))
        out["kz_points"] = _points_per_series(out, period)
        out["kz_spread_from_median"] = _spreads_from_median(out)
        out["kz_site_dated"] = _dated_sites(out["site_id"], frame["timestamp"], as_of_end)
    if table == "events" and "observations" in tables and "metric_ids" in frame.columns:
        out["kz_metrics_without_data"] = _metrics_without_data(
            frame, tables["observations"], tables["metrics"]
        )
    return out


def _metrics_without_data(
    events: pd.DataFrame, observations: pd.DataFrame, metrics: pd.DataFrame
) -> pd.Series:
    """Each event's defined metrics (of its ``metric_ids``) that have no observation at its
    site, joined by "; " (None where every one has data): the event cannot be measured on them,
    and the report would leave them out without a word. Undefined ids are
    ``metrics_are_defined``'s to report."""
    defined = set(metrics["metric_id"].dropna().astype(str))
    pairs = observations[["site_id", "metric_id"]].dropna().drop_duplicates()
    recorded = set(zip(pairs["site_id"].astype(str), pairs["metric_id"].astype(str), strict=True))
    out = []
    for site, ids in zip(events["site_id"], events["metric_ids"], strict=True):
        names = [m.strip() for m in str(ids if isinstance(ids, str) else "").split(";")]
        missing = [m for m in names if m in defined and (str(site), m) not in recorded]
        out.append("; ".join(missing) if missing else None)
    return pd.Series(out, index=events.index, dtype=object)


def _dated_sites(
    sites: pd.Series, timestamps: pd.Series | None, as_of_end: pd.Timestamp | None
) -> pd.Series:
    """Each observation's site, blank where it is after ``as_of_end`` (one whose timestamp did
    not parse keeps its site: its own rule reports it): what ``site_has_data`` looks at."""
    if as_of_end is None or timestamps is None:
        return sites
    return sites.where(~(timestamps > as_of_end))


#: The median absolute deviation times this estimates the standard deviation of normal data.
_MAD_TO_SD = 1.4826


def _spreads_from_median(frame: pd.DataFrame) -> np.ndarray:
    """How far each reading lies from the median of its site's and metric's readings, in robust
    spreads (``1.4826 * MAD``, which one outlier cannot inflate as it does a standard deviation).

    NaN where that spread is 0 (most readings equal) or the row has no site, metric or value: no
    scale to judge by, so the ``value_plausible`` rule leaves the row alone.
    """
    value = frame["value"].astype("float64")
    keys = [frame["site_id"], frame["metric_id"]]
    median = value.groupby(keys, observed=True, sort=False).transform("median")
    deviation = (value - median).abs()
    spread = deviation.groupby(keys, observed=True, sort=False).transform("median") * _MAD_TO_SD
    return (deviation / spread.where(spread > 0)).to_numpy(dtype="float64")


def _no_data_hint(frame: pd.DataFrame, table: str, site: str, params: Mapping[str, Any]) -> str:
    """Why ``site`` has no data for the report: no rows at all, or none until after its date."""
    if "timestamp" in frame and "site_id" in frame:
        times = frame.loc[frame["site_id"] == site, "timestamp"].dropna()
        if len(times) and params.get("as_of_end") is not None:
            as_of = fmt_date(pd.Timestamp(params["as_of_end"]).normalize())
            return (
                f"no rows in {table} for site_id {site!r} on or before the report date {as_of}: "
                f"its first is on {fmt_date(times.min())}"
            )
    return f"no rows in {table} have site_id {site!r}"


def _as_category(values: pd.Series) -> pd.Series:
    """``values.astype("category")`` (sorted categories, missing as -1) through one
    factorize: converting millions of ids the usual way held several column-sized copies."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(list(uniques))),
        index=values.index,
        name=values.name,
    )


def _points_per_series(frame: pd.DataFrame, period: Mapping[str, str]) -> np.ndarray:
    """For each row, how many periods (day/week/month of its metric, ``period`` by metric id)
    hold data for its site and metric; x-bar metrics count subgroups.

    Works on category codes and int64 keys (no per-row Python objects): on millions of rows the
    temporaries here set the parent's peak memory during validation."""
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype="int64")
    site = _as_category(frame["site_id"]).cat.codes.to_numpy(dtype="int64") + 1
    metric = _as_category(frame["metric_id"])
    width = len(metric.cat.categories) + 1
    metric_codes = metric.cat.codes.to_numpy(dtype="int64")
    series = site * width + metric_codes + 1
    del site
    # the period of each metric, looked up once per metric and spread by code (-1: unknown)
    kinds = {"day": 0, "month": 1}
    per_metric = np.array(
        [kinds.get(str(period.get(m)), 2) for m in metric.cat.categories] + [2], dtype="int8"
    )
    kind = per_metric[metric_codes]
    del metric_codes
    ts = frame["timestamp"].to_numpy(dtype="datetime64[ns]")
    key = ts.astype("datetime64[D]").astype("int64")  # days
    weekly = kind == 2
    # 1970-01-01 was a Thursday; weeks start on Monday
    key[weekly] -= (key[weekly] + 3) % 7
    monthly = kind == 1
    key[monthly] = ts[monthly].astype("datetime64[M]").astype("int64")
    del weekly, monthly, kind
    if "subgroup" in frame.columns and frame["subgroup"].notna().any():
        sub_codes, _ = pd.factorize(frame["subgroup"], use_na_sentinel=True)
        grouped = sub_codes >= 0
        key[grouped] = sub_codes[grouped].astype("int64") + (1 << 40)
        del sub_codes, grouped
    valid = ~np.isnat(ts) & ~np.isnan(frame["value"].to_numpy(dtype="float64"))
    # distinct (series, key) pairs: key codes are < n, so series * n + code fits in an int64
    key_codes, _ = pd.factorize(key[valid])
    pairs = np.unique(series[valid] * np.int64(n) + key_codes)
    del key_codes
    counts = np.bincount(pairs // n, minlength=int(series.max()) + 1)
    return counts[series]


#: Expectations that judge each row on its own (with its row_condition): they may be checked
#: on consecutive chunks of a table and their failing rows put together.
ROW_LOCAL = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_pair_values_a_to_be_greater_than_b",
    }
)
#: Rows GX sees at once for the row-local rules. GX's working memory for a check grows with the
#: rows it sees (several column-sized temporaries per rule), so a table of millions of rows is
#: checked in chunks; a chunk keeps the table's index, so failing rows keep their positions.
VALIDATE_CHUNK_ROWS = 250_000


def _condition_columns(condition: Any) -> set[str] | None:
    """The columns a serialised GX row condition reads (and / or conditions too); None when it
    cannot be told (a condition written as a query string)."""
    if not condition:
        return set()
    if not isinstance(condition, Mapping) or "pass_through_filter" in condition:
        return None  # a query string: any column
    out: set[str] = set()
    column = condition.get("column")
    if isinstance(column, Mapping) and column.get("name"):
        out.add(str(column["name"]))
    for part in condition.get("conditions") or ():  # "and" / "or"
        inner = _condition_columns(part)
        if inner is None:
            return None
        out |= inner
    return out


def _is_chunked_unique(rule: Rule) -> bool:
    """A uniqueness rule :func:`_repeated_rows` checks chunk by chunk (the suites' form of it:
    every row counts, no ``mostly``)."""
    return (
        rule.expectation == "expect_compound_columns_to_be_unique"
        and rule.kwargs.get("ignore_row_if") == "never"
        and "mostly" not in rule.kwargs
        and bool(rule.kwargs.get("column_list"))
    )


def _repeated_rows(frame: pd.DataFrame, rule: Rule) -> list[int]:
    """The positions GX's ``expect_compound_columns_to_be_unique`` reports for ``rule`` on
    ``frame`` (the rows, among those its row condition keeps, whose values in ``column_list``
    occur more than once), without GX holding the whole table's working copies at once.

    Each chunk of ``VALIDATE_CHUNK_ROWS`` rows is filtered by GX's own row-condition filter
    and its keys hashed (64 bits a row); only rows whose hash occurs twice are compared by
    their values, so the answer is exact (a collision of hashes is not a duplicate)."""
    from great_expectations.execution_engine import PandasExecutionEngine

    keys = list(rule.kwargs["column_list"])
    condition = rule.kwargs.get("row_condition")
    needed = [c for c in frame.columns if c in set(keys) | (_condition_columns(condition) or set())]
    if condition and _condition_columns(condition) is None:
        needed = list(frame.columns)
    gx_filter = PandasExecutionEngine()._apply_row_condition_filter
    positions: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    for start in range(0, len(frame), VALIDATE_CHUNK_ROWS):
        part = frame.iloc[start : start + VALIDATE_CHUNK_ROWS][needed]
        if condition:
            part = gx_filter(part, condition, {})
        positions.append(part.index.to_numpy(dtype="int64"))
        hashes.append(pd.util.hash_pandas_object(part[keys], index=False).to_numpy())
        del part
    pos = np.concatenate(positions) if positions else np.zeros(0, dtype="int64")
    digest = np.concatenate(hashes) if hashes else np.zeros(0, dtype="uint64")
    del positions, hashes
    order = np.argsort(digest, kind="stable")
    ranked = digest[order]
    shared = np.zeros(len(ranked), dtype=bool)
    if len(ranked) > 1:
        same = ranked[1:] == ranked[:-1]
        shared[1:] |= same
        shared[:-1] |= same
    candidates = np.sort(pos[order[shared]])
    del order, ranked, shared, digest, pos
    if not len(candidates):
        return []
    rows = frame.loc[candidates, keys]
    return [int(i) for i in rows.index[rows.duplicated(keep=False).to_numpy()]]


def _validate_rows(
    engine: _Engine,
    table: str,
    frame: pd.DataFrame,
    rules: tuple[Rule, ...],
    params: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """``engine.validate`` of ``frame``, the row-local rules chunk by chunk when it is large."""
    if len(frame) <= VALIDATE_CHUNK_ROWS:
        return engine.validate(table, frame, rules, params)
    local = tuple(r for r in rules if r.expectation in ROW_LOCAL and "mostly" not in r.kwargs)
    unique = tuple(r for r in rules if r not in local and _is_chunked_unique(r))
    whole = tuple(r for r in rules if r not in local and r not in unique)
    # the whole-table rules see only the columns they name and the columns of their row
    # conditions (GX filters and copies the frame it is given, so its working copies are then
    # of those columns alone); a condition written as text may name any column: all of them
    named: set[str] = set()
    for r in whole:
        named.update(
            c
            for c in (
                r.kwargs.get("column"),
                r.kwargs.get("column_A"),
                r.kwargs.get("column_B"),
                *r.kwargs.get("column_list", []),
            )  # fmt: skip
            if c
        )
        condition = _condition_columns(r.kwargs.get("row_condition"))
        named.update(frame.columns if condition is None else condition)
    frame_for_whole = frame[[c for c in frame.columns if c in named] or list(frame.columns[:1])]
    failed = engine.validate(table, frame_for_whole, whole, params) if whole else {}
    del frame_for_whole
    for rule in unique:
        repeated = _repeated_rows(frame, rule)
        if repeated:
            failed[rule.rule] = {"unexpected_index_list": repeated}
    for start in range(0, len(frame), VALIDATE_CHUNK_ROWS):
        part = frame.iloc[start : start + VALIDATE_CHUNK_ROWS]
        for rule_id, info in engine.validate(table, part, local, params).items():
            merged = failed.setdefault(rule_id, {})
            if info.get("error"):
                merged.setdefault("error", info["error"])
            if info.get("unexpected_index_list") is not None:
                merged.setdefault("unexpected_index_list", []).extend(info["unexpected_index_list"])
    # in the order one GX call over the whole table reports them (not the suite's order; the
    # failures' order reaches validation.json): learnt from a call on the table's first row
    order: list[str] = []
    engine.validate(table, frame.iloc[:1], rules, params, order=order)
    rank = {rule: i for i, rule in enumerate(order)}
    return dict(sorted(failed.items(), key=lambda item: rank.get(item[0], len(rank))))


def validate_inputs(
    project: Project, *, as_of: Any = None, site_ids: Iterable[str] | None = None
) -> ValidationReport:
    """Read the project's tables and validate them for the selected sites (``validate`` command).

    Raises
    ------
    ConfigError
        Unknown site ids or a bad ``as_of``.
    InputError
        A table cannot be read at all (missing or empty file, not UTF-8, SQL error).
    """
    from pipeline.data.inputs import read_tables

    sites = project.select_sites(list(site_ids) if site_ids else None)
    stamp = parse_as_of(as_of)
    tables = read_tables(project)
    report = validate_project(tables, project, as_of=stamp, site_ids=[s.id for s in sites])
    return replace(report, config_failures=address_failures(project, [s.id for s in sites]))


def address_failures(project: Project, site_ids: Iterable[str]) -> tuple[Failure, ...]:
    """The email addresses in kaizen.yaml that ``send`` would leave out (with the parser ``send``
    uses, :func:`pipeline.data.addresses.address_problem`): each stakeholder of ``site_ids`` (and
    a site with none), the error recipients and ``email.from``. Warnings: an address never stops
    a report."""
    warning = partial(Failure, table=project.path.name, severity=WARNING)
    out: list[Failure] = []

    def bad(text: str) -> str | None:
        problem = address_problem(text)
        return f"{str(text).strip()!r} {problem}" if problem else None

    wanted = set(site_ids)
    for site in project.sites:
        if site.id not in wanted:
            continue
        if not site.stakeholders:
            out.append(
                warning(
                    rule=NO_STAKEHOLDERS,
                    description="each site names at least one stakeholder to email its report to",
                    column="stakeholders",
                    site_id=site.id,
                    hint="none is named, so send reports the site and exits 1; add addresses under its "
                    "stakeholders in kaizen.yaml",
                )
            )
            continue
        problems = [p for p in (bad(a) for a in site.stakeholders) if p]
        if not problems:
            continue
        alone = len(problems) == len(site.stakeholders)
        consequence = (
            "no address of the site is valid: send reports the site and exits 1"
            if alone
            else "send leaves it out and mails the others"
        )
        out += [
            warning(
                rule="stakeholder_is_address",
                description="each stakeholder is one email address (user@domain)",
                column="stakeholders",
                site_id=site.id,
                hint=f"{problem}; {consequence}",
            )
            for problem in problems
        ]
    for problem in filter(None, (bad(a) for a in project.email.error_recipients)):
        out.append(
            warning(
                rule="error_recipient_is_address",
                description="each error recipient is one email address (user@domain)",
                column="email.error_recipients",
                hint=f"{problem}; send leaves it out of the failure email",
            )
        )
    sender = bad(project.email.sender) if project.email.sender else None
    if sender:
        out.append(
            warning(
                rule="sender_is_address",
                description="email.from is one email address (user@domain)",
                column="email.from",
                hint=f"{sender}; send refuses to start unless KAIZEN_SMTP_FROM is set",
            )
        )
    return tuple(out)


class ValidationCache:
    """What GX found for each table at the last validation, kept in a JSON file (a run folder's
    ``.validation-cache.json``), so that a table that did not change is not validated again.

    An entry is keyed by a digest of everything GX's answer for a table depends on: the table's
    stored bytes (the digest the incremental run takes before reading: a file's bytes, a SQL
    table's rows), the metrics table's (the derived ``kz_*`` columns come from it; for events
    also the observations', which say which metrics a site records), every
    contract suite, the suite parameters the table's rules name (sites, metric and goal ids,
    as_of, min points), the sites' time zones (how times are read), the package version. What
    is cached is GX's result for each failed rule; attributing failures to sites, freshness and
    row counts are worked out from the tables every time. The file keeps only the entries of
    the last validation."""

    FORMAT = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data.get("tables", {}) if data.get("format") == self.FORMAT else {}
        except (OSError, ValueError, AttributeError):
            entries = {}
        self._old: dict[str, Any] = entries if isinstance(entries, dict) else {}
        self._new: dict[str, Any] = {}
        #: Tables whose result came from the file / were validated, in this validation.
        self.hits: list[str] = []
        self.misses: list[str] = []

    def key(
        self,
        table: str,
        digests: Mapping[str, str],
        params: Mapping[str, Any],
        rules: tuple[Rule, ...],
        project: Project,
    ) -> str | None:
        if table not in digests:
            return None
        from pipeline import __version__

        wanted = sorted({p for r in rules for p in r.parameters})
        parts = [
            self.FORMAT,
            __version__,
            table,
            digests[table],
            digests.get("metrics", ""),
            # an event's metrics without data at its site are read from the observations
            digests.get("observations", "") if table == "events" else "",
            _suites_digest(),
            [(k, params.get(k)) for k in wanted],
            sorted(project.timezones().items()),
        ]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()

    def get(self, table: str, key: str | None) -> dict[str, dict[str, Any]] | None:
        entry = self._old.get(key) if key else None
        if entry is None:
            self.misses.append(table)
            return None
        self.hits.append(table)
        self._new[str(key)] = entry
        return {str(k): dict(v) for k, v in entry.items()}

    def put(
        self, key: str | None, results: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Keep ``results`` for ``key``; returns them as :meth:`get` will give them back."""
        # the parts of GX's result the report is built from (see _attribute), as JSON gives
        # them back (NaN included: an observed value may be one)
        slim = {
            rule: {k: v for k, v in info.items() if k in _RESULT_KEYS}
            for rule, info in results.items()
        }
        kept: dict[str, dict[str, Any]] = json.loads(json.dumps(slim, default=str))
        if key:
            self._new[key] = kept
        return {k: dict(v) for k, v in kept.items()}

    def save(self) -> None:
        from pipeline.files import atomic_write_text

        data = {"format": self.FORMAT, "tables": self._new}
        atomic_write_text(self.path, json.dumps(data, separators=(",", ":")) + "\n")


#: What the report reads of GX's result for a failed rule (all a cache entry keeps).
_RESULT_KEYS = frozenset(
    {
        "error",
        "details",
        "missing_list",
        "partial_missing_list",
        "missing_count",
        "unexpected_index_list",
        "observed_value",
    }
)


def _suites_digest() -> str:
    h = hashlib.sha256()
    # the row conditions' chart sets come from the vocabulary, not the files
    h.update(json.dumps(VOCABULARY_PARAMETERS, sort_keys=True).encode())
    for path in sorted(SUITES_DIR.glob("*.json")):
        h.update(path.name.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def validate_project(
    tables: Tables,
    project: Project,
    *,
    as_of: pd.Timestamp,
    site_ids: Iterable[str],
    digests: Mapping[str, str] | None = None,
    cache: ValidationCache | None = None,
) -> ValidationReport:
    """Validate every table once and give each of ``site_ids`` its failures.

    A whole-table failure counts for every site; a failing row for the site on the row; a failing
    metric definition for the sites that use the metric; rows of an unconfigured site go to
    ``project_failures``.

    With ``cache`` and ``digests`` (each table's digest of its stored bytes, see
    :class:`ValidationCache`), a table whose digest, suites and parameters are those of the
    cache's last validation is not validated again (GX is not even imported when none is);
    the report is the one a validation would give.
    """
    import time

    started = time.perf_counter()
    site_ids = list(site_ids)
    selected = set(site_ids)
    configured = set(project.site_ids)
    params = suite_parameters(tables, project, as_of=as_of, site_ids=site_ids)
    rules_by_table = load_rules()
    per_site: dict[str, list[Failure]] = {s: [] for s in site_ids}
    project_failures: list[Failure] = []
    checked = 0
    metric_sites = _metric_sites(tables)

    for table in TABLES:
        if table not in tables:
            continue
        rules = rules_by_table[table]
        frame = tables[table]
        source_columns = tables.columns.get(table, tuple(frame.columns))
        missing = {c for c in SCHEMA[table] if c not in source_columns}
        unparsed = {p.column for p in tables.problems if p.table == table}

        structure = tuple(r for r in rules if r.is_structure)
        row_rules = tuple(
            r
            for r in rules
            if not r.is_structure
            and not (set(r.columns) & missing)
            and not (
                str(r.kwargs.get("column", "")).startswith("kz_unparsed_")
                and r.column not in unparsed
            )
        )
        checked += len(structure) + len(
            [r for r in rules if not r.is_structure and not (set(r.columns) & missing)]
        )
        key = cache.key(table, digests or {}, params, rules, project) if cache else None
        cached = cache.get(table, key) if cache else None
        if cached is not None:
            results = cached
        else:
            engine = _engine()
            header_cols = list(source_columns) + [
                c for c in OPTIONAL_COLUMNS.get(table, ()) if c not in source_columns
            ]
            header = pd.DataFrame({c: pd.Series(dtype=object) for c in dict.fromkeys(header_cols)})
            results = engine.validate(table, header, structure, params)
            if row_rules:
                results.update(
                    _validate_rows(
                        engine,
                        table,
                        prepare_frame(table, tables, as_of_end=params["as_of_end"]),
                        row_rules,
                        params,
                    )
                )
            if cache:  # as the cache will give it back next time, so both read the same
                results = cache.put(key, results)

        by_id = {r.rule: r for r in rules}
        unparsed_rows = {p.column: set(p.positions) for p in tables.problems if p.table == table}
        for rule_id, info in results.items():
            rule = by_id[rule_id]
            if unparsed_rows and info.get("unexpected_index_list") is not None:
                kept = _without_unparsed(rule, info["unexpected_index_list"], unparsed_rows, frame)
                if not kept:
                    continue
                info = {**info, "unexpected_index_list": kept}
            for site, failure in _attribute(rule, info, tables, params, metric_sites):
                if site is None or site == "*":
                    for s in site_ids:
                        per_site[s].append(_with_site(failure, s))
                elif site in selected:
                    per_site[site].append(failure)
                elif site not in configured:
                    project_failures.append(failure)

    for failure in project_failures:
        log.warning("data contract (%s): %s", failure.severity, failure)
    counts = _row_counts(tables, site_ids)
    fresh = freshness_failures(
        tables, as_of=as_of, window_start=project.lookback_start(as_of), site_ids=site_ids
    )
    checked += len(FRESHNESS_RULES)
    order: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}
    return ValidationReport(
        sites={
            s: SiteValidation(
                site_id=s,
                failures=tuple(sorted([*per_site[s], *fresh[s]], key=lambda f: order[f.severity])),
                row_counts=counts[s],
                rules_checked=checked,
                stale=any(f.rule == "data_is_current" for f in fresh[s]),
                empty_window=any(f.rule == "window_has_data" for f in fresh[s]),
            )
            for s in site_ids
        },
        project_failures=tuple(project_failures),
        seconds=time.perf_counter() - started,
    )


#: Checks of the data against the calendar (not GX suites: they need as_of and the window).
FRESHNESS_RULES = {
    "window_has_data": "the report window (lookback before as_of) holds observations of the site",
    "data_is_current": (
        "the site has observations in the last periods before as_of (its metrics' last two "
        "weeks or months; the last 7 days for daily metrics)"
    ),
}
#: How far back from the start of as_of's period the newest observation may lie.
_STALE_AFTER = {
    "day": pd.DateOffset(days=7),
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
}


def freshness_failures(
    tables: Tables, *, as_of: pd.Timestamp, window_start: pd.Timestamp, site_ids: Iterable[str]
) -> dict[str, list[Failure]]:
    """Warnings for sites whose report would be empty or out of date.

    ``window_has_data`` fails when no observation of the site falls between ``window_start``
    and ``as_of``; ``data_is_current`` when no metric of the site has an observation in the
    period of ``as_of`` or the one before (for daily metrics: the last 7 days), e.g. a run
    with ``--as-of`` far after the data. Sites without any observation are left to the
    ``site_has_data`` contract (critical), but are stale too.
    """
    obs = tables["observations"]
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    metrics = tables["metrics"].dropna(subset=["metric_id"]).drop_duplicates("metric_id")
    period = dict(zip(metrics["metric_id"], metrics["period"], strict=True))
    valid = obs[obs["timestamp"].notna() & (obs["timestamp"] < end)]
    last = valid.groupby(["site_id", "metric_id"], observed=True)["timestamp"].max()
    out: dict[str, list[Failure]] = {}
    for site in site_ids:
        failures: list[Failure] = []
        mine = last[last.index.get_level_values(0) == site] if len(last) else last
        base: dict[str, Any] = {"table": "observations", "severity": WARNING, "column": "timestamp",
                "site_id": site, "expectation": None}  # fmt: skip
        if not len(mine) or mine.max() < window_start:
            failures.append(
                Failure(
                    **base,
                    rule="window_has_data",
                    description=FRESHNESS_RULES["window_has_data"],
                    examples=(f"window {_fmt(window_start)} to {_fmt(as_of)}",),
                    hint="check --as-of and lookback",
                )
            )
        recent = []
        for (_, metric), stamp in mine.items():
            p = str(period.get(metric, "week"))
            p = p if p in _STALE_AFTER else "week"
            start = period_start(pd.Series([pd.Timestamp(as_of)]), p).iat[0]
            recent.append(stamp >= start - _STALE_AFTER[p])
        if not any(recent):
            newest = _fmt(mine.max()) if len(mine) else "none"
            failures.append(
                Failure(
                    **base,
                    rule="data_is_current",
                    description=FRESHNESS_RULES["data_is_current"],
                    examples=(f"newest observation {newest}, as_of {_fmt(as_of)}",),
                    hint="the report shows old data: check --as-of and that the extract is current",
                )
            )
        out[site] = failures
    return out


def _with_site(failure: Failure, site_id: str) -> Failure:
    from dataclasses import replace

    return replace(failure, site_id=site_id)


def _metric_sites(tables: Tables) -> dict[str, set[str]]:
    """Which sites use each metric (observations, events, goals)."""
    out: dict[str, set[str]] = {}
    obs = tables["observations"]
    pairs = obs[["metric_id", "site_id"]].dropna().drop_duplicates()
    for m, s in zip(pairs["metric_id"], pairs["site_id"], strict=True):
        out.setdefault(str(m), set()).add(str(s))
    events = tables["events"]
    for ids, s in zip(events["metric_ids"], events["site_id"], strict=True):
        if isinstance(ids, str) and isinstance(s, str):
            for m in ids.split(";"):
                out.setdefault(m.strip(), set()).add(s)
    return out


def _row_counts(tables: Tables, site_ids: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {s: {} for s in site_ids}
    for name, frame in tables.frames.items():
        if "site_id" in frame.columns and name not in GLOBAL_TABLES:
            vc = frame["site_id"].value_counts()
            shared = int(vc.get("*", 0)) if name == "goals" else 0
            for s in site_ids:
                counts[s][name] = int(vc.get(s, 0)) + shared
        else:
            for s in site_ids:
                counts[s][name] = len(frame)
    return counts


def _without_unparsed(
    rule: Rule, positions: Iterable[Any], unparsed: Mapping[str, set[int]], frame: pd.DataFrame
) -> list[Any]:
    """The failing ``positions`` of ``rule`` less the rows it fails only because a value did
    not parse: that value is reported once, by its ``*_is_number`` / ``*_is_date`` rule.

    A value that did not parse is blank to a not-blank rule; and rows whose key did not parse
    have the same (missing) key, so that a uniqueness rule takes them for copies of each
    other (``one_row_per_sample`` with ``timestamp=NaT`` for every day-first date): those rows
    are left out and the rest are checked again among themselves."""
    positions = list(positions)
    if rule.expectation == "expect_column_values_to_not_be_null":
        skip = unparsed.get(str(rule.column), set())
        return [p for p in positions if int(p) not in skip]
    if rule.expectation != "expect_compound_columns_to_be_unique":
        return positions
    keys = list(rule.kwargs.get("column_list") or ())
    skip = set().union(*(unparsed.get(c, set()) for c in keys))
    kept = [p for p in positions if int(p) not in skip]
    if len(kept) == len(positions):
        return kept
    rows = frame.iloc[[int(p) for p in kept]][keys]
    return [p for p, again in zip(kept, rows.duplicated(keep=False), strict=True) if again]


def _attribute(
    rule: Rule,
    info: Mapping[str, Any],
    tables: Tables,
    params: Mapping[str, Any],
    metric_sites: Mapping[str, set[str]],
) -> list[tuple[str | None, Failure]]:
    """Split one failed rule into (site, Failure) pairs; site None means every site."""
    table = rule.table
    base: dict[str, Any] = {
        "table": table,
        "rule": rule.rule,
        "description": rule.description,
        "severity": rule.severity,
        "column": rule.column,
        "expectation": rule.expectation,
    }
    if info.get("error"):
        text = f"{rule.description} (the rule could not be checked: {info['error']})"
        return [(None, Failure(**{**base, "description": text}))]

    if rule.expectation == "expect_table_columns_to_match_set":
        unexpected = (info.get("details") or {}).get("mismatched", {}).get("unexpected") or []
        if not unexpected:
            return []  # missing columns are reported by their own expect_column_to_exist rule
        return [
            (
                None,
                Failure(
                    **{**base, "column": ", ".join(unexpected)},
                    examples=tuple(unexpected),
                    unexpected_count=len(unexpected),
                    hint="unknown columns are ignored; check for a typo in the header",
                ),
            )
        ]
    if rule.expectation == "expect_column_to_exist":
        has = ", ".join(tables.columns.get(table, ())) or "no columns"
        return [(None, Failure(**base, hint=f"the source has the columns {has}"))]
    if rule.expectation == "expect_column_distinct_values_to_contain_set":
        missing = list(info.get("missing_list") or info.get("partial_missing_list") or [])
        frame = tables[table]
        if int(info.get("missing_count") or 0) > len(missing):  # GX shortens the list
            end = params.get("as_of_end") if "timestamp" in frame else None
            dated = _dated_sites(frame["site_id"], frame.get("timestamp"), end)
            present = set(dated.dropna().unique())
            missing = [s for s in params.get("selected_sites", []) if s not in present]
        return [
            (s, Failure(**base, site_id=s, hint=_no_data_hint(frame, table, s, params)))
            for s in map(str, missing)
        ]
    positions = info.get("unexpected_index_list")
    if positions is None:
        observed = info.get("observed_value")
        ex = (f"observed: {observed}",) if observed is not None else ()
        return [(None, Failure(**base, examples=ex))]

    frame = tables[table]
    pos = np.asarray([int(p) for p in positions], dtype="int64")
    if len(pos) == 0:
        return [(None, Failure(**base))]
    if table in GLOBAL_TABLES:
        groups: dict[str | None, list[int]] = {}
        metric = frame["metric_id"].to_numpy(dtype=object)[pos]
        for p, m in zip(pos, metric, strict=True):
            users: set[str | None] = (
                set(metric_sites.get(str(m), ())) if isinstance(m, str) else set()
            )
            for s in sorted(users or {None}, key=lambda x: x or ""):
                groups.setdefault(s, []).append(int(p))
        keys: list[tuple[str | None, np.ndarray]] = [(s, np.asarray(v)) for s, v in groups.items()]
        # a definition no site uses fails nobody's report, but is still worth telling
        keys = [(s if s is not None else "(no site uses it)", v) for s, v in keys]
    else:
        site_values = frame["site_id"].to_numpy(dtype=object)[pos]
        labels = np.array(
            [s if isinstance(s, str) else "(blank site_id)" for s in site_values], dtype=object
        )
        order = np.argsort(labels, kind="stable")
        uniq, starts = np.unique(labels[order], return_index=True)
        split = np.split(pos[order], starts[1:])
        keys = [(str(u), np.sort(v)) for u, v in zip(uniq, split, strict=True)]

    hint = ""
    if rule.rule in _BOUND_RULES:
        hint = _BOUND_HINT
    if rule.rule.endswith(("_is_number", "_is_date")):
        from pipeline.data.inputs import describe_bad_values

        written = {(p.table, p.column): p.expected for p in tables.problems}
        hint = describe_bad_values(
            _examples(rule, frame, pos[:_MAX_EXAMPLES], tables),
            "date"
            if rule.rule.endswith("_is_date")
            else written.get((table, rule.column or ""), "number"),
            column=rule.column,
        )
    out: list[tuple[str | None, Failure]] = []
    for site, rows in keys:
        site_id = None if site == "*" else site
        out.append(
            (
                site,
                Failure(
                    **base,
                    rows=tables.row_numbers(table, rows[:_MAX_ROWS_KEPT]),
                    examples=_examples(rule, frame, rows, tables),
                    unexpected_count=len(rows),
                    site_id=site_id,
                    hint=hint,
                ),
            )
        )
    return out


def _examples(rule: Rule, frame: pd.DataFrame, rows: np.ndarray, tables: Tables) -> tuple[str, ...]:
    """Up to five distinct examples of what is wrong, in the source's own words."""
    kw = rule.kwargs
    column = kw.get("column")
    out: list[str] = []
    for p in rows:
        p = int(p)
        if column and column.startswith("kz_unparsed_"):
            text = _raw_value(tables, rule.table, column.removeprefix("kz_unparsed_"), p)
        elif column == "kz_points":
            n = _points_of(frame, p, tables)
            text = f"{frame['metric_id'].iat[p]}: {count_of(n, 'period')} with data"
        elif column == "kz_value_remainder":
            text = _fmt(frame["value"].iat[p])
        elif column == "kz_metrics_without_data":
            one = frame.iloc[[p]]
            lacking = _metrics_without_data(one, tables["observations"], tables["metrics"]).iat[0]
            text = f"{frame['event_id'].iat[p]}: no observations of {lacking} at this site"
        elif column == "kz_spread_from_median":
            same = (frame["site_id"] == frame["site_id"].iat[p]) & (
                frame["metric_id"] == frame["metric_id"].iat[p]
            )
            median = float(frame.loc[same, "value"].median())
            text = f"{_fmt(frame['value'].iat[p])} (its readings' median {_fmt(median)})"
        elif column:
            text = _shown(frame, column, p, tables, rule.table)
        elif "column_A" in kw:
            pair = [
                (c, _shown(frame, c, p, tables, rule.table))
                for c in (kw["column_A"], kw["column_B"])
            ]
            text = ", ".join(f"{c.removeprefix('kz_')}={v}" for c, v in pair)
        else:
            text = ", ".join(
                f"{c}={_shown(frame, c, p, tables, rule.table)}" for c in kw.get("column_list", [])
            )
        if text not in out:
            out.append(text)
        if len(out) >= _MAX_EXAMPLES:
            break
    return tuple(out)


def _cell(frame: pd.DataFrame, column: str, position: int, tables: Tables) -> Any:
    """A cell of the table, or of a derived ``kz_<side>_bound`` column (the row's metric's bound)."""
    if column in ("kz_lower_bound", "kz_upper_bound"):
        metrics = tables["metrics"].dropna(subset=["metric_id"]).drop_duplicates("metric_id")
        bounds = dict(zip(metrics["metric_id"], metrics[column.removeprefix("kz_")], strict=True))
        return bounds.get(frame["metric_id"].iat[position])
    return frame[column].iat[position]


def _shown(frame: pd.DataFrame, column: str, position: int, tables: Tables, table: str) -> str:
    """A cell for an example: its value, or the text in the file when it did not parse (never
    NaT or NaN), or "(blank)"."""
    value = _cell(frame, column, position, tables)
    if _is_blank(value):
        raw = _raw_value(tables, table, column, position)
        return raw or _fmt(None)
    return _fmt(value)


def _raw_value(tables: Tables, table: str, column: str, position: int) -> str:
    for problem in tables.problems:
        if problem.table == table and problem.column == column:
            try:
                return problem.values[problem.positions.index(position)]
            except ValueError:
                break
    return ""


def _points_of(frame: pd.DataFrame, position: int, tables: Tables) -> int:
    site, metric = frame["site_id"].iat[position], frame["metric_id"].iat[position]
    part = frame[(frame["site_id"] == site) & (frame["metric_id"] == metric)]
    metrics = tables["metrics"]
    period = metrics.loc[metrics["metric_id"] == metric, "period"]
    p = str(period.iat[0]) if len(period) else "week"
    sub = part.dropna(subset=["timestamp", "value"])

    if p not in ("day", "week", "month"):
        p = "week"
    return int(period_start(sub["timestamp"], p).nunique())


def _is_blank(value: Any) -> bool:
    """None, NaN, NaT or NA: a cell with nothing in it (an infinity is a value, shown as one)."""
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def _fmt(value: Any) -> str:
    """A cell as a message shows it: a missing value (None, NaN, NaT, NA) is "(blank)"."""
    if _is_blank(value):
        return "(blank)"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat(" ")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float) and abs(value) >= 1e15:
        return f"{value:g}"  # 1e+300, not its 301 digits
    return str(value)


__all__ = [
    "CRITICAL",
    "WARNING",
    "Failure",
    "Rule",
    "SiteValidation",
    "ValidationReport",
    "load_rules",
    "prepare_frame",
    "render_readme",
    "suite_parameters",
    "NO_STAKEHOLDERS",
    "address_failures",
    "validate_inputs",
    "validate_project",
    "ValidationCache",
]


if __name__ == "__main__":  # python -m pipeline.data.contracts > data_contracts/README.md
    print(render_readme(), end="")
