"""The data contracts: suites are well-formed GX 1.x suites, the README lists every rule, the demo
passes with only its built-in warning, and failures are attributed to the right sites."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.config import TABLES, load_project
from pipeline.data.contracts import (
    SUITES_DIR,
    Failure,
    SiteValidation,
    load_rules,
    render_readme,
    suite_parameters,
    validate_project,
)
from pipeline.data.inputs import parse_tables, read_tables
from tests.conftest import AS_OF
from tests.contract_fixtures import only, validate

DEMO_AS_OF = "2026-06-29"


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.data.demo import write_demo_project

    root = tmp_path_factory.mktemp("demo")
    return write_demo_project(root / "demo", as_of=DEMO_AS_OF, output=root / "out")


def test_every_table_has_a_suite_with_severity_and_description() -> None:
    rules = load_rules()
    assert set(rules) == set(TABLES)
    for table in TABLES:
        doc = json.loads((SUITES_DIR / f"{table}.json").read_text())
        assert doc["name"] == table and doc["expectations"]
        for exp in doc["expectations"]:
            assert exp["meta"]["severity"] in ("critical", "warning")
            assert exp["severity"] == exp["meta"]["severity"]
            assert len(exp["meta"]["description"]) > 10
        ids = [r.rule for r in rules[table]]
        assert len(ids) == len(set(ids)), table


def test_suites_load_into_great_expectations() -> None:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    for table in TABLES:
        doc = json.loads((SUITES_DIR / f"{table}.json").read_text())
        expectations = [
            ExpectationConfiguration(
                type=e["type"], kwargs=e["kwargs"], meta=e["meta"]
            ).to_domain_obj()
            for e in doc["expectations"]
        ]
        suite = ExpectationSuite(name=table, expectations=expectations)
        assert len(suite.expectations) == len(doc["expectations"])


def test_readme_lists_every_rule_and_is_current() -> None:
    readme = (SUITES_DIR / "README.md").read_text()
    assert readme == render_readme(), (
        "regenerate: python -m pipeline.data.contracts > data_contracts/README.md"
    )
    for table, rules in load_rules().items():
        assert f"## {table}" in readme
        for r in rules:
            assert f"`{r.rule}`" in readme


def test_required_coverage_is_in_the_suites() -> None:
    rules = {(r.table, r.rule): r for rs in load_rules().values() for r in rs}
    for key in [
        ("metrics", "chart_allowed"), ("metrics", "better_allowed"), ("metrics", "period_allowed"),
        ("metrics", "aggregate_allowed"), ("metrics", "metric_id_unique"),
        ("events", "kind_allowed"), ("events", "status_allowed"), ("events", "event_id_unique"),
        ("events", "effective_date_not_before_start_date"), ("events", "metrics_are_defined"),
        ("goals", "target_kind_allowed"), ("observations", "n_positive"),
        ("observations", "defectives_not_above_n"), ("observations", "count_is_whole"),
        ("observations", "count_not_negative"), ("observations", "one_row_per_sample"),
        ("observations", "site_is_configured"), ("observations", "site_has_data"),
        ("observations", "metric_is_defined"), ("observations", "enough_points"),
        ("observations", "value_not_blank"), ("observations", "timestamp_not_after_as_of"),
        ("observations", "no_unknown_columns"), ("observations", "timestamp_is_date"),
    ]:  # fmt: skip
        assert key in rules, key
    assert rules[("observations", "value_not_blank")].severity == "warning"
    assert rules[("observations", "enough_points")].severity == "warning"
    assert rules[("observations", "no_unknown_columns")].severity == "warning"
    # cross-table values come in as suite parameters
    assert rules[("observations", "metric_is_defined")].parameters == ("metric_ids",)
    assert rules[("events", "metrics_are_defined")].parameters == ("metric_ids_pattern",)
    assert rules[("observations", "site_is_configured")].parameters == ("configured_sites",)


def test_demo_passes_with_its_built_in_warning_only(demo_project: Path) -> None:
    report = validate(demo_project, as_of=DEMO_AS_OF)
    assert report.success and not report.project_failures
    statuses = {s: v.status for s, v in report.sites.items()}
    assert statuses == {
        "fab-dresden": "ok",
        "hotel-lisbon": "ok",
        "build-manchester": "ok",
        "atelier-florence": "warnings",
    }
    (failure,) = report.for_site("atelier-florence").failures
    assert failure.rule == "value_not_blank" and failure.severity == "warning"
    assert failure.unexpected_count == 5 and failure.column == "value"
    frame = pd.read_csv(demo_project.parent / "data" / "observations.csv", dtype=str)
    blank = frame.index[frame["value"].isna()] + 2
    assert failure.rows == tuple(int(r) for r in blank)
    assert {"atelier_lead_time"} == set(frame.loc[frame["value"].isna(), "metric_id"])


def test_site_validation_dict_has_what_the_report_reads(demo_project: Path) -> None:
    report = validate(demo_project, as_of=DEMO_AS_OF)
    doc = report.for_site("atelier-florence").to_dict()
    assert doc["status"] == "warnings" and doc["rules_checked"] > 100
    assert doc["row_counts"]["observations"] > 0 and doc["row_counts"]["metrics"] == 17
    (f,) = doc["failures"]
    for key in ("severity", "table", "column", "description", "rows", "examples", "rule"):
        assert key in f
    json.dumps(report.to_dict(), allow_nan=False)


def test_suite_parameters(mini_project: Path) -> None:
    project = load_project(mini_project)
    tables = read_tables(project)
    params = suite_parameters(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["north"])
    assert params["configured_sites"] == ["north", "south"] and params["selected_sites"] == [
        "north"
    ]
    assert params["metric_ids"] == ["defects", "lead_time"]
    import re

    pattern = re.compile(params["metric_ids_pattern"])
    assert pattern.match("lead_time") and pattern.match("lead_time; defects")
    assert not pattern.match("lead_time;scrap") and not pattern.match("lead")
    assert params["as_of_end"] == pd.Timestamp("2026-06-29 23:59:59.999999999")


def test_only_selected_sites_are_reported(mini_project: Path) -> None:
    project = load_project(mini_project)
    tables = read_tables(project)
    report = validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["south"])
    assert list(report.sites) == ["south"] and report.success


def test_metric_definition_failure_goes_to_the_sites_using_it() -> None:
    raw = {
        "metrics": pd.DataFrame(
            {"metric_id": ["a", "b", "c"], "name": ["A", "B", "C"], "unit": ["u"] * 3,
             "chart": ["xmr", "pie", "bar"], "better": ["lower"] * 3, "period": ["week"] * 3,
             "aggregate": ["mean"] * 3}
        ),
        "observations": pd.DataFrame(
            {"site_id": ["s1"] * 20 + ["s2"] * 20, "metric_id": ["a"] * 20 + ["b"] * 20,
             "timestamp": [f"2026-{m:02d}-01" for m in range(1, 11)] * 4,
             "value": ["1"] * 40}
        ),
        "events": pd.DataFrame(columns=["site_id", "event_id", "title", "kind", "start_date",
                                        "effective_date", "metric_ids", "owner", "status"]),
    }  # fmt: skip
    tables = parse_tables(raw)
    project = _project(["s1", "s2"])
    report = validate_project(
        tables, project, as_of=pd.Timestamp("2026-12-31"), site_ids=["s1", "s2"]
    )
    bad = only(report, "s2", "chart_allowed")
    assert bad.rows == (3,) and bad.examples == ("pie",)
    assert not [f for f in report.for_site("s1").failures if f.severity == "critical"]
    # metric c is used by nobody: a project-level failure, no site fails for it
    unused = only(report, None, "chart_allowed")
    assert unused.rows == (4,) and unused.examples == ("bar",)
    # 10 weekly periods < min_phase_points (12): enough_points warns, naming the metric
    warn = only(report, "s1", "enough_points")
    assert warn.severity == "warning" and warn.examples == ("a: 10 periods with data",)


def _project(sites: list[str]):
    from pipeline.data.config import EmailSettings, Project, Site, StatisticsSettings

    return Project(
        path=Path("/nonexistent/kaizen.yaml"), name="t", output=Path("/nonexistent/out"),
        lookback_amount=12, lookback_unit="month", tables={},
        sites=tuple(Site(id=s, name=s) for s in sites),
        statistics=StatisticsSettings(), email=EmailSettings(),
    )  # fmt: skip


def test_thousands_of_sites_in_one_pass() -> None:
    """Per-site attribution comes from one validation of each table, not one GX run per site."""
    n_sites = 2000
    sites = [f"site-{i:04d}" for i in range(n_sites)]
    weeks = pd.date_range("2025-01-06", periods=14, freq="W-MON").strftime("%Y-%m-%d")
    obs = pd.DataFrame(
        {"site_id": [s for s in sites for _ in weeks], "metric_id": "m",
         "timestamp": list(weeks) * n_sites, "value": "1"}
    )  # fmt: skip
    obs.loc[obs.index[-1], "value"] = "x"
    raw = {
        "metrics": pd.DataFrame([["m", "M", "u", "xmr", "lower", "week", "mean"]],
                                columns=["metric_id", "name", "unit", "chart", "better", "period", "aggregate"]),
        "observations": obs,
        "events": pd.DataFrame(columns=["site_id", "event_id", "title", "kind", "start_date",
                                        "effective_date", "metric_ids", "owner", "status"]),
    }  # fmt: skip
    report = validate_project(
        # as_of just after the 14 weeks of data: later, every site would be stale (a warning)
        parse_tables(raw),
        _project(sites),
        as_of=pd.Timestamp("2025-04-14"),
        site_ids=sites,
    )
    assert report.failed_sites == (sites[-1],)
    assert only(report, sites[-1], "value_is_number").rows == (len(obs) + 1,)
    assert report.for_site(sites[0]).status == "ok"


def test_failure_text_and_reason() -> None:
    f = Failure(table="observations", rule="x", description="value is a number", severity="critical",
                column="value", rows=tuple(range(2, 12)), examples=("12,5",), unexpected_count=10,
                site_id="north", hint="use a point")  # fmt: skip
    assert str(f) == (
        "site 'north', table 'observations', column 'value': rule not met on lines 2, 3, 4, 5, 6 "
        "and 5 more — value is a number; e.g. '12,5'. Use a point"
    )
    v = SiteValidation(site_id="north", failures=(f,))
    assert v.status == "failed" and v.reason() == f"data contract failed: {f}"
    assert v.problems() == (str(f),)


def test_every_critical_rule_is_in_the_reason_one_a_line() -> None:
    """A site that fails several critical rules: the reason counts them and lists each in full
    (the run log, the manifest's error), problems() has each; warnings are not among them."""
    neg = Failure(table="observations", rule="value_not_below_lower_bound", severity="critical",
                  description="value is not below its metric's lower_bound", column="value",
                  rows=(3774,), unexpected_count=1, examples=("value=-4, lower_bound=0",),
                  site_id="north")  # fmt: skip
    day_first = Failure(table="observations", rule="timestamp_is_date", severity="critical",
                        description="timestamp is a date, YYYY-MM-DD", column="timestamp",
                        rows=(3775,), unexpected_count=1, examples=("31/01/2026",),
                        site_id="north")  # fmt: skip
    blank = Failure(table="observations", rule="value_filled", severity="warning",
                    description="value is filled in", column="value", unexpected_count=5)  # fmt: skip
    v = SiteValidation(site_id="north", failures=(neg, blank, day_first))
    assert v.problems() == (str(neg), str(day_first))
    assert v.reason().splitlines() == [
        "data contract failed: 2 critical rules not met:",
        "- site 'north', table 'observations', column 'value': rule not met on line 3774 — "
        "value is not below its metric's lower_bound; e.g. 'value=-4, lower_bound=0'",
        "- site 'north', table 'observations', column 'timestamp': rule not met on line 3775 — "
        "timestamp is a date, YYYY-MM-DD; e.g. '31/01/2026'",
    ]
    assert (
        str(blank)
        == "table 'observations', column 'value': rule not met on 5 rows — value is filled in"
    )


def test_metric_bounds_are_checked() -> None:
    """lower_bound/upper_bound: numbers, in order; readings outside them are values the metric
    cannot take, critical failures naming the rows (a sum is not checked against the upper
    bound of one reading)."""
    raw = {
        "metrics": pd.DataFrame(
            {"metric_id": ["hours", "score", "bad"], "name": ["H", "S", "B"], "unit": ["h"] * 3,
             "chart": ["xmr", "xmr", "xmr"], "better": ["lower"] * 3, "period": ["week"] * 3,
             "aggregate": ["sum", "mean", "mean"], "lower_bound": ["0", "0", "5"],
             "upper_bound": ["", "100", "5"]}
        ),
        "observations": pd.DataFrame(
            {"site_id": ["s1"] * 6, "metric_id": ["hours", "hours", "score", "score", "hours", "bad"],
             "timestamp": [f"2026-0{m}-01" for m in range(1, 7)],
             "value": ["-2", "500", "101", "50", "3", "5"]}
        ),
        "events": pd.DataFrame(columns=["site_id", "event_id", "title", "kind", "start_date",
                                        "effective_date", "metric_ids", "owner", "status"]),
    }  # fmt: skip
    report = validate_project(
        parse_tables(raw), _project(["s1"]), as_of=pd.Timestamp("2026-12-31"), site_ids=["s1"]
    )
    order = only(report, "s1", "bounds_in_order")
    assert order.severity == "critical" and order.rows == (4,)
    low = only(report, "s1", "value_not_below_lower_bound")
    assert low.severity == "critical" and low.rows == (2,)
    assert low.examples == ("value=-2, lower_bound=0",)
    high = only(report, "s1", "value_not_above_upper_bound")
    assert high.severity == "critical" and high.rows == (4,)  # 500 hours is a sum: not checked
    raw["metrics"].loc[0, "lower_bound"] = "none"
    report = validate_project(
        parse_tables(raw), _project(["s1"]), as_of=pd.Timestamp("2026-12-31"), site_ids=["s1"]
    )
    bad = only(report, "s1", "lower_bound_is_number")
    assert bad.rows == (2,) and bad.examples == ("none",)


def test_spec_limits_defects_and_annotations_are_checked() -> None:
    """lsl < usl; the defects table's counts are numbers >= 0 with a category; an annotation's
    metric is defined and its exclude is a yes/no value."""
    raw = {
        "metrics": pd.DataFrame(
            {"metric_id": ["hours", "gap"], "name": ["H", "G"], "unit": ["h", "days"],
             "chart": ["xmr", "g"], "better": ["lower", "higher"], "period": ["week", "day"],
             "aggregate": ["mean", "mean"], "lsl": ["5", ""], "usl": ["2", ""]}
        ),
        "observations": pd.DataFrame(
            {"site_id": ["s1"] * 3, "metric_id": ["hours", "hours", "gap"],
             "timestamp": ["2026-01-05", "2026-01-12", "2026-01-20"], "value": ["3", "4", "9"]}
        ),
        "events": pd.DataFrame(columns=["site_id", "event_id", "title", "kind", "start_date",
                                        "effective_date", "metric_ids", "owner", "status"]),
        "defects": pd.DataFrame(
            {"site_id": ["s1"] * 3, "timestamp": ["2026-01-05"] * 3,
             "category": ["paint", "", "dent"], "count": ["3", "2", "-1"]}
        ),
        "annotations": pd.DataFrame(
            {"site_id": ["s1", "s1"], "metric_id": ["hours", "nope"],
             "timestamp": ["2026-01-05", "2026-01-12"], "note": ["outage", "x"],
             "exclude": ["maybe", "true"]}
        ),
    }  # fmt: skip
    report = validate_project(
        parse_tables(raw), _project(["s1"]), as_of=pd.Timestamp("2026-12-31"), site_ids=["s1"]
    )
    assert only(report, "s1", "spec_limits_in_order").rows == (2,)
    assert only(report, "s1", "category_not_blank").rows == (3,)
    assert only(report, "s1", "count_not_negative").rows == (4,)
    assert only(report, "s1", "exclude_is_yes_or_no").rows == (2,)
    assert only(report, "s1", "metric_is_defined").table == "annotations"
    rules = {f.rule for f in report.for_site("s1").failures}
    assert "chart_allowed" not in rules  # g is a metric chart
    assert "timestamp_not_after_as_of" not in rules


def test_an_annotation_after_the_report_date_is_warned_of_and_left_off_the_chart() -> None:
    """A note dated 2030 was put on the chart's last point, as if it explained that point."""
    from pipeline.report.analysis import _annotations

    table = pd.DataFrame(
        {"site_id": ["s1", "s1"], "metric_id": ["hours", "hours"],
         "timestamp": ["2026-01-12", "2030-01-01"], "note": ["outage", "future note"],
         "exclude": ["no", "no"]}
    )  # fmt: skip
    raw = {
        "metrics": pd.DataFrame(
            {"metric_id": ["hours"], "name": ["H"], "unit": ["h"], "chart": ["xmr"],
             "better": ["lower"], "period": ["week"], "aggregate": ["mean"]}
        ),
        "observations": pd.DataFrame(
            {"site_id": ["s1"] * 3, "metric_id": ["hours"] * 3,
             "timestamp": ["2026-01-05", "2026-01-12", "2026-01-19"], "value": ["3", "4", "5"]}
        ),
        "events": pd.DataFrame(columns=["site_id", "event_id", "title", "kind", "start_date",
                                        "effective_date", "metric_ids", "owner", "status"]),
        "annotations": table,
    }  # fmt: skip
    as_of = pd.Timestamp("2026-01-31")
    tables = parse_tables(raw)
    report = validate_project(tables, _project(["s1"]), as_of=as_of, site_ids=["s1"])
    late = only(report, "s1", "timestamp_not_after_as_of")
    assert late.table == "annotations" and late.rows == (3,) and late.severity == "warning"
    times = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-12", "2026-01-19"]))
    notes = _annotations(tables["annotations"], "hours", times, as_of=as_of)
    assert [(a.index, a.note) for a in notes] == [(1, "outage")]


def test_a_large_table_checked_in_chunks_gives_the_same_report(
    mini_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row-local rules on a table above VALIDATE_CHUNK_ROWS run chunk by chunk (GX's working
    memory grows with the rows it sees), the others on the columns they name: the report,
    rows and examples included, is the one the whole table gives."""
    from pipeline.data import contracts

    path = mini_project.parent / "data" / "observations.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[3, "value"] = "n/a"  # not a number
    frame.loc[90, "site_id"] = ""  # blank site id
    frame.loc[150, "n"] = "-5"  # n must be positive
    frame.loc[151, "metric_id"] = "nope"  # no such metric
    frame.loc[400, "site_id"] = "Bad Site"  # not a slug, not configured
    again = frame[frame["metric_id"] == "defects"].iloc[[5]].copy()
    again["value"] = "1"  # the same sample of a p-chart metric twice, with another count
    frame = pd.concat([frame, frame.iloc[[10, 200]], again])  # duplicate rows
    frame.to_csv(path, index=False)
    project = load_project(mini_project)
    tables = read_tables(project)
    run = lambda: contracts.validate_project(  # noqa: E731
        tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["north", "south"]
    ).to_dict()
    whole = run()
    monkeypatch.setattr(contracts, "VALIDATE_CHUNK_ROWS", 37)  # a dozen chunks, uneven
    chunked = run()
    whole.pop("seconds", None), chunked.pop("seconds", None)
    assert chunked == whole
    rules = {f["rule"] for s in whole["sites"].values() for f in s["failures"]}
    assert {"value_is_number", "n_positive", "metric_is_defined", "no_duplicate_rows"} <= rules
    assert "one_row_per_sample" in rules
    # uniqueness is told by hashing keys chunk by chunk, then comparing the rows whose hashes
    # meet: hashes that all collide must still give GX's answer, not every row
    monkeypatch.setattr(
        pd.util,
        "hash_pandas_object",
        lambda frame, index=False: pd.Series(7, index=frame.index, dtype="uint64"),
    )
    assert run() | {"seconds": None} == whole | {"seconds": None}


def test_validation_cache_validates_only_what_changed(
    mini_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table whose stored bytes, suites and parameters are those of the last validation is
    not validated again, and the report is the one a validation gives; a changed table is
    validated again (alone), a changed suite makes every table be."""
    import shutil

    from pipeline.data import contracts
    from pipeline.run.fingerprint import inputs_digest

    project = load_project(mini_project)
    cache_file = tmp_path / "cache.json"

    def validate() -> tuple[dict, list[str], list[str]]:
        digests: dict[str, str] = {}
        inputs_digest(
            project=project, site_ids=project.site_ids, as_of=AS_OF, notebook=__file__,
            kernel_name="python3", suites_dir=contracts.SUITES_DIR, per_table=digests,
        )  # fmt: skip
        cache = contracts.ValidationCache(cache_file)
        report = contracts.validate_project(
            read_tables(project), project, as_of=pd.Timestamp(AS_OF),
            site_ids=project.site_ids, digests=digests, cache=cache,
        )  # fmt: skip
        cache.save()
        return report.to_dict(), cache.hits, cache.misses

    first, hits, misses = validate()
    assert hits == [] and set(misses) == set(project.tables)
    again, hits, misses = validate()
    assert again == first and misses == [] and set(hits) == set(project.tables)

    events = mini_project.parent / "data" / "events.csv"
    frame = pd.read_csv(events, dtype=str, keep_default_na=False)
    frame.loc[0, "start_date"] = "someday"  # not a date: a new failure
    frame.to_csv(events, index=False)
    changed, hits, misses = validate()
    assert misses == ["events"] and "events" not in hits
    rules = {f["rule"] for f in changed["sites"]["north"]["failures"]}
    assert "start_date_is_date" in rules  # validated again, not taken from the cache

    suites = tmp_path / "suites"
    shutil.copytree(contracts.SUITES_DIR, suites)
    (suites / "goals.json").write_text((suites / "goals.json").read_text() + "\n")
    monkeypatch.setattr(contracts, "SUITES_DIR", suites)
    after_suite, hits, misses = validate()
    assert hits == [] and set(misses) == set(project.tables)
    assert after_suite == changed


def test_an_event_on_a_metric_its_site_does_not_record_is_warned_of() -> None:
    """An event on a metric with no observations at its site appeared only in the roadmap:
    the report left it out of every metric without a word."""
    raw = {
        "metrics": pd.DataFrame(
            {"metric_id": ["hours", "picks"], "name": ["H", "P"], "unit": ["h", "errors"],
             "chart": ["xmr", "c"], "better": ["lower", "lower"], "period": ["week", "week"],
             "aggregate": ["mean", "sum"]}
        ),
        "observations": pd.DataFrame(
            {"site_id": ["s1", "s1", "s2"], "metric_id": ["hours", "hours", "picks"],
             "timestamp": ["2026-01-05", "2026-01-12", "2026-01-12"], "value": ["3", "4", "2"]}
        ),
        "events": pd.DataFrame(
            {"site_id": ["s1", "s1"], "event_id": ["E1", "E9"], "title": ["A", "B"],
             "kind": ["kaizen_event"] * 2, "start_date": ["2026-01-01"] * 2,
             "effective_date": ["2026-01-08"] * 2, "metric_ids": ["hours", "hours;picks"],
             "owner": ["o"] * 2, "status": ["done"] * 2}
        ),
    }  # fmt: skip
    report = validate_project(
        parse_tables(raw), _project(["s1", "s2"]), as_of=pd.Timestamp("2026-01-31"),
        site_ids=["s1", "s2"],
    )  # fmt: skip
    lacking = only(report, "s1", "metrics_have_data_at_site")
    assert lacking.severity == "warning" and lacking.rows == (3,)
    assert lacking.examples == ("E9: no observations of picks at this site",)
    assert "metrics_have_data_at_site" not in {f.rule for f in report.for_site("s2").failures}
