"""Fixtures for the email tests: a fake run folder, a project file, and real SMTP servers on loopback.

The run folder mimics what ``kaizen-reports run`` writes (``OUT/<as_of>/<site_id>/{report.html,
results.json, charts/*.png}``, ``manifest.json``, ``OUT/latest``); the servers are aiosmtpd
Controllers on 127.0.0.1 with optional STARTTLS, implicit TLS and AUTH, and handlers that fail on
purpose (4xx, 5xx, dropped connections).
"""

from __future__ import annotations

import functools
import io
import json
import os
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

AS_OF = "2026-06-29"
PASSWORD = "s3cr3t-Pa55word!"
USERNAME = "kaizen"
INJECTED_NAME = "Zürich — Atelier\r\nBcc: evil@example.com"
TOKEN = "ya29.test-access-token-Zq8"


@functools.cache
def chart_png() -> bytes:
    """A small real control-chart-like PNG drawn with matplotlib (cached: drawing takes ~0.3 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.4), dpi=80)
    xs = list(range(30))
    ys = [20 + (i % 5) * 0.6 - (6 if i > 15 else 0) for i in xs]
    ax.plot(xs, ys, marker="o", color="#1f5fa8")
    ax.axhline(16, color="grey", linestyle="--")
    ax.set_title("Lot cycle time (hours)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def results_for(
    site_id: str,
    site_name: str,
    *,
    status: str = "ok",
    n_charts: int = 2,
    findings: list[str] | None = None,
) -> dict[str, Any]:
    """A results.json as the report notebook writes it (valid against its schema)."""
    return {
        "schema_version": "1.0",
        "site_id": site_id,
        "site_name": site_name,
        "project": "Mini Programme",
        "as_of": AS_OF,
        "window_start": "2025-06-29",
        "run_id": "20260629T060000Z-abc123",
        "status": status,
        "data_freshness": "2026-06-28",
        "settings": {"rules": "we", "min_phase_points": 12, "sustain_points": 8, "alpha": 0.05},
        "summary": {
            "headline": "Lot cycle time fell 24% after the SMED kaizen and has held for 20 weeks",
            "findings": findings
            or [
                "Lot cycle time fell from 21.0 to 16.0 hours after the SMED kaizen (−24%).",
                "The gain has held for 20 weeks with no concerning signals.",
                "Defective units show only common-cause variation; the 2% target is hit and miss.",
            ],
            "tiles": [
                {
                    "metric_id": "lead_time",
                    "name": "Lot cycle time",
                    "unit": "h",
                    "latest": 16.02,
                    "latest_text": "16.0 h",
                    "change_text": "−24% vs baseline",
                    "variation": "special_cause_improvement",
                    "variation_text": "Special cause: improving",
                    "assurance": "consistently_meets",
                    "assurance_text": "Consistently meets the target",
                    "goal_text": "Goal: −20% by Jun 2026 — achieved (120%)",
                },
                {
                    "metric_id": "defects",
                    "name": "Defective units",
                    "unit": "%",
                    "latest": 0.021,
                    "latest_text": "2.1%",
                    "change_text": "−0.3 points",
                    "variation": "common_cause",
                    "variation_text": "Common cause variation",
                    "assurance": "hit_and_miss",
                    "assurance_text": "Hit and miss",
                    "goal_text": "",
                },
                {
                    "metric_id": "oee",
                    "name": "OEE",
                    "unit": "%",
                    "latest": None,
                    "latest_text": "",
                    "change_text": "",
                    "variation": "not_enough_data",
                    "assurance": "no_target",
                },
            ],
            "key_charts": [
                {"metric_id": m, "file": f"charts/{m}.png", "alt": f"Control chart of {m}"}
                for m in ("lead_time", "defects", "oee")[:n_charts]
            ],
        },
        "metrics": [
            {
                "metric_id": "lead_time",
                "name": "Lot cycle time",
                "unit": "h",
                "chart": "xmr",
                "better": "lower",
                "latest": 16.02,
                "events": [],
                "goals": [],
            }
        ],
        "validation": {"status": status},
    }


def write_run(
    out: Path,
    *,
    sites: dict[str, str],
    failed: dict[str, str] | None = None,
    as_of: str = AS_OF,
    report_bytes: int = 30_000,
    results: dict[str, dict[str, Any]] | None = None,
    pdf: bool = False,
    stale: tuple[str, ...] = (),
) -> Path:
    """A run folder: ``sites`` maps site_id -> display name; ``failed`` maps site_id -> error;
    ``pdf`` adds a report.pdf per site, ``stale`` marks those sites' validation.json stale."""
    failed = failed or {}
    run = out / as_of
    entries = []
    for sid, name in sites.items():
        site_dir = run / sid
        (site_dir / "charts").mkdir(parents=True, exist_ok=True)
        data = (results or {}).get(sid) or results_for(sid, name)
        if sid in stale:  # as the notebook writes it: results.json carries the validation
            data = {**data, "status": "warnings", "data_freshness": "2026-04-26",
                    "validation": {**data.get("validation", {}), "stale": True}}  # fmt: skip
        (site_dir / "results.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        for chart in data.get("summary", {}).get("key_charts", []):
            (site_dir / chart["file"]).write_bytes(chart_png())
        filler = "x" * max(0, report_bytes - 200)
        (site_dir / "report.html").write_text(
            f"<!DOCTYPE html><html><body><h1>Report {sid}</h1><p>{filler}</p></body></html>",
            "utf-8",
        )
        if pdf:
            (site_dir / "report.pdf").write_bytes(b"%PDF-1.7\n" + b"0" * 20_000 + b"\n%%EOF\n")
        validation = {"site_id": sid, "status": "ok", "stale": sid in stale}
        (site_dir / "validation.json").write_text(json.dumps(validation), "utf-8")
        entries.append({"site_id": sid, "status": "ok", "error": None})
    for sid, error in failed.items():
        (run / sid / "failed").mkdir(parents=True, exist_ok=True)
        (run / sid / "failed" / "error.txt").write_text(error + "\n", "utf-8")
        entries.append({"site_id": sid, "status": "failed", "error": error})
    manifest = {
        "run_id": "20260629T060000Z-abc123",
        "as_of": as_of,
        "project": "Mini Programme",
        "sites": entries,
    }
    (run / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    link = out / "latest"
    if link.is_symlink():
        link.unlink()
    os.symlink(as_of, link)
    return run


def write_project(
    root: Path,
    *,
    sites: dict[str, tuple[str, list[Any]]],
    smtp: dict[str, Any] | None = None,
    error_recipients: list[str] | None = None,
    max_attachment_mb: float = 10,
    sender: str = "Kaizen Reports <kaizen@example.com>",
    email: dict[str, Any] | None = None,
) -> Path:
    """kaizen.yaml with ``sites`` (id -> (name, stakeholders)) and an email section; output ``out``."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "project: Mini Programme",
        "output: out",
        "tables:",
        "  metrics: {path: data/metrics.csv}",
        "  observations: {path: data/observations.csv}",
        "  events: {path: data/events.csv}",
        "sites:",
    ]
    for sid, (name, stakeholders) in sites.items():
        lines += [
            f"  - id: {sid}",
            f"    name: {json.dumps(name, ensure_ascii=False)}",
            f"    stakeholders: {json.dumps(stakeholders, ensure_ascii=False)}",
        ]
    lines += [
        "email:",
        f"  from: {json.dumps(sender)}",
        f"  error_recipients: {json.dumps(error_recipients or [])}",
        f"  max_attachment_mb: {max_attachment_mb}",
        f"  smtp: {json.dumps(smtp or {})}",
    ]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in (email or {}).items()]
    path = root / "kaizen.yaml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated: bool = False
    tls: bool = False

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    """Accepts mail, but can first answer 4xx ``tempfail`` times, always 5xx, or drop ``drops``."""

    tempfail: int = 0
    reject: bool = False
    drops: int = 0
    received: list[Received] = field(default_factory=list)
    data_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        with self.lock:
            self.data_calls += 1
            if self.drops > 0:
                # queue the message, then hang up before the final reply: the client cannot
                # know whether it arrived
                self.drops -= 1
                self.received.append(self._received(session, envelope))
                server.transport.close()
                return "250 never seen"
            if self.tempfail > 0:
                self.tempfail -= 1
                return "451 4.3.0 Temporary local problem, try again"
            if self.reject:
                return "550 5.7.1 Message rejected by policy"
            self.received.append(self._received(session, envelope))
            return "250 2.0.0 Ok: queued as K41Z3N"

    @staticmethod
    def _received(session, envelope) -> Received:
        return Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content),
            authenticated=bool(session.authenticated),
            tls=session.ssl is not None,
        )


@dataclass
class OAuthHandler(RecordingHandler):
    """Speaks SASL XOAUTH2 as Gmail and Microsoft 365 do: the initial response is
    ``user=<mailbox>^Aauth=Bearer <token>^A^A``; a bad token gets a 334 with an error JSON, then,
    after the client's empty line, 535."""

    token: str = TOKEN
    user: str = USERNAME
    seen: list[str] = field(default_factory=list)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        import base64

        raw = args[1] if len(args) > 1 else ""
        try:
            text = base64.b64decode(raw).decode()
        except ValueError:
            return AuthResult(success=False, message="501 5.5.2 Cannot decode")
        self.seen.append(text)
        if text == f"user={self.user}\x01auth=Bearer {self.token}\x01\x01":
            return AuthResult(success=True, auth_data=self.user)
        await server.challenge_auth('{"status":"401","schemes":"bearer","scope":"mail"}')
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    """A real SMTP server on 127.0.0.1: ``mode`` is plain, starttls or ssl; ``auth`` requires AUTH."""

    def __init__(
        self,
        handler: RecordingHandler | None = None,
        *,
        mode: str = "plain",
        auth: bool | str = False,
        ca: Any = None,
    ) -> None:
        self.handler = handler or RecordingHandler()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        ssl_context = None
        if mode != "plain":
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
            if mode == "starttls":
                kwargs.update(tls_context=server_ctx, require_starttls=True)
            else:
                ssl_context = server_ctx
        if auth == "xoauth2":  # a server that offers only XOAUTH2, as Gmail can be set up
            kwargs.update(
                auth_required=True,
                auth_require_tls=mode == "starttls",
                auth_exclude_mechanism=["PLAIN", "LOGIN"],
            )
        elif auth:
            # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; implicit TLS is TLS too.
            kwargs.update(
                authenticator=authenticator, auth_required=True, auth_require_tls=mode == "starttls"
            )
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=ssl_context,
            ready_timeout=5,
            **kwargs,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def smtp_env(
    port: int,
    *,
    security: str = "none",
    auth: bool | str = False,
    ca_file: Path | None = None,
    retries: int = 2,
    backoff: float = 0.01,
) -> dict[str, str]:
    """KAIZEN_SMTP_* variables pointing at a loopback server, with fast retries for tests."""
    env = {
        "KAIZEN_SMTP_HOST": "127.0.0.1",
        "KAIZEN_SMTP_PORT": str(port),
        "KAIZEN_SMTP_SECURITY": security,
        "KAIZEN_SMTP_TIMEOUT": "5",
        "KAIZEN_SMTP_RETRIES": str(retries),
        "KAIZEN_SMTP_BACKOFF": str(backoff),
    }
    if auth == "xoauth2":
        env.update(
            KAIZEN_SMTP_AUTH="xoauth2", KAIZEN_SMTP_USERNAME=USERNAME, KAIZEN_SMTP_TOKEN=TOKEN
        )
    elif auth:
        env.update(KAIZEN_SMTP_USERNAME=USERNAME, KAIZEN_SMTP_PASSWORD=PASSWORD)
    if ca_file is not None:
        env["KAIZEN_SMTP_CA_FILE"] = str(ca_file)
    return env


def mime_tree(msg: EmailMessage, depth: int = 0) -> list[str]:
    """The content types of a message as an indented list, for structure assertions."""
    lines = ["  " * depth + msg.get_content_type()]
    if msg.is_multipart():
        for part in msg.iter_parts():
            lines += mime_tree(part, depth + 1)  # type: ignore[arg-type]
    return lines


SITES = {"north": "North Plant", "zurich": "Zürich — Atelier"}
STAKEHOLDERS = {
    "north": ["Ops North <ops-north@example.com>", "Zoë Müller <zoe.mueller@example.com>"],
    "zurich": ["ops-zurich@example.com"],
}


def standard_project(root: Path, **kwargs: Any) -> Path:
    """The usual two-site project (North Plant; Zürich — Atelier) with error recipients."""
    kwargs.setdefault("error_recipients", ["Analytics <analytics@example.com>"])
    return write_project(
        root,
        sites={
            sid: (SITES.get(sid, sid.title()), STAKEHOLDERS.get(sid, [f"{sid}@example.com"]))
            for sid in kwargs.pop("site_ids", SITES)
        },
        **kwargs,
    )


__all__ = [
    "AS_OF",
    "INJECTED_NAME",
    "OAuthHandler",
    "TOKEN",
    "PASSWORD",
    "USERNAME",
    "Received",
    "RecordingHandler",
    "SITES",
    "STAKEHOLDERS",
    "SmtpServer",
    "chart_png",
    "free_port",
    "mime_tree",
    "results_for",
    "smtp_env",
    "standard_project",
    "write_project",
    "write_run",
]
