"""EWMA and tabular CUSUM charts: the small sustained shifts that Shewhart limits miss, as qcc.

Both take the centre and sigma of the XmR chart (mean, mean moving range / 1.128) for individuals,
or of the X-bar chart (grand mean, mean of R_i / d2(n_i)) for subgroups, from
:func:`pipeline.stats.spc.control_chart`, so that ``sigma_method`` and ``exclude`` mean the same
as there. One phase.

EWMA (qcc ``ewma()``; Montgomery 2013, section 9.2)::

    z_0 = centre,  z_t = lambda x_t + (1 - lambda) z_{t-1}
    limits_t = centre +/- L sigma / sqrt(n_t) sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2t)))

with x_t the value or the subgroup mean, n_t the subgroup size (1 for individuals) and t counting
the points that are not missing (a missing point is a gap: z carries over it).

Tabular CUSUM (qcc ``cusum()`` with ``se.shift = 2k``, ``decision.interval = h``; Montgomery
2013, section 9.1) on standardised values z_t = (x_t - centre) / (sigma / sqrt(n_t))::

    C+_t = max(0, C+_{t-1} + z_t - k),   C-_t = min(0, C-_{t-1} + z_t + k),   C+_0 = C-_0 = 0

with a signal where C+ > h or C- < -h.

References
----------
Montgomery, D. C. (2013) *Introduction to Statistical Quality Control*, 7th ed., ch. 9.
Scrucca, L. qcc: ``R/ewma.R``, ``R/cusum.R``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.exceptions import StatisticsError
from pipeline.formatting import html_summary
from pipeline.stats.rules import label_direction
from pipeline.stats.spc import ControlChart, _num, _time_json, control_chart
from pipeline.vocabulary import ChartType

__all__ = ["CusumChart", "EwmaChart", "cusum_chart", "ewma_chart"]


def _base(
    values: Any,
    *,
    subgroups: Any,
    times: Any,
    sigma_method: str | None,
    exclude: Any,
) -> ControlChart:
    chart = "xbar_r" if subgroups is not None else "xmr"
    base = control_chart(
        values,
        chart=chart,
        subgroups=subgroups,
        times=times,
        sigma_method=sigma_method,
        exclude=exclude,
        rules=(),
    )
    phase = base.phases[0]
    if phase.sigma is None or not math.isfinite(phase.sigma) or phase.centre is None:
        raise StatisticsError("too few readings to estimate the centre and sigma")
    return base


def _sizes(base: ControlChart) -> np.ndarray:
    n = np.asarray(base.n, dtype=float)
    return np.where(np.isnan(n), 1.0, n) if base.chart == ChartType.XMR else n


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class EwmaChart:
    """An EWMA chart: per-point value, statistic z_t, limits and signals (beyond the limits)."""

    sigma_method: str
    better: str
    lam: float
    nsigmas: float
    centre: float
    sigma: float
    time: np.ndarray
    value: np.ndarray
    n: np.ndarray
    statistic: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray
    signal: np.ndarray  # int8: +1 above the UCL, -1 below the LCL, 0 inside or missing

    chart = "ewma"

    def __len__(self) -> int:
        return int(self.value.shape[0])

    def point_signals(self) -> list[list[str]]:
        return [["beyond_limits"] if s else [] for s in self.signal.tolist()]

    def signal_labels(self) -> list[str]:
        """improvement / concern / neutral per point (empty string where no signal)."""
        lab = label_direction(self.signal, self.better).tolist()
        return [lab[i] if s else "" for i, s in enumerate(self.signal.tolist())]

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-point table: index, time, value, n, statistic, centre, lcl, ucl, signals."""
        return pd.DataFrame(
            {
                "index": np.arange(len(self)),
                "time": self.time,
                "value": self.value,
                "n": self.n,
                "statistic": self.statistic,
                "centre": self.centre,
                "lcl": self.lcl,
                "ucl": self.ucl,
                "signals": self.point_signals(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``kaizen-reports chart --chart ewma``."""
        sig = self.point_signals()
        return {
            "chart": "ewma",
            "sigma_method": self.sigma_method,
            "lambda": self.lam,
            "nsigmas": self.nsigmas,
            "centre": _num(self.centre),
            "sigma": _num(self.sigma),
            "points": [
                {
                    "index": i,
                    "time": _time_json(self.time[i]),
                    "value": _num(self.value[i]),
                    "n": _num(self.n[i]),
                    "statistic": _num(self.statistic[i]),
                    "centre": _num(self.centre),
                    "lcl": _num(self.lcl[i]),
                    "ucl": _num(self.ucl[i]),
                    "signals": sig[i],
                }
                for i in range(len(self))
            ],
        }

    def summary(self) -> str:
        k = int(np.count_nonzero(self.signal))
        return (
            f"EWMA chart (lambda {self.lam:g}, {self.nsigmas:g} sigma), {len(self)} points: "
            f"centre {self.centre:.6g}, sigma {self.sigma:.6g} ({self.sigma_method}); "
            f"{k} point{'s' if k != 1 else ''} beyond the limits"
        )

    def _repr_html_(self) -> str:
        return html_summary(self.summary())


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CusumChart:
    """A tabular CUSUM: per-point C+ (``cusum_upper``) and C- (``cusum_lower``, <= 0)."""

    sigma_method: str
    better: str
    k: float
    h: float
    centre: float
    sigma: float
    time: np.ndarray
    value: np.ndarray
    n: np.ndarray
    cusum_upper: np.ndarray
    cusum_lower: np.ndarray

    chart = "cusum"

    def __len__(self) -> int:
        return int(self.value.shape[0])

    @property
    def signal(self) -> np.ndarray:
        """+1 where C+ > h, -1 where C- < -h (both: +1), 0 otherwise."""
        with np.errstate(invalid="ignore"):
            up = self.cusum_upper > self.h
            down = self.cusum_lower < -self.h
        return np.where(up, 1, np.where(down, -1, 0)).astype(np.int8)

    def point_signals(self) -> list[list[str]]:
        with np.errstate(invalid="ignore"):
            up = (self.cusum_upper > self.h).tolist()
            down = (self.cusum_lower < -self.h).tolist()
        return [
            (["cusum_upper"] if u else []) + (["cusum_lower"] if d else [])
            for u, d in zip(up, down, strict=True)
        ]

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-point table: index, time, value, n, cusum_upper, cusum_lower, signals."""
        return pd.DataFrame(
            {
                "index": np.arange(len(self)),
                "time": self.time,
                "value": self.value,
                "n": self.n,
                "cusum_upper": self.cusum_upper,
                "cusum_lower": self.cusum_lower,
                "signals": self.point_signals(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``kaizen-reports chart --chart cusum``."""
        sig = self.point_signals()
        return {
            "chart": "cusum",
            "sigma_method": self.sigma_method,
            "k": self.k,
            "h": self.h,
            "centre": _num(self.centre),
            "sigma": _num(self.sigma),
            "points": [
                {
                    "index": i,
                    "time": _time_json(self.time[i]),
                    "value": _num(self.value[i]),
                    "n": _num(self.n[i]),
                    "cusum_upper": _num(self.cusum_upper[i]),
                    "cusum_lower": _num(self.cusum_lower[i]),
                    "signals": sig[i],
                }
                for i in range(len(self))
            ],
        }

    def summary(self) -> str:
        k = sum(bool(s) for s in self.point_signals())
        return (
            f"CUSUM chart (k {self.k:g}, h {self.h:g}), {len(self)} points: centre "
            f"{self.centre:.6g}, sigma {self.sigma:.6g} ({self.sigma_method}); "
            f"{k} point{'s' if k != 1 else ''} beyond the decision interval"
        )

    def _repr_html_(self) -> str:
        return html_summary(self.summary())


def ewma_chart(
    values: Any,
    *,
    subgroups: Any = None,
    times: Any = None,
    lam: float = 0.2,
    nsigmas: float = 3.0,
    sigma_method: str | None = None,
    exclude: Any = None,
    better: str = "neutral",
) -> EwmaChart:
    """EWMA chart of individuals (or of subgroup means with ``subgroups``), as qcc's ``ewma()``.

    Parameters
    ----------
    values : readings in order (NaN: missing); one per reading with ``subgroups``.
    subgroups : subgroup key per reading, optional.
    times : label per reading, carried to the output.
    lam : the smoothing weight lambda, 0 < lambda <= 1.
    nsigmas : L, the width of the limits in sigmas of z_t.
    sigma_method, exclude : as for :func:`pipeline.stats.spc.control_chart` (xmr or xbar_r).
    better : lower, higher or neutral: labels the signals.

    Returns
    -------
    EwmaChart
    """
    if not 0 < lam <= 1:
        raise StatisticsError(f"lambda must be in (0, 1], not {lam}")
    if not nsigmas > 0:
        raise StatisticsError(f"nsigmas must be positive, not {nsigmas}")
    base = _base(
        values, subgroups=subgroups, times=times, sigma_method=sigma_method, exclude=exclude
    )
    centre, sigma = float(base.phases[0].centre), float(base.phases[0].sigma)  # type: ignore[arg-type]
    x = np.asarray(base.value, dtype=float)
    n = _sizes(base)
    z = np.full(x.shape[0], np.nan)
    t = np.zeros(x.shape[0])
    prev, count = centre, 0
    for i, xi in enumerate(x.tolist()):
        if not math.isnan(xi):
            prev = lam * xi + (1 - lam) * prev
            count += 1
            z[i] = prev
        t[i] = count
    with np.errstate(invalid="ignore", divide="ignore"):
        half = nsigmas * sigma / np.sqrt(n) * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
    half = np.where(np.isnan(z), np.nan, half)
    lcl, ucl = centre - half, centre + half
    with np.errstate(invalid="ignore"):
        signal = np.where(z > ucl, 1, np.where(z < lcl, -1, 0)).astype(np.int8)
    return EwmaChart(
        sigma_method=base.sigma_method,
        better=str(better),
        lam=float(lam),
        nsigmas=float(nsigmas),
        centre=centre,
        sigma=sigma,
        time=_ro(np.asarray(base.time, dtype=object)),
        value=_ro(x),
        n=_ro(n),
        statistic=_ro(z),
        lcl=_ro(lcl),
        ucl=_ro(ucl),
        signal=_ro(signal),
    )


def cusum_chart(
    values: Any,
    *,
    subgroups: Any = None,
    times: Any = None,
    k: float = 0.5,
    h: float = 5.0,
    sigma_method: str | None = None,
    exclude: Any = None,
    better: str = "neutral",
) -> CusumChart:
    """Tabular CUSUM of individuals (or subgroup means), as qcc's ``cusum(se.shift = 2k,
    decision.interval = h)``.

    Parameters
    ----------
    values, subgroups, times, sigma_method, exclude, better : as for :func:`ewma_chart`.
    k : the reference value, half the shift to detect, in sigma units (k >= 0).
    h : the decision interval (h > 0).

    Returns
    -------
    CusumChart
    """
    if not h > 0:
        raise StatisticsError(f"h (the decision interval) must be positive, not {h}")
    if not k >= 0:
        raise StatisticsError(f"k must not be negative, not {k}")
    base = _base(
        values, subgroups=subgroups, times=times, sigma_method=sigma_method, exclude=exclude
    )
    centre, sigma = float(base.phases[0].centre), float(base.phases[0].sigma)  # type: ignore[arg-type]
    x = np.asarray(base.value, dtype=float)
    n = _sizes(base)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - centre) / (sigma / np.sqrt(n))
    upper = np.full(x.shape[0], np.nan)
    lower = np.full(x.shape[0], np.nan)
    cp = cm = 0.0
    for i, zi in enumerate(z.tolist()):
        if math.isnan(zi):  # a gap: the sums carry over it
            continue
        cp = max(0.0, cp + zi - k)
        cm = min(0.0, cm + zi + k)
        upper[i], lower[i] = cp, cm
    return CusumChart(
        sigma_method=base.sigma_method,
        better=str(better),
        k=float(k),
        h=float(h),
        centre=centre,
        sigma=sigma,
        time=_ro(np.asarray(base.time, dtype=object)),
        value=_ro(x),
        n=_ro(n),
        cusum_upper=_ro(upper),
        cusum_lower=_ro(lower),
    )
