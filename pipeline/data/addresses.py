"""Email addresses and header text: parse, check and normalise what goes into a header.

Pure (no environment, no network), so that ``validate`` checks the addresses of kaizen.yaml
with the very parser ``send`` uses: this module sits in the data layer, below ``delivery``.
"""

from __future__ import annotations

import re
from email import policy
from email.headerregistry import Address
from typing import Any

from pipeline.exceptions import ConfigError

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_DOMAIN = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)


def address_problem(text: Any) -> str | None:
    """What is wrong with ``text`` as one mailbox ("is not one email address"), or None."""
    found = _parse(str(text).strip())
    return found if isinstance(found, str) else None


def parse_address(text: Any, *, where: str) -> Address:
    """One mailbox (``"Name <user@domain>"`` or ``user@domain``), checked and normalised.

    Raises
    ------
    ConfigError
        Not exactly one valid ASCII address, or control characters (which could inject headers).
    """
    raw = str(text).strip()
    found = _parse(raw)
    if isinstance(found, str):
        raise ConfigError(f"{where}: {raw!r} {found}")
    return found


def _parse(raw: str) -> Address | str:
    """The normalised mailbox of ``raw``, or what is wrong with it."""
    if not raw:
        return "is empty"
    if _CONTROL.search(raw):
        return "contains control characters (line breaks are not allowed)"
    try:
        header = policy.SMTP.header_factory("to", raw)
        addresses = header.addresses
    except Exception:  # the header parser raises assorted errors on garbage
        return "is not one email address"
    if header.defects or len(addresses) != 1:
        return "is not one email address"
    addr = addresses[0]
    if not addr.username or not addr.domain or not _DOMAIN.match(addr.domain):
        return "is not a complete address (user@domain)"
    if not addr.addr_spec.isascii():
        return "has non-ASCII characters in the address itself"
    return Address(display_name=addr.display_name, username=addr.username, domain=addr.domain)


def header_text(text: Any, *, limit: int = 200) -> str:
    """Text safe for a header: control characters and line breaks become spaces, length capped."""
    s = " ".join(_CONTROL.sub(" ", str(text)).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


__all__ = ["address_problem", "header_text", "parse_address"]
