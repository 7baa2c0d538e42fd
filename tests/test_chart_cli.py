"""The ``kaizen-reports chart`` command: real CSVs with dates, missing values and variable n."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.testing import assert_allclose

from pipeline.cli import main
from pipeline.stats.spc import control_chart

REF = Path(__file__).parent / "reference" / "qcc"


def run(*args: str):
    return CliRunner().invoke(main, ["chart", *args], catch_exceptions=False)


@pytest.fixture
def lead_time(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    weeks = pd.date_range("2024-01-08", periods=30, freq="W-MON")
    hours = np.r_[rng.normal(50, 5, 18), rng.normal(38, 4, 12)].round(1)
    df = pd.DataFrame({"week": weeks.strftime("%Y-%m-%d"), "hours": hours.astype(object)})
    df.loc[4, "hours"] = ""  # a missing week
    path = tmp_path / "lead.csv"
    df.to_csv(path, index=False)
    return path


def test_json_shape_dates_missing_and_phase_at(lead_time: Path):
    res = run(str(lead_time), "--chart", "xmr", "--value", "hours", "--time", "week",
              "--phase-at", "2024-05-13", "--rules", "all", "--better", "lower")  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert list(d) == [
        "chart",
        "sigma_method",
        "lower_bound",
        "upper_bound",
        "phases",
        "points",
        "run_stats",
    ]
    assert d["chart"] == "xmr" and d["sigma_method"] == "MR"
    # numbered from 1, as the points are
    assert [(p["phase"], p["first"], p["last"]) for p in d["phases"]] == [(1, 1, 18), (2, 19, 30)]
    assert d["points"][0]["time"] == "2024-01-08"
    assert d["points"][4]["value"] is None and d["points"][4]["signals"] == []
    assert d["phases"][0]["n_points"] == 17
    assert [r["phase"] for r in d["run_stats"]] == [1, 2]
    # the numbers are the library's
    df = pd.read_csv(lead_time)
    ch = control_chart(df["hours"], phases=[1] * 18 + [2] * 12, rules="all", better="lower")
    assert_allclose([p["centre"] for p in d["phases"]], [p.centre for p in ch.phases])
    assert [p["signals"] for p in d["points"]] == [p["signals"] for p in ch.to_dict()["points"]]


def test_p_chart_variable_n_and_phase_col(tmp_path: Path):
    oj = pd.read_csv(REF / "orangejuice.csv")
    oj.loc[[3, 40], "size"] = [40, 60]  # variable n
    path = tmp_path / "oj.csv"
    oj.to_csv(path, index=False)
    res = run(str(path), "--chart", "p", "--value", "D", "--n", "size", "--time", "sample",
              "--phase-col", "trial", "--freeze-baseline")  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert len(d["phases"]) == 2 and len(d["run_stats"]) == 1
    pts = d["points"]
    assert pts[3]["n"] == 40 and pts[0]["n"] == 50
    assert pts[3]["ucl"] != pts[0]["ucl"]  # per-point limits
    assert d["phases"][1]["centre"] == d["phases"][0]["centre"]


def test_xbar_chart_from_readings(tmp_path: Path):
    res = run(str(REF / "pistonrings.csv"), "--chart", "xbar_r", "--value", "diameter",
              "--subgroup", "sample", "--phase-col", "trial", "--freeze-baseline")  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert len(d["points"]) == 40
    # qcc vignette: qcc(diameter[trial], type="xbar") limits 73.98805, 74.0143
    assert_allclose(
        [d["points"][30]["lcl"], d["points"][30]["ucl"]], [73.98805, 74.0143], rtol=1e-6
    )


def test_csv_and_png_output(lead_time: Path, tmp_path: Path):
    out = tmp_path / "chart.csv"
    res = run(
        str(lead_time), "--chart", "xmr", "--value", "hours", "--format", "csv", "--out", str(out)
    )
    assert res.exit_code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns)[:3] == ["index", "time", "value"] and len(frame) == 30
    png = tmp_path / "chart.png"
    res = run(str(lead_time), "--chart", "xmr", "--value", "hours", "--time", "week",
              "--format", "png", "--out", str(png))  # fmt: skip
    assert res.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_csv_output_keeps_a_formula_in_a_time_label_as_text(tmp_path: Path):
    """--format csv is for opening in a spreadsheet: a time label that starts like a formula
    gets a leading ' (OWASP CSV injection), the negative values stay numbers."""
    labels = ['=HYPERLINK("http://evil.example","click")'] + [f"w{i}" for i in range(19)]
    path = tmp_path / "labels.csv"
    pd.DataFrame({"week": labels, "x": np.arange(20.0) - 5.5}).to_csv(path, index=False)
    out = tmp_path / "chart.csv"
    res = run(str(path), "--chart", "xmr", "--value", "x", "--time", "week",
              "--format", "csv", "--out", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert frame["time"].iloc[0] == '\'=HYPERLINK("http://evil.example","click")'
    assert frame["value"].iloc[0] == -5.5 and frame["value"].dtype == float


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chart", "xmr", "--value", "nope"], "no column 'nope'"),
        (["--chart", "xmr", "--value", "week"], "non-numeric values such as '2024-01-08'"),
        (["--chart", "p", "--value", "hours"], "needs n"),
        (["--chart", "xmr", "--value", "hours", "--rules", "zz"], "unknown rule set"),
        (["--chart", "xmr", "--value", "hours", "--format", "png"], "--format png needs --out"),
        (
            ["--chart", "xmr", "--value", "hours", "--phase-col", "week", "--phase-at", "3"],
            "either --phase-col or --phase-at",
        ),
        (
            ["--chart", "xmr", "--value", "hours", "--time", "week", "--phase-at", "soon"],
            "is not a date",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(lead_time: Path, args, message):
    res = run(str(lead_time), *args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_missing_file_and_help(tmp_path: Path):
    res = run(str(tmp_path / "none.csv"), "--chart", "xmr", "--value", "x")
    assert res.exit_code == 2 and "no such file" in res.output
    res = run("--help")
    assert res.exit_code == 0 and "Example:" in res.output and "kaizen-reports chart" in res.output


def test_plots_carry_a_text_alternative():
    from pipeline.report.plots.control import plot_control_chart, plot_sparkline

    times = pd.date_range("2024-01-01", periods=30, freq="D")
    x = np.r_[np.full(20, 10.0) + np.tile([0.5, -0.5], 10), np.full(10, 14.0)]
    ch = control_chart(x, times=times, phases=["before"] * 20 + ["after"] * 10,
                       freeze_baseline=True, better="higher")  # fmt: skip
    img = plot_control_chart(ch, title="Output", unit="units", zones=True)
    assert img.png[:4] == b"\x89PNG" and "<svg" in img.svg
    assert img.alt.startswith(
        "Output: Individuals (XmR) control chart of 30 points from 1 Jan 2024"
    )
    assert "signal improvement" in img.alt and "latest point: special cause improvement" in img.alt
    assert "after" in img.svg  # the phase break is labelled with the phase (event) name
    spark = plot_sparkline(ch)
    assert "special cause improvement" in spark.alt and spark.png[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- issue 18 options


def _write(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_phase_at_without_time_is_a_1_based_data_row(tmp_path: Path):
    path = _write(tmp_path, "x.csv", pd.DataFrame({"x": np.arange(1.0, 21.0)}))
    res = run(str(path), "--chart", "xmr", "--value", "x", "--phase-at", "11")
    assert res.exit_code == 0, res.output
    phases = json.loads(res.output)["phases"]
    assert [(p["first"], p["last"]) for p in phases] == [(1, 10), (11, 20)]  # row 11 = point 11
    bad = run(str(path), "--chart", "xmr", "--value", "x", "--phase-at", "0")
    assert bad.exit_code == 2 and "data rows 1 to 20" in bad.output


def test_phase_at_a_date_is_an_iso_date_inside_the_data(tmp_path: Path):
    """--phase-at 05/01/2026 was read as 1 May (and 19/01/2026 day first); a date before or
    after every point gave one phase and no message."""
    weeks = pd.date_range("2026-01-05", periods=20, freq="7D")
    frame = pd.DataFrame({"week": [w.date().isoformat() for w in weeks], "x": np.arange(20.0)})
    path = _write(tmp_path, "w.csv", frame)
    args = (str(path), "--chart", "xmr", "--value", "x", "--time", "week", "--phase-at")
    good = run(*args, "2026-03-02")
    assert good.exit_code == 0, good.output
    assert [(p["first"], p["last"]) for p in json.loads(good.output)["phases"]] == [(1, 8), (9, 20)]
    for bad, words in (("05/01/2026", "is not a date"), ("2030-01-01", "after the last time"),
                       ("2024-01-01", "on or before the first time")):  # fmt: skip
        res = run(*args, bad)
        assert res.exit_code == 2 and words in res.output, res.output
    assert "2026-01-05 to 2026-05-18" in run(*args, "2030-01-01").output


def test_exclude_row_matches_the_library_and_qcc(tmp_path: Path):
    v = pd.read_csv(REF / "viscosity.csv")
    path = _write(tmp_path, "v.csv", v[v["trial"]][["batch", "viscosity"]])
    res = run(str(path), "--chart", "xmr", "--value", "viscosity", "--exclude", "4")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    # shared reference README: qcc viscosity trial rows without batch 4: centre 33.98947,
    # sigma 0.4117415
    assert d["phases"][0]["centre"] == pytest.approx(33.98947, rel=1e-6)
    assert d["phases"][0]["sigma"] == pytest.approx(0.4117415, rel=1e-6)
    assert d["points"][3]["excluded"] is True and d["points"][3]["signals"] == ["we1"]
    assert (
        run(str(path), "--chart", "xmr", "--value", "viscosity", "--exclude", "99").exit_code == 2
    )


def test_sigma_method_run_and_trend_length(tmp_path: Path):
    v = pd.read_csv(REF / "viscosity.csv")
    path = _write(tmp_path, "v.csv", v[v["trial"]][["batch", "viscosity"]])
    res = run(str(path), "--chart", "xmr", "--value", "viscosity", "--sigma-method", "sd")
    d = json.loads(res.output)
    # shared reference README: qcc viscosity trial rows, sigma = sd / c4: 0.5769854
    assert d["sigma_method"] == "SD"
    assert d["phases"][0]["sigma"] == pytest.approx(0.5769854, rel=1e-6)
    x = pd.DataFrame({"x": [1.0, 1.1, 1.0, 1.1, 1.0, 3, 3.1, 3, 3.1, 3.0, 3.1]})
    path = _write(tmp_path, "r.csv", x)
    res = run(str(path), "--chart", "xmr", "--value", "x", "--rules", "nhs", "--run-length", "5")
    sigs = [p["signals"] for p in json.loads(res.output)["points"]]
    assert "nhs_shift" in sigs[4] and "nhs_shift" in sigs[9]
    res = run(str(path), "--chart", "xmr", "--value", "x", "--rules", "nhs", "--trend-length", "2")
    assert res.exit_code == 0
    assert "nhs_trend" in json.loads(res.output)["points"][1]["signals"]


def test_ewma_and_cusum_commands(tmp_path: Path):
    rings = pd.read_csv(REF / "pistonrings.csv")
    path = _write(tmp_path, "rings.csv", rings[rings["trial"]])
    res = run(str(path), "--chart", "ewma", "--value", "diameter", "--subgroup", "sample",
              "--lambda", "0.2", "--nsigmas", "3")  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    # qcc vignette, ewma(pistonrings trial groups, lambda = 0.2, nsigmas = 3): point 1 limits
    # 73.99855 to 74.00380, point 25 73.99680 to 74.00555
    assert d["points"][0]["lcl"] == pytest.approx(73.99855, abs=6e-6)
    assert d["points"][24]["ucl"] == pytest.approx(74.00555, abs=6e-6)
    assert "statistic" in d["points"][0] and d["lambda"] == 0.2
    res = run(str(path), "--chart", "cusum", "--value", "diameter", "--subgroup", "sample",
              "--k", "0.5", "--h", "5", "--format", "csv")  # fmt: skip
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(io.StringIO(res.output))
    assert {"cusum_upper", "cusum_lower"} <= set(frame.columns) and (
        frame["cusum_lower"] <= 0
    ).all()
    bad = run(str(path), "--chart", "ewma", "--value", "diameter", "--phase-at", "3")
    assert bad.exit_code == 2 and "one phase" in bad.output


def test_g_and_t_charts(tmp_path: Path):
    days = [np.nan, 12, 3, 40, 7, 22, 1, 15, 9, 30, 4, 18, 65, 11, 6, 27]
    path = _write(tmp_path, "inc.csv", pd.DataFrame({"days": days}))
    for chart in ("g", "t"):
        res = run(str(path), "--chart", chart, "--value", "days")
        assert res.exit_code == 0, res.output
        d = json.loads(res.output)
        assert d["points"][0]["value"] is None  # the first event: empty, a gap
        assert d["points"][1]["lcl"] == 0.0
    g = json.loads(run(str(path), "--chart", "g", "--value", "days").output)
    assert g["phases"][0]["centre"] == pytest.approx(np.nanmedian(days))


#: A note over two lines (quoted) and a blank line come before the fourth reading, which is on
#: line 7 of the file (a position plus 2 would say line 5).
NOTED = 'day,count,note\n1,4,\n2,3,"late delivery,\nsecond shift"\n\n3,5,\n{bad},\n5,2,\n'


@pytest.mark.parametrize(
    ("bad", "chart", "message"),
    [
        ("4,abc", "c", "column 'count': non-numeric values such as 'abc' (row 7)"),
        ("4,-1", "c", "column 'count': counts must not be negative (row 7)"),
        ("4,1e300", "xmr", "column 'count': numbers beyond ±1e15 such as 1e+300"),
    ],
)
def test_bad_value_names_the_line_an_editor_shows(tmp_path: Path, bad, chart, message):
    path = tmp_path / "noted.csv"
    path.write_text(NOTED.replace("{bad},", bad + ","))
    res = CliRunner().invoke(main, ["chart", str(path), "--chart", chart, "--value", "count"])
    assert res.exit_code == 2
    assert message in res.output and "(row 7)" in res.output, res.output


def test_csv_carries_the_json_fields_and_both_count_points_as_the_options_do(lead_time: Path):
    """--format csv had no excluded column and numbered points from 0, while --exclude 7 and
    --phase-at 19 count data rows from 1: point 7 of the output is now the excluded row 7, and
    the phase starts at index 19, in JSON and CSV alike."""
    args = [str(lead_time), "--chart", "xmr", "--value", "hours", "--exclude", "7",
            "--phase-at", "19"]  # fmt: skip
    res = run(*args)
    assert res.exit_code == 0, res.output
    points = json.loads(res.output)["points"]
    assert [p["index"] for p in points] == list(range(1, 31))
    assert [p["index"] for p in points if p["excluded"]] == [7]
    assert [p["index"] for p in points if p["phase"] == 2][0] == 19
    res = run(*args, "--format", "csv")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(io.StringIO(res.output), keep_default_na=False)
    assert set(points[0]) <= set(frame.columns), set(points[0]) - set(frame.columns)
    assert frame["index"].tolist() == [p["index"] for p in points]
    assert frame["excluded"].tolist() == [p["excluded"] for p in points]
    assert frame["phase"].tolist() == [p["phase"] for p in points]
    assert frame["signals"].tolist() == [";".join(p["signals"]) for p in points]
    # the excluded row is the 7th data row of the file (row 5 is the missing week, 0-based 4)
    source = pd.read_csv(lead_time, keep_default_na=False)
    assert float(frame.loc[frame["excluded"], "value"].iloc[0]) == float(source["hours"][6])
    # without --exclude neither format has the column (JSON gives the key only when asked)
    plain = run(str(lead_time), "--chart", "xmr", "--value", "hours", "--format", "csv")
    assert "excluded" not in plain.output.splitlines()[0].split(",")
