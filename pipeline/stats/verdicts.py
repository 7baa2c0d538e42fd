"""One verdict per (event, metric): did the improvement work, and is it holding?

The verdict is a claim, so it rests on one pre-specified testing procedure whose false-credit rate
is controlled on process data that are autocorrelated and may already be trending
(``benchmarks/bench_verdicts.py`` measures it by simulation).

The model. On the full period grid (a missing period is a gap, it shifts nothing), the before and
after windows (the transition is left out) are fitted with

    g(E y_t) = b0 [+ b1 (t - t0)] + d_post * after_t + d_late * late_t

where ``after_t`` is 1 in the after window, ``late_t`` is 1 in its second half, and the trend term
is there when a trend explains the series better than a step (below; then every
effect is measured against the baseline's extrapolated line, the counterfactual, held within the
metric's possible values). ``g`` is the identity for continuous metrics (OLS), the logit for
proportions (binomial GLM on events out of n) and the log for counts (Poisson GLM, offset log n;
c charts have n = 1). The coefficients are generalised least squares estimates with correlated
errors on the period grid,

    b = (X'W^1/2 R^-1 W^1/2 X)^-1 X'W^1/2 R^-1 W^1/2 z,   V = s2 (X'W^1/2 R^-1 W^1/2 X)^-1

(feasible GLS for OLS; for GLMs one scoring step from the independence fit of GEE with that
working correlation, Liang & Zeger 1986, with z the working response and W the GLM weights).

- Continuous metrics: AR(1), ``R_ij = phi^|t_i - t_j|``. ``phi`` is the lag-1 autocorrelation of
  the residuals, bias-corrected for the design by solving E[e'Ae] / E[e'e] = r_obs with
  E[e'Ae] = tr(M A M R(phi)) (M the residual maker; the first-order correction of Marriott &
  Pope 1954 generalised to any regression design), clipped to [0, 0.98].
- Counts and proportions: a latent AR(1) on the link scale under binomial / Poisson sampling
  noise (the parameter-driven model of Zeger 1988) makes the Pearson residuals an AR(1) plus
  white noise, ``R = share * rho^|t_i - t_j| + (1 - share) I``; ``rho`` and ``share`` are REML
  estimates (Patterson & Thompson 1971). An AR(1) fitted to such residuals takes the small lag-1
  correlation for the whole story and understates the long-run variance: on the u chart it
  credited 7-8% of unchanged series at phi 0.5-0.6 (benchmarks/README.md).
- A series the model fits exactly (a constant one, an exact step; residuals below
  ``EXACT_FIT_RTOL`` of the data's magnitude) has nothing to correlate: R = I, and its
  autocorrelation is reported as none rather than a value computed from rounding noise. A count
  or proportion with no event at all (or every unit an event) is judged before any fit: the
  log / logit model has no finite fit there, and the verdict says the data cannot show a change.
  So is a measured series with one value throughout (``impact.has_no_variation``): no clear
  change, an effect of 0 with no interval or p-value ("no variation: no test possible").

``s2 = e'R^-1 e / (n - k)`` is the residual variance (the dispersion for GLMs, at least 1, which
allows for over-dispersion as Laney's charts do). Tests use the t distribution on the GLS residual
degrees of freedom ``n - k`` (the simulation showed the effective-sample-size df
``n (1 - phi) / (1 + phi) - k`` of Bayley & Hammersley 1946 only cost power).

The baseline trend: a trend or a step? A real trend keeps going through the after window; a step
leaves the series flat after a jump at the event. Both explanations are fitted at once, on the
whole series, in the nesting model ``C = [1, t, after, late]``, and the trend is modelled when

- the slope is the clearer of the two, ``|t_slope| > |t_step|`` (the Wald statistics of C's slope
  and of its step at the event, ``after``, on C's covariance), or
- the step goes against a slope that is clear at ``alpha`` (two-sided t on C's df): a trend the
  change bent or reversed is judged against its line.

For continuous metrics the first condition is exactly the choice between the two models of three
parameters each, the trend model ``B = [1, t, late]`` and the step model ``A = [1, after, late]``,
by their fit under C's working correlation: ``Q_B - Q_A = s2_C (t_step^2 - t_slope^2)``, ``Q`` the
GLS quadratic form ``e'R^-1 e`` of each model's residuals (models of equal size, so likelihood,
AIC and BIC choose alike; non-nested models compared through their common encompassing model,
Mizon & Richard 1986). Every baseline slope goes through the same comparison, whatever its
p-value on the baseline alone (reported as ``trend_pvalue``): a slope that is clear in the
baseline but not carried on by the after window is not extrapolated over it.

The rule never looks at which direction is better, so swapping it swaps improvement and worsening
exactly. Adding a step to the after window leaves C's slope, its standard error and C's
correlation unchanged (C has the step column) and moves only the step's t, so along a growing
step the trend can only be given up or taken up where ``|t_step|`` crosses ``|t_slope|``. With a
clear slope that happens only on the slope's own side, where the model without the trend credits
the gain at least as much as the trend's line does; without the second condition a bigger gain
against a clear trend could drop the trend's line and with it the credit (a test keeps that
case). With a slope that is not clear the switch can also come where a step against the slope
shrinks; the property tests and a stress run of 300 pairs of series with baseline slopes found no
case of a bigger effect lowering the verdict (the comparison alone had 6).

Missing a trend credits (or blames) the event with the drift; modelling one that is not there
widens the interval (the line is extrapolated over the after window) and so costs power. The
simulation (benchmarks/README.md) measured the trade-off: at phi 0.5 a step-only test that never
models a trend has 80% power for a 1.2 SD step (the ceiling with phi known, measured: 87%)
and credits about 70% of prior trends; this rule credits under 10% of prior trends on every chart
for about 10 points of that power.

The procedure (a graphical multiple-testing procedure, Bretz et al. 2009; it controls the
family-wise error rate at ``alpha``):

1. ``H_overall``: d_post + d_late * (share of late points) = 0, the mean effect over the whole
   after window (for GLMs: the exposure-weighted mean fitted level of the after window equals the
   counterfactual's, tested on the log / logit of those means; see ``_mean_effect``), at level ``alpha * (1 - EARLY_SHARE)``;
2. ``H_early``: d_post = 0, the first half only (a gain that later faded), at
   ``alpha * EARLY_SHARE``;
3. ``H_fade``: d_late = 0 (late half against early half), tested once ``H_overall`` is rejected
   at its level (the graph's edge H_overall -> H_fade passes that alpha on; not adding H_early's
   share keeps the verdict monotone in the size of the gain).

The direction comes from ``H_overall`` when it is rejected, else from ``H_early``. A rejection on
the improving side is a credited improvement: ``faded`` when ``H_fade`` is rejected with the late
half worse, or when only the early half was a clear gain; otherwise ``sustained``. A rejection on
the worsening side is ``worsened``; no rejection is ``no_clear_change``. A metric with no better
direction (``better: neutral``) has no improving side: a rejection of ``H_overall`` or
``H_early`` is ``changed``, which is never credited. Fewer than ``sustain_points`` observed periods after the change (or fewer
than ``MIN_BEFORE_POINTS`` before) is ``too_early``; a window shorter than ``min_phase_points``
makes the verdict provisional.

References
----------
Bayley, G. V. & Hammersley, J. M. (1946). The "effective" number of independent observations in an
autocorrelated time series. JRSS Suppl. 8, 184-197.
Bretz, F., Maurer, W., Brannath, W. & Posch, M. (2009). A graphical approach to sequentially
rejective multiple test procedures. Statistics in Medicine 28, 586-604.
Liang, K.-Y. & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear models.
Biometrika 73, 13-22.
Marriott, F. H. C. & Pope, J. A. (1954). Bias in the estimation of autocorrelations.
Biometrika 41, 390-402.
Mizon, G. E. & Richard, J.-F. (1986). The encompassing principle and its application to testing
non-nested hypotheses. Econometrica 54, 657-678.
Patterson, H. D. & Thompson, R. (1971). Recovery of inter-block information when block sizes are
unequal. Biometrika 58, 545-554 (REML).
Wagner, A. K. et al. (2002). Segmented regression analysis of interrupted time series studies in
medication use research. J Clin Pharm Ther 27, 299-309 (the counterfactual from the baseline line).
Zeger, S. L. (1988). A regression model for time series of counts. Biometrika 75, 621-629.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import linalg, optimize, special, stats

from pipeline.exceptions import StatisticsError
from pipeline.formatting import confidence_level, count_of, fmt_number, fmt_pvalue, html_tables
from pipeline.stats.firth import fit_firth, is_separated
from pipeline.stats.impact import NO_VARIATION, has_no_variation, label_windows, period_numbers
from pipeline.vocabulary import Better, Kind, Verdict

#: The verdict values, in the order the report ranks them.
OUTCOMES = tuple(Verdict)
#: Share of alpha spent on the early-half look (the rest goes to the whole after window).
EARLY_SHARE = 0.1
#: Fewest observed periods before the change for any verdict.
MIN_BEFORE_POINTS = 4
#: Largest autocorrelation used (beyond it the series is close to a random walk).
MAX_PHI = 0.98

#: Residuals this small (root mean square, relative to the data's magnitude, on the data's
#: scale: values, events, counts) are rounding, not variation. A constant series' residuals are
#: ~1e-16 times its level, and their "autocorrelation" (0.98 on a constant series before this
#: check, 0.95 on proportions without a single event) would describe floating-point noise.
EXACT_FIT_RTOL = 1e-9


def _p_text(p: float | None) -> str:
    """``= 0.012`` or ``< 0.001`` (the house p-value format, with its relation)."""
    text = fmt_pvalue(p)
    return text if text.startswith("<") else f"= {text}"


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """One effect with its interval on the data's scale, and its test on the model's scale.

    ``scale``: ``difference`` (continuous: after - counterfactual in the metric's unit),
    ``percentage_points`` (proportions: 100 * (p_after - p_counterfactual)) or
    ``rate_difference`` (counts per unit of n). ``relative`` is the change relative to the
    counterfactual in percent, with its interval (named relative wherever it is shown).
    """

    estimate: float
    ci_low: float | None
    ci_high: float | None
    pvalue: float | None
    scale: str
    relative: float | None = None
    relative_low: float | None = None
    relative_high: float | None = None
    nobs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": _num(self.estimate),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "pvalue": _num(self.pvalue),
            "scale": self.scale,
            "relative": _num(self.relative),
            "relative_low": _num(self.relative_low),
            "relative_high": _num(self.relative_high),
            "nobs": int(self.nobs),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EventVerdict:
    """What became of one improvement on one metric (see the module docstring for the rule).

    ``effect`` is the one effect figure every page shows: the mean effect over the whole after
    window against the counterfactual, with its ``1 - alpha`` interval. ``early``, ``late`` and
    ``fade`` (late - early) are the halves the procedure also looks at.
    """

    outcome: Verdict
    reasons: tuple[str, ...]
    is_provisional: bool
    alpha: float
    method: str
    effect: Effect | None = None
    early: Effect | None = None
    late: Effect | None = None
    fade: Effect | None = None
    baseline_level: float | None = None
    after_level: float | None = None
    has_trend: bool = False
    trend_pvalue: float | None = None
    autocorrelation: float | None = None
    dispersion: float | None = None
    df: float | None = None
    levels: tuple[float, float, float] | None = None  # alpha of H_overall, H_early, H_fade
    n_before: int = 0
    n_after: int = 0
    n_missing: int = 0
    #: Every period before and after the change has the same value: the effect is 0 with no
    #: interval and no test (``reasons`` say "no variation: no test possible").
    is_constant: bool = False

    @property
    def is_credited(self) -> bool:
        """True when the verdict credits the event with an improvement."""
        return self.outcome.is_credited

    @property
    def interval_level(self) -> float:
        return 1.0 - self.alpha

    @property
    def lacks_baseline(self) -> bool:
        """Not judged for too few periods of data *before* the change (fewer than
        :data:`MIN_BEFORE_POINTS`): unlike too few after it, waiting will not help (an event
        dated before the data start, say)."""
        return self.outcome == Verdict.TOO_EARLY and self.n_before < MIN_BEFORE_POINTS

    @property
    def figure(self) -> dict[str, Any] | None:
        """The one effect figure every page shows: for proportions the difference in
        percentage points, otherwise the change relative to the counterfactual in percent
        (comparable across metrics and sites); None when there is no effect."""
        e = self.effect
        if e is None:
            return None
        if e.scale == "percentage_points" or e.relative is None:
            unit = "percentage_points" if e.scale == "percentage_points" else "difference"
            return {"estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high,
                    "unit": unit, "relative": e.relative}  # fmt: skip
        return {"estimate": e.relative, "ci_low": e.relative_low, "ci_high": e.relative_high,
                "unit": "percent", "relative": e.relative}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome),
            "reasons": list(self.reasons),
            "is_provisional": self.is_provisional,
            "alpha": self.alpha,
            "method": self.method,
            "figure": None
            if self.figure is None
            else {k: (_num(v) if k != "unit" else v) for k, v in self.figure.items()},
            "effect": self.effect.to_dict() if self.effect else None,
            "early": self.early.to_dict() if self.early else None,
            "late": self.late.to_dict() if self.late else None,
            "fade": self.fade.to_dict() if self.fade else None,
            "baseline_level": _num(self.baseline_level),
            "after_level": _num(self.after_level),
            "has_trend": self.has_trend,
            "trend_pvalue": _num(self.trend_pvalue),
            "autocorrelation": _num(self.autocorrelation),
            "dispersion": _num(self.dispersion),
            "df": _num(self.df),
            "levels": None
            if self.levels is None
            else {"overall": self.levels[0], "early": self.levels[1], "fade": self.levels[2]},
            "n_before": self.n_before,
            "n_after": self.n_after,
            "n_missing": self.n_missing,
            "is_constant": self.is_constant,
        }

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for name in ("effect", "early", "late", "fade"):
            e = getattr(self, name)
            if e is not None:
                rows.append({"term": name, **e.to_dict()})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        return f"{self.outcome}{' (provisional)' if self.is_provisional else ''}: " + "; ".join(
            self.reasons
        )

    def _repr_html_(self) -> str:
        return html_tables((str(self.outcome), pd.DataFrame({"reason": list(self.reasons)})))


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fit:
    params: np.ndarray
    cov: np.ndarray
    df: float
    phi: float
    scale: float
    link_inv: Any
    eta_offset: np.ndarray  # offset per fitted row (log n for counts), else zeros
    corr: np.ndarray  # the working correlation R of the fitted rows
    quad: float  # e'R^-1 e of the GLS (working / Pearson) residuals
    is_exact: bool = False  # the model fits every point (a constant series): phi is undefined


def _design_phi(e: np.ndarray, Xw: np.ndarray, tt: np.ndarray) -> tuple[float, np.ndarray]:
    """Design-corrected lag-1 autocorrelation of residuals ``e`` on grid positions ``tt``, and
    the residual maker M (see the module docstring)."""
    n = e.size
    H = Xw @ np.linalg.pinv(Xw.T @ Xw) @ Xw.T
    M = np.eye(n) - H
    lag = np.abs(np.subtract.outer(tt, tt))
    A = (lag == 1).astype(float) / 2.0
    denom = float(e @ e)
    if denom <= 0 or not A.any():
        return 0.0, M
    r_obs = float(e @ A @ e) / denom
    MAM = M @ A @ M

    def expected(phi: float) -> float:
        R = phi**lag
        return float(np.sum(MAM * R) / np.sum(M * R))

    lo, hi = expected(0.0), expected(MAX_PHI)
    if r_obs <= lo:
        return 0.0, M
    if r_obs >= hi:
        return MAX_PHI, M
    return float(optimize.brentq(lambda p: expected(p) - r_obs, 0.0, MAX_PHI, xtol=1e-6)), M


def _ar1_noise_solve(
    tt: np.ndarray, rho: float, share: float, rhs: np.ndarray
) -> tuple[np.ndarray, float]:
    """``V^-1 rhs`` and ``log|V|`` for ``V = share R(rho) + (1 - share) I`` on the (possibly
    gapped) sorted grid ``tt``, in O(n): an AR(1) is Markov, so ``R^-1`` is tridiagonal
    (``x_{i+1} | x_i ~ N(a_i x_i, 1 - a_i^2)``, ``a_i = rho^(t_{i+1} - t_i)``), and Woodbury gives
    ``V^-1 = I / c - B^-1 / c^2`` with ``B = R^-1 / s + I / c`` (``s = share``, ``c = 1 - s``),
    ``log|V| = n log(s c) + log|R| + log|B|``. Banded solves, no dense factorisation (a threaded
    LAPACK eigen-decomposition of these small matrices ran seconds under load)."""
    n = tt.size
    rhs2 = rhs.reshape(n, -1)
    if rho <= 0.0 or share <= 0.0:
        return rhs, 0.0
    a = rho ** np.diff(tt)
    v = 1.0 - a**2  # conditional variances
    diag = np.ones(n)
    diag[1:] = 1.0 / v
    diag[:-1] += a**2 / v
    off = -a / v
    logdet_r = float(np.log(v).sum())
    if share >= 1.0:  # V = R: multiply by the tridiagonal R^-1
        sol = diag[:, None] * rhs2
        sol[:-1] += off[:, None] * rhs2[1:]
        sol[1:] += off[:, None] * rhs2[:-1]
        return sol.reshape(rhs.shape), logdet_r
    c = 1.0 - share
    band = np.vstack([np.append(0.0, off / share), diag / share + 1.0 / c])
    chol = linalg.cholesky_banded(band)
    logdet_b = 2.0 * float(np.log(chol[-1]).sum())
    sol = rhs2 / c - linalg.cho_solve_banded((chol, False), rhs2) / c**2
    return sol.reshape(rhs.shape), n * math.log(share * c) + logdet_r + logdet_b


def _reml_ar1_noise(e: np.ndarray, Xw: np.ndarray, tt: np.ndarray) -> tuple[float, float]:
    """REML estimates of ``(rho, share)`` in ``Cov(e) = s2 (share R(rho) + (1 - share) I)``,
    ``R_ij = rho^|t_i - t_j|``: residuals ``e`` of the (weighted) design ``Xw`` that are a
    stationary AR(1) plus white noise (an ARMA(1,1) on a regular grid). The restricted
    log-likelihood (Patterson & Thompson 1971), profiled over ``s2``, is maximised over ``rho``
    in ``[0, MAX_PHI]`` and ``share`` in ``[0, 1]`` from the best point of a coarse grid."""
    n, k = Xw.shape
    dfree = max(n - k, 1)
    both = np.column_stack([Xw, e])

    def neg_reml(theta: np.ndarray) -> float:
        rho, share = float(theta[0]), float(theta[1])
        sol, logdet_v = _ar1_noise_solve(tt, rho, share, both)
        XtX = Xw.T @ sol[:, :k]
        sign, logdet_x = np.linalg.slogdet(XtX)
        if sign <= 0:
            return 1e300
        u = Xw.T @ sol[:, k]
        quad = float(e @ sol[:, k]) - float(u @ np.linalg.solve(XtX, u))
        if not quad > 0:
            return 1e300
        return dfree * math.log(quad / dfree) + logdet_v + logdet_x

    grid = [(r, sh) for r in (0.1, 0.3, 0.5, 0.7, 0.85, 0.95) for sh in (0.3, 0.65, 1.0)]
    values = [neg_reml(np.array(th)) for th in grid]
    start = np.array(grid[int(np.argmin(values))])
    # a log-likelihood to about 0.001 is far finer than its sampling error
    opt = optimize.minimize(neg_reml, start, method="L-BFGS-B", bounds=[(0.0, MAX_PHI), (0.0, 1.0)],
                            options={"ftol": 1e-6})  # fmt: skip
    theta = opt.x if opt.fun < min(values) else start
    return float(theta[0]), float(theta[1])


def _fit(
    y: np.ndarray,
    n: np.ndarray,
    tt: np.ndarray,
    X: np.ndarray,
    kind: Kind,
    corr: tuple[np.ndarray, float] | None = None,
) -> _Fit:
    """Quasi-likelihood fit with an AR(1) working covariance (module docstring); ``corr``
    (a correlation matrix and its lag-1 value) fixes the working correlation instead of
    estimating it from this design's residuals (to compare designs under one correlation)."""
    k = X.shape[1]
    offset = np.zeros_like(y)
    with warnings.catch_warnings():
        # a perfect fit or a zero count makes statsmodels warn; the covariance below copes
        warnings.simplefilter("ignore")
        if kind == "continuous":
            res = sm.OLS(y, X).fit()
            ml_params, mu = np.asarray(res.params, dtype=float), np.asarray(res.fittedvalues)
            w = np.ones_like(y)
            e = np.asarray(res.resid, dtype=float)

            def link_inv(v: Any) -> Any:
                return v

        elif kind == "proportion":
            res = sm.GLM(np.column_stack([y, n - y]), X, family=sm.families.Binomial()).fit()
            mu = np.asarray(res.fittedvalues, dtype=float)
            ml_params = np.asarray(res.params, dtype=float)
            if is_separated(mu, is_proportion=True):  # no finite ML fit: Firth's
                ml_params, events = fit_firth(y, n, X, kind)
                mu = events / n
            w = n * mu * (1 - mu)
            e = (y - n * mu) / np.sqrt(np.maximum(w, 1e-12))

            def link_inv(v: Any) -> Any:
                return special.expit(v)

        else:
            offset = np.log(n)
            res = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit()
            mu = np.asarray(res.fittedvalues, dtype=float)
            ml_params = np.asarray(res.params, dtype=float)
            if is_separated(mu / n, is_proportion=False):
                ml_params, mu = fit_firth(y, n, X, kind)
            w = mu
            e = (y - mu) / np.sqrt(np.maximum(w, 1e-12))

            def link_inv(v: Any) -> Any:
                return np.exp(v)

    params = ml_params
    Xw = X * np.sqrt(w)[:, None]
    lag = np.abs(np.subtract.outer(tt, tt))
    # residuals on the data's own scale (events, counts), as the fit's rounding leaves them
    raw = y - mu * (n if kind == "proportion" else 1.0)
    is_exact = bool(np.sqrt(np.mean(raw**2)) <= EXACT_FIT_RTOL * (1.0 + float(np.max(np.abs(y)))))
    if is_exact:
        # nothing varies around the model, so there is no correlation to estimate or allow for
        R, phi = np.eye(lag.shape[0]), 0.0
    elif corr is not None:
        R, phi = corr
    elif kind == "continuous":
        phi, _ = _design_phi(e, Xw, tt)
        R = phi**lag
    else:
        # counts and proportions: a latent AR(1) on the link scale under binomial / Poisson
        # sampling noise (Zeger 1988) makes the Pearson residuals AR(1) plus white noise, whose
        # correlations decay from a lag-1 value far below the latent phi: an AR(1) fitted to
        # that lag-1 value understates the long-run variance (measured: 8% false credit at
        # phi 0.6 on the u chart), so both parts are estimated, by REML
        rho, share = _reml_ar1_noise(e, Xw, tt)
        R = share * rho**lag + (1.0 - share) * np.eye(lag.shape[0])
        phi = share * rho  # the lag-1 autocorrelation of the residuals, as for OLS
    # one generalised least squares step with the AR(1) correlation (for OLS this is feasible
    # GLS; for a GLM one Fisher-scoring step of GEE with an AR(1) working correlation)
    Rinv = np.linalg.inv(R)
    bread = np.linalg.pinv(Xw.T @ Rinv @ Xw)
    delta = bread @ Xw.T @ Rinv @ e
    params = params + delta
    e_g = e - Xw @ delta
    quad = float(e_g @ Rinv @ e_g)
    scale = quad / max(y.size - k, 1)
    if kind != "continuous":
        scale = max(scale, 1.0)  # never less variable than the binomial/Poisson model itself
    cov = scale * bread
    df = float(max(y.size - k, 1))
    return _Fit(
        params=params, cov=cov, df=df, phi=phi, scale=scale, link_inv=link_inv,
        eta_offset=offset, corr=R, quad=quad, is_exact=is_exact,
    )  # fmt: skip


def _test(fit: _Fit, c: np.ndarray) -> tuple[float, float, float]:
    """Contrast estimate, its standard error and two-sided p-value (t on ``fit.df``)."""
    est = float(c @ fit.params)
    se = float(math.sqrt(max(float(c @ fit.cov @ c), 0.0)))
    if not se > 1e-12 * (1.0 + float(np.max(np.abs(fit.params)))):
        # a series fitted exactly: a change is certain if there is one at all (rounding aside)
        tiny = abs(est) <= 1e-9 * (1.0 + float(np.max(np.abs(fit.params))))
        return (0.0 if tiny else est), 0.0, (1.0 if tiny else 0.0)
    return est, se, float(2 * stats.t.sf(abs(est / se), fit.df))


def _effect(
    fit: _Fit,
    c: np.ndarray,
    eta_cf: np.ndarray,
    *,
    kind: Kind,
    alpha: float,
    nobs: int,
    bounds: tuple[float | None, float | None] = (None, None),
) -> Effect:
    """The contrast ``c`` (link scale) as an effect on the data's scale at the counterfactual
    ``eta_cf`` of the periods it covers: ``mean(g^-1(eta_cf + c)) - mean(g^-1(eta_cf))``.
    The interval is the image of the link-scale interval (monotone in c), so it excludes zero
    exactly when the test rejects at ``alpha``.

    ``bounds`` (continuous metrics): the values the metric can take. A trend line carried
    forward may leave them (hours below zero); the counterfactual is then held at the bound,
    which moves the effect, its interval and its test by the same known amount."""
    est, se, p = _test(fit, c)
    q = float(stats.t.ppf(1 - alpha / 2, fit.df))
    if kind == "continuous" and (bounds[0] is not None or bounds[1] is not None):
        clipped = np.clip(eta_cf, bounds[0], bounds[1])
        shift = float(np.mean(clipped) - np.mean(eta_cf))
        if shift != 0:
            est = est - shift
            p = float(2 * stats.t.sf(abs(est / se), fit.df)) if se > 0 else p
        eta_cf = clipped
    lo, hi = est - q * se, est + q * se
    base = float(np.mean(fit.link_inv(eta_cf)))

    def on_scale(v: float) -> float:
        return float(np.mean(fit.link_inv(eta_cf + v))) - base

    d, dlo, dhi = on_scale(est), on_scale(lo), on_scale(hi)
    return _on_data_scale(d, dlo, dhi, base, kind=kind, pvalue=p, nobs=nobs)


def _on_data_scale(
    d: float, dlo: float, dhi: float, base: float, *, kind: Kind, pvalue: float, nobs: int
) -> Effect:
    """An effect ``d`` (interval ``dlo`` to ``dhi``) against the counterfactual level ``base``,
    on the data's scale: proportions in percentage points (x 100), and the change relative to
    ``base`` in percent whenever ``base`` is above 0 (a percentage of a negative level reverses
    its sign: a net loss halved would read "fell 50%"; of 0 it is undefined)."""
    factor = 100.0 if kind == "proportion" else 1.0
    rel = rlo = rhi = None
    if base > 0:
        rel, rlo, rhi = (100.0 * v / base for v in (d, dlo, dhi))
    return Effect(
        estimate=factor * d,
        ci_low=factor * dlo,
        ci_high=factor * dhi,
        pvalue=pvalue,
        scale={"continuous": "difference", "proportion": "percentage_points"}.get(
            kind, "rate_difference"
        ),
        relative=rel,
        relative_low=rlo,
        relative_high=rhi,
        nobs=nobs,
    )


def _mean_effect(
    fit: _Fit,
    X_after: np.ndarray,
    X_cf: np.ndarray,
    weights: np.ndarray,
    *,
    kind: Kind,
    alpha: float,
    nobs: int,
) -> Effect:
    """The whole after window's effect for a GLM: the exposure-weighted mean fitted level over
    the after periods against the counterfactual's, ``m1 = sum(w g^-1(X_after b)) / sum(w)`` and
    ``m0`` likewise from ``X_cf``. Counts: tested as ``log(m1 / m0)``, so the relative change is
    the rate ratio minus 1 (with no trend and no fade column, exactly the ratio of a Poisson GLM
    of value on the phase indicator with offset log n); proportions: ``logit(m1) - logit(m0)``,
    shown as ``100 (m1 - m0)`` percentage points. The mean of the link scale (a geometric mean for
    log) understates a level that moved within the window, so it is not used. Standard error by
    the delta method (Agresti 2013, sec. 16.1.6); the interval is the image of the test scale's
    interval, so it excludes zero exactly when the test rejects at ``alpha``; the difference's
    interval also spans the counterfactual level's own uncertainty (see the end of the body)."""
    w = weights / weights.sum()
    b = fit.params
    mu1, mu0 = fit.link_inv(X_after @ b), fit.link_inv(X_cf @ b)
    m1, m0 = float(w @ mu1), float(w @ mu0)
    # gradients of the test scale's log-odds / log of m1 and of m0 (the counterfactual level)
    if kind == "proportion":
        est = math.log(m1 / (1 - m1)) - math.log(m0 / (1 - m0))
        grad1 = ((w * mu1 * (1 - mu1)) @ X_after) / (m1 * (1 - m1))
        grad0 = ((w * mu0 * (1 - mu0)) @ X_cf) / (m0 * (1 - m0))
    else:
        est = math.log(m1) - math.log(m0)
        grad1 = ((w * mu1) @ X_after) / m1
        grad0 = ((w * mu0) @ X_cf) / m0
    grad = grad1 - grad0
    se = float(math.sqrt(max(float(grad @ fit.cov @ grad), 0.0)))
    if se > 1e-12 * (1.0 + abs(est)):
        p = float(2 * stats.t.sf(abs(est / se), fit.df))
    else:
        p = 1.0 if abs(est) <= 1e-9 else 0.0
    q = float(stats.t.ppf(1 - alpha / 2, fit.df))

    def level(v: float) -> float:
        # on the log / logit scale, so that a series without a single event (m0 ~ 1e-13,
        # a huge standard error) gives a wide interval instead of an overflow
        if kind == "proportion":
            return float(special.expit(special.logit(m0) + v))
        return float(np.exp(min(math.log(m0) + v, 700.0))) if m0 > 0 else 0.0

    d, dlo, dhi = (level(v) - m0 for v in (est, est - q * se, est + q * se))
    effect = _on_data_scale(d, dlo, dhi, m0, kind=kind, pvalue=p, nobs=nobs)
    # The difference's interval carries the counterfactual level's own uncertainty too: held at
    # m0, an after window without events read "fell 72.6 points (95% CI -72.6 to -72.5)". Its
    # ends are the widest the link-scale interval gives over m0's own interval (the sign of
    # g^-1(g(m) + v) - m is the sign of v for every m, so it still excludes zero exactly when
    # the test rejects), within the differences the metric can take from m0 (a proportion no
    # lower than -m0 or higher than 1 - m0, a rate no lower than -m0). The relative change
    # (the ratio's interval) does not depend on m0 and stays as it is.
    se0 = float(math.sqrt(max(float(grad0 @ fit.cov @ grad0), 0.0)))
    if m0 > 0 and se0 > 0 and (kind != "proportion" or m0 < 1):
        to_link = special.logit if kind == "proportion" else np.log
        from_link = special.expit if kind == "proportion" else np.exp
        ms = from_link(to_link(m0) + np.linspace(-q * se0, q * se0, 41))
        # capped on the link scale as level() caps it: a huge standard error must not overflow
        ends = [
            from_link(np.minimum(to_link(ms) + v, 700.0)) - ms for v in (est - q * se, est + q * se)
        ]
        floor, ceiling = -m0, (1 - m0 if kind == "proportion" else math.inf)
        dlo = float(np.clip(min(dlo, float(np.min(ends[0]))), floor, ceiling))
        dhi = float(np.clip(max(dhi, float(np.max(ends[1]))), floor, ceiling))
    factor = 100.0 if kind == "proportion" else 1.0
    return replace(effect, ci_low=factor * dlo, ci_high=factor * dhi)


def _method(kind: Kind, has_trend: bool) -> str:
    model = {
        "continuous": "OLS",
        "proportion": "binomial GLM (logit)",
        "count": "Poisson GLM (log, offset log n)",
    }[kind]
    against = "the baseline's extrapolated trend line" if has_trend else "the baseline level"
    return (
        f"{model} on the period grid, after window against {against}; AR(1) and "
        "over-dispersion allowed for in the covariance; whole window, early half and fade tested "
        "in one procedure that controls the family-wise error rate"
    )


def _abs_t(fit: _Fit, j: int) -> float:
    """``|t|`` of coefficient ``j`` (0 for an exact zero, infinite for an exact fit elsewhere)."""
    c = np.zeros(fit.params.size)
    c[j] = 1.0
    est, se, _ = _test(fit, c)
    if se > 0:
        return abs(est) / se
    return 0.0 if est == 0 else math.inf


def _trend_is_clearer(fit_c: _Fit, alpha: float) -> tuple[bool, float, float]:
    """Whether the baseline's trend is modelled (module docstring), from the nesting model
    ``C = [1, t, after, late]``, with the ``|t|`` of C's slope and of its step at the event:
    the slope is the clearer of the two, or the step goes against a slope that is clear at
    ``alpha`` (a trend the change bent or reversed is judged against its line)."""
    t_slope, t_step = _abs_t(fit_c, 1), _abs_t(fit_c, 2)
    against = fit_c.params[1] * fit_c.params[2] < 0
    clear = t_slope > float(stats.t.isf(alpha / 2, fit_c.df))
    return bool(t_slope > t_step or (against and clear)), t_slope, t_step


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------


def judge_change(
    frame: pd.DataFrame,
    *,
    change_at: Any,
    transition_start: Any = None,
    start: Any = None,
    end: Any = None,
    kind: Kind = Kind.CONTINUOUS,
    better: Better = Better.NEUTRAL,
    alpha: float = 0.05,
    min_phase_points: int = 12,
    sustain_points: int = 8,
    event_order: bool = False,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
) -> EventVerdict:
    """The verdict on one change for one metric (module docstring: model and procedure).

    Parameters
    ----------
    frame
        One row per period (``time``, ``value`` and for proportions and counts ``n``); periods
        without a value may be rows with a missing value or absent rows: time is numbered on the
        period grid either way. For proportions ``value`` is the number of events out of ``n``.
    change_at, transition_start, start, end
        As for :func:`pipeline.stats.impact.estimate_impact`.
    better
        ``lower`` or ``higher``; for ``neutral`` a clear change in either direction is
        ``changed``: neither an improvement nor a failure.
    event_order
        Number time by event order (each observed row one period) instead of the calendar grid:
        for g and t charts, whose points are events (days between incidents), not periods.
    lower_bound, upper_bound
        The values a continuous metric can take (``metrics.lower_bound`` / ``upper_bound``: no
        hours below 0). A baseline trend carried forward past a bound is held at the bound, so
        the counterfactual never predicts an impossible value (the reasons say so). Counts and
        proportions need none: their log / logit lines stay positive / within 0 and 1.
    """
    if not 0 < alpha < 1:
        raise StatisticsError(f"alpha must be between 0 and 1, got {alpha}")
    df = frame.sort_values("time", kind="stable").reset_index(drop=True)
    if event_order:
        # one point per event: rows without a value are not gaps on any grid
        df = df[pd.to_numeric(df["value"], errors="coerce").notna()].reset_index(drop=True)
    labels = label_windows(
        df["time"], change_at=change_at, transition_start=transition_start, start=start, end=end
    )
    y_all = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=float)
    n_all = (
        pd.to_numeric(df["n"], errors="coerce").to_numpy(dtype=float)
        if "n" in df.columns and kind != "continuous"
        else np.ones_like(y_all)
    )
    if (
        kind == "proportion"
        and np.nanmax(np.append(y_all, 0)) <= 1
        and np.any((y_all != np.round(y_all)) & np.isfinite(y_all))
    ):
        y_all = y_all * n_all  # proportions given: events = p * n
    grid = np.arange(1.0, len(df) + 1.0) if event_order else period_numbers(df["time"])
    win = labels.to_numpy(dtype=object)
    ok = np.isfinite(y_all) & np.isfinite(n_all) & (n_all > 0)
    bm, am = (win == "before") & ok, (win == "after") & ok
    n_before, n_after = int(bm.sum()), int(am.sum())
    inside = (win == "before") | (win == "after")
    n_missing = int((inside & ~ok).sum())
    for label in ("before", "after"):  # periods absent from the frame are missing too
        span = grid[win == label]
        if span.size:
            n_missing += int(span.max() - span.min() + 1 - np.unique(span).size)
    method = _method(kind, False)
    common = {"alpha": alpha, "n_before": n_before, "n_after": n_after, "n_missing": n_missing}
    if n_after < sustain_points or n_before < MIN_BEFORE_POINTS:
        return EventVerdict(
            outcome=Verdict.TOO_EARLY,
            reasons=(
                f"{count_of(n_after, 'period')} with data after the change and {n_before} before; "
                f"{sustain_points} after and {MIN_BEFORE_POINTS} before are needed",
            ),
            is_provisional=True,
            method=method,
            **common,  # type: ignore[arg-type]
        )
    sel = bm | am
    y, n, tt = y_all[sel], n_all[sel], grid[sel].astype(float)
    if kind != "continuous" and (np.all(y == 0) or (kind == "proportion" and np.all(y == n))):
        # no event in any period (or every unit an event): nothing varies, and a GLM on the
        # log / logit scale has no finite fit (a site with no incidents at all, say)
        what = "no event in any period" if np.all(y == 0) else "every unit an event in every period"
        return EventVerdict(
            outcome=Verdict.NO_CLEAR_CHANGE,
            reasons=(f"{what} before or after the change: the data cannot show a change",),
            is_provisional=n_before < min_phase_points or n_after < min_phase_points,
            method=method,
            **common,  # type: ignore[arg-type]
        )
    if kind == "continuous" and has_no_variation(y):
        # a flat series: its "effect" and interval would be floating-point noise around 0
        level = float(np.mean(y))
        return EventVerdict(
            outcome=Verdict.NO_CLEAR_CHANGE,
            reasons=(
                f"every period before and after the change has the same value, "
                f"{fmt_number(level)} ({NO_VARIATION})",
            ),
            is_provisional=n_before < min_phase_points or n_after < min_phase_points,
            method=method,
            effect=Effect(
                estimate=0.0,
                ci_low=None,
                ci_high=None,
                pvalue=None,
                scale="difference",
                relative=0.0 if level > 0 else None,
                nobs=n_after,
            ),  # fmt: skip
            baseline_level=level,
            after_level=level,
            is_constant=True,
            **common,  # type: ignore[arg-type]
        )
    after = am[sel].astype(float)
    t_first_after = float(grid[am].min())
    t_last_after = float(grid[am].max())
    # halves of the after window by period (first ceil(half) periods of its span are early)
    split = t_first_after + math.ceil((t_last_after - t_first_after + 1) / 2)
    late = (after > 0) & (tt >= split)
    n_late = int(late.sum())
    n_early = n_after - n_late

    # 1. a trend or a step? The slope on the baseline alone is reported; the decision is taken
    # on the whole series in the nesting model C (module docstring)
    t0 = float(grid[bm].max())
    Xb = np.column_stack([np.ones(n_before), tt[after == 0] - t0])
    share_late = n_late / n_after if n_after else 0.0
    trend_p = None
    has_trend = False
    t_slope = t_step = math.nan
    X0 = np.column_stack([np.ones_like(tt), after, late.astype(float)])
    fit = None
    try:
        fb = _fit(y[after == 0], n[after == 0], tt[after == 0], Xb, kind)
        trend_p = _test(fb, np.array([0.0, 1.0]))[2]
        fit_c = _fit(y, n, tt, np.column_stack([X0[:, 0], tt - t0, X0[:, 1:]]), kind)
        has_trend, t_slope, t_step = _trend_is_clearer(fit_c, alpha)
        if has_trend:
            fit = fit_c
    except (np.linalg.LinAlgError, ValueError):
        trend_p = None

    X = np.column_stack([X0[:, 0], tt - t0, X0[:, 1:]]) if has_trend else X0
    k = X.shape[1]
    if fit is None:
        fit = _fit(y, n, tt, X, kind)
    j_post, j_late = k - 2, k - 1

    def contrast(post: float, lt: float) -> np.ndarray:
        c = np.zeros(k)
        c[j_post], c[j_late] = post, lt
        return c

    bounds = (lower_bound, upper_bound) if kind == "continuous" else (None, None)
    base_cols = X.copy()
    base_cols[:, j_post:] = 0.0
    eta_cf = base_cols @ fit.params + fit.eta_offset
    link_after = eta_cf[after > 0] - fit.eta_offset[after > 0]  # per unit of n
    early_mask = (after > 0) & ~late
    link_early = eta_cf[early_mask] - fit.eta_offset[early_mask]
    link_late = eta_cf[late] - fit.eta_offset[late]
    a1, a2 = alpha * (1 - EARLY_SHARE), alpha * EARLY_SHARE
    if kind == "continuous":
        overall = _effect(fit, contrast(1, share_late), link_after, kind=kind, alpha=alpha,
                          nobs=n_after, bounds=bounds)  # fmt: skip
    else:
        overall = _mean_effect(fit, X[after > 0], base_cols[after > 0], n[after > 0], kind=kind,
                               alpha=alpha, nobs=n_after)  # fmt: skip
    early = _effect(fit, contrast(1, 0), link_early, kind=kind, alpha=alpha, nobs=n_early,
                    bounds=bounds)  # fmt: skip
    late_e = _effect(fit, contrast(1, 1), link_late, kind=kind, alpha=alpha, nobs=n_late,
                     bounds=bounds)  # fmt: skip
    fade = _effect(fit, contrast(0, 1), link_late, kind=kind, alpha=alpha, nobs=n_late)
    if better == "neutral":
        sign = 1 if overall.estimate >= 0 else -1
    else:
        sign = 1 if better == "higher" else -1
    p_o = overall.pvalue if overall.pvalue is not None else 1.0
    p_e = early.pvalue if early.pvalue is not None else 1.0
    rej_o, rej_e = p_o < a1, p_e < a2
    # the whole window decides the direction when it is clear; the early half only otherwise
    # (so swapping the better direction swaps improvement and worsening exactly)
    good_o = rej_o and sign * overall.estimate > 0
    bad_o = rej_o and sign * overall.estimate < 0
    good_e = not rej_o and rej_e and sign * early.estimate > 0
    bad_e = not rej_o and rej_e and sign * early.estimate < 0
    # H_fade inherits H_overall's level once that is rejected (it decides sustained vs faded
    # only then); a level that does not depend on the size of the gain keeps a bigger gain from
    # ever turning "sustained" into "faded"
    level_fade = a1 if rej_o else 0.0
    p_f = fade.pvalue if fade.pvalue is not None else 1.0
    has_faded = good_o and p_f < level_fade and sign * fade.estimate < 0

    lvl = confidence_level(alpha)
    reasons: list[str] = []
    against = "the baseline's extrapolated trend" if has_trend else "the baseline level"
    tt_text = f"|t| {fmt_number(t_slope, digits=2)} against {fmt_number(t_step, digits=2)}"
    on_its_own = "" if trend_p is None else f" (p {_p_text(trend_p)} on the baseline alone)"
    if has_trend and t_slope > t_step:
        reasons.append(
            f"the baseline's trend{on_its_own} carried on through the after window explains the "
            f"series more clearly than a step at the change (slope against step, {tt_text}), so "
            "the after window is judged against its extrapolation"
        )
    elif has_trend:
        reasons.append(
            f"the series has a clear trend{on_its_own} and the change went against it (slope "
            f"against step, {tt_text}), so the after window is judged against the trend's "
            "extrapolation"
        )
    elif trend_p is not None and trend_p < alpha:
        reasons.append(
            f"the baseline had a slope (p {_p_text(trend_p)} on the baseline alone), but a step at "
            f"the change explains the whole series more clearly than that slope carried on (step "
            f"against slope, |t| {fmt_number(t_step, digits=2)} against "
            f"{fmt_number(t_slope, digits=2)}), so the after window is judged against the "
            "baseline level"
        )
    if better == "neutral" and (rej_o or rej_e):
        outcome = Verdict.CHANGED
        window = "the whole after window" if rej_o else "the first half of the after window"
        reasons.append(
            f"a clear change over {window} against {against}; the metric has no better direction "
            "(better: neutral), so the change is not judged an improvement or a failure"
        )
    elif good_o or good_e:
        if has_faded:
            outcome = Verdict.FADED
            reasons.append(
                "a clear improvement at first, but the second half of the after window is clearly "
                "worse than the first"
            )
        elif not good_o:
            outcome = Verdict.FADED
            reasons.append(
                "a clear improvement in the first half of the after window only; over the whole "
                f"window the gain is not clear ({lvl} interval includes no change)"
            )
        else:
            outcome = Verdict.SUSTAINED
            reasons.append(
                f"a clear improvement over the whole after window against {against}, and the "
                "second half is not clearly worse than the first"
            )
    elif bad_o or bad_e:
        outcome = Verdict.WORSENED
        reasons.append(f"a clear change for the worse against {against}")
    else:
        outcome = Verdict.NO_CLEAR_CHANGE
        reasons.append(
            f"neither the whole after window nor its first half differs clearly from {against}"
        )
    if fit.phi > 0.2:
        reasons.append(
            f"neighbouring periods are correlated (autocorrelation {fmt_number(fit.phi, digits=2)}); the intervals "
            "allow for it"
        )
    provisional = n_before < min_phase_points or n_after < min_phase_points
    if provisional:
        reasons.append(
            f"provisional: {count_of(n_before, 'period')} before and {n_after} after the change, fewer than "
            f"the {min_phase_points} a phase needs"
        )
    clip = bool(
        has_trend
        and kind == "continuous"
        and (
            (lower_bound is not None and np.any(link_after < lower_bound))
            or (upper_bound is not None and np.any(link_after > upper_bound))
        )
    )
    if clip:
        outside = int(np.sum(np.clip(link_after, lower_bound, upper_bound) != link_after))
        reasons.append(
            f"the baseline's trend carried forward leaves the metric's possible values in "
            f"{count_of(outside, 'after period')}; the counterfactual is held at the bound there"
        )
    if n_missing:
        reasons.append(
            f"{count_of(n_missing, 'period')} without data inside the windows "
            f"{'is a gap' if n_missing == 1 else 'are gaps'}"
        )
    # exposure-weighted, as the whole window's effect is (for continuous metrics n is 1)
    w_after = n[after > 0] / n[after > 0].sum()
    base_level = float(w_after @ fit.link_inv(np.clip(link_after, *bounds) if clip else link_after))
    return EventVerdict(
        outcome=outcome,
        reasons=tuple(reasons),
        is_provisional=provisional,
        method=_method(kind, has_trend),
        effect=overall,
        early=early,
        late=late_e,
        fade=fade,
        baseline_level=base_level,
        after_level=base_level + overall.estimate / (100.0 if kind == "proportion" else 1.0),
        has_trend=has_trend,
        trend_pvalue=trend_p,
        autocorrelation=None if fit.is_exact else fit.phi,
        dispersion=fit.scale,
        df=fit.df,
        levels=(a1, a2, level_fade),
        **common,  # type: ignore[arg-type]
    )
