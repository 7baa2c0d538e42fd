"""Benchmark: a 1-million-point individuals chart with every rule set.

Prints wall times (best of several runs) and ratios against baselines measured in the same run on
the same data: a plain numpy mean/std pass (the floor any chart must pay to read the data) and a
plain numpy moving-range limits computation (what the limits alone cost). Not a test: nothing
here asserts a time.

    .venv/bin/python benchmarks/bench_spc.py [--points N] [--repeat R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pipeline.stats.spc import control_chart


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    rng = np.random.default_rng(2024)
    x = rng.normal(50, 5, args.points)
    x[rng.random(args.points) < 0.001] = np.nan  # a few gaps, as real data have
    phases = np.repeat(np.arange(4), -(-args.points // 4))[: args.points]

    def numpy_floor():
        ok = x[~np.isnan(x)]
        return ok.mean(), ok.std()

    def numpy_limits():
        mr = np.abs(np.diff(x))
        sigma = np.nanmean(mr) / 1.128
        centre = np.nanmean(x)
        return (x > centre + 3 * sigma) | (x < centre - 3 * sigma)

    floor = best_of(numpy_floor, args.repeat)
    limits = best_of(numpy_limits, args.repeat)
    cases = {
        "xmr, Western Electric (default)": lambda: control_chart(x),
        "xmr, all rule sets": lambda: control_chart(x, rules="all"),
        "xmr, all rule sets, 4 phases": lambda: control_chart(x, rules="all", phases=phases),
        "xmr, all rule sets, frozen baseline": lambda: control_chart(
            x, rules="all", phases=phases, freeze_baseline=True
        ),
        "run chart, Anhoej": lambda: control_chart(x, chart="run"),
    }
    print(f"{args.points:,} points, best of {args.repeat}")
    print(f"{'baseline: numpy mean/std pass':45s} {floor * 1e3:9.1f} ms")
    print(f"{'baseline: numpy MR limits + beyond-3-sigma':45s} {limits * 1e3:9.1f} ms")
    for name, fn in cases.items():
        t = best_of(fn, args.repeat)
        print(
            f"{name:45s} {t * 1e3:9.1f} ms   x{t / floor:7.1f} mean/std   "
            f"x{t / limits:6.1f} MR limits"
        )


if __name__ == "__main__":
    main()
