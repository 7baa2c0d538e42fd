"""Send a run: email each site's report to its stakeholders and record every message.

One message per recipient (see :mod:`pipeline.delivery.compose` for why), to the site's
stakeholders (or, routed per metric, with only their metrics). Sites that failed get no
stakeholder email; one failure email lists them for the project's error recipients. Every
message sent (or refused) is recorded in ``OUT/<as_of>/send-ledger.json``, written atomically
after each message, so a rerun sends only what was not sent yet, and ``--only-changed`` knows
what each recipient was last told.

SMTP settings come from ``kaizen.yaml`` (``email.smtp``) and are overridden by the environment:
``KAIZEN_SMTP_HOST``, ``KAIZEN_SMTP_PORT``, ``KAIZEN_SMTP_SECURITY`` (none, starttls, ssl),
``KAIZEN_SMTP_AUTH`` (password, xoauth2), ``KAIZEN_SMTP_USERNAME`` (set but empty: no login,
whatever kaizen.yaml says), ``KAIZEN_SMTP_PASSWORD`` and
``KAIZEN_SMTP_TOKEN`` (secrets only ever from the environment), ``KAIZEN_SMTP_FROM``,
``KAIZEN_SMTP_TIMEOUT`` (seconds), ``KAIZEN_SMTP_CA_FILE`` (a PEM bundle of certificate
authorities to trust, e.g. a company CA), ``KAIZEN_SMTP_RETRIES`` (default 3) and
``KAIZEN_SMTP_BACKOFF`` (first wait in seconds, doubled on each retry; default 2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.data.config import Project
from pipeline.delivery.addresses import header_text, parse_address, resolve_sender
from pipeline.delivery.body import size_text
from pipeline.delivery.changes import report_signature, what_changed
from pipeline.delivery.compose import (
    Envelope,
    build_site_message,
    choose_attachment,
    eml_name,
    new_message_id,
    report_link,
)
from pipeline.delivery.failures import FAILURES_EML, build_failure_message
from pipeline.delivery.ledger import LEDGER, Ledger, entry_key, last_signatures, lock_run, now
from pipeline.delivery.smtp import SmtpClient, SmtpConfig, deliver
from pipeline.delivery.summary import EmailSummary, display_text, find_run, read_results
from pipeline.exceptions import ConfigError, DeliveryError
from pipeline.files import atomic_write_bytes
from pipeline.formatting import count_of

#: Outcomes that make ``send`` exit 1: something that should have gone did not (or may not have).
FAILED = ("failed", "unknown", "stale", "no_recipient")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageOutcome:
    """What happened to one message (one site, one recipient), or why it was not sent.

    ``outcome``: sent, failed, unknown (the server may have it; see
    :class:`~pipeline.delivery.smtp.RecipientOutcome`), already_sent, unchanged (``--only-changed``
    and nothing worth a message), dry_run, no_recipient (the site has no valid stakeholder
    address: nobody got its report), stale (refused).
    """

    kind: str  # report | failure
    site_id: str | None
    outcome: str
    recipient: str = ""
    message_id: str = ""
    reply: str = ""
    attempts: int = 0
    size: int = 0
    error: str | None = None
    eml: Path | None = None

    @property
    def is_failed(self) -> bool:
        return self.outcome in FAILED

    def describe(self) -> str:
        what = f"site {self.site_id}" if self.site_id else "failure email"
        if self.recipient:
            what += f" to {self.recipient}"
        size = f" ({size_text(self.size)})" if self.size else ""
        if self.error:
            return f"{what}: {self.outcome.replace('_', ' ')}: {self.error}"
        if self.outcome == "dry_run":
            return f"{what}: written to {self.eml}{size}"
        if self.outcome == "already_sent":
            return f"{what}: already sent (use --force to send again)"
        tries = count_of(self.attempts, "attempt")
        if self.outcome == "failed" and self.attempts > 1:
            tries = f"gave up after {tries}"
        return f"{what}: {self.outcome}{size}: {self.reply}; {tries}"


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

    @property
    def sent(self) -> tuple[MessageOutcome, ...]:
        return tuple(m for m in self.messages if m.outcome == "sent")

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
        total = sum(m.size for m in self.messages if m.outcome in ("sent", "dry_run"))
        size = f" ({size_text(total)} in all)" if total else ""
        return f"{self.as_of}: {count_of(len(self.messages), 'message')}: {parts or 'nothing to send'}{size}"


def _message_id(
    ledger: Ledger, key: tuple[str, str, str], *, run_id: str, domain: str, force: bool
) -> str:
    """The Message-ID of one message: an earlier attempt's when it may have arrived; else one
    derived from the run, the message and the recipient, so a retry after a crash carries the
    same id; a fresh one for ``--force`` (a deliberate second copy)."""
    earlier = ledger.message_id(key)
    if earlier:
        return earlier
    # short, so the header is never folded
    if force or not run_id:
        return new_message_id(domain=domain, idstring="kaizen")
    digest = hashlib.sha256("\0".join((run_id, *key)).encode()).hexdigest()[:24]
    return f"<kaizen.{digest}@{domain}>"


def _recipients(
    raw: Iterable[tuple[str, tuple[str, ...]]],
    *,
    where: Callable[[int], str],
    rejected: list[str],
) -> list[tuple[Address, tuple[str, ...]]]:
    """Checked, de-duplicated recipients; why each bad address was left out goes to
    ``rejected``, at its place in kaizen.yaml as ``where(n)`` writes it for the n-th address,
    counted from 1 (``"sites[2].stakeholders[1] (site 'north'): 'ops' is not one email
    address"``, the way the configuration's own errors name places)."""
    seen: dict[str, tuple[Address, tuple[str, ...]]] = {}
    for n, (text, metrics) in enumerate(raw, 1):
        try:
            address = parse_address(text, where=where(n))
        except ConfigError as exc:
            rejected.append(exc.message)
            continue
        seen.setdefault(address.addr_spec.lower(), (address, metrics))
    return list(seen.values())


def _stakeholder_place(site: int, site_id: str, n: int) -> str:
    """Where a site's n-th stakeholder is in kaizen.yaml: ``sites[2].stakeholders[1] (site
    'north')``."""
    return f"sites[{site}].stakeholders[{n}] (site {site_id!r})"


def _no_recipient_reason(name: str, sid: str, configured: int, rejected: Sequence[str]) -> str:
    """Why nobody got site ``sid``'s report, naming every address left out and why."""
    where = f"{name} ({sid})" if name != sid else sid
    if not configured:
        return f"{where} has no stakeholders in kaizen.yaml; nobody got its report"
    which = (
        "the one stakeholder address of"
        if configured == 1
        else f"none of the {count_of(configured, 'stakeholder address', 'stakeholder addresses')} of"
    )
    verdict = "is not valid" if configured == 1 else "is valid"
    return f"{which} {where} in kaizen.yaml {verdict}, so nobody got its report: " + "; ".join(
        rejected
    )


def _is_stale(site_dir: Path) -> bool:
    try:
        validation = json.loads((site_dir / "validation.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(validation, dict) and validation.get("stale") is True


def send_run(
    project: Project,
    *,
    as_of: str | None = "latest",
    site_ids: Sequence[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    to: Sequence[str] | None = None,
    only_changed: bool = False,
    allow_stale: bool = False,
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
    only_changed
        Mail a recipient only when a verdict, icon or goal status changed since the last report
        sent to them, or a new concern signal appeared (see :mod:`pipeline.delivery.changes`).
    allow_stale
        Send reports whose validation says their data is stale (refused otherwise).

    Raises
    ------
    ConfigError
        No such run, unknown site, invalid ``--to``, no SMTP host/sender (usage errors, exit 2).
    LockHeld
        Another ``send`` is running for the same run.
    """
    env = os.environ if env is None else env
    run = find_run(project.output, as_of)
    smtp = SmtpConfig.from_settings(project.email.smtp, env)
    if not dry_run:
        smtp.check()
    sender = resolve_sender(project.email, env)
    override = [(parse_address(a, where="--to"), ()) for a in to or ()]

    in_run = {s.site_id: s for s in run.sites}
    if site_ids:
        project.select_sites(list(site_ids))  # unknown ids -> ConfigError with the known ones
        missing = [s for s in site_ids if s not in in_run]
        if missing:
            raise ConfigError(
                f"{'site' if len(missing) == 1 else 'sites'} {', '.join(map(repr, missing))} {'has' if len(missing) == 1 else 'have'} no entry in the run of "
                f"{run.as_of}; sites in that run: {', '.join(in_run) or 'none'}"
            )
        wanted = [s for s in in_run if s in set(site_ids)]
    else:
        wanted = list(in_run)
    configured = {s.id: s for s in project.sites}
    place = {s.id: n for n, s in enumerate(project.sites, 1)}  # as kaizen.yaml lists them
    warnings: list[str] = []
    outcomes: list[MessageOutcome] = []

    def report(outcome: MessageOutcome) -> None:
        outcomes.append(outcome)
        if on_message:
            on_message(outcome)

    ledger_path = run.path / LEDGER
    with lock_run(run.path), SmtpClient(smtp) as client:
        ledger = Ledger(ledger_path, as_of=run.as_of, run_id=run.run_id)

        def send(envelope: Envelope, signature: dict[str, Any] | None = None) -> None:
            report(
                _send_one(
                    envelope,
                    ledger,
                    client,
                    smtp,
                    sender=sender,
                    run_id=run.run_id,
                    dry_run=dry_run,
                    signature=signature,
                    sleep=sleep,
                )
            )

        failures: list[tuple[str, str, str, tuple[str, ...]]] = []
        for sid in wanted:
            entry = in_run[sid]
            site = configured.get(sid)
            name = header_text(site.name if site else sid)
            if entry.is_failed:
                # several failed rules: the error's summary line, then each rule in a list
                problems = tuple(display_text(p) for p in entry.problems)
                problems = problems if len(problems) > 1 else ()
                error = (entry.error or "").splitlines()[:1] if problems else [entry.error]
                reason = display_text(" ".join(e for e in error if e)) or "failed (no reason given)"
                failures.append((sid, name, reason, problems))
                continue
            raw = [(s.address, s.metrics) for s in (site.recipients if site else ())]
            rejected: list[str] = []
            recipients = override or _recipients(
                raw, where=partial(_stakeholder_place, place.get(sid, 0), sid), rejected=rejected
            )
            if not recipients:
                # the others are still sent; this site makes the send exit 1
                report(
                    MessageOutcome(
                        kind="report",
                        site_id=sid,
                        outcome="no_recipient",
                        error=_no_recipient_reason(name, sid, len(raw), rejected),
                    )
                )
                continue
            warnings += [f"{r}; that address is skipped" for r in rejected]
            site_dir = run.path / sid
            if _is_stale(site_dir) and not allow_stale:
                report(
                    MessageOutcome(
                        kind="report",
                        site_id=sid,
                        outcome="stale",
                        error="its data is stale (no data in the last periods before as_of, "
                        "see validation.json); not sent: pass --allow-stale to send it anyway",
                    )
                )
                continue
            try:
                results = read_results(site_dir, sid)
                attachment = choose_attachment(site_dir, project.email.attach)
                summary = EmailSummary.from_results(
                    results,
                    site_dir=site_dir,
                    site_id=sid,
                    site_name=name,
                    project=project.name,
                    as_of=run.as_of,
                    domain=sender.domain,
                )
            except DeliveryError as exc:
                for address, _ in recipients:
                    report(
                        _refused(ledger, "report", sid, address, exc.message, dry_run, run.run_id)
                    )
                continue
            for rel in summary.skipped_charts:
                warnings.append(
                    f"site {sid}: key chart {rel!r} has neither readable chart data nor a "
                    "PNG inside the site folder; left out"
                )
            previous = last_signatures(project.output, site_id=sid) if only_changed else {}
            link = report_link(project.email.report_url, as_of=run.as_of, site_id=sid)
            for address, metrics in recipients:
                key = ("report", sid, address.addr_spec.lower())
                if not force and ledger.is_sent(key):
                    report(
                        MessageOutcome(
                            kind="report",
                            site_id=sid,
                            outcome="already_sent",
                            recipient=address.addr_spec,
                        )
                    )
                    continue
                signature = report_signature(results.to_dict(), metrics)
                if only_changed and not force:
                    before = previous.get(address.addr_spec.lower())
                    if not what_changed(before[1] if before else None, signature):
                        report(
                            MessageOutcome(
                                kind="report",
                                site_id=sid,
                                outcome="unchanged",
                                recipient=address.addr_spec,
                                reply=f"nothing changed since the report of {before[0]}"
                                if before
                                else "",
                            )
                        )
                        continue
                try:
                    message = build_site_message(
                        summary.for_metrics(metrics),
                        attachment,
                        sender=sender,
                        recipient=address,
                        message_id=_message_id(
                            ledger, key, run_id=run.run_id, domain=sender.domain, force=force
                        ),
                        max_attachment_mb=project.email.max_attachment_mb,
                        report_link=link,
                    )
                except DeliveryError as exc:
                    report(
                        _refused(ledger, "report", sid, address, exc.message, dry_run, run.run_id)
                    )
                    continue
                send(
                    Envelope(
                        kind="report",
                        site_id=sid,
                        recipient=address,
                        message=message,
                        eml_path=site_dir / eml_name(address),
                    ),
                    signature,
                )

        if failures:
            rejected = []
            error_recipients = override or _recipients(
                ((a, ()) for a in project.email.error_recipients),
                where="email.error_recipients[{}]".format,
                rejected=rejected,
            )
            warnings += [f"{r}; that address is skipped" for r in rejected]
            if not error_recipients:
                warnings.append(
                    f"{count_of(len(failures), 'site')} failed but email.error_recipients is empty; "
                    "no failure email"
                )
            scope = f"run:{run.run_id}"
            for i, (address, _) in enumerate(error_recipients):
                key = ("failure", scope, address.addr_spec.lower())
                if not force and ledger.is_sent(key):
                    report(
                        MessageOutcome(
                            kind="failure",
                            site_id=None,
                            outcome="already_sent",
                            recipient=address.addr_spec,
                        )
                    )
                    continue
                message = build_failure_message(
                    project.name,
                    run.as_of,
                    failures,
                    sender=sender,
                    recipient=address,
                    run_id=run.run_id,
                    message_id=_message_id(
                        ledger, key, run_id=run.run_id, domain=sender.domain, force=force
                    ),
                )
                name = FAILURES_EML if i == 0 else f"failures-{eml_name(address)[6:]}"
                send(
                    Envelope(
                        kind="failure",
                        site_id=None,
                        recipient=address,
                        message=message,
                        eml_path=run.path / name,
                    )
                )
    return SendResult(
        run=run.path,
        as_of=run.as_of,
        messages=tuple(outcomes),
        dry_run=dry_run,
        ledger=None if dry_run else ledger_path,
        warnings=tuple(warnings),
    )


def _refused(
    ledger: Ledger,
    kind: str,
    site_id: str,
    address: Address,
    error: str,
    dry_run: bool,
    run_id: str,
) -> MessageOutcome:
    """A message that could not even be built: part of the audit trail too."""
    if not dry_run:
        ledger.record(
            {
                "kind": kind,
                "scope": site_id,
                "site_id": site_id,
                "recipient": address.addr_spec,
                "time": now(),
                "message_id": None,
                "outcome": "failed",
                "smtp_reply": None,
                "error": error,
                "attempts": 0,
                "size": 0,
                "run_id": run_id,
            }
        )
    return MessageOutcome(
        kind=kind, site_id=site_id, outcome="failed", recipient=address.addr_spec, error=error
    )


def _send_one(
    envelope: Envelope,
    ledger: Ledger,
    client: SmtpClient,
    smtp: SmtpConfig,
    *,
    sender: Address,
    run_id: str,
    dry_run: bool,
    signature: dict[str, Any] | None,
    sleep: Callable[[float], None],
) -> MessageOutcome:
    data = envelope.data
    recipient = envelope.recipient.addr_spec
    if dry_run:
        atomic_write_bytes(envelope.eml_path, data)
        return MessageOutcome(
            kind=envelope.kind,
            site_id=envelope.site_id,
            outcome="dry_run",
            recipient=recipient,
            message_id=envelope.message_id,
            size=len(data),
            eml=envelope.eml_path,
        )
    result = deliver(
        client,
        sender.addr_spec,
        recipient,
        data,
        retries=smtp.retries,
        backoff=smtp.backoff,
        sleep=sleep,
    )
    reply = _redactor(smtp)(result.reply)
    entry: dict[str, Any] = {
        "kind": envelope.kind,
        "scope": envelope.site_id or f"run:{run_id}",
        "site_id": envelope.site_id,
        "recipient": recipient,
        "time": now(),
        "message_id": envelope.message_id,
        "outcome": result.outcome,
        "smtp_reply": reply,
        "attempts": result.attempts,
        "size": len(data),
        "run_id": run_id,
    }
    if signature is not None and result.outcome == "sent":
        entry["signature"] = signature
    assert entry_key(entry) == (envelope.kind, entry["scope"], recipient.lower())
    ledger.record(entry)
    return MessageOutcome(
        kind=envelope.kind,
        site_id=envelope.site_id,
        outcome=result.outcome,
        recipient=recipient,
        message_id=envelope.message_id,
        reply=reply,
        attempts=result.attempts,
        size=len(data),
    )


def _redactor(smtp: SmtpConfig) -> Callable[[str], str]:
    """Belt and braces: no server reply or error text we keep may carry a secret."""
    secrets: list[str] = []
    if smtp.password:
        secrets.append(smtp.password)
        user = (smtp.username or "").encode()
        pw = smtp.password.encode()
        secrets.append(base64.b64encode(b"\0" + user + b"\0" + pw).decode())
        secrets.append(base64.b64encode(pw).decode())
    if smtp.token:
        secrets.append(smtp.token)

    def redact(text: str) -> str:
        for s in secrets:
            text = text.replace(s, "***")
        return text

    return redact


__all__ = ["MessageOutcome", "SendResult", "send_run"]
