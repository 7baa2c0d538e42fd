"""Benchmark: where one site's time goes, against the in-process floor plus one bare kernel start.

On the 4 demo sites, measured in this run and interleaved site by site (medians over
``--repeat`` rounds):

* kernel start — a bare ``python3`` kernel started with ``jupyter_client`` until it answers
  ``kernel_info`` (cold), and the same through our kernel provisioner (a fork of the warm kernel
  process);
* imports in the kernel — the stack the notebook needs (``pipeline.run.kernels.WARM_IMPORTS``),
  imported in a cold kernel, and in a warm-forked kernel (where it should cost nothing);
* compute — the floor: what the notebook computes, done in this process without Jupyter (load the
  site's slice, ``analyse_site``, ``write_results`` and every report section as HTML), how
  much of the sections is saving the finished figures as SVG (wide, and narrow for the charts
  shown open), and of that the narrow phone variants;
* one control chart saved — the report's SVG against an Agg PNG (110 and 220 dpi) of the same
  finished figure, CPU time (would the Agg renderer be cheaper where vectors add nothing?);
* HTML export — ``render_notebook`` of an executed site notebook with a warm exporter (and, once,
  the ``jupyter nbconvert --to html --no-input`` CLI for comparison);
* ours — ``run_site`` on a warm worker (this process, after the pool initializer's warm-up), as
  the local pool runs it: execute with papermill, render, publish.

Prints ours / (floor + one bare kernel start); the target is at most 2. Nothing here asserts a
time.

    .venv/bin/python benchmarks/bench_site_cost.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import AS_OF, BIN, demo_site_ids, median, tool_env, write_demo_like_project

IMPORT_PROBE = """\
import importlib, time, sys
_t = time.perf_counter()
for _name in {names!r}:
    importlib.import_module(_name)
print("IMPORT_SECONDS", time.perf_counter() - _t)
"""


def bare_kernel_start() -> tuple[float, float]:
    """A cold kernel with plain jupyter_client: (start seconds, seconds to import the stack)."""
    from jupyter_client.manager import start_new_kernel
    from jupyter_client.provisioning import KernelProvisionerFactory

    from pipeline.run.kernels import WARM_IMPORTS

    # run_site makes our provisioner this process's default: the cold kernel uses jupyter_client's
    KernelProvisionerFactory.instance().default_provisioner_name = "local-provisioner"
    t0 = time.perf_counter()
    km, kc = start_new_kernel(
        kernel_name="python3",
        startup_timeout=120,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    start = time.perf_counter() - t0
    try:
        imports = _probe_imports(kc, WARM_IMPORTS)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return start, imports


def _probe_imports(kc, names) -> float:
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    code = IMPORT_PROBE.format(names=tuple(n for n in names if n != "ipykernel.kernelapp"))
    reply = kc.execute_interactive(code, output_hook=hook, timeout=300)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"import probe failed: {reply['content']}")
    return float("".join(out).split("IMPORT_SECONDS")[1].split()[0])


async def _warm_kernel_start() -> tuple[float, float]:
    from jupyter_client.manager import AsyncKernelManager

    from pipeline.run.kernels import WARM_IMPORTS
    from pipeline.run.provisioner import use_warm_fork_provisioner

    use_warm_fork_provisioner()
    t0 = time.perf_counter()
    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        start = time.perf_counter() - t0
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        code = IMPORT_PROBE.format(
            names=tuple(n for n in WARM_IMPORTS if n != "ipykernel.kernelapp")
        )
        await kc.execute_interactive(code, output_hook=hook, timeout=300)
        imports = float("".join(out).split("IMPORT_SECONDS")[1].split()[0])
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return start, imports


def warm_kernel_start() -> tuple[float, float]:
    """A kernel forked from this process's warm kernel process: (start, imports) seconds."""
    return asyncio.run(_warm_kernel_start())


def floor(
    project, slice_file: Path, validation_file: Path, site_id: str, out: Path
) -> dict[str, float]:
    """The notebook's work done in-process: load the slice, analyse, write results, all sections.

    Returns seconds per part: ``analyse`` (load the slice and ``analyse_site``), ``results``
    (``write_results``: results.json and the email key charts' data), ``sections`` (every
    section's HTML) and ``total``.
    """
    from pipeline.report import results, sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.plots import style
    from pipeline.report.plots.style import ChartImage

    # time spent turning finished figures into SVG (wide and narrow), summed over the sections,
    # and of it the narrow phone variants
    saving = [0.0, 0.0]
    real_from_figure = ChartImage.from_figure.__func__  # type: ignore[attr-defined]
    real_narrow = style.narrow_svg

    def timed_from_figure(cls, fig, **kwargs):
        t = time.perf_counter()
        try:
            return real_from_figure(cls, fig, **kwargs)
        finally:
            saving[0] += time.perf_counter() - t

    def timed_narrow(fig, **kwargs):
        t = time.perf_counter()
        try:
            return real_narrow(fig, **kwargs)
        finally:
            saving[1] += time.perf_counter() - t

    t0 = time.perf_counter()
    site = load_site_analysis(
        project_file=str(project), site_data=str(slice_file), site_id=site_id, as_of=AS_OF,
        validation_file=str(validation_file), run_id="bench",
    )  # fmt: skip
    t1 = time.perf_counter()
    results.write_results(site, out)
    t2 = time.perf_counter()
    ChartImage.from_figure = classmethod(timed_from_figure)  # type: ignore[method-assign]
    style.narrow_svg = timed_narrow
    try:
        # the notebook's sections, in its order
        parts = [sections.header(site), sections.summary(site), sections.strategy(site)]
        parts += [sections.metric_section(site, m) for m in site.metrics]
        parts += [sections.pareto(site), sections.culture(site), sections.data_quality(site)]
        parts += [sections.methods(site)]
    finally:
        ChartImage.from_figure = classmethod(real_from_figure)  # type: ignore[method-assign]
        style.narrow_svg = real_narrow
    html = "".join(p._repr_html_() for p in parts)
    t3 = time.perf_counter()
    assert len(html) > 1000
    return {
        "analyse": t1 - t0,
        "results": t2 - t1,
        "sections": t3 - t2,
        "saves": saving[0],
        "narrow": saving[1],
        "total": t3 - t0,
    }


def svg_against_agg(
    project, staged: dict[str, tuple[Path, Path, str]], repeat: int
) -> dict[str, float]:
    """CPU seconds to save one finished control chart (every metric's of the 4 demo sites) as
    the report's SVG, and as an Agg PNG at the email's 110 dpi and at 220 dpi (sharp on a
    phone's or a printer's finer pixels): what the Agg renderer would cost where a chart's
    vectors add nothing. Saves alternate figure by figure; medians per figure."""
    from pipeline.report import sections
    from pipeline.report.analysis import load_site_analysis
    from pipeline.report.plots.style import figure_to_png, figure_to_svg

    figures = []
    for sid, (slice_file, vfile, _status) in staged.items():
        site = load_site_analysis(
            project_file=str(project), site_data=str(slice_file), site_id=sid, as_of=AS_OF,
            validation_file=str(vfile), run_id="bench",
        )  # fmt: skip
        for metric in site.metrics:
            image = sections.control_chart_image(metric)
            if image is not None and image.figure is not None:
                figures.append(image.figure)
    saves = {
        "svg": figure_to_svg,
        "png110": lambda f: figure_to_png(f, dpi=110),
        "png220": lambda f: figure_to_png(f, dpi=220),
    }
    times: dict[str, list[float]] = {k: [] for k in saves}
    for _ in range(repeat):
        for fig in figures:
            for kind, save in saves.items():
                t = time.process_time()
                save(fig)
                times[kind].append(time.process_time() - t)
    return {k: median(v) for k, v in times.items()} | {"figures": float(len(figures))}


def render_without_soup(path: Path) -> float:
    """Our exporter's template rendering alone, skipping ``HTMLExporter.from_notebook_node``'s
    BeautifulSoup re-parse (which only adds missing ``alt`` texts and ``tabindex`` on JupyterLab
    classes). Measured to show what that pass costs; not what the pipeline does."""
    import nbformat
    from nbconvert.exporters.templateexporter import TemplateExporter

    from pipeline.report.render import _exporter

    nb = nbformat.read(str(path), as_version=4)
    t0 = time.perf_counter()
    TemplateExporter.from_notebook_node(_exporter(), nb)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="rounds over the 4 demo sites")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    os.environ.setdefault("MPLBACKEND", "Agg")
    from pipeline.data import contracts, inputs
    from pipeline.data.config import load_project
    from pipeline.report.render import render_notebook, warm_up
    from pipeline.run.kernels import WarmKernelServer, warm_kernels_enabled
    from pipeline.run.worker import SiteTask, run_site

    tmp = Path(tempfile.mkdtemp(prefix="kz-bench-cost-"))
    try:
        project_file = write_demo_like_project(tmp / "project", 4, output=tmp / "out")
        project = load_project(project_file)
        site_ids = demo_site_ids(4)
        tables = inputs.read_tables(project)
        report = contracts.validate_project(
            tables, project, as_of=inputs.pd.Timestamp(AS_OF), site_ids=site_ids
        )
        slices = inputs.split_by_site(tables, site_ids)
        staged: dict[str, tuple[Path, Path, str]] = {}
        for sid in site_ids:
            slice_file = tmp / "slices" / f"{sid}.inputs"
            slices[sid].save(slice_file)
            vfile = tmp / "slices" / f"{sid}.validation.json"
            validation = report.for_site(sid)
            vfile.write_text(json.dumps(validation.to_dict()), encoding="utf-8")
            staged[sid] = (slice_file, vfile, validation.status)

        def task(sid: str) -> SiteTask:
            slice_file, vfile, status = staged[sid]
            stage = tmp / "stage" / uuid.uuid4().hex[:8] / sid
            return SiteTask(
                site_id=sid, as_of=AS_OF, run_id="bench", project_file=str(project_file),
                site_data=str(slice_file), validation_file=str(vfile), stage_dir=str(stage),
                final_dir=str(tmp / "out" / sid), trash_dir=str(tmp / "out" / ".trash"),
                validation_status=status,
            )  # fmt: skip

        # What the pool's initializer does, then one site to warm everything up (not timed).
        t0 = time.perf_counter()
        if warm_kernels_enabled():  # rehearsed, as a run's is from REHEARSE_FROM_SITES sites
            WarmKernelServer.start(rehearse=True)
        warm_up()
        first = run_site(task(site_ids[0]))
        if not first.published:
            raise SystemExit(f"run_site failed: {first.error}")
        print(
            f"warm-up: worker initialiser + first site {time.perf_counter() - t0:.1f}s (not counted)"
        )
        floor(project_file, *staged[site_ids[0]][:2], site_ids[0], tmp / "floor")
        executed = tmp / "out" / site_ids[0] / "report.ipynb"

        rows: dict[str, list[float]] = {
            k: []
            for k in (
                "bare_start",
                "cold_imports",
                "warm_start",
                "warm_imports",
                "floor",
                "floor_analyse",
                "floor_results",
                "floor_sections",
                "floor_saves",
                "floor_narrow",
                "render",
                "render_nosoup",
                "ours",
                "ours_execute",
                "ours_render",
            )  # fmt: skip
        }
        for r in range(args.repeat):
            for sid in site_ids:
                start, imports = bare_kernel_start()
                rows["bare_start"].append(start)
                rows["cold_imports"].append(imports)
                if warm_kernels_enabled():
                    wstart, wimports = warm_kernel_start()
                    rows["warm_start"].append(wstart)
                    rows["warm_imports"].append(wimports)
                parts = floor(project_file, *staged[sid][:2], sid, tmp / "floor" / sid)
                for part, seconds in parts.items():
                    rows["floor" if part == "total" else f"floor_{part}"].append(seconds)
                t0 = time.perf_counter()
                outcome = run_site(task(sid))
                rows["ours"].append(time.perf_counter() - t0)
                if not outcome.published:
                    raise SystemExit(f"run_site failed for {sid}: {outcome.error}")
                rows["ours_execute"].append(outcome.timings["execute"])
                rows["ours_render"].append(outcome.timings["render"])
                t0 = time.perf_counter()
                render_notebook(str(tmp / "out" / sid / "report.ipynb"))
                rows["render"].append(time.perf_counter() - t0)
                rows["render_nosoup"].append(
                    render_without_soup(tmp / "out" / sid / "report.ipynb")
                )
            print(f"round {r + 1}/{args.repeat}: 4 sites, ours median so far "
                  f"{median(rows['ours']):.2f}s")  # fmt: skip

        nb_copy = tmp / "cli" / "report.ipynb"
        nb_copy.parent.mkdir()
        shutil.copyfile(executed, nb_copy)
        t0 = time.perf_counter()
        subprocess.run(
            [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(nb_copy)],
            env=tool_env(), check=True, capture_output=True,
        )  # fmt: skip
        cli_render = time.perf_counter() - t0

        savings = svg_against_agg(project_file, staged, args.repeat)

        m = {k: median(v) if v else float("nan") for k, v in rows.items()}
        n = len(rows["ours"])
        print()
        print(f"per-site cost, median of {n} site runs (4 demo sites x {args.repeat}); 2 cores, "
              "load varies")  # fmt: skip
        print(f"  kernel start, bare (jupyter_client, cold)        {m['bare_start']:7.3f} s")
        print(f"  kernel start, ours (fork of the warm kernel)     {m['warm_start']:7.3f} s")
        print(f"  imports in a cold kernel (WARM_IMPORTS)          {m['cold_imports']:7.3f} s")
        print(f"  imports in a warm-forked kernel                  {m['warm_imports']:7.3f} s")
        print(f"  compute in-process (the floor)                   {m['floor']:7.3f} s")
        print(f"    load slice + analyse_site                      {m['floor_analyse']:7.3f} s")
        print(f"    write_results (results.json + key chart data)  {m['floor_results']:7.3f} s")
        print(f"    every section's HTML (SVG charts)              {m['floor_sections']:7.3f} s")
        print(f"      of which saving figures as SVG, wide + narrow  {m['floor_saves']:6.3f} s")
        print(f"        of which the narrow phone variants           {m['floor_narrow']:6.3f} s")
        print(f"  one control chart saved, CPU (median of {int(savings['figures'])} charts):"
              f" SVG {1e3 * savings['svg']:.1f} ms, Agg PNG at 110 dpi "
              f"{1e3 * savings['png110']:.1f} ms ({savings['png110'] / savings['svg']:.2f}x), "
              f"at 220 dpi {1e3 * savings['png220']:.1f} ms "
              f"({savings['png220'] / savings['svg']:.2f}x)")  # fmt: skip
        print(f"  HTML export, warm exporter (render_notebook)     {m['render']:7.3f} s")
        print(f"    of which template alone (no BeautifulSoup pass) {m['render_nosoup']:6.3f} s")
        print(f"  HTML export, jupyter nbconvert CLI (one call)    {cli_render:7.3f} s")
        print(f"  ours: run_site on a warm worker                  {m['ours']:7.3f} s   "
              f"(execute {m['ours_execute']:.3f} s, render {m['ours_render']:.3f} s)")  # fmt: skip
        overhead = m["ours"] - m["floor"]
        print(f"  ours minus floor (Jupyter overhead)              {overhead:7.3f} s")
        target = m["floor"] + m["bare_start"]
        print(f"  floor + one bare kernel start                    {target:7.3f} s")
        print(f"  ours / floor                                     {m['ours'] / m['floor']:7.2f}")
        print(f"ratio_to_floor_plus_kernel: {m['ours'] / target:.2f}")
    finally:
        if WarmKernelServer._instance is not None:
            WarmKernelServer._instance.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
