"""Load and check a project's configuration file (``kaizen.yaml``).

A project is one YAML file plus the input tables it names. Example::

    project: Northwind Lean Programme
    output: reports                 # relative to this file
    lookback: 24 months             # report window before as_of: N days|weeks|months|years
    tables:                         # every table of PRODUCT.md "Inputs"
      metrics:      {path: data/metrics.csv}
      observations: {path: data/observations.parquet}
      events:       {sql: "SELECT * FROM events", url: "postgresql+psycopg2://kaizen@db/kaizen",
                     password_env: KAIZEN_DB_PASSWORD}
      goals:        {table: goals}  # a table in the default database below
    database: {url: "sqlite:///warehouse.db"}
    statistics: {rules: we, min_phase_points: 12, sustain_points: 8, alpha: 0.05}
    sites:
      - id: fab-dresden
        name: Dresden Wafer Fab
        timezone: Europe/Berlin
        stakeholders: ["Ana Lange <ana.lange@example.com>"]
        overrides: {min_phase_points: 10}
    email:
      from: "Kaizen Reports <kaizen@example.com>"
      error_recipients: [analytics@example.com]
      max_attachment_mb: 10
      smtp: {host: smtp.example.com, port: 587, security: starttls, username: kaizen}

Secrets never live in this file: SMTP and database passwords come from the environment only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipeline.exceptions import ConfigError

TABLES_REQUIRED = ("metrics", "observations", "events")
TABLES_OPTIONAL = ("goals", "suggestions", "headcount", "surveys")
TABLES = TABLES_REQUIRED + TABLES_OPTIONAL

SITE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
RULE_SETS = ("we", "nelson", "anhoej", "nhs", "all")
_LOOKBACK = re.compile(r"^\s*(\d+)\s*(day|week|month|year)s?\s*$", re.IGNORECASE)
_SECRET_KEYS = {"password", "pass", "secret", "token"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSource:
    """Where one input table comes from: a file, a SQL table, or a SQL query."""

    name: str
    path: Path | None = None
    sql: str | None = None
    sql_table: str | None = None
    url: str | None = None
    password_env: str | None = None

    @property
    def is_file(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        """Where the table comes from, in words, without secrets."""
        if self.path is not None:
            return str(self.path)
        target = self.sql_table or "query"
        return f"{target} at {_redact_url(self.url or '')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticsSettings:
    """Parameters of the statistics; a site may override any of them."""

    rules: str = "we"
    min_phase_points: int = 12
    sustain_points: int = 8
    alpha: float = 0.05
    screen_mr: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """SMTP connection settings; the password is read from the environment at send time."""

    host: str | None = None
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailSettings:
    sender: str | None = None
    error_recipients: tuple[str, ...] = ()
    max_attachment_mb: float = 10.0
    smtp: SmtpSettings = field(default_factory=SmtpSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """One configured site."""

    id: str
    name: str
    timezone: str = "UTC"
    stakeholders: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """A loaded ``kaizen.yaml``: paths are absolute, values checked."""

    path: Path
    name: str
    output: Path
    lookback_amount: int
    lookback_unit: str
    tables: dict[str, TableSource]
    sites: tuple[Site, ...]
    statistics: StatisticsSettings
    email: EmailSettings

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def site_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sites)

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise ConfigError(
            f"unknown site id {site_id!r}; known sites: {', '.join(self.site_ids)}",
        )

    def select_sites(self, site_ids: tuple[str, ...] | list[str] | None) -> tuple[Site, ...]:
        """The sites to run, in configuration order; unknown ids are rejected up front."""
        if not site_ids:
            return self.sites
        unknown = [s for s in site_ids if s not in self.site_ids]
        if unknown:
            raise ConfigError(
                f"unknown site id(s) {', '.join(map(repr, unknown))}; "
                f"known sites: {', '.join(self.site_ids)}"
            )
        wanted = set(site_ids)
        return tuple(s for s in self.sites if s.id in wanted)

    def statistics_for(self, site_id: str) -> StatisticsSettings:
        """Project statistics settings with the site's overrides applied."""
        overrides = self.site(site_id).overrides
        known = {k: v for k, v in overrides.items() if k in StatisticsSettings.__slots__}
        return replace(self.statistics, **known)

    def lookback_start(self, as_of: Any) -> Any:
        """First date of the report window ending at ``as_of`` (a pandas Timestamp)."""
        import pandas as pd

        unit = {"day": "days", "week": "weeks", "month": "months", "year": "years"}[
            self.lookback_unit
        ]
        return pd.Timestamp(as_of) - pd.DateOffset(**{unit: self.lookback_amount})


def load_project(path: str | Path) -> Project:
    """Read ``kaizen.yaml`` and return a checked :class:`Project`.

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or any setting is invalid; the message names the key.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"project file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name} must be a mapping of settings")
    return _parse(raw, path)


def _parse(raw: dict[str, Any], path: Path) -> Project:
    root = path.parent
    _reject_secrets(raw, "")
    name = str(raw.get("project") or path.parent.name)
    output = root / str(raw.get("output", "reports"))

    amount, unit = 24, "month"
    if "lookback" in raw:
        m = _LOOKBACK.match(str(raw["lookback"]))
        if not m:
            raise ConfigError(
                f"lookback {raw['lookback']!r} is not of the form 'N days|weeks|months|years'"
            )
        amount, unit = int(m.group(1)), m.group(2).lower()

    database = raw.get("database") or {}
    if not isinstance(database, dict):
        raise ConfigError("database must be a mapping with a url")
    tables_raw = raw.get("tables")
    if not isinstance(tables_raw, dict):
        raise ConfigError("tables must map each input table to its source (path, sql or table)")
    tables: dict[str, TableSource] = {}
    for tname, spec in tables_raw.items():
        if tname not in TABLES:
            raise ConfigError(
                f"unknown table {tname!r} in tables; known tables: {', '.join(TABLES)}"
            )
        tables[tname] = _parse_source(tname, spec, root, database)
    missing = [t for t in TABLES_REQUIRED if t not in tables]
    if missing:
        raise ConfigError(f"tables is missing the required table(s) {', '.join(missing)}")

    stats = _parse_statistics(raw.get("statistics") or {}, "statistics")
    sites = _parse_sites(raw.get("sites"))
    email = _parse_email(raw.get("email") or {})
    return Project(
        path=path,
        name=name,
        output=output,
        lookback_amount=amount,
        lookback_unit=unit,
        tables=tables,
        sites=sites,
        statistics=stats,
        email=email,
    )


def _parse_source(name: str, spec: Any, root: Path, database: dict[str, Any]) -> TableSource:
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"tables.{name} must be a mapping with path, sql or table")
    kinds = [k for k in ("path", "sql", "table") if spec.get(k)]
    if len(kinds) != 1:
        raise ConfigError(f"tables.{name} needs exactly one of path, sql or table")
    if "path" in kinds:
        p = Path(str(spec["path"])).expanduser()
        return TableSource(name=name, path=p if p.is_absolute() else root / p)
    url = spec.get("url") or database.get("url")
    if not url:
        raise ConfigError(f"tables.{name} reads SQL but neither it nor database gives a url")
    return TableSource(
        name=name,
        sql=spec.get("sql"),
        sql_table=spec.get("table"),
        url=str(url),
        password_env=spec.get("password_env") or database.get("password_env"),
    )


def _parse_statistics(raw: Any, where: str) -> StatisticsSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    unknown = set(raw) - set(StatisticsSettings.__slots__)
    if unknown:
        raise ConfigError(f"{where} has unknown setting(s) {', '.join(sorted(unknown))}")
    s = StatisticsSettings(**raw)
    if s.rules not in RULE_SETS:
        raise ConfigError(f"{where}.rules must be one of {', '.join(RULE_SETS)}, not {s.rules!r}")
    if int(s.min_phase_points) < 2 or int(s.sustain_points) < 1:
        raise ConfigError(f"{where}: min_phase_points must be >= 2 and sustain_points >= 1")
    if not 0 < float(s.alpha) < 1:
        raise ConfigError(f"{where}.alpha must be between 0 and 1")
    return s


def _parse_sites(raw: Any) -> tuple[Site, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("sites must be a non-empty list of sites with id and name")
    sites: list[Site] = []
    seen: set[str] = set()
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or "id" not in item:
            raise ConfigError(f"sites[{i}] must be a mapping with at least an id")
        sid = str(item["id"])
        if not SITE_ID_PATTERN.match(sid):
            raise ConfigError(
                f"site id {sid!r} is not a safe slug (lowercase letters, digits, '-' and '_', "
                "starting with a letter or digit)"
            )
        if sid in seen:
            raise ConfigError(f"site id {sid!r} is configured twice")
        seen.add(sid)
        stakeholders = item.get("stakeholders") or []
        if isinstance(stakeholders, str):
            stakeholders = [stakeholders]
        overrides = item.get("overrides") or {}
        _parse_statistics(overrides, f"sites[{sid}].overrides")
        sites.append(
            Site(
                id=sid,
                name=str(item.get("name") or sid),
                timezone=str(item.get("timezone") or "UTC"),
                stakeholders=tuple(str(s) for s in stakeholders),
                overrides=dict(overrides),
            )
        )
    return tuple(sites)


def _parse_email(raw: Any) -> EmailSettings:
    if not isinstance(raw, dict):
        raise ConfigError("email must be a mapping")
    smtp_raw = raw.get("smtp") or {}
    if not isinstance(smtp_raw, dict):
        raise ConfigError("email.smtp must be a mapping")
    security = str(smtp_raw.get("security", "starttls")).lower()
    if security not in ("none", "starttls", "ssl"):
        raise ConfigError("email.smtp.security must be none, starttls or ssl")
    port = smtp_raw.get("port")
    smtp = SmtpSettings(
        host=smtp_raw.get("host"),
        port=int(port) if port is not None else None,
        security=security,
        username=smtp_raw.get("username"),
        timeout=float(smtp_raw.get("timeout", 30.0)),
    )
    recipients = raw.get("error_recipients") or []
    if isinstance(recipients, str):
        recipients = [recipients]
    return EmailSettings(
        sender=raw.get("from"),
        error_recipients=tuple(str(r) for r in recipients),
        max_attachment_mb=float(raw.get("max_attachment_mb", 10.0)),
        smtp=smtp,
    )


def _reject_secrets(raw: Any, where: str) -> None:
    """Passwords belong in the environment; refuse a configuration file that holds one."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            here = f"{where}.{key}" if where else str(key)
            if str(key).lower() in _SECRET_KEYS:
                raise ConfigError(
                    f"{here}: secrets are not read from the project file; "
                    "set them in the environment (e.g. KAIZEN_SMTP_PASSWORD)"
                )
            if str(key).lower() == "url" and isinstance(value, str) and _url_has_password(value):
                raise ConfigError(
                    f"{here}: the database URL holds a password; name an environment "
                    "variable with password_env instead"
                )
            _reject_secrets(value, here)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            _reject_secrets(value, f"{where}[{i}]")


def _url_has_password(url: str) -> bool:
    return bool(re.match(r"^[^:/]+://[^/@:]+:[^/@]+@", url))


def _redact_url(url: str) -> str:
    return re.sub(r"://([^/@:]+):[^/@]+@", r"://\1:***@", url)


def parse_as_of(value: str | dt.date | None) -> pd.Timestamp:
    """``as_of`` as a normalised Timestamp (today when None)."""
    if value is None or value == "":
        return pd.Timestamp(dt.date.today())
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"--as-of {value!r} is not a date (use YYYY-MM-DD)") from None
    if pd.isna(ts):
        raise ConfigError(f"--as-of {value!r} is not a date (use YYYY-MM-DD)")
    return ts.normalize()
