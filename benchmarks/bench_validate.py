"""Data-contract validation of a 5-million-row observations table: time, peak memory, time per site.

Each stage runs in its own Python process so that its peak RSS is its own:

* ``baseline``: plain ``pandas.read_csv`` of the same file (the floor for reading it at all);
* ``read``: :func:`pipeline.data.inputs.read_tables` (read as text, type every column, collect bad values);
* ``validate``: read, then :func:`pipeline.data.contracts.validate_project` on every site (Great
  Expectations import and context creation timed apart from the validation itself).

Then one site notebook of the mini project is executed for the notebook time per site (skip it
with ``--no-notebook``). Ratios are against the baseline measured in the same run.

    python benchmarks/bench_validate.py [--rows 5000000] [--sites 1000] [--no-notebook]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

AS_OF = "2026-06-29"


def write_project(root: Path, rows: int, sites: int) -> Path:
    """A project whose observations table has ``rows`` rows over ``sites`` sites: two metrics per
    site (an xmr metric with several rows a day and a p metric with one row a day)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    per_site = rows // sites
    site_ids = np.repeat([f"site-{i:05d}" for i in range(sites)], per_site)
    k = np.tile(np.arange(per_site), sites)
    is_p = k % 10 == 0  # one row in ten is an attribute (p chart) sample
    days = (k // 10) % 700
    stamp = pd.Timestamp("2024-08-01") + pd.to_timedelta(days, unit="D")
    stamp = stamp + pd.to_timedelta(np.where(is_p, 0, (k % 10) * 47), unit="m")
    n = np.where(is_p, 50, np.nan)
    value = np.where(is_p, rng.binomial(50, 0.1, len(k)), np.round(rng.normal(20, 2, len(k)), 2))
    frame = pd.DataFrame(
        {
            "site_id": site_ids,
            "metric_id": np.where(is_p, "defects", "lead_time"),
            "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S"),
            "value": value,
            "n": n,
            "subgroup": "",
        }
    )
    frame.to_csv(data / "observations.csv", index=False)
    pd.DataFrame(
        [
            ("lead_time", "Order lead time", "days", "xmr", "lower", "week", "mean"),
            ("defects", "Defective units", "units", "p", "lower", "week", "sum"),
        ],
        columns=["metric_id", "name", "unit", "chart", "better", "period", "aggregate"],
    ).to_csv(data / "metrics.csv", index=False)
    pd.DataFrame(
        [
            (s, f"{s}-e1", "5S", "kaizen_event", "", "2025-06-02", "2025-06-16", "",
             "lead_time", "Team", "done")
            for s in dict.fromkeys(site_ids)
        ],
        columns=["site_id", "event_id", "title", "kind", "goal_id", "start_date",
                 "effective_date", "end_date", "metric_ids", "owner", "status"],
    ).to_csv(data / "events.csv", index=False)  # fmt: skip
    site_yaml = "".join(f"  - id: {s}\n    name: {s}\n" for s in dict.fromkeys(site_ids))
    project = root / "kaizen.yaml"
    project.write_text(
        textwrap.dedent(
            """\
            project: Validation benchmark
            output: out
            tables:
              metrics: {path: data/metrics.csv}
              observations: {path: data/observations.csv}
              events: {path: data/events.csv}
            sites:
            """
        )
        + site_yaml
    )
    return project


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def stage(name: str, project: Path) -> dict[str, float]:
    """One measured stage, in this (fresh) process."""
    out: dict[str, float] = {}
    base = peak_rss_mb()
    t0 = time.perf_counter()
    if name == "baseline":
        frame = pd.read_csv(project.parent / "data" / "observations.csv")
        out["rows"] = len(frame)
        out["read_s"] = time.perf_counter() - t0
    else:
        from pipeline.data.config import load_project
        from pipeline.data.inputs import read_tables

        proj = load_project(project)
        tables = read_tables(proj)
        out["rows"] = len(tables["observations"])
        out["read_s"] = time.perf_counter() - t0
        if name == "validate":
            from pipeline.data import contracts

            t1 = time.perf_counter()
            contracts._engine()  # import great_expectations and build the context
            out["gx_setup_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            report = contracts.validate_project(
                tables, proj, as_of=pd.Timestamp(AS_OF), site_ids=proj.site_ids
            )
            out["validate_s"] = time.perf_counter() - t2
            out["sites"] = len(report.sites)
            out["failed_sites"] = len(report.failed_sites)
            out["warning_sites"] = sum(v.status == "warnings" for v in report.sites.values())
    out["peak_rss_mb"] = peak_rss_mb()
    out["start_rss_mb"] = base
    return out


def run_stage(name: str, project: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--stage", name, "--project", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def notebook_seconds_per_site(tmp: Path) -> float:
    """Wall time of one site's notebook (execute + render) on the mini project."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import write_mini_project  # the tests' two-site fixture project

    from pipeline.data.config import load_project
    from pipeline.run.execute import run_project

    project = load_project(write_mini_project(tmp / "mini"))
    result = run_project(project, as_of=AS_OF, site_ids=["north"], jobs=1)
    return result.sites[0].seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--no-notebook", action="store_true")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(args.stage, Path(args.project))))
        return

    with tempfile.TemporaryDirectory(prefix="kaizen-bench-validate-") as tmp:
        t0 = time.perf_counter()
        project = write_project(Path(tmp) / "p", args.rows, args.sites)
        size = (project.parent / "data" / "observations.csv").stat().st_size / 1e6
        print(f"observations.csv: {args.rows:,} rows, {args.sites:,} sites, {size:.0f} MB "
              f"(written in {time.perf_counter() - t0:.1f}s)")  # fmt: skip
        base = run_stage("baseline", project)
        read = run_stage("read", project)
        val = run_stage("validate", project)
        print(
            f"baseline pandas.read_csv : {base['read_s']:6.2f} s   peak RSS {base['peak_rss_mb']:6.0f} MB"
        )
        print(f"read_tables (typed)      : {read['read_s']:6.2f} s   peak RSS {read['peak_rss_mb']:6.0f} MB"
              f"   x{read['read_s'] / base['read_s']:.2f} baseline time")  # fmt: skip
        print(f"GX import + context      : {val['gx_setup_s']:6.2f} s   (once per run)")
        print(f"validate_project         : {val['validate_s']:6.2f} s   peak RSS {val['peak_rss_mb']:6.0f} MB"
              f"   x{val['validate_s'] / base['read_s']:.2f} baseline time, "
              f"x{val['peak_rss_mb'] / base['peak_rss_mb']:.2f} baseline memory")  # fmt: skip
        total = val["read_s"] + val["gx_setup_s"] + val["validate_s"]
        per_site = total / val["sites"]
        print(f"read + validate          : {total:6.2f} s for {int(val['sites']):,} sites = "
              f"{per_site * 1000:.1f} ms per site ({int(val['failed_sites'])} failed, "
              f"{int(val['warning_sites'])} with warnings)")  # fmt: skip
        if not args.no_notebook:
            nb = notebook_seconds_per_site(Path(tmp))
            print(f"notebook (execute+render): {nb:6.2f} s per site -> validation costs "
                  f"{per_site / nb * 100:.2f}% of a site's notebook time")  # fmt: skip


if __name__ == "__main__":
    main()
