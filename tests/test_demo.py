"""The demo project: deterministic, loadable, and within every data-contract rule of PRODUCT.md."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.data.config import TABLES, load_project
from pipeline.data.demo import (
    DEMO_CASES,
    DEMO_METRICS,
    DEMO_SITES,
    build_demo_tables,
    write_demo_project,
)
from pipeline.exceptions import ConfigError

AS_OF = date(2026, 3, 18)
SITE_IDS = {str(s["id"]) for s in DEMO_SITES}

COLUMNS = {
    "metrics": [
        "metric_id",
        "name",
        "unit",
        "chart",
        "better",
        "period",
        "aggregate",
        "lower_bound",
        "upper_bound",
        "lsl",
        "usl",
        "target",
    ],
    "observations": ["site_id", "metric_id", "timestamp", "value", "n", "subgroup"],
    "events": [
        "site_id",
        "event_id",
        "title",
        "kind",
        "goal_id",
        "start_date",
        "effective_date",
        "end_date",
        "metric_ids",
        "owner",
        "status",
        "practice",
        "claimed_saving",
    ],
    "goals": [
        "goal_id",
        "site_id",
        "metric_id",
        "title",
        "baseline_start",
        "baseline_end",
        "target_kind",
        "target_value",
        "due_date",
    ],
    "suggestions": [
        "site_id",
        "suggestion_id",
        "submitted_on",
        "area",
        "status",
        "implemented_on",
        "estimated_saving",
    ],
    "headcount": ["site_id", "month", "headcount"],
    "surveys": ["site_id", "date", "instrument", "score", "responses"],
    "defects": ["site_id", "timestamp", "category", "count", "metric_id"],
    "annotations": ["site_id", "metric_id", "timestamp", "note", "exclude"],
}
CHARTS = {"xmr", "xbar_r", "xbar_s", "p", "np", "c", "u", "p_prime", "u_prime", "run", "g"}
CONTINUOUS = {"xmr", "xbar_r", "xbar_s", "run"}
PROPORTION = {"p", "np", "p_prime"}
COUNT = {"c", "u", "u_prime"}
NON_NEGATIVE_EXCEPT = {"build_schedule_variance"}  # % behind plan: negative means ahead of plan


@pytest.fixture(scope="module")
def project_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_project(tmp_path_factory.mktemp("demo"), as_of=AS_OF)


@pytest.fixture(scope="module")
def tables(project_file: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(project_file.parent / "data" / f"{name}.csv") for name in TABLES}


@pytest.fixture(scope="module")
def obs(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    frame = tables["observations"].copy()
    frame["ts"] = pd.to_datetime(frame["timestamp"])
    return frame.merge(tables["metrics"], on="metric_id", how="left", validate="many_to_one")


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def _weekly(obs: pd.DataFrame, site_id: str, metric_id: str) -> pd.Series:
    """The metric's charted statistic per week, the way the pipeline aggregates it."""
    rows = obs[(obs.site_id == site_id) & (obs.metric_id == metric_id)].dropna(subset=["value"])
    chart, aggregate = rows.iloc[0][["chart", "aggregate"]]
    groups = rows.groupby(rows.ts.dt.to_period("W-SUN").dt.start_time)
    if chart in PROPORTION | COUNT:
        return groups.value.sum() / groups.n.sum()
    if chart.startswith("xbar"):
        return groups.value.mean()
    return groups.value.agg(aggregate)


def _before_after(
    obs: pd.DataFrame, events: pd.DataFrame, case: str
) -> tuple[pd.Series, pd.Series]:
    site_id, metric_id, event_id = DEMO_CASES[case]
    event = events.set_index("event_id").loc[event_id]
    series = _weekly(obs, site_id, metric_id)
    before = series[series.index < pd.Timestamp(event.start_date)]
    after = series[series.index >= pd.Timestamp(event.effective_date)]
    return before, after


# --- files and configuration --------------------------------------------------------------------


def test_same_as_of_gives_identical_bytes(tmp_path: Path) -> None:
    write_demo_project(tmp_path / "a", as_of=AS_OF)
    write_demo_project(tmp_path / "b", as_of=AS_OF.isoformat())
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == sorted(["kaizen.yaml"] + [f"data/{t}.csv" for t in TABLES])
    assert a == b


def test_demo_writes_over_an_earlier_demo_but_never_over_a_users_project(tmp_path: Path) -> None:
    again = write_demo_project(tmp_path / "demo", as_of=AS_OF)
    assert write_demo_project(tmp_path / "demo", as_of=AS_OF) == again  # make demo, twice
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "kaizen.yaml").write_text("project: Mine\n", encoding="utf-8")
    (mine / "data" / "observations.csv").write_text("keep\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not a demo project"):
        write_demo_project(mine, as_of=AS_OF)
    (mine / "kaizen.yaml").unlink()  # no project file yet, but the user's export is there
    done = CliRunner().invoke(main, ["demo", "--dir", str(mine), "--output", str(tmp_path / "r")])
    assert done.exit_code == 2 and "observations.csv" in done.output, done.output
    assert (mine / "data" / "observations.csv").read_text(encoding="utf-8") == "keep\n"
    assert sorted(p.name for p in mine.rglob("*")) == ["data", "observations.csv"]
    assert not (tmp_path / "r").exists()


def test_other_as_of_moves_dates_but_not_the_draws() -> None:
    first = build_demo_tables(AS_OF)["observations"]
    later = build_demo_tables(AS_OF + timedelta(days=35))["observations"]
    assert first["timestamp"].max() != later["timestamp"].max()
    # the calendar shifts by whole weeks; the random values of the non-seasonal sites do not change
    fab = first.site_id == "fab-dresden"
    assert np.array_equal(first[fab].value, later[later.site_id == "fab-dresden"].value)


def test_default_as_of_is_today(tmp_path: Path) -> None:
    path = write_demo_project(tmp_path)
    assert f"as_of {date.today().isoformat()}" in path.read_text(encoding="utf-8")


def test_load_project_accepts_the_yaml(project_file: Path) -> None:
    project = load_project(project_file)
    assert set(project.site_ids) == SITE_IDS and len(project.sites) == 4
    assert set(project.tables) == set(TABLES)
    for source in project.tables.values():
        assert source.path is not None and source.path.is_file()
        assert source.path.parent == project_file.parent / "data" and source.path.suffix == ".csv"
    assert project.output == project_file.parent / "reports"
    for site in project.sites:
        assert 1 <= len(site.stakeholders) <= 3
        assert all(s.endswith("@example.com>") for s in site.stakeholders)
        assert site.timezone.startswith("Europe/")
    assert project.email.sender and "example.com" in project.email.sender
    assert project.email.smtp.host == "smtp.example.com"
    assert "password" not in project_file.read_text(encoding="utf-8").lower()


def test_output_folder_is_written_as_an_absolute_path(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "out"
    project = load_project(write_demo_project(tmp_path / "p", as_of=AS_OF, output=out))
    assert project.output == out.resolve()


# --- tables and contract rules -------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
def test_every_table_has_the_product_columns(tables: dict[str, pd.DataFrame], name: str) -> None:
    assert list(tables[name].columns) == COLUMNS[name]
    assert len(tables[name]) > 0


def test_metrics(tables: dict[str, pd.DataFrame], obs: pd.DataFrame) -> None:
    metrics = tables["metrics"]
    assert metrics.metric_id.is_unique
    optional = ["lower_bound", "upper_bound", "lsl", "usl", "target"]
    assert metrics.drop(columns=optional).notna().all().all()
    # one metric has specification limits (its capability is in the report)
    specs = metrics.set_index("metric_id").loc["atelier_stitch_density", ["lsl", "usl", "target"]]
    assert specs.tolist() == [3.7, 4.3, 4.0]
    # hours and days cannot be negative: the demo says so, so limits stop at 0
    bounded = metrics.set_index("metric_id")["lower_bound"]
    assert bounded["fab_eq_downtime"] == 0 and bounded["build_rework_hours"] == 0
    assert set(metrics.chart) <= CHARTS
    assert set(metrics.better) <= {"lower", "higher", "neutral"}
    assert set(metrics.period) <= {"day", "week", "month"}
    assert set(metrics["aggregate"]) <= {"mean", "median", "sum"}
    assert metrics.chart.isin({"xbar_r", "xbar_s"}).any()
    for site_id in SITE_IDS:
        charts = set(obs[obs.site_id == site_id].chart)
        assert len(set(obs[obs.site_id == site_id].metric_id)) >= 3
        assert charts & CONTINUOUS and charts & PROPORTION and charts & COUNT, site_id
    # every metric is measured at exactly one site, and ids say which
    assert obs.groupby("metric_id").site_id.nunique().eq(1).all()
    assert set(obs.metric_id) == set(metrics.metric_id)
    assert set(zip(obs.site_id, obs.metric_id, strict=True)) == {m[:2] for m in DEMO_METRICS}


def test_observations(obs: pd.DataFrame) -> None:
    assert obs[["site_id", "metric_id", "timestamp"]].notna().all().all()
    assert set(obs.site_id) == SITE_IDS
    assert obs.chart.notna().all(), "every observation's metric is defined"
    assert obs.ts.max() <= pd.Timestamp(AS_OF)
    span = obs.ts.max() - obs.ts.min()
    assert pd.Timedelta(days=18 * 30) <= span <= pd.Timedelta(days=24 * 31)
    assert obs.groupby("site_id").size().max() <= 5000
    keys = obs[["site_id", "metric_id", "timestamp", "subgroup"]].fillna("")
    assert not keys.duplicated().any()

    attribute = obs.chart.isin(PROPORTION | COUNT - {"c"})
    assert (obs.loc[attribute, "n"] > 0).all()
    assert obs.loc[~attribute, "n"].isna().all()
    counted = obs[obs.chart.isin(PROPORTION | COUNT)].value
    assert (counted >= 0).all() and (counted == np.floor(counted)).all()
    proportion = obs[obs.chart.isin(PROPORTION)]
    assert (proportion.value <= proportion.n).all()
    xbar = obs.chart.str.startswith("xbar")
    assert obs.loc[xbar, "subgroup"].notna().all() and obs.loc[~xbar, "subgroup"].isna().all()
    assert obs[xbar].groupby(["metric_id", "subgroup"]).size().between(2, 25).all()
    non_negative = obs[~obs.metric_id.isin(NON_NEGATIVE_EXCEPT)].value.dropna()
    assert (non_negative >= 0).all()


def test_only_the_data_warning_case_has_blank_values(obs: pd.DataFrame) -> None:
    site_id, metric_id, _ = DEMO_CASES["data_warning"]
    blank = obs[obs.value.isna()]
    assert 3 <= len(blank) <= 10
    assert set(blank.site_id) == {site_id} and set(blank.metric_id) == {metric_id}


def test_events(tables: dict[str, pd.DataFrame], obs: pd.DataFrame) -> None:
    events = tables["events"]
    assert events.event_id.is_unique
    required = ["site_id", "event_id", "title", "kind", "start_date", "effective_date", "owner"]
    assert events[required + ["metric_ids", "status", "goal_id"]].notna().all().all()
    assert set(events.site_id) <= SITE_IDS
    assert events.groupby("site_id").size().min() >= 2
    assert set(events.kind) <= {"kaizen_event", "lean_project", "other"}
    assert set(events.status) <= {"planned", "in_progress", "done", "cancelled"}
    assert {"planned", "in_progress", "done"} <= set(events.status)
    start = pd.to_datetime(events.start_date)
    effective = pd.to_datetime(events.effective_date)
    end = pd.to_datetime(events.end_date)
    assert (effective >= start).all()
    assert (end.isna() | (end >= effective)).all()
    planned = events.status == "planned"
    latest = pd.concat([start, effective, end.fillna(start)], axis=1).max(axis=1)
    assert (latest[~planned] <= pd.Timestamp(AS_OF)).all()
    assert (start[planned] > pd.Timestamp(AS_OF)).all()
    assert end[events.status == "in_progress"].isna().all()
    goals = tables["goals"].set_index("goal_id")
    measured = set(zip(obs.site_id, obs.metric_id, strict=True))
    for event in events.itertuples():
        assert goals.loc[event.goal_id, "site_id"] in (event.site_id, "*")
        for metric_id in event.metric_ids.split(";"):
            assert (event.site_id, metric_id) in measured, (event.event_id, metric_id)


def test_goals(tables: dict[str, pd.DataFrame]) -> None:
    goals = tables["goals"]
    assert goals.goal_id.is_unique and goals.notna().all().all()
    assert set(goals.site_id) <= SITE_IDS | {"*"}
    assert set(goals.metric_id) <= set(tables["metrics"].metric_id)
    assert set(goals.target_kind) <= {"relative", "absolute", "hold"}
    hold = goals[goals.target_kind == "hold"].target_value  # tolerance as a share of baseline
    assert len(hold) and hold.between(0, 1, inclusive="neither").all()
    relative = goals[goals.target_kind == "relative"].target_value
    assert relative.between(-1, 1).all()
    baseline_start = pd.to_datetime(goals.baseline_start)
    baseline_end = pd.to_datetime(goals.baseline_end)
    assert (baseline_start < baseline_end).all() and (baseline_end <= pd.Timestamp(AS_OF)).all()
    due = pd.to_datetime(goals.due_date)
    assert (due < pd.Timestamp(AS_OF)).sum() == 1, "exactly one overdue goal"
    assert set(goals.goal_id) == set(tables["events"].goal_id)


def test_suggestions(tables: dict[str, pd.DataFrame]) -> None:
    ideas = tables["suggestions"]
    assert ideas.suggestion_id.is_unique
    assert ideas[["site_id", "suggestion_id", "submitted_on", "area", "status"]].notna().all().all()
    assert set(ideas.site_id) == SITE_IDS
    assert ideas.groupby("site_id").size().between(100, 400).all()
    assert set(ideas.status) == {"submitted", "accepted", "implemented", "rejected"}
    submitted = pd.to_datetime(ideas.submitted_on)
    implemented = pd.to_datetime(ideas.implemented_on)
    assert (implemented.notna() == (ideas.status == "implemented")).all()
    assert (implemented.dropna() >= submitted[implemented.notna()]).all()
    assert (implemented.dropna() <= pd.Timestamp(AS_OF)).all()
    assert (submitted <= pd.Timestamp(AS_OF)).all()
    saving = ideas.estimated_saving
    assert saving.isna().any() and (saving.dropna() > 0).all()


def test_headcount_and_surveys(tables: dict[str, pd.DataFrame]) -> None:
    heads = tables["headcount"]
    month = pd.to_datetime(heads.month)
    assert (month.dt.day == 1).all() and (month <= pd.Timestamp(AS_OF)).all()
    assert not heads[["site_id", "month"]].duplicated().any()
    assert (heads.headcount > 0).all() and set(heads.site_id) == SITE_IDS
    surveys = tables["surveys"]
    assert surveys.notna().all().all() and set(surveys.site_id) == SITE_IDS
    assert set(surveys.instrument) == {"engagement", "customer_satisfaction"}
    assert (pd.to_datetime(surveys.date) <= pd.Timestamp(AS_OF)).all()
    assert (surveys.responses > 0).all()


# --- the built-in cases ---------------------------------------------------------------------------


def test_demo_cases_point_at_existing_rows(tables: dict[str, pd.DataFrame]) -> None:
    assert set(DEMO_CASES) == {"sustained", "faded", "no_change", "data_warning"}
    events = tables["events"].set_index("event_id")
    metric_ids = set(tables["metrics"].metric_id)
    for site_id, metric_id, event_id in DEMO_CASES.values():
        assert site_id in SITE_IDS and metric_id in metric_ids
        assert events.loc[event_id, "site_id"] == site_id
        assert metric_id in events.loc[event_id, "metric_ids"].split(";")
        assert events.loc[event_id, "status"] == "done"


@pytest.mark.parametrize("case", ["sustained", "faded", "no_change"])
def test_cases_have_room_before_and_after(
    tables: dict[str, pd.DataFrame], obs: pd.DataFrame, case: str
) -> None:
    before, after = _before_after(obs, tables["events"], case)
    assert len(before) >= 12 and len(after) >= 20


def _z(before: pd.Series, after: pd.Series) -> float:
    se = np.sqrt(before.var() / len(before) + after.var() / len(after))
    return float((after.mean() - before.mean()) / se)


def test_sustained_case_shifts_and_holds(
    tables: dict[str, pd.DataFrame], obs: pd.DataFrame
) -> None:
    before, after = _before_after(obs, tables["events"], "sustained")
    assert _z(before, after) < -3  # better is lower
    gain = before.mean() - after.mean()
    assert before.mean() - after.iloc[-8:].mean() > 0.8 * gain


def test_faded_case_improves_then_loses_most_of_the_gain(
    tables: dict[str, pd.DataFrame], obs: pd.DataFrame
) -> None:
    before, after = _before_after(obs, tables["events"], "faded")
    improved = after.iloc[:20]
    assert _z(before, improved) < -3
    gain = before.mean() - improved.mean()
    assert before.mean() - after.iloc[-6:].mean() < 0.4 * gain
    sigma = improved.diff().abs().mean() / 1.128
    assert (after.iloc[-6:] > improved.mean() + 3 * sigma).sum() >= 3


def test_no_change_case_does_not_shift(tables: dict[str, pd.DataFrame], obs: pd.DataFrame) -> None:
    before, after = _before_after(obs, tables["events"], "no_change")
    assert abs(_z(before, after)) < 2


def test_defects_annotations_and_the_rare_event_metric(
    tables: dict[str, pd.DataFrame], obs: pd.DataFrame
) -> None:
    defects = tables["defects"]
    assert set(defects.site_id) == {"atelier-florence", "fab-dresden"}
    assert (defects["count"] > 0).all()
    notes = tables["annotations"]
    excluded = notes[notes.exclude.astype(str).str.lower() == "true"]
    assert list(excluded.metric_id) == ["fab_eq_downtime"]
    # days between incidents: one row per incident after the first, at least a day apart
    gaps = obs[obs.metric_id == "build_days_between_incidents"]
    incidents = obs[obs.metric_id == "build_safety_incidents"].value.sum()
    assert len(gaps) == incidents - 1 and (gaps.value >= 1).all()
