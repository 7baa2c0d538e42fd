"""Benchmark: total time and peak memory of ``kaizen-reports run`` as the number of sites grows.

For each size (default 1, 8 and 16 sites; ``--full`` adds 64) it writes a demo-like project (the 4
demo sites' data replicated), runs ``kaizen-reports run`` as a subprocess with default ``--jobs``
and samples the memory of its whole process tree every 0.1 s: the peak RSS of each process
(sampled RSS and the kernel's VmHWM high-water mark), grouped by role — the parent, each pool
worker, each worker's warm kernel process, each site's kernel — and the peak of the tree's total
proportional set size (PSS; pages a forked kernel shares with its warm process are counted once).
Wall times are medians over ``--repeat`` runs; nothing here asserts a time.

Then, on the last full run's output of each size, the incremental cases, timed the same way:
the same run again with nothing changed (every site "unchanged": nothing is read, validated or
run), and again after one site's configuration changed (its display name: the inputs are read
and validated, that one site runs), and then after one of that site's readings changed (the
observations file is validated again, the other tables come from the validation cache); each
printed with its ratio to the full run of that size.

    .venv/bin/python benchmarks/bench_scaling.py [--sizes 1 8 16] [--full] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import (
    AS_OF,
    BIN,
    demo_site_ids,
    fmt_mib,
    median,
    run_timed,
    write_demo_like_project,
)

from pipeline.formatting import count_of

ROLES = ("parent (kaizen-reports)", "pool worker", "warm kernel process", "site kernel")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument("--full", action="store_true", help="sizes 1, 8 and 64 (the issue's sizes)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--jobs", type=int, help="--jobs for the run (default: its own default)")
    ap.add_argument("--no-incremental", action="store_true", help="full runs only")
    args = ap.parse_args()
    sizes = [1, 8, 64] if args.full else args.sizes

    try:
        import psutil  # noqa: F401

        how = "/proc (VmRSS, VmHWM, smaps_rollup Pss; psutil is installed but not needed)"
    except ImportError:
        how = "/proc (VmRSS, VmHWM, smaps_rollup Pss)"
    print(f"memory sampled from {how} every 0.1 s")

    tmp = Path(tempfile.mkdtemp(prefix="kz-bench-scaling-"))
    rows = []
    try:
        for n in sizes:
            project = write_demo_like_project(tmp / f"p{n}", n, output=tmp / "unused")
            walls, mems, manifests = [], [], []
            incremental: dict[str, float] = {}
            for r in range(args.repeat):
                out = tmp / f"out-{n}-{r}"
                cmd = [str(BIN / "kaizen-reports"), "run", "--project", str(project)]
                cmd += ["--as-of", AS_OF, "--output", str(out), "--quiet"]
                if args.jobs:
                    cmd += ["--jobs", str(args.jobs)]
                wall, mem = run_timed(cmd, memory=True, stdout=subprocess.DEVNULL)
                manifest = json.loads((out / AS_OF / "manifest.json").read_text("utf-8"))
                walls.append(wall)
                mems.append(mem)
                manifests.append(manifest)
                ok = manifest["summary"]["ok"] + manifest["summary"]["warnings"]
                print(f"{n:4d} sites, run {r + 1}: {wall:7.1f}s wall, {ok}/{n} published")
                if ok != n:
                    raise SystemExit(f"{count_of(n - ok, 'site')} failed; see the manifest")
                if r == args.repeat - 1 and not args.no_incremental:
                    incremental = _incremental(project, out, cmd, n)
                    print(f"{n:4d} sites, nothing changed: {incremental['same']:7.1f}s wall; "
                          f"one site changed: {incremental['one']:7.1f}s wall "
                          f"({incremental['ran']} site ran)")  # fmt: skip
                shutil.rmtree(out, ignore_errors=True)
            wall = median(walls)
            mem = mems[walls.index(sorted(walls)[(len(walls) - 1) // 2])]
            roles = mem.by_role()
            rows.append(
                {
                    "sites": n,
                    "wall": wall,
                    "validation": median(m["validation_seconds"] for m in manifests),
                    "roles": {k: (len(roles.get(k, [])), max(roles.get(k, [0]))) for k in ROLES},
                    "pss": mem.total_pss_peak,
                    "rss": mem.total_peak,
                    "incremental": incremental,
                }
            )
            time.sleep(0.5)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"median of {count_of(args.repeat, 'run')} per size; 2 cores, load varies; peak = max over processes"
    )
    head = f"{'sites':>5} {'wall s':>8} {'s/site':>7} {'validate s':>10} {'tree PSS':>10}"
    for role in ROLES:
        head += f" | {role[:20]:>20}"
    print(head)
    for row in rows:
        line = (
            f"{row['sites']:5d} {row['wall']:8.1f} {row['wall'] / row['sites']:7.2f} "
            f"{row['validation']:10.2f} {fmt_mib(row['pss']):>10}"
        )
        for role in ROLES:
            count, peak = row["roles"][role]
            line += f" | {f'{count} x {fmt_mib(peak)}' if count else '-':>20}"
        print(line)
    if not args.no_incremental:
        print()
        print("incremental runs on the full run's output (same size), wall seconds and share of it")
        print(f"{'sites':>5} {'full s':>8} {'unchanged s':>12} {'share':>7} {'one changed s':>14} "
              f"{'share':>7} {'of which read+validate s':>25} {'one site in a worker s':>23} "
              f"{'one site rows s':>16} {'share':>7} {'read+validate s':>16}")  # fmt: skip
        for row in rows:
            inc = row["incremental"]
            print(f"{row['sites']:5d} {row['wall']:8.1f} {inc['same']:12.1f} "
                  f"{inc['same'] / row['wall']:7.1%} {inc['one']:14.1f} "
                  f"{inc['one'] / row['wall']:7.1%} {inc['validation']:25.1f} "
                  f"{inc['site']:23.1f} {inc['rows']:16.1f} {inc['rows'] / row['wall']:7.1%} "
                  f"{inc['rows_validation']:16.1f}")  # fmt: skip
        print(
            "one changed: a site's display name (every table from the validation cache); "
            "one site rows: one reading of that site (the observations file validated again)"
        )
    base = rows[0]
    for row in rows[1:]:
        print(
            f"time per site at {row['sites']} sites vs {base['sites']}: "
            f"{(row['wall'] / row['sites']) / (base['wall'] / base['sites']):.2f}x"
        )


def _incremental(project: Path, out: Path, cmd: list[str], n: int) -> dict[str, float]:
    """Time a rerun with nothing changed, then one after the first site's display name changed
    (the project file is restored afterwards)."""
    same, _ = run_timed(cmd, stdout=subprocess.DEVNULL)
    manifest = json.loads((out / AS_OF / "manifest.json").read_text("utf-8"))
    if any(s.get("change") != "unchanged" for s in manifest["sites"]):
        raise SystemExit("a rerun with nothing changed ran a site; see its manifest")
    text = project.read_text(encoding="utf-8")
    first = demo_site_ids(n)[0]
    at = text.index("name: ", text.index(f"id: {first}")) + len("name: ")
    observations = project.parent / "data" / "observations.csv"
    original = observations.read_bytes()
    project.write_text(text[:at] + "Changed " + text[at:], encoding="utf-8")
    try:
        one, _ = run_timed(cmd, stdout=subprocess.DEVNULL)
        manifest = json.loads((out / AS_OF / "manifest.json").read_text("utf-8"))
        _change_one_reading(observations, first)
        rows, _ = run_timed(cmd, stdout=subprocess.DEVNULL)
        after_rows = json.loads((out / AS_OF / "manifest.json").read_text("utf-8"))
    finally:
        project.write_text(text, encoding="utf-8")
        observations.write_bytes(original)
    ran = [s for s in manifest["sites"] if s.get("change") != "unchanged"]
    ran_rows = [s for s in after_rows["sites"] if s.get("change") != "unchanged"]
    if len(ran_rows) != 1:
        raise SystemExit(f"one site's rows changed but {len(ran_rows)} sites ran")
    return {
        "same": same,
        "one": one,
        "ran": len(ran),
        "validation": manifest["validation_seconds"],
        "site": median(s["seconds"] for s in ran) if ran else 0.0,
        "rows": rows,
        "rows_validation": after_rows["validation_seconds"],
    }


def _change_one_reading(path: Path, site_id: str) -> None:
    """One continuous reading of ``site_id`` 1 % higher; every other cell's text as it was (so
    only that site's slice, and the observations file's bytes, change)."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    metrics = pd.read_csv(path.parent / "metrics.csv", dtype=str, keep_default_na=False)
    continuous = set(metrics.loc[metrics["chart"].isin(["xmr", "run"]), "metric_id"])
    mine = frame.index[(frame["site_id"] == site_id) & frame["metric_id"].isin(continuous)]
    row = mine[len(mine) // 2]
    frame.loc[row, "value"] = f"{float(frame.loc[row, 'value']) * 1.01:.2f}"
    frame.to_csv(path, index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
