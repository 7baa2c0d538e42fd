"""Pareto tables as qcc's paretoChart()."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from pipeline.exceptions import StatisticsError
from pipeline.stats.pareto import pareto


def test_counts_sorted_with_ties_by_name_and_percentages():
    # qcc R/paretochart.R: sort(decreasing = TRUE); Percentage = 100 x / sum; Cum.Percent.
    res = pareto(["scratch", "dent", "paint", "label", "dent"], [30, 10, 40, 20, 20])
    d = res.to_dict()["categories"]
    assert [c["category"] for c in d] == ["paint", "dent", "scratch", "label"]
    assert [c["count"] for c in d] == [40, 30, 30, 20]
    assert_allclose([c["percent"] for c in d], [33.333333, 25, 25, 16.666667], rtol=1e-6)
    assert_allclose([c["cumulative_percent"] for c in d], [33.333333, 58.333333, 83.333333, 100],
                    rtol=1e-6)  # fmt: skip
    assert [c.category for c in res.vital_few()] == ["paint", "dent", "scratch"]


def test_rows_count_one_each_without_counts():
    res = pareto(["a", "b", "a", "c", "a", "b"])
    assert [(c.category, c.count) for c in res.categories] == [("a", 3), ("b", 2), ("c", 1)]


def test_bad_inputs():
    with pytest.raises(StatisticsError):
        pareto(["a", None])
    with pytest.raises(StatisticsError):
        pareto(["a", "b"], [1, -1])
    with pytest.raises(StatisticsError):
        pareto(["a"], [0])
