"""`kaizen-reports send` end to end: real loopback SMTP server, dry-run .eml files, exit codes."""

from __future__ import annotations

import json
import signal
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner

from pipeline.cli import main
from tests.mail_fixtures import (
    AS_OF,
    PASSWORD,
    SITES,
    RecordingHandler,
    SmtpServer,
    mime_tree,
    smtp_env,
    standard_project,
    write_run,
)

FAILED = {"south": "notebook error in cell 4: ValueError: lead_time has no observations"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """The developer's own SMTP settings must not leak into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("KAIZEN_SMTP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def project_file(tmp_path: Path) -> Path:
    path = standard_project(tmp_path, site_ids=["north", "zurich", "south"])
    write_run(tmp_path / "out", sites=SITES, failed=FAILED)
    return path


def send(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["send", *args], env=env, catch_exceptions=False)


def test_dry_run_writes_one_eml_per_message_and_sends_nothing(project_file: Path):
    with SmtpServer() as server:
        result = send("--project", str(project_file), "--dry-run")
    assert result.exit_code == 0, result.output
    assert server.received == []
    run = project_file.parent / "out" / AS_OF
    assert not (run / "send-ledger.json").exists()
    parse = BytesParser(policy=policy.default).parsebytes
    assert sorted(p.name for p in (run / "north").glob("*.eml")) == [
        "email-ops-north@example.com.eml",
        "email-zoe.mueller@example.com.eml",
    ]
    north = parse((run / "north" / "email-ops-north@example.com.eml").read_bytes())
    assert mime_tree(north) == [
        "multipart/mixed",
        "  multipart/related",
        "    multipart/alternative",
        "      text/plain",
        "      text/html",
        "    image/png",
        "    image/png",
        "  text/html",
    ]
    assert north["Subject"].startswith("North Plant: Lot cycle time")
    assert len(north["Subject"]) <= 78 and "2026" not in north["Subject"]
    assert [a.get_filename() for a in north.iter_attachments()] == ["report.html"]
    zurich = parse((run / "zurich" / "email-ops-zurich@example.com.eml").read_bytes())
    assert zurich["Subject"].startswith("Zürich — Atelier: Lot cycle time")
    assert not list((run / "south").glob("*.eml"))  # failed sites get no stakeholder email
    failures = parse((run / "failures.eml").read_bytes())
    assert mime_tree(failures) == ["multipart/alternative", "  text/plain", "  text/html"]
    assert [a.addr_spec for a in failures["To"].addresses] == ["analytics@example.com"]
    assert "written to" in result.output and "failures.eml" in result.output


def test_send_delivers_records_and_a_rerun_sends_nothing_twice(project_file: Path):
    with SmtpServer() as server:
        env = smtp_env(server.port)
        first = send("--project", str(project_file), env=env)
        assert first.exit_code == 0, first.output
        assert len(server.received) == 4
        rcpts = sorted(r for m in server.received for r in m.rcpt_tos)
        assert rcpts == [
            "analytics@example.com",
            "ops-north@example.com",
            "ops-zurich@example.com",
            "zoe.mueller@example.com",
        ]
        assert "south@example.com" not in rcpts

        failure = next(
            m.message for m in server.received if m.rcpt_tos == ["analytics@example.com"]
        )
        assert failure["Subject"] == "Mini Programme: 1 site report failed"
        body = failure.get_body(preferencelist=("plain",)).get_content()
        assert "South" in body and FAILED["south"] in body

        again = send("--project", str(project_file), "--as-of", AS_OF, env=env)
        assert again.exit_code == 0, again.output
        assert len(server.received) == 4
        assert again.output.count("already sent (use --force") == 4

        forced = send("--project", str(project_file), "--site", "north", "--force", env=env)
        assert forced.exit_code == 0, forced.output
        assert len(server.received) == 6

    ledger = json.loads((project_file.parent / "out" / AS_OF / "send-ledger.json").read_text())
    assert ledger["as_of"] == AS_OF and ledger["run_id"] == "20260629T060000Z-abc123"
    first_entry = ledger["entries"][0]
    assert set(first_entry) >= {
        "kind",
        "site_id",
        "recipient",
        "time",
        "message_id",
        "outcome",
        "smtp_reply",
        "attempts",
        "run_id",
        "size",
    }
    assert [e["outcome"] for e in ledger["entries"]] == ["sent"] * 6


def test_to_overrides_every_recipient(project_file: Path):
    with SmtpServer() as server:
        result = send(
            "--project",
            str(project_file),
            "--to",
            "Tester <me@example.org>",
            env=smtp_env(server.port),
        )
    assert result.exit_code == 0, result.output
    assert [m.rcpt_tos for m in server.received] == [["me@example.org"]] * 3


def test_permanent_failure_exits_1_and_never_shows_the_password(project_file: Path, tmp_path):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with SmtpServer(RecordingHandler(reject=True), mode="starttls", auth=True, ca=ca) as server:
        env = smtp_env(server.port, security="starttls", auth=True, ca_file=ca_file)
        result = send("--project", str(project_file), "--site", "zurich", env=env)
    assert result.exit_code == 1
    assert "550 5.7.1 Message rejected by policy" in result.output
    assert server.handler.data_calls == 1
    run = project_file.parent / "out" / AS_OF
    assert PASSWORD not in result.output
    for path in run.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_site_nobody_can_be_sent_fails_the_send_and_the_others_are_sent(tmp_path: Path):
    """Every address of zurich is invalid and south has none: both are named with the
    addresses left out and why, north is still sent, and send exits 1 (some site got nothing)."""
    from tests.mail_fixtures import write_project

    sites = {
        "north": ("North Plant", ["Ops North <ops-north@example.com>"]),
        "zurich": ("Zürich — Atelier", ["ops-zurich", "Ops <ops@-bad.example>"]),
        "south": ("South Works", []),
    }
    path = write_project(tmp_path, sites=sites)
    write_run(tmp_path / "out", sites={sid: name for sid, (name, _) in sites.items()})
    with SmtpServer() as server:
        result = send("--project", str(path), env=smtp_env(server.port))
    assert result.exit_code == 1, result.output
    assert [m.rcpt_tos for m in server.received] == [["ops-north@example.com"]]
    assert (
        "site zurich: no recipient: none of the 2 stakeholder addresses of Zürich — Atelier "
        "(zurich) in kaizen.yaml is valid, so nobody got its report: "
        "sites[2].stakeholders[1] (site 'zurich'): 'ops-zurich' is not one email address; "
        "sites[2].stakeholders[2] (site 'zurich'): 'Ops <ops@-bad.example>' is not a complete "
        "address "
        "(user@domain)"
    ) in result.output
    assert (
        "site south: no recipient: South Works (south) has no stakeholders in kaizen.yaml; "
        "nobody got its report"
    ) in result.output
    assert "2 no recipient, 1 sent" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "no SMTP host configured"),
        (
            ["--site", "nowhere"],
            None,
            "unknown site id 'nowhere'; known sites: north, zurich, south",
        ),
        (["--as-of", "2020-01-01"], None, "no run for 2020-01-01"),
        (["--as-of", "someday"], None, "is not a date"),
        (["--to", "not-an-address"], None, "--to: 'not-an-address' is not"),
        ([], {"KAIZEN_SMTP_SECURITY": "tls13"}, "must be none, starttls or ssl"),
    ],
)
def test_usage_and_configuration_errors_exit_2(project_file: Path, args, env, message):
    env = {**smtp_env(25), **env} if env is not None else smtp_env(25)
    if message.startswith("no SMTP host"):
        env = {}
    result = send("--project", str(project_file), *args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_stale_refused_then_allowed_and_only_changed_from_the_command_line(tmp_path: Path):
    path = standard_project(tmp_path, site_ids=["north", "zurich"])
    write_run(tmp_path / "out", sites=SITES, stale=("zurich",))
    with SmtpServer() as server:
        env = smtp_env(server.port)
        refused = send("--project", str(path), "--only-changed", env=env)
        assert refused.exit_code == 1, refused.output
        assert "site zurich: stale: its data is stale" in refused.output
        assert "pass --allow-stale to send it anyway" in refused.output
        assert len(server.received) == 2  # north's two stakeholders
        assert "sent (" in refused.output and " KB): 250 " in refused.output  # each size logged

        allowed = send("--project", str(path), "--allow-stale", "--only-changed", env=env)
        assert allowed.exit_code == 0, allowed.output
        assert [r.rcpt_tos for r in server.received[2:]] == [["ops-zurich@example.com"]]
        assert allowed.output.count("already sent (use --force") == 2


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_send_stuck_on_a_hung_relay_stops_on_ctrl_c_or_sigterm(
    project_file: Path, signum: int, code: int
):
    """A relay that accepts the connection and never greets (a hung server): send waits on it,
    and SIGINT or SIGTERM stops it with one line and 130/143, not "Aborted!" or a traceback."""
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        env = {**os.environ, **smtp_env(hung.getsockname()[1]), "KAIZEN_SMTP_TIMEOUT": "120"}
        env["KAIZEN_SMTP_FROM"] = "Kaizen <kaizen@example.com>"
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "send", "--project", str(project_file)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        hung.settimeout(120)
        conn, _ = hung.accept()  # send is now waiting for the greeting
        with conn:
            time.sleep(0.5)
            proc.send_signal(signum)
            _out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Interrupted while sending: the messages sent so far are in the send ledger" in err
    assert "Traceback" not in err and "Aborted" not in err
