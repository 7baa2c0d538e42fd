"""The shared vocabularies: one definition, and the places that used to keep their own copies."""

from __future__ import annotations

import json

import pytest

from pipeline import vocabulary as v
from pipeline.exceptions import KaizenError
from pipeline.stats import series, spc


def test_members_are_their_strings() -> None:
    assert v.Verdict.NO_CLEAR_CHANGE == "no_clear_change"
    assert json.dumps({"outcome": v.Verdict.FADED}) == '{"outcome": "faded"}'
    assert [m.value for m in v.Verdict] == [
        "sustained", "faded", "no_clear_change", "worsened", "too_early",
    ]  # fmt: skip


def test_chart_properties_are_one_set_each() -> None:
    assert v.SUBGROUP_CHARTS == {"xbar_r", "r", "xbar_s", "s"}
    assert v.ATTRIBUTE_CHARTS == {"p", "np", "c", "u", "p_prime", "u_prime"}
    assert v.SIZED_CHARTS == v.ATTRIBUTE_CHARTS - {"c"}
    assert v.PROPORTION_CHARTS | v.COUNT_CHARTS == v.ATTRIBUTE_CHARTS
    assert v.METRIC_CHARTS == set(v.ChartType) - {"mr", "r", "s"}
    assert spc.CHART_TYPES == tuple(v.ChartType)
    assert spc.SUBGROUP_CHARTS is series.SUBGROUP_CHARTS is v.SUBGROUP_CHARTS
    assert v.ChartType("xbar_r").needs_subgroups and not v.ChartType("xmr").needs_subgroups
    assert v.ChartType("c").is_attribute and not v.ChartType("c").uses_n


@pytest.mark.parametrize(
    ("chart", "kind"),
    [("xmr", "continuous"), ("p", "proportion"), ("np", "proportion"), ("u", "count"),
     ("c", "count"), ("u_prime", "count"), ("run", "continuous")],
)  # fmt: skip
def test_kind_of_chart(chart: str, kind: str) -> None:
    assert v.Kind.of_chart(chart) == kind


def test_every_chart_has_names() -> None:
    for c in v.ChartType:
        assert c.display_name and c.label


def test_parse_names_the_allowed_values() -> None:
    assert v.parse(v.Better, "lower") is v.Better.LOWER
    with pytest.raises(KaizenError, match="better 'down' is not one of: lower, higher, neutral"):
        v.parse(v.Better, "down", what="better")
