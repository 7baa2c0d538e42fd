"""Benchmark: ``kaizen-reports run`` against a naive papermill + nbconvert shell loop.

Builds a demo-like project of N sites (the 4 demo sites' data replicated under N site ids), then,
in the same run and interleaved round by round, times

* ours: ``kaizen-reports run --project P --as-of D`` as a subprocess, default ``--jobs``;
* naive: a bash loop that, for each site, calls ``papermill notebooks/site_report.ipynb
  out.ipynb -p site_id S -p as_of D -p project_file P -p output_dir O`` and then
  ``jupyter nbconvert --to html --no-input out.ipynb`` — the same notebook on the same data (with
  ``site_data`` left empty the notebook reads and splits the project's tables itself).

The naive loop costs several seconds per site, so ``--naive-sites K`` runs it on the first K sites
only and extrapolates linearly to N (the output says so). Wall times are medians over
``--repeat`` rounds; CPU seconds (user + sys of the whole process tree) are printed too, since
they depend less on what else the machine is doing. Nothing here asserts a time. The last line is
``speedup_vs_naive: X.XX`` (naive wall time for N sites / ours).

Then, on the last round's output, the incremental case: the same run again with nothing changed
(every site "unchanged"), and again after one site's configuration changed (that site runs);
printed as fractions of the full run's wall time (targets: at most 5%; about one site plus
reading and validation).

    .venv/bin/python benchmarks/bench_run.py [--sites 24] [--naive-sites 4] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import AS_OF, BIN, NOTEBOOK, demo_site_ids, median, tool_env, write_demo_like_project

from pipeline.formatting import count_of

NAIVE_LOOP = r"""#!/usr/bin/env bash
# The naive baseline: one papermill and one nbconvert CLI call per site, in a shell loop.
set -euo pipefail
NB="$1"; PROJECT="$2"; AS_OF="$3"; OUT="$4"; shift 4
for s in "$@"; do
  t0=$(date +%s.%N)
  mkdir -p "$OUT/$s"
  papermill "$NB" "$OUT/$s/out.ipynb" -p site_id "$s" -p as_of "$AS_OF" \
    -p project_file "$PROJECT" -p output_dir "$OUT/$s" >>"$OUT/naive.log" 2>&1
  jupyter nbconvert --to html --no-input "$OUT/$s/out.ipynb" >>"$OUT/naive.log" 2>&1
  t1=$(date +%s.%N)
  echo "site $s $t0 $t1"
done
"""


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_ours(project: Path, out: Path, jobs: int | None) -> dict:
    cmd = [str(BIN / "kaizen-reports"), "run", "--project", str(project), "--as-of", AS_OF]
    cmd += ["--output", str(out), "--quiet"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=tool_env(), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"kaizen-reports run failed ({proc.returncode}):\n{proc.stderr}")
    manifest = json.loads((out / AS_OF / "manifest.json").read_text(encoding="utf-8"))
    sites = manifest["sites"]
    published = sum(bool(s["published"]) for s in sites)
    ran = [s for s in sites if s.get("change") != "unchanged"]
    return {
        "ran": len(ran),
        "wall": wall,
        "cpu": cpu,
        "published": published,
        "validation": manifest["validation_seconds"],
        "site_seconds": [s["seconds"] for s in ran if s["published"]] or [0.0],
        "execute": [s["timings"].get("execute", 0.0) for s in ran if s["published"]] or [0.0],
        "render": [s["timings"].get("render", 0.0) for s in ran if s["published"]] or [0.0],
    }


def run_naive(script: Path, project: Path, out: Path, site_ids: list[str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["bash", str(script), str(NOTEBOOK), str(project), AS_OF, str(out), *site_ids]
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=tool_env(), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        log = (out / "naive.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"the naive loop failed ({proc.returncode}):\n{log}")
    per_site = [
        float(t1) - float(t0)
        for _, _, t0, t1 in (ln.split() for ln in proc.stdout.split("\n") if ln)
    ]
    missing = [s for s in site_ids if not (out / s / "out.html").is_file()]
    if missing:
        raise SystemExit(f"the naive loop wrote no HTML for {missing}")
    return {"wall": wall, "cpu": cpu, "per_site": per_site}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=24, help="sites in the project (default 24)")
    ap.add_argument(
        "--naive-sites",
        type=int,
        default=4,
        help="run the naive loop on the first K sites and extrapolate to --sites (default 4; "
        "0 or >= --sites: all sites, no extrapolation)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="interleaved rounds (medians reported)")
    ap.add_argument("--jobs", type=int, help="--jobs for our run (default: its own default)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    n = args.sites
    k = n if args.naive_sites <= 0 or args.naive_sites >= n else args.naive_sites

    tmp = Path(tempfile.mkdtemp(prefix="kz-bench-run-"))
    try:
        t0 = time.perf_counter()
        project = write_demo_like_project(tmp / "project", n, output=tmp / "unused")
        print(
            f"project: {n} demo-like sites, as_of {AS_OF} (written in {time.perf_counter() - t0:.1f}s)"
        )
        script = tmp / "naive_loop.sh"
        script.write_text(NAIVE_LOOP, encoding="utf-8")
        naive_ids = demo_site_ids(n)[:k]

        ours, naive = [], []
        for r in range(args.repeat):
            # Alternate which goes first, so neither always meets the same background load.
            order = ("ours", "naive") if r % 2 == 0 else ("naive", "ours")
            for which in order:
                if which == "ours":
                    res = run_ours(project, tmp / f"ours-{r}", args.jobs)
                    ours.append(res)
                    print(f"round {r + 1}: ours  {n} sites in {res['wall']:7.1f}s wall, "
                          f"{res['cpu']:7.1f}s CPU, {res['published']}/{n} published")  # fmt: skip
                else:
                    res = run_naive(script, project, tmp / f"naive-{r}", naive_ids)
                    naive.append(res)
                    print(f"round {r + 1}: naive {k} sites in {res['wall']:7.1f}s wall, "
                          f"{res['cpu']:7.1f}s CPU")  # fmt: skip
                if r < args.repeat - 1 or which != "ours":
                    shutil.rmtree(tmp / f"{which}-{r}", ignore_errors=True)
        if any(o["published"] != n for o in ours):
            raise SystemExit("our run did not publish every site; see its manifest")

        ours_wall = median(o["wall"] for o in ours)
        ours_cpu = median(o["cpu"] for o in ours)
        naive_k_wall = median(x["wall"] for x in naive)
        naive_k_cpu = median(x["cpu"] for x in naive)
        naive_wall = naive_k_wall * n / k
        naive_cpu = naive_k_cpu * n / k
        naive_site = median(s for x in naive for s in x["per_site"])
        extrap = f" (measured on {k} sites, extrapolated linearly x{n / k:.2f})" if k < n else ""

        print()
        print(
            f"median of {count_of(args.repeat, 'round')}, {n} sites; the machine's load varies (2 cores)"
        )
        print(f"naive loop wall time            {naive_wall:8.1f} s{extrap}")
        print(f"ours (kaizen-reports run) wall  {ours_wall:8.1f} s")
        print(f"naive per site                  {naive_site:8.2f} s   (papermill + nbconvert CLIs)")
        print(f"ours per site (wall / sites)    {ours_wall / n:8.2f} s")
        print(
            "ours per site in a worker       "
            f"{median(s for o in ours for s in o['site_seconds']):8.2f} s   (median; execute "
            f"{median(s for o in ours for s in o['execute']):.2f} s, render "
            f"{median(s for o in ours for s in o['render']):.3f} s)"
        )
        print(f"ours: read + validate inputs    {median(o['validation'] for o in ours):8.2f} s")
        print(f"CPU seconds, naive / ours       {naive_cpu:8.1f} / {ours_cpu:.1f} s   "
              f"(ratio {naive_cpu / ours_cpu:.2f})")  # fmt: skip
        print(f"speedup_vs_naive: {naive_wall / ours_wall:.2f}")

        last = tmp / f"ours-{args.repeat - 1}"
        full = ours[-1]
        same = run_ours(project, last, args.jobs)
        text = project.read_text(encoding="utf-8")
        first = demo_site_ids(n)[0]
        marker = "name: "
        at = text.index(marker, text.index(f"id: {first}"))
        project.write_text(text[: at + len(marker)] + "Changed " + text[at + len(marker) :])
        one = run_ours(project, last, args.jobs)
        print()
        print(f"incremental, nothing changed    {same['wall']:8.1f} s   ({count_of(same['ran'], 'site')} ran; "
              f"{same['wall'] / full['wall']:.1%} of the full run; validation "
              f"{same['validation']:.1f} s)")  # fmt: skip
        print(f"incremental, one site changed   {one['wall']:8.1f} s   ({count_of(one['ran'], 'site')} ran; "
              f"{one['wall'] / full['wall']:.1%} of the full run; one site in a worker "
              f"{median(full['site_seconds']):.1f} s)")  # fmt: skip
        print(f"unchanged_rerun_fraction: {same['wall'] / full['wall']:.3f}")
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
