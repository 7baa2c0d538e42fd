"""The bad-input catalogue: each broken input gives the message a user sees (site, table, column,
rows, examples) and nothing else is lost (the other site stays ok)."""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.data.config import load_project
from pipeline.data.inputs import read_tables
from pipeline.exceptions import ConfigError, InputError
from pipeline.formatting import fmt_date
from pipeline.report.manifest import load_manifest
from pipeline.vocabulary import RunStatus
from tests.conftest import AS_OF
from tests.contract_fixtures import edit_csv, line_of, only, read_csv_text, validate
from tests.mini_run import MiniRun


def data(project: Path, table: str) -> Path:
    return project.parent / "data" / f"{table}.csv"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def validate_cli(project: Path) -> tuple[int, str]:
    return cli("validate", "--project", str(project), "--as-of", AS_OF)


def set_cell(project: Path, table: str, row: int, **values: str) -> int:
    """Set cells of the 0-based data row ``row``; returns its line number in the file."""

    def change(frame: pd.DataFrame) -> None:
        for column, value in values.items():
            frame.loc[row, column] = value

    edit_csv(data(project, table), change)
    return row + 2


def north_row(project: Path, metric: str, k: int = 0) -> int:
    """The 0-based position of the k-th observation of ``metric`` for site north."""
    frame = read_csv_text(data(project, "observations"))
    rows = frame.index[(frame["site_id"] == "north") & (frame["metric_id"] == metric)]
    return int(rows[k])


def assert_south_ok(report) -> None:
    assert report.for_site("south").status == "ok", [
        str(f) for f in report.for_site("south").failures
    ]


# --------------------------------------------------------------------------- whole-table problems


def test_missing_file_is_an_input_error_and_exit_2(mini_project: Path) -> None:
    data(mini_project, "events").unlink()
    with pytest.raises(InputError) as err:
        read_tables(load_project(mini_project))
    assert "table 'events'" in str(err.value) and "does not exist" in str(err.value)
    code, out = validate_cli(mini_project)
    assert code == 2 and "events.csv does not exist" in out
    code, out = cli("run", "--project", str(mini_project), "--as-of", AS_OF)
    assert code == 2 and "events.csv does not exist" in out


def test_empty_file_is_an_input_error(mini_project: Path) -> None:
    data(mini_project, "metrics").write_bytes(b"")
    code, out = validate_cli(mini_project)
    assert code == 2
    assert "table 'metrics'" in out and "is empty (expected a header line and rows)" in out


def test_not_utf8_names_the_line(mini_project: Path) -> None:
    path = data(mini_project, "events")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("5S in dispatch", "5S in der Bäckerei")
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(InputError) as err:
        read_tables(load_project(mini_project))
    text = str(err.value)
    assert "table 'events'" in text and "not UTF-8" in text and "line 3" in text
    assert "der Bäckerei" in text and "Windows-1252" in text and "Save the file as UTF-8" in text
    code, out = validate_cli(mini_project)
    assert code == 2 and "not UTF-8" in out


@pytest.mark.parametrize("streamed", [False, True], ids=["whole-file", "block-by-block"])
@pytest.mark.parametrize(
    ("encoding", "bom", "sign"),
    [
        ("utf-16-le", True, "it starts with a UTF-16 byte-order mark"),
        ("utf-16-be", True, "it starts with a UTF-16 byte-order mark"),
        (
            "utf-16-le",
            False,
            "every other byte is a NUL, as little-endian UTF-16 writes plain text",
        ),
        ("utf-16-be", False, "every other byte is a NUL, as big-endian UTF-16 writes plain text"),
    ],
)
def test_a_utf16_file_is_named_utf16(
    mini_project: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoding: str,
    bom: bool,
    sign: str,
    streamed: bool,
) -> None:
    """A UTF-16 file (Excel's "Unicode Text": byte-order mark FF FE or FE FF) was said to have
    a first bad byte 'ÿþ' that "looks like Windows-1252/Latin-1"; read block by block, it
    stopped on a UnicodeDecodeError traceback. Without the mark (some database exports) the
    header read as "s\\x00i\\x00t\\x00e..." and every column was "missing". The message now
    says it is UTF-16, and why."""
    path = data(mini_project, "observations")
    mark = "\ufeff".encode(encoding) if bom else b""
    path.write_bytes(mark + path.read_text("utf-8").encode(encoding))
    if streamed:
        from pipeline.data import inputs

        monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    with pytest.raises(InputError) as err:
        read_tables(load_project(mini_project))
    text = str(err.value)
    assert text == (
        f"table 'observations': file {path} is UTF-16 text, not UTF-8 ({sign}). Save the file "
        "as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)', not 'Unicode Text')"
    )
    code, out = validate_cli(mini_project)
    assert code == 2 and "is UTF-16 text, not UTF-8" in out and "Windows-1252" not in out


def test_header_only_fails_every_site(mini_project: Path) -> None:
    path = data(mini_project, "observations")
    path.write_text(path.read_text().splitlines()[0] + "\n")
    report = validate(mini_project)
    for site in ("north", "south"):
        assert only(report, site, "has_rows").severity == "critical"
        missing = only(report, site, "site_has_data")
        assert missing.site_id == site and f"No rows in observations have site_id {site!r}" in str(
            missing
        )
    code, out = validate_cli(mini_project)
    assert code == 1 and "has_rows" in out


def test_missing_column_is_critical_for_every_site(mini_project: Path) -> None:
    edit_csv(data(mini_project, "observations"), lambda f: f.drop(columns=["value"]))
    report = validate(mini_project)
    for site in ("north", "south"):
        failure = only(report, site, "value_present")
        assert failure.severity == "critical" and failure.column == "value"
        assert "The source has the columns site_id, metric_id, timestamp, n, subgroup" in str(
            failure
        )
        # rules on the missing column are not run (no flood of 'value is blank' warnings)
        assert not [f for f in report.for_site(site).failures if f.rule == "value_not_blank"]
    assert "data contract failed: site 'north', table 'observations', column 'value'" in (
        report.for_site("north").reason()
    )


def test_extra_unknown_column_is_a_warning(mini_project: Path) -> None:
    edit_csv(data(mini_project, "observations"), lambda f: f.assign(operator="x"))
    report = validate(mini_project)
    for site in ("north", "south"):
        failure = only(report, site, "no_unknown_columns")
        assert failure.severity == "warning" and failure.column == "operator"
        assert report.for_site(site).status == "warnings"
    code, out = validate_cli(mini_project)
    assert code == 0 and "operator" in out


# --------------------------------------------------------------------------- row problems


@pytest.mark.parametrize(
    ("column", "text", "hint"),
    [
        ("value", "12,5", "Use a point as the decimal separator"),
        ("value", "N/A", "Leave the cell empty for a missing value"),
        ("value", "twelve", ""),
        ("n", "fifty", ""),
    ],
)
def test_wrong_type_in_a_number_column(
    mini_project: Path, column: str, text: str, hint: str
) -> None:
    metric = "lead_time" if column == "value" else "defects"
    line = set_cell(
        mini_project, "observations", north_row(mini_project, metric, 3), **{column: text}
    )
    report = validate(mini_project)
    failure = only(report, "north", f"{column}_is_number")
    assert failure.severity == "critical" and failure.rows == (line,)
    assert failure.examples == (text,) and failure.column == column
    message = str(failure)
    assert f"site 'north', table 'observations', column '{column}'" in message
    assert f"rule not met on line {line} — " in message and repr(text) in message
    assert hint in message
    assert_south_ok(report)


def test_unparseable_and_mixed_date_formats(mini_project: Path) -> None:
    first = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 0),
                     timestamp="07/07/2025")  # fmt: skip
    second = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 1),
                      timestamp="next monday")  # fmt: skip
    report = validate(mini_project)
    failure = only(report, "north", "timestamp_is_date")
    assert failure.rows == (first, second)
    assert failure.examples == ("07/07/2025", "next monday")
    assert "Write every date as YYYY-MM-DD" in str(failure)
    assert_south_ok(report)


def test_day_first_timestamps_are_one_error_and_never_nat(mini_project: Path) -> None:
    """Day-first timestamps (31/01/2026 where ISO dates are expected) are reported once, by the
    timestamp rule, with their lines; the rows that did not parse are no duplicates of each
    other (they were: their timestamps were all missing), and no message says NaT."""
    lines = []
    for metric, k, text in (("lead_time", 0, "07/07/2025"), ("lead_time", 1, "14/07/2025"),
                            ("defects", 0, "07/07/2025"), ("defects", 1, "14/07/2025")):  # fmt: skip
        row = north_row(mini_project, metric, k)
        lines.append(set_cell(mini_project, "observations", row, timestamp=text, value="1", n="50"))
    report = validate(mini_project)
    failures = report.for_site("north").failures
    assert [f.rule for f in failures] == ["timestamp_is_date"]
    assert failures[0].rows == tuple(sorted(lines)) and failures[0].column == "timestamp"
    assert_south_ok(report)
    code, out = cli(
        "validate", "--project", str(mini_project), "--as-of", AS_OF, "--format", "json"
    )
    assert code == 1 and "NaT" not in out and "NaN" not in out
    (failure,) = json.loads(out)["sites"]["north"]["failures"]
    assert failure["rows"] == sorted(lines)
    assert "column 'timestamp'" in failure["message"]
    assert f"rule not met on lines {', '.join(map(str, sorted(lines)))} — " in failure["message"]
    code, out = validate_cli(mini_project)
    assert code == 1 and "timestamp_is_date" in out and "NaT" not in out
    assert "one_row_per_sample" not in out and "no_duplicate_rows" not in out
    code, out = cli(
        "run", "--project", str(mini_project), "--as-of", AS_OF, "--site", "north", "-q"
    )
    assert code == 1 and "FAILED north: data contract failed: site 'north'" in out
    assert "column 'timestamp'" in out and "critical rules not met" not in out and "NaT" not in out


def test_blank_value_is_a_warning(mini_project: Path) -> None:
    line = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 5), value="")
    report = validate(mini_project)
    failure = only(report, "north", "value_not_blank")
    assert failure.severity == "warning" and failure.rows == (line,)
    assert report.for_site("north").status == "warnings"


def test_duplicate_rows(mini_project: Path) -> None:
    path = data(mini_project, "observations")
    frame = read_csv_text(path)
    p_row = north_row(mini_project, "defects", 2)
    x_row = north_row(mini_project, "lead_time", 2)
    frame = pd.concat([frame, frame.loc[[p_row, x_row]]], ignore_index=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    n = len(frame)
    report = validate(mini_project)
    attribute = only(report, "north", "one_row_per_sample")
    assert attribute.severity == "critical" and attribute.rows == (p_row + 2, n)  # last-but-one
    assert "counted twice" in str(attribute)
    exact = only(report, "north", "no_duplicate_rows")
    assert exact.severity == "warning" and exact.rows == (x_row + 2, n + 1)
    assert_south_ok(report)


def test_a_doubled_row_of_a_summed_metric_is_critical(mini_project: Path) -> None:
    """aggregate: sum adds a period's readings up: a doubled row doubles its share of the total
    (a doubled extract read "5.8tn EUR" for 2.9tn, with a special cause "worth a look"). That is
    critical; the same copy of an averaged metric stays a warning."""
    metrics = data(mini_project, "metrics")
    defs = read_csv_text(metrics)
    defs.loc[defs["metric_id"] == "lead_time", "aggregate"] = "sum"
    defs.to_csv(metrics, index=False, lineterminator="\n")
    path = data(mini_project, "observations")
    frame = read_csv_text(path)
    x_row = north_row(mini_project, "lead_time", 2)
    frame = pd.concat([frame, frame.loc[[x_row]]], ignore_index=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    report = validate(mini_project)
    summed = only(report, "north", "no_duplicate_summed_rows")
    assert summed.severity == "critical" and summed.rows == (x_row + 2, len(frame) + 1)
    assert "added twice" in str(summed)
    assert "no_duplicate_rows" not in {f.rule for f in report.for_site("north").failures}
    assert report.for_site("north").has_critical
    assert_south_ok(report)


def test_event_ids_are_unique_per_site(mini_project: Path) -> None:
    """Two sites may each number their events E1, E2 (goal ids are per site too); a repeated id
    at one site is critical and names both of its rows. A project-wide rule had named two rows
    of one site holding different ids, and not the rows they clashed with."""
    path = data(mini_project, "events")
    frame = read_csv_text(path)
    assert list(frame["site_id"]) == ["north", "south"]
    frame["event_id"] = "E1"
    frame.to_csv(path, index=False, lineterminator="\n")
    report = validate(mini_project)
    assert "event_id_unique" not in {
        f.rule for s in ("north", "south") for f in report.for_site(s).failures
    }
    frame = pd.concat([frame, frame.iloc[[0]].assign(title="Another")], ignore_index=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    report = validate(mini_project)
    twice = only(report, "north", "event_id_unique")
    assert twice.severity == "critical" and twice.rows == (2, 4) and "once per site" in str(twice)
    assert_south_ok(report)


def test_negative_count_and_defectives_above_inspected(mini_project: Path) -> None:
    neg = set_cell(mini_project, "observations", north_row(mini_project, "defects", 1), value="-3")
    big = set_cell(mini_project, "observations", north_row(mini_project, "defects", 4), value="60")
    frac = set_cell(
        mini_project, "observations", north_row(mini_project, "defects", 6), value="2.5"
    )
    report = validate(mini_project)
    assert only(report, "north", "count_not_negative").rows == (neg,)
    over = only(report, "north", "defectives_not_above_n")
    assert over.rows == (big,) and over.examples == ("n=50, value=60",)
    assert "value (defectives) is not greater than n" in str(over)
    whole = only(report, "north", "count_is_whole")
    assert whole.rows == (frac,) and whole.examples == ("2.5",)
    assert_south_ok(report)


def test_a_fractional_count_on_a_laney_chart_is_not_a_count(mini_project: Path) -> None:
    """Laney's p' and u' charts plot counts over n like p and u: a count of 2.5 is an error there
    too (the rule once listed only p, np, c and u)."""
    metrics = read_csv_text(data(mini_project, "metrics"))
    set_cell(mini_project, "metrics", int(metrics.index[metrics["metric_id"] == "defects"][0]),
             chart="p_prime")  # fmt: skip
    frac = set_cell(
        mini_project, "observations", north_row(mini_project, "defects", 6), value="2.5"
    )
    report = validate(mini_project)
    whole = only(report, "north", "count_is_whole")
    assert whole.rows == (frac,) and whole.examples == ("2.5",)
    assert "p, np, c, u, p' and u' charts" in str(whole)


def test_a_reading_a_billion_times_the_others_is_a_warning(mini_project: Path) -> None:
    """A typo or unit mistake (4e13 days among readings near 10) is flagged before it dominates the
    limits and the verdict; the ordinary spread of the other readings is not."""
    typo = set_cell(
        mini_project, "observations", north_row(mini_project, "lead_time", 5), value="4e13"
    )
    report = validate(mini_project)
    far = only(report, "north", "value_plausible")
    assert far.severity == "warning" and far.rows == (typo,)
    assert far.examples[0].startswith("40000000000000 (its readings' median ")
    assert "1,000 robust spreads" in str(far)
    assert_south_ok(report)


def test_zero_n_and_future_dates(mini_project: Path) -> None:
    zero = set_cell(mini_project, "observations", north_row(mini_project, "defects", 1), n="0")
    late = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 1),
                    timestamp="2027-01-04")  # fmt: skip
    report = validate(mini_project)
    assert only(report, "north", "n_positive").rows == (zero,)
    future = only(report, "north", "timestamp_not_after_as_of")
    assert future.severity == "warning" and future.rows == (late,)
    assert future.examples == ("2027-01-04",)


def test_event_naming_an_unknown_metric(mini_project: Path) -> None:
    path = data(mini_project, "events")
    line = line_of(path, site_id="south")
    set_cell(mini_project, "events", line - 2, metric_ids="lead_time; scrap_rate")
    report = validate(mini_project)
    failure = only(report, "south", "metrics_are_defined")
    assert failure.severity == "critical" and failure.rows == (line,)
    assert failure.examples == ("lead_time; scrap_rate",)
    assert "site 'south', table 'events', column 'metric_ids'" in str(failure)
    assert report.for_site("north").status == "ok"


def test_effective_date_before_start_date(mini_project: Path) -> None:
    line = line_of(data(mini_project, "events"), site_id="north")
    set_cell(mini_project, "events", line - 2, effective_date="2025-12-01")
    report = validate(mini_project)
    failure = only(report, "north", "effective_date_not_before_start_date")
    assert failure.rows == (line,) and failure.examples == (
        "effective_date=2025-12-01, start_date=2025-12-22",
    )
    assert_south_ok(report)


def test_an_impossible_calendar_date_is_named_not_its_format(mini_project: Path) -> None:
    """2026-02-30 is written YYYY-MM-DD: the hint "write every date as YYYY-MM-DD" told the
    user to do what they had done; it now says the date does not exist."""
    line = line_of(data(mini_project, "events"), site_id="north")
    set_cell(mini_project, "events", line - 2, effective_date="2026-02-30")
    report = validate(mini_project)
    failure = only(report, "north", "effective_date_is_date")
    assert failure.rows == (line,) and failure.examples == ("2026-02-30",)
    message = str(failure)
    assert "site 'north', table 'events', column 'effective_date'" in message
    assert message.endswith("2026-02-30 is not a calendar date"), message
    assert "write every date" not in message
    assert_south_ok(report)


@pytest.mark.parametrize("streamed", [False, True], ids=["whole-file", "block-by-block"])
def test_dates_not_written_yyyy_mm_dd_are_refused(
    mini_project: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """2025/03/24, 20250331 and 2025 passed timestamp_is_date (pandas' ISO 8601 parser reads
    them) and 2025 became 1 January 2025; they are now reported like 03/03/2025, with the
    hint to write YYYY-MM-DD, and their rows hold no date."""
    written = ("2025/03/24", "20250331", "2025", "2025-3-4", "2025-03-04T10")
    lines = [
        set_cell(mini_project, "observations", north_row(mini_project, "lead_time", k),
                 timestamp=text)
        for k, text in enumerate(written)
    ]  # fmt: skip
    if streamed:
        from pipeline.data import inputs

        monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    project = load_project(mini_project)
    tables = read_tables(project)
    obs = tables["observations"]
    positions = [north_row(mini_project, "lead_time", k) for k in range(len(written))]
    assert obs["timestamp"].iloc[positions].isna().all()
    report = validate(mini_project)
    failure = only(report, "north", "timestamp_is_date")
    assert failure.rows == tuple(lines) and failure.examples == written
    assert (
        failure.hint
        == "write every date as YYYY-MM-DD (e.g. 2026-01-31), one format for the column"
    )
    assert_south_ok(report)


def add_goals(project: Path, *, due_date: str) -> None:
    """A goals table (one goal for north) in the project, due on ``due_date``."""
    pd.DataFrame(
        [("G1", "north", "lead_time", "Cut it by 20%", "2025-07-01", "2025-12-31",
          "relative", -0.2, due_date)],
        columns=["goal_id", "site_id", "metric_id", "title", "baseline_start", "baseline_end",
                 "target_kind", "target_value", "due_date"],
    ).to_csv(data(project, "goals"), index=False)  # fmt: skip
    text = project.read_text(encoding="utf-8")
    project.write_text(
        text.replace("tables:\n", "tables:\n  goals: {path: data/goals.csv}\n", 1), "utf-8"
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["whole-file", "block-by-block"])
@pytest.mark.parametrize(
    ("table", "column", "value", "hint"),
    [
        ("events", "end_date", "9999-12-31", "; leave end_date empty for an open-ended event"),
        ("goals", "due_date", "9999-12-31", "; leave due_date empty for a goal without a due date"),
        ("observations", "timestamp", "2300-01-01", ""),
        ("observations", "timestamp", "1600-01-01 08:00", ""),
    ],
)
def test_a_date_outside_the_years_a_timestamp_holds_is_a_bad_date(
    mini_project: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool,
    table: str, column: str, value: str, hint: str,
) -> None:  # fmt: skip
    """9999-12-31 (an "open-ended" placeholder) or 2300-01-01 is beyond pandas' nanosecond
    timestamps: validate and run stopped on an OutOfBoundsDatetime traceback. It is now a value
    that does not parse, reported by the column's is-a-date rule with its line, read whole or
    block by block."""
    if table == "goals":
        add_goals(mini_project, due_date="2026-12-31")
    position = north_row(mini_project, "lead_time", 2) if table == "observations" else 0
    line = set_cell(mini_project, table, position, **{column: value})
    if streamed:
        from pipeline.data import inputs

        monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    report = validate(mini_project)
    failure = only(report, "north", f"{column}_is_date")
    assert failure.severity == "critical"
    assert failure.rows == (line,) and failure.examples == (value,)
    message = str(failure)
    assert f"site 'north', table '{table}', column '{column}'" in message
    expected = f"{value} is outside the dates this tool handles (1678–2261){hint}"
    assert message.endswith(expected), message
    assert "write every date" not in message
    assert_south_ok(report)
    if not streamed and column == "end_date":
        code, out = validate_cli(mini_project)
        assert code == 1 and "end_date_is_date" in out and "Traceback" not in out, out
        code, out = cli("run", "--project", str(mini_project), "--as-of", AS_OF, "--site", "north")
        assert code == 1 and "FAILED north: data contract failed" in out, out
        assert "9999-12-31 is outside the dates this tool handles" in out


def test_site_in_data_but_not_configured(mini_project: Path) -> None:
    path = data(mini_project, "observations")
    frame = read_csv_text(path)
    extra = frame[frame["site_id"] == "south"].head(3).assign(site_id="west")
    pd.concat([frame, extra], ignore_index=True).to_csv(path, index=False, lineterminator="\n")
    report = validate(mini_project)
    failure = only(report, None, "site_is_configured")
    assert failure.site_id == "west" and failure.rows == (
        len(frame) + 2,
        len(frame) + 3,
        len(frame) + 4,
    )
    assert "site 'west', table 'observations', column 'site_id'" in str(failure)
    assert report.for_site("north").status == "ok" and report.for_site("south").status == "ok"
    assert not report.success
    code, out = validate_cli(mini_project)
    assert code == 1 and "west (not configured)" in out


def test_configured_site_without_data(tmp_path: Path) -> None:
    from tests.conftest import write_mini_project

    project = write_mini_project(tmp_path / "p")
    text = project.read_text() + "  - id: east\n    name: East Plant\n"
    project.write_text(text)
    report = validate(project)
    failure = only(report, "east", "site_has_data")
    assert failure.severity == "critical"
    assert "No rows in observations have site_id 'east'" in report.for_site("east").reason()
    assert report.for_site("north").status == "ok"


def test_a_report_date_before_a_site_s_first_observation_is_no_data(mini_project: Path) -> None:
    """A report dated before the data (a typo, a backfill that reaches too far) fails the site
    with the date of its first observation, rather than writing a report of nothing."""
    obs = read_csv_text(data(mini_project, "observations"))
    first = pd.Timestamp(obs["timestamp"].min())
    report = validate(mini_project, as_of=(first - pd.Timedelta(days=1)).date().isoformat())
    for site in ("north", "south"):
        failure = only(report, site, "site_has_data")
        assert failure.severity == "critical"
        assert f"No rows in observations for site_id {site!r} on or before the report date " in (
            report.for_site(site).reason()
        )
        assert f"its first is on {fmt_date(first)}" in report.for_site(site).reason()
    # on the day of the first observation there is data again
    report = validate(mini_project, as_of=first.date().isoformat())
    assert not [f for f in report.for_site("north").failures if f.rule == "site_has_data"]


def test_site_id_not_a_slug_in_data_and_in_config(mini_project: Path) -> None:
    path = data(mini_project, "observations")
    frame = read_csv_text(path)
    bad = frame.head(1).assign(site_id="../x")
    pd.concat([frame, bad], ignore_index=True).to_csv(path, index=False, lineterminator="\n")
    report = validate(mini_project)
    failure = only(report, None, "site_id_is_slug")
    assert failure.site_id == "../x" and failure.rows == (len(frame) + 2,)
    assert "safe slug" in str(failure)
    assert report.for_site("north").status == "ok"

    mini_project.write_text(mini_project.read_text().replace("id: south", "id: ../x"))
    with pytest.raises(ConfigError, match="site id '../x' is not a safe slug"):
        load_project(mini_project)
    code, out = validate_cli(mini_project)
    assert code == 2 and "not a safe slug" in out


def test_unknown_metric_in_observations_and_duplicate_metric(mini_project: Path) -> None:
    line = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 0),
                    metric_id="lead_tme")  # fmt: skip
    report = validate(mini_project)
    failure = only(report, "north", "metric_is_defined")
    assert failure.rows == (line,) and failure.examples == ("lead_tme",)
    path = data(mini_project, "metrics")
    frame = read_csv_text(path)
    pd.concat([frame, frame.head(1)], ignore_index=True).to_csv(path, index=False)
    report = validate(mini_project)
    # lead_time is used by both sites, so both fail on its duplicated definition
    for site in ("north", "south"):
        dup = only(report, site, "metric_id_unique")
        assert dup.rows == (2, 4) and dup.examples == ("lead_time",)


def test_validate_json_output(mini_project: Path) -> None:
    set_cell(mini_project, "observations", north_row(mini_project, "defects", 4), value="60")
    code, out = cli(
        "validate", "--project", str(mini_project), "--as-of", AS_OF, "--format", "json"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["success"] is False
    north = doc["sites"]["north"]
    assert north["status"] == "failed"
    assert north["failures"][0]["rule"] == "defectives_not_above_n"
    assert doc["sites"]["south"]["status"] == "ok"


def test_validate_flags_the_addresses_send_would_leave_out(mini_project: Path) -> None:
    """Stakeholders, error recipients and email.from are checked with send's parser: each bad
    one is a warning naming the site, the setting and why (the data is fine: exit 0)."""
    text = mini_project.read_text(encoding="utf-8")
    text = text.replace(
        "['Ops <ops-north@example.com>']", "['Ops <ops-north@example.com>', 'ops-north']"
    )
    text = text.replace("['Ops <ops-south@example.com>']", "['Ops <ops@-south.example>']")
    text += (
        "email:\n  from: kaizen\n"
        '  error_recipients: ["Analytics <analytics@example.com>\\r\\nBcc: x@y.z"]\n'
    )
    mini_project.write_text(text, encoding="utf-8")

    code, out = cli(
        "validate", "--project", str(mini_project), "--as-of", AS_OF, "--format", "json"
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["success"] is True
    messages = [f["message"] for f in doc["config_failures"]]
    assert messages == [
        "site 'north', table 'kaizen.yaml', column 'stakeholders': rule not met — each "
        "stakeholder is one email "
        "address (user@domain). 'ops-north' is not one email address; send leaves it out and "
        "mails the others",
        "site 'south', table 'kaizen.yaml', column 'stakeholders': rule not met — each "
        "stakeholder is one email "
        "address (user@domain). 'Ops <ops@-south.example>' is not a complete address "
        "(user@domain); no address of the site is valid: send reports the site and exits 1",
        "table 'kaizen.yaml', column 'email.error_recipients': rule not met — each error "
        "recipient is one email "
        "address (user@domain). 'Analytics <analytics@example.com>\\r\\nBcc: x@y.z' contains "
        "control characters (line breaks are not allowed); send leaves it out of the failure "
        "email",
        "table 'kaizen.yaml', column 'email.from': rule not met — email.from is one email "
        "address "
        "(user@domain). 'kaizen' is not one email address; send refuses to start unless "
        "KAIZEN_SMTP_FROM is set",
    ]
    assert {f["severity"] for f in doc["config_failures"]} == {"warning"}

    code, out = cli("validate", "--project", str(mini_project), "--as-of", AS_OF, "--site", "south")
    assert code == 0, out
    assert "ops@-south.example" in out and "ops-north" not in out
    assert "stakeholder_is_address" in out and "sender_is_address" in out
    assert out.rstrip().endswith("3 email addresses in kaizen.yaml that send would leave out")


def test_validate_names_a_site_with_no_stakeholder(mini_project: Path) -> None:
    """send fails a site with nobody to send to (exit 1); validate says so beforehand."""
    text = mini_project.read_text(encoding="utf-8")
    text = text.replace("['Ops <ops-south@example.com>']", "[]")
    mini_project.write_text(text, encoding="utf-8")
    code, out = cli(
        "validate", "--project", str(mini_project), "--as-of", AS_OF, "--format", "json"
    )
    assert code == 0, out
    assert [f["message"] for f in json.loads(out)["config_failures"]] == [
        "site 'south', table 'kaizen.yaml', column 'stakeholders': rule not met — each site names "
        "at least one stakeholder to email its report to. None is named, so send reports the site and exits 1; "
        "add addresses under its stakeholders in kaizen.yaml"
    ]
    code, out = cli("validate", "--project", str(mini_project), "--as-of", AS_OF)
    assert code == 0, out
    assert out.rstrip().endswith("; 1 site with no stakeholder in kaizen.yaml to send to")


def test_validate_rejects_unknown_site(mini_project: Path) -> None:
    code, out = cli("validate", "--project", str(mini_project), "--site", "west")
    assert code == 2 and "unknown site id 'west'; known sites: north, south" in out


def test_rows_are_the_lines_of_the_file_after_blank_lines_and_multi_line_fields(
    mini_project: Path,
) -> None:
    """A quoted title over two lines and two blank lines come before south's bad value: the
    messages of validate and of run name the line an editor shows (6), not the record's
    position plus 2 (3)."""
    path = data(mini_project, "events")
    header, north, south = path.read_text().splitlines()
    north = north.replace("5S in dispatch", '"5S in dispatch,\nsecond wave"')
    cells = south.split(",")
    cells[-1] = "N/A"  # claimed_saving
    path.write_text("\n".join([header, north, "", "", ",".join(cells)]) + "\n")
    assert path.read_text().splitlines()[5].startswith("south,south-e1,")  # line 6

    code, out = cli("validate", "--project", str(mini_project), "--as-of", AS_OF, "--format",
                    "json")  # fmt: skip
    assert code == 1
    (failure,) = json.loads(out)["sites"]["south"]["failures"]
    assert failure["rule"] == "claimed_saving_is_number" and failure["rows"] == [6]
    assert (
        "column 'claimed_saving'" in failure["message"]
        and "rule not met on line 6 — " in failure["message"]
    )
    assert json.loads(out)["sites"]["north"]["failures"] == []
    code, out = validate_cli(mini_project)
    assert code == 1 and "claimed_saving_is_number" in out
    assert [row.split("│")[6].strip() for row in out.splitlines() if "claimed_saving" in row] == [
        "line 6"
    ]
    # south fails before its notebook would run: nothing but the message is produced
    code, out = cli(
        "run", "--project", str(mini_project), "--as-of", AS_OF, "--site", "south", "-q"
    )
    assert code == 1
    assert (
        "FAILED south: data contract failed: site 'south', table 'events', column "
        "'claimed_saving'" in out
    )
    assert "rule not met on line 6 — " in out and "line 3 " not in out
    # and so does the failure email to the error recipients
    with mini_project.open("a") as fh:
        fh.write('email:\n  from: "Kaizen <kaizen@example.com>"\n'
                 '  error_recipients: ["analytics@example.com"]\n')  # fmt: skip
    code, out = cli("send", "--project", str(mini_project), "--as-of", AS_OF, "--dry-run")
    assert code == 0, out
    eml = mini_project.parent / "out" / AS_OF / "failures.eml"
    text = message_from_bytes(eml.read_bytes(), policy=policy.default)
    body = text.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert (
        "column 'claimed_saving'" in body
        and "rule not met on line 6 — " in body
        and "line 3 " not in body
    )


# --------------------------------------------------------------------------- end to end


@pytest.mark.xdist_group("mini_run")
def test_run_with_one_broken_site_keeps_everything_else(mini_run: MiniRun, tmp_path: Path) -> None:
    """A critical failure in north: no new north report (the old one stays), south is produced,
    the reason is in the manifest and on the index page, exit code 1. The first, good run is
    the session's ``run --jobs 2`` of the mini project (tests/mini_run.py), copied here."""
    mini_project = mini_run.copy_to(tmp_path / "project")
    out_dir = mini_project.parent / "out" / AS_OF
    old_north = (out_dir / "north" / "results.json").read_text()
    old_south_mtime = (out_dir / "south" / "report.html").stat().st_mtime_ns

    line = set_cell(mini_project, "observations", north_row(mini_project, "defects", 4), value="60")
    # --force: south's inputs did not change, and an incremental run would keep its report as is
    code, out = cli(
        "run", "--project", str(mini_project), "--as-of", AS_OF, "--jobs", "2", "-q", "--force"
    )
    assert code == 1
    assert "FAILED north: data contract failed: site 'north', table 'observations'" in out
    assert f"rule not met on line {line} — " in out
    assert (out_dir / "north" / "results.json").read_text() == old_north
    assert (out_dir / "south" / "report.html").stat().st_mtime_ns != old_south_mtime
    by_site = {s.site_id: s for s in load_manifest(out_dir).sites}
    assert by_site["north"].is_failed
    assert "value (defectives) is not greater than n" in (by_site["north"].error or "")
    assert by_site["south"].status == RunStatus.OK
    assert "data contract failed" in (out_dir / "index.html").read_text()
    saved = json.loads((out_dir / "north" / "failed" / "validation.json").read_text())
    assert saved["failures"][0]["rows"] == [line]


@pytest.mark.xdist_group("mini_run")
def test_a_site_named_like_the_run_log_folder_is_refused_and_the_logs_stay(
    mini_run: MiniRun, tmp_path: Path
) -> None:
    """A site 'logs' was published as OUT/<as_of>/logs/, the run-log folder: the first run's log
    was gone after `run --force`. kaizen.yaml's id is refused before anything is written."""
    mini_project = mini_run.copy_to(tmp_path / "project")
    out_dir = mini_project.parent / "out" / AS_OF
    logs_before = sorted((out_dir / "logs").iterdir())
    assert logs_before and all(p.suffix == ".log" for p in logs_before)
    mini_project.write_text(mini_project.read_text().replace("id: south", "id: logs"))
    for table in ("observations", "events"):
        edit_csv(data(mini_project, table), lambda f: f.replace({"site_id": {"south": "logs"}}))
    message = (
        "error: kaizen.yaml: sites[2].id: site id 'logs' is reserved: the output folder keeps "
        "'logs' and 'latest' for itself (the run logs of each report date, the link to the "
        "newest one); choose another id\n"
    )
    for args in (
        ("validate",),
        ("run", "--force", "-q"),
        ("send", "--dry-run"),
        ("notebook", "--site", "north", "--dir", str(tmp_path / "nb")),
    ):
        code, out = cli(*args, "--project", str(mini_project), "--as-of", AS_OF)
        assert (code, out) == (2, message), args
    assert sorted((out_dir / "logs").iterdir()) == logs_before
    assert not (out_dir / "logs" / "report.html").exists()


@pytest.mark.parametrize("site_id", ["logs", "latest"])
def test_reserved_site_ids_are_refused_by_init(tmp_path: Path, site_id: str) -> None:
    code, out = cli("init", str(tmp_path / "new"), "--site", site_id)
    assert code == 2 and f"site id {site_id!r} is reserved" in out
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {alpha: lots}",
         "statistics.alpha: 'lots' is not a number"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {alpha: yes}",
         "statistics.alpha: a yes/no value is not a number"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {alpha: 0.7}",
         "statistics.alpha: 0.7 is out of range; alpha must be > 0 and <= 0.5"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {alpha: .nan}",
         "statistics.alpha: nan is not a number"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {min_phase_points: abc}",
         "statistics.min_phase_points: 'abc' is not a whole number"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {sustain_points: 2.7}",
         "statistics.sustain_points: 2.7 is not a whole number"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {rules: western}",
         "statistics.rules: 'western' is not one of 'we', 'nelson', 'anhoej', 'nhs' or 'all'"),
        ("lookback: 12 months", "lookback: 12 months\nstatistcs: {alpha: 0.1}",
         "statistcs: unknown setting; did you mean 'statistics'?"),
        ("lookback: 12 months", "lookback: 0 months",
         "lookback: '0 months' is an empty report window; give at least 1"),
        ("lookback: 12 months", "lookback: a while",
         "lookback: 'a while' is not of the form 'N days|weeks|months|years'"),
        ("lookback: 12 months", "lookback: 12 months\nemail: {smtp: {port: smtp}}",
         "email.smtp.port: 'smtp' is not a whole number"),
        ("lookback: 12 months", "lookback: 12 months\nemail: {smtp: {port: 70000}}",
         "email.smtp.port: 70000 is out of range; port must be >= 1 and <= 65535"),
        ("lookback: 12 months", "lookback: 12 months\nemail: {form: a@example.com}",
         "email.form: unknown setting; did you mean 'from'?"),
        ("lookback: 12 months", "lookback: 12 months\nemail: {smtp: {security: tls}}",
         "email.smtp.security: 'tls' is not one of 'none', 'starttls' or 'ssl'"),
        ("    stakeholders: ['Ops <ops-south", "    stakeholder: ['Ops <ops-south",
         "sites[2].stakeholder (site 'south'): unknown setting; did you mean 'stakeholders'?"),
        ("    name: South Plant", "    name: South Plant\n    overrides: {min_phase: 3}",
         "sites[2].overrides.min_phase (site 'south'): unknown setting; "
         "did you mean 'min_phase_points'?"),
        ("    name: South Plant", "    name: South Plant\n    overrides: {alpha: 2}",
         "sites[2].overrides.alpha (site 'south'): 2 is out of range; alpha must be > 0 and <= 0.5"),
        ("    name: South Plant", "    name: South Plant\n    timezone: Europe/Berln",
         "sites[2].timezone (site 'south'): 'Europe/Berln' is not a known time zone; "
         "did you mean 'Europe/Berlin'?"),
        ("    name: South Plant", "    name: South Plant\n    timezone: Mars/Olympus",
         "sites[2].timezone (site 'south'): 'Mars/Olympus' is not a known time zone "
         "(use an IANA name such as Europe/Berlin)"),
        ("id: south", 'id: "atelier-florence\\n"',
         "sites[2].id: site id 'atelier-florence\\n' is not a safe slug (lowercase letters, "
         "digits, '-' and '_', starting with a letter or digit)"),
        ("id: south", "id: north", "sites: site id 'north' is configured twice"),
        ("  events: {path: data/events.csv}", "  evnts: {path: data/events.csv}",
         "tables.events: is required; kaizen.yaml: tables.evnts: unknown setting; "
         "did you mean 'events'?"),
        ("  events: {path: data/events.csv}", "  events: {path: data/events.csv, sql: 'select 1'}",
         "tables.events: needs exactly one of path, sql or table"),
        ("  events: {path: data/events.csv}", "  events: {sql: 'select 1'}",
         "tables.events: reads SQL but neither it nor database gives a url"),
        ("output: out", "output: out\nflavour: strong",
         "flavour: unknown setting; known settings here: project, output, lookback, tables, "
         "database, statistics, sites, email, currency"),
    ],
)  # fmt: skip
def test_configuration_error_names_the_key_and_its_place(
    mini_project: Path, old: str, new: str, message: str
) -> None:
    text = mini_project.read_text()
    assert old in text
    mini_project.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_project(mini_project)
    assert str(err.value) == f"kaizen.yaml: {message}"


def test_broken_yaml_names_the_file_and_the_line(mini_project: Path) -> None:
    """YAML's own parse error points at kaizen.yaml and its line, not at '<unicode string>'."""
    mini_project.write_text(mini_project.read_text() + "statistics: {alpha: 0.05\n")
    lines = mini_project.read_text().count("\n")
    with pytest.raises(ConfigError) as err:
        load_project(mini_project)
    message = str(err.value)
    assert message.startswith("kaizen.yaml is not valid YAML: ")
    assert "<unicode string>" not in message
    assert f'in "kaizen.yaml", line {lines + 1}' in message


def test_configuration_error_is_exit_2_without_traceback(mini_project: Path) -> None:
    mini_project.write_text(mini_project.read_text() + "statistics: {alpha: lots}\n")
    for command in ("validate", "run", "send"):
        code, out = cli(command, "--project", str(mini_project), "--as-of", AS_OF)
        assert code == 2, (command, out)
        assert out == "error: kaizen.yaml: statistics.alpha: 'lots' is not a number\n"


def test_quoted_number_is_read_as_the_number(mini_project: Path) -> None:
    mini_project.write_text(mini_project.read_text() + 'statistics: {alpha: "0.1"}\n')
    assert load_project(mini_project).statistics.alpha == 0.1


@pytest.mark.parametrize(
    ("setting", "place", "env"),
    [
        ("email: {smtp: {passwd: hunter2}}", "email.smtp.passwd", "KAIZEN_SMTP_PASSWORD"),
        ("email: {smtp: {password: hunter2}}", "email.smtp.password", "KAIZEN_SMTP_PASSWORD"),
        ("email: {api_key: hunter2}", "email.api_key", "KAIZEN_SMTP_PASSWORD"),
        ("database: {url: 'sqlite:///x.db', pwd: hunter2}", "database.pwd",
         "the variable that password_env names"),
        ("access_token: hunter2", "access_token", "KAIZEN_SMTP_PASSWORD for email, "
         "the variable that password_env names for a database"),
        ("email: {smtp: {Client-Secret: hunter2}}", "email.smtp.Client-Secret",
         "KAIZEN_SMTP_PASSWORD"),
    ],
)  # fmt: skip
def test_secret_under_any_key_name_is_refused(
    mini_project: Path, setting: str, place: str, env: str
) -> None:
    mini_project.write_text(mini_project.read_text() + setting + "\n")
    with pytest.raises(ConfigError) as err:
        load_project(mini_project)
    assert str(err.value) == (
        f"kaizen.yaml: {place}: secrets are not read from the project file; "
        f"set them in the environment ({env})"
    )
    assert "hunter2" not in str(err.value)


def test_secret_in_a_site_names_the_site(mini_project: Path) -> None:
    text = mini_project.read_text().replace("name: South Plant", "name: South Plant\n    token: x")
    mini_project.write_text(text)
    with pytest.raises(ConfigError, match=r"^kaizen.yaml: sites\[2\]\.token \(site 'south'\): "):
        load_project(mini_project)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://kaizen:hunter2@db/k", "postgresql://kaizen:***@db/k"),
        ("postgresql://kaizen:hun/ter2@db/k", "postgresql://kaizen:***@db/k"),
        ("postgresql://kaizen:hun%40ter2@db/k", "postgresql://kaizen:***@db/k"),
        ("postgresql://:hunter2@db/k", "postgresql://:***@db/k"),
        ("postgresql://kaizen@db/k?password=hunter2", "postgresql://kaizen@db/k?password=***"),
        ("mssql+pyodbc://kaizen@db/k?driver=x&PWD=hunter2", "mssql+pyodbc://kaizen@db/k?driver=x&PWD=***"),
    ],
)  # fmt: skip
def test_database_url_with_a_password_is_refused_and_never_shown(
    mini_project: Path, url: str, shown: str
) -> None:
    for setting, place in (
        (f"database: {{url: '{url}'}}", "database.url"),
        (f"  goals: {{table: goals, url: '{url}'}}", "tables.goals.url"),
    ):
        text = mini_project.read_text()
        if setting.startswith("  "):
            text = text.replace("tables:\n", "tables:\n" + setting + "\n")
        else:
            text += setting + "\n"
        path = mini_project.with_name("other.yaml")
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_project(path)
        assert str(err.value) == (
            f"other.yaml: {place}: the database URL {shown} holds a password; put it in an "
            "environment variable and name that variable with password_env"
        )
        assert "hunter2" not in str(err.value) and "ter2" not in str(err.value)


# --------------------------------------------------------------------------- hostile ids


HOSTILE = ("../../../../x", "/etc/kaizen", "..", "a/../../b", "x\ny", "c:\\x", "e\x00f")


@pytest.mark.parametrize("part", HOSTILE)
def test_child_path_refuses_a_name_that_leaves_the_folder(tmp_path: Path, part: str) -> None:
    from pipeline.files import child_path

    with pytest.raises(ConfigError, match="cannot be used as a file or folder name"):
        child_path(tmp_path, "charts", part)


def test_hostile_ids_write_nothing_outside_the_output_folder(mini_project: Path) -> None:
    """Metric, event and goal ids that try to leave the folder fail their sites' contracts,
    and the run writes nothing outside its output folder."""
    root = mini_project.parent
    metric, event = "../../../../x", str(root / "abs")

    def rename_metric(frame: pd.DataFrame) -> None:
        frame.loc[frame["metric_id"] == "lead_time", "metric_id"] = metric

    edit_csv(data(mini_project, "metrics"), rename_metric)
    edit_csv(data(mini_project, "observations"), rename_metric)

    def events(frame: pd.DataFrame) -> None:
        frame["metric_ids"] = metric
        frame.loc[0, "event_id"] = event
        frame.loc[1, "event_id"] = "south\ne1"

    edit_csv(data(mini_project, "events"), events)
    before = {p for p in root.rglob("*")}
    code, out = cli("run", "--project", str(mini_project), "--as-of", AS_OF, "--jobs", "1", "-q")
    assert code == 1 and "Traceback" not in out
    assert (
        "FAILED north: data contract failed: 2 critical rules not met:\n"
        "- site 'north', table 'metrics', column 'metric_id': rule not met on line 2 — "
        "metric_id is a safe slug (it names files and links): lowercase letters, digits, '-' "
        "and '_', starting with a letter or digit; e.g. '../../../../x'"
    ) in out
    created = {p for p in root.rglob("*")} - before
    out_dir = (root / "out").resolve()
    assert created and all(p.resolve().is_relative_to(out_dir) for p in created), sorted(created)
    report = validate(mini_project)
    assert only(report, "south", "event_id_is_safe").examples == ("south\ne1",)


# --------------------------------------------------------------------------- ordinary data


def _analyse_and_render(project_file: Path) -> dict[str, str]:
    """Each site's report sections, built in-process from the real analysis (no kernel)."""
    from pipeline.data.inputs import split_by_site
    from pipeline.report import sections
    from pipeline.report.analysis import analyse_site
    from pipeline.report.results import write_results

    project = load_project(project_file)
    slices = split_by_site(read_tables(project), project.site_ids)
    pages = {}
    for sid in project.site_ids:
        site = analyse_site(slices[sid], project=project, site_id=sid, as_of=pd.Timestamp(AS_OF))
        write_results(site, project_file.parent / "out" / sid)
        parts = [sections.header(site), sections.summary(site), sections.strategy(site)]
        parts += [sections.metric_section(site, m) for m in site.metrics]
        parts += [sections.culture(site), sections.data_quality(site), sections.methods(site)]
        pages[sid] = "".join(str(p) for p in parts)
    return pages


def test_events_table_with_only_its_header_still_gives_reports(mini_project: Path) -> None:
    path = data(mini_project, "events")
    path.write_text(path.read_text().splitlines()[0] + "\n")
    report = validate(mini_project)
    assert not report.for_site("north").has_critical
    pages = _analyse_and_render(mini_project)
    assert set(pages) == {"north", "south"} and "Order lead time" in pages["north"]


def test_a_site_without_events_gets_its_report(mini_project: Path) -> None:
    edit_csv(data(mini_project, "events"), lambda f: f[f["site_id"] != "south"])
    assert not validate(mini_project).for_site("south").has_critical
    pages = _analyse_and_render(mini_project)
    assert "Order lead time" in pages["south"]


def test_dollar_signs_in_names_and_titles_are_text_not_mathtext(mini_project: Path) -> None:
    def names(frame: pd.DataFrame) -> None:
        frame.loc[0, "name"] = "Cycle time in $ per $ spent"
        frame.loc[1, "name"] = r"Defects $\alert$"

    edit_csv(data(mini_project, "metrics"), names)
    edit_csv(data(mini_project, "events"), lambda f: f.assign(title=r"Fix $\alert$ now"))
    pages = _analyse_and_render(mini_project)
    # the SVG charts keep text as text: the names appear as written, with their dollars
    assert "Cycle time in $ per $ spent" in pages["north"]
    assert r"Defects $\alert$" in pages["north"] and r"Fix $\alert$ now" in pages["north"]
    assert (mini_project.parent / "out" / "north" / "charts").is_dir()


def test_huge_values_are_a_contract_failure_naming_column_and_rows(mini_project: Path) -> None:
    line = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 2),
                    value="1e300")  # fmt: skip
    report = validate(mini_project)
    failure = only(report, "north", "value_not_huge")
    assert str(failure) == (
        f"site 'north', table 'observations', column 'value': rule not met on line {line} — "
        "value is between -1e15 and 1e15 "
        "(larger numbers overflow the statistics; check the unit or a stray exponent); "
        "e.g. '1e+300'"
    )
    assert failure.severity == "critical"
    assert_south_ok(report)


def test_a_value_below_its_metrics_lower_bound_is_a_contract_failure(mini_project: Path) -> None:
    """A negative lead time where the metric says none is below 0 was only a warning: kept, it
    skewed the limits and verdicts and was drawn below the chart's axis. It is a critical
    failure naming site, table, column and line, as a negative count is; the other site's
    report is unaffected, and clearing the bound (such values are real) takes it back."""

    def bound(frame: pd.DataFrame, value: str) -> None:
        frame["lower_bound"] = ["" if m != "lead_time" else value for m in frame["metric_id"]]

    edit_csv(data(mini_project, "metrics"), lambda f: bound(f, "0"))
    line = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 3),
                    value="-1.5")  # fmt: skip
    report = validate(mini_project)
    failure = only(report, "north", "value_not_below_lower_bound")
    assert failure.severity == "critical" and report.for_site("north").status == "failed"
    assert str(failure) == (
        f"site 'north', table 'observations', column 'value': rule not met on line {line} — "
        "value is not below its metric's "
        "lower_bound (xmr, run and x-bar metrics): a value the metric cannot take; "
        "e.g. 'value=-1.5, lower_bound=0'. Correct the rows; if such values are "
        "real, change or clear the metric's bound in the metrics table"
    )
    assert_south_ok(report)
    code, out = validate_cli(mini_project)
    assert code == 1 and "value_not_below_lower_bound" in out  # validate: a critical failure
    edit_csv(data(mini_project, "metrics"), lambda f: bound(f, ""))
    assert validate(mini_project).for_site("north").status != "failed"


def test_every_critical_rule_of_a_site_is_named_where_users_act_on_it(mini_project: Path) -> None:
    """A negative lead time (lower_bound 0) and a day-first timestamp for north: two critical
    rules. The run's output and log, the manifest, the portfolio's failed-site entry and the
    failure email each name both, with their lines and examples, not "(+1 more critical rule)"."""
    edit_csv(
        data(mini_project, "metrics"),
        lambda f: f.assign(lower_bound=["0" if m == "lead_time" else "" for m in f["metric_id"]]),
    )
    neg = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 3),
                   value="-4")  # fmt: skip
    day = set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 5),
                   timestamp="31/01/2026")  # fmt: skip
    rules = (
        f"rule not met on line {neg} — value is not below its metric's lower_bound",
        "e.g. 'value=-4, lower_bound=0'",
        f"rule not met on line {day} — timestamp is a date",
        "e.g. '31/01/2026'",
    )
    code, out = cli("run", "--project", str(mini_project), "--as-of", AS_OF, "--site", "north")
    assert code == 1 and "more critical rule" not in out
    assert "FAILED north: data contract failed: 2 critical rules not met:\n- site 'north'" in out
    assert all(r in out for r in rules), out
    out_dir = mini_project.parent / "out" / AS_OF
    (log,) = (out_dir / "logs").glob("*.log")
    logged = [line for line in log.read_text().splitlines() if "rule not met" in line]
    assert len(logged) == 2 and all(" site north: - site 'north', " in line for line in logged)
    assert rules[0] in logged[0] and rules[2] in logged[1]
    (north,) = load_manifest(out_dir).sites
    assert len(north.problems) == 2 and north.error.startswith("data contract failed: 2 critical")
    assert rules[0] in north.problems[0] and rules[2] in north.problems[1]
    page = (out_dir / "index.html").read_text().replace("&#39;", "'")
    (listed,) = re.findall(r'<ul class="problem-list">(.*?)</ul>', page)
    items = re.findall(r"<li>(.*?)</li>", listed)
    assert len(items) == 2 and rules[0] in items[0] and rules[2] in items[1]
    with mini_project.open("a") as fh:
        fh.write('email:\n  from: "Kaizen <kaizen@example.com>"\n'
                 '  error_recipients: ["analytics@example.com"]\n')  # fmt: skip
    code, out = cli("send", "--project", str(mini_project), "--as-of", AS_OF, "--dry-run")
    assert code == 0, out
    eml = message_from_bytes((out_dir / "failures.eml").read_bytes(), policy=policy.default)
    text = eml.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = eml.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "more critical rule" not in text and all(r in text for r in rules), text
    bullets = [line for line in text.splitlines() if line.strip().startswith("- site 'north'")]
    assert len(bullets) == 2
    items = re.findall(r"<li>(.*?)</li>", html.replace("&#39;", "'"))
    assert len(items) == 2 and rules[0] in items[0] and rules[2] in items[1]


@pytest.mark.parametrize("text", ["[/bold]", "[red]x", "[link=file:///etc/passwd]y[/link]"])
def test_console_markup_in_data_is_printed_as_text(mini_project: Path, text: str) -> None:
    set_cell(mini_project, "observations", north_row(mini_project, "lead_time", 1), value=text)
    code, out = validate_cli(mini_project)
    assert code == 1 and "Traceback" not in out
    assert repr(text) in out.replace("\n", "")


def test_chart_out_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("v\n" + "\n".join(str(i % 5) for i in range(20)) + "\n")
    missing = tmp_path / "nodir" / "x.png"
    for fmt in ("png", "json"):
        code, out = cli("chart", str(csv), "--chart", "xmr", "--value", "v",
                        "--format", fmt, "--out", str(missing))  # fmt: skip
        assert code == 2
        assert out == f"error: --out {missing}: the folder {str(missing.parent)!r} does not exist\n"
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("as_of", "rules", "examples"),
    [
        ("2099-01-01", ("window_has_data", "data_is_current"),
         ("window 2098-01-01 to 2099-01-01", "newest observation 2026-06-24, as_of 2099-01-01")),
        ("2026-07-20", ("data_is_current",),
         ("newest observation 2026-06-24, as_of 2026-07-20",)),
        ("2020-01-01", ("window_has_data", "data_is_current"),
         ("window 2019-01-01 to 2020-01-01", "newest observation none, as_of 2020-01-01")),
    ],
)  # fmt: skip
def test_stale_as_of_and_empty_window_are_warnings_in_validation_json(
    mini_project: Path, as_of: str, rules: tuple[str, ...], examples: tuple[str, ...]
) -> None:
    report = validate(mini_project, as_of=as_of)
    north = report.for_site("north")
    found = [f for f in north.failures if f.rule in ("window_has_data", "data_is_current")]
    assert tuple(f.rule for f in found) == rules
    assert tuple(f.examples[0] for f in found) == examples
    assert all(f.severity == "warning" for f in found)
    assert north.stale is True and north.empty_window is ("window_has_data" in rules)
    doc = north.to_dict()
    assert doc["stale"] is True and doc["empty_window"] is ("window_has_data" in rules)
    fresh = validate(mini_project).for_site("north").to_dict()
    assert fresh["stale"] is False and fresh["empty_window"] is False


# --------------------------------------------------------------------------- more of each kind


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("sites:\n", "sites:\n  north: {name: x}\nunused:\n",
         "sites: {'north': {'name': 'x'}} is not a list; kaizen.yaml: unused: unknown setting; "
         "known settings here: project, output, lookback, tables, database, statistics, sites, "
         "email, currency"),
        ("    name: North Plant", '    name: ""', "sites[1].name (site 'north'): must not be empty"),
        ("  events: {path: data/events.csv}", "  events: 42",
         "tables.events: 42 is not a mapping of settings"),
        ("    stakeholders: ['Ops <ops-north@example.com>']", "    stakeholders: 5",
         "sites[1].stakeholders (site 'north'): 5 is not a list"),
        ("    name: North Plant", "    name: North Plant\n    timezone: ' Europe/Berlin'",
         "sites[1].timezone (site 'north'): ' Europe/Berlin' is not a known time zone; "
         "did you mean 'Europe/Berlin'?"),
        ("lookback: 12 months", "lookback: -3 months",
         "lookback: '-3 months' is not of the form 'N days|weeks|months|years'"),
        ("lookback: 12 months", "lookback: 12 months\nemail: {smtp: {timeout: 0}}",
         "email.smtp.timeout: 0 is out of range; timeout must be > 0"),
        ("lookback: 12 months", "lookback: 12 months\nemail: {max_attachment_mb: lots}",
         "email.max_attachment_mb: 'lots' is not a number"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: {screen_mr: maybe}",
         "statistics.screen_mr: 'maybe' is not true or false"),
        ("lookback: 12 months", "lookback: 12 months\nstatistics: [we]",
         "statistics: ['we'] is not a mapping of settings"),
    ],
)  # fmt: skip
def test_more_configuration_mistakes(mini_project: Path, old: str, new: str, message: str) -> None:
    text = mini_project.read_text()
    assert old in text
    mini_project.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_project(mini_project)
    assert str(err.value) == f"kaizen.yaml: {message}"


@pytest.mark.parametrize("as_of", ["2026-13-45", "99999-01-01", "tomorrow", "2026-06-29; rm -rf /"])
def test_bad_as_of_is_exit_2_for_every_command(mini_project: Path, as_of: str) -> None:
    for command in ("validate", "run", "send"):
        code, out = cli(command, "--project", str(mini_project), "--as-of", as_of)
        assert code == 2 and "Traceback" not in out, (command, out)
        assert f"{as_of!r}" in out and "not a date" in out


def test_database_password_never_reaches_an_error_message(
    mini_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nothing listens on port 1: the driver's connection error is what a user would see
    monkeypatch.setenv("KZ_TEST_DB_PASSWORD", "hunter2-secret")
    text = mini_project.read_text().replace(
        "  events: {path: data/events.csv}",
        "  events: {table: events, url: 'postgresql+psycopg2://kaizen@127.0.0.1:1/k', "
        "password_env: KZ_TEST_DB_PASSWORD}",
    )
    mini_project.write_text(text)
    code, out = validate_cli(mini_project)
    assert code == 2 and "Traceback" not in out
    assert out.startswith(
        "error: table 'events': SQL read from events at "
        "postgresql+psycopg2://kaizen@127.0.0.1:1/k failed: "
    )
    assert "hunter2" not in out


def test_stale_as_of_shows_in_validate_and_keeps_exit_0(mini_project: Path) -> None:
    code, out = cli("validate", "--project", str(mini_project), "--as-of", "2099-01-01")
    assert code == 0, out
    flat = out.replace("\n", " ")
    assert "window_has_data" in flat and "data_is_current" in flat
    assert "2 sites: 0 ok, 2 with warnings, 0 failed" in out


def test_a_key_given_twice_is_refused(mini_project: Path) -> None:
    text = mini_project.read_text()
    lines = text.count("\n")
    mini_project.write_text(text + "lookback: 3 months\n")
    with pytest.raises(ConfigError) as err:
        load_project(mini_project)
    assert str(err.value) == (
        f"kaizen.yaml: line {lines + 1}: the key 'lookback' is given twice in the same mapping"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("chart", "{csv}", "--chart", "xmr", "--value", "v"),
        ("chart", "{csv}", "--chart", "c", "--value", "v", "--format", "png", "--out", "{png}"),
        ("impact", "{csv}", "--time", "week", "--value", "v", "--change-at", "2026-01-10"),
        ("capability", "{csv}", "--value", "v", "--lsl", "0", "--usl", "10"),
    ],
)
def test_huge_numbers_in_a_command_csv_are_a_clear_error(tmp_path: Path, args) -> None:
    csv = tmp_path / "huge.csv"
    rows = [f"2026-01-{d:02d},{d % 5}" for d in range(1, 21)]
    rows[3] = "2026-01-04,1e300"  # line 5 of the file
    csv.write_text("week,v\n" + "\n".join(rows) + "\n")
    png = tmp_path / "x.png"
    code, out = cli(*(a.format(csv=csv, png=png) for a in args))
    assert code == 2 and not png.exists()
    assert out == (
        "error: column 'v': numbers beyond ±1e15 such as 1e+300 (check the unit or a stray "
        "exponent) (row 5). CSV line numbers\n"
    )
