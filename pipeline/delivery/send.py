"""Send a run: email each site's report to its stakeholders: build MIME messages, deliver over SMTP, keep a ledger.

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
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from pathlib import Path

from pipeline.data.config import Project
from pipeline.delivery.addresses import header_text, parse_address, resolve_sender
from pipeline.delivery.compose import Envelope, build_site_message
from pipeline.delivery.failures import FAILURES_EML, build_failure_message
from pipeline.delivery.ledger import LEDGER, Ledger, lock_run, now
from pipeline.delivery.smtp import RecipientOutcome, SmtpClient, SmtpConfig, deliver
from pipeline.delivery.summary import SiteSummary, display_text, find_run, read_results
from pipeline.exceptions import ConfigError, DeliveryError
from pipeline.files import atomic_write_bytes

SITE_EML = "email.eml"


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
            failures.append(
                (sid, name, display_text(entry.get("error")) or "failed (no reason given)")
            )
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
            results = read_results(site_dir, sid)
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
    with lock_run(run.path):
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
                            "time": now(),
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
        atomic_write_bytes(envelope.eml_path, data)
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
                "time": now(),
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
