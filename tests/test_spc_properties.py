"""Invariants of control charts (hypothesis): ordering of limits, shift and scale equivariance,
constant series, and agreement of per-point limits with the phase table."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from pipeline.stats.spc import control_chart

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
series = arrays(np.float64, st.integers(min_value=3, max_value=60), elements=finite)
CONTINUOUS = ("xmr", "mr", "run")
SETTINGS = settings(max_examples=60, deadline=None)


def with_gaps(x: np.ndarray, mask_seed: int) -> np.ndarray:
    x = x.copy()
    rng = np.random.default_rng(mask_seed)
    gaps = rng.random(x.shape[0]) < 0.15
    gaps[:2] = False
    x[gaps] = np.nan
    return x


@SETTINGS
@given(series, st.integers(0, 2**16), st.sampled_from(CONTINUOUS), st.booleans())
def test_lcl_le_centre_le_ucl(x, seed, chart, screen):
    ch = control_chart(with_gaps(x, seed), chart=chart, screen_mr=screen, rules="all")
    ok = ~np.isnan(ch.lcl)
    assert np.all(ch.lcl[ok] <= ch.centre[ok] + 1e-9 * (1 + abs(ch.centre[ok])))
    assert np.all(ch.centre[ok] <= ch.ucl[ok] + 1e-9 * (1 + abs(ch.centre[ok])))


@SETTINGS
@given(
    arrays(np.float64, st.integers(5, 40), elements=st.floats(0, 1e3)),
    st.integers(0, 2**16),
    st.sampled_from(["p", "np", "u", "c", "p_prime", "u_prime"]),
)
def test_attribute_limits_ordered_and_clipped(raw, seed, chart):
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 500, raw.shape[0]).astype(float)
    x = np.floor(np.minimum(raw, n))
    if x.sum() == 0:
        x[0] = 1
    ch = control_chart(x, chart=chart, n=None if chart == "c" else n, rules="all")
    ok = ~np.isnan(ch.lcl)
    assert np.all(ch.lcl[ok] >= 0)
    assert np.all(ch.lcl[ok] <= ch.centre[ok] + 1e-12)
    assert np.all(ch.centre[ok] <= ch.ucl[ok] + 1e-12)
    if chart in ("p", "p_prime"):
        assert np.all(ch.ucl[ok] <= 1)


@SETTINGS
@given(series, st.integers(0, 2**16), finite, st.floats(0.01, 100))
def test_shift_and_scale_equivariance(x, seed, shift, scale):
    x = with_gaps(x, seed)
    base = control_chart(x, rules="all")
    moved = control_chart(x * scale + shift, rules="all")
    tol = 1e-7 * (1 + np.nanmax(np.abs(x)) * scale + abs(shift))
    assert_allclose(moved.centre, base.centre * scale + shift, atol=tol)
    assert_allclose(moved.ucl, base.ucl * scale + shift, atol=tol)
    assert_allclose(moved.lcl, base.lcl * scale + shift, atol=tol)
    mr = control_chart(x, chart="mr")
    mr2 = control_chart(x * scale + shift, chart="mr")
    assert_allclose(mr2.ucl, mr.ucl * scale, atol=tol)


@SETTINGS
@given(series, st.integers(1, 10), st.floats(0.5, 20))
def test_scaling_xbar_and_s_charts(x, k, scale):
    groups = np.repeat(np.arange(x.shape[0]), 1)[: x.shape[0]] // 3
    for chart in ("xbar_r", "xbar_s", "r", "s"):
        if np.bincount(groups).max() < 2:
            continue
        a = control_chart(x, chart=chart, subgroups=groups)
        b = control_chart(x * scale + k, chart=chart, subgroups=groups)
        shift = k if chart.startswith("xbar") else 0
        tol = 1e-7 * (1 + np.nanmax(np.abs(x)) * scale + k)
        assert_allclose(b.ucl, a.ucl * scale + shift, atol=tol)
        assert_allclose(b.centre, a.centre * scale + shift, atol=tol)


@SETTINGS
@given(finite, st.integers(2, 80), st.sampled_from(["xmr", "run", "mr"]))
def test_constant_series_has_no_signals(c, m, chart):
    ch = control_chart(np.full(m, c), chart=chart, rules="all")
    assert ch.signals == ()
    assert ch.variation() == "common_cause"


@SETTINGS
@given(series, st.integers(0, 2**16), st.integers(1, 4))
def test_phase_table_matches_points(x, seed, nphase):
    x = with_gaps(x, seed)
    phases = np.sort(np.random.default_rng(seed).integers(0, nphase, x.shape[0]))
    ch = control_chart(x, phases=phases, rules="all")
    for p in ch.phases:
        sl = slice(p.first, p.last + 1)
        assert np.all(ch.phase[sl] == p.phase)
        if p.ucl is not None:
            assert_allclose(ch.ucl[sl], p.ucl)
    assert all(s.index < len(ch) and not np.isnan(ch.value[s.index]) for s in ch.signals)
