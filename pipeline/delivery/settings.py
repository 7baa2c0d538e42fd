"""The delivery settings of kaizen.yaml that the configuration model does not carry yet.

``email.report_url``, ``email.attach``, ``email.smtp.auth``, ``email.smtp.token_command`` and
per-metric stakeholders (``stakeholders: [{address: ..., metrics: [...]}]``, plain strings still
accepted) are read here from the file itself, in one place, until the typed configuration models
carry them; then this module reads them from ``Project`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from pipeline.data.config import Project
from pipeline.delivery.compose import ATTACH
from pipeline.exceptions import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Stakeholder:
    """One recipient of a site's email; ``metrics`` empty means every metric."""

    address: str
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverySettings:
    report_url: str | None = None
    attach: str | None = None  # pdf | html | none; None: the PDF when there is one
    auth: str | None = None
    token_command: str | None = None
    stakeholders: Mapping[str, tuple[Stakeholder, ...]] = field(default_factory=dict)

    def report_link(self, *, as_of: str, site_id: str) -> str:
        """Where a site's published report is: ``report_url`` with ``{as_of}`` and ``{site_id}``
        filled in, or, without placeholders, ``<report_url>/<as_of>/<site_id>/report.html`` (the
        layout of the output folder)."""
        if not self.report_url:
            return ""
        values = {"as_of": quote(as_of), "site_id": quote(site_id)}
        if "{" in self.report_url:
            return self.report_url.format(**values)
        return f"{self.report_url.rstrip('/')}/{values['as_of']}/{values['site_id']}/report.html"


def _stakeholders(raw: Any, where: str) -> tuple[Stakeholder, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str | dict) else raw
    if not isinstance(items, list):
        raise ConfigError(f"{where} must be a list of addresses")
    out = []
    for i, item in enumerate(items):
        here = f"{where}[{i + 1}]"
        if isinstance(item, str):
            out.append(Stakeholder(address=item))
            continue
        if not isinstance(item, dict) or "address" not in item:
            raise ConfigError(f"{here} must be an address or {{address: ..., metrics: [...]}}")
        unknown = set(item) - {"address", "metrics"}
        if unknown:
            raise ConfigError(f"{here} has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        metrics = item.get("metrics") or []
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise ConfigError(f"{here}.metrics must be a list of metric ids")
        out.append(Stakeholder(address=str(item["address"]), metrics=tuple(metrics)))
    return tuple(out)


def load_delivery_settings(project: Project) -> DeliverySettings:
    """The settings above from ``project.path``.

    Raises
    ------
    ConfigError
        A value of the wrong kind, naming its key.
    """
    try:
        raw = yaml.safe_load(project.path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{project.path} cannot be read: {exc}") from None
    email = raw.get("email") or {} if isinstance(raw, dict) else {}
    smtp = email.get("smtp") or {} if isinstance(email, dict) else {}
    url = email.get("report_url")
    if url is not None:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"email.report_url must be an http(s) URL, not {url!r}")
        url = str(url)
    attach = email.get("attach")
    if attach is not None:
        attach = str(attach).lower()
        if attach not in ATTACH:
            raise ConfigError(f"email.attach must be pdf, html or none, not {attach!r}")
    auth = smtp.get("auth")
    if auth is not None and str(auth).lower() not in ("password", "xoauth2"):
        raise ConfigError(f"email.smtp.auth must be password or xoauth2, not {auth!r}")
    command = smtp.get("token_command")
    stakeholders: dict[str, tuple[Stakeholder, ...]] = {}
    for i, site in enumerate(raw.get("sites") or [] if isinstance(raw, dict) else []):
        if isinstance(site, dict) and site.get("id") is not None:
            stakeholders[str(site["id"])] = _stakeholders(
                site.get("stakeholders"), f"sites[{i + 1}].stakeholders"
            )
    return DeliverySettings(
        report_url=url,
        attach=attach,
        auth=str(auth).lower() if auth is not None else None,
        token_command=str(command) if command else None,
        stakeholders=stakeholders,
    )
