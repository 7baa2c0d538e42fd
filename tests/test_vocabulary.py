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
        "sustained", "faded", "no_clear_change", "worsened", "too_early", "changed",
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


def test_chart_allowed_names_every_metric_chart() -> None:
    """The metrics table's chart check and its message are the vocabulary's list (g and t
    were once accepted by the check but missing from the message)."""
    from pipeline.data.contracts import load_rules

    (rule,) = [r for r in load_rules()["metrics"] if r.rule == "chart_allowed"]
    assert rule.kwargs["value_set"] == {"$PARAMETER": "metric_charts"}
    listed = rule.description.removeprefix("chart is one of ").split(", ")
    assert sorted(listed) == sorted(v.METRIC_CHARTS)
    assert {"g", "t"} <= set(listed)


def test_every_allowed_rule_is_a_vocabulary() -> None:
    """No ``*_allowed`` rule keeps its own list: each is a suite parameter from the vocabulary,
    and its description spells out exactly that list."""
    from pipeline.data.contracts import VOCABULARY_PARAMETERS, load_rules

    allowed = [r for rules in load_rules().values() for r in rules if r.rule.endswith("_allowed")]
    assert allowed
    for r in allowed:
        (name,) = r.parameters
        assert r.description.endswith("is one of " + ", ".join(VOCABULARY_PARAMETERS[name]))
    assert VOCABULARY_PARAMETERS["better_values"] == tuple(v.Better)


def test_the_readme_lists_the_vocabulary_of_the_metrics_table() -> None:
    import re
    from pathlib import Path

    text = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    for column, values in (("chart", v.METRIC_CHARTS), ("better", v.Better),
                           ("period", v.Period), ("aggregate", v.Aggregate)):  # fmt: skip
        found = re.search(rf"`{column}` \(([^)]*)\)", text)
        assert found, column
        assert sorted(found.group(1).split(", ")) == sorted(values), column


def test_row_conditions_take_their_chart_sets_from_the_vocabulary() -> None:
    from pipeline.data.contracts import load_rules

    rules = {r.rule: r for r in load_rules()["observations"]}
    for rule, charts in (("n_required", v.SIZED_CHARTS), ("count_not_negative", v.ATTRIBUTE_CHARTS),
                         ("defectives_not_above_n", v.PROPORTION_CHARTS),
                         ("one_row_per_sample", v.ATTRIBUTE_CHARTS), ("count_is_whole", v.ATTRIBUTE_CHARTS)):  # fmt: skip
        assert set(rules[rule].kwargs["row_condition"]["parameter"]) == charts, rule
    # a reading chart's exact copies: the derived kz_reading says whether its metric sums them
    for rule, kind in (("no_duplicate_rows", "read"), ("no_duplicate_summed_rows", "summed")):
        condition = rules[rule].kwargs["row_condition"]
        assert condition["column"]["name"] == "kz_reading" and condition["parameter"] == kind
