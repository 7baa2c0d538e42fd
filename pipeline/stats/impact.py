"""Before/after impact of an improvement: Welch, rank, segmented-regression and GLM comparisons.

Pure functions that take plain arrays (or one already-aggregated DataFrame) and return frozen result
objects. statsmodels and scipy do every fit and test; the only code here that is not a call into them
is R's own root finder for the Hodges-Lehmann interval (so that it agrees with ``wilcox.test``) and
the closed-form Fieller interval for a ratio of means.

Conventions (they match R, which the numbers are checked against):

- ``difference`` is **after - before**: ``t.test(after, before)`` (Welch, ``var.equal = FALSE``).
- ``mann_whitney.statistic`` is U of the **before** sample, i.e. ``W`` of
  ``wilcox.test(before, after, exact = FALSE, correct = TRUE)``; its two-sided p-value does not
  depend on the order.
- ``mann_whitney.hodges_lehmann`` and its interval are the shift **after - before** exactly as
  ``wilcox.test(after, before, conf.int = TRUE, exact = FALSE, correct = TRUE)`` reports them: the
  asymptotic (normal approximation, tie-corrected, continuity-corrected) interval and the estimate
  that R finds by ``uniroot`` on the standardised rank-sum statistic (for an odd number of pairs this
  is the median of the pairwise differences after_j - before_i; for an even number, R's root lies
  between the two middle differences, and so does ours — we reproduce R's root finder).
- Segmented regression ``y = b0 + b1*t + b2*post + b3*t_after``: ``t`` numbers the periods on the
  full period grid (:func:`period_numbers`: a period without data is a gap and shifts nothing; the
  first period is 1), transition rows keep their number but are left out of the fit, ``post`` is 1
  from ``change_at`` on and ``t_after = (t - t_last_before) * post``.
  Classical errors = ``summary(lm(y ~ t + post + t_after))``; HAC errors =
  ``lmtest::coeftest(fit, vcov = sandwich::NeweyWest(fit, lag = L, prewhite = FALSE))``
  (Bartlett kernel, no small-sample adjustment, t distribution on the residual df).

References
----------
Welch, B. L. (1947). The generalization of Student's problem... Biometrika 34, 28-35.
Hollander, M. & Wolfe, D. A. (1973). Nonparametric Statistical Methods, Wiley (HL shift, its CI).
Bauer, D. F. (1972). Constructing confidence sets using rank statistics. JASA 67, 687-690.
Fieller, E. C. (1954). Some problems in interval estimation. JRSS B 16, 175-185; with unequal
variances and Welch-Satterthwaite df: Tamhane, A. C. & Logan, B. R. (2004), Finding the maximum safe
dose level for heteroscedastic data. J Biopharm Stat 14, 843-856 (R: ``mratios::ttestratio``).
Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size. J Educ Stat 6, 107-128.
Wagner, A. K. et al. (2002). Segmented regression analysis of interrupted time series studies in
medication use research. J Clin Pharm Ther 27, 299-309.
Newey, W. K. & West, K. D. (1994). Automatic lag selection in covariance matrix estimation.
Rev Econ Stud 61, 631-653 (lag rule ``floor(4 (T/100)^(2/9))``).
Katz, D. et al. (1978). Obtaining confidence intervals for the risk ratio in cohort studies.
Biometrics 34, 469-474 (log method for the ratio of proportions).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
    test_proportions_2indep,
)
from statsmodels.stats.stattools import durbin_watson
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from pipeline.exceptions import StatisticsError
from pipeline.formatting import (
    confidence_level,
    count_of,
    finite,
    fmt_date,
    fmt_effect,
    fmt_effect_interval,
    fmt_pvalue,
    html_tables,
)
from pipeline.stats.firth import fit_firth, is_separated
from pipeline.stats.wilcoxon import exact_rank_test
from pipeline.vocabulary import Better, Kind

#: Pearson chi-square / residual df above which a Poisson model is called over-dispersed and the
#: rate ratio is refitted as a negative binomial (NB2, ML, like ``MASS::glm.nb``). A Poisson model
#: has dispersion 1; 1.5 leaves room for sampling noise in short series (Hilbe, *Negative Binomial
#: Regression*, 2nd ed. 2011, ch. 7, uses the Pearson dispersion as the indicator).
OVERDISPERSION_THRESHOLD = 1.5

#: Durbin-Watson values outside this band are read as autocorrelated residuals (rule of thumb:
#: DW near 2 means no first-order autocorrelation).
DW_BAND = (1.5, 2.5)

MIN_WINDOW_POINTS = 2

#: Spread (largest minus smallest fitted value) this small relative to the data's magnitude is
#: rounding, not variation: the same tolerance as the verdicts' exact fit
#: (:data:`pipeline.stats.verdicts.EXACT_FIT_RTOL`, which this module cannot import).
NO_VARIATION_RTOL = 1e-9

#: What a result says when the data do not vary, so that no test is possible (the Welch block
#: says "both windows constant: no test possible" for its two windows).
NO_VARIATION = "no variation: no test possible"


def has_no_variation(values: Sequence[float] | np.ndarray) -> bool:
    """True when every value is the same up to ``NO_VARIATION_RTOL`` of the data's magnitude:
    total (and so residual) variance is zero, and a standard error computed from it is
    floating-point noise (a constant series gave a level change "p = 0.39, se 2.5e-15")."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return False
    return bool(np.ptp(v) <= NO_VARIATION_RTOL * (1.0 + float(np.max(np.abs(v)))))


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


_num = finite


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e5 else f"{x:.{digits}e}"


_level = confidence_level


def _flatten(prefix: str, obj: Any, rows: list[tuple[str, str, Any]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, rows)
    else:
        block, _, name = prefix.partition(".")
        rows.append((block, name, obj))


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowSummary:
    """Descriptive statistics of one window (before or after).

    For proportions and counts ``mean`` is the pooled rate ``sum(x) / sum(n)``; ``median`` and
    ``sd`` are of the per-period rates ``x / n``; ``n`` is always the number of periods.
    """

    n: int
    mean: float
    median: float
    sd: float | None

    def to_dict(self) -> dict[str, Any]:
        return _clean({"n": self.n, "mean": self.mean, "median": self.median, "sd": self.sd})


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    """after - before with its confidence interval and test."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    statistic: float | None
    df: float | None
    pvalue: float | None
    method: str
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "estimate": self.estimate,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "statistic": self.statistic,
                "df": self.df,
                "pvalue": self.pvalue,
                "method": self.method,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PercentChange:
    """100 * (after / before - 1), with its confidence interval (None when unbounded)."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return _clean({"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high})


@dataclass(frozen=True, slots=True, kw_only=True)
class MannWhitney:
    """Mann-Whitney U of the before sample and the Hodges-Lehmann shift after - before."""

    statistic: float
    #: None when every value is the same (:data:`NO_VARIATION`): no test possible
    pvalue: float | None
    hodges_lehmann: float | None
    ci_low: float | None
    ci_high: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "statistic": self.statistic,
                "pvalue": self.pvalue,
                "hodges_lehmann": self.hodges_lehmann,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Ratio:
    """A ratio after / before (of proportions or rates) with its confidence interval."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    pvalue: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "estimate": self.estimate,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "pvalue": self.pvalue,
                "method": self.method,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelChoice:
    """Which GLM family was used for proportions/counts, and why."""

    family: str
    link: str
    dispersion: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "family": self.family,
                "link": self.link,
                "dispersion": self.dispersion,
                "reason": self.reason,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Coefficient:
    """One estimate with standard error, confidence interval and p-value."""

    estimate: float
    se: float | None
    ci_low: float | None
    ci_high: float | None
    pvalue: float | None

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "estimate": self.estimate,
                "se": self.se,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "pvalue": self.pvalue,
            }
        )


COEFFICIENT_NAMES = ("intercept", "pre_slope", "level_change", "slope_change")


#: How each kind's segmented regression reads on the metric's own scale: the name of exp(b) for
#: the GLMs (None: OLS coefficients already are in the metric's units) and the scale of a
#: difference between the fitted and the counterfactual level (the vocabulary of
#: :class:`pipeline.stats.verdicts.Effect`).
NATURAL_SCALES: dict[str, tuple[str | None, str]] = {
    "continuous": (None, "difference"),
    "proportion": ("odds_ratio", "percentage_points"),
    "count": ("rate_ratio", "rate_difference"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaledEffect:
    """One segmented-regression effect on the metric's own scale, with its interval."""

    estimate: float
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return _clean({"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high})


@dataclass(frozen=True, slots=True, kw_only=True)
class NaturalScale:
    """The segmented regression's effects on the scale the metric is read in.

    ``ratio`` names what ``level_change`` and ``slope_change`` are: ``odds_ratio`` (binomial
    logit) or ``rate_ratio`` (Poisson or negative binomial, log link): exp(b2), the factor the
    odds or the rate is multiplied by at the change point, and exp(b3), the factor per period by
    which the trend changes, each with exp of its interval's ends (an interval on the link scale
    maps through the monotone exp unchanged in coverage). For OLS (``ratio`` None) they are b2
    in the metric's units and b3 in units per period.

    ``scale`` names the two differences, fitted minus counterfactual on the data scale:
    ``difference`` (units), ``percentage_points`` (100 times the difference of the predicted
    proportions) or ``rate_difference`` (events per unit of n, per period for a c chart);
    ``level_difference`` at the first period after the change, ``end_difference`` at the last
    (None when the counterfactual is withheld). Their intervals are the delta method on the
    HAC covariance, d = g(x1 b) - g(x0 b) with gradient g'(x1 b) x1 - g'(x0 b) x0 (exact for
    OLS, where g is the identity).
    """

    ratio: str | None
    scale: str
    level_change: ScaledEffect
    slope_change: ScaledEffect
    level_difference: ScaledEffect
    end_difference: ScaledEffect | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "scale": self.scale,
            "level_change": self.level_change.to_dict(),
            "slope_change": self.slope_change.to_dict(),
            "level_difference": self.level_difference.to_dict(),
            "end_difference": None
            if self.end_difference is None
            else self.end_difference.to_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentedRegression:
    """Interrupted time series ``y = b0 + b1 t + b2 post + b3 t_after``.

    ``coefficients`` carry HAC (Newey-West) errors, ``classical`` the model-based ones. For
    proportions and counts the model is a GLM (binomial logit; Poisson or negative binomial log
    with offset log(n)) and coefficients are on the link scale; ``counterfactual`` is always on the
    scale of the data (a mean, a proportion, or a rate per unit of n).

    ``series`` is one row per period in start..end: ``time, t, value, window, post, t_after,
    fitted, counterfactual, counterfactual_low, counterfactual_high, counterfactual_held`` (for
    the chart; ``counterfactual_held`` marks the periods where the line is held at a bound).
    """

    model: str
    cov_type: str
    maxlags: int
    coefficients: dict[str, Coefficient]
    classical: dict[str, Coefficient]
    #: None when the baseline is too short to extrapolate (``counterfactual_note`` says why).
    counterfactual: Coefficient | None
    counterfactual_time: Any
    observed_fitted: float
    durbin_watson: float
    ljung_box_pvalue: float | None
    ljung_box_lags: int
    alpha: float
    natural_scale: NaturalScale | None = None
    counterfactual_note: str = ""
    #: The metric's bound (``lower_bound`` / ``upper_bound``) the counterfactual at
    #: ``counterfactual_time`` is held at, because the baseline's line carried that far leaves the
    #: values the metric can take; None when it stays within them.
    counterfactual_bound: float | None = None
    n_before: int = 0
    #: True when ``t`` numbers events (g and t charts: one row each) rather than periods.
    is_event_order: bool = False
    #: True when the fitted values do not vary (:func:`has_no_variation`): every effect is 0
    #: and nothing has a standard error, interval or p-value (``cov_type`` says so).
    is_constant: bool = False
    series: pd.DataFrame = field(repr=False, compare=False)

    @property
    def intercept(self) -> Coefficient:
        return self.coefficients["intercept"]

    @property
    def pre_slope(self) -> Coefficient:
        return self.coefficients["pre_slope"]

    @property
    def level_change(self) -> Coefficient:
        return self.coefficients["level_change"]

    @property
    def slope_change(self) -> Coefficient:
        return self.coefficients["slope_change"]

    @property
    def is_autocorrelated(self) -> bool:
        lb = self.ljung_box_pvalue is not None and self.ljung_box_pvalue < self.alpha
        dw = math.isfinite(self.durbin_watson) and not (
            DW_BAND[0] <= self.durbin_watson <= DW_BAND[1]
        )
        return bool(lb or dw)

    @property
    def note(self) -> str:
        if self.is_constant:
            return (
                f"Every period has the same value ({NO_VARIATION}): the line is that level, "
                "with no change."
            )
        dw = f"Durbin-Watson {self.durbin_watson:.2f}"
        p = self.ljung_box_pvalue
        if p is None or not math.isfinite(p):
            lb = f"Ljung-Box not computed at lag {self.ljung_box_lags}"
        else:
            # fmt_pvalue gives "< 0.001" below a thousandth, never "1.9e-05" in a sentence.
            p_text = fmt_pvalue(p)
            lb = f"Ljung-Box p {p_text if p_text.startswith('<') else '= ' + p_text} at lag {self.ljung_box_lags}"
        if self.is_autocorrelated:
            return (
                f"Neighbouring periods are correlated ({dw}, {lb}): the Newey-West (HAC) "
                "intervals allow for this; the classical ones are too narrow and should not be used."
            )
        return f"No sign that neighbouring periods are correlated ({dw}, {lb})."

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "model": self.model,
                "cov_type": self.cov_type,
                **{k: self.coefficients[k].to_dict() for k in COEFFICIENT_NAMES},
                "classical": {k: self.classical[k].to_dict() for k in COEFFICIENT_NAMES},
                "counterfactual": (
                    None if self.counterfactual is None else self.counterfactual.to_dict()
                ),
                "counterfactual_note": self.counterfactual_note,
                "counterfactual_bound": self.counterfactual_bound,
                "n_before": self.n_before,
                "is_event_order": self.is_event_order,
                "is_constant": self.is_constant,
                "natural_scale": (
                    None if self.natural_scale is None else self.natural_scale.to_dict()
                ),
                "durbin_watson": self.durbin_watson,
                "ljung_box_pvalue": self.ljung_box_pvalue,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for errors, coefs in (("hac", self.coefficients), ("classical", self.classical)):
            for name in COEFFICIENT_NAMES:
                rows.append({"errors": errors, "term": name, **coefs[name].to_dict()})
        if self.counterfactual is not None:
            rows.append(
                {"errors": "hac", "term": "counterfactual", **self.counterfactual.to_dict()}
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        lvl = _level(self.alpha)
        lines = [
            f"Segmented regression ({self.model}, {self.cov_type} errors, maxlags {self.maxlags})"
        ]
        for name in COEFFICIENT_NAMES:
            c = self.coefficients[name]
            lines.append(
                f"  {name}: {_fmt(c.estimate)} ({lvl} CI {_fmt(c.ci_low)} to {_fmt(c.ci_high)}, "
                f"p = {_fmt(c.pvalue, 2)})"
            )
        cf = self.counterfactual
        if cf is None:
            lines.append(f"  counterfactual {self.counterfactual_note}")
        else:
            held = (
                ""
                if self.counterfactual_bound is None
                else f", held at the bound {_fmt(self.counterfactual_bound)}"
            )
            lines.append(
                f"  without the change, at {self.counterfactual_time}: {_fmt(cf.estimate)}{held} "
                f"({lvl} CI {_fmt(cf.ci_low)} to {_fmt(cf.ci_high)}); "
                f"fitted {_fmt(self.observed_fitted)}"
            )
        lines.append("  " + self.note)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImpactEstimate:
    """Everything ``estimate_impact`` knows about one before/after comparison."""

    kind: Kind
    alpha: float
    better: Better
    change_at: Any
    before: WindowSummary
    after: WindowSummary
    difference: Difference
    percent_change: PercentChange
    hedges_g: float | None
    mann_whitney: MannWhitney | None
    segmented_regression: SegmentedRegression | None
    proportion_ratio: Ratio | None = None
    rate_ratio: Ratio | None = None
    model: ModelChoice | None = None
    notes: tuple[str, ...] = ()

    # --- verdict -------------------------------------------------------------------------
    @property
    def is_clear_change(self) -> bool:
        """True when the difference's confidence interval excludes zero."""
        d = self.difference
        if d.ci_low is None or d.ci_high is None:
            return False
        return bool(d.ci_low > 0 or d.ci_high < 0)

    @property
    def direction(self) -> str:
        """``improved`` / ``worsened`` / ``no_clear_change`` (``increased`` / ``decreased`` when
        ``better`` is neutral), from the confidence interval of the difference."""
        if not self.is_clear_change:
            return "no_clear_change"
        up = (self.difference.ci_low or 0.0) > 0
        if self.better == Better.NEUTRAL:
            return "increased" if up else "decreased"
        good = up if self.better == Better.HIGHER else not up
        return "improved" if good else "worsened"

    @property
    def is_improvement(self) -> bool:
        return self.direction == "improved"

    def sentence(self, name: str = "The metric") -> str:
        """One plain sentence of the classical before/after comparison, e.g. 'Cycle time fell
        31% (95% CI −35% to −27%) after the change, an improvement.': the interval as every
        page writes an effect's (:func:`~pipeline.formatting.fmt_effect_interval`, both ends
        signed). The relative change where there is one, else the difference in the metric's
        units."""
        pc, d = self.percent_change, self.difference
        verdict = {
            "improved": "an improvement",
            "worsened": "a change for the worse",
            "no_clear_change": "no clear change",
            "increased": "a clear increase",
            "decreased": "a clear decrease",
        }[self.direction]
        if NO_VARIATION in d.method:
            return f"{name} did not vary: every period has the same value ({NO_VARIATION})."
        if pc.estimate is not None and pc.ci_low is not None and pc.ci_high is not None:
            est, lo, hi, unit = pc.estimate, pc.ci_low, pc.ci_high, "percent"
        elif _num(d.estimate) is not None and d.ci_low is not None and d.ci_high is not None:
            est, lo, hi, unit = d.estimate, d.ci_low, d.ci_high, "difference"
        else:
            return f"{name}: not enough data to say whether it changed after the change."
        verb = "rose" if est > 0 else "fell" if est < 0 else "stayed level"
        by = " by" if unit == "difference" else ""
        size = "" if est == 0 else f"{by} {fmt_effect(abs(est), unit=unit, signed=False)}"
        interval = fmt_effect_interval(lo, hi, unit=unit, alpha=self.alpha)
        if self.direction == "no_clear_change":
            tail = ", which is no clear change"
        else:
            tail = "" if self.better == Better.NEUTRAL else f", {verdict}"
        return f"{name} {verb}{size} ({interval}) after the change{tail}."

    def conclusion(self, name: str = "The metric") -> dict[str, str]:
        """What the comparison concludes, for ``kaizen-reports impact``: the ``better``
        direction it was read with, the ``direction`` it found (:attr:`direction`) and the
        :meth:`sentence`. A classical before/after reading (independent periods assumed), not
        the report's verdict, which allows for trend and autocorrelation."""
        return {
            "better": str(self.better),
            "direction": self.direction,
            "sentence": self.sentence(name),
        }

    # --- output -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "difference": self.difference.to_dict(),
            "percent_change": self.percent_change.to_dict(),
            "hedges_g": _num(self.hedges_g),
            "mann_whitney": self.mann_whitney.to_dict() if self.mann_whitney else None,
            "segmented_regression": (
                self.segmented_regression.to_dict() if self.segmented_regression else None
            ),
        }
        if self.kind == Kind.PROPORTION:
            out["proportion_ratio"] = (
                self.proportion_ratio.to_dict() if self.proportion_ratio else None
            )
            out["model"] = self.model.to_dict() if self.model else None
        elif self.kind == Kind.COUNT:
            out["rate_ratio"] = self.rate_ratio.to_dict() if self.rate_ratio else None
            out["model"] = self.model.to_dict() if self.model else None
        return out

    def to_frame(self) -> pd.DataFrame:
        """Tidy long table: one row per (block, statistic)."""
        rows: list[tuple[str, str, Any]] = []
        for block, value in self.to_dict().items():
            if isinstance(value, dict):
                _flatten(block, value, rows)
            else:
                rows.append((block, "", value))
        return pd.DataFrame(rows, columns=["block", "statistic", "value"])

    def summary(self, name: str = "The metric") -> str:
        lvl = _level(self.alpha)
        b, a, d = self.before, self.after, self.difference
        lines = [
            self.sentence(name),
            f"before: n={b.n}, mean {_fmt(b.mean)}, median {_fmt(b.median)}, sd {_fmt(b.sd)}",
            f"after:  n={a.n}, mean {_fmt(a.mean)}, median {_fmt(a.median)}, sd {_fmt(a.sd)}",
            f"difference (after - before): {_fmt(d.estimate)} ({lvl} CI {_fmt(d.ci_low)} to "
            f"{_fmt(d.ci_high)}), p = {_fmt(d.pvalue, 2)} [{d.method}]",
        ]
        if self.mann_whitney is not None:
            m = self.mann_whitney
            lines.append(
                f"Mann-Whitney U = {_fmt(m.statistic)}, p = {_fmt(m.pvalue, 2)}; Hodges-Lehmann "
                f"shift {_fmt(m.hodges_lehmann)} ({lvl} CI {_fmt(m.ci_low)} to {_fmt(m.ci_high)})"
            )
        for label, r in (
            ("proportion ratio", self.proportion_ratio),
            ("rate ratio", self.rate_ratio),
        ):
            if r is not None:
                lines.append(
                    f"{label}: {_fmt(r.estimate)} ({lvl} CI {_fmt(r.ci_low)} to {_fmt(r.ci_high)}) "
                    f"[{r.method}]"
                )
        if self.model is not None:
            lines.append(f"model: {self.model.family} ({self.model.reason})")
        if self.segmented_regression is not None:
            lines.append(self.segmented_regression.summary())
        lines.extend(self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        lvl = _level(self.alpha)
        b, a, d, pc = self.before, self.after, self.difference, self.percent_change
        rows = [
            ("Before (periods, mean, median)", f"{b.n}, {_fmt(b.mean)}, {_fmt(b.median)}"),
            ("After (periods, mean, median)", f"{a.n}, {_fmt(a.mean)}, {_fmt(a.median)}"),
            (
                f"Difference after - before ({lvl} CI)",
                f"{_fmt(d.estimate)} ({_fmt(d.ci_low)} to {_fmt(d.ci_high)}), p = {_fmt(d.pvalue, 2)}",
            ),
            (
                f"Change in % ({lvl} CI)",
                f"{_fmt(pc.estimate)} ({_fmt(pc.ci_low)} to {_fmt(pc.ci_high)})",
            ),
            ("Hedges' g", _fmt(self.hedges_g)),
        ]
        if self.mann_whitney is not None:
            m = self.mann_whitney
            rows.append(
                (
                    f"Hodges-Lehmann shift ({lvl} CI)",
                    f"{_fmt(m.hodges_lehmann)} ({_fmt(m.ci_low)} to {_fmt(m.ci_high)}), "
                    f"Mann-Whitney p = {_fmt(m.pvalue, 2)}",
                )
            )
        s = self.segmented_regression
        if s is not None and s.natural_scale is not None:
            # on the metric's own scale: a link-scale coefficient reads as a plain change
            nat = s.natural_scale
            what = f", {nat.ratio.replace('_', ' ')}" if nat.ratio else ""
            for label, c in (
                ("Level change", nat.level_change),
                ("Slope change", nat.slope_change),
            ):
                rows.append(
                    (
                        f"{label} ({lvl} CI, HAC{what})",
                        f"{_fmt(c.estimate)} ({_fmt(c.ci_low)} to {_fmt(c.ci_high)})",
                    )
                )
        if s is not None and s.note:
            rows.append(("Note", s.note))
        return html_tables((self.sentence(), pd.DataFrame(rows, columns=["measure", "value"])))


# --------------------------------------------------------------------------------------------
# the statistics, one function each
# --------------------------------------------------------------------------------------------


def _as_array(x: Sequence[float] | np.ndarray | pd.Series, label: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise StatisticsError(f"the {label} sample must be one-dimensional")
    if not np.all(np.isfinite(arr)):
        raise StatisticsError(f"the {label} sample has missing or infinite values")
    if arr.size < MIN_WINDOW_POINTS:
        raise StatisticsError(
            f"not enough data: the {label} window has {count_of(arr.size, 'point')}, at least "
            f"{MIN_WINDOW_POINTS} are needed"
        )
    return arr


def summarise_window(values: Sequence[float] | np.ndarray) -> WindowSummary:
    """n, mean, median and sample sd (n - 1) of one window."""
    v = np.asarray(values, dtype=float)
    sd = float(np.std(v, ddof=1)) if v.size > 1 else None
    return WindowSummary(n=int(v.size), mean=float(np.mean(v)), median=float(np.median(v)), sd=sd)


def compare_means(
    before: Sequence[float] | np.ndarray,
    after: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
) -> Difference:
    """Welch's two-sample t-test and CI for mean(after) - mean(before).

    Same as R ``t.test(after, before)`` (``var.equal = FALSE``), via statsmodels ``CompareMeans``.
    """
    b, a = _as_array(before, "before"), _as_array(after, "after")
    cm = CompareMeans(DescrStatsW(a), DescrStatsW(b))
    if has_no_variation(np.concatenate([b, a])):
        return Difference(
            estimate=0.0, ci_low=None, ci_high=None, statistic=None, df=None, pvalue=None,
            method=f"Welch two-sample t-test ({NO_VARIATION})", alpha=alpha,
        )  # fmt: skip
    if np.var(a) == 0 and np.var(b) == 0:
        diff = float(a.mean() - b.mean())
        return Difference(
            estimate=diff,
            ci_low=diff,
            ci_high=diff,
            statistic=None,
            df=None,
            pvalue=None,
            method="Welch two-sample t-test (both windows constant: no test possible)",
            alpha=alpha,
        )
    tstat, pvalue, df = cm.ttest_ind(usevar="unequal")
    lo, hi = cm.tconfint_diff(alpha=alpha, usevar="unequal")
    return Difference(
        estimate=float(a.mean() - b.mean()),
        ci_low=float(lo),
        ci_high=float(hi),
        statistic=float(tstat),
        df=float(df),
        pvalue=float(pvalue),
        method="Welch two-sample t-test (after - before)",
        alpha=alpha,
    )


def percent_change_ci(
    before: Sequence[float], after: Sequence[float], *, alpha: float = 0.05
) -> PercentChange:
    """100 * (mean(after) / mean(before) - 1) with Fieller's interval for the ratio of means.

    Unequal variances, t quantile on the Welch-Satterthwaite df evaluated at the estimated ratio
    (Tamhane & Logan 2004; R ``mratios::ttestratio(after, before, var.equal = FALSE)``). The
    interval is the set of ratios rho not rejected by ``T(rho) = (ma - rho mb) / sqrt(va + rho^2 vb)``,
    so the p-value of that test at either bound is alpha. When the before mean is not clearly
    different from zero the set is unbounded and the bounds are None. A before mean at or below
    zero has no percent change (a percentage of a negative level reverses its sign).
    """
    method = (
        "Fieller interval for the ratio of means, Welch-Satterthwaite df (Tamhane & Logan 2004)"
    )
    b, a = _as_array(before, "before"), _as_array(after, "after")
    mb, ma = float(b.mean()), float(a.mean())
    if mb <= 0:
        return PercentChange(estimate=None, ci_low=None, ci_high=None, method=method)
    if has_no_variation(np.concatenate([b, a])):
        return PercentChange(estimate=0.0, ci_low=None, ci_high=None, method=NO_VARIATION)
    rho = ma / mb
    vb, va = float(b.var(ddof=1) / b.size), float(a.var(ddof=1) / a.size)
    est = 100.0 * (rho - 1.0)
    denom = va**2 / (a.size - 1) + rho**4 * vb**2 / (b.size - 1)
    if denom == 0:
        return PercentChange(estimate=est, ci_low=est, ci_high=est, method=method)
    df = max(1.0, (va + rho**2 * vb) ** 2 / denom)
    t = float(stats.t.ppf(1 - alpha / 2, df))
    qa = mb**2 - t**2 * vb
    qb = -2.0 * ma * mb
    qc = ma**2 - t**2 * va
    disc = qb**2 - 4 * qa * qc
    if qa <= 0 or disc < 0:
        return PercentChange(estimate=est, ci_low=None, ci_high=None, method=method)
    r1 = (-qb - math.sqrt(disc)) / (2 * qa)
    r2 = (-qb + math.sqrt(disc)) / (2 * qa)
    return PercentChange(
        estimate=est,
        ci_low=100.0 * (min(r1, r2) - 1),
        ci_high=100.0 * (max(r1, r2) - 1),
        method=method,
    )


def hedges_g(before: Sequence[float], after: Sequence[float]) -> float | None:
    """Hedges' g for after - before: Cohen's d on the pooled sd times the exact correction
    ``J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))``, df = n1 + n2 - 2 (Hedges 1981; as
    R ``effectsize::hedges_g(after, before)``). None when the pooled sd is 0."""
    b, a = _as_array(before, "before"), _as_array(after, "after")
    df = a.size + b.size - 2
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / df)
    if pooled == 0:
        return None
    j = math.exp(math.lgamma(df / 2) - math.log(math.sqrt(df / 2)) - math.lgamma((df - 1) / 2))
    return float(j * (a.mean() - b.mean()) / pooled)


def _r_zeroin2(
    f: Callable[[float], float],
    ax: float,
    bx: float,
    fa: float,
    fb: float,
    tol: float,
    maxit: int = 1000,
) -> float:
    """Brent's root finder exactly as R's ``uniroot`` runs it (R ``src/library/stats/src/zeroin.c``).

    Ported because the Wilcoxon statistic is a step function of the shift: where it is flat at
    zero, *which* point a root finder returns depends on its iterates, and we want R's.
    """
    eps = np.finfo(float).eps
    a, b, c, fc = ax, bx, ax, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _hodges_lehmann_r(
    x: np.ndarray, y: np.ndarray, *, alpha: float, correct: bool = True
) -> tuple[float | None, float | None, float | None]:
    """Estimate and CI of the shift x - y as R's asymptotic ``wilcox.test(x, y, conf.int=TRUE)``."""
    nx, ny = float(x.size), float(y.size)

    def w(d: float, use_correction: bool) -> float:
        dr = stats.rankdata(np.concatenate([x - d, y]))  # R rank(): average ties
        _, counts = np.unique(dr, return_counts=True)
        dz = float(dr[: x.size].sum()) - nx * (nx + 1) / 2 - nx * ny / 2
        corr = float(np.sign(dz)) * 0.5 if use_correction else 0.0
        sigma = math.sqrt(
            (nx * ny / 12)
            * ((nx + ny + 1) - float(np.sum(counts**3 - counts)) / ((nx + ny) * (nx + ny - 1)))
        )
        if sigma == 0:
            raise ZeroDivisionError
        return (dz - corr) / sigma

    mumin, mumax = float(x.min() - y.max()), float(x.max() - y.min())
    try:
        wmin, wmax = w(mumin, correct), w(mumax, correct)
    except ZeroDivisionError:
        return None, None, None

    def root(zq: float) -> float:
        f_lower, f_upper = wmin - zq, wmax - zq
        if f_lower <= 0:
            return mumin
        if f_upper >= 0:
            return mumax
        return _r_zeroin2(lambda d: w(d, correct) - zq, mumin, mumax, f_lower, f_upper, 1e-4)

    z = float(stats.norm.ppf(1 - alpha / 2))
    lo, hi = float(root(z)), float(root(-z))
    e_lower, e_upper = w(mumin, False), w(mumax, False)
    if e_lower * e_upper > 0:  # R's uniroot would stop here; cannot happen for finite data
        return None, lo, hi
    est = float(_r_zeroin2(lambda d: w(d, False), mumin, mumax, e_lower, e_upper, 1e-4))
    return est, lo, hi


def compare_ranks(
    before: Sequence[float], after: Sequence[float], *, alpha: float = 0.05, exact: bool = False
) -> MannWhitney:
    """Mann-Whitney U test (normal approximation, continuity and tie correction) and the
    Hodges-Lehmann shift after - before with its asymptotic distribution-free interval.

    U is of the before sample (``scipy.stats.mannwhitneyu(before, after)``, = R's W of
    ``wilcox.test(before, after, exact=FALSE, correct=TRUE)``). The shift and interval are R's
    ``wilcox.test(after, before, conf.int=TRUE, exact=FALSE, correct=TRUE)`` (Bauer 1972): the
    interval inverts the continuity- and tie-corrected normal approximation of the rank-sum test.

    ``exact=True``: the exact test and interval instead, R's ``wilcox.test(after, before,
    exact=TRUE, conf.int=TRUE)`` (:mod:`pipeline.stats.wilcoxon`); U is still of the before
    sample (m n - W of after). Ties are an error there.
    """
    b, a = _as_array(before, "before"), _as_array(after, "after")
    if exact:
        ex = exact_rank_test(a, b, alpha=alpha)
        return MannWhitney(
            statistic=float(a.shape[0] * b.shape[0] - ex.statistic),
            pvalue=ex.pvalue,
            hodges_lehmann=ex.estimate,
            ci_low=ex.ci_low,
            ci_high=ex.ci_high,
            method=(
                "Mann-Whitney U of the before sample, exact two-sided test; Hodges-Lehmann shift "
                "after - before with the exact interval of R wilcox.test(exact=TRUE, "
                f"conf.int=TRUE) (achieved level {100 * ex.achieved_level:.4g}%)"
            ),
        )
    res = stats.mannwhitneyu(
        b, a, alternative="two-sided", method="asymptotic", use_continuity=True
    )
    method = (
        "Mann-Whitney U of the before sample, normal approximation with continuity and tie "
        "correction; Hodges-Lehmann shift after - before with the asymptotic interval of "
        "R wilcox.test(conf.int=TRUE, exact=FALSE, correct=TRUE)"
    )
    if has_no_variation(np.concatenate([b, a])):
        # every value tied: the rank sum has no variance (R's wilcox.test gives p-value NA),
        # as the Welch difference beside it has no test (it said p = 1.0 here)
        return MannWhitney(
            statistic=float(res.statistic), pvalue=None, hodges_lehmann=None, ci_low=None,
            ci_high=None, method=f"{method} ({NO_VARIATION})",
        )  # fmt: skip
    est, lo, hi = _hodges_lehmann_r(a, b, alpha=alpha, correct=True)
    return MannWhitney(
        statistic=float(res.statistic),
        pvalue=float(res.pvalue),
        hodges_lehmann=est,
        ci_low=lo,
        ci_high=hi,
        method=method,
    )


def compare_proportions(
    x_before: float, n_before: float, x_after: float, n_after: float, *, alpha: float = 0.05
) -> tuple[Difference, Ratio]:
    """Difference p_after - p_before and ratio p_after / p_before of pooled proportions.

    Difference: Newcombe's hybrid score interval (``confint_proportions_2indep(
    method="newcomb")``, method 10 of Newcombe 1998, from the two Wilson intervals) and the
    pooled two-proportion z-test (``proportions_ztest``; its p-value equals that of R
    ``prop.test(c(xa, xb), c(na, nb), correct = FALSE)``). The Wald interval of
    ``prop.test`` collapses where a window has no event (0 of 2,400 after gave the before
    window's sampling error alone; no event at all, "0 to 0"); the score interval stays honest
    there and never leaves -1 to 1.
    Ratio: log (Katz) interval and Wald test on the log scale.

    References
    ----------
    Newcombe, R. G. (1998). Interval estimation for the difference between independent
    proportions: comparison of eleven methods. Statistics in Medicine 17, 873-890.
    """
    pa, pb = x_after / n_after, x_before / n_before
    diff = pa - pb
    with np.errstate(divide="ignore", invalid="ignore"):
        # statsmodels computes an odds ratio on the way, which a zero count divides by zero
        lo, hi = confint_proportions_2indep(
            x_after, n_after, x_before, n_before, method="newcomb", compare="diff", alpha=alpha
        )
    lo, hi = float(lo), float(hi)
    if 0 < x_before + x_after < n_before + n_after:
        z, p = proportions_ztest([x_after, x_before], [n_after, n_before])
        z, p = float(z), float(p)
    else:
        z = p = None
    d = Difference(
        estimate=diff,
        ci_low=lo,
        ci_high=hi,
        statistic=z,
        df=None,
        pvalue=p,
        method="two-proportion z-test (pooled), Newcombe score interval (after - before)",
        alpha=alpha,
    )
    method = "ratio of proportions, log (Katz) interval"
    if x_before > 0 and x_after > 0:
        rlo, rhi = confint_proportions_2indep(
            x_after, n_after, x_before, n_before, method="log", compare="ratio", alpha=alpha
        )
        rt = test_proportions_2indep(
            x_after, n_after, x_before, n_before, method="log", compare="ratio"
        )
        r = Ratio(
            estimate=pa / pb,
            ci_low=float(rlo),
            ci_high=float(rhi),
            pvalue=float(rt.pvalue),
            method=method,
        )
    else:
        r = Ratio(
            estimate=None,
            ci_low=None,
            ci_high=None,
            pvalue=None,
            method=method + " (a zero count: no ratio)",
        )
    return d, r


def compare_rates(
    x: np.ndarray, n: np.ndarray, post: np.ndarray, *, alpha: float = 0.05
) -> tuple[Difference, Ratio, ModelChoice]:
    """Rate ratio after / before from ``glm(x ~ post, offset = log(n), family = poisson)``,
    refitted as a negative binomial (NB2, ML) when Pearson chi2 / df > OVERDISPERSION_THRESHOLD.

    Wald intervals (R ``confint.default``). The rate difference is the difference of the model's
    fitted rates with a delta-method interval.

    Raises
    ------
    StatisticsError
        When no period has an event: the log-linear model has no finite fit.
    """
    if not np.any(np.asarray(x, dtype=float) > 0):
        raise StatisticsError(
            "no event in any period before or after the change: no rates to compare"
        )
    X = sm.add_constant(post.astype(float), has_constant="add")
    off = np.log(n)
    pois = sm.GLM(x, X, family=sm.families.Poisson(), offset=off).fit()
    dispersion = float(pois.pearson_chi2 / pois.df_resid) if pois.df_resid > 0 else float("nan")
    if math.isfinite(dispersion) and dispersion > OVERDISPERSION_THRESHOLD and x.sum() > 0:
        nb = sm.NegativeBinomial(x, X, offset=off, loglike_method="nb2").fit(disp=0, maxiter=200)
        params, cov = np.asarray(nb.params)[:2], np.asarray(nb.cov_params())[:2, :2]
        choice = ModelChoice(
            family="negative binomial (NB2)",
            link="log",
            dispersion=dispersion,
            reason=(
                f"Poisson over-dispersed: Pearson chi2/df = {dispersion:.2f} > "
                f"{OVERDISPERSION_THRESHOLD}, so a negative binomial model was used"
            ),
        )
    else:
        params, cov = np.asarray(pois.params), np.asarray(pois.cov_params())
        reason = (
            f"Pearson chi2/df = {dispersion:.2f} <= {OVERDISPERSION_THRESHOLD}: no over-dispersion"
            if math.isfinite(dispersion)
            else "too few periods to check over-dispersion"
        )
        choice = ModelChoice(
            family="poisson", link="log", dispersion=_num(dispersion), reason=reason
        )
    z = float(stats.norm.ppf(1 - alpha / 2))
    b1, se1 = float(params[1]), float(math.sqrt(cov[1, 1]))
    pval = float(2 * stats.norm.sf(abs(b1 / se1))) if se1 > 0 and math.isfinite(se1) else None
    ratio = Ratio(
        estimate=math.exp(b1),
        ci_low=math.exp(b1 - z * se1),
        ci_high=math.exp(b1 + z * se1),
        pvalue=pval,
        method=f"rate ratio from a {choice.family} GLM with offset log(n), Wald interval",
    )
    rb, ra = math.exp(params[0]), math.exp(params[0] + params[1])
    grad = np.array([ra - rb, ra])
    se_d = float(math.sqrt(grad @ cov @ grad))
    diff = Difference(
        estimate=ra - rb,
        ci_low=ra - rb - z * se_d,
        ci_high=ra - rb + z * se_d,
        statistic=b1 / se1 if se1 > 0 else None,
        df=None,
        pvalue=pval,
        method=f"rate difference (after - before) from a {choice.family} GLM, delta-method interval, Wald test",
        alpha=alpha,
    )
    return diff, ratio, choice


def period_numbers(times: Sequence[Any] | pd.Series) -> np.ndarray:
    """Position of each time on its regular period grid, the first time being 1.

    Month starts are numbered by calendar month; other dates by their distance from the first
    time in units of the smallest gap between consecutive times (7 days for weekly data, 1 for
    daily); numbers likewise. So a period without a row still takes its place on the grid and
    ``t`` keeps meaning "periods since the start" (as R's ``lm(y ~ t + ...)`` with ``t = week``).
    """
    ts = pd.Series(list(times))
    if ts.empty:
        return np.array([], dtype=float)
    if pd.api.types.is_numeric_dtype(ts):
        x = ts.to_numpy(dtype=float)
    else:
        d = pd.to_datetime(ts)
        if getattr(d.dt, "tz", None) is not None:
            d = d.dt.tz_localize(None)
        gaps = np.diff(np.unique(d.to_numpy(dtype="datetime64[ns]"))).astype("timedelta64[D]")
        if gaps.size and gaps.min() >= np.timedelta64(28, "D") and (d.dt.day == 1).all():
            months = (d.dt.year * 12 + d.dt.month).to_numpy(dtype=float)
            return months - months.min() + 1.0
        x = (d - d.min()).dt.total_seconds().to_numpy(dtype=float) / 86_400.0
    u = np.unique(x[np.isfinite(x)])
    step = float(np.min(np.diff(u))) if u.size > 1 else 1.0
    return np.round((x - np.nanmin(x)) / step) + 1.0


def newey_west_lags(nobs: int) -> int:
    """Rule-of-thumb HAC lag ``floor(4 (T/100)^(2/9))``, at least 1 (Newey & West 1994)."""
    return max(1, int(math.floor(4 * (nobs / 100) ** (2 / 9))))


@contextlib.contextmanager
def _separation_is_handled() -> Iterator[None]:
    """statsmodels warns of perfect separation (a rate of 0 in every period); the caller
    tests for it (:func:`is_separated`) and refits with Firth's method, so the warning is not
    the reader's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        yield


def fit_segmented(
    values: Sequence[float],
    *,
    t: Sequence[float],
    post: Sequence[bool],
    t_last_before: float,
    kind: Kind = Kind.CONTINUOUS,
    n: Sequence[float] | None = None,
    alpha: float = 0.05,
    maxlags: int | None = None,
    counterfactual_t: float | None = None,
    ljung_box_lags: int = 1,
    family: str | None = None,
) -> tuple[Any, Any, np.ndarray, str, int]:
    """Fit ``y ~ t + post + t_after`` and return (HAC result, classical result, design, model, L).

    Continuous: OLS. Proportion: binomial GLM (logit) on ``cbind(x, n - x)``. Count: Poisson GLM
    with offset log(n), or negative binomial (NB2) when ``family == "negative binomial (NB2)"``.
    """
    tt = np.asarray(t, dtype=float)
    pp = np.asarray(post, dtype=float)
    X = np.column_stack([np.ones_like(tt), tt, pp, (tt - t_last_before) * pp])
    y = np.asarray(values, dtype=float)
    L = maxlags if maxlags is not None else newey_west_lags(len(y))
    hac = {"maxlags": L, "use_correction": False}
    if kind == Kind.CONTINUOUS:
        mod = sm.OLS(y, X)
        return mod.fit(cov_type="HAC", cov_kwds=hac, use_t=True), mod.fit(), X, "OLS", L
    nn = np.asarray(n, dtype=float) if n is not None else np.ones_like(y)
    if kind == Kind.PROPORTION:
        mod = sm.GLM(np.column_stack([y, nn - y]), X, family=sm.families.Binomial())
        with _separation_is_handled():
            res_hac, res_cl = mod.fit(cov_type="HAC", cov_kwds=hac), mod.fit()
        if is_separated(np.asarray(res_cl.fittedvalues), is_proportion=True):
            res_hac, res_cl = _firth_results(mod, y, nn, X, kind, hac)
            return res_hac, res_cl, X, "binomial GLM (logit), Firth's bias-reduced fit", L
        return res_hac, res_cl, X, "binomial GLM (logit)", L
    off = np.log(nn)
    if family is not None and family.startswith("negative binomial"):
        nbm = sm.NegativeBinomial(y, X, offset=off, loglike_method="nb2")
        start = nbm.fit(disp=0, maxiter=200)
        res_hac = nbm.fit(
            start_params=start.params, disp=0, maxiter=200, cov_type="HAC", cov_kwds=hac
        )
        return res_hac, start, X, "negative binomial GLM (log), offset log(n)", L
    mod = sm.GLM(y, X, family=sm.families.Poisson(), offset=off)
    with _separation_is_handled():
        res_hac, res_cl = mod.fit(cov_type="HAC", cov_kwds=hac), mod.fit()
    if is_separated(np.asarray(res_cl.fittedvalues) / nn, is_proportion=False):
        res_hac, res_cl = _firth_results(mod, y, nn, X, kind, hac)
        return res_hac, res_cl, X, "Poisson GLM (log), offset log(n), Firth's bias-reduced fit", L
    return res_hac, res_cl, X, "Poisson GLM (log), offset log(n)", L


def _firth_results(
    mod: Any, y: np.ndarray, n: np.ndarray, X: np.ndarray, kind: str, hac: dict[str, Any]
) -> tuple[Any, Any]:
    """statsmodels results (HAC and classical) at Firth's estimate, for a GLM whose maximum
    likelihood fit separated (a window without events: a coefficient near -25 whose HAC
    interval made an odds ratio of 0.00000000000039 look precise). ``maxiter=0`` keeps the
    start values, so the covariances are statsmodels' own, evaluated there."""
    beta, _ = fit_firth(y, n, X, kind)
    return (
        mod.fit(start_params=beta, maxiter=0, cov_type="HAC", cov_kwds=hac),
        mod.fit(start_params=beta, maxiter=0),
    )


def _coefs(res: Any, alpha: float) -> dict[str, Coefficient]:
    params = np.asarray(res.params)[:4]
    bse = np.asarray(res.bse)[:4]
    ci = np.asarray(res.conf_int(alpha=alpha))[:4]
    pv = np.asarray(res.pvalues)[:4]
    return {
        name: Coefficient(
            estimate=float(params[i]),
            se=_num(bse[i]),
            ci_low=_num(ci[i, 0]),
            ci_high=_num(ci[i, 1]),
            pvalue=_num(pv[i]),
        )
        for i, name in enumerate(COEFFICIENT_NAMES)
    }


def segmented_regression(
    times: Sequence[Any],
    values: Sequence[float],
    *,
    window: Sequence[str],
    kind: Kind = Kind.CONTINUOUS,
    n: Sequence[float] | None = None,
    alpha: float = 0.05,
    maxlags: int | None = None,
    family: str | None = None,
    ljung_box_lags: int = 1,
    t: Sequence[float] | None = None,
    min_baseline_points: int = 0,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    is_event_order: bool = False,
) -> SegmentedRegression:
    """Interrupted time series on one series whose rows are labelled ``before``, ``transition``
    or ``after`` (in time order). ``t`` is each row's position on the period grid (default
    :func:`period_numbers` of ``times``, so a missing period shifts nothing); transition rows are
    not fitted.

    HAC lag ``maxlags`` defaults to :func:`newey_west_lags` of the number of fitted periods. The
    counterfactual is ``b0 + b1 t_end`` (the pre-change line carried to the last after period)
    with its confidence interval from the HAC covariance (t quantile for OLS, normal for GLMs),
    mapped through the inverse link for proportions and counts (per unit of n).
    Residuals for Durbin-Watson and Ljung-Box (``acorr_ljungbox(lags=[ljung_box_lags])``, as R
    ``Box.test(resid, lag = 1, type = "Ljung-Box")`` by default) are raw residuals for OLS and
    Pearson residuals for GLMs.

    With fewer than ``min_baseline_points`` periods before the change the counterfactual is
    withheld (None, and no counterfactual line in ``series``): a line fitted to a short baseline
    and carried over the whole after window says more about its slope's noise than about the
    process (the report's phases need the same number of points for their own limits).
    ``natural_scale`` gives the effects on the metric's own scale (:class:`NaturalScale`).

    ``lower_bound`` / ``upper_bound`` (OLS only: the GLMs' inverse links keep their lines within
    0 and 1, or above 0) are the values the metric can take. Where the baseline's line carried
    forward leaves them (days between incidents below 0) the counterfactual is held at the bound,
    as the verdict holds it (:func:`pipeline.stats.verdicts.judge_change`): the line, its band
    and the counterfactual's interval are clipped to the bounds (clipping is monotone, so each
    clipped interval keeps its coverage), ``counterfactual_bound`` names the bound the last
    period's counterfactual is held at (its standard error and p-value, which belong to the
    unheld line, are then None), and the fitted-minus-counterfactual differences are taken
    against the held value: the estimate and its interval move by the same known amount.
    ``is_event_order`` records that ``t`` numbers events, not periods (the chart then draws
    against that number).
    """
    win = np.asarray(window, dtype=object)
    y_all = np.asarray(values, dtype=float)
    t_all = np.asarray(t, dtype=float) if t is not None else period_numbers(list(times))
    keep = win != "transition"
    post_all = (win == "after").astype(float)
    before_idx = np.flatnonzero(win == "before")
    if (
        before_idx.size < MIN_WINDOW_POINTS
        or np.sum(win == "after") < MIN_WINDOW_POINTS
        or keep.sum() < 5
    ):
        raise StatisticsError(
            "not enough data for segmented regression: it needs at least 2 periods before, 2 after "
            "and 5 in all"
        )
    t_last_before = float(t_all[before_idx[-1]])
    if kind == Kind.CONTINUOUS and has_no_variation(y_all[keep]):
        return _flat_segmented(
            times, y_all, window=win, t=t_all, t_last_before=t_last_before, alpha=alpha,
            maxlags=maxlags, ljung_box_lags=ljung_box_lags,
            min_baseline_points=min_baseline_points, is_event_order=is_event_order,
        )  # fmt: skip
    n_all = np.asarray(n, dtype=float) if n is not None else np.ones_like(y_all)
    res_hac, res_cl, X, model, L = fit_segmented(
        y_all[keep],
        t=t_all[keep],
        post=post_all[keep].astype(bool),
        t_last_before=t_last_before,
        kind=kind,
        n=n_all[keep],
        alpha=alpha,
        maxlags=maxlags,
        family=family,
    )
    k = 4
    params = np.asarray(res_hac.params)[:k]
    cov = np.asarray(res_hac.cov_params())[:k, :k]
    is_ols = kind == Kind.CONTINUOUS
    q = (
        float(stats.t.ppf(1 - alpha / 2, res_hac.df_resid))
        if is_ols
        else float(stats.norm.ppf(1 - alpha / 2))
    )
    inv = (
        (lambda v: v)
        if is_ols
        else ((lambda v: 1 / (1 + np.exp(-v))) if kind == Kind.PROPORTION else np.exp)
    )

    t_after_all = (t_all - t_last_before) * post_all
    X_all = np.column_stack([np.ones_like(t_all), t_all, post_all, t_after_all])
    X_cf = X_all.copy()
    X_cf[:, 2:] = 0.0
    eta_fit = X_all @ params
    eta_cf = X_cf @ params
    # a quadratic form in a covariance matrix: never below 0 but for rounding (a HAC estimate on a
    # nearly flat series came out at -1e-30, and its square root NaN with a RuntimeWarning)
    se_cf = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", X_cf, cov, X_cf), 0.0, None))
    fitted = inv(eta_fit)
    fitted[~keep] = np.nan
    line, cf_lo, cf_hi = inv(eta_cf), inv(eta_cf - q * se_cf), inv(eta_cf + q * se_cf)
    held = np.zeros_like(line)  # how far the counterfactual is moved to stay within the bounds
    if is_ols and (lower_bound is not None or upper_bound is not None):
        raw = line
        line, cf_lo, cf_hi = (np.clip(v, lower_bound, upper_bound) for v in (line, cf_lo, cf_hi))
        held = line - raw
    cf = line.copy()
    after_mask = win == "after"
    cf[~after_mask], cf_lo[~after_mask], cf_hi[~after_mask] = np.nan, np.nan, np.nan
    # the pre-change line is drawn through the before window too, as the reference for "after"
    cf[: before_idx[-1] + 1] = line[: before_idx[-1] + 1]
    last = len(win) - 1
    bound_at_last = None
    if held[last] != 0:
        bound_at_last = lower_bound if held[last] > 0 else upper_bound
    z_cf = eta_cf[last] / se_cf[last] if se_cf[last] > 0 else float("nan")
    p_cf = 2 * stats.t.sf(abs(z_cf), res_hac.df_resid) if is_ols else 2 * stats.norm.sf(abs(z_cf))
    se_scale = se_cf[last] if is_ols and bound_at_last is None else None
    counterfactual: Coefficient | None = Coefficient(
        estimate=float(line[last]),
        se=_num(se_scale),
        ci_low=_num(cf_lo[last]),
        ci_high=_num(cf_hi[last]),
        pvalue=_num(p_cf) if is_ols and bound_at_last is None else None,
    )
    cf_note = ""
    if before_idx.size < min_baseline_points:
        counterfactual = bound_at_last = None
        cf[:], cf_lo[:], cf_hi[:] = np.nan, np.nan, np.nan
        # words that follow "counterfactual" in a sentence or as a table cell beside it
        cf_note = (
            f"withheld because the baseline has only {count_of(int(before_idx.size), 'period')}, "
            f"fewer than the {min_baseline_points} a phase needs, too few to carry its trend "
            "forward"
        )
    first_after = int(np.flatnonzero(after_mask)[0])
    natural = _natural_scale(
        kind, params=params, cov=cov, q=q, x_fit=X_all, x_cf=X_cf,
        first=first_after, last=last if counterfactual is not None else None,
        ci=np.asarray(res_hac.conf_int(alpha=alpha))[:k], held=held,
    )  # fmt: skip
    resid = np.asarray(res_cl.resid if is_ols else _pearson_resid(res_cl), dtype=float)
    lb_p: float | None = None
    dw = float("nan")
    if float(np.sum((resid - resid.mean()) ** 2)) > 0:  # a perfect fit has no autocorrelation
        dw = float(durbin_watson(resid))
        try:
            lb = acorr_ljungbox(resid, lags=[ljung_box_lags], return_df=True)
            lb_p = _num(lb["lb_pvalue"].iloc[0])
        except (ValueError, ZeroDivisionError):
            lb_p = None
    rate = y_all / n_all if kind != Kind.CONTINUOUS else y_all
    series = pd.DataFrame(
        {
            "time": list(times),
            "t": t_all,
            "value": rate,
            "window": win,
            "post": post_all,
            "t_after": t_after_all,
            "fitted": fitted,
            "counterfactual": cf,
            "counterfactual_low": cf_lo,
            "counterfactual_high": cf_hi,
            "counterfactual_held": (held != 0) & np.isfinite(cf),
        }
    )
    return SegmentedRegression(
        model=model,
        cov_type=f"HAC (Newey-West, Bartlett, maxlags={L})",
        maxlags=L,
        coefficients=_coefs(res_hac, alpha),
        classical=_coefs(res_cl, alpha),
        counterfactual=counterfactual,
        counterfactual_time=list(times)[last],
        observed_fitted=float(inv(eta_fit[last])),
        durbin_watson=dw,
        ljung_box_pvalue=lb_p,
        ljung_box_lags=ljung_box_lags,
        alpha=alpha,
        natural_scale=natural,
        counterfactual_note=cf_note,
        counterfactual_bound=bound_at_last,
        n_before=int(before_idx.size),
        is_event_order=is_event_order,
        series=series,
    )


def _flat_segmented(
    times: Sequence[Any],
    y_all: np.ndarray,
    *,
    window: np.ndarray,
    t: np.ndarray,
    t_last_before: float,
    alpha: float,
    maxlags: int | None,
    ljung_box_lags: int,
    min_baseline_points: int,
    is_event_order: bool,
) -> SegmentedRegression:
    """The segmented regression of a series that does not vary (:func:`has_no_variation`):
    the line is the series' one level, with no slope, no level change and no slope change, and
    no standard error, interval, p-value or autocorrelation (all would come from rounding)."""
    keep = window != "transition"
    level = float(np.mean(y_all[keep]))
    before_n = int(np.sum(window == "before"))
    post = (window == "after").astype(float)
    t_after = (t - t_last_before) * post

    def exact(estimate: float) -> Coefficient:
        return Coefficient(estimate=estimate, se=None, ci_low=None, ci_high=None, pvalue=None)

    coefs = {name: exact(level if name == "intercept" else 0.0) for name in COEFFICIENT_NAMES}
    none = ScaledEffect(estimate=0.0, ci_low=None, ci_high=None)
    is_withheld = before_n < min_baseline_points
    cf_note = (
        f"withheld because the baseline has only {count_of(before_n, 'period')}, "
        f"fewer than the {min_baseline_points} a phase needs, too few to carry its trend "
        "forward"
        if is_withheld
        else ""
    )
    line = np.full(len(window), np.nan if is_withheld else level)
    nan = np.full(len(window), np.nan)
    series = pd.DataFrame(
        {
            "time": list(times),
            "t": t,
            "value": y_all,
            "window": window,
            "post": post,
            "t_after": t_after,
            "fitted": np.where(keep, level, np.nan),
            "counterfactual": line,
            "counterfactual_low": nan,
            "counterfactual_high": nan,
            "counterfactual_held": np.zeros(len(window), dtype=bool),
        }
    )
    L = maxlags if maxlags is not None else newey_west_lags(int(keep.sum()))
    return SegmentedRegression(
        model="OLS",
        cov_type=NO_VARIATION,
        maxlags=L,
        coefficients=coefs,
        classical=dict(coefs),
        counterfactual=None if is_withheld else exact(level),
        counterfactual_time=list(times)[-1],
        observed_fitted=level,
        durbin_watson=float("nan"),
        ljung_box_pvalue=None,
        ljung_box_lags=ljung_box_lags,
        alpha=alpha,
        natural_scale=NaturalScale(
            ratio=None,
            scale="difference",
            level_change=none,
            slope_change=none,
            level_difference=none,
            end_difference=None if is_withheld else none,
        ),  # fmt: skip
        counterfactual_note=cf_note,
        n_before=before_n,
        is_event_order=is_event_order,
        is_constant=True,
        series=series,
    )


def _natural_scale(
    kind: str,
    *,
    params: np.ndarray,
    cov: np.ndarray,
    q: float,
    x_fit: np.ndarray,
    x_cf: np.ndarray,
    first: int,
    last: int | None,
    ci: np.ndarray,
    held: np.ndarray | None = None,
) -> NaturalScale:
    """:class:`NaturalScale` from the HAC fit (``params``, ``cov`` and ``ci`` of b0..b3).
    ``held`` is how far each row's counterfactual was moved to stay within the metric's bounds
    (:func:`segmented_regression`): a difference is taken against the held counterfactual, its
    interval moved by the same known amount."""
    ratio, scale = NATURAL_SCALES[str(kind)]

    def coef(i: int) -> ScaledEffect:
        if ratio is None:
            return ScaledEffect(estimate=float(params[i]), ci_low=_num(ci[i, 0]),
                                ci_high=_num(ci[i, 1]))  # fmt: skip
        return ScaledEffect(estimate=float(np.exp(params[i])), ci_low=_num(np.exp(ci[i, 0])),
                            ci_high=_num(np.exp(ci[i, 1])))  # fmt: skip

    def inv_and_slope(eta: float) -> tuple[float, float]:
        # the inverse link and its derivative (the delta method's gradient factor)
        if kind == Kind.PROPORTION:
            p = 1.0 / (1.0 + math.exp(-eta))
            return p, p * (1.0 - p)
        if kind == Kind.COUNT:
            r = math.exp(eta)
            return r, r
        return eta, 1.0

    def difference(i: int) -> ScaledEffect:
        x1, x0 = x_fit[i], x_cf[i]
        g1, d1 = inv_and_slope(float(x1 @ params))
        g0, d0 = inv_and_slope(float(x0 @ params))
        grad = d1 * x1 - d0 * x0
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        factor = 100.0 if kind == "proportion" else 1.0
        est = g1 - g0 - (float(held[i]) if held is not None else 0.0)
        return ScaledEffect(estimate=factor * est, ci_low=_num(factor * (est - q * se)),
                            ci_high=_num(factor * (est + q * se)))  # fmt: skip

    return NaturalScale(
        ratio=ratio,
        scale=scale,
        level_change=coef(2),
        slope_change=coef(3),
        level_difference=difference(first),
        end_difference=None if last is None else difference(last),
    )


def _pearson_resid(res: Any) -> np.ndarray:
    if hasattr(res, "resid_pearson"):
        return np.asarray(res.resid_pearson)
    return np.asarray(res.resid)


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------


def _coerce_like(value: Any, times: pd.Series, label: str) -> Any:
    if value is None:
        return None
    if pd.api.types.is_datetime64_any_dtype(times):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise StatisticsError(f"{label} {value!r} is not a date", column="time") from exc
        tz = getattr(times.dt, "tz", None)
        if tz is not None and ts.tzinfo is None:
            ts = ts.tz_localize(tz)
        return ts
    if pd.api.types.is_numeric_dtype(times):
        try:
            return float(value)
        except (ValueError, TypeError) as exc:
            raise StatisticsError(
                f"{label} {value!r} is not a number like the time column", column="time"
            ) from exc
    return value


def _time_text(value: Any) -> str:
    """A time of the data as a person reads it in a message: a date, or the number itself."""
    if isinstance(value, pd.Timestamp | np.datetime64):
        return fmt_date(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def label_windows(
    times: pd.Series,
    *,
    change_at: Any,
    transition_start: Any = None,
    start: Any = None,
    end: Any = None,
) -> pd.Series:
    """'before' / 'transition' / 'after' / None (outside start..end) for every time."""
    change_at = _coerce_like(change_at, times, "the change date")
    transition_start = _coerce_like(transition_start, times, "the transition start")
    start = _coerce_like(start, times, "the window start")
    end = _coerce_like(end, times, "the window end")
    if transition_start is not None and transition_start > change_at:
        raise StatisticsError(
            f"the transition starts on {_time_text(transition_start)}, after the change on "
            f"{_time_text(change_at)}: it must start on or before the change (the periods from "
            "its start up to the change are left out)"
        )
    cut = transition_start if transition_start is not None else change_at
    inside = pd.Series(True, index=times.index)
    if start is not None:
        inside &= times >= start
    if end is not None:
        inside &= times <= end
    lab = pd.Series(None, index=times.index, dtype=object)
    lab[inside & (times < cut)] = "before"
    lab[inside & (times >= cut) & (times < change_at)] = "transition"
    lab[inside & (times >= change_at)] = "after"
    return lab


def _short_window_text(
    label: str,
    count: int,
    times: pd.Series,
    *,
    metric: str,
    change_at: Any,
    transition_start: Any,
) -> str:
    """Why a before/after comparison cannot be made, in words: which side of the change is
    short, by the dates the caller gave, and the dates the data cover."""
    of = f" for {metric!r}" if metric else ""
    if label == "before":
        if transition_start is not None:
            side = f"before the transition starts on {_time_text(transition_start)}"
        else:
            side = f"before the change on {_time_text(change_at)}"
    else:
        side = f"on or after the change on {_time_text(change_at)}"
    cover = (
        f"the data run from {_time_text(times.iloc[0])} to {_time_text(times.iloc[-1])}"
        if len(times)
        else "no period has a value"
    )
    return (
        f"not enough data{of}: {count_of(count, 'period')} {side} (at least "
        f"{MIN_WINDOW_POINTS} are needed on each side of the change); {cover}"
    )


def estimate_impact(
    frame: pd.DataFrame,
    *,
    change_at: Any,
    transition_start: Any = None,
    start: Any = None,
    end: Any = None,
    kind: Kind = Kind.CONTINUOUS,
    alpha: float = 0.05,
    better: Better = Better.NEUTRAL,
    maxlags: int | None = None,
    exact: bool = False,
    min_baseline_points: int = 0,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    event_order: bool = False,
    metric: str = "",
) -> ImpactEstimate:
    """Before/after impact of one change on one metric.

    Parameters
    ----------
    frame
        One row per period in time order, columns ``time`` (dates or numbers), ``value`` and,
        for proportions (required) and counts (optional, default 1), ``n``. For proportions
        ``value`` is the number of events x out of n; if every value lies in [0, 1] and some are
        not whole numbers, ``value`` is read as the proportion and x = value * n.
    change_at
        First time of the after window (the effective date).
    transition_start
        Start of the transition (the event's start date); rows in
        ``transition_start <= time < change_at`` are left out of every comparison.
    start, end
        Optional window limits: before = ``start <= time < (transition_start or change_at)``,
        after = ``change_at <= time <= end``.
    kind
        ``continuous`` (Welch / ranks / OLS), ``proportion`` (two-proportion test, binomial GLM)
        or ``count`` (Poisson or negative binomial GLM with offset log(n)).
    better
        Which direction is an improvement; sets :attr:`ImpactEstimate.direction`.
    exact
        The exact rank test and Hodges-Lehmann interval in ``mann_whitney`` (R's
        ``wilcox.test(after, before, exact=TRUE, conf.int=TRUE)``); ties are then an error.
    min_baseline_points
        Fewest periods before the change from which the segmented regression extrapolates a
        counterfactual (see :func:`segmented_regression`); the report passes its
        ``min_phase_points``.
    lower_bound, upper_bound
        The values a continuous metric can take; the segmented regression's counterfactual is
        held within them (see :func:`segmented_regression`).
    event_order
        Number the segmented regression's time by event (each row with a value one step), as
        :func:`pipeline.stats.verdicts.judge_change` does for g and t charts, whose points are
        events (days between incidents), not periods: on the calendar grid the step was the
        smallest gap between two incidents, and a slope "per point" was per day.
    metric
        The metric's name, for the message when a window is too short.

    Raises
    ------
    StatisticsError
        When a window has fewer than 2 periods, a column is missing or not numeric, times repeat,
        or n is not positive. (The segmented regression alone needs 5 periods; with fewer it is
        None and a note says "not enough data".)
    """
    if not 0 < alpha < 1:
        raise StatisticsError(f"alpha must be between 0 and 1, got {alpha}")
    if kind not in tuple(Kind):
        raise StatisticsError(f"unknown kind {kind!r}: use continuous, proportion or count")
    if better not in tuple(Better):
        raise StatisticsError(f"unknown better {better!r}: use lower, higher or neutral")
    for col in ("time", "value") + (("n",) if kind == Kind.PROPORTION else ()):
        if col not in frame.columns:
            raise StatisticsError(f"missing column {col!r}", column=col)
    df = frame.reset_index(drop=True)
    value = pd.to_numeric(df["value"], errors="coerce")
    bad = df.index[value.isna() & df["value"].notna()].tolist()
    if bad:
        raise StatisticsError("values that are not numbers", column="value", rows=bad)
    if "n" in df.columns:
        n = pd.to_numeric(df["n"], errors="coerce")
        bad = df.index[~(n > 0) & value.notna()].tolist()
        if bad:
            raise StatisticsError("n must be a positive number", column="n", rows=bad)
    else:
        n = pd.Series(1.0, index=df.index)
    dup = df.index[df["time"].duplicated(keep=False)].tolist()
    if dup:
        raise StatisticsError(
            "more than one row per period",
            column="time",
            rows=dup,
            hint="aggregate to one row per period first",
        )
    if not df["time"].is_monotonic_increasing:
        order = np.argsort(df["time"].to_numpy(), kind="stable")
        df, value, n = df.iloc[order], value.iloc[order], n.iloc[order]
    notes: list[str] = []
    if event_order:
        grid = pd.Series(np.nan, index=df.index)
        grid[value.notna()] = np.arange(1.0, float(value.notna().sum()) + 1.0)
    else:
        grid = pd.Series(period_numbers(df["time"]), index=df.index)
    if value.isna().any():
        n_na = int(value.isna().sum())
        notes.append(
            f"{count_of(n_na, 'period')} without a value {'was' if n_na == 1 else 'were'} left out."
        )
    keep = value.notna()
    df, value, n = df[keep], value[keep].astype(float), n[keep].astype(float)
    if kind == Kind.PROPORTION:
        if value.between(0, 1).all() and (value != value.round()).any():
            value = value * n
            notes.append("values were read as proportions (x = value * n).")
        bad = df.index[(value > n) | (value < 0)].tolist()
        if bad:
            raise StatisticsError("events must lie between 0 and n", column="value", rows=bad)
    if kind == Kind.COUNT:
        bad = df.index[value < 0].tolist()
        if bad:
            raise StatisticsError("counts must not be negative", column="value", rows=bad)

    labels = label_windows(
        df["time"], change_at=change_at, transition_start=transition_start, start=start, end=end
    )
    in_range = labels.notna()
    win = labels[in_range].to_numpy()
    times = df["time"][in_range]
    t_grid = grid[keep][in_range].to_numpy()
    y = value[in_range].to_numpy()
    nn = n[in_range].to_numpy()
    bm, am = win == "before", win == "after"
    for label, mask in (("before", bm), ("after", am)):
        if mask.sum() < MIN_WINDOW_POINTS:
            raise StatisticsError(
                _short_window_text(
                    label,
                    int(mask.sum()),
                    times,
                    metric=metric,
                    change_at=_coerce_like(change_at, df["time"], "the change date"),
                    transition_start=_coerce_like(
                        transition_start, df["time"], "the transition start"
                    ),
                )  # fmt: skip
            )

    rate = y if kind == Kind.CONTINUOUS else y / nn
    rb, ra = rate[bm], rate[am]
    proportion_ratio = rate_ratio = model = None
    family = None
    if kind == Kind.CONTINUOUS:
        before, after = summarise_window(rb), summarise_window(ra)
        difference = compare_means(rb, ra, alpha=alpha)
        pct = percent_change_ci(rb, ra, alpha=alpha)
    else:
        xb, xa, nb, na = y[bm].sum(), y[am].sum(), nn[bm].sum(), nn[am].sum()
        sb, sa = summarise_window(rb), summarise_window(ra)
        before = WindowSummary(n=sb.n, mean=float(xb / nb), median=sb.median, sd=sb.sd)
        after = WindowSummary(n=sa.n, mean=float(xa / na), median=sa.median, sd=sa.sd)
        if kind == Kind.PROPORTION:
            difference, ratio = compare_proportions(xb, nb, xa, na, alpha=alpha)
            proportion_ratio = ratio
            model = ModelChoice(
                family="binomial",
                link="logit",
                dispersion=None,
                reason="events out of n: binomial GLM for the segmented regression",
            )
        else:
            sel = bm | am
            difference, ratio, model = compare_rates(y[sel], nn[sel], am[sel], alpha=alpha)
            rate_ratio = ratio
            family = model.family
        pct = PercentChange(
            estimate=None if ratio.estimate is None else 100 * (ratio.estimate - 1),
            ci_low=None if ratio.ci_low is None else 100 * (ratio.ci_low - 1),
            ci_high=None if ratio.ci_high is None else 100 * (ratio.ci_high - 1),
            method=f"100 * (ratio - 1) from the {ratio.method}",
        )
    g = hedges_g(rb, ra)
    mw = compare_ranks(rb, ra, alpha=alpha, exact=exact)
    try:
        seg = segmented_regression(
            list(times),
            y,
            window=win,
            kind=kind,
            n=nn,
            alpha=alpha,
            maxlags=maxlags,
            family=family,
            t=t_grid,
            min_baseline_points=min_baseline_points,
            lower_bound=lower_bound,
            upper_bound=upper_bound,
            is_event_order=event_order,
        )
    except StatisticsError as exc:
        seg = None
        notes.append(f"Segmented regression: {exc}.")
    return ImpactEstimate(
        kind=kind,
        alpha=alpha,
        better=better,
        change_at=change_at,
        before=before,
        after=after,
        difference=difference,
        percent_change=pct,
        hedges_g=g,
        mann_whitney=mw,
        segmented_regression=seg,
        proportion_ratio=proportion_ratio,
        rate_ratio=rate_ratio,
        model=model,
        notes=tuple(notes),
    )
