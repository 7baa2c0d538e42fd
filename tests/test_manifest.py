"""manifest.json: written through its dataclasses, checked against the shipped JSON Schema, read
back through the one typed loader; and the committed schemas are what ``tools.schemas`` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.exceptions import ConfigError, InputError
from pipeline.report.manifest import (
    SCHEMA_FILE,
    SCHEMA_VERSION,
    Manifest,
    SiteOutcome,
    load_manifest,
)
from pipeline.run.manifest import kept_sites, write_manifest
from pipeline.run.outcome import RunResult
from pipeline.vocabulary import RunStatus
from tools import schemas


def _result(out: Path) -> RunResult:
    return RunResult(
        run_id="20261130T060000Z-abc123",
        as_of="2026-11-30",
        output=out,
        sites=(
            SiteOutcome(
                site_id="north",
                status=RunStatus.OK,
                seconds=3.14159,
                attempts=1,
                timings={"execute": 2.71828},
                published=True,
                change="new",
            ),
            SiteOutcome(
                site_id="east", status=RunStatus.FAILED, error="cell 7 raised <x> & y", attempts=2
            ),
        ),  # fmt: skip
        seconds=9.87654,
        validation_seconds=0.5,
        data_outside_sites=({"site_id": "ghost", "message": "site 'ghost' is not configured"},),
        kept_sites=(SiteOutcome(site_id="south", status=RunStatus.WARNINGS, run_id="earlier"),),
    )


def test_written_manifest_matches_the_schema_and_reads_back_typed(tmp_path: Path) -> None:
    path = write_manifest(_result(tmp_path), project_name="Mini", order=["north", "south", "east"])
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION and list(data)[0] == "schema_version"
    from jsonschema import Draft202012Validator

    Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(data)
    m = load_manifest(tmp_path)
    assert isinstance(m, Manifest) and m.project == "Mini"
    assert [s.site_id for s in m.sites] == ["north", "south", "east"]  # the configuration's order
    north, south, east = m.sites
    assert north.status is RunStatus.OK and north.seconds == 3.142
    assert north.timings == {"execute": 2.718} and north.run_id == m.run_id
    assert south.run_id == "earlier" and east.is_failed and east.error == "cell 7 raised <x> & y"
    assert m.summary == {"ok": 1, "warnings": 1, "failed": 1} == m.status_counts()
    assert m.data_outside_sites[0]["site_id"] == "ghost"
    kept = kept_sites(tmp_path, configured=["north", "south", "east"], rerun=["north"])
    assert kept == [south, east]


def test_a_manifest_from_before_schema_version_still_reads(tmp_path: Path) -> None:
    legacy = {
        "run_id": "r0", "as_of": "2026-06-29", "project": "Old",
        "sites": [{"site_id": "north", "status": "ok", "error": None}],
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(legacy), encoding="utf-8")
    m = load_manifest(tmp_path / "manifest.json")
    assert m.sites == (SiteOutcome(site_id="north", status=RunStatus.OK),)
    assert m.generated_at is None and m.summary == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": "2.0"}, r"schema_version '2.0'; .* reads 1\.x"),
        ({"sites": [{"site_id": "north", "status": "fine"}]}, r"at sites\[0\]\.status: 'fine'"),
        ({"sites": [{"site_id": "../etc", "status": "ok"}]}, r"at sites\[0\]\.site_id"),
        ({"as_of": "30/11/2026"}, r"at as_of: '30/11/2026' is not a 'date'"),
        ({"secret": "x"}, r"Additional properties are not allowed \('secret'"),
    ],
)
def test_a_bad_manifest_names_the_field(tmp_path: Path, change: dict, message: str) -> None:
    good = {"schema_version": "1.0", "run_id": "r1", "as_of": "2026-11-30", "sites": []}
    (tmp_path / "manifest.json").write_text(json.dumps({**good, **change}), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_manifest(tmp_path)


def test_send_says_which_manifest_is_broken(tmp_path: Path) -> None:
    from pipeline.delivery.summary import find_run

    run = tmp_path / "2026-11-30"
    run.mkdir()
    (run / "manifest.json").write_text('{"run_id": 1, "as_of": "2026-11-30", "sites": []}')
    with pytest.raises(ConfigError, match=r"manifest.json does not match its schema at run_id"):
        find_run(tmp_path, "2026-11-30")


def test_committed_schemas_are_what_the_generator_writes() -> None:
    generated = schemas.schemas()
    assert {p.name for p in generated} == {"portfolio.schema.json", "manifest.schema.json"}
    for path, text in generated.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is out of date: run `python -m tools.schemas`"
        )
    assert schemas.main(["--check"]) == 0
