"""Control charts (Shewhart, run and Laney charts) with phases, as qcc and qicharts2 compute them.

One entry point, :func:`control_chart`, returns a frozen :class:`ControlChart` holding per-point
centre lines, limits and signals, per-phase limits and Anhøj run statistics.

Chart types and formulas (``sigma`` is the process sigma; ``se_i`` the standard error of the
plotted statistic at point i; limits are centre +/- 3 se_i):

==========  ===================  =============================  =====================================
chart       plotted value        centre                         se_i (sigma estimator, qcc name)
==========  ===================  =============================  =====================================
xmr         x_i                  mean(x)                        sigma = mean(MR) / 1.128 ("MR");
                                                                or sd(x) / c4(m) ("SD"); or
                                                                screened MR ("MR-screened")
mr          MR_i = |x_i-x_i-1|   mean(MR)                       d3(2) * mean(MR) / d2(2)
run         x_i                  median(x)                      (no limits)
xbar_r      mean of subgroup     sum(n_i xbar_i) / sum(n_i)     sigma / sqrt(n_i); sigma = mean(R_i /
                                                                d2(n_i)) ("UWAVE-R")
xbar_s      mean of subgroup     as xbar_r                      sigma = mean(S_i / c4(n_i))
                                                                ("UWAVE-SD")
r           R_i                  sum(n_i R_i) / sum(n_i)        d3(n_i) * sigma ("UWAVE-R")
s           S_i                  sum(n_i S_i) / sum(n_i)        sqrt(1 - c4(n_i)^2) * sigma
                                                                ("UWAVE-SD")
p           x_i / n_i            pbar = sum(x) / sum(n)         sqrt(pbar (1 - pbar) / n_i)
np          x_i                  n_i pbar                       sqrt(n_i pbar (1 - pbar))
c           x_i                  mean(x)                        sqrt(cbar)
u           x_i / n_i            ubar = sum(x) / sum(n)         sqrt(ubar / n_i)
p_prime     x_i / n_i            pbar                           sqrt(pbar (1-pbar) / n_i) * sigma_z
u_prime     x_i / n_i            ubar                           sqrt(ubar / n_i) * sigma_z
g           units/days between   median(x)                      limits mean(x) +/- 3 sqrt(mean (mean
            events                                              + 1)), LCL clipped at 0
t           time between events  mean(y)^3.6, y = x^(1/3.6)     I chart of y = x^(1/3.6): limits
                                                                (mean(y) +/- 3 mean MR(y) / 1.128)
                                                                ^ 3.6, LCL 0 where negative
==========  ===================  =============================  =====================================

The g and t charts are qicharts2 0.8.1's ``qic(chart = "g")`` and ``qic(chart = "t")``
(``R/helper.functions.R``: ``qic.g``, ``qic.t``): the g chart's limits come from the mean gap
(geometric distribution, Montgomery 2013, p. 319) while its centre line is the median, around which
the Anhøj rules count runs; the t chart is an individuals chart of the time between events raised to
1/3.6 (Nelson's transformation of exponential to near-normal data), its lines raised back to 3.6.
Neither has 1- or 2-sigma zones, so only the rules that use the limits or the centre line apply
(default: ``we1`` and the Anhøj rules, as qicharts2). The t chart's moving ranges are not screened
unless ``screen_mr`` (qicharts2 screens them by default).

Laney's sigma_z is the mean moving range of the z-scores z_i = (y_i - centre) / se_i, divided by
1.128 (qicharts2 ``qic.pprime`` / ``qic.uprime``). Limits of non-negative statistics are clipped
at 0, proportions at 1 and np at n_i; individuals limits are not clipped.

``d2``/``d3`` are qcc's tables (``exp.R.unscaled`` for n <= 25, ``se.R.unscaled`` for n <= 50),
so that results agree with qcc to the last digit; outside the tables they are computed by numerical
integration. ``c4`` is exact (gamma functions). The moving-range chart's UCL is therefore
D4(2) * mean(MR) = (1 + 3 * 0.8525033 / 1.128) * mean(MR) = 3.267296 * mean(MR).

Missing values (NaN) are gaps: they are kept as points, are not judged by any rule, and a moving
range that touches one is dropped (qicharts2; qcc instead joins across the gap). Missing readings
inside a subgroup reduce that subgroup's n.

Exclusions (qicharts2's ``exclude``): an excluded point is drawn and judged against the limits
(``we1``, ``nelson1``, ``nhs_outside``) but left out of the centre, the sigma, the window and run
rules and the Anhøj analysis; moving ranges are taken over the remaining points in order, so one
range bridges each excluded point.

Phases: a change of the ``phases`` label starts a new phase. Limits are recalculated per phase
(moving ranges never span a boundary) unless ``freeze_baseline=True``, which applies phase 1's
centre and sigma to every later point and judges the rules over the whole series against them.
A phase with fewer than ``min_phase_points`` points is flagged ``is_provisional``.

References
----------
Montgomery, D. C. (2013) *Introduction to Statistical Quality Control*, 7th ed., ch. 6-7.
Wheeler, D. J. (2000) *Understanding Variation*; NIST/SEMATECH e-Handbook of Statistical Methods, 6.3.
Scrucca, L. (2004) qcc: an R package for quality control charting. *R News* 4(1), 11-17.
Laney, D. B. (2002) Improved control charts for attributes. *Quality Engineering* 14(4), 531-537.
Anhøj, J. & Olesen, A. V. (2014) Run charts revisited. *PLoS ONE* 9(11): e113825.
NHS England (2019) *Making Data Count* (moving-range screening at 3.267 x mean MR).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import integrate, special
from scipy import stats as sps

from pipeline.exceptions import StatisticsError
from pipeline.formatting import finite, html_tables
from pipeline.stats import rules as _rules
from pipeline.stats.rules import RunStats
from pipeline.vocabulary import (
    DISPERSION_CHARTS,
    SIZED_CHARTS,
    SUBGROUP_CHARTS,
    Better,
    ChartType,
    SignalLabel,
    VariationIcon,
)

__all__ = [
    "CHART_TYPES",
    "SIGMA_METHODS",
    "ControlChart",
    "PhaseLimits",
    "RunStats",
    "Signal",
    "c4",
    "control_chart",
    "d2",
    "d3",
    "describe_signals",
    "phase_labels_at",
    "signal_labels",
]

CHART_TYPES: tuple[str, ...] = tuple(ChartType)
#: Rare-event charts (qicharts2): limits without 1- and 2-sigma zones.
RARE_EVENT_CHARTS = frozenset({"g", "t"})
#: Nelson's exponent for times between events (qicharts2 ``qic.t``).
T_EXPONENT = 3.6

SIGMA_METHODS: dict[str, str] = {
    "MR": "mean moving range / d2(2) = 1.128",
    "MR-screened": "mean moving range / 1.128, after dropping moving ranges >= 3.267 x their mean",
    "SD": "sample standard deviation / c4(m)",
    "UWAVE-R": "mean over subgroups of R_i / d2(n_i)",
    "UWAVE-SD": "mean over subgroups of S_i / c4(n_i)",
    "binomial": "sqrt(pbar (1 - pbar)) (binomial)",
    "poisson": "sqrt(mean count per unit) (Poisson)",
    "laney-binomial": "binomial sigma x sigma_z, sigma_z = mean moving range of z-scores / 1.128",
    "laney-poisson": "Poisson sigma x sigma_z, sigma_z = mean moving range of z-scores / 1.128",
    "geometric": "sqrt(mean (mean + 1)) of the gaps between events (geometric)",
    "MR-t": "mean moving range of x^(1/3.6) / 1.128 (sigma on the transformed scale)",
    "MR-t-screened": "as MR-t, after dropping moving ranges >= 3.267 x their mean",
    "none": "no sigma (run chart, median centre line)",
}

_BETTER = tuple(Better)

# qcc's tables (qcc.options("exp.R.unscaled") and qcc.options("se.R.unscaled")), index = n.
_D2_TABLE = (
    math.nan, math.nan, 1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078, 3.173,
    3.258, 3.336, 3.407, 3.472, 3.532, 3.588, 3.640, 3.689, 3.735, 3.778, 3.819, 3.858, 3.895,
    3.931,
)  # fmt: skip
_D3_TABLE = (
    math.nan, math.nan, 0.8525033, 0.8883697, 0.8798108, 0.8640855, 0.8480442, 0.8332108,
    0.8198378, 0.8078413, 0.7970584, 0.7873230, 0.7784873, 0.7704257, 0.7630330, 0.7562217,
    0.7499188, 0.7440627, 0.7386021, 0.7334929, 0.7286980, 0.7241851, 0.7199267, 0.7158987,
    0.7120802, 0.7084528, 0.7050004, 0.7017086, 0.6985648, 0.6955576, 0.6926770, 0.6899137,
    0.6872596, 0.6847074, 0.6822502, 0.6798821, 0.6775973, 0.6753910, 0.6732584, 0.6711952,
    0.6691976, 0.6672619, 0.6653848, 0.6635632, 0.6617943, 0.6600754, 0.6584041, 0.6567780,
    0.6551950, 0.6536532, 0.6521506,
)  # fmt: skip
D2_MR = _D2_TABLE[2]
D3_MR = _D3_TABLE[2]
#: Moving-range screening factor as NHS Making Data Count and qicharts2 use it (rounded D4(2)).
SCREEN_FACTOR = 3.267


def _normal_grid(lo: float, hi: float, step: float = 0.01) -> np.ndarray:
    return np.arange(lo, hi + step / 2, step)


@cache
def _d2_exact(n: int) -> float:
    """E(range of n standard normals) = integral of 1 - Phi(x)^n - (1 - Phi(x))^n.

    The trapezoidal rule on a fine grid converges geometrically for such smooth, fast-decaying
    integrands (accurate far beyond the tables' 4 digits)."""
    x = _normal_grid(-12, 12)
    f = 1 - sps.norm.cdf(x) ** n - sps.norm.sf(x) ** n
    return float(integrate.trapezoid(f, x))


@cache
def _d3_exact(n: int) -> float:
    """SD of the range of n standard normals, from E(R^2) = 2 * integral of w (1 - F_R(w)) with
    F_R(w) = n * integral of phi(x) (Phi(x + w) - Phi(x))^(n - 1) dx."""
    x = _normal_grid(-10, 10, 0.02)
    w = _normal_grid(0, 14, 0.02)
    cdf_x = sps.norm.cdf(x)
    inner = (sps.norm.cdf(x[None, :] + w[:, None]) - cdf_x[None, :]) ** (n - 1)
    f_r = n * integrate.trapezoid(sps.norm.pdf(x)[None, :] * inner, x, axis=1)
    second = 2 * integrate.simpson(w * (1 - f_r), x=w)  # w = 0 is an endpoint: Simpson
    return math.sqrt(second - _d2_exact(n) ** 2)


def d2(n: int | np.ndarray) -> np.ndarray:
    """Expected range of n standard normal readings: qcc's table for n <= 25, else integrated.

    NaN for n < 2.
    """
    arr = np.asarray(n, dtype=np.int64)
    out = np.full(arr.shape, np.nan)
    for k in np.unique(arr):
        if k >= 2:
            out[arr == k] = _D2_TABLE[k] if k < len(_D2_TABLE) else _d2_exact(int(k))
    return out


def d3(n: int | np.ndarray) -> np.ndarray:
    """Standard deviation of the range of n standard normal readings: qcc's table for n <= 50,
    else integrated. NaN for n < 2."""
    arr = np.asarray(n, dtype=np.int64)
    out = np.full(arr.shape, np.nan)
    for k in np.unique(arr):
        if k >= 2:
            out[arr == k] = _D3_TABLE[k] if k < len(_D3_TABLE) else _d3_exact(int(k))
    return out


def c4(n: int | float | np.ndarray) -> np.ndarray:
    """Exact c4(n) = sqrt(2 / (n - 1)) * Gamma(n / 2) / Gamma((n - 1) / 2); NaN for n < 2."""
    arr = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(2 / (arr - 1)) * np.exp(
            special.gammaln(arr / 2) - special.gammaln((arr - 1) / 2)
        )
    return np.where(arr >= 2, out, np.nan)


# --------------------------------------------------------------------------- result objects


class Signal(NamedTuple):
    """One rule signal at one point. ``label`` is improvement, concern or neutral.

    A named tuple (immutable, cheap: a long series can carry tens of thousands of signals).
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: the API name
    rule: str
    label: str
    time: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseLimits:
    """Centre line and limits of one phase.

    ``centre``, ``lcl`` and ``ucl`` are None where they vary from point to point (variable n) or
    where the chart has no such line. ``sigma`` is the sigma qcc reports (``std.dev``): the
    process sigma for xmr/mr/xbar/r/s; sqrt(pbar (1 - pbar) / n) for p (None if n varies);
    sqrt(n pbar (1 - pbar)) for np (None if n varies); sqrt(cbar) for c; sqrt(ubar) for u (per
    unit); the Laney charts scale their classic chart's sigma by ``sigma_z``, Laney's
    between-subgroup factor (p_prime, u_prime only). In frozen-baseline mode every phase reports
    the baseline's centre and sigma.
    ``n_points`` counts the points that are not missing; ``first``/``last`` are 0-based indexes.
    """

    phase: int
    label: str
    first: int
    last: int
    centre: float | None
    sigma: float | None
    lcl: float | None
    ucl: float | None
    n_points: int
    is_provisional: bool
    sigma_z: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "first": self.first,
            "last": self.last,
            "centre": _num(self.centre),
            "sigma": _num(self.sigma),
            "n_points": self.n_points,
        }


_num = finite


def _time_json(t: Any) -> Any:
    if t is None:
        return None
    if isinstance(t, float) and math.isnan(t):
        return None
    if isinstance(t, np.generic):
        t = t.item()
    if isinstance(t, pd.Timestamp | np.datetime64 | datetime.datetime):
        t = pd.Timestamp(t)
        if pd.isna(t):
            return None
        if t == t.normalize() and t.tzinfo is None:
            return t.date().isoformat()
        return t.isoformat()
    if hasattr(t, "isoformat"):
        return t.isoformat()
    if isinstance(t, int | float | str | bool):
        return t
    return str(t)


#: Version of :meth:`ControlChart.to_state`'s format.
STATE_VERSION = 1
#: The per-point arrays :meth:`ControlChart.to_state` writes, in field order.
_STATE_ARRAYS = ("time", "value", "n", "phase", "centre", "lcl", "ucl", "sigma")


def _scalar_state(v: Any) -> Any:
    """A number or text as JSON: numpy scalars as Python ones, a float that is not finite as
    its name ("nan", "inf", "-inf"; plain JSON has none)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return v


def _scalar_from_state(v: Any) -> Any:
    return float(v) if v in ("nan", "inf", "-inf") else v


def _value_state(v: Any) -> Any:
    """One time (or other per-point label) as JSON: a tagged list for what JSON has no type for."""
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    elif isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return ["float", repr(v)]
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if v is pd.NaT:
        return ["nat"]
    if isinstance(v, pd.Timestamp):
        tz = v.tzinfo
        if tz is None:
            return ["ts", int(v.value), None]
        key = getattr(tz, "key", None) or getattr(tz, "zone", None)
        return ["ts", int(v.value), str(key)] if key else ["iso", v.isoformat()]
    if isinstance(v, datetime.datetime):
        return _value_state(pd.Timestamp(v))
    if isinstance(v, datetime.date):
        return ["date", v.isoformat()]
    raise TypeError(f"cannot keep a chart time of type {type(v).__name__}")


def _value_from_state(v: Any) -> Any:
    if not isinstance(v, list):
        return v
    tag = v[0]
    if tag == "nat":
        return pd.NaT
    if tag == "ts":
        ts = pd.Timestamp(v[1])
        return ts if v[2] is None else ts.tz_localize("UTC").tz_convert(v[2])
    if tag == "iso":
        return pd.Timestamp(v[1])
    if tag == "date":
        return datetime.date.fromisoformat(v[1])
    if tag == "float":
        return float(v[1])
    raise ValueError(f"unknown chart time tag {tag!r}")


def _array_state(a: np.ndarray) -> dict[str, Any]:
    if a.dtype.kind in "Mm":  # datetime64 / timedelta64: their integer counts, exactly
        return {"dtype": a.dtype.str, "data": a.view("int64").tolist()}
    if a.dtype == object:
        return {"dtype": "object", "data": [_value_state(v) for v in a]}
    if a.dtype.kind == "f":
        return {"dtype": a.dtype.str, "data": [_scalar_state(v) for v in a.tolist()]}
    return {"dtype": a.dtype.str, "data": a.tolist()}


def _array_from_state(state: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(state["dtype"])
    if dtype.kind in "Mm":
        out = np.asarray(state["data"], dtype="int64").view(dtype)
    elif dtype.kind == "O":
        out = np.empty(len(state["data"]), dtype=object)
        out[:] = [_value_from_state(v) for v in state["data"]]
    elif dtype.kind == "f":
        out = np.asarray([_scalar_from_state(v) for v in state["data"]], dtype=dtype)
    else:
        out = np.asarray(state["data"], dtype=dtype)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ControlChart:
    """A computed control chart: per-point values, centre, limits and signals, per-phase limits.

    Arrays are read-only and in chart order (one entry per point). ``signals`` lists every rule
    signal (ordered by point, then rule); ``flags`` maps each evaluated rule id to its boolean
    array and ``directions`` to an int8 array (+1 up / above, -1 down / below, 0 no direction).
    """

    chart: str
    sigma_method: str
    better: str
    frozen: bool
    rules: tuple[str, ...]
    min_phase_points: int
    phases: tuple[PhaseLimits, ...]
    run_stats: tuple[RunStats, ...]
    signals: tuple[Signal, ...]
    time: np.ndarray
    value: np.ndarray
    n: np.ndarray
    phase: np.ndarray
    centre: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray
    sigma: np.ndarray
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    directions: dict[str, np.ndarray] = field(default_factory=dict)
    lower_bound: float | None = None
    upper_bound: float | None = None
    excluded: np.ndarray | None = None
    run_length: int | None = None
    trend_length: int | None = None

    # -- shape ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.value.shape[0])

    @property
    def index(self) -> np.ndarray:
        return np.arange(len(self))

    @property
    def has_limits(self) -> bool:
        return self.chart != ChartType.RUN

    @property
    def latest_phase(self) -> PhaseLimits:
        """The last phase (the current process)."""
        return self.phases[-1]

    @property
    def is_missing(self) -> np.ndarray:
        return np.isnan(self.value)

    @property
    def is_excluded(self) -> np.ndarray:
        """True for points left out of the centre, sigma and runs analysis (``exclude``)."""
        if self.excluded is None:
            return np.zeros(len(self), dtype=bool)
        return self.excluded

    def zone(self, k: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper k-sigma lines per point, clipped like the control limits."""
        lo = self.centre - k * self.sigma
        hi = self.centre + k * self.sigma
        return _clip_bounds(*_clip(self.chart, lo, hi, self.n), self.lower_bound, self.upper_bound)

    # -- signals -------------------------------------------------------------------------
    def point_signals(self) -> list[list[str]]:
        """The rule ids that flag each point, in rule order."""
        out: list[list[str]] = [[] for _ in range(len(self))]
        for rule in self.rules:
            for i in np.nonzero(self.flags[rule])[0]:
                out[i].append(rule)
        return out

    def signals_in(
        self, last: int | None = None, *, label: str | None = None
    ) -> tuple[Signal, ...]:
        """Signals on the last ``last`` points that are not missing (all if None), optionally
        only those with the given label."""
        sigs = self.signals
        if last is not None:
            present = np.nonzero(~self.is_missing)[0]
            cut = int(present[-last]) if 0 < last <= present.shape[0] else 0
            sigs = tuple(s for s in sigs if s.index >= cut) if last > 0 else ()
        if label is not None:
            sigs = tuple(s for s in sigs if s.label == label)
        return sigs

    def has_concern(self, last: int | None = None) -> bool:
        return bool(self.signals_in(last, label=SignalLabel.CONCERN))

    def has_improvement(self, last: int | None = None) -> bool:
        return bool(self.signals_in(last, label=SignalLabel.IMPROVEMENT))

    def variation(self, last: int = 1) -> VariationIcon:
        """NHS Making Data Count variation verdict for the latest points.

        Looks at the signals on the last ``last`` points that are not missing and returns
        ``"special_cause_concern"`` if any is a concern, else ``"special_cause_improvement"``
        if any is an improvement, else ``"special_cause_neutral"`` if any signal at all, else
        ``"common_cause"``.
        """
        sigs = self.signals_in(last)
        labels = {s.label for s in sigs}
        if SignalLabel.CONCERN in labels:
            return VariationIcon.SPECIAL_CAUSE_CONCERN
        if SignalLabel.IMPROVEMENT in labels:
            return VariationIcon.SPECIAL_CAUSE_IMPROVEMENT
        if labels:
            return VariationIcon.SPECIAL_CAUSE_NEUTRAL
        return VariationIcon.COMMON_CAUSE

    # -- output --------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Tidy per-point table: index, time, value, n, phase, centre, lcl, ucl, sigma, signals."""
        return pd.DataFrame(
            {
                "index": self.index,
                "time": self.time,
                "value": self.value,
                "n": self.n,
                "phase": self.phase,
                "centre": self.centre,
                "lcl": self.lcl,
                "ucl": self.ucl,
                "sigma": self.sigma,
                "signals": self.point_signals(),
            }
        )

    @property
    def points(self) -> pd.DataFrame:
        return self.to_frame()

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``kaizen-reports chart`` (JSON-safe types, None for NaN)."""
        sig = self.point_signals()
        has_n = not np.all(np.isnan(self.n))
        excluded = self.is_excluded
        pts = []
        for i in range(len(self)):
            point = {
                "index": i,
                "time": _time_json(self.time[i]),
                "value": _num(self.value[i]),
                "n": _num(self.n[i]) if has_n else None,
                "phase": int(self.phase[i]),
                "centre": _num(self.centre[i]),
                "lcl": _num(self.lcl[i]),
                "ucl": _num(self.ucl[i]),
                "signals": sig[i],
            }
            if self.excluded is not None:  # the key only where exclusions were asked for
                point["excluded"] = bool(excluded[i])
            pts.append(point)
        return {
            "chart": self.chart,
            "sigma_method": self.sigma_method,
            "lower_bound": _num(self.lower_bound),
            "upper_bound": _num(self.upper_bound),
            "phases": [p.to_dict() for p in self.phases],
            "points": pts,
            "run_stats": [r.to_dict() for r in self.run_stats],
        }

    def to_state(self) -> dict[str, Any]:
        """Every field of the chart as plain JSON values, exactly: floats as Python writes them
        (repr, which reads back to the same double), NaN and infinities as the strings "nan",
        "inf" and "-inf", each array with its dtype, times tagged (a ``pd.Timestamp`` as its
        nanoseconds and time zone). :meth:`from_state` gives back a chart equal in every field:
        what the email's key charts are drawn from when ``send`` needs them (results.json,
        :meth:`to_dict`, keeps only what the report shows)."""
        return {
            "state_version": STATE_VERSION,
            "chart": str(self.chart),
            "sigma_method": self.sigma_method,
            "better": str(self.better),
            "frozen": self.frozen,
            "rules": list(self.rules),
            "min_phase_points": self.min_phase_points,
            "phases": [
                {f: _scalar_state(getattr(p, f)) for f in PhaseLimits.__dataclass_fields__}
                for p in self.phases
            ],
            "run_stats": [r.to_dict() for r in self.run_stats],
            "signals": [
                [int(s.index), s.rule, s.label, _value_state(s.time)] for s in self.signals
            ],
            **{name: _array_state(getattr(self, name)) for name in _STATE_ARRAYS},
            "flags": {k: _array_state(v) for k, v in self.flags.items()},
            "directions": {k: _array_state(v) for k, v in self.directions.items()},
            "lower_bound": _scalar_state(self.lower_bound),
            "upper_bound": _scalar_state(self.upper_bound),
            "excluded": None if self.excluded is None else _array_state(self.excluded),
            "run_length": self.run_length,
            "trend_length": self.trend_length,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ControlChart:
        """The chart :meth:`to_state` wrote (arrays read-only, as :func:`control_chart` leaves
        them).

        Raises
        ------
        StatisticsError
            when ``state`` was written by another version of this format.
        """
        if state.get("state_version") != STATE_VERSION:
            raise StatisticsError(
                f"chart state version {state.get('state_version')!r} is not {STATE_VERSION}"
            )
        excluded = state["excluded"]
        return cls(
            chart=state["chart"],
            sigma_method=state["sigma_method"],
            better=state["better"],
            frozen=bool(state["frozen"]),
            rules=tuple(state["rules"]),
            min_phase_points=int(state["min_phase_points"]),
            phases=tuple(
                PhaseLimits(**{k: _scalar_from_state(v) for k, v in p.items()})
                for p in state["phases"]
            ),
            run_stats=tuple(RunStats(**r) for r in state["run_stats"]),
            signals=tuple(
                Signal(index, rule, label, _value_from_state(t))
                for index, rule, label, t in state["signals"]
            ),
            **{name: _array_from_state(state[name]) for name in _STATE_ARRAYS},
            flags={k: _array_from_state(v) for k, v in state["flags"].items()},
            directions={k: _array_from_state(v) for k, v in state["directions"].items()},
            lower_bound=_scalar_from_state(state["lower_bound"]),
            upper_bound=_scalar_from_state(state["upper_bound"]),
            excluded=None if excluded is None else _array_from_state(excluded),
            run_length=state["run_length"],
            trend_length=state["trend_length"],
        )

    def summary(self) -> str:
        """A few plain lines: chart, estimator, each phase's limits, signal counts, verdict."""
        lines = [
            f"{self.chart} chart, {len(self)} points, sigma: {self.sigma_method} "
            f"({SIGMA_METHODS.get(self.sigma_method, '')})"
            + (", frozen baseline" if self.frozen else ""),
        ]
        for p in self.phases:
            lim = ""
            if p.lcl is not None or p.ucl is not None:
                lim = f", limits {_fmt(p.lcl)} to {_fmt(p.ucl)}"
            elif self.has_limits:
                lim = ", limits vary with n"
            prov = " (provisional)" if p.is_provisional else ""
            lines.append(
                f"phase {p.phase} [{p.label}] points {p.first}-{p.last}: centre {_fmt(p.centre)}, "
                f"sigma {_fmt(p.sigma)}{lim}{prov}"
            )
        counts: dict[str, int] = {}
        for s in self.signals:
            counts[s.rule] = counts.get(s.rule, 0) + 1
        if counts:
            lines.append("signals: " + ", ".join(f"{k} x{v}" for k, v in counts.items()))
        else:
            lines.append(f"signals: none ({', '.join(self.rules) or 'no rules'})")
        lines.append(f"latest point: {self.variation().replace('_', ' ')}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        phases = pd.DataFrame(
            [
                (
                    p.phase,
                    p.label,
                    f"{p.first}-{p.last}",
                    _fmt(p.centre),
                    _fmt(p.sigma),
                    _fmt(p.lcl),
                    _fmt(p.ucl),
                    p.n_points,
                    "yes" if p.is_provisional else "",
                )
                for p in self.phases
            ],
            columns=[
                "phase",
                "label",
                "points",
                "centre",
                "sigma",
                "LCL",
                "UCL",
                "n",
                "provisional",
            ],
        )
        nsig = len(self.signals)
        title = (
            f"{self.chart} chart — sigma {self.sigma_method}"
            + (" — frozen baseline" if self.frozen else "")
            + f": {len(self)} points, {nsig} signal{'s' if nsig != 1 else ''}; latest point: "
            + self.variation().replace("_", " ")
        )
        return html_tables((title, phases))


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.6g}"


# --------------------------------------------------------------------------- preparation


@dataclass(slots=True)
class _Points:
    value: np.ndarray  # plotted statistic (before mr transformation)
    n: np.ndarray  # subgroup size / sample size (NaN where not applicable)
    count: np.ndarray  # attribute count x_i (attribute charts)
    rng: np.ndarray  # subgroup range
    sd: np.ndarray  # subgroup standard deviation
    time: np.ndarray
    labels: np.ndarray | None  # phase label per point
    excluded: np.ndarray | None = None  # per point: left out of centre, sigma and runs


def _as_float(a: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(pd.to_numeric(pd.Series(a), errors="raise"), dtype=float)
    except (ValueError, TypeError) as exc:
        raise StatisticsError(f"{what} must be numbers ({exc})", column=what) from None
    if arr.ndim != 1:
        raise StatisticsError(f"{what} must be one-dimensional", column=what)
    return arr


def _as_object(a: Any, length: int, what: str) -> np.ndarray:
    arr = pd.Series(a).astype(object).to_numpy()  # datetimes become Timestamps, not ints
    if arr.shape[0] != length:
        raise StatisticsError(
            f"{what} has {arr.shape[0]} entries but values has {length}", column=what
        )
    return arr


def _as_labels(a: Any, length: int) -> np.ndarray:
    """Phase labels as an array, keeping a numeric dtype (fast to compare) when there is one."""
    arr = np.asarray(a) if isinstance(a, np.ndarray | pd.Series | pd.Index) else None
    if arr is None or arr.dtype == object or arr.dtype.kind in "USM":
        arr = _as_object(a, length, "phases")
    if arr.shape[0] != length:
        raise StatisticsError(
            f"phases has {arr.shape[0]} entries but values has {length}", column="phases"
        )
    return arr


def _as_exclude(exclude: Any, m: int) -> np.ndarray | None:
    """A boolean mask per reading from a mask or from 0-based reading indexes."""
    if exclude is None:
        return None
    arr = np.asarray(exclude)
    if arr.dtype == bool:
        if arr.shape != (m,):
            raise StatisticsError(
                f"exclude has {arr.shape[0] if arr.ndim else 1} entries but values has {m}",
                column="exclude",
            )
        return arr.copy()
    idx = np.asarray(arr, dtype=np.int64).ravel()
    bad = (idx < 0) | (idx >= m)
    if bad.any():
        raise StatisticsError(
            f"exclude names readings outside 0..{m - 1}: {idx[bad][:10].tolist()}",
            column="exclude",
        )
    mask = np.zeros(m, dtype=bool)
    mask[idx] = True
    return mask


def _prepare(
    chart: str, values: Any, n: Any, subgroups: Any, times: Any, phases: Any, exclude: Any = None
) -> _Points:
    x = _as_float(values, "values")
    m = x.shape[0]
    if m == 0:
        raise StatisticsError("no values to chart")
    excl = _as_exclude(exclude, m)
    size = np.full(m, np.nan) if n is None else _as_float(n, "n")
    if size.shape[0] != m:
        raise StatisticsError(f"n has {size.shape[0]} entries but values has {m}", column="n")
    time = np.full(m, None, dtype=object) if times is None else _as_object(times, m, "times")
    labels = None if phases is None else _as_labels(phases, m)
    nan = np.full(m, np.nan)

    if chart in SUBGROUP_CHARTS:
        if subgroups is None:
            raise StatisticsError(f"a {chart} chart needs subgroups (one key per reading)")
        keys = _as_object(subgroups, m, "subgroups")
        codes, uniq = pd.factorize(pd.Series(keys), sort=False)
        if (codes < 0).any():
            raise StatisticsError(
                "subgroup keys must not be missing",
                column="subgroups",
                rows=np.nonzero(codes < 0)[0][:10].tolist(),
            )
        k = len(uniq)
        df = pd.DataFrame({"g": codes, "x": x})
        grp = df.groupby("g", sort=True)["x"]
        cnt = grp.count().reindex(range(k)).to_numpy(dtype=float)
        mean = grp.mean().reindex(range(k)).to_numpy(dtype=float)
        rng = (grp.max() - grp.min()).reindex(range(k)).to_numpy(dtype=float)
        sd = grp.std(ddof=1).reindex(range(k)).to_numpy(dtype=float)
        first = np.full(k, m, dtype=np.int64)
        np.minimum.at(first, codes, np.arange(m))
        rng = np.where(cnt >= 2, rng, np.nan)
        sd = np.where(cnt >= 2, sd, np.nan)
        sub_excl = None
        if excl is not None:  # a subgroup is left out when any of its readings is
            sub_excl = np.zeros(k, dtype=bool)
            np.logical_or.at(sub_excl, codes, excl)
        return _Points(
            value=mean,
            n=cnt,
            count=np.full(k, np.nan),
            rng=rng,
            sd=sd,
            time=time[first],
            labels=None if labels is None else labels[first],
            excluded=sub_excl,
        )

    if chart in SIZED_CHARTS:
        if n is None:
            raise StatisticsError(f"a {chart} chart needs n (sample size or units per point)")
        ok = ~np.isnan(x) & ~np.isnan(size)
        bad = ok & (size <= 0)
        if bad.any():
            raise StatisticsError(
                "n must be greater than 0", column="n", rows=np.nonzero(bad)[0][:10].tolist()
            )
        neg = ok & (x < 0)
        if neg.any():
            raise StatisticsError(
                "counts must not be negative",
                column="values",
                rows=np.nonzero(neg)[0][:10].tolist(),
            )
        if chart in (ChartType.P, ChartType.NP, ChartType.P_PRIME):
            over = ok & (x > size)
            if over.any():
                raise StatisticsError(
                    "defectives must not exceed n",
                    column="values",
                    rows=np.nonzero(over)[0][:10].tolist(),
                )
        count = np.where(ok, x, np.nan)
        size = np.where(ok, size, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = count if chart == ChartType.NP else count / size
        return _Points(
            value=value, n=size, count=count, rng=nan, sd=nan, time=time, labels=labels,
            excluded=excl,
        )  # fmt: skip

    if chart == ChartType.C:
        neg = x < 0
        if neg.any():
            raise StatisticsError(
                "counts must not be negative",
                column="values",
                rows=np.nonzero(neg)[0][:10].tolist(),
            )
        return _Points(
            value=x, n=size, count=x, rng=nan, sd=nan, time=time, labels=labels, excluded=excl
        )
    if not np.isfinite(x[~np.isnan(x)]).all():
        raise StatisticsError("values must be finite numbers", column="values")
    if chart == ChartType.G and (x < 0).any():
        raise StatisticsError(
            "the number of units or days between events must not be negative",
            column="values",
            rows=np.nonzero(x < 0)[0][:10].tolist(),
        )
    if chart == ChartType.T and (x <= 0).any():  # qicharts2 stops here too
        raise StatisticsError(
            "times between events must be greater than 0 (leave the first event's field empty)",
            column="values",
            rows=np.nonzero(x <= 0)[0][:10].tolist(),
        )
    return _Points(
        value=x, n=size, count=nan, rng=nan, sd=nan, time=time, labels=labels, excluded=excl
    )


def _phase_codes(labels: np.ndarray | None, m: int) -> tuple[np.ndarray, list[Any]]:
    """Phase number (1, 2, ...) per point: a change of label starts a new phase; missing labels
    continue the phase before them."""
    if labels is None:
        return np.ones(m, dtype=np.int64), [1]
    s = pd.Series(labels)
    if s.isna().any():
        s = s.ffill().bfill()
    codes, _ = pd.factorize(s, sort=False)
    change = np.ones(m, dtype=bool)
    change[1:] = codes[1:] != codes[:-1]
    code = np.cumsum(change).astype(np.int64)
    vals = s.to_numpy(dtype=object)
    return code, [vals[i] for i in np.nonzero(change)[0]]


# --------------------------------------------------------------------------- estimation


@dataclass(slots=True)
class _Fit:
    centre: float  # centre (np: pbar)
    sigma: float  # process sigma (np: pbar too is needed)
    reported_sigma: float | None
    sigma_z: float | None = None
    # g and t charts: their limits are not centre +/- 3 se
    lcl: float | None = None
    ucl: float | None = None


def _bridged_ranges(v: np.ndarray, code: np.ndarray, included: np.ndarray) -> np.ndarray:
    """Moving ranges over the included points in order (one range bridges each excluded point),
    placed at the later point of each pair; NaN at excluded points and phase starts."""
    mr = np.full(v.shape[0], np.nan)
    idx = np.nonzero(included)[0]
    if idx.shape[0] > 1:
        d = np.abs(np.diff(v[idx]))
        d[code[idx[1:]] != code[idx[:-1]]] = np.nan
        mr[idx[1:]] = d
    return mr


def _moving_ranges(v: np.ndarray, code: np.ndarray) -> np.ndarray:
    mr = np.full(v.shape[0], np.nan)
    if v.shape[0] > 1:
        mr[1:] = np.abs(np.diff(v))
        mr[1:][code[1:] != code[:-1]] = np.nan
    return mr


def _mean_mr(mr: np.ndarray, screen: bool) -> float:
    mr = mr[~np.isnan(mr)]
    if mr.shape[0] == 0:
        return math.nan
    amr = float(mr.mean())
    if screen:
        kept = mr[mr < SCREEN_FACTOR * amr]
        amr = float(kept.mean()) if kept.shape[0] else amr
    return amr


def _mean(v: np.ndarray, w: np.ndarray | None = None) -> float:
    """(Weighted) mean that is exactly the common value of a constant series, so that a constant
    series sits on its centre line instead of an ulp away from it."""
    if v.shape[0] == 0:
        return math.nan
    if v.min() == v.max():
        return float(v[0])
    if w is None:
        return float(v.mean())
    return float(np.sum(w * v) / np.sum(w))


def _fit(
    chart: str, pts: _Points, mr: np.ndarray, sel: np.ndarray, method: str, screen: bool
) -> _Fit:
    v = pts.value[sel]
    ok = ~np.isnan(v)
    if chart == ChartType.G:
        # qicharts2 qic.g: limits from the mean gap (Montgomery 2013, p. 319), centre the median
        m = _mean(v[ok])
        sd = math.sqrt(m * (m + 1)) if ok.any() else math.nan
        med = float(np.median(v[ok])) if ok.any() else math.nan
        return _Fit(med, sd, sd, lcl=max(m - 3 * sd, 0.0), ucl=m + 3 * sd)
    if chart == ChartType.T:
        # qicharts2 qic.t: an I chart of y = x^(1/3.6), lines raised back to the power 3.6
        y = v ** (1 / T_EXPONENT)
        ym = _mean(y[ok])
        yr = np.abs(np.diff(y)) if y.shape[0] > 1 else np.array([])
        sd = _mean_mr(yr, screen) / D2_MR
        lo = ym - 3 * sd
        # a negative lower line has no real 3.6th power (NaN in R): qicharts2 sets it to 0
        return _Fit(
            ym**T_EXPONENT,
            sd,
            sd,
            lcl=lo**T_EXPONENT if lo >= 0 else 0.0,
            ucl=(ym + 3 * sd) ** T_EXPONENT,
        )
    if chart == ChartType.XMR:
        centre = _mean(v[ok])
        if method == "SD":
            k = int(ok.sum())
            sigma = float(np.std(v[ok], ddof=1) / c4(k)) if k >= 2 else math.nan
        else:
            sigma = _mean_mr(mr[sel], screen) / D2_MR
        return _Fit(centre, sigma, sigma)
    if chart == ChartType.MR:
        amr = _mean_mr(mr[sel], screen)
        return _Fit(amr, amr / D2_MR, amr / D2_MR)
    if chart == ChartType.RUN:
        centre = float(np.median(v[ok])) if ok.any() else math.nan
        return _Fit(centre, math.nan, None)
    if chart in SUBGROUP_CHARTS:
        n = pts.n[sel]
        use = n >= 2
        if method == "UWAVE-SD":
            sigma = float(np.mean(pts.sd[sel][use] / c4(n[use]))) if use.any() else math.nan
        else:
            sigma = float(np.mean(pts.rng[sel][use] / d2(n[use]))) if use.any() else math.nan
        if chart in (ChartType.XBAR_R, ChartType.XBAR_S):
            have = n > 0
            centre = _mean(v[have], n[have])
        else:
            stat = pts.rng[sel] if chart == ChartType.R else pts.sd[sel]
            centre = _mean(stat[use], n[use])
        return _Fit(centre, sigma, sigma)
    if chart == ChartType.C:
        centre = _mean(v[ok])
        return _Fit(centre, math.sqrt(centre), math.sqrt(centre))
    # attribute charts with sizes
    x, n = pts.count[sel], pts.n[sel]
    have = ~np.isnan(x)
    centre = float(x[have].sum() / n[have].sum()) if have.any() else math.nan
    binom = chart in (ChartType.P, ChartType.NP, ChartType.P_PRIME)
    unit_sigma = math.sqrt(centre * (1 - centre)) if binom else math.sqrt(centre)
    if chart == ChartType.NP:
        nn = np.unique(n[have])
        rep = unit_sigma * math.sqrt(nn[0]) if nn.shape[0] == 1 else None
        return _Fit(centre, unit_sigma, rep)
    # qcc reports a p chart's sigma as sqrt(pbar (1 - pbar) / n) (a vector when n varies: None)
    # and a u chart's as sqrt(ubar); p_prime and u_prime follow their classic charts.
    nn = np.unique(n[have])
    per_n = 1 / math.sqrt(nn[0]) if nn.shape[0] == 1 else None
    if chart in (ChartType.P_PRIME, ChartType.U_PRIME):
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (pts.value[sel] - centre) / (unit_sigma / np.sqrt(n))
        zmr = np.abs(np.diff(z)) if z.shape[0] > 1 else np.array([])
        sigma_z = _mean_mr(zmr, screen) / D2_MR
        sig = unit_sigma * sigma_z
        rep = sig if chart == ChartType.U_PRIME else (sig * per_n if per_n is not None else None)
        return _Fit(centre, sig, rep, sigma_z)
    if chart == ChartType.P:
        return _Fit(centre, unit_sigma, unit_sigma * per_n if per_n is not None else None)
    return _Fit(centre, unit_sigma, unit_sigma)


def _per_point(
    chart: str, fit: _Fit, pts: _Points, sel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Centre line and standard error of the plotted statistic at the selected points."""
    k = int(sel.sum()) if sel.dtype == bool else sel.shape[0]
    n = pts.n[sel]
    centre = np.full(k, fit.centre)
    with np.errstate(invalid="ignore", divide="ignore"):
        if chart in RARE_EVENT_CHARTS:  # no zones; limits come from the fit
            se = np.full(k, np.nan)
        elif chart == ChartType.XMR:
            se = np.full(k, fit.sigma)
        elif chart == ChartType.MR:
            se = np.full(k, D3_MR * fit.sigma)
        elif chart == ChartType.RUN:
            se = np.full(k, np.nan)
        elif chart in (ChartType.XBAR_R, ChartType.XBAR_S):
            se = fit.sigma / np.sqrt(np.where(n > 0, n, np.nan))
        elif chart == ChartType.R:
            se = d3(np.where(n >= 2, n, 0)) * fit.sigma
        elif chart == ChartType.S:
            se = np.sqrt(1 - c4(np.where(n >= 2, n, 0)) ** 2) * fit.sigma
        elif chart == ChartType.C:
            se = np.full(k, fit.sigma)
        elif chart == ChartType.NP:
            centre = n * fit.centre
            se = np.sqrt(n) * fit.sigma
        else:  # p, u, p_prime, u_prime: sigma per unit / sqrt(n)
            se = fit.sigma / np.sqrt(n)
    return centre, se


def _clip(
    chart: str, lo: np.ndarray, hi: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if chart in (ChartType.XMR, ChartType.RUN, ChartType.XBAR_R, ChartType.XBAR_S):
        return lo, hi
    lo = np.maximum(lo, 0.0)
    if chart in (ChartType.P, ChartType.P_PRIME):
        hi = np.minimum(hi, 1.0)
    elif chart == ChartType.NP:
        hi = np.where(np.isnan(n), hi, np.minimum(hi, n))
    return lo, hi


def _clip_bounds(
    lo: np.ndarray, hi: np.ndarray, lower: float | None, upper: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Clip limits (or zone lines) to the values the metric can take: a limit beyond a bound
    claims a value the process cannot produce (hours below 0, a score above 100)."""
    if lower is not None:
        lo, hi = np.maximum(lo, lower), np.maximum(hi, lower)
    if upper is not None:
        lo, hi = np.minimum(lo, upper), np.minimum(hi, upper)
    return lo, hi


def _bound(value: Any, what: str) -> float | None:
    if value is None:
        return None
    try:
        b = float(value)
    except (TypeError, ValueError):
        raise StatisticsError(f"{what} must be a number, not {value!r}") from None
    if math.isnan(b):
        return None
    if math.isinf(b):
        raise StatisticsError(f"{what} must be finite, not {value!r}")
    return b


def _constant(a: np.ndarray) -> float | None:
    a = a[~np.isnan(a)]
    if a.shape[0] == 0:
        return None
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= 1e-12 * max(abs(hi), abs(lo), 1e-300):
        return float(a[0])
    return None


def _default_method(chart: str, sigma_method: str | None, screen: bool) -> str:
    defaults = {
        "xmr": "MR", "mr": "MR", "run": "none", "xbar_r": "UWAVE-R", "r": "UWAVE-R",
        "xbar_s": "UWAVE-SD", "s": "UWAVE-SD", "p": "binomial", "np": "binomial",
        "c": "poisson", "u": "poisson", "p_prime": "laney-binomial", "u_prime": "laney-poisson",
        "g": "geometric", "t": "MR-t",
    }  # fmt: skip
    allowed = {
        "xmr": {"MR", "SD"}, "mr": {"MR"}, "xbar_r": {"UWAVE-R", "UWAVE-SD"},
        "xbar_s": {"UWAVE-R", "UWAVE-SD"}, "r": {"UWAVE-R"}, "s": {"UWAVE-SD"},
    }  # fmt: skip
    method = defaults[chart]
    if sigma_method is not None:
        want = str(sigma_method).strip().upper().replace("_", "-")
        ok = allowed.get(chart, {method.upper()})
        match = {a.upper(): a for a in ok | {method}}
        if want not in match:
            raise StatisticsError(
                f"sigma_method {sigma_method!r} is not available for a {chart} chart; "
                f"choose from {', '.join(sorted(ok | {method}))}"
            )
        method = match[want]
    if screen and method in ("MR", "MR-t"):
        method += "-screened"
    return method


# --------------------------------------------------------------------------- entry point


def control_chart(
    values: Any,
    *,
    chart: str = "xmr",
    n: Any = None,
    subgroups: Any = None,
    times: Any = None,
    phases: Any = None,
    freeze_baseline: bool = False,
    rules: str | Iterable[str] | None = None,
    screen_mr: bool = False,
    better: str = "neutral",
    sigma_method: str | None = None,
    min_phase_points: int = 12,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    exclude: Any = None,
    run_length: int | None = None,
    trend_length: int | None = None,
) -> ControlChart:
    """Compute a control chart with its limits, phases, run statistics and rule signals.

    Parameters
    ----------
    values : array-like of float
        Readings in chart order; NaN is a missing value. For ``xbar_r``/``xbar_s``/``r``/``s``
        one value per reading with ``subgroups`` giving each reading's subgroup key (subgroups are
        charted in order of first appearance). For ``p``/``np`` the number of defectives, for
        ``c`` counts, for ``u`` counts with ``n`` the units inspected.
    chart : one of :data:`CHART_TYPES`.
    n : array-like, optional
        Sample size (p, np, p_prime) or units (u, u_prime) per value.
    subgroups : array-like, optional
        Subgroup key per reading (xbar/r/s charts).
    times : array-like, optional
        Label (date) per reading, carried into the output (the first reading's for a subgroup).
    phases : array-like, optional
        Label per reading; a change of label starts a new phase.
    freeze_baseline : bool
        Apply phase 1's centre and sigma to every later point (rules run over the whole series).
    rules : None, a set name (``"we"``, ``"nelson"``, ``"anhoej"``, ``"nhs"``, ``"all"``), a rule id,
        or a tuple of these. None gives Western Electric for charts with limits, Anhøj for run.
    screen_mr : bool
        Drop moving ranges >= 3.267 x their mean and recompute the mean (NHS Making Data Count,
        qicharts2); applies to xmr, mr, p_prime and u_prime.
    better : ``"lower"``, ``"higher"`` or ``"neutral"``: the metric's good direction, used to label
        signals improvement/concern. On mr, r and s charts lower is always better.
    sigma_method : None (qcc's default) or ``"MR"``/``"SD"`` (xmr), ``"UWAVE-R"``/``"UWAVE-SD"``
        (xbar charts).
    min_phase_points : int
        Phases with fewer points that are not missing are flagged provisional.
    lower_bound, upper_bound : float, optional
        The values the charted statistic can take (0 for hours, 0 and 100 for a percentage
        score); limits and zones are clipped to them, as qicharts2 clips limits of non-negative
        statistics at 0. None or NaN: no bound.
    exclude : array-like, optional
        A boolean per reading, or 0-based reading indexes: points left out of the centre, the
        sigma, the window and run rules and the Anhøj analysis but still judged against the
        limits (qicharts2 ``exclude``); a subgroup is excluded when any of its readings is.
    run_length : int, optional
        N for the "N or more points in a row strictly on one side" rule of Western Electric 4
        (default 8) and the NHS set (default 7).
    trend_length : int, optional
        N for the "N points in a row all increasing or all decreasing" rules: NHS (default 7)
        and Nelson 3 (default 6).

    Returns
    -------
    ControlChart

    Raises
    ------
    StatisticsError
        Unknown chart, bad or inconsistent inputs, or no data to estimate the limits from.
    """
    chart = str(chart).strip().lower().replace("-", "_")
    aliases = {"i": "xmr", "individuals": "xmr", "xbar": "xbar_r", "pp": "p_prime", "up": "u_prime"}
    chart = aliases.get(chart, chart)
    if chart not in CHART_TYPES:
        raise StatisticsError(f"unknown chart type {chart!r}; choose from {', '.join(CHART_TYPES)}")
    better = str(better).strip().lower()
    if better not in _BETTER:
        raise StatisticsError(f"better must be one of {', '.join(_BETTER)}, not {better!r}")
    for name, length in (("run_length", run_length), ("trend_length", trend_length)):
        if length is not None and int(length) < 2:
            raise StatisticsError(f"{name} must be at least 2, not {length}")
    if rules is None and chart in RARE_EVENT_CHARTS:
        rules = ("we1", "anhoej")  # qicharts2's sigma signal and runs analysis
    try:
        rule_ids = _rules.resolve_rules(rules, has_limits=chart != ChartType.RUN)
    except ValueError as exc:
        raise StatisticsError(str(exc)) from None
    if chart == ChartType.MR:  # run statistics are not defined around a moving range's mean
        rule_ids = tuple(r for r in rule_ids if not r.startswith("anhoej"))
    if chart in RARE_EVENT_CHARTS:  # no 1- and 2-sigma zones to judge against
        rule_ids = tuple(r for r in rule_ids if r not in _rules.NEEDS_ZONES)
    method = _default_method(chart, sigma_method, screen_mr)
    lower = _bound(lower_bound, "lower_bound")
    upper = _bound(upper_bound, "upper_bound")
    if lower is not None and upper is not None and not lower < upper:
        raise StatisticsError(f"lower_bound {lower:g} must be below upper_bound {upper:g}")

    pts = _prepare(chart, values, n, subgroups, times, phases, exclude)
    code, phase_labels = _phase_codes(pts.labels, pts.value.shape[0])
    npts = pts.value.shape[0]
    excluded = pts.excluded if pts.excluded is not None else np.zeros(npts, dtype=bool)
    mr = (
        _moving_ranges(pts.value, code)
        if chart in (ChartType.XMR, ChartType.MR)
        else np.full(npts, np.nan)
    )
    # the moving ranges the sigma comes from: bridged over excluded points
    mr_fit = _bridged_ranges(pts.value, code, ~excluded) if excluded.any() else mr
    fit_excluded = excluded
    if chart == ChartType.MR and excluded.any():
        # a plotted moving range is the difference of two neighbours: one with an excluded end
        # is excluded too (the outage's jump in and out of it), while the centre line is the
        # mean of the ranges bridged over the excluded points, so that it is the XmR chart's
        # own average moving range (the MR companion of an XmR chart with an excluded point
        # was not drawn at all: "exclusions are not supported on a moving-range chart")
        excluded = excluded | np.r_[False, excluded[:-1]]
    value = mr if chart == ChartType.MR else pts.value
    if chart == ChartType.R:
        value = pts.rng
    elif chart == ChartType.S:
        value = pts.sd
    value = np.array(value, dtype=float)
    missing = np.isnan(value)
    if missing.all():
        raise StatisticsError("every value is missing; nothing to chart")

    centre = np.full(npts, np.nan)
    se = np.full(npts, np.nan)
    nphase = int(code[-1])
    bounds = np.searchsorted(code, np.arange(1, nphase + 2))  # start index of each phase
    fits: list[_Fit] = []
    fixed_lcl = np.full(npts, np.nan)
    fixed_ucl = np.full(npts, np.nan)
    for ph in range(1, nphase + 1):
        sel = slice(bounds[ph - 1], bounds[ph])
        idx = np.arange(sel.start, sel.stop)
        if freeze_baseline and ph > 1:
            fit = fits[0]
        else:
            fit = _fit(chart, pts, mr_fit, idx[~fit_excluded[idx]], method, screen_mr)
        fits.append(fit)
        centre[sel], se[sel] = _per_point(chart, fit, pts, idx)
        if fit.lcl is not None:
            fixed_lcl[sel], fixed_ucl[sel] = fit.lcl, fit.ucl
    if math.isnan(fits[0].centre) and freeze_baseline:
        raise StatisticsError("the baseline phase has no data to estimate its centre line from")

    if chart in RARE_EVENT_CHARTS:
        lcl, ucl = _clip_bounds(fixed_lcl, fixed_ucl, lower, upper)
    else:
        lcl, ucl = _clip_bounds(
            *_clip(chart, centre - 3 * se, centre + 3 * se, pts.n), lower, upper
        )
    if chart == ChartType.RUN:
        lcl = np.full(npts, np.nan)
        ucl = np.full(npts, np.nan)

    # ---- rules (on the points that are neither missing nor excluded)
    present = np.nonzero(~missing & ~excluded)[0]
    segment = np.zeros(present.shape[0], dtype=np.int64) if freeze_baseline else code[present]
    flags: dict[str, np.ndarray] = {}
    dirs: dict[str, np.ndarray] = {}
    zl1, zh1 = _clip_bounds(*_clip(chart, centre - se, centre + se, pts.n), lower, upper)
    zl2, zh2 = _clip_bounds(*_clip(chart, centre - 2 * se, centre + 2 * se, pts.n), lower, upper)
    zones = _rules.Zones(
        lo1=zl1[present],
        hi1=zh1[present],
        lo2=zl2[present],
        hi2=zh2[present],
        lcl=lcl[present],
        ucl=ucl[present],
    )
    vp, cp = value[present], centre[present]
    evaluated = _rules.evaluate_rules(
        vp, cp, zones, segment, rule_ids, run_length=run_length, trend_length=trend_length
    )
    run_stats: tuple[RunStats, ...] = ()
    if chart != ChartType.MR:
        phase_map: dict[int, int | None] | None = {0: None} if freeze_baseline else None
        stats_list, an = _rules.anhoej(vp, cp, segment, phase_of_segment=phase_map)
        if freeze_baseline:
            run_stats = tuple(stats_list)
        else:
            # phases without any point that is not missing still get an entry
            by_phase = {r.phase: r for r in stats_list}
            run_stats = tuple(
                by_phase.get(
                    ph,
                    RunStats(
                        phase=ph,
                        n_useful=0,
                        longest_run=None,
                        longest_run_max=None,
                        crossings=None,
                        crossings_min=None,
                    ),
                )
                for ph in range(1, nphase + 1)
            )
        evaluated.update({k: v for k, v in an.items() if k in rule_ids})
    label_better = "lower" if chart in DISPERSION_CHARTS else better
    complete = present.shape[0] == npts
    for rule in rule_ids:
        f, d = evaluated[rule]
        if complete:
            flags[rule], dirs[rule] = f, d
            continue
        full = np.zeros(npts, dtype=bool)
        full[present] = f
        dd = np.zeros(npts, dtype=np.int8)
        dd[present] = d
        flags[rule] = full
        dirs[rule] = dd
    if excluded.any():  # excluded points are still judged against the limits (qicharts2)
        with np.errstate(invalid="ignore"):
            up = excluded & ~missing & (value > ucl)
            down = excluded & ~missing & (value < lcl)
        for rule in _rules.LIMIT_RULES.intersection(rule_ids):
            flags[rule] = flags[rule] | up | down
            dirs[rule] = np.where(up, 1, np.where(down, -1, dirs[rule])).astype(np.int8)

    # ---- signals, ordered by point then rule
    sig_idx, sig_rule = [], []
    for r_i, rule in enumerate(rule_ids):
        idx = np.nonzero(flags[rule])[0]
        sig_idx.append(idx)
        sig_rule.append(np.full(idx.shape[0], r_i))
    signals: tuple[Signal, ...] = ()
    if sig_idx:
        ai, ar = np.concatenate(sig_idx), np.concatenate(sig_rule)
        order = np.lexsort((ar, ai))
        ai, ar = ai[order], ar[order]
        direction = np.zeros(ai.shape[0], dtype=np.int8)
        for r_i, rule in enumerate(rule_ids):
            hit = ar == r_i
            direction[hit] = dirs[rule][ai[hit]]
        lab = _rules.label_direction(direction, label_better).tolist()
        tim = pts.time[ai].tolist()
        signals = tuple(map(Signal, ai.tolist(), [rule_ids[r] for r in ar.tolist()], lab, tim))

    # ---- phases
    phase_limits = []
    for ph in range(1, nphase + 1):
        sl = slice(bounds[ph - 1], bounds[ph])
        fit = fits[ph - 1]
        n_ok = int((~missing[sl]).sum())
        is_prov = (
            int((~missing[bounds[0] : bounds[1]]).sum()) if freeze_baseline else n_ok
        ) < min_phase_points
        has = ~missing[sl]
        phase_limits.append(
            PhaseLimits(
                phase=ph,
                label=str(phase_labels[ph - 1]),
                first=int(sl.start),
                last=int(sl.stop - 1),
                centre=_constant(centre[sl][has]) if has.any() else _num(fit.centre),
                sigma=_num(fit.reported_sigma),
                lcl=None if chart == ChartType.RUN else _constant(lcl[sl][has]),
                ucl=None if chart == ChartType.RUN else _constant(ucl[sl][has]),
                n_points=n_ok,
                is_provisional=bool(is_prov),
                sigma_z=_num(fit.sigma_z),
            )
        )

    def ro(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        a.flags.writeable = False
        return a

    return ControlChart(
        chart=chart,
        sigma_method=method,
        better=better,
        frozen=bool(freeze_baseline),
        rules=rule_ids,
        min_phase_points=int(min_phase_points),
        phases=tuple(phase_limits),
        run_stats=run_stats,
        signals=signals,
        time=ro(np.asarray(pts.time, dtype=object)),
        value=ro(value),
        n=ro(np.asarray(pts.n, dtype=float)),
        phase=ro(code),
        centre=ro(centre),
        lcl=ro(lcl),
        ucl=ro(ucl),
        sigma=ro(se),
        flags={k: ro(v) for k, v in flags.items()},
        directions={k: ro(v) for k, v in dirs.items()},
        lower_bound=lower,
        upper_bound=upper,
        excluded=None if pts.excluded is None else ro(excluded),
        run_length=None if run_length is None else int(run_length),
        trend_length=None if trend_length is None else int(trend_length),
    )


def phase_labels_at(times: Sequence[Any], starts: Sequence[Any]) -> np.ndarray:
    """Phase number per reading from the first time of each new phase (events' effective dates).

    Readings before the first start are phase 1; a reading belongs to the latest phase whose
    start is <= its time. Pass the result as ``phases=`` to :func:`control_chart`.

    >>> phase_labels_at(pd.date_range("2024-01-01", periods=4, freq="D"), ["2024-01-03"]).tolist()
    [1, 1, 2, 2]
    """
    t = pd.Series(times)
    is_date = pd.api.types.is_datetime64_any_dtype(t)
    out = np.ones(len(t), dtype=np.int64)
    for k, start in enumerate(sorted(pd.Timestamp(s) if is_date else s for s in starts), start=2):
        out[(t >= start).to_numpy()] = k
    return out


#: How each signal label reads in a sentence.
_LABEL_WORDS = {
    SignalLabel.IMPROVEMENT: "improvement",
    SignalLabel.CONCERN: "concern",
    SignalLabel.NEUTRAL: "change that is neither better nor worse",
}


def signal_labels(
    chart: ControlChart, *, last: int | None = None, earlier: bool = False
) -> tuple[str, ...]:
    """The labels of a chart's signals, each once, in the order they first appear: on its last
    ``last`` present points (all points when None), or with ``earlier`` before them.

    The chart draws every signal of the window, so a sentence about the chart says these labels
    (the latest ones and the earlier ones), not only :meth:`ControlChart.variation`'s latest.
    """
    present = np.nonzero(~chart.is_missing)[0]
    cut = int(present[-last]) if last is not None and 0 < last <= present.shape[0] else 0
    sigs = sorted(chart.signals, key=lambda s: s.index)
    chosen = [s for s in sigs if (s.index < cut if earlier else s.index >= cut)]
    if last is not None and last <= 0 and not earlier:
        chosen = []
    return tuple(dict.fromkeys(str(s.label) for s in chosen))


def describe_signals(
    chart: ControlChart, *, last: int = 1, latest: str = "the latest point"
) -> str:
    """The signals a chart shows in words, latest first, then those earlier in the window:
    ``"no special-cause variation"``, ``"special-cause concern at the latest point"`` or
    ``"no special-cause variation at the latest point, but special-cause concern and then
    improvement earlier in the window"``."""
    now = signal_labels(chart, last=last)
    before = [x for x in signal_labels(chart, last=last, earlier=True) if x not in now]

    def words(labels: Sequence[str]) -> str:
        return " and then ".join(_LABEL_WORDS.get(SignalLabel(x), x) for x in labels)

    if not now and not before:
        return "no special-cause variation"
    text = (
        f"special-cause {words(now)} at {latest}"
        if now
        else f"no special-cause variation at {latest}"
    )
    if before:
        text += f"{',' if not now else ';'} {'but' if not now else 'and'} special-cause "
        text += f"{words(before)} earlier in the window"
    return text
