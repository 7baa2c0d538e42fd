"""EWMA and CUSUM charts against qcc's published figures and its own formulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from pipeline.exceptions import StatisticsError
from pipeline.stats.smallshift import cusum_chart, ewma_chart

REF = Path(__file__).parent / "reference" / "qcc"


@pytest.fixture(scope="module")
def rings() -> pd.DataFrame:
    p = pd.read_csv(REF / "pistonrings.csv")
    return p[p["trial"]]


def test_ewma_limits_match_qcc_vignette(rings):
    # qcc vignette: ewma(pistonrings[trial], lambda = 0.2, nsigmas = 3) with
    # q <- qcc.groups(diameter, sample): point 1 limits 73.99855 to 74.00380,
    # point 2 73.99781 to 74.00454, point 25 73.99680 to 74.00555
    ch = ewma_chart(rings["diameter"], subgroups=rings["sample"], lam=0.2, nsigmas=3)
    assert_allclose(ch.lcl[[0, 1, 24]], [73.99855, 73.99781, 73.99680], atol=6e-6)
    assert_allclose(ch.ucl[[0, 1, 24]], [74.00380, 74.00454, 74.00555], atol=6e-6)
    # centre and sigma as qcc's xbar chart prints them (shared reference README)
    assert_allclose([ch.centre, ch.sigma], [74.00118, 0.009785039], rtol=1e-6)
    assert ch.sigma_method == "UWAVE-R"


def test_ewma_recursion_and_signal(rings):
    # z_t = lambda x_t + (1 - lambda) z_{t-1}, z_0 = centre (qcc ewmaSmooth with start = center)
    x = np.r_[np.zeros(10), np.full(10, 3.0)] + np.tile([0.3, -0.3], 10)
    ch = ewma_chart(x, lam=0.3)
    z, ref = ch.centre, []
    for xi in x:
        z = 0.3 * xi + 0.7 * z
        ref.append(z)
    assert_allclose(ch.statistic, ref, rtol=1e-12)
    d = ch.to_dict()
    assert set(d["points"][0]) == {"index", "time", "value", "n", "statistic", "centre", "lcl",
                                   "ucl", "signals"}  # fmt: skip
    assert all(p["signals"] in ([], ["beyond_limits"]) for p in d["points"])
    assert d["points"][-1]["signals"] == ["beyond_limits"]  # the sustained shift


def test_cusum_matches_qcc_formulation(rings):
    # qcc R/cusum.R: z = (x - center) / (std.dev / sqrt(n)); cusum.pos[i] = max(0, pos[i-1] +
    # z[i] - se.shift / 2); cusum.neg = -(max(0, neg[i-1] - (z[i] + se.shift / 2)))
    ch = cusum_chart(rings["diameter"], subgroups=rings["sample"], k=0.5, h=5)
    xbar = rings.groupby("sample")["diameter"].mean().to_numpy()
    z = (xbar - ch.centre) / (ch.sigma / np.sqrt(5))
    pos, neg, p, q = [], [], 0.0, 0.0
    for zi in z:
        p = max(0.0, p + zi - 1 / 2)
        q = max(0.0, q - (zi + 1 / 2))
        pos.append(p)
        neg.append(-q)
    assert_allclose(ch.cusum_upper, pos, rtol=1e-12, atol=1e-15)
    assert_allclose(ch.cusum_lower, neg, rtol=1e-12, atol=1e-15)
    assert (ch.cusum_lower <= 0).all()


def test_cusum_signals_a_small_sustained_shift():
    rng = np.random.default_rng(4)
    x = np.r_[rng.normal(10, 1, 30), rng.normal(11.5, 1, 10)]
    ch = cusum_chart(x, k=0.5, h=4)
    first = next(i for i, s in enumerate(ch.point_signals()) if s)
    assert first >= 30 and ch.point_signals()[first] == ["cusum_upper"]
    pts = ch.to_dict()["points"]
    assert {"cusum_upper", "cusum_lower"} <= set(pts[0])


def test_bad_parameters():
    with pytest.raises(StatisticsError):
        ewma_chart([1.0, 2, 3], lam=0)
    with pytest.raises(StatisticsError):
        cusum_chart([1.0, 2, 3], h=0)
