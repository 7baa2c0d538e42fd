"""SMTP: settings from kaizen.yaml and the environment, one reused connection, delivery with retries."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.data.config import SmtpSettings
from pipeline.exceptions import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SECURITY = ("none", "starttls", "ssl")


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
