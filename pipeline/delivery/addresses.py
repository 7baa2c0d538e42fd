"""Email addresses and header text: parse, check and normalise what goes into a header."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from email import policy
from email.headerregistry import Address
from typing import Any

from pipeline.data.config import EmailSettings
from pipeline.exceptions import ConfigError

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_DOMAIN = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)


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
