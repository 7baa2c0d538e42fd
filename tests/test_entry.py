"""The console script's way out (``pipeline.cli.entry``): the command's exit code, everything it
wrote flushed, the exit handlers run, and no interpreter teardown after them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline import __version__


def _python(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def _entry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_output_is_flushed_whole_through_a_pipe(tmp_path: Path) -> None:
    # the same command left the usual way (click's sys.exit, then Python's teardown)
    usual = _python("import sys; from pipeline.cli import main; main()", "--help", cwd=tmp_path)
    quick = _python("import sys; from pipeline.cli import entry; entry()", "--help", cwd=tmp_path)
    assert usual.returncode == quick.returncode == 0
    assert len(quick.stdout) > 1000
    assert quick.stdout == usual.stdout  # not a byte short
    version = _entry("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"kaizen-reports, version {__version__}\n")


def test_exit_codes_are_the_commands(tmp_path: Path) -> None:
    usage = _entry("run", "--project", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert usage.returncode == 2
    assert "error:" in usage.stderr and "missing.yaml" in usage.stderr
    unknown = _entry("no-such-command", cwd=tmp_path)
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
    message = _python(
        "import pipeline.cli as c\n"
        "def boom():\n    raise SystemExit('stopped: no data')\n"
        "c.main = boom\nc.entry()",
        cwd=tmp_path,
    )
    assert (message.returncode, message.stderr) == (1, "stopped: no data\n")


def test_exit_handlers_run_and_an_uncaught_error_keeps_its_traceback(tmp_path: Path) -> None:
    flag = tmp_path / "handler-ran"
    ran = _python(
        "import atexit, sys, pipeline.cli as c\n"
        "flag = sys.argv[1]\n"
        "atexit.register(lambda: open(flag, 'w').write('yes'))\n"
        "sys.argv[1:] = ['--version']\n"
        "c.entry()",
        str(flag),
        cwd=tmp_path,
    )
    assert ran.returncode == 0
    assert flag.read_text() == "yes"
    crash = _python(
        "import pipeline.cli as c\n"
        "def boom():\n    raise RuntimeError('a bug')\n"
        "c.main = boom\nc.entry()",
        cwd=tmp_path,
    )
    assert crash.returncode == 1
    assert "Traceback" in crash.stderr and "RuntimeError: a bug" in crash.stderr
