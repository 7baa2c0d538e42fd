"""Helpers for the contract, input and SQL tests: break a copy of a project, validate it, and a
throwaway PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.config import load_project
from pipeline.data.contracts import Failure, ValidationReport, validate_project
from pipeline.data.inputs import read_tables
from tests.conftest import AS_OF


def read_csv_text(path: Path) -> pd.DataFrame:
    """A CSV as text cells (blank cells stay empty strings), to break and write back."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def edit_csv(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> None:
    """Apply ``change`` to the text cells of ``path`` and write it back."""
    frame = read_csv_text(path)
    out = change(frame)
    (frame if out is None else out).to_csv(path, index=False, lineterminator="\n")


def validate(project_file: Path, *, as_of: str = AS_OF) -> ValidationReport:
    project = load_project(project_file)
    tables = read_tables(project)
    return validate_project(tables, project, as_of=pd.Timestamp(as_of), site_ids=project.site_ids)


def failures(report: ValidationReport, site: str | None = None) -> list[Failure]:
    if site is None:
        return list(report.project_failures)
    return list(report.for_site(site).failures)


def only(report: ValidationReport, site: str | None, rule: str) -> Failure:
    """The one failure of ``rule`` for ``site`` (None: project-level)."""
    found = [f for f in failures(report, site) if f.rule == rule]
    assert len(found) == 1, f"{rule} for {site}: {[str(f) for f in failures(report, site)]}"
    return found[0]


def line_of(path: Path, **match: str) -> int:
    """The line number (header = 1) of the first row whose cells equal ``match``."""
    frame = read_csv_text(path)
    mask = pd.Series(True, index=frame.index)
    for column, value in match.items():
        mask &= frame[column] == value
    return int(mask.to_numpy().nonzero()[0][0]) + 2


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres", *, with_password: bool = False) -> str:
        auth = f"{self.user}:{self.password}" if with_password else self.user
        return f"postgresql+psycopg2://{auth}@{self.host}:{self.port}/{database}"


def _pg_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on a free localhost port, password authentication over TCP.

    Uses Debian's binaries (``/usr/lib/postgresql/*/bin``), run as the ``postgres`` user when
    the tests run as root. Missing binaries fail the run in CI (``CI=true``) and skip locally.
    """
    bin_dir = _pg_bin()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql (apt postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="kaizen-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    os.chmod(root, 0o700)
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if as_user:
        shutil.chown(sock, "postgres")
    password = "kaizen-test-pw"
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if as_user:
        shutil.chown(pwfile, "postgres")
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        "kaizen",
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
    )
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
        "-l", str(root / "log"), "start")  # fmt: skip
    try:
        yield PostgresServer(host="127.0.0.1", port=port, user="kaizen", password=password)
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)


#: SQL column types for loading the demo tables the way a warehouse would hold them.
SQL_TYPES = {"date": "date", "float": "double precision", "str": "text"}
