"""The ``kaizen-reports impact`` command: keys scripts rely on, CSV output, bad input -> exit 2."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.stats.impact import estimate_impact


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2026-01-05", periods=30, freq="W-MON")
    frame = pd.DataFrame({
        "week": weeks.strftime("%Y-%m-%d"),
        "days": np.round(np.r_[rng.normal(20, 2, 14), [18, 17], rng.normal(15, 2, 14)], 2),
        "defective": rng.binomial(100, np.r_[np.full(16, 0.2), np.full(14, 0.1)]),
        "inspected": 100,
    })  # fmt: skip
    path = tmp_path / "metric.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_json_keys_and_numbers_match_the_library(csv_file):
    path, frame = csv_file
    res = CliRunner().invoke(main, ["impact", str(path), "--value", "days", "--time", "week",
                                    "--change-at", "2026-04-27", "--transition-start", "2026-04-13"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert list(out) == ["before", "after", "difference", "percent_change", "hedges_g",
                         "mann_whitney", "segmented_regression", "conclusion"]  # fmt: skip
    f = pd.DataFrame({"time": pd.to_datetime(frame["week"]), "value": frame["days"]})
    ref = estimate_impact(f, change_at="2026-04-27", transition_start="2026-04-13").to_dict()
    assert out["difference"]["estimate"] == pytest.approx(ref["difference"]["estimate"])
    assert out["before"]["n"] == 14 and out["after"]["n"] == 14
    assert set(out["segmented_regression"]["level_change"]) == {
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "pvalue",
    }


def test_better_sets_the_conclusion_and_no_figure(csv_file):
    """--better did nothing a user could see: the output had no verdict to set."""
    path, _ = csv_file
    args = ["impact", str(path), "--value", "days", "--time", "week", "--change-at", "2026-04-27"]
    outs = {
        b: json.loads(CliRunner().invoke(main, [*args, "--better", b]).output)
        for b in ("lower", "higher", "neutral")
    }
    assert {b: o["conclusion"]["direction"] for b, o in outs.items()} == {
        "lower": "improved", "higher": "worsened", "neutral": "decreased",
    }  # fmt: skip
    assert outs["lower"]["conclusion"]["better"] == "lower"
    assert outs["lower"]["conclusion"]["sentence"].endswith("after the change, an improvement.")
    strip = [{k: v for k, v in o.items() if k != "conclusion"} for o in outs.values()]
    assert strip[0] == strip[1] == strip[2]
    csv = CliRunner().invoke(main, [*args, "--better", "lower", "--format", "csv"]).output
    assert "conclusion,direction,improved" in csv


def test_proportion_adds_ratio_and_model(csv_file):
    path, _ = csv_file
    res = CliRunner().invoke(main, ["impact", str(path), "--value", "defective", "--n", "inspected",
                                    "--time", "week", "--change-at", "2026-04-27", "--type", "proportion"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert "proportion_ratio" in out and out["model"]["family"] == "binomial"


def test_csv_format(csv_file):
    path, _ = csv_file
    res = CliRunner().invoke(main, ["impact", str(path), "--value", "days", "--time", "week",
                                    "--change-at", "2026-04-27", "--format", "csv"])  # fmt: skip
    assert res.exit_code == 0
    assert res.output.splitlines()[0] == "block,statistic,value"
    assert "difference,pvalue," in res.output


def test_csv_format_keeps_a_formula_in_the_value_name_as_text(csv_file, tmp_path):
    """The conclusion sentence starts with the --value column's name: one that starts like a
    formula gets a leading ' in --format csv (OWASP CSV injection); figures stay numbers."""
    _, frame = csv_file
    path = tmp_path / "hostile.csv"
    frame.rename(columns={"days": "=2+3 days"}).to_csv(path, index=False)
    res = CliRunner().invoke(main, ["impact", str(path), "--value", "=2+3 days", "--time", "week",
                                    "--change-at", "2026-04-27", "--format", "csv"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(io.StringIO(res.output), dtype=str).set_index(["block", "statistic"])
    assert rows.loc[("conclusion", "sentence"), "value"].startswith("'=2+3 days ")
    assert float(rows.loc[("difference", "estimate"), "value"]) < 0  # "-4.9...", no quote


def test_help_shows_an_example():
    res = CliRunner().invoke(main, ["impact", "--help"])
    assert res.exit_code == 0 and "Example:" in res.output and "kaizen-reports impact" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--value", "dayz", "--time", "week", "--change-at", "2026-04-27"], "column 'dayz'"),
        (
            [
                "--value",
                "days",
                "--time",
                "week",
                "--change-at",
                "2026-04-27",
                "--type",
                "proportion",
            ],
            "needs --n",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(csv_file, args, message):
    path, _ = csv_file
    res = CliRunner().invoke(main, ["impact", str(path), *args])
    assert res.exit_code == 2
    assert message in res.output


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["--change-at", "2027-01-04"],
         "error: not enough data for 'days': 0 periods on or after the change on 4 Jan 2027 (at "
         "least 2 are needed on each side of the change); the data run from 5 Jan 2026 to 27 Jul "
         "2026\n"),
        (["--change-at", "2026-01-12"],
         "error: not enough data for 'days': 1 period before the change on 12 Jan 2026 (at least "
         "2 are needed on each side of the change); the data run from 5 Jan 2026 to 27 Jul 2026\n"),
        (["--change-at", "2026-04-27", "--transition-start", "2026-01-12"],
         "error: not enough data for 'days': 1 period before the transition starts on 12 Jan "
         "2026 (at least 2 are needed on each side of the change); the data run from 5 Jan 2026 "
         "to 27 Jul 2026\n"),
        (["--change-at", "2026-04-27", "--transition-start", "2026-05-04"],
         "error: the transition starts on 4 May 2026, after the change on 27 Apr 2026: it must "
         "start on or before the change (the periods from its start up to the change are left "
         "out)\n"),
    ],
)  # fmt: skip
def test_dates_that_leave_a_side_short_are_named_in_a_sentence(csv_file, dates, message):
    """A change date at (or past) the edge of the data: the message says which side is short,
    by the dates given and the dates the data cover, naming the metric; no parameter reprs."""
    path, _ = csv_file
    res = CliRunner().invoke(
        main, ["impact", str(path), "--value", "days", "--time", "week", *dates]
    )
    assert res.exit_code == 2
    assert res.output == message
    assert "change_at" not in res.output and "None" not in res.output


def test_non_numeric_value_names_the_csv_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("t,v\n1,1.0\n2,2.0\n3,oops\n4,4.0\n5,5.0\n")
    res = CliRunner().invoke(
        main, ["impact", str(path), "--value", "v", "--time", "t", "--change-at", "3"]
    )
    assert res.exit_code == 2
    assert "column 'v'" in res.output and "(row 4)" in res.output


def test_n_a_is_a_value_that_is_not_a_number_and_a_blank_cell_is_missing(tmp_path):
    """impact read N/A as a missing value without a word (chart and capability refuse it), and
    with N/A alone went on to say "not enough data". An empty cell is still a gap."""
    rows = [f"{t},{10 + t % 3}" for t in range(1, 31)]
    rows[20], rows[24] = "21,N/A", "25,"
    path = tmp_path / "na.csv"
    path.write_text("t,v\n" + "\n".join(rows) + "\n")
    args = ["impact", str(path), "--value", "v", "--time", "t", "--change-at", "15"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "column 'v'" in res.output and "22" in res.output
    assert "instead of writing N/A" in res.output
    rows[20] = "21,"
    path.write_text("t,v\n" + "\n".join(rows) + "\n")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["before"]["n"] == 14 and out["after"]["n"] == 14  # 16 after, 21 and 25 blank


def test_rows_are_the_lines_after_blank_lines_and_multi_line_fields(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('t,v,note\n1,1.0,"two\nlines"\n\n2,2.0,\n3,oops,\n4,4.0,\n5,5.0,\n')
    res = CliRunner().invoke(
        main, ["impact", str(path), "--value", "v", "--time", "t", "--change-at", "3"]
    )
    assert res.exit_code == 2
    assert "column 'v'" in res.output and "(row 6)" in res.output, res.output
    path.write_text('t,v,note\n1,1.0,"two\nlines"\n\n2,2.0,\n2,3.0,\n4,4.0,\n5,5.0,\n')
    res = CliRunner().invoke(
        main, ["impact", str(path), "--value", "v", "--time", "t", "--change-at", "3"]
    )
    assert res.exit_code == 2
    assert "more than one row per period (rows 5, 6)" in res.output, res.output


@pytest.mark.parametrize("level", [5.0, 0.0, 1e9 + 0.5])
def test_a_series_that_does_not_vary_has_no_test(tmp_path, level):
    """Value 5 every week quoted an intercept p-value 0.0 (se 8.9e-16) and a level-change
    p-value 0.39 (se 2.5e-15): a standard error from floating-point noise. The exact answer (the
    series is its level, every change 0; R's ``lm`` warns "essentially perfect fit") has no
    standard error, interval or test, on any scale of the data."""
    weeks = pd.date_range("2026-01-05", periods=26, freq="W-MON")
    path = tmp_path / "flat.csv"
    pd.DataFrame({"week": weeks.strftime("%Y-%m-%d"), "value": level}).to_csv(path, index=False)
    res = CliRunner().invoke(main, ["impact", str(path), "--value", "value", "--time", "week",
                                    "--change-at", "2026-04-01"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    seg = out["segmented_regression"]
    assert seg["is_constant"] is True and seg["cov_type"] == "no variation: no test possible"
    for errors in (seg, seg["classical"]):
        for term in ("intercept", "pre_slope", "level_change", "slope_change"):
            c = errors[term]
            assert c["estimate"] == (level if term == "intercept" else 0.0), (term, c)
            assert c["se"] is None and c["ci_low"] is None and c["ci_high"] is None
            assert c["pvalue"] is None
    assert seg["counterfactual"] == {"estimate": level, "se": None, "ci_low": None,
                                     "ci_high": None, "pvalue": None}  # fmt: skip
    assert seg["durbin_watson"] is None and seg["ljung_box_pvalue"] is None
    nat = seg["natural_scale"]
    for name in ("level_change", "slope_change", "level_difference", "end_difference"):
        assert nat[name] == {"estimate": 0.0, "ci_low": None, "ci_high": None}
    d = out["difference"]
    assert d["estimate"] == 0.0 and d["ci_low"] is None and d["pvalue"] is None
    assert d["method"].endswith("(no variation: no test possible)")
    # the rank test beside it has none either (it said p = 1.0; R's wilcox.test gives NA)
    mw = out["mann_whitney"]
    assert mw["pvalue"] is None and mw["hodges_lehmann"] is None and mw["ci_low"] is None
    if level > 0:
        assert out["percent_change"] == {"estimate": 0.0, "ci_low": None, "ci_high": None}


@pytest.mark.filterwarnings("error::RuntimeWarning")  # its HAC variance rounds below 0
def test_a_series_that_varies_a_little_is_still_tested(tmp_path):
    """The tolerance is relative to the data's magnitude: one reading 0.01 off a level of 5
    is variation, and the regression keeps its standard errors and p-values."""
    weeks = pd.date_range("2026-01-05", periods=26, freq="W-MON")
    values = np.full(26, 5.0)
    values[20] = 5.01
    path = tmp_path / "almost.csv"
    pd.DataFrame({"week": weeks.strftime("%Y-%m-%d"), "value": values}).to_csv(path, index=False)
    res = CliRunner().invoke(main, ["impact", str(path), "--value", "value", "--time", "week",
                                    "--change-at", "2026-04-01"])  # fmt: skip
    assert res.exit_code == 0, res.output
    seg = json.loads(res.output)["segmented_regression"]
    assert seg["is_constant"] is False and seg["cov_type"].startswith("HAC")
    assert seg["level_change"]["pvalue"] is not None and seg["level_change"]["se"] > 0


def test_dates_are_iso_only_in_the_file_and_the_options(csv_file, tmp_path):
    """03/02/2026 is 3 February in Europe and 2 March in the US; pandas guessed March without a
    word. The impact command reads YYYY-MM-DD as the project's tables do and names the rest."""
    path, frame = csv_file
    us = frame.assign(week=pd.to_datetime(frame["week"]).dt.strftime("%m/%d/%Y"))
    us_path = tmp_path / "us.csv"
    us.to_csv(us_path, index=False)
    args = ["--value", "days", "--time", "week", "--change-at", "2026-04-27"]
    res = CliRunner().invoke(main, ["impact", str(us_path), *args])
    assert res.exit_code == 2, res.output
    assert "column 'week'" in res.output and "YYYY-MM-DD" in res.output
    assert "(rows 2, 3, 4, 5, 6 and 25 more)" in res.output, res.output
    for option in ("--change-at", "--transition-start"):
        given = {"--change-at": "2026-04-27", option: "04/27/2026"}
        extra = [] if option == "--change-at" else ["--transition-start", "04/27/2026"]
        res = CliRunner().invoke(
            main,
            ["impact", str(path), "--value", "days", "--time", "week",
             "--change-at", given["--change-at"], *extra],
        )  # fmt: skip
        assert res.exit_code == 2, res.output
        assert res.output == f"error: {option} '04/27/2026' is not a date written YYYY-MM-DD\n"
    ok = CliRunner().invoke(main, ["impact", str(path), *args])
    assert ok.exit_code == 0, ok.output
