"""Benchmark: ``kaizen-reports run --executor dask`` on a LocalCluster, and what Dask costs per site.

In one run it measures

* the run itself: ``kaizen-reports run --executor dask --jobs W`` (a LocalCluster of W worker
  processes, one thread each) on a demo-like project of ``--sites`` sites — wall time, the
  parent's read + validate, each site's seconds in a worker, and the rest (cluster start,
  scheduling, manifest and portfolio);
* the scheduler's own cost, in this process, on a LocalCluster of the same shape: the time to
  start it, the round trip of one no-op task carrying a site-sized task description (serial),
  the throughput of many such tasks submitted at once, the time to move one site's input slice
  (its Arrow files, as bytes) to a worker and back, and the pickled size of a task and of a
  result;

then extrapolates, on paper, to ``--target`` sites (default 5,000) on N machines, printing the
arithmetic. Nothing here asserts a time.

    .venv/bin/python benchmarks/bench_dask.py [--sites 8] [--workers 2] [--tasks 400]
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import AS_OF, BIN, median, run_timed, write_demo_like_project

from pipeline.formatting import count_of


def _noop(task: object) -> int:
    return 0


def _echo(payload: bytes) -> int:
    return len(payload)


def scheduler_costs(workers: int, tasks: int, slice_bytes: bytes, task_obj: object) -> dict:
    """Start a LocalCluster like the run's and time what Dask itself costs per task."""
    from distributed import Client, LocalCluster, wait

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    start = time.perf_counter() - t0
    try:
        client.submit(_noop, task_obj, pure=False).result()  # warm: functions pickled once
        rounds = []
        for _ in range(20):
            t0 = time.perf_counter()
            client.submit(_noop, task_obj, pure=False).result()
            rounds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        futures = client.map(_noop, [task_obj] * tasks, pure=False)
        wait(futures)
        burst = time.perf_counter() - t0
        del futures
        moves = []
        for _ in range(5):
            t0 = time.perf_counter()
            client.submit(_echo, slice_bytes, pure=False).result()
            moves.append(time.perf_counter() - t0)
    finally:
        t0 = time.perf_counter()
        client.close()
        cluster.close()
        stop = time.perf_counter() - t0
    return {
        "start": start,
        "stop": stop,
        "round_trip": median(rounds),
        "per_task_burst": burst / tasks,
        "slice_round_trip": median(moves),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=8, help="sites in the project (default 8)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    ap.add_argument("--tasks", type=int, default=400, help="no-op tasks for the throughput")
    ap.add_argument("--target", type=int, default=5000, help="sites to extrapolate to")
    ap.add_argument(
        "--validate-rate",
        type=float,
        default=40.0,
        help="read + validate seconds per million rows beyond this run's fixed cost (default 40:"
        " bench_large_site.py at 2 million rows); the small run here measures the fixed cost",
    )
    args = ap.parse_args()
    n, w = args.sites, args.workers

    tmp = Path(tempfile.mkdtemp(prefix="kz-bench-dask-"))
    try:
        project = write_demo_like_project(tmp / "project", n, output=tmp / "unused")
        out = tmp / "out"
        cmd = [str(BIN / "kaizen-reports"), "run", "--project", str(project), "--as-of", AS_OF]
        cmd += ["--output", str(out), "--quiet", "--executor", "dask", "--jobs", str(w)]
        wall, _ = run_timed(cmd, stdout=subprocess.DEVNULL)
        manifest = json.loads((out / AS_OF / "manifest.json").read_text("utf-8"))
        sites = manifest["sites"]
        ok = sum(bool(s["published"]) for s in sites)
        if ok != n:
            raise SystemExit(f"{count_of(n - ok, 'site')} failed; see the manifest")
        site_seconds = [s["seconds"] for s in sites]
        validation = manifest["validation_seconds"]

        # What one site's task would carry if its slice travelled instead of being on shared
        # disk: its Arrow files as they were staged (the run removes them; stage one again).
        from pipeline.data import inputs
        from pipeline.data.config import load_project
        from pipeline.run.outcome import SiteOutcome
        from pipeline.run.worker import SiteTask
        from pipeline.vocabulary import RunStatus

        proj = load_project(project)
        sid = proj.site_ids[0]
        tables = inputs.read_tables(proj)
        slice_dir = tmp / "slice"
        inputs.split_by_site(tables, [sid])[sid].save(slice_dir)
        slice_bytes = b"".join(f.read_bytes() for f in sorted(slice_dir.glob("*.arrow")))
        rows = len(tables["observations"])
        del tables
        task = SiteTask(
            site_id=sid, as_of=AS_OF, run_id="r", project_file=str(project),
            site_data=str(slice_dir), validation_file=str(tmp / "v.json"),
            stage_dir=str(tmp / "s"), final_dir=str(tmp / "f"), trash_dir=str(tmp / "t"),
        )  # fmt: skip
        first = sites[0]
        outcome = SiteOutcome(
            site_id=first["site_id"], status=RunStatus(first["status"]), seconds=first["seconds"],
            attempts=first["attempts"], timings=first["timings"], published=True,
            run_id=first["run_id"], change=first["change"], inputs=first.get("inputs", ""),
        )  # fmt: skip
        cost = scheduler_costs(w, args.tasks, slice_bytes, task)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    per_site = median(site_seconds)
    busy = sum(site_seconds)
    rest = wall - validation - busy / w
    print(f"LocalCluster: {w} worker processes x 1 thread; {n} demo-like sites, {rows:,} rows")
    print(f"run (--executor dask) wall          {wall:8.1f} s")
    print(f"  read + validate in the parent     {validation:8.1f} s   ({rows:,} rows)")
    print(f"  sites in workers                  {busy:8.1f} s of worker time, median "
          f"{per_site:.1f} s per site; / {w} workers = {busy / w:.1f} s")  # fmt: skip
    print(f"  the rest (cluster start and stop, scheduling, manifest, portfolio) {rest:.1f} s")
    print("scheduler (same cluster shape, measured in this process)")
    print(f"  cluster start / stop              {cost['start']:8.2f} / {cost['stop']:.2f} s")
    print(f"  one task round trip (serial)      {cost['round_trip'] * 1e3:8.1f} ms")
    print(f"  per task, {args.tasks} submitted at once  {cost['per_task_burst'] * 1e3:8.2f} ms")
    print(f"  a site's slice ({len(slice_bytes) / 2**10:,.0f} KiB) to a worker and back "
          f"{cost['slice_round_trip'] * 1e3:.1f} ms")  # fmt: skip
    print(f"  pickled task {len(pickle.dumps(task))} B, result {len(pickle.dumps(outcome))} B")

    target = args.target
    sched = target * cost["per_task_burst"]
    move = target * cost["slice_round_trip"] / 2  # one way, if slices travel
    # read + validate: this run's (almost all fixed cost at a few thousand rows) plus the
    # per-row rate measured on 2 million rows, for the rows of `target` such sites
    parent = validation + args.validate_rate * rows / n * target / 1e6
    print()
    print(f"on paper, {target:,} sites like these ({rows / n * target:,.0f} rows):")
    print(f"  parent read + validate (fixed + {args.validate_rate:.0f} s per million rows) "
          f"{parent:8.0f} s")  # fmt: skip
    print(f"  scheduler, {target:,} tasks              {sched:8.1f} s   (serial in the scheduler)")
    print(f"  slices over the network, if not on shared storage  {move:6.1f} s of transfer")
    for machines, cores in ((1, 2), (10, 8), (50, 8), (100, 16)):
        compute = target * per_site / (machines * cores)
        total = parent + max(compute, sched) + cost["start"]
        print(f"  {count_of(machines, 'machine'):>12} x {cores:2d} cores: sites {compute:8.0f} s, "
              f"total about {total:8.0f} s ({total / 60:.0f} min)")  # fmt: skip


if __name__ == "__main__":
    main()
