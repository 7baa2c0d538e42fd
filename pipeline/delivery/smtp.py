"""SMTP: settings from kaizen.yaml and the environment, one reused connection, delivery with retries."""

from __future__ import annotations

import logging
import os
import shlex
import smtplib
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.data.config import SmtpSettings
from pipeline.exceptions import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SECURITY = ("none", "starttls", "ssl")
AUTH = ("password", "xoauth2")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """SMTP settings after the environment has been applied; the password never shows in repr."""

    host: str | None
    port: int
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    auth: str = "password"  # password | xoauth2
    token: str | None = field(default=None, repr=False)
    token_command: str | None = None
    timeout: float = 30.0
    ca_file: Path | None = None
    retries: int = 3
    backoff: float = 2.0

    @classmethod
    def from_settings(
        cls,
        settings: SmtpSettings,
        env: Mapping[str, str] | None = None,
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
        # unlike the other variables, an empty KAIZEN_SMTP_USERNAME is a value, not "unset": no
        # login, even if email.smtp.username is set (e.g. a local relay that takes mail unsigned)
        username = (
            env["KAIZEN_SMTP_USERNAME"].strip() or None
            if "KAIZEN_SMTP_USERNAME" in env
            else settings.username
        )
        mechanism = (get("AUTH") or settings.auth or "password").lower()
        if mechanism not in AUTH:
            raise ConfigError(
                f"KAIZEN_SMTP_AUTH / email.smtp.auth must be password or xoauth2, not {mechanism!r}"
            )
        return cls(
            auth=mechanism,
            token=env.get("KAIZEN_SMTP_TOKEN") or None,
            token_command=settings.token_command,
            host=get("HOST") or settings.host,
            port=int(port),
            security=security,
            username=username,
            password=password,
            timeout=float(timeout if timeout is not None else settings.timeout),
            ca_file=Path(ca_file) if ca_file else None,
            retries=max(0, int(retries if retries is not None else 3)),
            backoff=max(0.0, float(backoff if backoff is not None else 2.0)),
        )

    def check(self) -> SmtpConfig:
        """Refuse settings that cannot work or would leak a secret; returns ``self``."""
        if not self.host:
            raise ConfigError(
                "no SMTP host configured: set email.smtp.host in kaizen.yaml "
                "or the KAIZEN_SMTP_HOST environment variable"
            )
        if self.auth == "xoauth2":
            if not self.username:
                raise ConfigError(
                    "email.smtp.auth is xoauth2 but no username: set email.smtp.username "
                    "(the mailbox the token belongs to) or KAIZEN_SMTP_USERNAME"
                )
            if not self.token and not self.token_command:
                raise ConfigError(
                    "email.smtp.auth is xoauth2 but there is no access token: set "
                    "KAIZEN_SMTP_TOKEN or email.smtp.token_command (a command that prints one)"
                )
            if self.security == "none":
                raise ConfigError(
                    "refusing to send an OAuth token over an unencrypted connection: "
                    "set email.smtp.security (or KAIZEN_SMTP_SECURITY) to starttls or ssl"
                )
            return self
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

    def access_token(self) -> str:
        """The OAuth 2 access token: ``KAIZEN_SMTP_TOKEN``, else what ``token_command`` prints
        (run without a shell, as git runs a credential helper; its first line is the token).

        Raises
        ------
        ConfigError
            The command is missing, fails, times out or prints nothing.
        """
        if self.token:
            return self.token
        command = shlex.split(self.token_command or "")
        if not command:
            raise ConfigError("email.smtp.token_command is empty")
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=max(30.0, self.timeout)
            )
        except FileNotFoundError:
            raise ConfigError(f"email.smtp.token_command: {command[0]!r} not found") from None
        except subprocess.TimeoutExpired:
            raise ConfigError("email.smtp.token_command did not finish in time") from None
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise ConfigError(
                f"email.smtp.token_command exited with {done.returncode} and printed no token"
                + (f": {done.stderr.strip()[:200]}" if done.stderr.strip() else "")
            )
        return lines[0].strip()

    def describe(self) -> str:
        """Where mail goes, in words, without the password."""
        user = f"{self.username}@" if self.username else ""
        how = ", OAuth 2" if self.auth == "xoauth2" else ""
        return f"smtp://{user}{self.host}:{self.port} ({self.security}{how})"

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
    """What happened for one recipient of one message.

    ``outcome`` is ``sent``, ``failed`` or ``unknown``: the whole message went to the server but
    the connection broke before its final reply, so the server may have queued it. An unknown
    message is not retried within the run (that is how a server that queues and hangs up got
    four copies); a later ``send`` retries it with the same Message-ID, so a receiving system
    that saw it can drop the duplicate.
    """

    recipient: str
    outcome: str
    reply: str
    attempts: int


class _Tracking:
    """Knows whether the end of DATA went out: smtplib sends the message and its final
    ``CRLF.CRLF`` in one ``send`` call, then waits for the reply."""

    data_sent = False

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.data_sent = True


class _SMTP(_Tracking, smtplib.SMTP):
    pass


class _SMTPSSL(_Tracking, smtplib.SMTP_SSL):
    pass


class AmbiguousReply(Exception):
    """The message went out whole, and the reply to it never came."""


def xoauth2(username: str, token: str) -> str:
    """The XOAUTH2 initial response (Google's and Microsoft's SASL XOAUTH2 protocol):
    ``user={user}^Aauth=Bearer {token}^A^A``; smtplib base64-encodes it."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01"


class SmtpClient:
    """One reused SMTP connection, reopened after any error (smtplib underneath)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: _SMTP | _SMTPSSL | None = None

    def __enter__(self) -> SmtpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> _SMTP | _SMTPSSL:
        c = self.config
        assert c.host is not None
        smtp: _SMTP | _SMTPSSL
        if c.security == "ssl":
            smtp = _SMTPSSL(c.host, c.port, timeout=c.timeout, context=c.ssl_context())
        else:
            smtp = _SMTP(c.host, c.port, timeout=c.timeout)
        try:
            smtp.ehlo()
            if c.security == "starttls":
                smtp.starttls(context=c.ssl_context())
                smtp.ehlo()
            if c.auth == "xoauth2" and c.username:
                response = xoauth2(c.username, c.access_token())
                # On failure the server sends a 334 with an error JSON and waits for an empty
                # line before its final 535; answering the challenge with "" gives it that.
                smtp.auth(
                    "XOAUTH2",
                    lambda challenge=None: response if challenge is None else "",
                    initial_response_ok=True,
                )
            elif c.username:
                smtp.login(c.username, c.password or "")
        except BaseException:
            _close_quietly(smtp)
            raise
        return smtp

    def transact(self, sender: str, recipient: str, data: bytes) -> str:
        """MAIL, RCPT, DATA for one recipient; returns the DATA reply.

        Raises
        ------
        AmbiguousReply
            The message went out whole and the connection broke before the reply.
        """
        if self._smtp is None:
            self._smtp = self._open()
        smtp = self._smtp
        code, resp = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, resp, sender)
        code, resp = smtp.rcpt(recipient)
        if code not in (250, 251):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused({recipient: (code, resp)})  # type: ignore[dict-item]
        smtp.data_sent = False
        try:
            code, resp = smtp.data(data)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if smtp.data_sent:
                raise AmbiguousReply(str(exc) or type(exc).__name__) from exc
            raise
        if code != 250:
            raise smtplib.SMTPDataError(code, resp)
        return f"{code} {_decode(resp)}".strip()

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
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, resp = next(iter(exc.recipients.values()))
        return 400 <= int(code) < 500, f"{code} {_decode(resp)}".strip()
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
    if isinstance(exc, ConfigError):
        return False, str(exc)
    if isinstance(exc, OSError):
        return True, f"network error: {exc}"
    return False, f"{type(exc).__name__}: {exc}"


def deliver(
    client: SmtpClient,
    envelope_from: str,
    recipient: str,
    data: bytes,
    *,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> RecipientOutcome:
    """Deliver ``data`` to ``recipient``, retrying temporary failures with exponential backoff.

    Temporary: 4xx replies, refused or dropped connections, timeouts; retried up to ``retries``
    times, waiting ``backoff * 2**k`` seconds. Permanent (5xx and the like): recorded, not
    retried. A message that went out whole without a final reply is ``unknown`` and not retried.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            reply = client.transact(envelope_from, recipient, data)
        except AmbiguousReply as exc:
            client.reset()
            return RecipientOutcome(
                recipient=recipient,
                outcome="unknown",
                attempts=attempt,
                reply=(
                    f"the connection broke after the message was sent, before the server's "
                    f"reply ({exc}); the server may have queued it, so it is not sent again in "
                    "this run"
                ),
            )
        except Exception as exc:  # every failure is recorded, none crashes the run
            client.reset()
            is_temporary, text = _classify(exc)
            if not is_temporary:
                return RecipientOutcome(
                    recipient=recipient, outcome="failed", reply=text, attempts=attempt
                )
            if attempt > retries:
                return RecipientOutcome(
                    recipient=recipient,
                    outcome="failed",
                    attempts=attempt,
                    reply=text,  # describe() says "gave up after N attempts" from attempts
                )
            wait = backoff * 2 ** (attempt - 1)
            log.info("temporary failure (%s); retrying in %.2fs", text, wait)
            sleep(wait)
        else:
            return RecipientOutcome(
                recipient=recipient, outcome="sent", reply=reply, attempts=attempt
            )
