"""The stakeholder message for one site and one recipient: subject, headers, MIME tree, attachment.

::

    multipart/mixed
    ├── multipart/related
    │   ├── multipart/alternative
    │   │   ├── text/plain          summary in plain words
    │   │   └── text/html           inline-styled tables, <img src="cid:...">
    │   └── image/png ...           the key charts, each with a Content-ID
    └── application/pdf | text/html (attachment, ``email.attach``)   the full report

One message per recipient: nobody sees anyone else's address, a bad address costs only its own
message, each recipient's message has its own Message-ID (reused if it is ever sent again), and
per-metric routing can give each recipient their own tiles.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import quote

from pipeline.delivery.addresses import header_text
from pipeline.delivery.body import render_html, render_text, size_text
from pipeline.delivery.summary import EmailSummary
from pipeline.exceptions import DeliveryError
from pipeline.formatting import shorten
from pipeline.vocabulary import RunStatus

MAX_HTML_BYTES = 100_000
#: RFC 5322 section 2.1.1: lines SHOULD be at most 78 characters; the subject is kept to that.
MAX_SUBJECT = 78
#: Characters a subject keeps for the headline when the site name is long: the site name is
#: shortened before the verdict is lost ("Werk Nord — Montage und…: Lead time… fell 30%").
MIN_HEADLINE = 40
#: How messages are written out: SMTP's policy with header lines allowed up to RFC 5322's hard
#: limit of 998 characters, so a subject is never folded. "Subject: " plus 78 characters is
#: already over 78, and Python folds before an RFC 2047 encoded-word keeping the space in front
#: of the fold, which clients show as a double space. Bodies are unaffected: each part is encoded
#: when it is made, under policy.SMTP (quoted-printable and base64 lines of 76 characters).
WIRE = policy.SMTP.clone(max_line_length=998)
ATTACH = ("pdf", "html", "none")
#: Fewest characters of a headline's metric name a subject keeps (its first word and "…"), and
#: of a site name shortened to make room for what the headline says.
MIN_METRIC = 6
MIN_SITE = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One message to one recipient, with what the ledger needs to know about it."""

    kind: str  # report | failure
    site_id: str | None
    recipient: Address
    message: EmailMessage
    eml_path: Path
    signature: str = ""  # what the message reports, for ``send --only-changed``

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def data(self) -> bytes:
        """The message as it goes on the wire (and into a dry run's .eml)."""
        return self.message.as_bytes(policy=WIRE)


def new_message_id(*, domain: str, idstring: str) -> str:
    """A fresh globally unique Message-ID (RFC 5322 section 3.6.4)."""
    return make_msgid(idstring=idstring, domain=domain)


def site_subject(summary: EmailSummary) -> str:
    """``<site>: <headline>``, at most 78 characters, no date (the message has a Date header).

    A headline too long for the subject loses its parentheses first (the interval, "(95% CI
    −52% to −9%)", is in the body; the event the change followed says more in a subject), then is
    cut: where the headline names the metric it opens with (``headline_metric``), only that
    name is shortened, and otherwise in the middle at words. A site name so long that it leaves
    less than :data:`MIN_HEADLINE` characters is shortened itself when that cut the verdict, so
    the subject still says what happened."""
    headline = summary.headline or (
        "report ready" if summary.status != RunStatus.WARNINGS else "report ready (data warnings)"
    )
    site = header_text(summary.site_name)
    text = header_text(headline)
    subject = f"{site}: {text}"
    if len(subject) <= MAX_SUBJECT:
        return subject
    text = " ".join(_PARENTHESES.sub("", text).split())
    if len(f"{site}: {text}") <= MAX_SUBJECT:
        return f"{site}: {text}"
    # the verdict comes before the event's title in a headline: drop the title, then cut the
    # middle (the metric's name) rather than the end, so the subject keeps what happened
    without = " ".join(_EVENT_CLAUSE.sub("", text).split())
    names = (site, shorten(site, MAX_SUBJECT - MIN_HEADLINE - 2))
    metric = " ".join(_PARENTHESES.sub("", header_text(summary.summary.headline_metric)).split())
    if metric and without.startswith(metric):
        # the headline says which part is the metric's name: only that part is shortened, so
        # what is said about it stays whole ("Cost of poor… fell 26%", not "Cost… 5% fell 26%")
        said = without[len(metric) :]
        # the site name is shortened as far as it takes to keep the metric's first word
        fit = shorten(site, MAX_SUBJECT - 2 - len(said) - MIN_METRIC)
        for name in (*names, *([fit] if len(fit) >= MIN_SITE else [])):
            room = MAX_SUBJECT - len(name) - 2 - len(said)
            if room >= min(len(metric), MIN_METRIC):
                return f"{name}: {shorten(metric, room)}{said}"
    for name in names:
        if without == text:  # not a headline of ours (no event title): cut at the end
            subject = shorten(f"{name}: {text}", MAX_SUBJECT)
        else:
            subject = _keep_the_end(f"{name}: ", without, MAX_SUBJECT)
        # the verdict (at the end) is whole, or the site name is not what crowds it out
        if subject.endswith(without.split()[-1]) or len(site) <= MAX_SUBJECT // 2:
            break
    return subject


_PARENTHESES = re.compile(r"\s*\([^()]*\)")
#: ", after “Title”" or " after “Title”": the event a headline's verdict follows
_EVENT_CLAUSE = re.compile(r",?\s+after\s+“[^”]*”")


def _keep_the_end(prefix: str, text: str, limit: int) -> str:
    """``prefix + text`` in at most ``limit`` characters, cut in the middle at words: the first
    word, an ellipsis, and as many of the last words as fit (where a headline's verdict is)."""
    if len(prefix) + len(text) <= limit:
        return prefix + text
    words = text.split()
    room = limit - len(prefix) - len(words[0]) - 2  # the first word, "… "
    tail: list[str] = []
    for word in reversed(words[1:]):
        if len(" ".join([word, *tail])) > room:
            break
        tail.insert(0, word)
    if not tail:  # a site name too long to leave room: cut the end as before
        return shorten(prefix + text, limit)
    head = [words[0]]
    for word in words[1 : len(words) - len(tail)]:
        if len(prefix) + len(" ".join([*head, word])) + 2 + len(" ".join(tail)) > limit:
            break
        head.append(word)
    return f"{prefix}{' '.join(head)}… {' '.join(tail)}"


def set_headers(
    msg: EmailMessage,
    *,
    sender: Address,
    recipient: Address,
    subject: str,
    message_id: str,
) -> None:
    msg["Subject"] = shorten(header_text(subject), MAX_SUBJECT)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["MIME-Version"] = "1.0"


def choose_attachment(site_dir: Path, attach: str | None) -> Path | None:
    """The file to attach: ``email.attach`` (pdf, html, none); unset means the PDF when the run
    made one, else the HTML report.

    Raises
    ------
    DeliveryError
        ``attach: pdf`` but the run made no report.pdf (run with ``--pdf``).
    """
    pdf, html = site_dir / "report.pdf", site_dir / "report.html"
    if attach == "none":
        return None
    if attach == "pdf" or (attach is None and pdf.is_file()):
        if not pdf.is_file():
            raise DeliveryError(
                f"email.attach is pdf but {pdf} does not exist: run with --pdf "
                "(or output.pdf: true in kaizen.yaml), or set email.attach to html or none",
                site_id=site_dir.name,
            )
        return pdf
    if not html.is_file():
        raise DeliveryError(f"{html} is missing", site_id=site_dir.name)
    return html


def _note(attachment: Path | None, size: int, report_link: str) -> str:
    what = "a PDF" if attachment is not None and attachment.suffix == ".pdf" else "report.html"
    if attachment is None:
        return "" if report_link else "The full report is on the portfolio page of this run."
    if report_link:
        return f"It is also attached as {what} ({size_text(size)})."
    opener = " (open it in any web browser)" if what == "report.html" else ""
    return (
        f"The full report is attached as {what}{opener}, {size_text(size)}: every control chart, "
        "the before/after statistics, data quality and methods."
    )


def report_link(report_url: str | None, *, as_of: str, site_id: str) -> str:
    """Where a site's published report is: ``email.report_url`` with ``{as_of}`` and
    ``{site_id}`` filled in, or, without placeholders, ``<report_url>/<as_of>/<site_id>/report.html``
    (the layout of the output folder)."""
    if not report_url:
        return ""
    values = {"as_of": quote(as_of), "site_id": quote(site_id)}
    if "{" in report_url:
        return report_url.format(**values)
    return f"{report_url.rstrip('/')}/{values['as_of']}/{values['site_id']}/report.html"


def eml_name(recipient: Address) -> str:
    """The dry-run file of one recipient's message: ``email-<address>.eml``."""
    return "email-" + re.sub(r"[^A-Za-z0-9@._-]", "_", recipient.addr_spec.lower()) + ".eml"


def build_site_message(
    summary: EmailSummary,
    attachment: Path | None,
    *,
    sender: Address,
    recipient: Address,
    message_id: str,
    max_attachment_mb: float,
    report_link: str = "",
) -> EmailMessage:
    """The stakeholder email of one site for one recipient (MIME tree in the module docstring).

    Raises
    ------
    DeliveryError
        The attachment is larger than ``max_attachment_mb`` or the HTML body over 100 KB.
    """
    data = attachment.read_bytes() if attachment is not None else b""
    limit = max_attachment_mb * 1_000_000
    if attachment is not None and len(data) > limit:
        raise DeliveryError(
            f"{attachment.name} is {size_text(len(data))}, above the attachment limit of "
            f"{max_attachment_mb:g} MB (email.max_attachment_mb); raise the limit in kaizen.yaml, "
            "set email.attach: none and email.report_url, or attach the PDF",
            site_id=summary.site_id,
        )
    note = _note(attachment, len(data), report_link)
    body = render_html(summary, attachment_note=note, report_link=report_link)
    if len(body.encode("utf-8")) > MAX_HTML_BYTES:
        raise DeliveryError(
            f"the email body is {size_text(len(body.encode()))} of HTML, above the 100 KB that "
            "mail clients show unclipped",
            site_id=summary.site_id,
        )
    msg = EmailMessage(policy=policy.SMTP)
    set_headers(
        msg,
        sender=sender,
        recipient=recipient,
        subject=site_subject(summary),
        message_id=message_id,
    )
    msg["X-Kaizen-Site"] = summary.site_id
    msg["X-Kaizen-As-Of"] = header_text(summary.as_of)
    if summary.run_id:
        msg["X-Kaizen-Run"] = header_text(summary.run_id)

    # multipart/related[ multipart/alternative[plain, html], images ] — built by hand because
    # EmailMessage.add_related() nests the other way round (alternative[plain, related[...]]).
    alternative = MIMEPart(policy=policy.SMTP)
    alternative.set_content(
        render_text(summary, attachment_note=note, report_link=report_link),
        cte="quoted-printable",
    )
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
    if attachment is not None and attachment.suffix == ".pdf":
        msg.add_attachment(data, maintype="application", subtype="pdf", filename="report.pdf")
    elif attachment is not None:
        msg.add_attachment(
            data,
            maintype="text",
            subtype="html",
            filename="report.html",
            params={"charset": "utf-8"},
        )
    return msg
