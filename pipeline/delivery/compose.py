"""The stakeholder message for one site: headers, MIME tree, attachment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, make_msgid
from pathlib import Path

from pipeline.delivery.addresses import header_text
from pipeline.delivery.body import render_html, render_text, size_text
from pipeline.delivery.summary import SiteSummary
from pipeline.exceptions import DeliveryError

SITE_EML = "email.eml"
MAX_HTML_BYTES = 100_000


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


def set_headers(
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
            f"report.html is {size_text(len(data))}, above the attachment limit of "
            f"{max_attachment_mb:g} MB (email.max_attachment_mb); raise the limit in kaizen.yaml "
            "or share the report from the portfolio page instead",
            site_id=summary.site_id,
        )
    note = (
        f"The full report is attached as report.html ({size_text(len(data))}): every control "
        "chart, the before/after statistics, data quality and methods. Open it in any web "
        "browser; it works offline."
    )
    body = render_html(summary, attachment_note=note)
    if len(body.encode("utf-8")) > MAX_HTML_BYTES:
        raise DeliveryError(
            f"the email body is {size_text(len(body.encode()))} of HTML, above the 100 KB that "
            "mail clients show unclipped",
            site_id=summary.site_id,
        )
    headline = summary.headline or (
        "report ready" if summary.status != "warnings" else "report ready (data warnings)"
    )
    msg = EmailMessage(policy=policy.SMTP)
    set_headers(
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
