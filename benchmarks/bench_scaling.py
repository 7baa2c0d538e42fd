"""Benchmark: total time and peak memory of ``kaizen-reports run`` as the number of sites grows.

For each size (default 1, 8 and 16 sites; ``--full`` adds 64) it writes a demo-like project (the 4
demo sites' data replicated), runs ``kaizen-reports run`` as a subprocess with default ``--jobs``
and samples the memory of its whole process tree every 0.1 s: the peak RSS of each process
(sampled RSS and the kernel's VmHWM high-water mark), grouped by role — the parent, each pool
worker, each worker's warm kernel process, each site's kernel — and the peak of the tree's total
proportional set size (PSS; pages a forked kernel shares with its warm process are counted once).
Wall times are medians over ``--repeat`` runs; nothing here asserts a time.

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

from _common import AS_OF, BIN, fmt_mib, median, run_timed, write_demo_like_project

ROLES = ("parent (kaizen-reports)", "pool worker", "warm kernel process", "site kernel")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument("--full", action="store_true", help="sizes 1, 8 and 64 (the issue's sizes)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--jobs", type=int, help="--jobs for the run (default: its own default)")
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
                shutil.rmtree(out, ignore_errors=True)
                ok = manifest["summary"]["ok"] + manifest["summary"]["warnings"]
                print(f"{n:4d} sites, run {r + 1}: {wall:7.1f}s wall, {ok}/{n} published")
                if ok != n:
                    raise SystemExit(f"{n - ok} site(s) failed; see the manifest")
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
                }
            )
            time.sleep(0.5)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"median of {args.repeat} run(s) per size; 2 cores, load varies; peak = max over processes"
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
    base = rows[0]
    for row in rows[1:]:
        print(
            f"time per site at {row['sites']} sites vs {base['sites']}: "
            f"{(row['wall'] / row['sites']) / (base['wall'] / base['sites']):.2f}x"
        )


if __name__ == "__main__":
    main()
