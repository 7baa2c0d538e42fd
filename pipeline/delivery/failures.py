"""The failure email: which sites failed and why, for the project's error recipients.

It carries the reason each site failed (the error message; a site that failed several contract
rules has each rule listed, naming table, column and the file's line numbers) and never a data row.
"""

from __future__ import annotations

from collections.abc import Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

from pipeline.delivery.body import render_failures
from pipeline.delivery.compose import set_headers
from pipeline.formatting import shorten

FAILURES_EML = "failures.eml"
MAX_REASON = 600


def failure_subject(project: str, n: int) -> str:
    return shorten(f"{project}: {n} site report{'s' if n != 1 else ''} failed", 78)


def build_failure_message(
    project: str,
    as_of: str,
    failures: Sequence[tuple[str, str, str, Sequence[str]]],
    *,
    sender: Address,
    recipient: Address,
    run_id: str,
    message_id: str,
) -> EmailMessage:
    """One email listing the failed sites ``(site_id, site_name, reason, problems)`` for an error
    recipient: ``problems`` are the critical contract rules the site's data did not meet, each
    listed in full (:func:`pipeline.data.contracts.describe_failure`)."""
    n = len(failures)
    subject = failure_subject(project, n)
    lead = (
        f"{project}: {n} site report{'s' if n != 1 else ''} failed for {as_of}"
        + (f" (run {run_id})" if run_id else "")
        + "."
    )
    rows = [
        {
            "site_id": sid,
            "site_name": name,
            "reason": shorten(reason, MAX_REASON),
            "problems": [shorten(p, MAX_REASON) for p in problems],
        }
        for sid, name, reason, problems in failures
    ]
    text, html = render_failures(subject=subject, lead=lead, failures=rows)
    msg = EmailMessage(policy=policy.SMTP)
    set_headers(msg, sender=sender, recipient=recipient, subject=subject, message_id=message_id)
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg
