"""Process capability: Cp, Cpl, Cpu, Cpk, Cpm, Pp, Ppk with intervals, optionally after Box-Cox.

The indices are qcc's ``processCapability()`` (Scrucca 2004; Montgomery 2013, ch. 8): with the
mean x̄, the within sigma s_w (mean moving range / 1.128 for individuals, mean of R_i / d2(n_i)
for subgroups, as the XmR and X-bar charts) and the overall sample standard deviation s::

    Cp  = (USL - LSL) / (6 s_w)          Pp  = (USL - LSL) / (6 s)
    Cpu = (USL - x̄) / (3 s_w)            Cpl = (x̄ - LSL) / (3 s_w)
    Cpk = min(Cpl, Cpu)                  Ppk = min(Ppl, Ppu) with s
    Cpm = Cp / sqrt(1 + xi^2),  xi = (x̄ - T) / s_w

Intervals at level 1 - alpha, n the number of readings:

- Cp, Pp: chi-square, index * sqrt(chi2_{q}(n - 1) / (n - 1)) for q = alpha/2, 1 - alpha/2
  (Chou, Owen & Borrego 1990);
- Cpk, Ppk, Cpl, Cpu: Bissell (1990), index * (1 -/+ z(1 - alpha/2) sqrt(1 / (9 n index^2) +
  1 / (2 (n - 1)))). qcc uses z(1 - alpha) for Cpl and Cpu while labelling the interval two-sided;
  we use z(1 - alpha/2) for all four;
- Cpm: Boyles (1991), chi-square with nu = n (1 + xi^2)^2 / (1 + 2 xi^2) degrees of freedom
  (qcc drops the square).

Expected fractions outside are the normal tails with x̄ and s_w (not truncated); observed fractions
count readings strictly outside (a reading on a limit is inside).

Non-normal data: ``transform="boxcox"`` estimates lambda by maximum likelihood
(``scipy.stats.boxcox``) and computes everything on (y^lambda - 1) / lambda (log y for
lambda = 0), with the limits and the target transformed the same way.

References
----------
Montgomery, D. C. (2013) *Introduction to Statistical Quality Control*, 7th ed., ch. 8.
Bissell, A. F. (1990) How reliable is your capability index? *Applied Statistics* 39, 331-340.
Boyles, R. A. (1991) The Taguchi capability index. *JQT* 23(1), 17-26.
Chou, Y.-M., Owen, D. B. & Borrego, S. A. (1990) Lower confidence limits on process capability
indices. *JQT* 22(3), 223-229.
Box, G. E. P. & Cox, D. R. (1964) An analysis of transformations. *JRSS B* 26, 211-252.
"""

from __future__ import annotations

import math
import warnings as warnings_module
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from pipeline.exceptions import StatisticsError
from pipeline.formatting import html_summary, interval_label
from pipeline.stats.rules import describe_rule
from pipeline.stats.spc import control_chart

__all__ = ["CapabilityIndex", "ProcessCapability", "process_capability"]

TRANSFORMS = ("none", "boxcox")


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityIndex:
    """One index with its interval (None where a limit it needs is missing)."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high}


_NONE = CapabilityIndex(estimate=None, ci_low=None, ci_high=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCapability:
    """Capability indices of one process, on the transformed scale if ``transform`` is set."""

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    sigma_method: str
    lsl: float | None
    usl: float | None
    target: float | None
    alpha: float
    cp: CapabilityIndex
    cpl: CapabilityIndex
    cpu: CapabilityIndex
    cpk: CapabilityIndex
    cpm: CapabilityIndex | None
    pp: CapabilityIndex
    ppk: CapabilityIndex
    observed_below_lsl: float | None
    observed_above_usl: float | None
    expected_ppm_below_lsl: float | None
    expected_ppm_above_usl: float | None
    is_in_control: bool
    transform: str = "none"
    boxcox_lambda: float | None = None
    #: lsl, usl and target on the transformed scale (Box-Cox only)
    transformed_limits: tuple[float | None, float | None, float | None] | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def level(self) -> str:
        """The interval label, derived from alpha ("95% CI")."""
        return interval_label(self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``kaizen-reports capability``."""
        out: dict[str, Any] = {
            "n": self.n,
            "mean": self.mean,
            "sigma_within": self.sigma_within,
            "sigma_overall": self.sigma_overall,
            "sigma_method": self.sigma_method,
            "lsl": self.lsl,
            "usl": self.usl,
            "target": self.target,
            "alpha": self.alpha,
            "cp": self.cp.to_dict(),
            "cpl": self.cpl.to_dict(),
            "cpu": self.cpu.to_dict(),
            "cpk": self.cpk.to_dict(),
        }
        if self.cpm is not None:
            out["cpm"] = self.cpm.to_dict()
        out.update(
            {
                "pp": self.pp.to_dict(),
                "ppk": self.ppk.to_dict(),
                "observed_below_lsl": self.observed_below_lsl,
                "observed_above_usl": self.observed_above_usl,
                "expected_ppm_below_lsl": self.expected_ppm_below_lsl,
                "expected_ppm_above_usl": self.expected_ppm_above_usl,
                "is_in_control": self.is_in_control,
                "transform": {
                    "method": self.transform,
                    "lambda": self.boxcox_lambda,
                    "lsl": None if self.transformed_limits is None else self.transformed_limits[0],
                    "usl": None if self.transformed_limits is None else self.transformed_limits[1],
                    "target": None
                    if self.transformed_limits is None
                    else self.transformed_limits[2],
                },
                "warnings": list(self.warnings),
            }
        )
        return out

    def indices(self) -> dict[str, CapabilityIndex]:
        out = {"cp": self.cp, "cpl": self.cpl, "cpu": self.cpu, "cpk": self.cpk}
        if self.cpm is not None:
            out["cpm"] = self.cpm
        out.update({"pp": self.pp, "ppk": self.ppk})
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per index: index, estimate, ci_low, ci_high."""
        return pd.DataFrame(
            [{"index": k, **v.to_dict()} for k, v in self.indices().items()],
            columns=["index", "estimate", "ci_low", "ci_high"],
        )

    def summary(self) -> str:
        def f(x: float | None) -> str:
            return "—" if x is None else f"{x:.3g}"

        lines = [
            f"n {self.n}, mean {self.mean:.6g}, sigma within {self.sigma_within:.6g} "
            f"({self.sigma_method}), overall {self.sigma_overall:.6g}"
            + (f"; Box-Cox lambda {self.boxcox_lambda:.4g}" if self.transform == "boxcox" else "")
        ]
        lines += [
            f"{k}: {f(v.estimate)} ({self.level} {f(v.ci_low)} to {f(v.ci_high)})"
            for k, v in self.indices().items()
            if v.estimate is not None
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_summary(self.summary())


def _chisq(idx: float | None, df: float, alpha: float) -> CapabilityIndex:
    if idx is None or not math.isfinite(idx) or not df > 0:
        return CapabilityIndex(estimate=idx, ci_low=None, ci_high=None)
    lo, hi = sps.chi2.ppf([alpha / 2, 1 - alpha / 2], df)
    return CapabilityIndex(
        estimate=idx, ci_low=idx * math.sqrt(lo / df), ci_high=idx * math.sqrt(hi / df)
    )


def _bissell(idx: float | None, n: int, alpha: float) -> CapabilityIndex:
    if idx is None or not math.isfinite(idx) or idx == 0 or n < 2:
        return CapabilityIndex(estimate=idx, ci_low=None, ci_high=None)
    z = float(sps.norm.ppf(1 - alpha / 2))
    half = z * math.sqrt(1 / (9 * n * idx**2) + 1 / (2 * (n - 1)))
    return CapabilityIndex(estimate=idx, ci_low=idx * (1 - half), ci_high=idx * (1 + half))


def _boxcox_value(x: float, lam: float) -> float:
    return float(special.boxcox(x, lam))


def process_capability(
    values: Any,
    *,
    subgroups: Any = None,
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    alpha: float = 0.05,
    transform: str = "none",
    rules: str | tuple[str, ...] | None = None,
    run_length: int | None = None,
    trend_length: int | None = None,
) -> ProcessCapability:
    """Capability indices and their intervals, as qcc's ``processCapability()`` (see module doc).

    Parameters
    ----------
    values : readings (NaN are dropped); one per reading with ``subgroups``.
    subgroups : subgroup key per reading: the within sigma is then mean R_i / d2(n_i).
    lsl, usl : specification limits; at least one is required.
    target : the target for Cpm (no Cpm without it).
    alpha : 1 - the confidence level of the intervals.
    transform : ``"none"`` or ``"boxcox"`` (maximum-likelihood lambda; readings must be > 0).
    rules, run_length, trend_length : the signal rules that judge whether the process is in
        control, as the metric's own chart uses them (:func:`pipeline.stats.spc.control_chart`).

    Returns
    -------
    ProcessCapability

    Raises
    ------
    StatisticsError
        No limit, limits the wrong way round, too few readings, a transform that cannot apply.
    """
    lsl = None if lsl is None or (isinstance(lsl, float) and math.isnan(lsl)) else float(lsl)
    usl = None if usl is None or (isinstance(usl, float) and math.isnan(usl)) else float(usl)
    if lsl is None and usl is None:
        raise StatisticsError("capability needs at least one specification limit (lsl or usl)")
    if lsl is not None and usl is not None and not lsl < usl:
        raise StatisticsError(f"the lower specification limit {lsl} is not below the upper {usl}")
    if not 0 < alpha < 1:
        raise StatisticsError(f"alpha must be between 0 and 1, not {alpha}")
    transform = str(transform).lower()
    if transform not in TRANSFORMS:
        raise StatisticsError(f"transform must be one of {', '.join(TRANSFORMS)}")
    x = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    keys = None if subgroups is None else pd.Series(subgroups).to_numpy(dtype=object)
    if keys is not None and keys.shape[0] != x.shape[0]:
        raise StatisticsError("subgroups and values differ in length", column="subgroups")
    keep = ~np.isnan(x)
    x = x[keep]
    if keys is not None:
        keys = keys[keep]
    if x.shape[0] < 2:
        raise StatisticsError("capability needs at least 2 readings")
    lam: float | None = None
    notes: list[str] = []
    given = (lsl, usl, None if target is None else float(target))
    if transform == "boxcox":
        if (x <= 0).any():
            raise StatisticsError("a Box-Cox transform needs readings greater than 0")
        for name, limit in (("lsl", lsl), ("usl", usl), ("target", target)):
            if limit is not None and limit <= 0:
                raise StatisticsError(f"a Box-Cox transform needs {name} greater than 0")
        with warnings_module.catch_warnings(record=True) as caught:
            # scipy warns when it had to constrain lambda: kept as a warning of the result
            warnings_module.simplefilter("always")
            x, lam_mle = sps.boxcox(x)
        notes.extend(f"Box-Cox: {w.message}" for w in caught)
        lam = float(lam_mle)
        if not np.isfinite(x).all() or not math.isfinite(float(np.std(x))):
            raise StatisticsError(
                f"the Box-Cox transform (lambda {lam:.4g}) overflows: the readings vary too "
                "little relative to their distance from 0 for a power transform to help"
            )
        lsl = None if lsl is None else _boxcox_value(lsl, lam)
        usl = None if usl is None else _boxcox_value(usl, lam)
        target = None if target is None else _boxcox_value(float(target), lam)
    chart = control_chart(
        x, chart="xbar_r" if keys is not None else "xmr", subgroups=keys, rules=rules,
        run_length=run_length, trend_length=trend_length,
    )  # fmt: skip
    phase = chart.phases[0]
    sw = float(phase.sigma) if phase.sigma is not None else math.nan
    mean = float(np.mean(x))
    s = float(np.std(x, ddof=1))
    n = int(x.shape[0])
    if not (math.isfinite(sw) and sw > 0 and s > 0):
        raise StatisticsError("the readings do not vary: no capability can be estimated")

    def div(a: float | None, b: float) -> float | None:
        return None if a is None else a / b

    cp = div(None if lsl is None or usl is None else usl - lsl, 6 * sw)
    cpu = div(None if usl is None else usl - mean, 3 * sw)
    cpl = div(None if lsl is None else mean - lsl, 3 * sw)
    cpk = min(v for v in (cpl, cpu) if v is not None)
    pp = div(None if lsl is None or usl is None else usl - lsl, 6 * s)
    ppu = div(None if usl is None else usl - mean, 3 * s)
    ppl = div(None if lsl is None else mean - lsl, 3 * s)
    ppk = min(v for v in (ppl, ppu) if v is not None)
    cpm: CapabilityIndex | None = None
    if target is not None:
        xi = (mean - float(target)) / sw
        cpm_est = None if cp is None else cp / math.sqrt(1 + xi**2)
        df = n * (1 + xi**2) ** 2 / (1 + 2 * xi**2)  # Boyles (1991), eq. for nu
        cpm = _chisq(cpm_est, df, alpha)
    warnings: list[str] = notes
    in_control = not chart.signals
    if not in_control:
        # the rules in words, as the glossary gives them ("we1, we2" was a code to look up)
        said = dict.fromkeys(
            describe_rule(r, run_length=chart.run_length, trend_length=chart.trend_length)
            for r in sorted({s.rule for s in chart.signals})
        )
        warnings.append(
            "the process is not in statistical control (signals: "
            + "; ".join(said)
            + "): the indices describe no stable process"
        )
    orig = np.asarray(x)
    return ProcessCapability(
        n=n,
        mean=mean,
        sigma_within=sw,
        sigma_overall=s,
        sigma_method=chart.sigma_method,
        lsl=given[0],
        usl=given[1],
        target=given[2],
        alpha=float(alpha),
        cp=_chisq(cp, n - 1, alpha) if cp is not None else _NONE,
        cpl=_bissell(cpl, n, alpha) if cpl is not None else _NONE,
        cpu=_bissell(cpu, n, alpha) if cpu is not None else _NONE,
        cpk=_bissell(cpk, n, alpha),
        cpm=cpm,
        pp=_chisq(pp, n - 1, alpha) if pp is not None else _NONE,
        ppk=_bissell(ppk, n, alpha),
        observed_below_lsl=None if lsl is None else float(np.mean(orig < lsl)),
        observed_above_usl=None if usl is None else float(np.mean(orig > usl)),
        expected_ppm_below_lsl=None
        if lsl is None
        else float(sps.norm.cdf((lsl - mean) / sw) * 1e6),
        expected_ppm_above_usl=None if usl is None else float(sps.norm.sf((usl - mean) / sw) * 1e6),
        is_in_control=in_control,
        transform=transform,
        boxcox_lambda=lam,
        transformed_limits=None if lam is None else (lsl, usl, target),
        warnings=tuple(warnings),
    )
