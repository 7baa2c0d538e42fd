"""Benchmark: one large site (2 million observation rows at full size) end to end.

Writes a one-site project from the demo's ``fab-dresden`` (its metrics, events, goals and culture
tables) whose observations are the demo's, each row repeated with timestamps spread over the
following minute (continuous values with 3 % noise), up to ``--rows`` rows. Then, in the same
run:

* phases, in a fresh Python process: read the CSVs (``read_tables``), validate them
  (``validate_project``, Great Expectations), split by site, save the slice, and the in-process
  floor of the notebook's work (``analyse_site`` and every section) — seconds, rows/s, and the
  process's peak RSS;
* end to end: ``kaizen-reports run`` as a subprocess — wall time, rows/s, and the peak RSS of its
  processes (the parent, which reads and validates; the site's kernel, which analyses).

The default is 200,000 rows so that ``make bench`` stays short; ``--rows 2000000`` is the
issue's size. Nothing here asserts a time.

    .venv/bin/python benchmarks/bench_large_site.py [--rows 200000] [--repeat 1]
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

from _common import AS_OF, BIN, fmt_mib, median, run_timed, write_demo_like_project

from pipeline.formatting import count_of


def write_large_project(directory: Path, rows: int) -> Path:
    """A one-site demo project whose observations table has exactly ``rows`` rows."""
    import numpy as np
    import pandas as pd

    from pipeline.data import demo

    project = write_demo_like_project(directory, 1)
    path = directory / "data" / "observations.csv"
    base = pd.read_csv(path, dtype=str, keep_default_na=False)
    base_n = len(base)
    copies = np.full(base_n, rows // base_n)
    copies[: rows % base_n] += 1
    idx = np.repeat(np.arange(base_n), copies)
    big = base.iloc[idx].reset_index(drop=True)
    # The j-th copy of a row is j * (50 s / copies) later: timestamps stay unique per metric
    # (the demo's are whole minutes apart) and never pass as_of.
    j = np.arange(len(idx)) - np.repeat(np.cumsum(copies) - copies, copies)
    step_ms = (50_000 // np.maximum(copies[idx], 1)).astype("int64")
    stamps = pd.to_datetime(big["timestamp"]) - pd.to_timedelta(j * step_ms, unit="ms")
    big["timestamp"] = stamps.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    metrics = pd.read_csv(directory / "data" / "metrics.csv", dtype=str)
    continuous = set(metrics.loc[metrics["chart"].isin(["xmr", "run"]), "metric_id"])
    rng = np.random.default_rng(2024)
    is_cont = big["metric_id"].isin(continuous).to_numpy() & (big["value"] != "").to_numpy()
    values = big.loc[is_cont, "value"].astype(float).to_numpy()
    noisy = np.round(values * (1 + rng.normal(0, 0.03, len(values))), 2)
    big.loc[is_cont, "value"] = [demo._number(x) for x in noisy]
    big.to_csv(path, index=False, lineterminator="\n")
    return project


def probe(project_file: str) -> None:
    """The phases, timed in this (fresh) process; prints one JSON line."""
    import pandas as pd

    from pipeline.data import contracts, inputs
    from pipeline.data.config import load_project
    from pipeline.report import results, sections
    from pipeline.report.analysis import load_site_analysis

    out: dict[str, float] = {}
    project = load_project(project_file)
    sid = project.site_ids[0]
    t0 = time.perf_counter()
    tables = inputs.read_tables(project)
    out["read"] = time.perf_counter() - t0
    out["rows"] = len(tables["observations"])
    t0 = time.perf_counter()
    import great_expectations  # noqa: F401  (timed apart: a fixed cost, not a per-row one)

    out["gx_import"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = contracts.validate_project(tables, project, as_of=pd.Timestamp(AS_OF), site_ids=[sid])
    out["validate"] = time.perf_counter() - t0
    out["status"] = report.for_site(sid).status
    t0 = time.perf_counter()
    slices = inputs.split_by_site(tables, [sid])
    slice_file = Path(project_file).parent / "slice.inputs"
    slices[sid].save(slice_file)
    out["split_save"] = time.perf_counter() - t0
    out["maxrss_after_validate"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del tables, slices
    t0 = time.perf_counter()
    site = load_site_analysis(
        project_file=project_file, site_data=str(slice_file), site_id=sid, as_of=AS_OF
    )
    results.write_results(site, Path(project_file).parent / "floor")
    parts = [sections.header(site), sections.summary(site), sections.strategy(site)]
    parts += [sections.metric_section(site, m) for m in site.metrics]
    parts += [sections.culture(site), sections.data_quality(site), sections.methods(site)]
    "".join(p._repr_html_() for p in parts)
    out["floor"] = time.perf_counter() - t0
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        probe(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000, help="observation rows (full: 2000000)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (medians reported)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kz-bench-large-"))
    try:
        t0 = time.perf_counter()
        project = write_large_project(tmp / "project", args.rows)
        size = (tmp / "project" / "data" / "observations.csv").stat().st_size
        print(
            f"one site, {args.rows:,} observation rows ({size / 2**20:,.0f} MiB of CSV), "
            f"written in {time.perf_counter() - t0:.1f}s (not counted)"
        )
        probes, runs = [], []
        for r in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, __file__, "--probe", str(project)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(f"phase probe failed:\n{proc.stderr[-3000:]}")
            p = json.loads(proc.stdout.strip().splitlines()[-1])
            probes.append(p)
            out = tmp / f"out-{r}"
            cmd = [str(BIN / "kaizen-reports"), "run", "--project", str(project)]
            cmd += ["--as-of", AS_OF, "--output", str(out), "--quiet"]
            wall, mem = run_timed(cmd, memory=True, stdout=subprocess.DEVNULL)
            manifest = json.loads((out / AS_OF / "manifest.json").read_text("utf-8"))
            site = manifest["sites"][0]
            if not site["published"]:
                raise SystemExit(f"the site failed: {site['error']}")
            roles = mem.by_role()
            runs.append(
                {
                    "wall": wall,
                    "validation": manifest["validation_seconds"],
                    "execute": site["timings"].get("execute", 0.0),
                    "render": site["timings"].get("render", 0.0),
                    "parent": max(roles.get("parent (kaizen-reports)", [0])),
                    "kernel": max(roles.get("site kernel", [0])),
                    "pss": mem.total_pss_peak,
                }
            )
            html = (out / AS_OF / site["site_id"] / "report.html").stat().st_size
            print(
                f"round {r + 1}: phases read {p['read']:.1f}s validate {p['validate']:.1f}s "
                f"floor {p['floor']:.1f}s; run {wall:.1f}s ({site['status']}, report "
                f"{html / 2**20:.1f} MiB)"
            )
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = probes[0]["rows"]

    def m(items, key):
        return median(x[key] for x in items)

    print()
    print(f"median of {count_of(args.repeat, 'round')}; {rows:,} rows; 2 cores, load varies")
    print(f"phases (fresh process)     read      {m(probes, 'read'):7.2f} s  "
          f"{rows / m(probes, 'read'):>12,.0f} rows/s")  # fmt: skip
    print(f"                           validate  {m(probes, 'validate'):7.2f} s  "
          f"{rows / m(probes, 'validate'):>12,.0f} rows/s")  # fmt: skip
    print(f"                           (import great_expectations {m(probes, 'gx_import'):.2f} s, "
          "before validate)")  # fmt: skip
    rv = m(probes, "read") + m(probes, "gx_import") + m(probes, "validate")
    print(f"                           read + import GX + validate {rv:7.2f} s  "
          f"{rows / rv:>8,.0f} rows/s")  # fmt: skip
    print(f"                           split + save slice {m(probes, 'split_save'):5.2f} s")
    print(f"                           analyse + sections (floor) {m(probes, 'floor'):6.2f} s")
    print(f"                           peak RSS after validate {fmt_mib(m(probes, 'maxrss_after_validate'))}, "
          f"overall {fmt_mib(m(probes, 'maxrss'))}")  # fmt: skip
    wall = m(runs, "wall")
    print(f"end to end (kaizen-reports run)  {wall:7.2f} s  {rows / wall:>10,.0f} rows/s")
    print(f"  of which read + validate {m(runs, 'validation'):.2f} s, execute "
          f"{m(runs, 'execute'):.2f} s, render {m(runs, 'render'):.2f} s")  # fmt: skip
    print(f"  peak RSS: parent {fmt_mib(m(runs, 'parent'))}, site kernel "
          f"{fmt_mib(m(runs, 'kernel'))}; tree PSS {fmt_mib(m(runs, 'pss'))}")  # fmt: skip
    print(f"rows_per_second_end_to_end: {rows / wall:,.0f}")


if __name__ == "__main__":
    main()
