"""Reading and typing the input tables: CSV and Parquet give the same frames, row numbers are a
CSV file's line numbers (and the same for other sources), bad values are collected (not raised),
and tables split by site."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.data.config import load_project
from pipeline.data.csvlines import LineScanner, csv_row_numbers
from pipeline.data.inputs import (
    SCHEMA,
    SiteTables,
    describe_bad_values,
    parse_tables,
    read_tables,
    split_by_site,
)
from pipeline.exceptions import InputError
from tests.conftest import AS_OF


def test_csv_is_typed(mini_project: Path) -> None:
    tables = read_tables(load_project(mini_project))
    obs = tables["observations"]
    assert list(obs.columns[:6]) == list(SCHEMA["observations"])
    assert obs["timestamp"].dtype == "datetime64[ns]" and obs["value"].dtype == "float64"
    assert obs["n"].dtype == "float64" and obs["subgroup"].isna().all()
    assert not tables.problems
    assert tables.columns["observations"] == tuple(SCHEMA["observations"])
    assert tables.row_number("observations", 0) == 2
    assert "observations.csv" in tables.sources["observations"]


def test_parquet_gives_the_same_frames(mini_project: Path) -> None:
    data = mini_project.parent / "data"
    frame = pd.read_csv(data / "observations.csv")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame.to_parquet(data / "observations.parquet")
    csv_tables = read_tables(load_project(mini_project))
    mini_project.write_text(
        mini_project.read_text().replace("observations.csv", "observations.parquet")
    )
    pq_tables = read_tables(load_project(mini_project))
    pd.testing.assert_frame_equal(
        csv_tables["observations"], pq_tables["observations"], check_dtype=False
    )
    assert pq_tables.row_number("observations", 0) == 2  # numbered as its CSV export would be


def test_bom_and_blank_padding_are_accepted(mini_project: Path) -> None:
    path = mini_project.parent / "data" / "metrics.csv"
    text = path.read_text().replace(",xmr,", ", xmr ,")
    path.write_bytes("\ufeff".encode() + text.encode())
    tables = read_tables(load_project(mini_project))
    assert list(tables["metrics"].columns[:1]) == ["metric_id"]
    assert tables["metrics"]["chart"].tolist() == ["xmr", "p"]


def test_bad_values_are_collected_with_line_numbers() -> None:
    raw = {
        "metrics": pd.DataFrame({c: ["m"] for c in SCHEMA["metrics"]}),
        "observations": pd.DataFrame(
            {
                "site_id": ["a", "a", "b", "b"],
                "metric_id": "m",
                "timestamp": ["2026-01-05", "2026-01-05 08:30", "05/01/2026", "2026-01-07"],
                "value": ["1.5", "12,5", "N/A", ""],
            }
        ),  # fmt: skip
        "events": pd.DataFrame({c: [] for c in SCHEMA["events"]}),
    }
    tables = parse_tables(raw)
    by_column = {p.column: p for p in tables.problems}
    value = by_column["value"]
    assert value.rows == (3, 4) and value.values == ("12,5", "N/A") and value.site_ids == ("a", "b")
    assert "decimal separator" in str(value) and "leave the cell empty" in str(value)
    ts = by_column["timestamp"]
    assert ts.rows == (4,) and ts.examples == ("05/01/2026",)
    obs = tables["observations"]
    assert obs["timestamp"].iloc[1] == pd.Timestamp("2026-01-05 08:30")
    assert np.isnan(obs["value"].iloc[3])  # blank is missing, not a problem
    # missing optional columns are added, empty; the source columns are remembered
    assert obs["n"].isna().all() and tables.columns["observations"][-1] == "value"


def test_one_row_is_a_row_in_messages() -> None:
    """A message naming one row said "(rows 6)"; it says "(row 6)", several are still rows."""
    from pipeline.data.inputs import ParseProblem

    one = InputError("a bad value", table="events", rows=[6])
    assert str(one) == "table 'events': a bad value (row 6)"
    assert str(InputError("bad values", rows=[4, 9])) == "bad values (rows 4, 9)"
    problem = ParseProblem(
        table="events", column="end_date", expected="date (YYYY-MM-DD)", rows=(6,),
        examples=("soon",),
    )  # fmt: skip
    assert "1 value is not a valid date (YYYY-MM-DD) (row 6; e.g. 'soon')" in str(problem)
    two = ParseProblem(
        table="events", column="end_date", expected="date (YYYY-MM-DD)", rows=(6, 8),
        examples=("soon", "later"),
    )  # fmt: skip
    assert "(rows 6, 8; e.g. 'soon', 'later')" in str(two)


def test_describe_bad_values() -> None:
    assert "decimal separator" in describe_bad_values(["3,25"], "number")
    assert describe_bad_values(["abc"], "number") == ""
    assert "YYYY-MM-DD" in describe_bad_values(["31.01.2026"], "date")
    # the right format but no such day: the date is named, the format is not taught
    assert describe_bad_values(["2026-02-30"], "date") == "2026-02-30 is not a calendar date"
    assert describe_bad_values(["2026-13-01", "2025-02-29"], "date") == (
        "2026-13-01, 2025-02-29 are not calendar dates"
    )
    mixed = describe_bad_values(["2026-02-30", "31.01.2026"], "date")
    assert mixed.startswith("2026-02-30 is not a calendar date; write every date as YYYY-MM-DD")
    assert "calendar" not in describe_bad_values(["2024-02-29x"], "date")


def test_missing_required_table_and_unreadable_csv(tmp_path: Path, mini_project: Path) -> None:
    with pytest.raises(InputError, match="required table is not configured"):
        parse_tables({"metrics": pd.DataFrame({c: ["m"] for c in SCHEMA["metrics"]})})
    path = mini_project.parent / "data" / "metrics.csv"
    good = path.read_text()
    path.write_text("metric_id,name,name\nx,y,z\n")
    with pytest.raises(InputError, match=r"header line has a column name twice \(name\)"):
        read_tables(load_project(mini_project))
    path.write_text("metric_id,,name\nx,y,z\n")
    with pytest.raises(InputError, match=r"a column without a name \(column 2\) that has values"):
        read_tables(load_project(mini_project))
    # a spreadsheet's export ends every line with a separator: the empty last column is dropped
    path.write_text("".join(line + ",\n" for line in good.splitlines()))
    with_commas = read_tables(load_project(mini_project))["metrics"]
    path.write_text(good)
    assert with_commas.equals(read_tables(load_project(mini_project))["metrics"])


def test_split_by_site_and_hand_off(tmp_path: Path, mini_project: Path) -> None:
    tables = read_tables(load_project(mini_project))
    parts = split_by_site(tables, ["north", "south"])
    assert set(parts) == {"north", "south"}
    north = parts["north"]
    assert (north["observations"]["site_id"] == "north").all()
    assert len(north["metrics"]) == 2
    total = len(parts["north"]["observations"]) + len(parts["south"]["observations"])
    assert total == len(tables["observations"])
    # the hand-off is Arrow IPC (data only, never pickle); every table comes back as it was
    north.save(tmp_path / "north.inputs")
    back = SiteTables.load(tmp_path / "north.inputs")
    assert back.site_id == "north" and set(back.frames) == set(north.frames)
    for name, frame in north.frames.items():
        pd.testing.assert_frame_equal(back[name], frame, obj=name)


def test_a_large_slice_is_saved_in_batches_and_comes_back_the_same(
    tmp_path: Path, mini_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table longer than SAVE_BATCH_ROWS is written in record batches (its Arrow copy is
    never whole beside the frame); one whose text column is empty in the first batch falls
    back to one write. Either way the slice loads as it was."""
    from pipeline.data import inputs

    tables = read_tables(load_project(mini_project))
    north = split_by_site(tables, ["north"])["north"]
    obs = north["observations"].copy()
    obs["subgroup"] = None
    obs.loc[len(obs) - 3 :, "subgroup"] = "late"  # text only in the last batch
    north.frames["annotations"] = obs.iloc[:0]
    north.frames["defects"] = obs
    monkeypatch.setattr(inputs, "SAVE_BATCH_ROWS", 10)
    north.save(tmp_path / "north.inputs")
    back = SiteTables.load(tmp_path / "north.inputs")
    for name, frame in north.frames.items():
        pd.testing.assert_frame_equal(back[name], frame, obj=name)
    import pyarrow.feather as feather

    batches = feather.read_table(tmp_path / "north.inputs" / "observations.arrow").to_batches()
    assert len(batches) == -(-len(north["observations"]) // 10)


def test_clean_numbers_take_the_fast_path_and_inf_is_refused() -> None:
    metrics = pd.DataFrame({c: ["m"] for c, kind in SCHEMA["metrics"].items() if kind != "float"})
    events = pd.DataFrame({c: [] for c in SCHEMA["events"]})
    obs = pd.DataFrame(
        {"site_id": "a", "metric_id": "m", "timestamp": "2026-01-05",
         "value": [" 1.5", "2", "", "1e3"], "n": ["inf", "3", "4", "5"]}
    )  # fmt: skip
    tables = parse_tables({"metrics": metrics, "observations": obs, "events": events})
    frame = tables["observations"]
    assert frame["value"].tolist()[:2] == [1.5, 2.0] and np.isnan(frame["value"].iloc[2])
    assert frame["value"].iloc[3] == 1000.0
    (problem,) = tables.problems
    assert problem.column == "n" and problem.rows == (2,) and np.isnan(frame["n"].iloc[0])


def test_semicolon_separated_files_from_a_spreadsheet_are_read(mini_project: Path) -> None:
    """Spreadsheets in many locales export ';'-separated CSV, often with decimal commas: the
    file is read, and a decimal comma is then reported as a value that is not a number."""
    from pipeline.data.contracts import validate_project

    data = mini_project.parent / "data"
    for name in ("metrics", "observations"):
        frame = pd.read_csv(data / f"{name}.csv", dtype=str, keep_default_na=False)
        if name == "observations":
            frame.loc[0, "value"] = frame.loc[0, "value"].replace(".", ",")
        frame.to_csv(data / f"{name}.csv", sep=";", index=False)
    project = load_project(mini_project)
    tables = read_tables(project)
    assert list(tables["metrics"]["metric_id"]) == ["lead_time", "defects"]
    report = validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["north"])
    (failure,) = [f for f in report.for_site("north").failures if f.severity == "critical"]
    assert failure.column == "value" and failure.rows == (2,)
    assert "," in failure.examples[0]


@pytest.mark.parametrize("streamed", [False, True], ids=["whole-file", "block-by-block"])
def test_a_table_read_with_decimal_comma_gives_the_numbers_it_writes(
    mini_project: Path, streamed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``decimal: ","`` for a table whose spreadsheet writes 12,5 (and 1.234,5): its numbers
    are read as written, everything else parses as before; a value written with a decimal
    point in such a table is reported, with a hint saying how the table is read."""
    from pipeline.data.contracts import validate_project

    data = mini_project.parent / "data"
    frame = pd.read_csv(data / "observations.csv", dtype=str, keep_default_na=False)
    expected = pd.to_numeric(frame["value"]).to_numpy(copy=True)
    frame["value"] = frame["value"].str.replace(".", ",", regex=False)
    frame.loc[1, "value"], expected[1] = "1.234,5", 1234.5  # thousands grouped with points
    frame.loc[2, "value"], expected[2] = "-0,25", -0.25
    frame.loc[3, "value"] = "7.5"  # a decimal point: could mean 7.5 or 75, so not read
    frame.to_csv(data / "observations.csv", sep=";", index=False)
    text = mini_project.read_text("utf-8")
    assert "observations: {path: data/observations.csv}" in text
    mini_project.write_text(
        text.replace(
            "observations: {path: data/observations.csv}",
            'observations: {path: data/observations.csv, decimal: ","}',
        ),
        "utf-8",
    )
    project = load_project(mini_project)
    assert project.tables["observations"].decimal == ","
    if streamed:  # a large file is read by the streaming reader
        from pipeline.data import inputs

        monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    tables = read_tables(project)
    values = tables["observations"]["value"].to_numpy()
    keep = np.arange(len(values)) != 3
    np.testing.assert_allclose(values[keep], expected[keep])
    assert np.isnan(values[3])
    (problem,) = tables.problems
    assert problem.column == "value" and problem.rows == (5,) and problem.values == ("7.5",)
    report = validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["north"])
    (failure,) = [f for f in report.for_site("north").failures if f.severity == "critical"]
    assert failure.column == "value" and failure.rows == (5,)
    assert 'read with decimal: ","' in failure.hint and "12,5, not 12.5" in failure.hint


def test_decimal_is_refused_for_a_database_table(mini_project: Path) -> None:
    from pipeline.exceptions import ConfigError

    text = mini_project.read_text("utf-8").replace(
        "events: {path: data/events.csv}",
        'events: {sql: "SELECT * FROM events", url: "sqlite:///x.db", decimal: ","}',
    )
    mini_project.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match="decimal applies to a file"):
        load_project(mini_project)


# --------------------------------------------------------------------------- time zones


def _obs(site: str, stamps: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"site_id": site, "metric_id": "m", "timestamp": stamps, "value": "1"})


def test_naive_times_are_site_local_and_offsets_are_converted_to_it() -> None:
    from pipeline.data.inputs import parse_table

    stamps = [
        "2026-01-12",  # naive: the site's own clock, as written
        "2026-01-12 08:15",
        "2026-01-12T08:15:00+01:00",  # CET (winter): 08:15 in Berlin
        "2026-07-13T08:15:00+02:00",  # CEST (summer): 08:15 in Berlin
        "2026-07-13T06:15:00Z",  # the same instant in UTC
        "2026-01-12T02:15:00-05:00",  # New York winter: 07:15 UTC = 08:15 Berlin
    ]
    frame, problems = parse_table(
        "observations", _obs("fab", stamps), timezones={"fab": "Europe/Berlin"}
    )
    assert not problems
    # expected wall times: zoneinfo's Europe/Berlin (UTC+1 in January, UTC+2 in July)
    assert frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2026-01-12 00:00",
        "2026-01-12 08:15",
        "2026-01-12 08:15",
        "2026-07-13 08:15",
        "2026-07-13 08:15",
        "2026-01-12 08:15",
    ]
    assert frame["timestamp"].dtype == "datetime64[ns]"


def test_each_site_gets_its_own_zone_and_an_unknown_site_utc() -> None:
    from pipeline.data.inputs import parse_table

    raw = pd.concat(
        [
            _obs("lisbon", ["2026-07-13T12:00:00+00:00", "2026-07-13 12:00"]),
            _obs("tokyo", ["2026-07-13T12:00:00+00:00"]),
            _obs("nowhere", ["2026-07-13T12:00:00+02:00"]),
        ],
        ignore_index=True,
    )
    frame, _ = parse_table(
        "observations", raw, timezones={"lisbon": "Europe/Lisbon", "tokyo": "Asia/Tokyo"}
    )
    # Lisbon is UTC+1 in summer (WEST), Tokyo UTC+9 all year
    assert frame["timestamp"].dt.strftime("%H:%M").tolist() == ["13:00", "12:00", "21:00", "10:00"]


def test_aware_parquet_column_is_converted_to_site_time(mini_project: Path) -> None:
    data = mini_project.parent / "data"
    frame = pd.read_csv(data / "observations.csv")
    # the same instants, stored as UTC (what a warehouse export often holds)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).dt.tz_localize("Europe/Berlin")
    frame["timestamp"] = frame["timestamp"].dt.tz_convert("UTC")
    frame.to_parquet(data / "observations.parquet")
    text = mini_project.read_text().replace("observations.csv", "observations.parquet")
    mini_project.write_text(
        text.replace("name: North Plant", "name: North Plant\n    timezone: Europe/Berlin")
    )
    tables = read_tables(load_project(mini_project))
    obs = tables["observations"]
    north = obs[obs["site_id"] == "north"]["timestamp"]
    assert (north == north.dt.normalize()).all()  # back on Berlin midnight
    south = obs[obs["site_id"] == "south"]["timestamp"]  # south is UTC: 23:00 or 22:00
    assert set(south.dt.hour) == {22, 23}


@pytest.mark.parametrize(
    ("arrow_type", "shown"),
    [
        ("timestamp[us]", "9999-12-31 00:00:00"),
        ("timestamp[ms, tz=UTC]", "9999-12-31 00:00:00+00:00"),
        ("date32", "9999-12-31"),
    ],
)
def test_a_far_future_date_in_parquet_is_a_bad_date(
    mini_project: Path, arrow_type: str, shown: str
) -> None:
    """A Parquet date column holding 9999-12-31 (pyarrow writes it; pandas reads it in
    microseconds or as a Python date) stopped the read with OutOfBoundsDatetime; the value is
    now reported by the is-a-date rule, on the row its CSV export would give it."""
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.data.contracts import validate_project

    data = mini_project.parent / "data"
    frame = pd.read_csv(data / "events.csv", dtype=str, keep_default_na=False)
    far: object = datetime.date(9999, 12, 31)
    if arrow_type != "date32":
        far = datetime.datetime(9999, 12, 31)
    types = {"timestamp[us]": pa.timestamp("us"), "date32": pa.date32(),
             "timestamp[ms, tz=UTC]": pa.timestamp("ms", tz="UTC")}  # fmt: skip
    ends = pa.array([far if s == "north" else None for s in frame["site_id"]], types[arrow_type])
    table = pa.Table.from_pandas(frame.drop(columns="end_date"), preserve_index=False)
    table = table.add_column(list(frame.columns).index("end_date"), "end_date", ends)
    pq.write_table(table, data / "events.parquet")
    mini_project.write_text(mini_project.read_text().replace("events.csv", "events.parquet"))
    project = load_project(mini_project)
    tables = read_tables(project)
    assert tables["events"]["end_date"].dtype == "datetime64[ns]"
    assert tables["events"]["end_date"].isna().all()
    (problem,) = tables.problems
    assert problem.column == "end_date" and problem.rows == (2,) and problem.values == (shown,)
    report = validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["north"])
    (failure,) = [f for f in report.for_site("north").failures if f.severity == "critical"]
    assert failure.rule == "end_date_is_date" and failure.rows == (2,)
    assert failure.hint == (
        f"{shown} is outside the dates this tool handles (1678–2261); "
        "leave end_date empty for an open-ended event"
    )


def test_the_iso_forms_of_a_date_are_read() -> None:
    """Every form the is-a-date rule names parses (a date; a date and time with T or a space,
    minutes, seconds, fractions; an offset or Z), and only those: what pandas' ISO 8601
    parser reads besides (2025/03/24, 20250331, 2025, 2025-03) is a bad value."""
    from pipeline.data.inputs import parse_table

    good = {
        "2026-03-02": "2026-03-02 00:00:00",
        " 2026-03-02 ": "2026-03-02 00:00:00",
        "2026-03-02 08:15": "2026-03-02 08:15:00",
        "2026-03-02T08:15:30": "2026-03-02 08:15:30",
        "2026-03-02 08:15:30.25": "2026-03-02 08:15:30.250000",
        "2026-03-02T08:15Z": "2026-03-02 08:15:00",
        "2026-03-02T08:15:00+01:00": "2026-03-02 07:15:00",
        "2026-03-02 08:15 +0100": "2026-03-02 07:15:00",
        "2026-03-02T08:15-05": "2026-03-02 13:15:00",
    }
    bad = ["2026/03/02", "20260302", "2026", "2026-03", "2026-3-2", "2026-03-02T08",
           "2026-03-02 08:15:00,5", "2026-03-02Z"]  # fmt: skip
    raw = pd.DataFrame({"site_id": "x", "metric_id": "m", "timestamp": [*good, *bad], "value": "1"})
    frame, problems = parse_table("observations", raw)
    read = frame["timestamp"].iloc[: len(good)].tolist()
    assert read == [pd.Timestamp(t) for t in good.values()]
    (problem,) = problems
    assert problem.column == "timestamp" and problem.values == tuple(bad)
    assert frame["timestamp"].iloc[len(good) :].isna().all()


def test_mixed_offsets_do_not_stop_validation(mini_project: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    path = mini_project.parent / "data" / "observations.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "timestamp"] = frame.loc[0, "timestamp"] + "T09:00:00+01:00"
    frame.loc[1, "timestamp"] = frame.loc[1, "timestamp"] + "T09:00:00+02:00"
    frame.to_csv(path, index=False)
    result = CliRunner().invoke(
        main, ["validate", "--project", str(mini_project), "--as-of", AS_OF]
    )
    assert result.exit_code == 0, result.output
    assert "2 sites: 2 ok" in result.output


def test_a_large_csv_read_in_blocks_gives_the_whole_file_frames_and_problems(
    mini_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV at least STREAM_MIN_BYTES large is read and typed block by block (so the parent
    never holds all its text beside the typed table): frames, problems and row numbers are
    those of reading the whole file at once, whatever block a bad value falls in."""
    from pipeline.data import inputs

    path = mini_project.parent / "data" / "observations.csv"
    lines = path.read_text().splitlines()
    bad = {5: ("value", "n/a"), 40: ("timestamp", "2026-13-01"), 170: ("value", "1e400"),
           171: ("timestamp", "2026-03-02T08:15+01:00"), 300: ("metric_id", "  ")}  # fmt: skip
    header = lines[0].split(",")
    for i, (column, value) in bad.items():
        cells = lines[i].split(",")
        cells[header.index(column)] = value
        lines[i] = ",".join(cells)
    for i in (100, 20, 20):  # blank lines (one of them \r\n) between rows
        lines.insert(i, "\r" if i == 100 else "")
    path.write_bytes("\ufeff".encode() + ("\n".join(lines) + "\n").encode())
    project = load_project(mini_project)
    whole = read_tables(project)
    monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(inputs, "STREAM_BLOCK_BYTES", 1024)  # 14 blocks of about 30 rows
    assert path.stat().st_size > 10 * inputs.STREAM_BLOCK_BYTES
    blocks = read_tables(project)
    for name in whole.frames:
        pd.testing.assert_frame_equal(blocks[name], whole[name])
    assert blocks.columns == whole.columns
    assert blocks.problems == whole.problems
    assert {(p.column, p.rows) for p in whole.problems} == {
        # the bad values' lines in the file as an editor numbers them (header = line 1): two
        # blank lines come before the second, three before the third
        ("value", (6, 174)),
        ("timestamp", (43,)),
    }
    assert blocks.row_number("observations", 300) == whole.row_number("observations", 300) == 305


# one-line files with what a reader skips or joins, and the line each record starts on
LINES_CASES = [
    (b"a,b\n1,2\n3,4\n", [2, 3]),
    (b"a,b\n1,2\n\n3,4\n\r\n5,6", [2, 4, 6]),  # blank lines (\n and \r\n), no final newline
    (b"a,b\r\n1,2\r\n\r\n3,4\r\n", [2, 4]),
    (b"a,b\n1,2\n   \n\t\n3,4\n", [2, 5]),  # lines of spaces and tabs are blank too
    (b'a,b\n1,"x\ny"\n3,4\n"5\n\n",6\n7,8\n', [2, 4, 5, 8]),  # quoted fields over lines
    (b'a,b\n1,"say ""hi""\nthen"\n3,4\n', [2, 4]),  # doubled quotes inside a field
    (b"\n\na,b\n1,2\n", [4]),  # blank lines before the header
    (b"a,b\n1,2\n,\n3,4\n", [2, 3, 4]),  # a line of empty fields is a record
    (b'a,b\n1,5" pipe\n\n3,4\n', [2, 4]),  # a stray quote: the csv module counts instead
    (b"a,b\r1,2\r\r3,4\r", [2, 4]),  # lines ended by \r alone: the csv module counts
    (b"a;b\n1;2\n\n3;4\n", [2, 4]),
]


@pytest.mark.parametrize(("data", "lines"), LINES_CASES)
def test_row_numbers_are_the_lines_records_start_on(
    tmp_path: Path, data: bytes, lines: list[int]
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    sep = ";" if b";" in data else ","
    frame = pd.read_csv(path, dtype=str, sep=sep, skipinitialspace=True)
    assert len(frame) == len(lines)  # the readers skip and join lines so
    numbering = csv_row_numbers(path, records=len(frame), separator=sep)
    assert numbering.lines(range(len(frame))).tolist() == lines


def test_row_numbers_when_the_file_holds_other_records_are_the_plain_ones(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n\n3,4\n")
    assert csv_row_numbers(path, records=5).lines(range(5)).tolist() == [2, 3, 4, 5, 6]


_CELLS = st.sampled_from(
    ["x", "y z", 'q"uote', "two\nlines", "a\n\nblank line", "", " lead", "a,b", "\r\nend"]
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(_CELLS, st.sampled_from(["", "\n", "\r\n", "  \n", "\n\n"])),
        min_size=1,
        max_size=30,
    ),
    ending=st.sampled_from(["\n", "\r\n"]),
    pieces=st.integers(1, 64),
    last_newline=st.booleans(),
)
def test_line_scanner_finds_every_record_line(rows, ending, pieces, last_newline) -> None:
    """Written by the csv module with blank lines between records: each record's line is known
    as it is written; the scanner, fed the bytes in pieces of any size, finds it."""
    text, expected, line = "a,b,c" + ending, [], 2
    for k, (cell, blank) in enumerate(rows):
        out = io.StringIO()
        csv.writer(out, lineterminator=ending).writerow([k, cell, "v"])
        expected.append(line)
        text += out.getvalue() + blank
        line += (out.getvalue() + blank).count("\n")
    if not last_newline:
        text = text.rstrip("\r\n")
    data = text.encode()
    frame = pd.read_csv(io.BytesIO(data), dtype=str, skipinitialspace=True)
    assert len(frame) == len(rows)
    scanner = LineScanner()
    for start in range(0, len(data), pieces):
        scanner.feed(data[start : start + pieces])
    scanner.finish()
    numbering = scanner.row_numbers(len(rows))
    assert numbering is not None and numbering.lines(range(len(rows))).tolist() == expected
