"""The pareto and capability commands and impact --exact, on real CSV files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main

REF = Path(__file__).parent / "reference" / "qcc"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_pareto_command(tmp_path: Path):
    path = tmp_path / "d.csv"
    pd.DataFrame(
        {"category": ["dent", "scratch", "paint", "dent", "label"], "count": [10, 30, 40, 20, 20]}
    ).to_csv(path, index=False)
    res = invoke("pareto", str(path), "--category", "category", "--count", "count")
    assert res.exit_code == 0, res.output
    cats = json.loads(res.output)["categories"]
    assert [c["category"] for c in cats] == ["paint", "dent", "scratch", "label"]
    assert set(cats[0]) == {"category", "count", "percent", "cumulative_percent"}
    assert cats[-1]["cumulative_percent"] == pytest.approx(100)
    assert invoke("pareto", str(path), "--category", "nope").exit_code == 2
    assert "Example" in invoke("pareto", "--help").output


def test_capability_command_matches_qcc(tmp_path: Path):
    rings = pd.read_csv(REF / "pistonrings.csv")
    path = tmp_path / "rings.csv"
    rings[rings["trial"]].to_csv(path, index=False)
    res = invoke("capability", str(path), "--value", "diameter", "--subgroup", "sample",
                 "--lsl", "73.95", "--usl", "74.05", "--target", "74.02")  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    # qcc vignette: processCapability(qcc(diameter[trial], "xbar"), c(73.95, 74.05)):
    # Cp 1.70 (1.49 to 1.91), Cpk 1.66; target 74.02: Cpm 0.786
    assert round(d["cp"]["estimate"], 2) == 1.70 and round(d["cp"]["ci_low"], 2) == 1.49
    assert round(d["cpk"]["estimate"], 2) == 1.66
    assert round(d["cpm"]["estimate"], 3) == 0.786
    for key in ("n", "mean", "sigma_within", "sigma_overall", "observed_below_lsl",
                "observed_above_usl", "expected_ppm_below_lsl", "expected_ppm_above_usl",
                "pp", "ppk", "cpl", "cpu"):  # fmt: skip
        assert key in d
    only_usl = json.loads(
        invoke("capability", str(path), "--value", "diameter", "--usl", "74.05").stdout
    )
    assert only_usl["cp"]["estimate"] is None and only_usl["cpl"]["estimate"] is None
    none = invoke("capability", str(path), "--value", "diameter")
    assert none.exit_code == 2 and "--lsl" in none.output


def test_capability_boxcox_and_warning(tmp_path: Path):
    rng = np.random.default_rng(3)
    x = np.r_[rng.lognormal(2, 0.4, 40), 200.0]
    path = tmp_path / "w.csv"
    pd.DataFrame({"minutes": x}).to_csv(path, index=False)
    res = CliRunner().invoke(main, ["capability", str(path), "--value", "minutes", "--usl", "30",
                                    "--transform", "boxcox"])  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["transform"]["method"] == "boxcox" and isinstance(d["transform"]["lambda"], float)
    assert "no stable process" in res.stderr


def test_impact_exact(tmp_path: Path):
    before = [1.15, 0.88, 0.90, 0.74, 1.21]
    after = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    path = tmp_path / "s.csv"
    pd.DataFrame({"week": range(1, 16), "v": before + after}).to_csv(path, index=False)
    res = invoke("impact", str(path), "--time", "week", "--value", "v", "--change-at", "6",
                 "--exact")  # fmt: skip
    assert res.exit_code == 0, res.output
    mw = json.loads(res.output)["mann_whitney"]
    # R ?wilcox.test example (x = after, y = before): W = 35, one-sided p-value 0.1272;
    # U of the before sample = 5 * 10 - 35, two-sided p = 2 * 0.1272
    assert mw["statistic"] == 15
    assert mw["pvalue"] == pytest.approx(0.2544, abs=2e-4)
    approx = json.loads(
        invoke("impact", str(path), "--time", "week", "--value", "v", "--change-at", "6").output
    )["mann_whitney"]
    assert approx["pvalue"] != mw["pvalue"]


def test_pareto_rows_are_the_lines_an_editor_shows(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text('category,count\n"dent,\nbig",1\n\nscratch,two\n,3\n')  # lines 5 and 6
    res = invoke("pareto", str(path), "--category", "category", "--count", "count")
    assert res.exit_code == 2 and "column 'count'" in res.output and "(row 5)" in res.output
    path.write_text('category,count\n"dent,\nbig",1\n\nscratch,2\n,3\n')
    res = invoke("pareto", str(path), "--category", "category", "--count", "count")
    assert res.exit_code == 2, res.output
    assert "column 'category': categories must not be empty (row 6)" in res.output
