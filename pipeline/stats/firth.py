"""Firth's bias-reduced fit of a binomial-logit or Poisson-log GLM, for windows without events.

Maximum likelihood has no finite estimate when a group of periods has no event (or every unit
an event): its coefficient runs off to minus (plus) infinity, and statsmodels stops near -25
with a Wald interval that covers every value a proportion can take, or (under HAC errors) one
absurdly narrow. Firth's penalised likelihood always has a finite estimate (Heinze & Schemper
2002); the verdicts and the segmented regression use it where the ML fit has separated.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

#: A maximum-likelihood fit has separated (a window or half of one without any event, or with
#: every unit an event) when a fitted rate or proportion comes this close to 0 (or to 1).
SEPARATED = 1e-7

#: Largest change of any coefficient in one Newton step of the Firth fit (logistf's maxstep).
FIRTH_MAX_STEP = 5.0


def fit_firth(
    y: np.ndarray, n: np.ndarray, X: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Firth's bias-reduced estimate of a binomial-logit or Poisson-log GLM (events ``y`` out of
    ``n``; offset log n for counts): the root of the modified score
    ``X'(y - mu + h (1/2 - p))`` (binomial) or ``X'(y - mu + h/2)`` (Poisson), ``h`` the
    diagonal of the hat matrix ``W^1/2 X (X'WX)^-1 X'W^1/2``; Newton steps on the Fisher
    information, each coefficient moving at most ``FIRTH_MAX_STEP``. The estimate is finite
    where maximum likelihood has none (a window without an event): in a model with one
    parameter per group each group gains half an event and half a non-event (Firth 1993;
    Heinze & Schemper 2002). Returns the coefficients and the fitted means (events).

    References
    ----------
    Firth, D. (1993). Bias reduction of maximum likelihood estimates. Biometrika 80, 27-38.
    Heinze, G. & Schemper, M. (2002). A solution to the problem of separation in logistic
    regression. Statistics in Medicine 21, 2409-2419.
    """
    offset = np.log(n) if kind == "count" else np.zeros_like(y)
    beta = np.zeros(X.shape[1])
    share = (y.sum() + 0.5) / (n.sum() + (1.0 if kind == "proportion" else 0.0))
    beta[0] = special.logit(share) if kind == "proportion" else math.log(share)
    for _ in range(200):
        eta = X @ beta + offset
        if kind == "proportion":
            p = special.expit(eta)
            mu, w = n * p, n * p * (1 - p)
        else:
            mu = np.exp(eta)
            w = mu
        info_inv = np.linalg.pinv(X.T @ (w[:, None] * X))
        h = w * np.einsum("ij,jk,ik->i", X, info_inv, X)
        adj = h * (0.5 - p) if kind == "proportion" else h / 2
        step = info_inv @ (X.T @ (y - mu + adj))
        biggest = float(np.max(np.abs(step)))
        if biggest > FIRTH_MAX_STEP:
            step *= FIRTH_MAX_STEP / biggest
        beta = beta + step
        if biggest < 1e-10:
            break
    eta = X @ beta + offset
    return beta, (n * special.expit(eta) if kind == "proportion" else np.exp(eta))


def is_separated(mu: np.ndarray, *, is_proportion: bool) -> bool:
    """Whether fitted rates or proportions ``mu`` (per unit of n) show a separated ML fit."""
    mu = np.asarray(mu, dtype=float)
    if is_proportion:
        return bool(np.any(mu < SEPARATED) or np.any(mu > 1 - SEPARATED))
    return bool(np.any(mu < SEPARATED))
