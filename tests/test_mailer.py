"""pipeline.delivery against real SMTP servers on loopback (aiosmtpd): MIME, TLS, AUTH, retries, ledger."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import trustme

from pipeline.data.config import SmtpSettings, load_project
from pipeline.delivery.addresses import header_text, parse_address
from pipeline.delivery.compose import MAX_HTML_BYTES
from pipeline.delivery.send import send_run
from pipeline.delivery.smtp import SmtpConfig
from pipeline.delivery.summary import find_run
from pipeline.exceptions import ConfigError
from tests.mail_fixtures import (
    AS_OF,
    INJECTED_NAME,
    PASSWORD,
    SITES,
    TOKEN,
    USERNAME,
    OAuthHandler,
    RecordingHandler,
    SmtpServer,
    free_port,
    mime_tree,
    results_for,
    smtp_env,
    standard_project,
    write_project,
    write_run,
)

SITE_TREE = [
    "multipart/mixed",
    "  multipart/related",
    "    multipart/alternative",
    "      text/plain",
    "      text/html",
    "    image/png",
    "    image/png",
    "  text/html",
]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def project(tmp_path: Path):
    path = standard_project(tmp_path)
    write_run(tmp_path / "out", sites=SITES, failed={"south": "notebook error in cell 4: boom"})
    return load_project(path)


def _by_site(server: SmtpServer) -> dict[str, object]:
    return {r.message["X-Kaizen-Site"] or "failures": r for r in server.received}


def _ledger(project) -> dict:
    return json.loads((project.output / AS_OF / "send-ledger.json").read_text())


def _html(msg) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


# --- the message a stakeholder receives -------------------------------------------------------


def test_one_message_per_recipient_with_the_full_structure(project):
    with SmtpServer() as server:
        result = send_run(project, env=smtp_env(server.port))
    assert result.exit_code == 0, [m.describe() for m in result.messages]
    # south failed: no stakeholder email; north's two stakeholders get a message each
    assert sorted(
        (r.message["X-Kaizen-Site"] or "failures", r.rcpt_tos[0]) for r in server.received
    ) == [
        ("failures", "analytics@example.com"),
        ("north", "ops-north@example.com"),
        ("north", "zoe.mueller@example.com"),
        ("zurich", "ops-zurich@example.com"),
    ]
    north = [r for r in server.received if r.message["X-Kaizen-Site"] == "north"]
    assert [len(r.rcpt_tos) for r in north] == [1, 1]
    # nobody sees anyone else's address
    assert [[a.addr_spec for a in r.message["To"].addresses] for r in north] == [
        r.rcpt_tos for r in north
    ]
    assert north[0].message["Message-ID"] != north[1].message["Message-ID"]
    received = north[0]
    assert received.mail_from == "kaizen@example.com"
    msg = received.message
    assert mime_tree(msg) == SITE_TREE
    assert msg["Subject"] == (
        "North Plant: Lot cycle time fell 24% after the SMED kaizen and has held…"
    )
    assert msg["From"].addresses[0].addr_spec == "kaizen@example.com"
    assert [a.display_name for a in msg["To"].addresses] == ["Ops North"]
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", msg["Message-ID"])
    assert msg["Date"] and msg["Auto-Submitted"] == "auto-generated"

    related = next(msg.iter_parts())
    images = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    cids = {p["Content-ID"].strip("<>") for p in images}
    html = _html(msg)
    refs = re.findall(r'src="cid:([^"]+)"', html)
    assert len(refs) == 2 and set(refs) == cids  # every cid: resolves, no image left unused
    for p in images:
        assert p.get_content().startswith(b"\x89PNG")
        assert p.get_content_disposition() == "inline"

    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Lot cycle time fell 24%" in text and "* Lot cycle time: 16.0 h" in text
    assert "The gain has held for 20 weeks" in text
    assert "attached as report.html" in text

    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["report.html"]
    report = (project.output / AS_OF / "north" / "report.html").read_bytes()
    assert attachments[0].get_content_type() == "text/html"
    assert attachments[0].get_content().encode() == report
    # the log states each message's size, and the ledger keeps it
    sizes = {m.recipient: m.size for m in result.messages}
    assert sizes["ops-north@example.com"] == len(received.data.replace(b"\r\n", b"\n")) or (
        abs(sizes["ops-north@example.com"] - len(received.data)) < 200
    )
    assert all(re.search(r"sent \(\d+ KB\)", m.describe()) for m in result.messages)
    assert all(e["size"] > 20_000 for e in _ledger(project)["entries"] if e["kind"] == "report")


def test_html_body_is_lean_inline_styled_and_email_safe(project):
    with SmtpServer() as server:
        send_run(project, env=smtp_env(server.port), site_ids=["north"])
    html = _html(server.received[0].message)
    assert len(html.encode()) < MAX_HTML_BYTES
    lowered = html.lower()
    for banned in ("<script", "<style", "var(--", "data:", "javascript:", "<link", "@import"):
        assert banned not in lowered, banned
    assert 'role="presentation"' in html and "<table" in html
    assert "Lot cycle time fell 24%" in html
    assert "16.0 h" in html and "Special cause: improving" in html
    assert "nan" not in re.sub(r"<[^>]+>", " ", html).lower().split()
    assert "None" not in re.sub(r"<[^>]+>", " ", html).split()
    assert "not enough data" in html  # the OEE tile without a latest value
    assert "attached as report.html" in html
    # the header line in the report's own words
    assert "Report window " in html and "data up to " in html and "data as of" not in html


def test_every_string_from_results_is_escaped_in_html(tmp_path: Path):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    data = results_for("north", "North", findings=[f"Finding {evil}", "Two", "Three"])
    data["summary"]["headline"] = f"Headline {evil}"
    data["summary"]["tiles"][0]["name"] = evil
    data["summary"]["key_charts"][0]["alt"] = 'alt" onerror="alert(1)'
    path = standard_project(tmp_path, site_ids=["north"])
    write_run(tmp_path / "out", sites={"north": "North"}, results={"north": data})
    with SmtpServer() as server:
        send_run(load_project(path), env=smtp_env(server.port))
    html = _html(server.received[0].message)
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html  # Jinja2's autoescape
    assert 'alt="alt&#34; onerror=&#34;alert(1)"' in html


def test_site_name_with_crlf_and_non_ascii_cannot_inject_headers(tmp_path: Path):
    path = standard_project(tmp_path, site_ids=["zurich"])
    text = path.read_text("utf-8").replace(
        '"Zürich — Atelier"', json.dumps(INJECTED_NAME, ensure_ascii=False)
    )
    path.write_text(text, "utf-8")
    project = load_project(path)
    assert project.site("zurich").name == INJECTED_NAME
    write_run(tmp_path / "out", sites={"zurich": INJECTED_NAME})
    with SmtpServer() as server:
        result = send_run(project, env=smtp_env(server.port))
    assert result.exit_code == 0
    (received,) = server.received
    assert received.rcpt_tos == ["ops-zurich@example.com"]
    assert "evil@example.com" not in received.rcpt_tos
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # non-ASCII is RFC 2047-encoded, not raw
    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)
    msg = received.message
    assert msg["Bcc"] is None
    assert msg["Subject"].startswith("Zürich — Atelier Bcc: evil@example.com: Lot cycle")
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    html = _html(msg)
    assert "Zürich — Atelier" in html


def test_address_validation():
    a = parse_address("Zoë Müller <zoe@example.com>", where="t")
    assert (a.display_name, a.addr_spec) == ("Zoë Müller", "zoe@example.com")
    for bad in (
        "not an address",
        "a@example.com, b@example.com",
        "Evil\r\nBcc: x@example.com <a@example.com>",
        "a@example.com\nBcc: x@example.com",
        "user@",
        "",
        "zoë@example.com",
    ):
        with pytest.raises(ConfigError):
            parse_address(bad, where="t")
    assert header_text("a\r\nBcc: b\x00c") == "a Bcc: b c"


def test_an_invalid_stakeholder_address_skips_that_address_only(tmp_path: Path):
    """North keeps a valid stakeholder: its bad address is a warning. Zürich's only address is
    bad: nobody got its report, which fails the send (exit 1) and names the address and why."""
    path = standard_project(tmp_path)
    text = path.read_text("utf-8").replace(
        '"Ops North <ops-north@example.com>"', '"Ops North <ops-north@example.com>\\r\\nBcc: x@y.z"'
    )
    path.write_text(text.replace("ops-zurich@example.com", "ops-zurich"))
    write_run(tmp_path / "out", sites=SITES)
    with SmtpServer() as server:
        result = send_run(load_project(path), env=smtp_env(server.port))
    assert [r.rcpt_tos for r in server.received] == [["zoe.mueller@example.com"]]
    assert result.exit_code == 1
    assert (
        "sites[1].stakeholders[1] (site 'north'): 'Ops North <ops-north@example.com>\\r\\nBcc: x@y.z' "
        "contains control characters (line breaks are not allowed); that address is skipped"
        in result.warnings
    ), result.warnings
    assert not [w for w in result.warnings if "zurich" in w], result.warnings
    (zurich,) = [m for m in result.messages if m.site_id == "zurich"]
    assert zurich.outcome == "no_recipient" and zurich.is_failed
    assert zurich.describe() == (
        "site zurich: no recipient: the one stakeholder address of Zürich — Atelier (zurich) in "
        "kaizen.yaml is not valid, so nobody got its report: "
        "sites[2].stakeholders[1] (site 'zurich'): 'ops-zurich' is not one email address"
    )
    assert [m.outcome for m in result.failed] == ["no_recipient"]


# --- TLS and AUTH -----------------------------------------------------------------------------


def test_starttls_with_self_signed_certificate_and_auth(project, ca, ca_file, caplog):
    caplog.set_level(logging.DEBUG)
    with SmtpServer(mode="starttls", auth=True, ca=ca) as server:
        env = smtp_env(server.port, security="starttls", auth=True, ca_file=ca_file)
        result = send_run(project, env=env)
    assert result.exit_code == 0, [m.describe() for m in result.messages]
    assert len(server.received) == 4
    assert all(r.tls and r.authenticated for r in server.received)
    _assert_no_password(project, caplog.text, result)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS is TLS
def test_implicit_ssl_with_auth(project, ca, ca_file):
    with SmtpServer(mode="ssl", auth=True, ca=ca) as server:
        env = smtp_env(server.port, security="ssl", auth=True, ca_file=ca_file)
        result = send_run(project, env=env, site_ids=["north"])
    assert result.exit_code == 0, [m.describe() for m in result.messages]
    assert [r.authenticated for r in server.received] == [True, True]


def test_untrusted_certificate_fails_without_retry_and_is_recorded(project, ca):
    with SmtpServer(mode="starttls", ca=ca) as server:
        result = send_run(
            project, env=smtp_env(server.port, security="starttls"), site_ids=["north"]
        )
    assert result.exit_code == 1
    (entry, _) = _ledger(project)["entries"]
    assert entry["outcome"] == "failed" and entry["attempts"] == 1
    assert "certificate" in entry["smtp_reply"]


def test_wrong_password_is_recorded_and_never_echoed(project, ca, ca_file, caplog):
    caplog.set_level(logging.DEBUG)
    env = smtp_env(0, security="starttls", auth=True, ca_file=ca_file)
    with SmtpServer(mode="starttls", auth=True, ca=ca) as server:
        env["KAIZEN_SMTP_PORT"] = str(server.port)
        env["KAIZEN_SMTP_PASSWORD"] = PASSWORD + "-wrong"
        result = send_run(project, env=env, site_ids=["north"])
    assert result.exit_code == 1 and server.received == []
    entries = _ledger(project)["entries"]
    assert {e["outcome"] for e in entries} == {"failed"}
    assert all(e["smtp_reply"].startswith("535") and e["attempts"] == 1 for e in entries)
    everything = caplog.text + json.dumps(entries) + repr(result)
    assert PASSWORD not in everything


def _assert_no_password(project, log_text: str, result) -> None:
    run = project.output / AS_OF
    texts = [log_text, repr(result), result.summary()]
    texts += [m.describe() for m in result.messages]
    texts += [p.read_text("utf-8", "replace") for p in run.rglob("*.json")]
    texts += [
        repr(SmtpConfig.from_settings(project.email.smtp, {"KAIZEN_SMTP_PASSWORD": PASSWORD}))
    ]
    for text in texts:
        assert PASSWORD not in text


def test_config_checks_refuse_unsafe_or_incomplete_settings():
    base = SmtpSettings(host="smtp.example.com", port=587, username="kaizen")
    with pytest.raises(ConfigError, match="KAIZEN_SMTP_PASSWORD is not set"):
        SmtpConfig.from_settings(base, {}).check()
    with pytest.raises(ConfigError, match="unencrypted"):
        SmtpConfig.from_settings(
            base, {"KAIZEN_SMTP_SECURITY": "none", "KAIZEN_SMTP_PASSWORD": PASSWORD}
        ).check()
    with pytest.raises(ConfigError, match="no SMTP host"):
        SmtpConfig.from_settings(SmtpSettings(), {}).check()
    with pytest.raises(ConfigError, match="KAIZEN_SMTP_PORT must be a number"):
        SmtpConfig.from_settings(base, {"KAIZEN_SMTP_PORT": "x"})
    env = {
        "KAIZEN_SMTP_HOST": "mx.internal",
        "KAIZEN_SMTP_PORT": "2525",
        "KAIZEN_SMTP_SECURITY": "SSL",
        "KAIZEN_SMTP_USERNAME": "bot",
        "KAIZEN_SMTP_PASSWORD": PASSWORD,
    }
    cfg = SmtpConfig.from_settings(base, env).check()
    assert (cfg.host, cfg.port, cfg.security, cfg.username) == ("mx.internal", 2525, "ssl", "bot")
    assert PASSWORD not in repr(cfg) and PASSWORD not in cfg.describe()
    assert SmtpConfig.from_settings(SmtpSettings(host="h", security="ssl"), {}).port == 465


def test_an_empty_username_variable_clears_the_username_of_the_file(tmp_path: Path):
    """kaizen.yaml names a username; KAIZEN_SMTP_USERNAME="" means "no login" (a local relay
    that takes mail without AUTH), where an unset variable keeps the file's username."""
    path = standard_project(tmp_path, smtp={"username": USERNAME})
    write_run(tmp_path / "out", sites=SITES)
    project = load_project(path)
    with SmtpServer() as server:  # no AUTH offered: a login attempt would fail every message
        env = smtp_env(server.port)
        with pytest.raises(ConfigError, match="KAIZEN_SMTP_PASSWORD is not set"):
            send_run(project, env=env)
        result = send_run(project, env={**env, "KAIZEN_SMTP_USERNAME": ""})
    assert result.exit_code == 0, [m.describe() for m in result.messages]
    assert sorted(r for m in server.received for r in m.rcpt_tos) == [
        "ops-north@example.com", "ops-zurich@example.com", "zoe.mueller@example.com",
    ]  # fmt: skip
    assert (
        SmtpConfig.from_settings(project.email.smtp, {"KAIZEN_SMTP_USERNAME": " "}).username is None
    )
    assert SmtpConfig.from_settings(project.email.smtp, {}).username == USERNAME
    assert (
        SmtpConfig.from_settings(project.email.smtp, {"KAIZEN_SMTP_USERNAME": "bot"}).username
        == "bot"
    )


# --- temporary and permanent failures, ledger and reruns --------------------------------------


def test_451_is_retried_with_backoff_then_recorded_as_sent(project):
    waits: list[float] = []
    with SmtpServer(RecordingHandler(tempfail=2)) as server:
        result = send_run(
            project,
            env=smtp_env(server.port, retries=3, backoff=0.5),
            site_ids=["zurich"],
            sleep=waits.append,
        )
    assert result.exit_code == 0
    assert server.handler.data_calls == 3 and len(server.received) == 1
    assert waits == [0.5, 1.0]  # exponential backoff
    (entry,) = _ledger(project)["entries"]
    assert entry["outcome"] == "sent" and entry["attempts"] == 3
    assert entry["smtp_reply"] == "250 2.0.0 Ok: queued as K41Z3N"


def test_550_is_not_retried_and_its_reply_is_recorded(project):
    with SmtpServer(RecordingHandler(reject=True)) as server:
        result = send_run(project, env=smtp_env(server.port), site_ids=["zurich"])
    assert result.exit_code == 1
    assert server.handler.data_calls == 1
    (entry,) = _ledger(project)["entries"]
    assert entry["outcome"] == "failed" and entry["attempts"] == 1
    assert entry["smtp_reply"] == "550 5.7.1 Message rejected by policy"
    assert entry["recipient"] == "ops-zurich@example.com" and entry["site_id"] == "zurich"


def test_a_server_that_queues_and_hangs_up_gets_one_copy_and_a_retry_keeps_the_message_id(
    project,
):
    with SmtpServer(RecordingHandler(drops=1)) as server:
        first = send_run(project, env=smtp_env(server.port, retries=3), site_ids=["zurich"])
        assert first.exit_code == 1  # the outcome is unknown: said so, not retried
        assert server.handler.data_calls == 1 and len(server.received) == 1
        (entry,) = _ledger(project)["entries"]
        assert entry["outcome"] == "unknown" and entry["attempts"] == 1
        assert "may have queued it, so it is not sent again in this run" in entry["smtp_reply"]
        (outcome,) = first.messages
        assert outcome.outcome == "unknown"

        second = send_run(project, env=smtp_env(server.port), site_ids=["zurich"])
    assert second.exit_code == 0
    assert server.handler.data_calls == 2
    ids = [r.message["Message-ID"] for r in server.received]
    assert ids[0] == ids[1] == entry["message_id"]  # the receiver can drop the duplicate
    assert [e["outcome"] for e in _ledger(project)["entries"]] == ["unknown", "sent"]


def test_server_down_is_retried_recorded_and_a_rerun_sends_nothing_twice(project):
    port = free_port()  # nothing listens here yet
    env = smtp_env(port, retries=2)
    down = send_run(project, env=env)
    assert down.exit_code == 1
    entries = _ledger(project)["entries"]
    assert len(entries) == 4 and {e["outcome"] for e in entries} == {"failed"}
    ids = {e["message_id"] for e in entries}
    assert all(e["attempts"] == 3 and "connection refused" in e["smtp_reply"] for e in entries)
    # the attempts are said once: "(gave up after 4 attempts); 4 attempts" said them twice
    said = down.messages[0].describe()
    assert said.endswith("; gave up after 3 attempts") and said.count("attempt") == 1, said

    # partial success: the server comes up but rejects North's second recipient permanently
    class PickyHandler(RecordingHandler):
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            if address.startswith("zoe"):
                return "550 5.1.1 No such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    handler = PickyHandler()
    server = SmtpServer(handler)
    server.port = port
    server.controller.port = port
    with server:
        first = send_run(project, env=env)
        second = send_run(project, env=env)
    assert first.exit_code == 1  # zoe refused
    assert [r.rcpt_tos for r in handler.received] == [
        ["ops-north@example.com"],
        ["ops-zurich@example.com"],
        ["analytics@example.com"],
    ]
    # the rerun retries only zoe (refused again), and sends nothing that was delivered
    assert handler.data_calls == 3
    assert [m.outcome for m in second.messages] == [
        "already_sent",
        "failed",
        "already_sent",
        "already_sent",
    ]
    # a message that never left keeps the Message-ID it is derived from (run, site, recipient)
    assert {r.message["Message-ID"] for r in handler.received} <= ids
    ledger = _ledger(project)
    sent = [(e["site_id"], e["recipient"]) for e in ledger["entries"] if e["outcome"] == "sent"]
    assert len(sent) == len(set(sent)) == 3

    with SmtpServer() as server2:
        forced = send_run(project, env=smtp_env(server2.port), force=True, site_ids=["zurich"])
    assert forced.exit_code == 0 and len(server2.received) == 1


def test_attachment_over_the_limit_fails_that_site_with_a_clear_message(tmp_path: Path):
    path = standard_project(tmp_path, max_attachment_mb=0.05)
    write_run(tmp_path / "out", sites=SITES, report_bytes=80_000)
    with SmtpServer() as server:
        result = send_run(load_project(path), env=smtp_env(server.port))
    assert result.exit_code == 1 and server.received == []
    north = next(m for m in result.messages if m.site_id == "north")
    assert north.outcome == "failed"
    assert "report.html is 80 KB, above the attachment limit of 0.05 MB" in north.error
    assert len([m for m in result.messages if m.site_id == "north"]) == 2
    entries = _ledger(load_project(path))["entries"]
    assert {(e["site_id"], e["outcome"], e["attempts"]) for e in entries} == {
        ("north", "failed", 0),
        ("zurich", "failed", 0),
    }
    assert all("max_attachment_mb" in e["error"] for e in entries)


def test_missing_chart_is_left_out_with_a_warning(tmp_path: Path):
    path = standard_project(tmp_path, site_ids=["north"])
    run = write_run(tmp_path / "out", sites={"north": "North"})
    (run / "north" / "charts" / "defects.png").unlink()
    data = json.loads((run / "north" / "results.json").read_text())
    data["summary"]["key_charts"].append(
        {"metric_id": "x", "file": "../../../etc/passwd", "alt": "x"}
    )
    (run / "north" / "results.json").write_text(json.dumps(data))
    with SmtpServer() as server:
        result = send_run(load_project(path), env=smtp_env(server.port))
    assert result.exit_code == 0
    msg = server.received[0].message
    assert len(re.findall(r'src="cid:', _html(msg))) == 1
    assert len([p for p in msg.walk() if p.get_content_type() == "image/png"]) == 1
    assert any("charts/defects.png" in w for w in result.warnings)
    assert any("../../../etc/passwd" in w for w in result.warnings)


def test_find_run_resolves_latest_and_rejects_missing_runs(project):
    assert find_run(project.output).as_of == AS_OF
    assert find_run(project.output, AS_OF).path == project.output / AS_OF
    with pytest.raises(ConfigError, match="no run for 2020-01-01"):
        find_run(project.output, "2020-01-01")
    with pytest.raises(ConfigError, match="not a date"):
        find_run(project.output, "yesterday-ish")


# --- what it looks like -----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _email_charts(run: Path, site: str) -> float:
    """Replace the fixture's key charts with real ones drawn for the email's column, as
    ``write_key_charts`` draws them; returns their smallest text in points."""
    import matplotlib.text
    import numpy as np
    import pandas as pd

    from pipeline.report.results import email_chart, email_chart_png
    from pipeline.stats.spc import control_chart

    rng = np.random.default_rng(7)
    values = np.r_[rng.normal(21, 1, 60), rng.normal(16, 0.8, 40)]
    times = pd.date_range("2024-07-01", periods=100, freq="W-MON")
    chart = control_chart(
        values, chart="xmr", times=times, phases=np.r_[[1] * 60, [2] * 40], better="lower"
    )
    image = email_chart(chart, unit="h", phase_names={1: "Baseline", 2: "SMED kaizen"})
    png = email_chart_png(image)
    for path in (run / site / "charts").glob("*.png"):
        path.write_bytes(png)
    sizes = [
        t.get_fontsize()
        for t in image.figure.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return float(min(sizes))


def test_an_email_chart_is_a_small_palette_png_with_no_text_too_small_or_cut_off():
    """The key chart is drawn for a 360-px column: 720 px wide, no text under
    EMAIL_CHART_FONT_PT, every text inside the figure (a long phase name is shortened), a
    64-colour palette image, and no SVG drawn for it."""
    import io

    import matplotlib.text
    import numpy as np
    import pandas as pd
    from PIL import Image

    from pipeline.report import results as r
    from pipeline.stats.spc import control_chart

    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(5, 1, 50), rng.normal(3, 0.7, 30)]
    times = pd.date_range("2025-01-06", periods=80, freq="W-MON")
    chart = control_chart(values, chart="xmr", times=times, phases=np.r_[[1] * 50, [2] * 30])
    long_name = "Complaint recovery standard work for every front-desk shift"
    image = r.email_chart(chart, unit="complaints per 100 stays", phase_names={2: long_name})
    assert image.svg == ""
    fig = image.figure
    png = r.email_chart_png(image)
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    renderer = fig.canvas.get_renderer()
    for t in texts:
        assert t.get_fontsize() >= r.EMAIL_CHART_FONT_PT, (t.get_text(), t.get_fontsize())
        box = t.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width + 0.5, t.get_text()
    phase_label = next(t for t in texts if t.get_text().startswith("Complaint"))
    assert phase_label.get_text() != long_name and phase_label.get_text().endswith("…")
    # inside the axes: clear of the y label and of the UCL/CL/LCL labels in the right margin
    axes_box = fig.axes[0].get_window_extent(renderer)
    label_box = phase_label.get_window_extent(renderer)
    assert axes_box.x0 - 1 <= label_box.x0 and label_box.x1 <= axes_box.x1
    with Image.open(io.BytesIO(png)) as im:
        assert im.size[0] == r.EMAIL_CHART_PX == 2 * r.EMAIL_CHART_CSS_PX
        assert im.mode == "P" and len(im.getpalette()) // 3 <= 64
    # 12 px at the width it is shown: 360 / (3.33 in * 72) * 8 pt
    shown = r.EMAIL_CHART_CSS_PX / (r.EMAIL_CHART_WIDTH_IN * 72) * r.EMAIL_CHART_FONT_PT
    assert shown == pytest.approx(r.EMAIL_CHART_TEXT_PX)


@pytest.mark.slow
def test_the_email_fits_600_and_390_px_with_readable_chart_text(tmp_path: Path):
    """Chromium at 600 and 390 px: no horizontal overflow, one column on the phone, body text of
    at least 13 px, and chart text of at least 11 px at both widths (the smallest point size in
    the figure times the shown width over the figure's width in points)."""
    from pipeline.report.results import EMAIL_CHART_WIDTH_IN

    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed")
    path = standard_project(
        tmp_path, site_ids=["north"], email={"report_url": "https://reports.example.com/k"}
    )
    reason = "critical contract failure: observations.value " + "not a number; " * 20
    run = write_run(
        tmp_path / "out", sites={"north": "North Plant"}, pdf=True, failed={"south": reason}
    )
    smallest_pt = _email_charts(run, "north")
    with SmtpServer() as server:
        send_run(load_project(path), env=smtp_env(server.port))
    received = next(r for r in server.received if r.message["X-Kaizen-Site"] == "north")
    failure = next(r for r in server.received if r.message["X-Kaizen-Site"] is None)
    failure_file = tmp_path / "failure.html"
    failure_file.write_text(_html(failure.message), "utf-8")
    msg = message_from_bytes(received.data, policy=policy.default)
    html = _html(msg)
    assert len(html.encode()) < MAX_HTML_BYTES
    assert len(received.data) < 400_000, len(received.data)  # body, 2 charts and a PDF
    for i, part in enumerate(p for p in msg.walk() if p.get_content_type() == "image/png"):
        img = tmp_path / f"img{i}.png"
        img.write_bytes(part.get_content())
        html = html.replace(f"cid:{part['Content-ID'].strip('<>')}", img.as_uri())
    page_file = tmp_path / "email.html"
    page_file.write_text(html, "utf-8")
    measure = """() => {
        const texts = [...document.querySelectorAll('body *')].filter(e =>
            [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()) &&
            e.offsetParent !== null);
        const tiles = [...document.querySelectorAll('div[style*="max-width:282px"]')];
        return {
            scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
            imgs: [...document.images].map(i => i.getBoundingClientRect().width),
            font: Math.min(...texts.map(e => parseFloat(getComputedStyle(e).fontSize))),
            tileLefts: [...new Set(tiles.map(t => Math.round(t.getBoundingClientRect().left)))],
        };
    }"""
    seen = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for width in (600, 390):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(page_file.as_uri())
                seen[width] = page.evaluate(measure)
                page.goto(failure_file.as_uri())
                seen[("failure", width)] = page.evaluate(measure)
                page.goto(page_file.as_uri())
                keep = os.environ.get("KAIZEN_SCREENSHOT_DIR")
                if keep:  # for a person to look at the rendering
                    page.screenshot(path=str(Path(keep) / f"email-{width}.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    for width, m in seen.items():
        assert m["scroll"] <= m["inner"], (width, m)  # no horizontal overflow
        assert m["font"] >= 13, (width, m)
        assert len(m["imgs"]) == (0 if isinstance(width, tuple) else 2)
    # drawn for a phone's column: 360 px on the desktop and on a 390-px phone, text 12 px
    assert seen[600]["imgs"] == seen[390]["imgs"] == [360, 360]
    for width in (600, 390):
        chart_px = smallest_pt * seen[width]["imgs"][0] / (EMAIL_CHART_WIDTH_IN * 72)
        assert chart_px >= 11, (width, chart_px)
    assert len(seen[600]["tileLefts"]) >= 2 and len(seen[390]["tileLefts"]) == 1  # one column


def test_a_server_that_never_answers_times_out_and_is_retried(project):
    import socket

    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = smtp_env(silent.getsockname()[1], retries=1)
        env["KAIZEN_SMTP_TIMEOUT"] = "0.3"
        result = send_run(project, env=env, site_ids=["zurich"])
    assert result.exit_code == 1
    (entry,) = _ledger(project)["entries"]
    assert entry["attempts"] == 2 and "timed out" in entry["smtp_reply"]


def test_a_second_send_on_the_same_run_is_refused_while_one_is_running(project):
    import fcntl

    from pipeline.exceptions import LockHeld

    run = project.output / AS_OF
    with open(run / ".send.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockHeld, match="another `send` is running"):
            send_run(project, env=smtp_env(free_port()), dry_run=True)


# --- issue 15: subjects, links, attachments, routing, OAuth 2, only what changed --------------


def test_subjects_are_short_led_by_the_site_and_never_folded(tmp_path: Path):
    long_name = "Werk Nord — Montage und Endprüfung der Baugruppen für Schienenfahrzeuge"
    path = standard_project(tmp_path, site_ids=["north"])
    path.write_text(path.read_text("utf-8").replace('"North Plant"', json.dumps(long_name)))
    write_run(tmp_path / "out", sites={"north": long_name})
    with SmtpServer() as server:
        send_run(load_project(path), env=smtp_env(server.port))
    for r in server.received:
        subject = r.message["Subject"]
        assert len(subject) <= 78 and "  " not in subject, subject
        assert not re.search(r"\d{4}-\d{2}-\d{2}", subject)
        assert subject.startswith("Werk Nord — Montage")
        raw = r.data.split(b"\r\n\r\n", 1)[0].decode()
        folded = re.search(r"^Subject:.*(?:\r\n[ \t].*)*", raw, re.M).group(0)
        assert "\r\n" not in folded and len(folded) <= 998  # one line: never folded


def test_a_long_headline_loses_its_interval_before_its_words():
    from pipeline.delivery.compose import site_subject
    from pipeline.delivery.summary import EmailSummary
    from pipeline.report.findings import SiteSummary

    def email(site_name: str, headline: str) -> EmailSummary:
        said = SiteSummary(headline=headline, findings=(), tiles=(), key_charts=())
        return EmailSummary(
            site_id="x", site_name=site_name, project="p", as_of=AS_OF, summary=said
        )

    headline = (
        "Unplanned equipment downtime fell 30% (95% CI −52% to −9%) and is holding, after "
        "\u201cAutonomous maintenance on the etchers\u201d"
    )
    subject = site_subject(email("Dresden Wafer Fab", headline))
    # the interval goes first, then the event's title: the verdict stays
    assert subject == "Dresden Wafer Fab: Unplanned equipment downtime fell 30% and is holding"
    long_site = email("Northern Quarter Construction, Manchester", headline)
    # still too long: the middle (the metric's name) is cut, never the verdict at the end
    assert site_subject(long_site) == (
        "Northern Quarter Construction, Manchester: Unplanned… fell 30% and is holding"
    )
    # a site name that leaves no room for the verdict is shortened itself: the subject still
    # says what happened (it was the site name and an ellipsis, nothing more)
    werk = "Werk Nord — Montage und Endprüfung der Baugruppen für Schienenfahrzeuge"
    assert site_subject(email(werk, headline)) == (
        "Werk Nord — Montage und Endprüfung…: Unplanned… fell 30% and is holding"
    )
    assert (
        site_subject(email(werk, "report ready"))
        == "Werk Nord — Montage und Endprüfung…: report ready"
    )
    short = email("North", "Lead time fell 24% (95% CI −28% to −21%)")
    assert site_subject(short) == "North: Lead time fell 24% (95% CI −28% to −21%)"  # fits: kept


def test_a_subject_shortens_only_the_metric_name_the_headline_opens_with():
    """Cut in the middle at words, a metric name ending in a number left that number beside the
    verdict: "Cost of… 5% fell 26%". The summary names the metric its headline opens with, and
    only that name is shortened."""
    from pipeline.delivery.compose import site_subject
    from pipeline.delivery.summary import EmailSummary
    from pipeline.report.findings import SiteSummary

    name = "Cost of poor quality, share of sales below 5%"
    headline = f"{name} fell 26% (95% CI −40% to −10%) and is holding, after “Quality gates”"

    def subject(site: str, metric: str) -> str:
        said = SiteSummary(
            headline=headline, findings=(), tiles=(), key_charts=(), headline_metric=metric
        )
        return site_subject(
            EmailSummary(site_id="x", site_name=site, project="p", as_of=AS_OF, summary=said)
        )

    site = "Northern Quarter Construction, Manchester"
    assert subject(site, "") == f"{site}: Cost of… 5% fell 26% and is holding"  # words only
    assert subject(site, name) == f"{site}: Cost… fell 26% and is holding"  # not "of…"
    assert subject("Dresden", name) == f"Dresden: {name} fell 26% and is holding"  # fits
    assert subject("Dresden Wafer Fab", name) == (
        "Dresden Wafer Fab: Cost of poor quality, share… fell 26% and is holding"
    )
    assert all(len(subject(s, name)) <= 78 for s in (site, "Dresden", "W" * 70))
    # a name that leaves no room at all: the site name is shortened, the verdict stays whole
    assert subject("Werk " * 14, name).endswith("… fell 26% and is holding")
    # a long verdict beside a long site name: the direction and the figure stay ("Order…
    # percentage points and is holding" had lost "rose 12.9")
    lisbon, lead = "Casa Alfama Boutique Hotel Lisbon", "Order lead time"
    said = SiteSummary(
        headline=f"{lead} rose 12.9 percentage points and is holding, after “Express check-in”",
        findings=(), tiles=(), key_charts=(), headline_metric=lead,
    )  # fmt: skip
    long_verdict = site_subject(
        EmailSummary(site_id="x", site_name=lisbon, project="p", as_of=AS_OF, summary=said)
    )
    assert long_verdict == (
        "Casa Alfama Boutique…: Order lead… rose 12.9 percentage points and is holding"
    )
    assert len(long_verdict) <= 78


def test_a_subject_with_quotes_after_plain_words_has_no_double_space(tmp_path: Path):
    """The demo's case: plain words, then an event title in typographic quotes where the
    subject is cut. Python folds before the RFC 2047 encoded-word and keeps the space before the
    fold (a double space in every client) unless the header is written on one line."""
    from pipeline.delivery.compose import WIRE

    name = "Casa Alfama Boutique Hotel, Lisbon"
    path = standard_project(tmp_path, site_ids=["north"])
    path.write_text(path.read_text("utf-8").replace('"North Plant"', json.dumps(name)))
    run = write_run(tmp_path / "out", sites={"north": name})
    results = run / "north" / "results.json"
    data = json.loads(results.read_text("utf-8"))
    data["summary"]["headline"] = (
        "Check-in: too early to judge \u201cExpress check-in: online pre-registration\u201d"
    )
    results.write_text(json.dumps(data), "utf-8")
    with SmtpServer() as server:
        send_run(load_project(path), env=smtp_env(server.port))
    site_messages = [r for r in server.received if r.message["X-Kaizen-Site"] == "north"]
    assert site_messages
    for received in site_messages:
        subject = received.message["Subject"]
        assert subject.startswith(name + ": Check-in: too early to judge \u201cExpress")
        assert len(subject) <= 78 and "  " not in subject, subject
        raw = received.data.split(b"\r\n\r\n", 1)[0].decode()
        (line,) = [h for h in raw.split("\r\n") if h.startswith("Subject:")]
        assert "=?utf-8?" in line and len(line) <= WIRE.max_line_length


def test_report_url_link_and_the_pdf_attached_by_default(tmp_path: Path):
    path = standard_project(
        tmp_path, site_ids=["north"], email={"report_url": "https://reports.example.com/kaizen/"}
    )
    run = write_run(tmp_path / "out", sites={"north": "North Plant"}, pdf=True)
    with SmtpServer() as server:
        result = send_run(load_project(path), env=smtp_env(server.port))
    assert result.exit_code == 0
    msg = server.received[0].message
    link = "https://reports.example.com/kaizen/2026-06-29/north/report.html"
    html = _html(msg)
    assert f'<a href="{link}"' in html and "Read the full report" in html
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert f"Read the full report: {link}" in text
    (attachment,) = msg.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content() == (run / "north" / "report.pdf").read_bytes()
    assert "It is also attached as a PDF (20 KB)." in text


@pytest.mark.parametrize(
    ("attach", "pdf", "files", "error"),
    [
        ("html", True, ["report.html"], None),
        ("none", True, [], None),
        (None, False, ["report.html"], None),
        ("pdf", False, [], "email.attach is pdf but"),
    ],
)
def test_email_attach_chooses_the_attachment(tmp_path: Path, attach, pdf, files, error):
    email = {"attach": attach} if attach else {}
    path = standard_project(tmp_path, site_ids=["zurich"], email=email)
    write_run(tmp_path / "out", sites={"zurich": "Zürich"}, pdf=pdf)
    with SmtpServer() as server:
        result = send_run(load_project(path), env=smtp_env(server.port))
    if error:
        assert result.exit_code == 1 and server.received == []
        assert error in result.messages[0].error and "--pdf" in result.messages[0].error
        return
    msg = server.received[0].message
    assert [a.get_filename() for a in msg.iter_attachments()] == files


def test_stale_reports_are_refused_unless_allowed(tmp_path: Path):
    path = standard_project(tmp_path, site_ids=["north", "zurich"])
    write_run(tmp_path / "out", sites={"north": "North", "zurich": "Zürich"}, stale=("north",))
    project = load_project(path)
    with SmtpServer() as server:
        refused = send_run(project, env=smtp_env(server.port))
        assert refused.exit_code == 1
        assert [r.rcpt_tos for r in server.received] == [["ops-zurich@example.com"]]
        (north,) = [m for m in refused.messages if m.site_id == "north"]
        assert north.outcome == "stale" and "pass --allow-stale" in north.error
        allowed = send_run(project, env=smtp_env(server.port), allow_stale=True)
    assert allowed.exit_code == 0
    assert sorted(r.rcpt_tos[0] for r in server.received[1:]) == [
        "ops-north@example.com",
        "zoe.mueller@example.com",
    ]
    # the stale report's email says how old its data are, in both parts, not only "warnings"
    (sent,) = [r for r in server.received[1:] if r.rcpt_tos == ["ops-north@example.com"]]
    msg = message_from_bytes(sent.data, policy=policy.default)
    words = (
        "The newest data are from 26 Apr 2026, 9 weeks before the report date (29 Jun 2026): "
        "this report shows old data."
    )
    assert words in msg.get_body(("plain",)).get_content()
    assert words in msg.get_body(("html",)).get_content()


def test_stakeholders_routed_per_metric_get_only_their_metrics(tmp_path: Path):
    path = write_project(
        tmp_path,
        sites={
            "north": (
                "North Plant",
                [
                    "ops-north@example.com",
                    {"address": "Quality <quality@example.com>", "metrics": ["defects"]},
                ],
            )
        },
    )
    write_run(tmp_path / "out", sites={"north": "North Plant"})
    with SmtpServer() as server:
        result = send_run(load_project(path), env=smtp_env(server.port))
    assert result.exit_code == 0
    got = {r.rcpt_tos[0]: r.message for r in server.received}
    quality, ops = _html(got["quality@example.com"]), _html(got["ops-north@example.com"])
    assert "Defective units" in quality and "Lot cycle time</div>" not in quality
    assert "Lot cycle time</div>" in ops and "Defective units" in ops
    assert len(re.findall(r'src="cid:', quality)) == 1 and len(re.findall(r'src="cid:', ops)) == 2


def test_many_stakeholders_get_one_message_each_and_see_only_themselves(tmp_path: Path):
    people = [f"person{i:03d}@example.com" for i in range(150)]
    path = write_project(tmp_path, sites={"north": ("North Plant", people)})
    write_run(tmp_path / "out", sites={"north": "North Plant"}, report_bytes=2_000)
    with SmtpServer() as server:
        result = send_run(load_project(path), env=smtp_env(server.port))
    assert result.exit_code == 0
    assert sorted(r.rcpt_tos[0] for r in server.received) == people
    for r in server.received:
        assert len(r.rcpt_tos) == 1
        assert [a.addr_spec for a in r.message["To"].addresses] == r.rcpt_tos
        assert r.message["Cc"] is None and r.message["Bcc"] is None
    assert len({r.message["Message-ID"] for r in server.received}) == 150


def _xoauth2_project(tmp_path: Path, **smtp: object) -> Path:
    return standard_project(tmp_path, smtp={"username": USERNAME, **smtp})


def test_xoauth2_over_starttls_with_the_token_from_the_environment(tmp_path: Path, ca, ca_file):
    path = _xoauth2_project(tmp_path)
    write_run(tmp_path / "out", sites=SITES, failed={"south": "boom"})
    handler = OAuthHandler()
    with SmtpServer(handler, mode="starttls", auth="xoauth2", ca=ca) as server:
        env = smtp_env(server.port, security="starttls", auth="xoauth2", ca_file=ca_file)
        result = send_run(load_project(path), env=env)
    assert result.exit_code == 0, [m.describe() for m in result.messages]
    assert len(server.received) == 4 and all(r.authenticated and r.tls for r in server.received)
    assert handler.seen[0] == f"user={USERNAME}\x01auth=Bearer {TOKEN}\x01\x01"
    everything = json.dumps(_ledger(load_project(path))) + repr(result)
    assert TOKEN not in everything


def test_xoauth2_token_printed_by_token_command(tmp_path: Path, ca, ca_file):
    command = f"{shlex.quote(sys.executable)} -c \"print('{TOKEN}')\""
    path = _xoauth2_project(tmp_path, auth="xoauth2", token_command=command)
    write_run(tmp_path / "out", sites={"north": "North Plant"})
    with SmtpServer(OAuthHandler(), mode="starttls", auth="xoauth2", ca=ca) as server:
        env = smtp_env(server.port, security="starttls", ca_file=ca_file)
        result = send_run(load_project(path), env=env)
    assert result.exit_code == 0, [m.describe() for m in result.messages]
    assert len(server.received) == 2 and all(r.authenticated for r in server.received)


def test_a_refused_token_is_recorded_without_retry_and_never_echoed(tmp_path: Path, ca, ca_file):
    path = _xoauth2_project(tmp_path)
    write_run(tmp_path / "out", sites={"zurich": "Zürich"})
    handler = OAuthHandler(token="the-right-one")
    with SmtpServer(handler, mode="starttls", auth="xoauth2", ca=ca) as server:
        env = smtp_env(server.port, security="starttls", auth="xoauth2", ca_file=ca_file)
        result = send_run(load_project(path), env=env)
    assert result.exit_code == 1 and server.received == []
    (entry,) = _ledger(load_project(path))["entries"]
    assert entry["smtp_reply"].startswith("535 5.7.8") and entry["attempts"] == 1
    assert TOKEN not in json.dumps(entry) and len(handler.seen) == 1


def test_xoauth2_settings_are_checked():
    base = SmtpSettings(host="smtp.office365.com", port=587, username="kaizen@example.com")
    with pytest.raises(ConfigError, match="no access token: set KAIZEN_SMTP_TOKEN"):
        SmtpConfig.from_settings(base, {"KAIZEN_SMTP_AUTH": "xoauth2"}).check()
    with pytest.raises(ConfigError, match="must be password or xoauth2, not 'oauth'"):
        SmtpConfig.from_settings(base, {"KAIZEN_SMTP_AUTH": "oauth"})
    cfg = SmtpConfig.from_settings(
        base, {"KAIZEN_SMTP_AUTH": "XOAUTH2", "KAIZEN_SMTP_TOKEN": TOKEN}
    )
    assert cfg.check().auth == "xoauth2" and TOKEN not in repr(cfg)
    assert cfg.describe() == "smtp://kaizen@example.com@smtp.office365.com:587 (starttls, OAuth 2)"


def _changed(data: dict, variation: str) -> dict:
    data = json.loads(json.dumps(data))
    data["metrics"][0]["variation"] = variation
    return data


def test_only_changed_sends_nothing_unchanged_and_one_message_for_the_site_that_changed(
    tmp_path: Path,
):
    path = standard_project(tmp_path, site_ids=["north", "zurich"])
    project = load_project(path)
    out = tmp_path / "out"
    base = {s: results_for(s, n) for s, n in (("north", "North"), ("zurich", "Zürich"))}
    sites = {"north": "North", "zurich": "Zürich"}
    with SmtpServer() as server:
        write_run(out, sites=sites, as_of="2026-06-01", results=base)
        first = send_run(project, as_of="2026-06-01", env=smtp_env(server.port), only_changed=True)
        assert len(first.sent) == 3  # nothing was sent before: everyone gets the first report

        write_run(out, sites=sites, as_of="2026-06-08", results=base)
        same = send_run(project, as_of="2026-06-08", env=smtp_env(server.port), only_changed=True)
        assert same.sent == () and len(server.received) == 3
        assert {m.outcome for m in same.messages} == {"unchanged"}
        assert "nothing changed since the report of 2026-06-01" in same.messages[0].describe()

        moved = {**base, "zurich": _changed(base["zurich"], "special_cause_concern")}
        write_run(out, sites=sites, as_of="2026-06-15", results=moved)
        one = send_run(project, as_of="2026-06-15", env=smtp_env(server.port), only_changed=True)
    assert [(m.site_id, m.recipient) for m in one.sent] == [("zurich", "ops-zurich@example.com")]
    assert len(server.received) == 4


def test_a_new_concern_signal_always_sends(tmp_path: Path):
    from pipeline.delivery.changes import report_signature, what_changed

    data = {
        "metrics": [
            {
                "metric_id": "lead_time",
                "better": "lower",
                "variation": "special_cause_concern",
                "control_chart": {
                    "points": [
                        {"time": "2026-06-01", "value": 30, "centre": 20, "signals": ["we1"]},
                        {"time": "2026-06-08", "value": 19, "centre": 20, "signals": []},
                    ]
                },
            }
        ]
    }
    before = report_signature(data)
    assert before["concerns"] == ["lead_time@2026-06-01"]
    data["metrics"][0]["control_chart"]["points"][1].update(value=31, signals=["we1"])
    after = report_signature(data)
    assert what_changed(before, before) == []
    assert what_changed(before, after) == ["1 new concern signal"]  # icon unchanged, still sent
    # an improvement signal (below the centre when lower is better) is not a concern
    data["metrics"][0]["control_chart"]["points"][1].update(value=5)
    assert what_changed(before, report_signature(data)) == []


def test_the_failure_mail_lists_sites_and_reasons_and_no_data(tmp_path: Path):
    path = standard_project(tmp_path)
    reason = "critical data contract failure: observations.value is blank in rows 4, 9"
    write_run(tmp_path / "out", sites={"north": "North"}, failed={"south": reason, "zurich": "x"})
    with SmtpServer() as server:
        send_run(load_project(path), env=smtp_env(server.port))
    (failure,) = [r.message for r in server.received if r.message["X-Kaizen-Site"] is None]
    assert failure["Subject"] == "Mini Programme: 2 site reports failed"
    text = failure.get_body(preferencelist=("plain",)).get_content()
    assert "* south (south)" in text and reason in text and "* Zürich — Atelier (zurich)" in text
    html = _html(failure)
    assert reason in html and "Lot cycle time" not in html and "16.0 h" not in text


def test_the_email_says_when_its_charts_are_a_selection():
    """A site with 5 metrics showed 3 key charts and never said so."""
    from pipeline.delivery.body import charts_note

    assert charts_note(3, 5) == "Charts for 3 of 5 metrics; the other 2 are in the full report."
    assert charts_note(3, 4) == "Charts for 3 of 4 metrics; the other 1 is in the full report."
    assert charts_note(3, 3) == "" and charts_note(0, 5) == ""


def test_an_email_tile_gives_the_level_its_goal_is_judged_from():
    """The hotel's email read "Complaints per 100 stays: 1.95 … 58% of the way to 2.00 …;
    missed": the latest point alone, under target, beside a missed goal. The report's tile
    also gives the level of the last 8 weeks (2.68) the goal is judged from; so does the email,
    in both parts, with when the latest point was measured."""
    from pipeline.delivery.body import render_html, render_text
    from pipeline.delivery.summary import EmailSummary
    from pipeline.report.findings import SiteSummary, Tile
    from pipeline.vocabulary import AssuranceIcon, VariationIcon

    tile = Tile(
        metric_id="complaints", name="Complaints per 100 stays", latest=1.95, latest_text="1.95",
        latest_label="latest week, 22 Jun 2026", current_text="2.68",
        current_label="level of the last 8 weeks", change_text="No clear change",
        variation=VariationIcon.COMMON_CAUSE, assurance=AssuranceIcon.NO_TARGET,
        goal_text="58% of the way to 2.00; missed",
    )  # fmt: skip
    said = SiteSummary(headline="h", findings=(), tiles=(tile,), key_charts=())
    email = EmailSummary(site_id="x", site_name="Lisbon", project="p", as_of=AS_OF, summary=said)
    text = render_text(email, attachment_note="")
    assert "* Complaints per 100 stays: 1.95 (latest week, 22 Jun 2026)\n" in text
    assert "\n    level of the last 8 weeks 2.68\n" in text
    html = render_html(email, attachment_note="")
    assert "latest week, 22 Jun 2026" in html and "level of the last 8 weeks 2.68" in html
