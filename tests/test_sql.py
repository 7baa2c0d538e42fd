"""Input tables from SQL through SQLAlchemy: SQLite (a file database made here) and a real
PostgreSQL server (a throwaway cluster); both must give the same typed frames as the CSV files,
and the demo read from PostgreSQL must give identical results.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline.data.config import load_project
from pipeline.data.contracts import validate_project
from pipeline.data.inputs import SCHEMA, read_tables
from pipeline.exceptions import InputError
from pipeline.report.results import load_results
from tests.conftest import AS_OF
from tests.contract_fixtures import PostgresServer

DEMO_AS_OF = "2026-06-29"
# one xdist worker runs the whole module: its fixtures and the PostgreSQL server are built once
pytestmark = pytest.mark.xdist_group("sql")
PG_PASSWORD_ENV = "KAIZEN_TEST_PG_PASSWORD"


def _tables_yaml(names: list[str], spec: dict[str, str] | None = None) -> str:
    spec = spec or {}
    return "".join(f"  {n}: {spec.get(n, '{table: ' + n + '}')}\n" for n in names)


def _sql_project(csv_project: Path, url: str, *, password_env: str | None = None,
                 spec: dict[str, str] | None = None) -> Path:  # fmt: skip
    """The CSV project's kaizen.yaml with every table read from ``url`` instead."""
    text = csv_project.read_text()
    head, _, rest = text.partition("tables:\n")
    lines = rest.splitlines(keepends=True)
    names = []
    while lines and lines[0].startswith("  ") and ":" in lines[0] and "path:" in lines[0]:
        names.append(lines.pop(0).split(":")[0].strip())
    database = f"database: {{url: {json.dumps(url)}"
    database += f", password_env: {password_env}}}\n" if password_env else "}\n"
    out = csv_project.with_name("kaizen-sql.yaml")
    out.write_text(head + database + "tables:\n" + _tables_yaml(names, spec) + "".join(lines))
    return out


def _load_csvs(project: Path, engine: sa.Engine, *, typed: bool) -> None:
    """Load every CSV table of ``project`` into ``engine``: as the CSV text's inferred types
    (typed=False, like a quick SQLite import) or with SQL column types (a warehouse)."""
    tables = read_tables(load_project(project))
    for name, frame in tables.frames.items():
        source = Path(tables.sources[name])
        if not typed:
            raw = pd.read_csv(source)
            raw.to_sql(name, engine, index=False, if_exists="replace")
            continue
        cols = list(tables.columns[name])
        dtype = {}
        for c in cols:
            kind = SCHEMA[name].get(c, "str")
            if kind == "date":
                is_datetime = (frame[c].dropna() != frame[c].dropna().dt.normalize()).any()
                dtype[c] = sa.DateTime() if is_datetime else sa.Date()
            elif kind == "float":
                dtype[c] = sa.Float(precision=53)
            else:
                dtype[c] = sa.Text()
        out = frame[cols].copy()
        for c, t in dtype.items():
            if isinstance(t, sa.Date) and not isinstance(t, sa.DateTime):
                out[c] = out[c].dt.date
        out.to_sql(name, engine, index=False, if_exists="replace", dtype=dtype, chunksize=5000)


def _assert_same_frames(a, b, *, any_order: bool = False) -> None:
    """Same tables, columns, types and values. ``any_order``: rows may come back in another
    order (SQL promises none without ORDER BY; PostgreSQL returned one demo ``defects`` row away
    from its insertion place), so both sides are sorted on every column first."""
    assert set(a.frames) == set(b.frames)
    for name in a.frames:
        left, right = a[name], b[name]
        if any_order:
            keys = list(left.columns)
            left = left.sort_values(keys, kind="stable").reset_index(drop=True)
            right = right.sort_values(keys, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=True, obj=name)
    assert a.problems == b.problems


# --------------------------------------------------------------------------- SQLite


def test_sqlite_tables_and_queries_equal_the_csv(mini_project: Path, tmp_path: Path) -> None:
    db = tmp_path / "warehouse.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    _load_csvs(mini_project, engine, typed=False)
    engine.dispose()
    sql_project = _sql_project(
        mini_project,
        f"sqlite:///{db}",
        spec={"observations": '{sql: "SELECT * FROM observations ORDER BY rowid"}'},
    )
    csv_tables = read_tables(load_project(mini_project))
    sql_tables = read_tables(load_project(sql_project))
    _assert_same_frames(csv_tables, sql_tables)
    assert sql_tables.row_number("observations", 0) == 2  # as in the CSV export
    assert (
        "observations" not in sql_tables.sources["observations"]
        or "query" in (sql_tables.sources["observations"])
    )
    project = load_project(sql_project)
    report = validate_project(
        sql_tables, project, as_of=pd.Timestamp(AS_OF), site_ids=project.site_ids
    )
    assert report.success and all(v.status == "ok" for v in report.sites.values())


def test_sqlite_bad_value_is_reported_with_its_row(mini_project: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    _load_csvs(mini_project, engine, typed=False)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE observations SET value = 'N/A' WHERE rowid = 3"))
    engine.dispose()
    project = load_project(_sql_project(mini_project, f"sqlite:///{db}"))
    tables = read_tables(project)
    report = validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=project.site_ids)
    (failure,) = report.for_site("north").failures
    assert (
        # the third record is row 4, as in the table's CSV export (header = row 1)
        failure.rule == "value_is_number" and failure.rows == (4,) and failure.examples == ("N/A",)
    )
    assert "Leave the cell empty" in str(failure)


def test_sql_errors_are_input_errors(mini_project: Path, tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "w.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    _load_csvs(mini_project, engine, typed=False)
    engine.dispose()
    project = load_project(
        _sql_project(
            mini_project, f"sqlite:///{db}", spec={"events": "{sql: 'SELECT * FROM evnts'}"}
        )
    )
    with pytest.raises(InputError) as err:
        read_tables(project)
    assert "table 'events'" in str(err.value) and "no such table: evnts" in str(err.value)

    monkeypatch.delenv("KAIZEN_NOT_SET", raising=False)
    project = load_project(
        _sql_project(mini_project, f"sqlite:///{db}", password_env="KAIZEN_NOT_SET")
    )
    with pytest.raises(InputError, match="environment variable KAIZEN_NOT_SET"):
        read_tables(project)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.data.demo import write_demo_project

    root = tmp_path_factory.mktemp("demo-sql")
    return write_demo_project(root / "demo", as_of=DEMO_AS_OF, output=root / "out-csv")


@pytest.fixture(scope="module")
def demo_pg(postgres_server: PostgresServer, demo_csv: Path) -> Path:
    """The demo's tables loaded into a fresh PostgreSQL database with SQL column types."""
    admin = sa.create_engine(postgres_server.url(with_password=True), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS kaizen"))
        conn.execute(sa.text("CREATE DATABASE kaizen"))
    admin.dispose()
    engine = sa.create_engine(postgres_server.url("kaizen", with_password=True))
    _load_csvs(demo_csv, engine, typed=True)
    engine.dispose()
    project = _sql_project(demo_csv, postgres_server.url("kaizen"), password_env=PG_PASSWORD_ENV)
    text = project.read_text().replace("out-csv", "out-pg")
    project.write_text(text)
    return project


def test_postgres_frames_equal_the_csv(
    demo_csv: Path, demo_pg: Path, monkeypatch, postgres_server
) -> None:
    monkeypatch.setenv(PG_PASSWORD_ENV, postgres_server.password)
    csv_tables = read_tables(load_project(demo_csv))
    pg_project = load_project(demo_pg)
    assert all(not s.is_file for s in pg_project.tables.values())
    pg_tables = read_tables(pg_project)
    _assert_same_frames(csv_tables, pg_tables, any_order=True)
    assert postgres_server.password not in json.dumps(pg_tables.sources)


def test_postgres_far_future_dates_are_bad_dates(
    mini_project: Path, postgres_server: PostgresServer, monkeypatch
) -> None:
    """DATE and TIMESTAMP columns holding 9999-12-31 or 2300-01-01 (beyond pandas' nanosecond
    timestamps) are reported by the is-a-date rules with their rows, not raised."""
    admin = sa.create_engine(postgres_server.url(with_password=True), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS far_dates"))
        conn.execute(sa.text("CREATE DATABASE far_dates"))
    admin.dispose()
    engine = sa.create_engine(postgres_server.url("far_dates", with_password=True))
    _load_csvs(mini_project, engine, typed=True)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE events SET end_date = '9999-12-31' WHERE site_id = 'north'"))
        conn.execute(sa.text("ALTER TABLE observations ALTER COLUMN timestamp TYPE timestamp"))
        first = conn.execute(
            sa.text("SELECT min(timestamp) FROM observations WHERE site_id = 'north'")
        ).scalar_one()
        conn.execute(
            sa.text(
                "UPDATE observations SET timestamp = '2300-01-01 08:00' "
                "WHERE site_id = 'north' AND metric_id = 'defects' AND timestamp = :t"
            ),
            {"t": first},
        )
    engine.dispose()
    monkeypatch.setenv(PG_PASSWORD_ENV, postgres_server.password)
    url = postgres_server.url("far_dates")
    project = load_project(
        _sql_project(
            mini_project, url, password_env=PG_PASSWORD_ENV,
            spec={"observations": '{sql: "SELECT * FROM observations ORDER BY timestamp"}'},
        )
    )  # fmt: skip
    tables = read_tables(project)
    assert {p.column: p.values for p in tables.problems} == {
        "timestamp": ("2300-01-01 08:00:00",),
        "end_date": ("9999-12-31",),
    }
    report = validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=["north"])
    rules = {f.rule: f for f in report.for_site("north").failures if f.severity == "critical"}
    assert set(rules) == {"timestamp_is_date", "end_date_is_date"}
    assert rules["timestamp_is_date"].rows == (len(tables["observations"]) + 1,)  # sorted last
    assert "2300-01-01 08:00:00 is outside the dates" in rules["timestamp_is_date"].hint
    assert rules["end_date_is_date"].hint.endswith("leave end_date empty for an open-ended event")


def test_postgres_wrong_password_is_an_input_error(demo_pg: Path, monkeypatch) -> None:
    monkeypatch.setenv(PG_PASSWORD_ENV, "wrong")
    with pytest.raises(InputError) as err:
        read_tables(load_project(demo_pg))
    assert "table 'metrics'" in str(err.value) and "password authentication failed" in str(
        err.value
    )
    assert "wrong" not in str(err.value)


def test_demo_from_postgres_gives_identical_results(
    demo_csv: Path, demo_pg: Path, monkeypatch, postgres_server
) -> None:
    """The acceptance criterion: the same demo data read from PostgreSQL gives identical
    results.json (two sites, to keep the test short: the one with the data-quality warning and
    one other)."""
    from pipeline.run.execute import run_project

    monkeypatch.setenv(PG_PASSWORD_ENV, postgres_server.password)
    sites = ["atelier-florence", "hotel-lisbon"]
    runs = {}
    for label, project_file in (("csv", demo_csv), ("pg", demo_pg)):
        result = run_project(load_project(project_file), as_of=DEMO_AS_OF, site_ids=sites, jobs=2)
        assert result.success, [o.error for o in result.sites]
        runs[label] = result
    assert {o.site_id: o.status for o in runs["pg"].sites} == {
        "atelier-florence": "warnings",
        "hotel-lisbon": "ok",
    }
    for site in sites:
        a = load_results(runs["csv"].output / site).to_dict()
        b = load_results(runs["pg"].output / site).to_dict()
        assert a.pop("run_id") != b.pop("run_id")
        # identical, row numbers of the data-quality warning included (every source is
        # numbered as its CSV export with a header line would be)
        if site == "atelier-florence":
            assert a["validation"]["failures"], "the demo's data-quality warning is there"
        assert a == b, site
