"""Read the input tables (CSV, Parquet or SQL), give them their types, and split them by site.

Reading is two steps so that bad data can be described instead of crashing: :func:`read_tables`
reads every column as text (CSV) or as stored (Parquet, SQL); :func:`parse_tables` converts the
columns to their types and records every value that does not parse as a :class:`ParseProblem`
(table, column, row numbers as a person counts them in the file, examples). The contracts report
those problems next to their own rules.
"""

from __future__ import annotations

import csv
import datetime
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.config import TABLES, TABLES_REQUIRED, Project, TableSource
from pipeline.data.csvlines import RowNumbers, csv_row_numbers
from pipeline.exceptions import InputError, StatisticsError
from pipeline.formatting import count_of

#: Columns of each table and their type: str, float, date, or cat (text from a fixed set).
SCHEMA: dict[str, dict[str, str]] = {
    "metrics": {
        "metric_id": "str",
        "name": "str",
        "unit": "str",
        "chart": "str",
        "better": "str",
        "period": "str",
        "aggregate": "str",
        "lower_bound": "float",
        "upper_bound": "float",
        "lsl": "float",
        "usl": "float",
        "target": "float",
    },
    "observations": {
        "site_id": "str",
        "metric_id": "str",
        "timestamp": "date",
        "value": "float",
        "n": "float",
        "subgroup": "str",
    },
    "events": {
        "site_id": "str",
        "event_id": "str",
        "title": "str",
        "kind": "str",
        "goal_id": "str",
        "start_date": "date",
        "effective_date": "date",
        "end_date": "date",
        "metric_ids": "str",
        "owner": "str",
        "status": "str",
        "practice": "str",
        "claimed_saving": "float",
    },
    "goals": {
        "goal_id": "str",
        "site_id": "str",
        "metric_id": "str",
        "title": "str",
        "baseline_start": "date",
        "baseline_end": "date",
        "target_kind": "str",
        "target_value": "float",
        "due_date": "date",
    },
    "suggestions": {
        "site_id": "str",
        "suggestion_id": "str",
        "submitted_on": "date",
        "area": "str",
        "status": "str",
        "implemented_on": "date",
        "estimated_saving": "float",
    },
    "headcount": {"site_id": "str", "month": "date", "headcount": "float"},
    "surveys": {
        "site_id": "str",
        "date": "date",
        "instrument": "str",
        "score": "float",
        "responses": "float",
    },
    "defects": {
        "site_id": "str",
        "timestamp": "date",
        "category": "str",
        "count": "float",
        "metric_id": "str",
    },
    "annotations": {
        "site_id": "str",
        "metric_id": "str",
        "timestamp": "date",
        "note": "str",
        "exclude": "str",
    },
}

#: Columns that may be absent from a file (they are added, empty).
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "metrics": ("lower_bound", "upper_bound", "lsl", "usl", "target"),
    "observations": ("n", "subgroup"),
    "events": ("goal_id", "end_date", "practice", "claimed_saving"),
    "suggestions": ("implemented_on", "estimated_saving"),
    "surveys": ("responses",),
    "defects": ("metric_id",),
    "annotations": ("exclude",),
}

#: Tables without a site_id column (shared by every site).
GLOBAL_TABLES = ("metrics",)

_MAX_EXAMPLES = 5
#: The largest magnitude a number may have (the *_not_huge contracts say the same): beyond it,
#: squares and sums overflow float64 in the statistics.
MAX_MAGNITUDE = 1e15


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseProblem:
    """Values of one column that do not parse as the column's type."""

    table: str
    column: str
    expected: str
    rows: tuple[int, ...]
    examples: tuple[str, ...]
    site_ids: tuple[str, ...] = ()
    #: 0-based positions of the bad values in the table, and every bad value as text.
    positions: tuple[int, ...] = ()
    values: tuple[str, ...] = ()

    @property
    def hint(self) -> str:
        """What is probably wrong, in words, from the examples."""
        return describe_bad_values(self.examples, self.expected, column=self.column)

    def __str__(self) -> str:
        shown = ", ".join(str(r) for r in self.rows[:_MAX_EXAMPLES])
        more = (
            f" and {len(self.rows) - _MAX_EXAMPLES} more" if len(self.rows) > _MAX_EXAMPLES else ""
        )
        ex = ", ".join(repr(e) for e in self.examples)
        hint = f"; {self.hint}" if self.hint else ""
        return (
            f"table {self.table!r}, column {self.column!r}: {count_of(len(self.rows), 'value')} "
            f"{'is' if len(self.rows) == 1 else 'are'} not "
            f"a valid {self.expected} ({'row' if len(self.rows) == 1 else 'rows'} "
            f"{shown}{more}; e.g. {ex}){hint}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Tables:
    """The project's input tables. ``frames`` maps table name to DataFrame (optional ones may be
    absent); ``problems`` lists values that failed to parse; ``numbering`` turns a 0-based
    frame index into the row number a person sees in the source (the line of a CSV file the
    record starts on, header = line 1; a Parquet file or SQL query as its CSV export)."""

    frames: dict[str, pd.DataFrame]
    problems: tuple[ParseProblem, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    #: The columns each source really had (before missing optional columns were added).
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Each table's row numbers (a table without one: position + 2, no line skipped).
    numbering: dict[str, RowNumbers] = field(default_factory=dict)

    def row_number(self, table: str, position: int) -> int:
        """The row number a person sees for a 0-based position: the line of a CSV file the
        record starts on (header = line 1, blank lines and lines inside quoted fields counted),
        for other sources the record's number plus 1, as in their CSV export."""
        return self.numbering.get(table, RowNumbers()).line(position)

    def row_numbers(self, table: str, positions: Iterable[int] | np.ndarray) -> tuple[int, ...]:
        """:meth:`row_number` of each position."""
        lines = self.numbering.get(table, RowNumbers()).lines(positions)
        return tuple(int(n) for n in lines)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def get(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.frames


def read_tables(
    project: Project, *, already_read: Mapping[str, pd.DataFrame] | None = None
) -> Tables:
    """Read and parse every configured table of ``project``.

    ``already_read`` holds tables the caller has read with :func:`read_table` (a run digests
    its SQL tables before deciding whether to read anything else): they are not read again.

    Raises
    ------
    InputError
        When a table cannot be read at all (missing file, empty file, not UTF-8, SQL error) or a
        required column is missing. Values that do not parse are *not* errors here: they are
        returned as ``problems`` for the contracts to report.
    """
    done = dict(already_read or {})
    zones = project.timezones()
    parsed: dict[str, Tables] = {}
    # one table at a time, its raw text dropped once typed: the parent never holds the raw
    # and the typed copy of every table at once
    for name, source in project.tables.items():
        if name not in done and name in SCHEMA:
            streamed = _read_csv_in_blocks(source, timezones=zones)
            if streamed is not None:
                parsed[name] = streamed
                continue
        raw = done.pop(name) if name in done else read_table(source)
        numbering = {name: row_numbers_of(source, records=len(raw))}
        parsed[name] = parse_tables(
            {name: raw}, numbering=numbering, timezones=zones, partial=True,
            decimals={name: source.decimal},
        )  # fmt: skip
        del raw
    order = [parsed[name] for name in TABLES if name in parsed]  # as parse_tables orders them
    for name in TABLES_REQUIRED:
        if name not in parsed:
            raise InputError("required table is not configured", table=name)
    return Tables(
        frames={k: v for t in order for k, v in t.frames.items()},
        problems=tuple(p for t in order for p in t.problems),
        sources={name: source.describe() for name, source in project.tables.items()},
        columns={k: v for t in order for k, v in t.columns.items()},
        numbering={k: v for t in order for k, v in t.numbering.items()},
    )


#: A CSV file at least this large is read and typed block by block (:func:`_read_csv_in_blocks`).
STREAM_MIN_BYTES = 32 << 20
#: Bytes of CSV text per block when a file is read in blocks.
STREAM_BLOCK_BYTES = 16 << 20


def _read_csv_in_blocks(source: TableSource, *, timezones: Mapping[str, str]) -> Tables | None:
    """A large CSV file read with pyarrow's streaming reader and typed one block of rows at a
    time, so that its raw text is never all in memory beside the typed table (a 2-million-row
    observations file is about 280 MiB as text, under 100 MiB typed).

    Gives the frame and problems :func:`read_table` and :func:`parse_tables` give; returns None
    for a small file, a file that is not CSV, or one pyarrow refuses (not UTF-8, broken
    quoting, no rows): the whole-file reader then reads it and words its messages.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path, name = source.path, source.name
    if (
        path is None
        or path.suffix.lower() in (".parquet", ".pq")
        or not path.is_file()
        or path.stat().st_size < STREAM_MIN_BYTES
        or _utf16_sign(path)  # the whole-file reader says it is UTF-16
    ):
        return None
    sep = _separator(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, delimiter=sep), [])
    except UnicodeDecodeError:
        return None  # the whole-file reader says where the file is not UTF-8
    names = [str(c).strip() for c in header]
    if not names or len(set(names)) != len(names) or "" in names:
        return None  # the whole-file reader names the problem
    blocks: list[pd.DataFrame] = []
    found: list[tuple[int, ParseProblem]] = []
    start = 0
    try:
        reader = pacsv.open_csv(
            path,
            # the header as the csv module read it (a byte-order mark never reaches a name)
            read_options=pacsv.ReadOptions(
                block_size=STREAM_BLOCK_BYTES, column_names=header, skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            # as read_csv(dtype=str, keep_default_na=False, na_values=[""]): text, "" missing
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        for batch in reader:
            raw = batch.to_pandas()
            raw.columns = names
            frame, problems = parse_table(name, raw, timezones=timezones, decimal=source.decimal)
            del raw
            blocks.append(frame)
            found.extend((start, p) for p in problems)
            start += len(frame)
    except (pa.ArrowException, UnicodeDecodeError, OSError, ValueError):
        return None
    if not blocks or start == 0:
        return None
    # a second pass over the bytes (from the page cache: a tenth of the read's time) and not
    # a scan of what pyarrow reads: pyarrow reading through a Python file object took twice
    # as long
    numbering = row_numbers_of(source, records=start)
    frame = _concat_by_column(blocks)
    del blocks
    return Tables(
        frames={name: frame},
        problems=_merge_problems(found, numbering=numbering),
        columns={name: tuple(names)},
        numbering={name: numbering},
    )


def _concat_by_column(blocks: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(blocks, ignore_index=True)``, one column at a time, each block's copy of a
    column dropped once it is joined: the table is held about once, not twice, while joining."""
    if len(blocks) == 1:
        return blocks[0]
    names = list(blocks[0].columns)
    columns: dict[str, pd.Series] = {}
    for name in names:
        columns[name] = pd.concat([b[name] for b in blocks], ignore_index=True)
        for b in blocks:
            del b[name]
    return pd.DataFrame(columns, copy=False)


def _merge_problems(
    found: list[tuple[int, ParseProblem]], *, numbering: RowNumbers
) -> tuple[ParseProblem, ...]:
    """One problem per column from the problems of each block (``found``: the block's first
    position and its problems), positions counted from the start of the table."""
    by_column: dict[str, list[tuple[int, ParseProblem]]] = {}
    for start, problem in found:
        by_column.setdefault(problem.column, []).append((start, problem))
    merged = []
    for parts in by_column.values():
        first = parts[0][1]
        positions = tuple(start + p for start, problem in parts for p in problem.positions)
        values = tuple(v for _, problem in parts for v in problem.values)
        merged.append(
            ParseProblem(
                table=first.table,
                column=first.column,
                expected=first.expected,
                rows=tuple(int(n) for n in numbering.lines(positions)),
                examples=values[:_MAX_EXAMPLES],
                site_ids=tuple(sorted({s for _, problem in parts for s in problem.site_ids})),
                positions=positions,
                values=values,
            )
        )
    order = list(SCHEMA[found[0][1].table]) if found else []
    return tuple(sorted(merged, key=lambda p: order.index(p.column)))


def row_numbers_of(source: TableSource, *, records: int) -> RowNumbers:
    """How the ``records`` records read from ``source`` are numbered in messages.

    A CSV file's records by the line each starts on (header = line 1; blank lines and the
    extra lines of a quoted field that holds newlines counted, as an editor shows them). A
    Parquet file or SQL query is numbered as its CSV export would be (first record = row 2),
    so that it gives the same messages, and the same results.json, as the same data in CSV.
    """
    path = source.path
    if path is None or path.suffix.lower() in (".parquet", ".pq") or not path.is_file():
        return RowNumbers()
    return csv_row_numbers(path, records=records, separator=_separator(path))


def read_table(source: TableSource) -> pd.DataFrame:
    """Read one table as text columns (CSV) or as stored (Parquet, SQL)."""
    if source.path is not None:
        return _read_file(source.name, source.path)
    return _read_sql(source)


def _read_file(table: str, path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(
            f"file {path} does not exist",
            table=table,
            hint=f"check tables.{table}.path in kaizen.yaml",
        )
    if path.stat().st_size == 0:
        raise InputError(f"file {path} is empty (expected a header line and rows)", table=table)
    suffix = path.suffix.lower()
    utf16 = _utf16_sign(path) if suffix not in (".parquet", ".pq") else ""
    if utf16:
        raise InputError(
            f"file {path} is UTF-16 text, not UTF-8 ({utf16})",
            table=table,
            hint="save the file as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)', "
            "not 'Unicode Text')",
        )
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = _read_csv(path)
    except UnicodeDecodeError:
        raise _not_utf8(table, path) from None
    except pd.errors.EmptyDataError:
        raise InputError(
            f"file {path} is empty (expected a header line and rows)", table=table
        ) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"file {path} is not a valid CSV file: {exc}", table=table) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"file {path} cannot be read: {exc}", table=table) from None
    header = list(frame.columns)
    if suffix not in (".parquet", ".pq"):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, delimiter=_separator(path)), [])
    frame.columns = [str(c).strip() for c in frame.columns]
    names = [str(c).strip() for c in header]
    frame, names = _without_trailing_blank_columns(frame, names)
    duplicated = sorted({c for c in names if names.count(c) > 1 and c})
    unnamed = [str(k) for k, n in enumerate(names, start=1) if not n]
    if duplicated or unnamed:
        what = []
        if unnamed:
            what.append(f"a column without a name (column {', '.join(unnamed)}) that has values")
        if duplicated:
            what.append(f"a column name twice ({', '.join(duplicated)})")
        raise InputError(
            f"file {path}: its header line has {' and '.join(what)}",
            table=table,
            rows=[1],
        )
    return frame


def _without_trailing_blank_columns(
    frame: pd.DataFrame, names: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Drop the columns after the last named one when they have no name and no value: a
    spreadsheet's export that ends every line with a separator ("a,b,c," and "1,2,3,")."""
    blank = len(names) - len(list(itertools.dropwhile(lambda n: n == "", reversed(names))))
    if not blank or blank == len(names) or len(frame.columns) != len(names):
        return frame, names
    tail = frame.iloc[:, -blank:].fillna("").astype(str)
    if (tail.apply(lambda column: column.str.strip()) != "").any().any():
        return frame, names  # a column without a name but with values: the error says so
    return frame.iloc[:, :-blank], names[:-blank]


def _read_csv(path: Path) -> pd.DataFrame:
    """Every cell as text; pyarrow's multi-threaded reader, or pandas' own parser when pyarrow
    refuses the file (its messages name the line, so a broken file gets the better message).

    The separator is the comma, unless the header line has none and is split by ``;`` or a tab
    (what spreadsheets export in many locales), which is then used instead."""
    options: dict[str, Any] = {
        "dtype": str, "keep_default_na": False, "na_values": [""], "sep": _separator(path),
    }  # fmt: skip
    try:
        return pd.read_csv(path, engine="pyarrow", encoding="utf-8", **options)
    except (pd.errors.ParserError, ValueError, ImportError):
        return pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True, **options)


def _separator(path: Path) -> str:
    with path.open("rb") as fh:
        header = fh.readline()
    if b"," in header:
        return ","
    for sep in (b";", b"\t"):
        if sep in header:
            return sep.decode()
    return ","


def _utf16_sign(path: Path) -> str:
    """What shows a file is UTF-16 ('' when nothing does): a byte-order mark (FF FE or FE FF),
    what Excel's "Unicode Text" and some database tools write (read as UTF-8 it looked like
    Windows-1252, "ÿþ", to the not-UTF-8 message); or, without one, a NUL byte beside every
    other character of its start, as UTF-16 writes plain ASCII (read as UTF-8 the header came
    out as "s\\x00i\\x00t\\x00e..." and no column was found)."""
    with path.open("rb") as fh:
        head = fh.read(512)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "it starts with a UTF-16 byte-order mark"
    pairs = len(head) // 2
    if pairs >= 2:
        odd, even = head[1 : 2 * pairs : 2].count(0), head[0 : 2 * pairs : 2].count(0)
        if max(odd, even) >= 0.9 * pairs and min(odd, even) == 0:
            order = "little" if odd > even else "big"
            return f"every other byte is a NUL, as {order}-endian UTF-16 writes plain text"
    return ""


def _not_utf8(table: str, path: Path) -> InputError:
    """Find the first line that is not UTF-8 (only runs on a file that failed to decode)."""
    bad_line, shown = 0, ""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line[max(0, exc.start - 20) : exc.end + 20]
                bad_line, shown = number, bad.decode("utf-8", errors="replace").strip()
                try:  # the usual culprit: a spreadsheet's Windows-1252 / Latin-1 export
                    guess = bad.decode("cp1252").strip()
                    shown = f"{guess!r}, which looks like Windows-1252/Latin-1"
                except UnicodeDecodeError:
                    shown = repr(shown)
                break
    return InputError(
        f"file {path} is not UTF-8 text (first bad byte on line {bad_line}: {shown})",
        table=table,
        rows=[bad_line],
        hint="save the file as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)')",
    )


def _read_sql(source: TableSource) -> pd.DataFrame:
    import sqlalchemy as sa

    try:
        url = sa.engine.make_url(source.url or "")
    except sa.exc.ArgumentError:
        raise InputError(
            f"the database URL of tables.{source.name} is not a valid SQLAlchemy URL",
            table=source.name,
        ) from None
    password = None
    if source.password_env:
        password = os.environ.get(source.password_env)
        if password is None:
            raise InputError(
                f"environment variable {source.password_env} (the database password) is not set",
                table=source.name,
            )
        url = url.set(password=password)
    if source.sql:
        query: Any = sa.text(source.sql)
    else:
        schema, _, name = (source.sql_table or "").rpartition(".")
        query = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))

    def scrub(text: str) -> str:
        # a driver may echo what it was given; the password must not reach a log or a terminal
        return text.replace(password, "***") if password else text

    try:
        engine = sa.create_engine(url)
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise InputError(
            f"cannot connect to {source.describe()}: {scrub(str(exc))}", table=source.name
        ) from None
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(query, conn)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
        detail = str(getattr(cause, "orig", None) or cause).strip().splitlines()
        raise InputError(
            f"SQL read from {source.describe()} failed: {scrub(detail[0] if detail else str(exc))}",
            table=source.name,
        ) from None
    finally:
        engine.dispose()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def parse_tables(
    raw: Mapping[str, pd.DataFrame],
    *,
    numbering: Mapping[str, RowNumbers] | None = None,
    timezones: Mapping[str, str] | None = None,
    partial: bool = False,
    decimals: Mapping[str, str] | None = None,
) -> Tables:
    """Give every column its type; collect values that do not parse.

    ``partial=True`` parses the tables given without requiring the required ones (a caller
    that parses table by table checks them itself). ``decimals``: a table's decimal separator
    when it is not the point (:func:`parse_table`).

    A missing column or a table without rows is not an error here: the data contracts report it
    (the column is added, empty, so that the rest of the pipeline can rely on the schema).
    ``timezones`` (site id to IANA zone name) say what local time is at each site: see
    :func:`parse_table`.
    """
    numbered = dict(numbering or {})
    frames: dict[str, pd.DataFrame] = {}
    columns: dict[str, tuple[str, ...]] = {}
    problems: list[ParseProblem] = []
    for name in TABLES:
        if name not in raw:
            continue
        columns[name] = tuple(str(c) for c in raw[name].columns)
        frame, probs = parse_table(
            name, raw[name], row_numbers=numbered.get(name), timezones=timezones,
            decimal=(decimals or {}).get(name, "."),
        )  # fmt: skip
        frames[name] = frame
        problems.extend(probs)
    for name in () if partial else TABLES_REQUIRED:
        if name not in frames:
            raise InputError("required table is not configured", table=name)
    return Tables(frames=frames, problems=tuple(problems), columns=columns, numbering=numbered)


def parse_table(
    name: str,
    raw: pd.DataFrame,
    *,
    row_numbers: RowNumbers | None = None,
    timezones: Mapping[str, str] | None = None,
    decimal: str = ".",
) -> tuple[pd.DataFrame, list[ParseProblem]]:
    """Type one table's columns. Unknown extra columns are kept as they are; missing ones are
    added empty (the contracts report them).

    With ``decimal=","`` a number is written with a decimal comma (``12,5``; thousands, if
    grouped, with points: ``1.234,5``); a value with a point in any other place (``12.5``) does
    not parse in such a table, since it could mean either.

    Dates and times are the site's local wall-clock time, as naive timestamps: a naive value
    (``2026-03-02 08:15``) is taken as it is, in the time zone of the row's site; a value with
    an offset or ``Z`` (``2026-03-02T08:15+01:00``, a tz-aware Parquet/SQL column) is converted
    to that zone (``timezones``, site id to IANA name; UTC for a site that has none), so mixed
    offsets and daylight-saving offsets (+01:00 in winter, +02:00 in summer) land on the
    same local clock.
    """
    schema = SCHEMA[name]
    # shallow: every typed column replaces its raw one in this frame only (copy-on-write), so
    # the raw text is not held twice while a large table is parsed
    frame = raw.copy(deep=False)
    frame.index = pd.RangeIndex(len(frame))
    problems: list[ParseProblem] = []
    sites = frame["site_id"] if "site_id" in frame.columns else None
    for column, kind in schema.items():
        if column not in frame.columns:
            if kind == "date":
                frame[column] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
            elif kind == "float":
                frame[column] = np.nan
            else:
                frame[column] = pd.Series(None, index=frame.index, dtype=object)
            continue
        values = frame[column]
        if kind == "str":
            frame[column] = _as_text(values)
            continue
        given = _from_decimal_comma(values) if kind == "float" and decimal == "," else values
        parsed, bad = _parse_column(given, kind, sites=sites, timezones=timezones)
        frame[column] = parsed
        if bad.any():
            idx = np.flatnonzero(bad.to_numpy())
            site_ids: tuple[str, ...] = ()
            if sites is not None:
                site_ids = tuple(
                    sorted({str(s).strip() for s in sites.iloc[idx].dropna().unique()})
                )
            bad_values = tuple(str(v) for v in values.iloc[idx])
            problems.append(
                ParseProblem(
                    table=name,
                    column=column,
                    expected=(
                        "number with a decimal comma (12,5)"
                        if kind == "float" and decimal == ","
                        else {"float": "number", "date": "date (YYYY-MM-DD)"}[kind]
                    ),
                    rows=tuple(int(n) for n in (row_numbers or RowNumbers()).lines(idx)),
                    examples=bad_values[:_MAX_EXAMPLES],
                    site_ids=site_ids,
                    positions=tuple(int(i) for i in idx),
                    values=bad_values,
                )
            )
    return frame, problems


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_DECIMAL_POINT = re.compile(r"^\s*[-+]?\d*\.\d+\s*$")
#: A number with a decimal comma, its thousands (if grouped) with points: 12,5 · -1.234,5 · 7
_COMMA_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:\.\d{3})+|\d*)(?:,\d+)?(?:[eE][-+]?\d+)?$")


def _from_decimal_comma(values: pd.Series) -> pd.Series:
    """A decimal-comma table's number column written with a decimal point, for the parser:
    ``1.234,5`` becomes ``1234.5``. A value that is not written that way (``12.5``) becomes
    text that does not parse, so it is reported with the column's other bad values."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values  # a Parquet column of numbers: nothing written
    text = values.astype("string").str.strip()
    ok = text.str.fullmatch(_COMMA_NUMBER).fillna(True)
    out = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return out.where(ok, "not a decimal-comma number")


_MISSING_WORDS = {"n/a", "na", "nan", "null", "none", "-", "--", "?", "missing"}


#: Date columns the contracts let be empty, and what an empty one says: what to write instead
#: of a far-off placeholder date (9999-12-31) in them.
_EMPTY_DATE_MEANS = {
    "end_date": "leave end_date empty for an open-ended event",
    "due_date": "leave due_date empty for a goal without a due date",
    "implemented_on": "leave implemented_on empty for an idea not implemented yet",
}


def describe_bad_values(
    examples: Iterable[str], expected: str, *, column: str | None = None
) -> str:
    """A plain-words guess at what is wrong with values that did not parse (``column``, when
    given, lets a hint say what to write in that column instead)."""
    examples = [str(e) for e in examples]
    hints = []
    if expected.startswith("number with a decimal comma"):
        if any(_DECIMAL_POINT.match(e) for e in examples):
            hints.append(
                'the table is read with decimal: "," (kaizen.yaml), so write 12,5, not 12.5'
            )
    elif any(_DECIMAL_COMMA.match(e) for e in examples):
        hints.append(
            "use a point as the decimal separator (12.5, not 12,5), or, if the whole file "
            'writes its numbers that way, give the table decimal: "," in kaizen.yaml'
        )
    if any(e.strip().lower() in _MISSING_WORDS for e in examples):
        hints.append("leave the cell empty for a missing value instead of writing N/A")
    if expected.startswith("date") and examples:
        # written as YYYY-MM-DD but no day of the calendar (2026-02-30): the format is right
        impossible = [e.strip() for e in examples if _is_impossible_iso_date(e)]
        if impossible:
            shown = ", ".join(dict.fromkeys(impossible))
            are = (
                "is not a calendar date" if len(set(impossible)) == 1 else "are not calendar dates"
            )
            hints.append(f"{shown} {are}")
        # a right form and a real day, but beyond the years a timestamp holds (9999-12-31)
        far = [e.strip() for e in examples if _is_out_of_range_iso_date(e)]
        if far:
            shown = ", ".join(dict.fromkeys(far))
            are = "is" if len(set(far)) == 1 else "are"
            hints.append(
                f"{shown} {are} outside the dates this tool handles "
                f"({FIRST_DATE_YEAR}–{LAST_DATE_YEAR})"
            )
            if column in _EMPTY_DATE_MEANS:
                hints.append(_EMPTY_DATE_MEANS[column])
        if len(impossible) + len(far) < len(examples):
            hints.append(
                "write every date as YYYY-MM-DD (e.g. 2026-01-31), one format for the column"
            )
    return "; ".join(hints)


_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
#: The date at the start of a date or date and time written in ISO form (a Parquet or SQL
#: timestamp is shown as 9999-12-31 00:00:00).
_ISO_DATE_FIRST = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}\S*)?\s*$")


def _is_out_of_range_iso_date(text: str) -> bool:
    """True for a calendar date in ISO form whose year is outside the years a date column may
    hold (9999-12-31, 2300-01-01 08:00, 1600-01-01)."""
    m = _ISO_DATE_FIRST.match(text)
    if m is None:
        return False
    try:
        day = datetime.date(*(int(g) for g in m.groups()))
    except ValueError:
        return False
    return not FIRST_DATE_YEAR <= day.year <= LAST_DATE_YEAR


def _is_impossible_iso_date(text: str) -> bool:
    """True for text in the YYYY-MM-DD form that names no calendar day (2026-02-30, 2026-13-01)."""
    m = _ISO_DATE.match(text)
    if m is None:
        return False
    try:
        datetime.date(*(int(g) for g in m.groups()))
    except ValueError:
        return True
    return False


def _as_text(values: pd.Series) -> pd.Series:
    """Stripped text as Python ``str`` objects; blank and missing cells are ``None`` whatever
    the source (CSV, Parquet, SQL) so that every source gives the same frame."""
    text = values.astype("string").str.strip()
    missing = (text.isna() | (text == "")).to_numpy(dtype=bool)
    # One Python str per distinct value, shared by every row that holds it: site, metric and
    # subgroup ids repeat over millions of rows, and an object of its own per row (about 60
    # bytes each) made the parsed observations larger than the file.
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    pool = np.asarray(uniques.astype(object), dtype=object)
    out = np.empty(len(text), dtype=object)  # None everywhere, then the values
    present = (codes >= 0) & ~missing
    out[present] = pool[codes[present]]
    return pd.Series(out, index=values.index, dtype=object)


def _arrow_float(values: pd.Series) -> pd.Series | None:
    """The column as float64 through one vectorised pyarrow cast, or None when any value does
    not parse (the slower path then finds which)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pc.utf8_trim_whitespace(pa.array(values.astype("str").array))
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
        out = pc.cast(arr, pa.float64())
    except Exception:  # noqa: BLE001 - any refusal means "not all numbers": take the slow path
        return None
    return pd.Series(out.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")


def _parse_column(
    values: pd.Series,
    kind: str,
    *,
    sites: pd.Series | None = None,
    timezones: Mapping[str, str] | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Parsed values and a mask of non-empty values that did not parse."""
    present = values.notna()
    if kind == "float":
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parsed = values.astype("float64")
            return parsed, pd.Series(False, index=values.index)
        fast = _arrow_float(values)
        if fast is not None:  # every value parsed: no per-value work left
            bad = pd.Series(np.isinf(fast.fillna(0.0).to_numpy()), index=values.index)
            fast[bad.to_numpy()] = np.nan
            return fast, bad
        text = values.astype("string").str.strip()
        present &= (text != "").fillna(False)
        parsed = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = present & parsed.isna()
        # inf is a parse success for pandas but never a valid measurement
        bad |= np.isinf(parsed.fillna(0.0))
        parsed[np.isinf(parsed.fillna(0.0))] = np.nan
        return parsed, bad
    # dates: ISO dates or datetimes, one format per column (mixed formats are reported)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
        if getattr(parsed.dt, "tz", None) is not None:
            aware = pd.Series(True, index=values.index)
            parsed = _to_site_time(parsed.dt.tz_convert("UTC"), aware, sites, timezones)
        return _within_date_range(parsed, present)
    text = values.astype("string").str.strip()
    present &= (text != "").fillna(False)
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    except ValueError:  # naive values mixed with offsets, or several offsets
        parsed = None
    if parsed is None or getattr(parsed.dt, "tz", None) is not None:
        # only here (some value has an offset) is each value looked at for one
        aware = text.str.contains(_OFFSET, regex=True).fillna(False).astype(bool)
        utc = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        parsed = _to_site_time(utc, aware, sites, timezones)
    # pandas' ISO 8601 parser also reads 2025/03/24, 20250331 and 2025 (as 1 January): only
    # the forms the rule names are dates here
    parsed = parsed.where(_is_iso_written(text))
    return _within_date_range(parsed, present)


#: How a date column's text may write a date: ISO 8601's YYYY-MM-DD, or a date and time
#: (T or a space between; hours and minutes, then seconds and a decimal fraction of them if
#: given), the time with or without a UTC offset (+01:00, +0100, +01) or Z.
_ISO_WRITTEN = (
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?))?)?$"
)


def _is_iso_written(text: pd.Series) -> np.ndarray:
    """True where ``text`` (stripped) is written in a form of :data:`_ISO_WRITTEN`, and where
    it is missing; one vectorised pyarrow regular-expression match over the column (pandas'
    ``str.fullmatch`` took ten times as long on 2 million timestamps)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    matched = pc.match_substring_regex(pa.array(text.array, type=pa.string()), _ISO_WRITTEN)
    out: np.ndarray = matched.fill_null(True).to_numpy(zero_copy_only=False)
    return out


#: The dates a date column may hold: the whole years inside pandas' nanosecond timestamps
#: (1677-09-21 to 2262-04-11), which every table's dates are held as.
FIRST_DATE_YEAR, LAST_DATE_YEAR = 1678, 2261
_FIRST_DATE = pd.Timestamp(year=FIRST_DATE_YEAR, month=1, day=1)
_AFTER_LAST_DATE = pd.Timestamp(year=LAST_DATE_YEAR + 1, month=1, day=1)


def _within_date_range(parsed: pd.Series, present: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parsed dates as nanosecond timestamps and a mask of present values that are no date in
    that range: a far-off date (9999-12-31, an "open-ended" placeholder) parses in the
    microsecond or second units pandas reads it in, but cannot be held as a nanosecond one,
    so it is a value that does not parse, reported with the column's other bad values."""
    inside = ((parsed >= _FIRST_DATE) & (parsed < _AFTER_LAST_DATE)).fillna(False).astype(bool)
    bad = present & ~inside
    return parsed.where(inside).astype("datetime64[ns]"), bad


#: The end of an ISO time with a UTC offset or Z (a date alone, 2026-01-05, has none).
_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")


def _to_site_time(
    utc: pd.Series,
    aware: pd.Series,
    sites: pd.Series | None,
    timezones: Mapping[str, str] | None,
) -> pd.Series:
    """Naive local times: ``utc`` holds aware values as UTC and naive ones as written (parsed
    as if UTC); the aware ones are moved to the zone of their row's site."""
    wall = utc.dt.tz_localize(None)
    if not aware.any():
        return wall
    zones = pd.Series("UTC", index=utc.index, dtype=object)
    if sites is not None and timezones:
        zones = sites.astype("string").str.strip().map(dict(timezones)).fillna("UTC")
    out = wall.copy()
    for zone in pd.unique(zones[aware]):
        rows = aware & (zones == zone)
        out[rows] = utc[rows].dt.tz_convert(str(zone)).dt.tz_localize(None)
    return out


#: A site's table longer than this is saved in record batches of this many rows.
SAVE_BATCH_ROWS = 65_536


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteTables:
    """One site's slice of every table (metrics are shared) — what a site's notebook reads."""

    site_id: str
    frames: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def get(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)

    def save(self, path: Path) -> None:
        """Write the slice for a site's notebook into the folder ``path``: one Arrow IPC file per
        table (a private hand-off, not an output). Arrow IPC holds data and never code, so a
        file planted there cannot make the next run execute anything."""
        import pyarrow as pa
        import pyarrow.feather as feather

        path.mkdir(parents=True, exist_ok=True)
        for name, frame in self.frames.items():
            if len(frame) > SAVE_BATCH_ROWS and self._save_in_batches(
                frame, path / f"{name}.arrow"
            ):
                continue
            table = pa.Table.from_pandas(frame)
            meta = {**(table.schema.metadata or {}), b"kaizen_site_id": self.site_id.encode()}
            feather.write_feather(
                table.replace_schema_metadata(meta),
                path / f"{name}.arrow",
                compression="uncompressed",
            )

    def _save_in_batches(self, frame: pd.DataFrame, file: Path) -> bool:
        """A large table written as the same Arrow IPC file in record batches of
        ``SAVE_BATCH_ROWS`` rows, so that its Arrow copy is never whole beside the frame.

        The types are those of the first batch; False (nothing kept) when a later batch does
        not fit them (a column empty in the first batch) or the index is not 0..n-1: the
        caller then writes the table at once."""
        import json

        import pyarrow as pa

        index = frame.index
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
            return False
        first = pa.Table.from_pandas(frame.iloc[:SAVE_BATCH_ROWS])
        meta = dict(first.schema.metadata or {})
        pandas_meta = json.loads(meta[b"pandas"])
        for ix in pandas_meta.get("index_columns", []):  # the whole table's range, not the batch's
            if isinstance(ix, dict) and ix.get("kind") == "range":
                ix["stop"] = len(frame)
        meta[b"pandas"] = json.dumps(pandas_meta).encode()
        meta[b"kaizen_site_id"] = self.site_id.encode()
        schema = first.schema.with_metadata(meta)
        try:
            with pa.OSFile(str(file), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                writer.write_table(first.replace_schema_metadata(meta))
                del first
                for start in range(SAVE_BATCH_ROWS, len(frame), SAVE_BATCH_ROWS):
                    part = frame.iloc[start : start + SAVE_BATCH_ROWS]
                    table = pa.Table.from_pandas(part, schema=schema, preserve_index=False)
                    writer.write_table(table.replace_schema_metadata(meta))
        except (pa.ArrowException, TypeError, ValueError):
            file.unlink(missing_ok=True)
            return False
        return True

    @classmethod
    def load(cls, path: str | Path) -> SiteTables:
        """Read a slice written by :meth:`save`."""
        import pyarrow.feather as feather

        site_id, frames = Path(path).name.split(".")[0], {}
        for file in sorted(Path(path).glob("*.arrow")):
            table = feather.read_table(file, memory_map=False)
            site_id = (
                (table.schema.metadata or {}).get(b"kaizen_site_id", site_id.encode()).decode()
            )
            frame = table.to_pandas()
            # pandas 3 reads Arrow strings as its ``str`` dtype; the notebook gets the object
            # columns (None for missing) that the parent held, so results cannot drift
            for col in (table.schema.pandas_metadata or {}).get("columns", []):
                name = col.get("field_name")
                if (
                    col.get("numpy_type") == "object"
                    and name in frame
                    and frame[name].dtype != object
                ):
                    values = table.column(name).to_numpy(zero_copy_only=False)
                    frame[name] = pd.Series(values, index=frame.index, dtype=object)
            frames[file.stem] = frame
        return cls(site_id=site_id, frames=frames)


class SiteSlices(Mapping[str, SiteTables]):
    """Each selected site's :class:`SiteTables`, built when it is asked for (from the rows'
    positions, grouped once): a run stages one site at a time, so the parent holds the tables
    once and one site's slice beside them, never a copy of every site's rows at once. A site
    that holds every row of a table gets the table itself (no copy)."""

    def __init__(self, tables: Tables, site_ids: Iterable[str]) -> None:
        self._tables = tables
        self._ids = list(dict.fromkeys(site_ids))
        self._rows: dict[str, dict[Any, np.ndarray]] = {
            name: frame.groupby(frame["site_id"], sort=False, dropna=True).indices
            for name, frame in tables.frames.items()
            if name not in GLOBAL_TABLES
        }

    def __getitem__(self, site_id: str) -> SiteTables:
        if site_id not in self._ids:
            raise KeyError(site_id)
        frames: dict[str, pd.DataFrame] = {}
        for name, frame in self._tables.frames.items():
            if name in GLOBAL_TABLES:
                frames[name] = frame
                continue
            rows = self._rows[name].get(site_id)
            if rows is None:
                part = frame.iloc[0:0]
            elif len(rows) == len(frame):  # positions are ascending: every row, in order
                part = frame
            else:
                part = frame.iloc[rows]
            if name == "goals":  # goals with site_id '*' go to every site, first
                shared = frame.iloc[self._rows[name].get("*", np.zeros(0, dtype="int64"))]
                if len(shared):
                    part = pd.concat([shared, part])
            frames[name] = part.reset_index(drop=True)
        return SiteTables(site_id=site_id, frames=frames)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def split_by_site(tables: Tables, site_ids: Iterable[str]) -> SiteSlices:
    """One :class:`SiteTables` per site id (built on demand, see :class:`SiteSlices`); goals
    with ``site_id == '*'`` go to every site."""
    return SiteSlices(tables, site_ids)


def period_start(times: pd.Series, period: str) -> pd.Series:
    """First day of the period each timestamp falls in (weeks start on Monday)."""
    t = pd.to_datetime(times).dt.normalize()
    if period == "day":
        return t
    if period == "week":
        return t - pd.to_timedelta(t.dt.day_of_week, unit="D")
    if period == "month":
        return t.dt.to_period("M").dt.to_timestamp()
    raise StatisticsError(f"unknown period {period!r}; use day, week or month")
