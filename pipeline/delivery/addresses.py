"""The sender of a send; mailboxes and header text are checked by :mod:`pipeline.data.addresses`
(one parser for ``send`` and ``validate``), re-exported here for the delivery modules."""

from __future__ import annotations

import os
from collections.abc import Mapping
from email.headerregistry import Address

from pipeline.data.addresses import header_text, parse_address
from pipeline.data.config import EmailSettings
from pipeline.exceptions import ConfigError


def resolve_sender(email: EmailSettings, env: Mapping[str, str] | None = None) -> Address:
    """The From address: ``KAIZEN_SMTP_FROM`` or ``email.from``."""
    env = os.environ if env is None else env
    text = (env.get("KAIZEN_SMTP_FROM") or "").strip() or email.sender
    if not text:
        raise ConfigError("no sender: set email.from in kaizen.yaml or KAIZEN_SMTP_FROM")
    return parse_address(text, where="email.from")


__all__ = ["header_text", "parse_address", "resolve_sender"]
