"""Process capability against qcc's published pistonrings figures and the closed forms."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import optimize, stats

from pipeline.exceptions import StatisticsError
from pipeline.stats.capability import process_capability

REF = Path(__file__).parent / "reference" / "qcc"


@pytest.fixture(scope="module")
def rings() -> pd.DataFrame:
    p = pd.read_csv(REF / "pistonrings.csv")
    return p[p["trial"]]


def test_pistonrings_matches_qcc_vignette(rings):
    # qcc vignette: q <- qcc(diameter[trial], type = "xbar");
    # processCapability(q, spec.limits = c(73.95, 74.05)): Cp 1.70 (95% CI 1.49 to 1.91),
    # Cp_l 1.74, Cp_u 1.66, Cp_k 1.66; with target = 74.02: Cpm 0.786
    c = process_capability(rings["diameter"], subgroups=rings["sample"], lsl=73.95, usl=74.05,
                           target=74.02)  # fmt: skip
    assert round(c.cp.estimate, 2) == 1.70
    assert (round(c.cp.ci_low, 2), round(c.cp.ci_high, 2)) == (1.49, 1.91)
    assert round(c.cpl.estimate, 2) == 1.74
    assert round(c.cpu.estimate, 2) == 1.66
    assert round(c.cpk.estimate, 2) == 1.66
    assert round(c.cpm.estimate, 3) == 0.786
    assert c.n == 125 and c.sigma_method == "UWAVE-R"
    assert_allclose([c.mean, c.sigma_within], [74.00118, 0.009785039], rtol=1e-6)


def test_interval_conventions(rings):
    c = process_capability(rings["diameter"], subgroups=rings["sample"], lsl=73.95, usl=74.05,
                           target=74.02, alpha=0.1)  # fmt: skip
    n, a = 125, 0.1
    z = stats.norm.ppf(1 - a / 2)
    # Bissell (1990) with z(1 - alpha/2) for Cpl and Cpu too (qcc uses z(1 - alpha) there)
    for idx in (c.cpl, c.cpu, c.cpk, c.ppk):
        half = z * math.sqrt(1 / (9 * n * idx.estimate**2) + 1 / (2 * (n - 1)))
        assert_allclose([idx.ci_low, idx.ci_high], idx.estimate * np.array([1 - half, 1 + half]))
    # chi-square with n - 1 df (Chou, Owen & Borrego 1990)
    for idx in (c.cp, c.pp):
        q = stats.chi2.ppf([a / 2, 1 - a / 2], n - 1)
        assert_allclose([idx.ci_low, idx.ci_high], idx.estimate * np.sqrt(q / (n - 1)))
    # Boyles (1991): nu = n (1 + xi^2)^2 / (1 + 2 xi^2)
    xi = (c.mean - 74.02) / c.sigma_within
    nu = n * (1 + xi**2) ** 2 / (1 + 2 * xi**2)
    q = stats.chi2.ppf([a / 2, 1 - a / 2], nu)
    assert_allclose([c.cpm.ci_low, c.cpm.ci_high], c.cpm.estimate * np.sqrt(q / nu))
    assert c.level == "90% CI"
    # Pp and Ppk from the overall sample standard deviation
    s = rings["diameter"].std(ddof=1)
    assert_allclose(c.pp.estimate, 0.1 / (6 * s))
    assert_allclose(c.ppk.estimate, min(74.05 - c.mean, c.mean - 73.95) / (3 * s))


def test_one_sided_fractions_and_individuals():
    x = np.array([9.1, 10.2, 9.8, 10.5, 11.0, 9.6, 10.1, 10.0, 12.0, 9.9, 10.3, 10.4])
    c = process_capability(x, usl=11.0)
    d = c.to_dict()
    assert d["cp"]["estimate"] is None and d["cpl"]["estimate"] is None
    assert d["cpk"]["estimate"] == pytest.approx(d["cpu"]["estimate"])
    assert "cpm" not in d
    # a reading on the limit is inside; 12.0 is strictly above
    assert c.observed_above_usl == pytest.approx(1 / 12) and c.observed_below_lsl is None
    sw = np.mean(np.abs(np.diff(x))) / 1.128  # MR / d2(2)
    assert_allclose(c.sigma_within, sw)
    assert_allclose(c.expected_ppm_above_usl, stats.norm.sf((11 - x.mean()) / sw) * 1e6)


def test_no_limit_and_bad_limits_are_errors():
    with pytest.raises(StatisticsError):
        process_capability([1.0, 2, 3])
    with pytest.raises(StatisticsError):
        process_capability([1.0, 2, 3], lsl=5, usl=4)


def test_out_of_control_process_is_warned():
    x = np.r_[np.tile([10.0, 10.2], 5), 30.0, np.full(9, 10.1)]
    c = process_capability(x, lsl=5, usl=15)
    assert not c.is_in_control
    assert "no stable process" in c.warnings[0]
    # the signals in words, as the glossary gives them, never a code such as "we1"
    assert "a point outside a limit" in c.warnings[0]  # the glossary's words for we1
    assert not re.search(r"\b(we|nelson)\d\b", c.warnings[0]), c.warnings[0]


def test_boxcox_lambda_is_the_maximum_likelihood_estimate():
    rng = np.random.default_rng(7)
    x = rng.lognormal(1.0, 0.5, 60)
    c = process_capability(x, usl=20.0, lsl=0.5, transform="boxcox")

    # the Box-Cox profile log-likelihood (Box & Cox 1964, eq. 9), maximised independently
    def nll(lam: float) -> float:
        y = np.log(x) if lam == 0 else (x**lam - 1) / lam
        return -(-len(x) / 2 * np.log(np.var(y)) + (lam - 1) * np.log(x).sum())

    lam = optimize.minimize_scalar(nll, bounds=(-3, 3), method="bounded",
                                   options={"xatol": 1e-10}).x  # fmt: skip
    assert_allclose(c.boxcox_lambda, lam, atol=1e-5)
    t = c.transformed_limits
    assert_allclose(t[1], (20.0**c.boxcox_lambda - 1) / c.boxcox_lambda)
    assert c.to_dict()["transform"]["lambda"] == c.boxcox_lambda
    with pytest.raises(StatisticsError):
        process_capability(np.r_[x, -1.0], usl=20.0, transform="boxcox")
