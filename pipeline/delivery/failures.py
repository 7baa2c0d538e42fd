"""The failure email: which sites failed and why, for the project's error recipients."""

from __future__ import annotations

from collections.abc import Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

from pipeline.delivery.body import _FONT, _e
from pipeline.delivery.compose import set_headers

FAILURES_EML = "failures.eml"


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
    set_headers(
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
