"""Pooling one practice's effects across sites: random-effects meta-analysis of log ratios.

Each study is one (event, metric) of a practice: its effect is the log of the ratio of the
metric's level after the change to its level before (the log response ratio, Hedges, Gurevitch &
Curtis 1999), turned so that a positive value is always an improvement (for a metric where lower
is better the sign is flipped), with its variance taken from the study's confidence interval.
statsmodels' :func:`~statsmodels.stats.meta_analysis.combine_effects` does the pooling; we do not
re-implement it.

References
----------
Hedges, L. V., Gurevitch, J. & Curtis, P. S. (1999). The meta-analysis of response ratios in
experimental ecology. *Ecology* 80(4), 1150-1156.
Higgins, J. P. T. et al. (eds.) (2023). *Cochrane Handbook for Systematic Reviews of
Interventions*, version 6.4, section 6.5.2.2 (standard errors from confidence intervals, on the
log scale for ratio measures).
Higgins, J. P. T. & Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis.
*Statistics in Medicine* 21, 1539-1558 (I²).
Paule, R. C. & Mandel, J. (1982). Consensus values and weighting factors. *Journal of Research
of the National Bureau of Standards* 87(5), 377-385 (the between-study variance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from pipeline.exceptions import StatisticsError

#: statsmodels' name of the between-study variance estimator used (Paule-Mandel, iterated).
METHOD_RE = "iterated"
METHOD_TEXT = "random effects (Paule-Mandel between-site variance), log ratio of levels"


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyEffect:
    """One study's effect on the improvement-positive log ratio scale."""

    label: str
    site_id: str
    effect: float
    variance: float

    @classmethod
    def from_percent_change(
        cls,
        *,
        label: str,
        site_id: str,
        ci_low: float,
        ci_high: float,
        estimate: float,
        alpha: float,
        lower_is_better: bool,
    ) -> StudyEffect | None:
        """A study from a % change and its ``1 - alpha`` interval (after vs before, in %).

        The log ratio is ``log(1 + estimate / 100)``; its standard error is the width of the
        interval on the log scale divided by ``2 z(1 - alpha/2)`` (Cochrane Handbook 6.5.2.2).
        Returns None when a level or a bound is not positive (no ratio on the log scale) or the
        interval has no width.
        """
        ratios = [1 + v / 100 for v in (estimate, ci_low, ci_high)]
        if any(not math.isfinite(r) or r <= 0 for r in ratios):
            return None
        y, lo, hi = (math.log(r) for r in ratios)
        z = float(stats.norm.ppf(1 - alpha / 2))
        se = (hi - lo) / (2 * z)
        if not se > 0:
            return None
        sign = -1.0 if lower_is_better else 1.0
        return cls(label=label, site_id=site_id, effect=sign * y, variance=se**2)


@dataclass(frozen=True, slots=True, kw_only=True)
class PooledEffect:
    """A random-effects pooled effect with its interval, heterogeneity and study weights.

    Effects are improvement-positive log ratios; :meth:`factor` turns one into "times better".
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    alpha: float
    tau2: float
    i2: float
    q: float
    q_pvalue: float
    k: int
    studies: tuple[StudyEffect, ...]
    weights: tuple[float, ...]
    method: str = METHOD_TEXT

    @staticmethod
    def factor(log_ratio: float) -> float:
        """An improvement-positive log ratio as a factor: 2.0 means twice as good (a halving of a
        lower-is-better metric, or a doubling of a higher-is-better one)."""
        return math.exp(log_ratio)

    @property
    def n_sites(self) -> int:
        return len({s.site_id for s in self.studies})

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "factor": self.factor(self.estimate),
            "factor_ci_low": self.factor(self.ci_low),
            "factor_ci_high": self.factor(self.ci_high),
            "alpha": self.alpha,
            "tau2": self.tau2,
            "i2": self.i2,
            "q": self.q,
            "q_pvalue": self.q_pvalue,
            "k": self.k,
            "n_sites": self.n_sites,
            "method": self.method,
            "studies": [
                {
                    "label": s.label,
                    "site_id": s.site_id,
                    "effect": s.effect,
                    "variance": s.variance,
                    "weight": w,
                }
                for s, w in zip(self.studies, self.weights, strict=True)
            ],
        }

    def summary(self) -> str:
        return (
            f"pooled ×{self.factor(self.estimate):.2f} better "
            f"({100 * (1 - self.alpha):g}% CI ×{self.factor(self.ci_low):.2f} to "
            f"×{self.factor(self.ci_high):.2f}), I² {100 * self.i2:.0f}%, "
            f"{self.k} studies at {self.n_sites} sites; {self.method}"
        )


def pool_effects(studies: Sequence[StudyEffect], *, alpha: float = 0.05) -> PooledEffect:
    """Random-effects pooled effect of ``studies`` (two or more) by statsmodels'
    ``combine_effects(effect, variance, method_re="iterated")`` (Paule-Mandel); the interval uses
    the normal distribution and fixed scale, as metafor's ``rma(method = "PM")`` does.

    Raises
    ------
    StatisticsError
        With fewer than two studies (nothing to pool).
    """
    if len(studies) < 2:
        raise StatisticsError("pooling needs at least two studies")
    effect = np.array([s.effect for s in studies], dtype=float)
    variance = np.array([s.variance for s in studies], dtype=float)
    # Studies that agree exactly (Q = 0: the same improvement copied to several sites) make
    # statsmodels divide by zero for its unclipped I²; I² is 0 then (below), so say nothing.
    with np.errstate(divide="ignore", invalid="ignore"):
        res = combine_effects(effect, variance, method_re=METHOD_RE, alpha=alpha)
    _, (lo, hi), _, _ = res.conf_int(alpha=alpha, use_t=False)
    q = float(res.q)
    df = len(studies) - 1
    return PooledEffect(
        estimate=float(res.mean_effect_re),
        se=float(res.sd_eff_w_re),
        ci_low=float(lo),
        ci_high=float(hi),
        alpha=alpha,
        tau2=float(res.tau2),
        # Higgins & Thompson (2002): I² = max(0, (Q - df) / Q); statsmodels' i2 is not clipped
        # at 0, and a negative share of variance means none.
        i2=max(0.0, float(res.i2)) if q > 0 else 0.0,
        q=q,
        q_pvalue=float(stats.chi2.sf(q, df)),
        k=len(studies),
        studies=tuple(studies),
        weights=tuple(float(w) for w in res.weights_rel_re),
    )
