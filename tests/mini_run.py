"""The mini project (``write_mini_project``: north and south) run once per session through the
command line, ``python -m pipeline run --jobs 2 --verbose``: the finished run that tests which
only read a run's output share, and the published folder that tests which change and re-run a
project start from, each on its own copy. A plugin module (tests/conftest.py); the tests that
use it are in the ``mini_run`` xdist group, so one worker runs it once.

Four tests each ran this same run of their own (a pool of two workers, a warm kernel process and
two site kernels: about 30 CPU s each): the CLI-output test, the non-TTY progress test, the Dask
test's pool side and the broken-site re-run's first run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import AS_OF, write_mini_project


@dataclass(frozen=True)
class MiniRun:
    """The finished run: its project file, ``out/<as_of>`` and what the command printed."""

    project_file: Path
    out: Path
    returncode: int
    stdout: str
    stderr: str

    def copy_to(self, root: Path) -> Path:
        """The project and its published output, copied to ``root`` (``latest`` stays a relative
        link); returns the copy's project file. A test that runs again works on its copy."""
        shutil.copytree(self.project_file.parent, root, symlinks=True)
        return root / self.project_file.name


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory: pytest.TempPathFactory) -> MiniRun:
    root = tmp_path_factory.mktemp("mini-run")
    project_file = write_mini_project(root / "p")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--project", str(project_file), "--as-of", AS_OF,
         "--jobs", "2", "--verbose"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return MiniRun(
        project_file=project_file,
        out=project_file.parent / "out" / AS_OF,
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
    )
