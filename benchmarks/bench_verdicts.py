"""Benchmark: how often each verdict comes out on simulated sites whose truth is known.

Every simulated series goes through :func:`pipeline.stats.verdicts.judge_change`, the one function
that computes the verdict the site report shows (``evaluate_events`` calls it per event), with the default
settings (alpha 0.05, sustain_points 8, min_phase_points 12). Weekly series, 52 weeks before the
event and 26 after, no transition. The metric is better when lower. Not a test: nothing here
asserts; the shares are reported in benchmarks/README.md.

Noise: a stationary AR(1) process with autocorrelation ``phi`` and marginal standard deviation 1
("1 SD" below is that marginal SD, what a site would see as its metric's SD). For the p chart
(200 inspected a week, 10% defective) and the u chart (50 units a week, 2 defects per unit), and
their rare-event variants ``prare`` (100 a week, 2% defective) and ``urare`` (20 units, 0.1 each), the
AR(1) process moves the logit / log of the true rate (SD 0.1), and the counts are binomial /
Poisson around it; "1 SD" is then the total SD of the weekly proportion or rate (latent plus
sampling), and shifts are applied on the logit / log scale so that they move the weekly rate by
that many SDs.

Scenarios: ``null`` (no change; phi 0, 0.3, 0.5, 0.6), ``sustained`` (1.2 SD better from the event
on; phi 0 and 0.5), ``faded`` (1.5 SD better for 13 weeks, then back; phi 0 and 0.5), ``trend``
(an improving trend of 1 SD per 26 weeks through the whole series, nothing at the event; phi 0
and 0.5), ``worse`` (1.2 SD worse; phi 0 and 0.5), ``trend_link`` (the trend with the same slope
at the middle, but straight on the logit / log scale, the scale the p and u verdicts model; for
XmR the same as ``trend``). ``trend`` is straight on the rate's own scale: for a rare event it
falls toward 0, a curve on the logit / log scale.

``--oracle`` adds, for the XmR chart, the same series judged by a test no data-driven rule can
beat: generalised least squares of the model ``[1, after]`` with the simulation's own phi and
noise variance known, the step tested two-sided (z) at the level the procedure gives its whole
after window (``alpha * (1 - EARLY_SHARE)``), no trend ever modelled. It is the ceiling of the
power any verdict rule can have for a step, and it credits a prior trend whenever the trend shows.

``--known-phi`` adds, for the XmR chart, the same series judged by the report's own rule,
:func:`judge_change` unchanged, with the continuous model's autocorrelation estimate replaced by
the simulation's true phi: every fit ``judge_change`` makes (the baseline alone, the nesting model
C that decides the trend, the model judged: whole window, early half and fade) uses it. The
replacement is made here, in the worker process, for those rows only (``known_phi`` swaps
``verdicts._design_phi`` and records every ``_fit``), so the report's behaviour is untouched; the
run prints a check that every fit of those rows used the true phi. The gap between these rows
and the xmr rows is what the phi estimate costs; the gap to the oracle is what the rule costs.

The column ``mean phi`` is the mean of the verdicts' ``autocorrelation`` (the lag-1
autocorrelation of the judged model's residuals as the fit estimates it: design-corrected for
XmR, ``share * rho`` for p and u, so only XmR's is comparable with the simulated phi).

    .venv/bin/python benchmarks/bench_verdicts.py [--series 500] [--processes 2]
        [--chart xmr p u prare urare] [--scenario null sustained ...] [--oracle] [--known-phi]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from multiprocessing import Pool
from pathlib import Path

# one BLAS thread per process: the processes share the cores, and a threaded eigh on 78 x 78
# matrices under load ran 20 times slower than a single-threaded one (measured)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 (after the thread settings)
import pandas as pd  # noqa: E402 (after the thread settings)

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/x.py` from a clean checkout
    sys.path.insert(0, str(REPO))

from scipy import stats  # noqa: E402

import pipeline.stats.verdicts as verdicts  # noqa: E402
from pipeline.stats.verdicts import EARLY_SHARE, OUTCOMES, judge_change  # noqa: E402

N_BEFORE, N_AFTER = 52, 26
TIMES = pd.date_range("2025-01-06", periods=N_BEFORE + N_AFTER, freq="W-MON")
CHANGE_AT = TIMES[N_BEFORE]
#: (scenario, phi) pairs, in the order they are printed
SCENARIOS = [
    ("null", 0.0), ("null", 0.3), ("null", 0.5), ("null", 0.6),
    ("sustained", 0.0), ("sustained", 0.5),
    ("faded", 0.0), ("faded", 0.5),
    ("trend", 0.0), ("trend", 0.5),
    ("worse", 0.0), ("worse", 0.5),
    ("trend_link", 0.0), ("trend_link", 0.5),
]  # fmt: skip
P0, N_P = 0.10, 200.0
LAMBDA0, N_U = 2.0, 50.0
#: rare events, about 2 a week: 2% of 100 (``prare``), 0.1 per unit of 20 (``urare``); a
#: 1.2-SD improvement leaves most weeks with no event, where the verdict's Firth fit takes over
RARE = {"prare": (0.02, 100.0), "urare": (0.1, 20.0)}
LATENT_SD = 0.1


def ar1(rng: np.random.Generator, phi: float, size: int) -> np.ndarray:
    """Stationary AR(1) with marginal SD 1."""
    e = rng.standard_normal(size)
    u = np.empty(size)
    u[0] = e[0]
    for i in range(1, size):
        u[i] = phi * u[i - 1] + math.sqrt(1 - phi**2) * e[i]
    return u


def signal(scenario: str) -> np.ndarray:
    """The true change in SDs per week (negative = better, the metric is better when lower)."""
    t = np.arange(N_BEFORE + N_AFTER, dtype=float)
    s = np.zeros_like(t)
    if scenario == "sustained":
        s[N_BEFORE:] = -1.2
    elif scenario == "faded":
        s[N_BEFORE : N_BEFORE + 13] = -1.5
    elif scenario in ("trend", "trend_link"):
        s = -(t - t.mean()) / 26.0
    elif scenario == "worse":
        s[N_BEFORE:] = 1.2
    return s


def simulate(chart: str, scenario: str, phi: float, rng: np.random.Generator) -> pd.DataFrame:
    u = ar1(rng, phi, N_BEFORE + N_AFTER)
    s = signal(scenario)
    if chart == "xmr":
        return pd.DataFrame({"time": TIMES, "value": 10.0 + u + s})
    if KIND[chart] == "proportion":
        p_mid, n_p = RARE.get(chart, (P0, N_P))
        sd = math.sqrt((LATENT_SD * p_mid * (1 - p_mid)) ** 2 + p_mid * (1 - p_mid) / n_p)
        if scenario == "trend_link":  # the same slope at p_mid, straight on the logit scale
            eta = math.log(p_mid / (1 - p_mid)) + s * sd / (p_mid * (1 - p_mid)) + LATENT_SD * u
        else:
            target = np.clip(p_mid + s * sd, 1e-4, 1 - 1e-4)
            eta = np.log(target / (1 - target)) + LATENT_SD * u
        x = rng.binomial(int(n_p), 1 / (1 + np.exp(-eta)))
        return pd.DataFrame({"time": TIMES, "value": x.astype(float), "n": n_p})
    lam, n_u = RARE.get(chart, (LAMBDA0, N_U))
    sd = math.sqrt((LATENT_SD * lam) ** 2 + lam / n_u)
    if scenario == "trend_link":  # the same slope at lam, straight on the log scale
        x = rng.poisson(n_u * lam * np.exp(s * sd / lam + LATENT_SD * u))
    else:
        target = np.maximum(lam + s * sd, 1e-3)
        x = rng.poisson(n_u * target * np.exp(LATENT_SD * u))
    return pd.DataFrame({"time": TIMES, "value": x.astype(float), "n": n_u})


#: the chart simulated and the kind of metric it is judged as (``prare`` and ``urare``: rare
#: events, see ``RARE``; not in the default run, whose table they would change)
KIND = {
    "xmr": "continuous",
    "p": "proportion",
    "u": "count",
    "prare": "proportion",
    "urare": "count",
}


def oracle(values: np.ndarray, phi: float, alpha: float = 0.05) -> str:
    """The verdict of the known-phi, known-variance, no-trend GLS step test (module docstring):
    ``sustained`` for a clear fall (the metric is better when lower), ``worsened`` for a clear
    rise, else ``no_clear_change``."""
    t = np.arange(values.size, dtype=float)
    X = np.column_stack([np.ones_like(t), (t >= N_BEFORE).astype(float)])
    Rinv = np.linalg.inv(phi ** np.abs(np.subtract.outer(t, t)))  # marginal variance 1
    cov = np.linalg.inv(X.T @ Rinv @ X)
    z = float((cov @ X.T @ Rinv @ values)[1] / math.sqrt(cov[1, 1]))
    q = float(stats.norm.isf(alpha * (1 - EARLY_SHARE) / 2))
    return "sustained" if z < -q else "worsened" if z > q else "no_clear_change"


@contextmanager
def known_phi(phi: float) -> Iterator[list[float]]:
    """Inside the block every continuous fit of ``judge_change`` uses ``phi`` instead of its
    estimate: ``verdicts._design_phi`` (the one place the continuous model estimates it, called
    by ``verdicts._fit`` for every design) returns ``phi``, with the residual maker it returns
    alongside. Yields the list of the ``phi`` of every ``_Fit`` made in the block, so that the
    caller can check that none escaped. Simulation only; the module is restored on exit."""
    design_phi, fit = verdicts._design_phi, verdicts._fit
    fitted: list[float] = []

    def true_phi(e: np.ndarray, Xw: np.ndarray, tt: np.ndarray) -> tuple[float, np.ndarray]:
        M = np.eye(e.size) - Xw @ np.linalg.pinv(Xw.T @ Xw) @ Xw.T
        return phi, M

    def recorded_fit(*args: object, **kwargs: object) -> object:
        result = fit(*args, **kwargs)  # type: ignore[arg-type]
        fitted.append(result.phi)
        return result

    verdicts._design_phi = true_phi  # type: ignore[assignment]
    verdicts._fit = recorded_fit  # type: ignore[assignment]
    try:
        yield fitted
    finally:
        verdicts._design_phi, verdicts._fit = design_phi, fit


def run_one(args: tuple[str, str, float, int, int]) -> tuple[list[str], list[float], list[int]]:
    """Verdicts of one job's series, the verdicts' ``autocorrelation`` and, for the known-phi
    rows, per series the number of fits made and how many of them used the true phi."""
    chart, scenario, phi, seed, count = args
    base = chart.split("-")[0]
    rng = np.random.default_rng(seed)
    out: list[str] = []
    phis: list[float] = []
    checks: list[int] = []
    for _ in range(count):
        frame = simulate(base, scenario, phi, rng)
        if chart.endswith("-oracle"):
            out.append(oracle(frame["value"].to_numpy(dtype=float), phi))
            continue
        with known_phi(phi) if chart.endswith("-knownphi") else nullcontext([]) as fitted:
            verdict = judge_change(
                frame,
                change_at=CHANGE_AT,
                transition_start=CHANGE_AT,
                kind=KIND[base],  # type: ignore[arg-type]
                better="lower",
            )
        if chart.endswith("-knownphi"):
            checks += [len(fitted), sum(f == phi for f in fitted)]
        out.append(verdict.outcome)
        phis.append(math.nan if verdict.autocorrelation is None else verdict.autocorrelation)
    return out, phis, checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2, choices=(1, 2))
    parser.add_argument("--chart", nargs="*", default=["xmr", "p", "u"], choices=list(KIND))
    parser.add_argument("--scenario", nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--oracle", action="store_true",
                        help="add the known-phi no-trend GLS step test on the XmR chart's series")  # fmt: skip
    parser.add_argument("--known-phi", action="store_true",
                        help="add the report's rule given the true phi on the XmR chart's series")  # fmt: skip
    a = parser.parse_args()
    jobs = []
    charts = list(a.chart) + (["xmr-knownphi"] if a.known_phi else [])
    charts += ["xmr-oracle"] if a.oracle else []
    for chart in charts:
        ci = list(KIND).index(chart.split("-")[0])  # oracle and known phi see the same series
        for si, (scenario, phi) in enumerate(SCENARIOS):
            if a.scenario and scenario not in a.scenario:
                continue
            # two halves per scenario so that two processes share the work evenly
            half = a.series // 2
            for part, count in enumerate((half, a.series - half)):
                seed = a.seed + 1000 * ci + 10 * si + part
                jobs.append((chart, scenario, phi, seed, count))
    t0 = time.perf_counter()
    with Pool(a.processes) as pool:
        results = pool.map(run_one, jobs, chunksize=1)
    merged: dict[tuple[str, str, float], list[str]] = {}
    mean_phi: dict[tuple[str, str, float], list[float]] = {}
    checks: dict[float, list[int]] = {}
    for (chart, scenario, phi, _, _), (res, phis, check) in zip(jobs, results, strict=True):
        merged.setdefault((chart, scenario, phi), []).extend(res)
        mean_phi.setdefault((chart, scenario, phi), []).extend(phis)
        checks.setdefault(phi, []).extend(check)
    head = f"{'chart':12} {'scenario':10} {'phi':>4} " + " ".join(f"{o:>15}" for o in OUTCOMES)
    print(head + f" {'credited':>9} {'mean phi':>9}")
    for (chart, scenario, phi), res in merged.items():
        shares = {o: res.count(o) / len(res) for o in OUTCOMES}
        credited = shares["sustained"] + shares["faded"]
        cells = " ".join(f"{100 * shares[o]:14.1f}%" for o in OUTCOMES)
        phis = np.array(mean_phi[(chart, scenario, phi)], dtype=float)
        phi_cell = f"{np.nanmean(phis):9.3f}" if np.isfinite(phis).any() else f"{'-':>9}"
        print(f"{chart:12} {scenario:10} {phi:4.1f} {cells} {100 * credited:8.1f}% {phi_cell}")
    for phi, check in checks.items():
        if not check:
            continue
        fits, at_true = np.array(check[0::2]), np.array(check[1::2])
        print(
            f"known phi {phi}: {fits.size} series, {fits.sum()} fits ({fits.min()}-{fits.max()} a "
            f"series), {at_true.sum()} of them with phi = {phi}: "
            + ("every fit used the true phi" if np.array_equal(fits, at_true) else "NOT ALL")
        )
    print(f"{sum(len(r) for r in merged.values())} series in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
