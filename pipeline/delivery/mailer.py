"""Email each site's report to its stakeholders: build MIME messages, deliver over SMTP, keep a ledger.

One message per site with a report in the run, to the site's stakeholders::

    multipart/mixed
    ├── multipart/related
    │   ├── multipart/alternative
    │   │   ├── text/plain          summary in plain words
    │   │   └── text/html           inline-styled tables, <img src="cid:...">
    │   └── image/png ...           the key charts, each with a Content-ID
    └── text/html (attachment)      the full report.html

Sites that failed get no stakeholder email; one failure email lists them for the project's error
recipients. Every message sent (or refused) is recorded in ``OUT/<as_of>/send-ledger.json``, written
atomically after each message, so a rerun sends only what was not sent yet.

SMTP settings come from ``kaizen.yaml`` (``email.smtp``) and are overridden by the environment:
``KAIZEN_SMTP_HOST``, ``KAIZEN_SMTP_PORT``, ``KAIZEN_SMTP_SECURITY`` (none, starttls, ssl),
``KAIZEN_SMTP_USERNAME``, ``KAIZEN_SMTP_PASSWORD`` (only ever from the environment),
``KAIZEN_SMTP_FROM``, ``KAIZEN_SMTP_TIMEOUT`` (seconds), ``KAIZEN_SMTP_CA_FILE`` (a PEM bundle of
certificate authorities to trust, e.g. a company CA), ``KAIZEN_SMTP_RETRIES`` (default 3) and
``KAIZEN_SMTP_BACKOFF`` (first wait in seconds, doubled on each retry; default 2).
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import html
import json
import logging
import os
import re
import smtplib
import ssl
import struct
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from pipeline.data.config import EmailSettings, Project, SmtpSettings, parse_as_of
from pipeline.exceptions import ConfigError, DeliveryError, LockHeld
from pipeline.formatting import fmt_date, fmt_number, is_missing

log = logging.getLogger(__name__)

LEDGER = "send-ledger.json"
LOCK = ".send.lock"
FAILURES_EML = "failures.eml"
SITE_EML = "email.eml"
MAX_HTML_BYTES = 100_000
MAX_CHARTS = 3
MAX_FINDINGS = 5
MAX_TILES = 24
MAX_TEXT = 400
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SECURITY = ("none", "starttls", "ssl")

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_DOMAIN = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Colours and labels of the NHS "Making Data Count" icons, as text badges (email has no SVG).
_VARIATION = {
    "common_cause": ("Common cause variation", "#5f6b7a"),
    "special_cause_improvement": ("Special cause: improving", "#1f5fa8"),
    "special_cause_concern": ("Special cause: concerning", "#c25400"),
    "special_cause_neutral": ("Special cause: neither better nor worse", "#6a3d9a"),
}
_ASSURANCE = {
    "consistently_meets": ("Consistently meets the target", "#1f5fa8"),
    "hit_and_miss": ("Hit and miss against the target", "#5f6b7a"),
    "consistently_fails": ("Consistently fails the target", "#c25400"),
    "no_target": ("No target", "#5f6b7a"),
}
_FONT = "font-family:Arial,Helvetica,sans-serif;"


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """SMTP settings after the environment has been applied; the password never shows in repr."""

    host: str | None
    port: int
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: Path | None = None
    retries: int = 3
    backoff: float = 2.0

    @classmethod
    def from_settings(
        cls, settings: SmtpSettings, env: Mapping[str, str] | None = None
    ) -> SmtpConfig:
        """``email.smtp`` from kaizen.yaml with every ``KAIZEN_SMTP_*`` variable applied on top.

        Raises
        ------
        ConfigError
            A variable holds a value of the wrong kind (the message names the variable).
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"KAIZEN_SMTP_{name}")
            return value.strip() if value is not None and value.strip() != "" else None

        security = (get("SECURITY") or settings.security or "starttls").lower()
        if security not in SECURITY:
            raise ConfigError(
                f"KAIZEN_SMTP_SECURITY / email.smtp.security must be none, starttls or ssl, "
                f"not {security!r}"
            )
        port = _env_number(get("PORT"), "KAIZEN_SMTP_PORT", int)
        if port is None:
            port = settings.port or DEFAULT_PORTS[security]
        if not 0 < int(port) < 65536:
            raise ConfigError(f"SMTP port {port} is not between 1 and 65535")
        timeout = _env_number(get("TIMEOUT"), "KAIZEN_SMTP_TIMEOUT", float)
        retries = _env_number(get("RETRIES"), "KAIZEN_SMTP_RETRIES", int)
        backoff = _env_number(get("BACKOFF"), "KAIZEN_SMTP_BACKOFF", float)
        ca_file = get("CA_FILE")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"KAIZEN_SMTP_CA_FILE {ca_file} is not a file")
        password = env.get("KAIZEN_SMTP_PASSWORD") or None
        return cls(
            host=get("HOST") or settings.host,
            port=int(port),
            security=security,
            username=get("USERNAME") or settings.username,
            password=password,
            timeout=float(timeout if timeout is not None else settings.timeout),
            ca_file=Path(ca_file) if ca_file else None,
            retries=max(0, int(retries if retries is not None else 3)),
            backoff=max(0.0, float(backoff if backoff is not None else 2.0)),
        )

    def check(self) -> SmtpConfig:
        """Refuse settings that cannot work or would leak the password; returns ``self``."""
        if not self.host:
            raise ConfigError(
                "no SMTP host configured: set email.smtp.host in kaizen.yaml "
                "or the KAIZEN_SMTP_HOST environment variable"
            )
        if self.username and not self.password:
            raise ConfigError(
                f"email.smtp.username is {self.username!r} but KAIZEN_SMTP_PASSWORD is not set; "
                "the password is read from the environment only"
            )
        if self.password and not self.username:
            raise ConfigError(
                "KAIZEN_SMTP_PASSWORD is set but no username: set email.smtp.username "
                "or KAIZEN_SMTP_USERNAME"
            )
        if self.username and self.security == "none":
            raise ConfigError(
                "refusing to send the SMTP password over an unencrypted connection: "
                "set email.smtp.security (or KAIZEN_SMTP_SECURITY) to starttls or ssl"
            )
        return self

    def describe(self) -> str:
        """Where mail goes, in words, without the password."""
        user = f"{self.username}@" if self.username else ""
        return f"smtp://{user}{self.host}:{self.port} ({self.security})"

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context; trusts ``ca_file`` in addition to the system store."""
        ctx = ssl.create_default_context()
        if self.ca_file is not None:
            ctx.load_verify_locations(cafile=str(self.ca_file))
        return ctx


def _env_number(value: str | None, name: str, kind: type) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None


def resolve_sender(email: EmailSettings, env: Mapping[str, str] | None = None) -> Address:
    """The From address: ``KAIZEN_SMTP_FROM`` or ``email.from``."""
    env = os.environ if env is None else env
    text = (env.get("KAIZEN_SMTP_FROM") or "").strip() or email.sender
    if not text:
        raise ConfigError("no sender: set email.from in kaizen.yaml or KAIZEN_SMTP_FROM")
    return parse_address(text, where="email.from")


def parse_address(text: Any, *, where: str) -> Address:
    """One mailbox (``"Name <user@domain>"`` or ``user@domain``), checked and normalised.

    Raises
    ------
    ConfigError
        Not exactly one valid ASCII address, or control characters (which could inject headers).
    """
    raw = str(text).strip()
    problem = None
    if not raw:
        problem = "is empty"
    elif _CONTROL.search(raw):
        problem = "contains control characters (line breaks are not allowed)"
    if problem is None:
        try:
            header = policy.SMTP.header_factory("to", raw)
            addresses = header.addresses
        except Exception:  # the header parser raises assorted errors on garbage
            addresses, header = (), None
        if header is None or header.defects or len(addresses) != 1:
            problem = "is not one email address"
        else:
            addr = addresses[0]
            if not addr.username or not addr.domain or not _DOMAIN.match(addr.domain):
                problem = "is not a complete address (user@domain)"
            elif not addr.addr_spec.isascii():
                problem = "has non-ASCII characters in the address itself"
            else:
                return Address(
                    display_name=addr.display_name, username=addr.username, domain=addr.domain
                )
    raise ConfigError(f"{where}: {raw!r} {problem}")


def header_text(text: Any, *, limit: int = 200) -> str:
    """Text safe for a header: control characters and line breaks become spaces, length capped."""
    s = " ".join(_CONTROL.sub(" ", str(text)).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------------------------
# Runs and results.json


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFolder:
    """One run's output folder and its manifest."""

    path: Path
    as_of: str
    manifest: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or "")

    @property
    def sites(self) -> list[dict[str, Any]]:
        return [s for s in self.manifest.get("sites") or [] if isinstance(s, dict)]


def find_run(output: Path, as_of: str | None = "latest") -> RunFolder:
    """The run folder ``OUT/<as_of>`` (``latest``: the folder ``OUT/latest`` points at).

    Raises
    ------
    ConfigError
        No such run, or its manifest is missing or unreadable.
    """

    if as_of in (None, "", "latest"):
        link = output / "latest"
        if link.is_dir():
            path = link.resolve()
        else:
            runs = (
                sorted(
                    p for p in output.glob("*") if p.is_dir() and (p / "manifest.json").is_file()
                )
                if output.is_dir()
                else []
            )
            if not runs:
                raise ConfigError(
                    f"no run in {output}: run `kaizen-reports run` first, or pass --output"
                )
            path = runs[-1]
    else:
        path = output / parse_as_of(as_of).date().isoformat()
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise ConfigError(f"no run for {path.name} in {output}: {manifest_file} does not exist")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{manifest_file} cannot be read: {exc}") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{manifest_file} is not a JSON object")
    return RunFolder(path=path, as_of=str(manifest.get("as_of") or path.name), manifest=manifest)


def _text(value: Any, *, limit: int = MAX_TEXT) -> str:
    """A display string from results.json: never None/NaN, capped in length."""
    if is_missing(value):
        return ""
    s = " ".join(str(value).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def _read_results(site_dir: Path, site_id: str) -> dict[str, Any]:
    path = site_dir / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeliveryError(f"{path} is missing", site_id=site_id) from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"{path} cannot be read: {exc}", site_id=site_id) from None
    if not isinstance(data, dict):
        raise DeliveryError(f"{path} is not a JSON object", site_id=site_id)
    return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Tile:
    """One summary tile, as plain display strings."""

    name: str
    latest: str
    change: str = ""
    variation: str = ""
    variation_text: str = ""
    assurance: str = ""
    assurance_text: str = ""
    goal: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """One key chart: its PNG bytes, Content-ID, alt text and pixel size."""

    metric_id: str
    data: bytes
    cid: str
    alt: str
    width: int
    height: int
    filename: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSummary:
    """What the email says about one site, taken from its results.json."""

    site_id: str
    site_name: str
    project: str
    as_of: str
    window_start: str = ""
    run_id: str = ""
    status: str = "ok"
    data_freshness: str = ""
    headline: str = ""
    findings: tuple[str, ...] = ()
    tiles: tuple[Tile, ...] = ()
    charts: tuple[Chart, ...] = ()
    skipped_charts: tuple[str, ...] = ()

    @classmethod
    def from_results(
        cls,
        results: Mapping[str, Any],
        *,
        site_dir: Path,
        site_id: str,
        site_name: str,
        project: str,
        as_of: str,
        domain: str,
    ) -> SiteSummary:
        """Read the summary; missing optional keys give sensible text, never None or NaN."""
        raw = results.get("summary")
        summary: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        tiles = [_tile(t) for t in summary.get("tiles") or [] if isinstance(t, dict)]
        if not tiles:
            tiles = [
                Tile(
                    name=_text(m.get("name") or m.get("metric_id")) or "metric",
                    latest=fmt_number(m.get("latest"), unit=_text(m.get("unit"))),
                )
                for m in results.get("metrics") or []
                if isinstance(m, dict)
            ]
        findings = tuple(t for t in (_text(f) for f in summary.get("findings") or []) if t)[
            :MAX_FINDINGS
        ]
        charts, skipped = _charts(summary.get("key_charts") or [], site_dir, domain)
        freshness = results.get("data_freshness")
        if isinstance(freshness, dict):
            freshness = freshness.get("text") or freshness.get("latest")
        if isinstance(freshness, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", freshness):
            freshness = fmt_date(freshness)
        return cls(
            site_id=site_id,
            site_name=site_name,
            project=project,
            as_of=as_of,
            window_start=fmt_date(results["window_start"]) if results.get("window_start") else "",
            run_id=_text(results.get("run_id")),
            status=_text(results.get("status")) or "ok",
            data_freshness=_text(freshness) if isinstance(freshness, str | int | float) else "",
            headline=_text(summary.get("headline"), limit=200),
            findings=findings,
            tiles=tuple(tiles[:MAX_TILES]),
            charts=tuple(charts),
            skipped_charts=tuple(skipped),
        )


def _tile(t: Mapping[str, Any]) -> Tile:
    latest = _text(t.get("latest_text"))
    if not latest:
        latest = fmt_number(t.get("latest"), unit=_text(t.get("unit")))
    return Tile(
        name=_text(t.get("name") or t.get("metric_id")) or "metric",
        latest=latest,
        change=_text(t.get("change_text")),
        variation=_text(t.get("variation")),
        variation_text=_text(t.get("variation_text")),
        assurance=_text(t.get("assurance")),
        assurance_text=_text(t.get("assurance_text")),
        goal=_text(t.get("goal_text")),
    )


def _charts(items: Sequence[Any], site_dir: Path, domain: str) -> tuple[list[Chart], list[str]]:
    """Up to three key-chart PNGs from inside the site folder (paths cannot escape it)."""
    charts: list[Chart] = []
    skipped: list[str] = []
    root = site_dir.resolve()
    for item in items:
        if len(charts) >= MAX_CHARTS:
            break
        if not isinstance(item, dict) or not item.get("file"):
            continue
        rel = str(item["file"])
        path = (site_dir / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            skipped.append(rel)
            continue
        data = path.read_bytes()
        if not data.startswith(_PNG_MAGIC) or len(data) < 24:
            skipped.append(rel)
            continue
        width, height = struct.unpack(">II", data[16:24])
        metric_id = _text(item.get("metric_id")) or path.stem
        charts.append(
            Chart(
                metric_id=metric_id,
                data=data,
                cid=make_msgid(idstring=f"chart{len(charts) + 1}", domain=domain)[1:-1],
                alt=_text(item.get("alt")) or f"Control chart of {metric_id}",
                width=int(width),
                height=int(height),
                filename=f"{re.sub(r'[^A-Za-z0-9_.-]', '_', path.stem)}.png",
            )
        )
    return charts, skipped


# --------------------------------------------------------------------------------------------
# Message bodies


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(kind: str, text: str, table: Mapping[str, tuple[str, str]]) -> str:
    label, colour = table.get(kind, ("", "#5f6b7a"))
    text = text or label
    if not text:
        return ""
    return (
        f'<span style="{_FONT}display:inline-block;font-size:12px;color:#ffffff;'
        f'background-color:{colour};padding:2px 6px;border-radius:3px;">{_e(text)}</span>'
    )


def _tile_html(t: Tile) -> str:
    rows = [
        f'<div style="{_FONT}font-size:13px;color:#44505c;font-weight:bold;">{_e(t.name)}</div>',
        f'<div style="{_FONT}font-size:22px;color:#111111;font-weight:bold;padding:4px 0;">'
        f"{_e(t.latest)}</div>",
    ]
    if t.change:
        rows.append(f'<div style="{_FONT}font-size:13px;color:#333333;">{_e(t.change)}</div>')
    badges = [
        b
        for b in (
            _badge(t.variation, t.variation_text, _VARIATION),
            _badge(t.assurance, t.assurance_text, _ASSURANCE),
        )
        if b
    ]
    if badges:
        rows.append(f'<div style="padding-top:6px;line-height:22px;">{"<br>".join(badges)}</div>')
    if t.goal:
        rows.append(
            f'<div style="{_FONT}font-size:12px;color:#44505c;padding-top:4px;">{_e(t.goal)}</div>'
        )
    return "".join(rows)


def render_html(s: SiteSummary, *, attachment_note: str) -> str:
    """The email's HTML: table layout, inline styles, ``cid:`` images, every data string escaped."""
    title = f"{s.site_name} — {s.as_of}"
    window = (
        f"Window {s.window_start} to {fmt_date(s.as_of)}"
        if s.window_start
        else (f"Report date {fmt_date(s.as_of)}")
    )
    meta = [window]
    if s.data_freshness:
        meta.append(f"data as of {s.data_freshness}")
    if s.run_id:
        meta.append(f"run {s.run_id}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title></head>",
        '<body style="margin:0;padding:0;background-color:#f2f4f7;">',
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'bgcolor="#f2f4f7" style="background-color:#f2f4f7;"><tr><td align="center" '
        'style="padding:16px 8px;">',
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'bgcolor="#ffffff" style="width:600px;max-width:100%;background-color:#ffffff;'
        'border:1px solid #d8dde3;">',
        f'<tr><td bgcolor="#1d3557" style="{_FONT}background-color:#1d3557;color:#ffffff;'
        f'padding:16px 20px;"><div style="font-size:12px;color:#c9d6e8;">{_e(s.project)}</div>'
        f'<div style="font-size:20px;font-weight:bold;padding-top:2px;">{_e(s.site_name)}</div>'
        f'<div style="font-size:12px;color:#c9d6e8;padding-top:4px;">{_e(" · ".join(meta))}'
        "</div></td></tr>",
    ]
    if s.status == "warnings":
        parts.append(
            f'<tr><td bgcolor="#fff4e5" style="{_FONT}background-color:#fff4e5;color:#6b3d00;'
            'font-size:13px;padding:10px 20px;border-bottom:1px solid #f0c36d;">'
            "The input data had quality warnings; see the Data quality section of the attached "
            "report.</td></tr>"
        )
    if s.headline:
        parts.append(
            f'<tr><td style="{_FONT}font-size:17px;line-height:24px;color:#111111;'
            f'padding:16px 20px 4px 20px;font-weight:bold;">{_e(s.headline)}</td></tr>'
        )
    if s.findings:
        items = "".join(
            f'<tr><td valign="top" width="16" style="{_FONT}font-size:14px;color:#1d3557;'
            f'padding:3px 0;">&#8226;</td><td style="{_FONT}font-size:14px;line-height:20px;'
            f'color:#222222;padding:3px 0;">{_e(f)}</td></tr>'
            for f in s.findings
        )
        parts.append(
            '<tr><td style="padding:8px 20px;"><table role="presentation" width="100%" '
            f'cellpadding="0" cellspacing="0" border="0">{items}</table></td></tr>'
        )
    if s.tiles:
        rows = []
        for i in range(0, len(s.tiles), 2):
            pair = s.tiles[i : i + 2]
            cells = "".join(
                '<td width="50%" valign="top" style="padding:5px;"><table role="presentation" '
                'width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="#f7f9fb" '
                'style="background-color:#f7f9fb;border:1px solid #e1e5ea;"><tr>'
                f'<td style="padding:10px 12px;">{_tile_html(t)}</td></tr></table></td>'
                for t in pair
            )
            if len(pair) == 1:
                cells += '<td width="50%" style="padding:5px;">&nbsp;</td>'
            rows.append(f"<tr>{cells}</tr>")
        parts.append(
            f'<tr><td style="{_FONT}font-size:15px;font-weight:bold;color:#1d3557;'
            'padding:14px 20px 2px 20px;">Summary</td></tr>'
            '<tr><td style="padding:4px 15px;"><table role="presentation" width="100%" '
            f'cellpadding="0" cellspacing="0" border="0">{"".join(rows)}</table></td></tr>'
        )
    for c in s.charts:
        width = min(560, c.width or 560)
        height = round(c.height * width / c.width) if c.width else 0
        size = f' height="{height}"' if height else ""
        parts.append(
            f'<tr><td style="padding:12px 20px 4px 20px;"><img src="cid:{_e(c.cid)}" '
            f'width="{width}"{size} alt="{_e(c.alt)}" style="display:block;width:100%;'
            f'max-width:{width}px;height:auto;border:0;"></td></tr>'
            f'<tr><td style="{_FONT}font-size:12px;color:#5f6b7a;padding:0 20px 8px 20px;">'
            f"{_e(c.alt)}</td></tr>"
        )
    parts.append(
        f'<tr><td style="{_FONT}font-size:13px;line-height:19px;color:#333333;'
        'padding:14px 20px 18px 20px;border-top:1px solid #e1e5ea;">'
        f"{_e(attachment_note)}</td></tr>"
    )
    parts.append("</table></td></tr></table></body></html>")
    return "\n".join(parts) + "\n"


def render_text(s: SiteSummary, *, attachment_note: str) -> str:
    """The plain-text alternative: the same content in lines."""
    lines = [f"{s.project}: {s.site_name}", f"Report for {fmt_date(s.as_of)}"]
    if s.window_start:
        lines[-1] += f" (window {s.window_start} to {fmt_date(s.as_of)})"
    lines.append("")
    if s.status == "warnings":
        lines += ["Note: the input data had quality warnings; see the attached report.", ""]
    if s.headline:
        lines += [s.headline, ""]
    for f in s.findings:
        lines.append(f"- {f}")
    if s.findings:
        lines.append("")
    if s.tiles:
        lines.append("Summary")
    for t in s.tiles:
        detail = [
            d
            for d in (
                t.change,
                t.variation_text or _VARIATION.get(t.variation, ("",))[0],
                t.assurance_text or _ASSURANCE.get(t.assurance, ("",))[0],
                t.goal,
            )
            if d
        ]
        lines.append(f"* {t.name}: {t.latest}")
        lines += [f"    {d}" for d in detail]
    if s.tiles:
        lines.append("")
    lines.append(attachment_note)
    return "\n".join(lines) + "\n"


def _size_text(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(1, round(n / 1000))} KB"


# --------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One message to deliver, with what the ledger needs to know about it."""

    kind: str  # report | failure
    site_id: str | None
    recipients: tuple[Address, ...]
    message: EmailMessage
    eml_path: Path

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def key(self, recipient: str, run_id: str) -> tuple[str, str, str]:
        """Ledger identity: a site's report once per recipient; a failure email once per run."""
        scope = self.site_id or f"run:{run_id}"
        return (self.kind, scope, recipient.lower())


def _headers(
    msg: EmailMessage,
    *,
    sender: Address,
    recipients: Sequence[Address],
    subject: str,
    domain: str,
    idstring: str,
) -> None:
    msg["Subject"] = header_text(subject, limit=250)
    msg["From"] = sender
    msg["To"] = tuple(recipients)
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(idstring=idstring, domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["MIME-Version"] = "1.0"


def build_site_message(
    summary: SiteSummary,
    report: Path,
    *,
    sender: Address,
    recipients: Sequence[Address],
    max_attachment_mb: float,
) -> EmailMessage:
    """The stakeholder email for one site (see the module docstring for its MIME tree).

    Raises
    ------
    DeliveryError
        The report is larger than ``max_attachment_mb`` or the HTML body over 100 KB.
    """
    data = report.read_bytes()
    limit = max_attachment_mb * 1_000_000
    if len(data) > limit:
        raise DeliveryError(
            f"report.html is {_size_text(len(data))}, above the attachment limit of "
            f"{max_attachment_mb:g} MB (email.max_attachment_mb); raise the limit in kaizen.yaml "
            "or share the report from the portfolio page instead",
            site_id=summary.site_id,
        )
    note = (
        f"The full report is attached as report.html ({_size_text(len(data))}): every control "
        "chart, the before/after statistics, data quality and methods. Open it in any web "
        "browser; it works offline."
    )
    body = render_html(summary, attachment_note=note)
    if len(body.encode("utf-8")) > MAX_HTML_BYTES:
        raise DeliveryError(
            f"the email body is {_size_text(len(body.encode()))} of HTML, above the 100 KB that "
            "mail clients show unclipped",
            site_id=summary.site_id,
        )
    headline = summary.headline or (
        "report ready" if summary.status != "warnings" else "report ready (data warnings)"
    )
    msg = EmailMessage(policy=policy.SMTP)
    _headers(
        msg,
        sender=sender,
        recipients=recipients,
        subject=f"[Kaizen] {summary.site_name} — {summary.as_of}: {headline}",
        domain=sender.domain,
        idstring=f"kaizen.{summary.site_id}",
    )
    msg["X-Kaizen-Site"] = summary.site_id
    if summary.run_id:
        msg["X-Kaizen-Run"] = header_text(summary.run_id)

    # multipart/related[ multipart/alternative[plain, html], images ] — built by hand because
    # EmailMessage.add_related() nests the other way round (alternative[plain, related[...]]).
    alternative = MIMEPart(policy=policy.SMTP)
    alternative.set_content(render_text(summary, attachment_note=note), cte="quoted-printable")
    alternative.add_alternative(body, subtype="html", cte="quoted-printable")
    related = MIMEPart(policy=policy.SMTP)
    related.make_related()
    related.set_param("type", "multipart/alternative")
    related.attach(alternative)
    for chart in summary.charts:
        image = MIMEPart(policy=policy.SMTP)
        image.set_content(
            chart.data,
            maintype="image",
            subtype="png",
            cid=f"<{chart.cid}>",
            disposition="inline",
            filename=chart.filename,
        )
        related.attach(image)
    msg.make_mixed()
    msg.attach(related)  # type: ignore[arg-type]  # typeshed wants EmailMessage; any part works
    msg.add_attachment(
        data, maintype="text", subtype="html", filename="report.html", params={"charset": "utf-8"}
    )
    return msg


def build_failure_message(
    project: str,
    as_of: str,
    failures: Sequence[tuple[str, str, str]],
    *,
    sender: Address,
    recipients: Sequence[Address],
    run_id: str,
) -> EmailMessage:
    """One email listing the failed sites ``(site_id, site_name, reason)`` for error recipients."""
    n = len(failures)
    subject = f"[Kaizen] {project} — {as_of}: {n} site{'s' if n != 1 else ''} failed"
    text = [
        f"{project}: {n} site report{'s' if n != 1 else ''} failed for {as_of}"
        + (f" (run {run_id})" if run_id else "")
        + ".",
        "Their stakeholders were not emailed.",
        "",
    ]
    rows = []
    for site_id, name, reason in failures:
        text += [f"* {name} ({site_id})", f"    {reason}"]
        rows.append(
            f'<tr><td valign="top" style="{_FONT}font-size:13px;padding:6px 8px;'
            f'border-top:1px solid #e1e5ea;"><b>{_e(name)}</b><br>'
            f'<span style="color:#5f6b7a;">{_e(site_id)}</span></td>'
            f'<td valign="top" style="{_FONT}font-size:13px;padding:6px 8px;'
            f'border-top:1px solid #e1e5ea;color:#8a1f11;">{_e(reason)}</td></tr>'
        )
    text += ["", "The executed notebooks and errors are kept in each site's failed/ folder."]
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(subject)}</title></head>"
        '<body style="margin:0;padding:16px;background-color:#ffffff;">'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'style="width:600px;max-width:100%;">'
        f'<tr><td colspan="2" style="{_FONT}font-size:17px;font-weight:bold;padding:8px;">'
        f"{_e(text[0])}</td></tr>"
        f'<tr><td colspan="2" style="{_FONT}font-size:13px;padding:0 8px 8px 8px;">'
        "Their stakeholders were not emailed. The executed notebooks and errors are kept in "
        "each site's failed/ folder.</td></tr>"
        f"{''.join(rows)}</table></body></html>\n"
    )
    msg = EmailMessage(policy=policy.SMTP)
    _headers(
        msg,
        sender=sender,
        recipients=recipients,
        subject=subject,
        domain=sender.domain,
        idstring="kaizen.failures",
    )
    msg.set_content("\n".join(text) + "\n", cte="quoted-printable")
    msg.add_alternative(body, subtype="html", cte="quoted-printable")
    return msg


# --------------------------------------------------------------------------------------------
# SMTP delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientOutcome:
    """What happened for one recipient of one message."""

    recipient: str
    outcome: str  # sent | failed
    reply: str
    attempts: int


class SmtpClient:
    """One reused SMTP connection, reopened after any error (smtplib underneath)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> smtplib.SMTP:
        c = self.config
        assert c.host is not None
        if c.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                c.host, c.port, timeout=c.timeout, context=c.ssl_context()
            )
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        try:
            smtp.ehlo()
            if c.security == "starttls":
                smtp.starttls(context=c.ssl_context())
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.password or "")
        except BaseException:
            _close_quietly(smtp)
            raise
        return smtp

    def transact(
        self, sender: str, recipients: Sequence[str], data: bytes
    ) -> tuple[dict[str, tuple[int, str]], str]:
        """MAIL, RCPT per recipient, DATA; returns (refused recipients, the DATA reply)."""
        if self._smtp is None:
            self._smtp = self._open()
        smtp = self._smtp
        code, resp = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, resp, sender)
        refused: dict[str, tuple[int, str]] = {}
        for r in recipients:
            code, resp = smtp.rcpt(r)
            if code not in (250, 251):
                refused[r] = (code, _decode(resp))
        if len(refused) == len(recipients):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]
        code, resp = smtp.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, resp)
        return refused, f"{code} {_decode(resp)}".strip()

    def reset(self) -> None:
        """Drop the connection after an error; the next message opens a fresh one."""
        if self._smtp is not None:
            _close_quietly(self._smtp)
            self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.reset()


def _close_quietly(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def _decode(resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return " ".join(text.split())


def _classify(exc: BaseException) -> tuple[bool, str]:
    """(is_temporary, reply text) for an exception raised while delivering."""
    if isinstance(exc, smtplib.SMTPResponseException):
        code = int(exc.smtp_code)
        return 400 <= code < 500, f"{code} {_decode(exc.smtp_error)}".strip()
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True, f"connection closed by the server: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False, f"TLS certificate not trusted: {exc.verify_message or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return True, "connection refused (is the SMTP server running?)"
    if isinstance(exc, ConnectionError):
        return True, f"connection dropped: {exc}"
    if isinstance(exc, TimeoutError):
        return True, "timed out waiting for the SMTP server"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return False, f"not supported by the server: {exc}"
    if isinstance(exc, OSError):
        return True, f"network error: {exc}"
    return False, f"{type(exc).__name__}: {exc}"


def deliver(
    client: SmtpClient,
    envelope_from: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RecipientOutcome]:
    """Deliver ``data`` to ``recipients``, retrying temporary failures with exponential backoff.

    Temporary: 4xx replies, refused or dropped connections, timeouts; retried up to ``retries``
    times, waiting ``backoff * 2**k`` seconds. Permanent (5xx and the like): recorded, not retried.
    """
    pending = list(recipients)
    done: dict[str, RecipientOutcome] = {}
    attempt = 0
    while pending:
        attempt += 1
        temporary: dict[str, str] = {}
        try:
            refused, reply = client.transact(envelope_from, pending, data)
        except smtplib.SMTPRecipientsRefused as exc:
            client.reset()
            for r, (code, resp) in exc.recipients.items():
                text = f"{code} {_decode(resp)}".strip()
                if 400 <= int(code) < 500:
                    temporary[r] = text
                else:
                    done[r] = RecipientOutcome(
                        recipient=r, outcome="failed", reply=text, attempts=attempt
                    )
        except Exception as exc:  # every failure is recorded, none crashes the run
            client.reset()
            is_temporary, text = _classify(exc)
            for r in pending:
                if is_temporary:
                    temporary[r] = text
                else:
                    done[r] = RecipientOutcome(
                        recipient=r, outcome="failed", reply=text, attempts=attempt
                    )
        else:
            for r in pending:
                if r in refused:
                    code, text = refused[r]
                    if 400 <= code < 500:
                        temporary[r] = f"{code} {text}"
                    else:
                        done[r] = RecipientOutcome(
                            recipient=r, outcome="failed", reply=f"{code} {text}", attempts=attempt
                        )
                else:
                    done[r] = RecipientOutcome(
                        recipient=r, outcome="sent", reply=reply, attempts=attempt
                    )
        pending = [r for r in pending if r in temporary]
        if pending and attempt > retries:
            for r in pending:
                done[r] = RecipientOutcome(
                    recipient=r,
                    outcome="failed",
                    attempts=attempt,
                    reply=f"{temporary[r]} (gave up after {attempt} attempts)",
                )
            break
        if pending:
            log.info(
                "temporary failure (%s); retrying in %.2fs",
                temporary[pending[0]],
                backoff * 2 ** (attempt - 1),
            )
            sleep(backoff * 2 ** (attempt - 1))
    return [done[r] for r in recipients]


# --------------------------------------------------------------------------------------------
# Ledger


class Ledger:
    """``OUT/<as_of>/send-ledger.json``: one entry per recipient and attempt, rewritten atomically."""

    def __init__(self, path: Path, *, as_of: str, run_id: str) -> None:
        self.path = path
        self.as_of = as_of
        self.run_id = run_id
        self.entries: list[dict[str, Any]] = []
        self._sent: set[tuple[str, str, str]] = set()
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.entries = [e for e in data.get("entries", []) if isinstance(e, dict)]
            except (OSError, ValueError, AttributeError) as exc:
                raise DeliveryError(
                    f"{path} cannot be read ({exc}); move it away to start a fresh ledger"
                ) from None

        for e in self.entries:
            self._remember(e)

    def _remember(self, e: Mapping[str, Any]) -> None:
        if e.get("outcome") == "sent":
            key = (str(e.get("kind")), str(e.get("scope")), str(e.get("recipient", "")).lower())
            self._sent.add(key)

    def is_sent(self, key: tuple[str, str, str]) -> bool:
        return key in self._sent

    def record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        self._remember(entry)
        self.save()

    def save(self) -> None:
        data = {
            "as_of": self.as_of,
            "run_id": self.run_id,
            "updated_at": _now(),
            "entries": self.entries,
        }
        _write_atomic(self.path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """One ``send`` per run folder at a time, so two cron jobs cannot both send a message."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(
                f"another `send` is running for {folder}; try again when it ends"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# The send command


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageOutcome:
    """What happened to one message: per-recipient results, or why it was not sent."""

    kind: str  # report | failure
    site_id: str | None
    outcome: str  # sent | partial | failed | already_sent | dry_run | skipped
    message_id: str = ""
    recipients: tuple[RecipientOutcome, ...] = ()
    error: str | None = None
    eml: Path | None = None

    @property
    def is_failed(self) -> bool:
        return self.outcome in ("failed", "partial")

    def describe(self) -> str:
        what = f"site {self.site_id}" if self.site_id else "failure email"
        if self.error:
            return f"{what}: {self.outcome}: {self.error}"
        if self.outcome == "dry_run":
            return f"{what}: written to {self.eml}"
        if self.outcome == "already_sent":
            return f"{what}: already sent (use --force to send again)"
        lines = [f"{what}: {self.outcome}"]
        lines += [
            f"  {r.recipient}: {r.outcome} ({r.reply}; {r.attempts} attempt"
            f"{'s' if r.attempts != 1 else ''})"
            for r in self.recipients
        ]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """The outcome of one ``send``."""

    run: Path
    as_of: str
    messages: tuple[MessageOutcome, ...]
    dry_run: bool = False
    ledger: Path | None = None
    warnings: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[MessageOutcome, ...]:
        return tuple(m for m in self.messages if m.is_failed)

    @property
    def success(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.success else 1

    def raise_for_failures(self) -> SendResult:
        if self.failed:
            first = self.failed[0]
            raise DeliveryError(first.describe(), site_id=first.site_id)
        return self

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for m in self.messages:
            counts[m.outcome] = counts.get(m.outcome, 0) + 1
        parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
        return f"{self.as_of}: {len(self.messages)} message(s): {parts or 'nothing to send'}"


def send_run(
    project: Project,
    *,
    as_of: str | None = "latest",
    site_ids: Sequence[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    to: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    on_message: Callable[[MessageOutcome], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Email every site of one run (``OUT/<as_of>``) and record each message in the ledger.

    Parameters
    ----------
    as_of
        ``YYYY-MM-DD`` or ``latest``.
    site_ids
        Only these sites (configured, and with an entry in the run's manifest).
    dry_run
        Write each message as ``.eml`` next to the reports instead of sending.
    force
        Send again what the ledger says was sent.
    to
        Send everything to these addresses instead of the configured ones (a test send).

    Raises
    ------
    ConfigError
        No such run, unknown site, invalid address, no SMTP host/sender (usage errors, exit 2).
    LockHeld
        Another ``send`` is running for the same run.
    """
    env = os.environ if env is None else env
    run = find_run(project.output, as_of)
    smtp = SmtpConfig.from_settings(project.email.smtp, env)
    if not dry_run:
        smtp.check()
    sender = resolve_sender(project.email, env)
    override = tuple(parse_address(a, where="--to") for a in to or ())

    in_run = {str(s.get("site_id")): s for s in run.sites}
    if site_ids:
        project.select_sites(list(site_ids))  # unknown ids -> ConfigError with the known ones
        missing = [s for s in site_ids if s not in in_run]
        if missing:
            raise ConfigError(
                f"site(s) {', '.join(map(repr, missing))} have no entry in the run of "
                f"{run.as_of}; sites in that run: {', '.join(in_run) or 'none'}"
            )
        wanted = [s for s in in_run if s in set(site_ids)]
    else:
        wanted = list(in_run)
    configured = {s.id: s for s in project.sites}

    recipients_of: dict[str, tuple[Address, ...]] = {}
    for sid in wanted:
        site = configured.get(sid)
        raw = site.stakeholders if site else ()
        recipients_of[sid] = override or _unique(
            parse_address(a, where=f"sites[{sid}].stakeholders") for a in raw
        )
    error_recipients = override or _unique(
        parse_address(a, where="email.error_recipients") for a in project.email.error_recipients
    )

    envelopes: list[Envelope] = []
    outcomes: list[MessageOutcome] = []
    failures: list[tuple[str, str, str]] = []
    warnings: list[str] = []
    for sid in wanted:
        entry = in_run[sid]
        site = configured.get(sid)
        name = header_text(site.name if site else sid)
        if entry.get("status") == "failed":
            failures.append((sid, name, _text(entry.get("error")) or "failed (no reason given)"))
            continue
        if not recipients_of[sid]:
            warnings.append(f"site {sid}: no stakeholders configured; no email")
            outcomes.append(
                MessageOutcome(
                    kind="report",
                    site_id=sid,
                    outcome="skipped",
                    error="no stakeholders configured in kaizen.yaml",
                )
            )
            continue
        site_dir = run.path / sid
        try:
            results = _read_results(site_dir, sid)
            report = site_dir / "report.html"
            if not report.is_file():
                raise DeliveryError(f"{report} is missing", site_id=sid)
            summary = SiteSummary.from_results(
                results,
                site_dir=site_dir,
                site_id=sid,
                site_name=name,
                project=project.name,
                as_of=run.as_of,
                domain=sender.domain,
            )
            for rel in summary.skipped_charts:
                warnings.append(
                    f"site {sid}: key chart {rel!r} is missing or not a PNG inside "
                    "the site folder; left out"
                )
            message = build_site_message(
                summary,
                report,
                sender=sender,
                recipients=recipients_of[sid],
                max_attachment_mb=project.email.max_attachment_mb,
            )
        except DeliveryError as exc:
            outcomes.append(
                MessageOutcome(kind="report", site_id=sid, outcome="failed", error=exc.message)
            )
            continue
        envelopes.append(
            Envelope(
                kind="report",
                site_id=sid,
                recipients=recipients_of[sid],
                message=message,
                eml_path=site_dir / SITE_EML,
            )
        )
    if failures:
        if error_recipients:
            message = build_failure_message(
                project.name,
                run.as_of,
                failures,
                sender=sender,
                recipients=error_recipients,
                run_id=run.run_id,
            )
            envelopes.append(
                Envelope(
                    kind="failure",
                    site_id=None,
                    recipients=error_recipients,
                    message=message,
                    eml_path=run.path / FAILURES_EML,
                )
            )
        else:
            warnings.append(
                f"{len(failures)} site(s) failed but email.error_recipients is empty; "
                "no failure email"
            )
    for o in outcomes:
        if on_message:
            on_message(o)

    ledger_path = run.path / LEDGER
    with _lock(run.path):
        ledger = Ledger(ledger_path, as_of=run.as_of, run_id=run.run_id)
        if not dry_run:  # messages that could not even be built are part of the audit trail
            for o in outcomes:
                if o.outcome != "failed" or o.site_id is None:
                    continue
                for a in recipients_of[o.site_id]:
                    ledger.record(
                        {
                            "kind": o.kind,
                            "scope": o.site_id,
                            "site_id": o.site_id,
                            "recipient": a.addr_spec,
                            "time": _now(),
                            "message_id": None,
                            "outcome": "failed",
                            "smtp_reply": None,
                            "error": o.error,
                            "attempts": 0,
                            "run_id": run.run_id,
                        }
                    )
        client = SmtpClient(smtp)
        try:
            for env_ in envelopes:
                outcome = _send_one(
                    env_,
                    ledger,
                    client,
                    smtp,
                    sender=sender,
                    run_id=run.run_id,
                    dry_run=dry_run,
                    force=force,
                    sleep=sleep,
                )
                outcomes.append(outcome)
                if on_message:
                    on_message(outcome)
        finally:
            client.close()
    return SendResult(
        run=run.path,
        as_of=run.as_of,
        messages=tuple(outcomes),
        dry_run=dry_run,
        ledger=None if dry_run else ledger_path,
        warnings=tuple(warnings),
    )


def _unique(addresses: Iterator[Address] | Sequence[Address]) -> tuple[Address, ...]:
    seen: dict[str, Address] = {}
    for a in addresses:
        seen.setdefault(a.addr_spec.lower(), a)
    return tuple(seen.values())


def _send_one(
    envelope: Envelope,
    ledger: Ledger,
    client: SmtpClient,
    smtp: SmtpConfig,
    *,
    sender: Address,
    run_id: str,
    dry_run: bool,
    force: bool,
    sleep: Callable[[float], None],
) -> MessageOutcome:
    pending = [
        a.addr_spec
        for a in envelope.recipients
        if force or not ledger.is_sent(envelope.key(a.addr_spec, run_id))
    ]
    if not pending:
        return MessageOutcome(
            kind=envelope.kind,
            site_id=envelope.site_id,
            outcome="already_sent",
            message_id=envelope.message_id,
        )
    data = envelope.message.as_bytes(policy=policy.SMTP)
    if dry_run:
        _write_atomic(envelope.eml_path, data)
        return MessageOutcome(
            kind=envelope.kind,
            site_id=envelope.site_id,
            outcome="dry_run",
            message_id=envelope.message_id,
            eml=envelope.eml_path,
        )
    results = deliver(
        client,
        sender.addr_spec,
        pending,
        data,
        retries=smtp.retries,
        backoff=smtp.backoff,
        sleep=sleep,
    )
    redact = _redactor(smtp)
    for r in results:
        ledger.record(
            {
                "kind": envelope.kind,
                "scope": envelope.key(r.recipient, run_id)[1],
                "site_id": envelope.site_id,
                "recipient": r.recipient,
                "time": _now(),
                "message_id": envelope.message_id,
                "outcome": r.outcome,
                "smtp_reply": redact(r.reply),
                "attempts": r.attempts,
                "run_id": run_id,
            }
        )
    results = [
        RecipientOutcome(
            recipient=r.recipient, outcome=r.outcome, reply=redact(r.reply), attempts=r.attempts
        )
        for r in results
    ]
    sent = sum(r.outcome == "sent" for r in results)
    outcome = "sent" if sent == len(results) else "failed" if sent == 0 else "partial"
    return MessageOutcome(
        kind=envelope.kind,
        site_id=envelope.site_id,
        outcome=outcome,
        message_id=envelope.message_id,
        recipients=tuple(results),
    )


def _redactor(smtp: SmtpConfig) -> Callable[[str], str]:
    """Belt and braces: no server reply or error text we keep may carry the password."""
    secrets: list[str] = []
    if smtp.password:
        secrets.append(smtp.password)
        user = (smtp.username or "").encode()
        pw = smtp.password.encode()
        secrets.append(base64.b64encode(b"\0" + user + b"\0" + pw).decode())
        secrets.append(base64.b64encode(pw).decode())

    def redact(text: str) -> str:
        for s in secrets:
            text = text.replace(s, "***")
        return text

    return redact


__all__ = [
    "Envelope",
    "Ledger",
    "MessageOutcome",
    "RecipientOutcome",
    "RunFolder",
    "SendResult",
    "SiteSummary",
    "SmtpClient",
    "SmtpConfig",
    "build_failure_message",
    "build_site_message",
    "deliver",
    "find_run",
    "header_text",
    "parse_address",
    "render_html",
    "render_text",
    "resolve_sender",
    "send_run",
]
