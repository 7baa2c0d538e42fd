"""results.json: its JSON Schema, the demo's files against it, and the one typed loader."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from pipeline import vocabulary as v
from pipeline.data.config import load_project
from pipeline.data.demo import write_demo_project
from pipeline.data.inputs import read_tables, split_by_site
from pipeline.exceptions import InputError
from pipeline.report import results as results_module
from pipeline.report.analysis import analyse_site
from pipeline.report.results import (
    CHECKED_FILE,
    SCHEMA_FILE,
    SCHEMA_VERSION,
    SiteResults,
    load_results,
    parse_results,
    results_schema,
    site_results,
    validate_results,
    write_results,
)

AS_OF = "2026-11-30"
# one xdist worker runs the whole module, so its module-scoped fixtures are built once
pytestmark = pytest.mark.xdist_group("results")


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every demo site's results.json content, as the notebook writes it (JSON round trip)."""
    project = load_project(write_demo_project(tmp_path_factory.mktemp("demo"), as_of=AS_OF))
    ids = [s.id for s in project.sites]
    sliced = split_by_site(read_tables(project), ids)
    out = {}
    for sid in ids:
        site = analyse_site(sliced[sid], project=project, site_id=sid, as_of=pd.Timestamp(AS_OF))
        out[sid] = json.loads(json.dumps(site_results(site), allow_nan=False))
    return out


def test_schema_is_valid_draft_2020_12() -> None:
    schema = results_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_enums_are_the_vocabulary() -> None:
    defs = results_schema()["$defs"]
    assert defs["metric"]["properties"]["chart"]["enum"] == [c.value for c in v.ChartType]
    assert defs["event"]["properties"]["outcome"]["enum"] == [*(x.value for x in v.Verdict), None]
    assert defs["goal"]["properties"]["status"]["enum"] == [s.value for s in v.GoalStatus]
    assert defs["tile"]["properties"]["variation"]["enum"] == [s.value for s in v.VariationIcon]
    assert defs["tile"]["properties"]["assurance"]["enum"] == [s.value for s in v.AssuranceIcon]
    top = results_schema()["properties"]
    assert top["status"]["enum"] == [s.value for s in v.RunStatus]


def test_every_demo_site_matches_the_schema(demo_results: dict[str, dict]) -> None:
    assert len(demo_results) == 4
    validator = Draft202012Validator(results_schema())
    for sid, data in demo_results.items():
        assert data["schema_version"] == SCHEMA_VERSION
        errors = [
            f"{list(e.absolute_path)}: {e.message[:120]}" for e in validator.iter_errors(data)
        ]
        assert not errors, (sid, errors[:5])


def test_loader_gives_typed_results(demo_results: dict[str, dict], tmp_path: Path) -> None:
    data = demo_results["atelier-florence"]
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    res = load_results(tmp_path)  # a site folder or the file itself
    assert isinstance(res, SiteResults) and res == load_results(tmp_path / "results.json")
    assert res.site_id == "atelier-florence" and res.settings.alpha == 0.05
    assert res.status is v.RunStatus.OK
    metric = res.metric(data["metrics"][0]["metric_id"])
    assert isinstance(metric.chart, v.ChartType)
    outcomes = [e.outcome for m in res.metrics for e in m.events]
    assert all(o is None or isinstance(o, v.Verdict) for o in outcomes) and any(outcomes)
    assert res.summary.headline == data["summary"]["headline"]
    assert res.summary.tiles[0].variation in set(v.VariationIcon)
    assert res.to_dict()["summary"]["tiles"][0]["name"] == data["summary"]["tiles"][0]["name"]


def test_bad_files_name_the_field(demo_results: dict[str, dict], tmp_path: Path) -> None:
    data = json.loads(json.dumps(demo_results["hotel-lisbon"]))
    data["metrics"][0]["events"][0]["outcome"] = "improved"
    with pytest.raises(InputError, match=r"metrics\[0\]\.events\[0\]\.outcome: 'improved' is not"):
        parse_results(data)
    with pytest.raises(InputError, match="schema_version '2.0'; .* reads 1.x"):
        validate_results({**demo_results["hotel-lisbon"], "schema_version": "2.0"})
    with pytest.raises(InputError, match="missing"):
        load_results(tmp_path / "nowhere" / "results.json")
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot be read"):
        load_results(tmp_path)


def test_a_file_checked_as_it_was_written_is_not_checked_again_until_its_bytes_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_results records beside results.json the SHA-256 of the bytes it checked and of the
    schema; a reader of those bytes under that schema skips the schema check (the portfolio read
    every site of every run in its history, a thirtieth of a second each), and any other bytes
    (an edit, a file without the record, another schema) are checked as before."""
    project = load_project(write_demo_project(tmp_path / "demo", as_of=AS_OF))
    sid = "hotel-lisbon"
    sliced = split_by_site(read_tables(project), [sid])
    site = analyse_site(sliced[sid], project=project, site_id=sid, as_of=pd.Timestamp(AS_OF))
    out = tmp_path / "out"
    path = write_results(site, out)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads((out / CHECKED_FILE).read_text(encoding="utf-8")) == {
        "results_sha256": digest,
        "schema_sha256": hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest(),
    }
    checks: list[str] = []
    real = results_module.validate_results
    monkeypatch.setattr(
        results_module,
        "validate_results",
        lambda data, **kw: checks.append("x") or real(data, **kw),
    )
    assert load_results(out).site_id == sid and checks == []  # the bytes it checked: not again
    # a value the schema refuses, written over the checked file: checked, and refused
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metrics"][0]["events"][0]["outcome"] = "improved"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"does not match its schema at metrics\[0\]\.events"):
        load_results(out)
    # the file as written, but its record made under another schema: checked again
    write_results(site, out)
    record = json.loads((out / CHECKED_FILE).read_text(encoding="utf-8"))
    (out / CHECKED_FILE).write_text(json.dumps({**record, "schema_sha256": "0" * 64}), "utf-8")
    checks.clear()
    assert load_results(out).site_id == sid and checks == ["x"]
    (out / CHECKED_FILE).unlink()  # no record: checked
    assert load_results(out).site_id == sid and checks == ["x", "x"]


def test_a_newer_minor_version_with_more_keys_is_read(demo_results: dict[str, dict]) -> None:
    data = {**demo_results["fab-dresden"], "schema_version": "1.7", "portfolio_rank": 3}
    res = parse_results(data)
    assert res.schema_version == "1.7" and res.portfolio_rank == 3


def _segmented(data: dict) -> list[tuple[dict, dict, dict]]:
    """(metric, event, segmented_regression) of every event with a fitted model."""
    out = []
    for m in data["metrics"]:
        for e in m["events"]:
            seg = ((e.get("detail") or {}).get("impact") or {}).get("segmented_regression")
            if seg:
                out.append((m, e, seg))
    return out


def test_results_carry_the_model_on_the_metric_scale(demo_results: dict[str, dict]) -> None:
    ratios = {"p": "odds_ratio", "np": "odds_ratio", "c": "rate_ratio", "u": "rate_ratio"}
    seen = set()
    for data in demo_results.values():
        min_points = data["settings"]["min_phase_points"]
        for m, _e, seg in _segmented(data):
            nat = seg["natural_scale"]
            seen.add(m["chart"])
            assert nat["ratio"] == ratios.get(m["chart"]), (m["metric_id"], nat["ratio"])
            for term in ("level_change", "slope_change"):
                link, natural = seg[term], nat[term]
                if nat["ratio"] is None:
                    # OLS: already in the metric's units
                    assert natural["estimate"] == pytest.approx(link["estimate"], rel=1e-12)
                else:
                    # exp of the log or logit coefficient and of its interval's ends
                    for k in ("estimate", "ci_low", "ci_high"):
                        assert natural[k] == pytest.approx(math.exp(link[k]), rel=1e-9)
            # no counterfactual extrapolated from a baseline shorter than a phase
            if seg["n_before"] < min_points:
                assert seg["counterfactual"] is None and nat["end_difference"] is None
                assert str(min_points) in seg["counterfactual_note"]
            else:
                assert seg["counterfactual"] is not None and seg["counterfactual_note"] == ""
    assert {"p", "c", "u", "xmr"} <= seen
    safety = demo_results["build-manchester"]["metrics"]
    seg = next(s for m, _, s in _segmented({"metrics": safety}) if m["chart"] == "c")
    assert seg["counterfactual"] is None  # 9 baseline months: the 12.2-incident line is gone


def test_schema_requires_the_natural_scale() -> None:
    defs = results_schema()["$defs"]
    validator = Draft202012Validator({"$ref": "#/$defs/segmented_regression", "$defs": defs})
    link_only = {"model": "Poisson GLM (log), offset log(n)", "counterfactual": None,
                 "counterfactual_note": ""}  # fmt: skip
    assert not validator.is_valid(link_only)
    nat = {"ratio": "rate_ratio", "scale": "rate_difference", "end_difference": None,
           **{k: {"estimate": 0.5, "ci_low": 0.2, "ci_high": 0.9}
              for k in ("level_change", "slope_change", "level_difference")}}  # fmt: skip
    assert validator.is_valid({**link_only, "natural_scale": nat})
    assert not validator.is_valid({**link_only, "natural_scale": {**nat, "ratio": "log"}})


def test_the_run_keeps_the_key_charts_as_data_and_send_draws_the_same_pngs(tmp_path: Path) -> None:
    """write_results draws no PNG: it keeps each key chart's data (charts/<metric_id>.json),
    and the email's summary draws from it exactly the PNG the site's analysis draws."""
    from pipeline.delivery.summary import EmailSummary
    from pipeline.report.results import email_chart, email_chart_png, write_results

    project = load_project(write_demo_project(tmp_path / "demo", as_of=AS_OF))
    sid = project.sites[0].id
    sliced = split_by_site(read_tables(project), [sid])
    site = analyse_site(sliced[sid], project=project, site_id=sid, as_of=pd.Timestamp(AS_OF))
    out = tmp_path / "out"
    write_results(site, out)
    results = load_results(out)
    files = [item["file"] for item in results.summary.key_charts]
    assert files and not list(out.rglob("*.png"))
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("charts/*")) == sorted(
        f.removesuffix(".png") + ".json" for f in files
    )
    summary = EmailSummary.from_results(
        results, site_dir=out, site_id=sid, site_name="x", project="p", as_of=AS_OF,
        domain="example.com",
    )  # fmt: skip
    assert [c.metric_id for c in summary.charts] == [
        i["metric_id"] for i in results.summary.key_charts
    ]
    for drawn in summary.charts[:2]:
        metric = site.metric(drawn.metric_id)
        chart = metric.frozen if metric.frozen is not None else metric.chart
        assert chart is not None
        image = email_chart(chart, unit=metric.unit, phase_names=metric.phase_names)
        assert drawn.data == email_chart_png(image)
    # a damaged data file leaves that chart out (send warns), the others are still drawn
    (out / files[0].removesuffix(".png")).with_suffix(".json").write_text("{", "utf-8")
    damaged = EmailSummary.from_results(
        results, site_dir=out, site_id=sid, site_name="x", project="p", as_of=AS_OF,
        domain="example.com",
    )  # fmt: skip
    assert damaged.skipped_charts == (files[0],) and len(damaged.charts) == len(files) - 1
