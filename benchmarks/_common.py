"""What the run benchmarks share: a demo-like project of any size, process-tree memory, medians.

The benchmarks import this as ``_common`` (they run as scripts from ``benchmarks/``, whose folder
is on ``sys.path``); paths are relative to the repository root, temporary files go through
:mod:`tempfile`.
"""

from __future__ import annotations

import copy
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/x.py` from a clean checkout, not installed
    sys.path.insert(0, str(REPO))

BIN = Path(sys.executable).parent
NOTEBOOK = REPO / "notebooks" / "site_report.ipynb"
AS_OF = "2026-06-29"

#: Ids suffixed when a demo site is replicated, so each copy's events and ideas stay its own
#: (the contracts ask only for ids unique per site).
_GLOBAL_IDS = {"events": "event_id", "suggestions": "suggestion_id"}


def demo_site_ids(n_sites: int) -> list[str]:
    """The ids :func:`write_demo_like_project` gives its sites: the 4 demo ids, then replicas."""
    from pipeline.data.demo import DEMO_SITES

    base = [str(s["id"]) for s in DEMO_SITES]
    return [base[i % 4] if i < 4 else f"{base[i % 4]}-{i // 4}" for i in range(n_sites)]


def write_demo_like_project(
    directory: Path, n_sites: int, *, as_of: str = AS_OF, output: Path | None = None
) -> Path:
    """A project of ``n_sites`` sites, each a copy of one of the 4 demo sites' data (round robin).

    Site ``i`` gets demo site ``i % 4``'s observations, events, goals and culture tables under
    its own id (event and suggestion ids suffixed so they stay unique), so every site costs what a
    real demo site costs. Returns the path of ``kaizen.yaml``.
    """
    from pipeline.data import demo

    directory = Path(directory)
    project_file = demo.write_demo_project(directory, as_of=as_of, output=output)
    tables = demo.build_demo_tables(as_of)
    ids = demo_site_ids(n_sites)
    base = [str(s["id"]) for s in demo.DEMO_SITES]
    for name, frame in tables.items():
        if "site_id" not in frame.columns:
            continue
        parts = []
        for i, sid in enumerate(ids):
            part = frame[frame["site_id"] == base[i % 4]].copy()
            part["site_id"] = sid
            if i >= 4 and name in _GLOBAL_IDS:
                col = _GLOBAL_IDS[name]
                part[col] = part[col].astype(str) + f"-{i // 4}"
            parts.append(part)
        import pandas as pd

        tables[name] = pd.concat(parts, ignore_index=True)
    for name, frame in tables.items():
        demo._write_csv(frame, directory / "data" / f"{name}.csv")
    raw = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    specs = {s["id"]: s for s in raw["sites"]}
    raw["sites"] = [
        {
            **copy.deepcopy(specs[base[i % 4]]),
            "id": sid,
            "name": f"{specs[base[i % 4]]['name']} #{i + 1}",
        }
        for i, sid in enumerate(ids)
    ]
    project_file.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), "utf-8")
    return project_file


def tool_env() -> dict[str, str]:
    """The environment for subprocesses: this venv's scripts first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def fmt_mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


# --- memory -------------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (a forked kernel's imports) split among sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> dict[int, int]:
    """Every descendant of ``pid`` with its parent's pid (Linux /proc, no psutil needed)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    out: dict[int, int] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, ()):
            out[c] = p
            todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


class TreeMemory:
    """Sample the RSS of a process and all its descendants in a background thread.

    Keeps, per process, the peak of the RSS seen (and /proc VmHWM, the kernel's own high-water
    mark, which catches peaks between samples), plus the peak of the tree's total RSS. Uses
    psutil when installed, else /proc directly.
    """

    def __init__(self, pid: int, *, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peaks: dict[int, int] = {}  # pid -> peak bytes (max of sampled RSS and VmHWM)
        self.names: dict[int, str] = {}
        self.parents: dict[int, int] = {}
        self.total_peak = 0  # peak of the tree's summed RSS (counts shared pages repeatedly)
        self.total_pss_peak = 0  # peak of the tree's summed PSS (shared pages counted once)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        total = pss = 0
        tree = _children(self.pid)
        self.parents.update(tree)
        for pid in [self.pid, *tree]:
            rss = _status_kib(pid, "VmRSS") * 1024
            hwm = _status_kib(pid, "VmHWM") * 1024
            if not rss:
                continue
            total += rss
            pss += _pss_kib(pid) * 1024
            self.peaks[pid] = max(self.peaks.get(pid, 0), rss, hwm)
            if pid not in self.names:
                self.names[pid] = _cmdline(pid)
        self.total_peak = max(self.total_peak, total)
        self.total_pss_peak = max(self.total_pss_peak, pss)

    def by_role(self) -> dict[str, list[int]]:
        """Peak bytes per process, grouped by what the process is (from its command line)."""
        roles: dict[str, list[int]] = {}
        for pid, peak in self.peaks.items():
            parent = self.names.get(self.parents.get(pid, -1), "")
            roles.setdefault(classify(self.names.get(pid, ""), parent), []).append(peak)
        return roles


def classify(cmdline: str, parent: str = "") -> str:
    """A process's role in a run, from its command line and its parent's."""
    if "pipeline.run.kernels" in cmdline:
        # A site's kernel is a fork of the warm kernel process: same command line, but its
        # parent is the warm process.
        return "site kernel" if "pipeline.run.kernels" in parent else "warm kernel process"
    if "kernel_launcher.py" in cmdline:
        return "kernel launcher"
    if "ipykernel" in cmdline:
        return "site kernel"
    if "multiprocessing" in cmdline and "spawn" in cmdline:
        return "pool worker"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "kaizen-reports" in cmdline or "pipeline.cli" in cmdline:
        return "parent (kaizen-reports)"
    return "other"


def run_timed(cmd: Sequence[str], *, memory: bool = False, **kw) -> tuple[float, TreeMemory | None]:
    """Run ``cmd`` to completion; its wall time (and the memory of its process tree)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=kw.pop("env", tool_env()), **kw)
    if memory:
        with TreeMemory(proc.pid) as mem:
            rc = proc.wait()
    else:
        mem = None
        rc = proc.wait()
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"command failed with exit code {rc}: {' '.join(cmd)}")
    return seconds, mem
