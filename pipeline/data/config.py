"""Load and check a project's configuration file (``kaizen.yaml``).

A project is one YAML file plus the input tables it names. Example::

    project: Northwind Lean Programme
    output: reports                 # relative to this file; or {path: reports, pdf: true}
    lookback: 24 months             # report window before as_of: N days|weeks|months|years
    tables:                         # every table of PRODUCT.md "Inputs"
      metrics:      {path: data/metrics.csv}
      observations: {path: data/observations.parquet}
      defects:      {path: data/defects.csv, decimal: ","}   # numbers written 12,5
      events:       {sql: "SELECT * FROM events", url: "postgresql+psycopg2://kaizen@db/kaizen",
                     password_env: KAIZEN_DB_PASSWORD}
      goals:        {table: goals}  # a table in the default database below
    database: {url: "sqlite:///warehouse.db"}
    statistics: {rules: we, min_phase_points: 12, sustain_points: 8, alpha: 0.05}
    currency: EUR                   # ISO 4217 code of every saving shown (claimed and estimated)
    sites:
      - id: fab-dresden
        name: Dresden Wafer Fab
        timezone: Europe/Berlin     # naive timestamps in the data are this site's local time
        stakeholders:               # an address, or one with the metrics it reads
          - "Ana Lange <ana.lange@example.com>"
          - {address: jonas.becker@example.com, metrics: [fab_cycle_time]}
        overrides: {min_phase_points: 10}
    email:
      from: "Kaizen Reports <kaizen@example.com>"
      error_recipients: [analytics@example.com]
      max_attachment_mb: 10
      report_url: https://reports.example.com/kaizen   # adds "read the full report" links
      attach: pdf                   # pdf | html | none (default: the PDF when there is one)
      smtp: {host: smtp.example.com, port: 587, security: starttls, username: kaizen,
             auth: password}        # or xoauth2, with token_command: "get-token --smtp"

The file is parsed once into the pydantic models below (``*Spec``: what the file may say) and
then into the frozen :class:`Project` the pipeline uses (paths absolute, sources resolved). A
wrong type, a number out of range or an unknown key is a :class:`ConfigError` that names the key
and its place (``sites[2].stakeholders``), with a "did you mean" for near misses; a key given
twice in one mapping is refused (YAML would keep the last one silently). A number written
as text (``alpha: "0.1"``) is read as the number, since that is what a person meant; text that is
not a number, a fraction where a whole number is needed (``sustain_points: 2.7``) and ``yes``/
``no`` where a number is needed are refused.

Secrets never live in this file: SMTP and database passwords come from the environment only; a
key that looks like a secret (``password``, ``passwd``, ``api_key``, ``token``...) or a database
URL that carries a password (``user:pw@``, ``?password=``) is refused.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import typing
import zoneinfo
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.exceptions import ConfigError
from pipeline.files import site_id_problem

TABLES_REQUIRED = ("metrics", "observations", "events")
TABLES_OPTIONAL = ("goals", "suggestions", "headcount", "surveys", "defects", "annotations")
TABLES = TABLES_REQUIRED + TABLES_OPTIONAL

RULE_SETS = ("we", "nelson", "anhoej", "nhs", "all")
_LOOKBACK = re.compile(r"\s*(\d+)\s*(day|week|month|year)s?\s*", re.IGNORECASE)
#: Key names (lowercase, '-' as '_') that hold a secret; ``*_env`` keys name a variable instead.
_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credential")
_SECRET_KEYS = {"pass", "pwd", "private_key", "access_key"}
#: URL query parameters that carry a secret (libpq's ``?password=``, ODBC's ``PWD``...).
_SECRET_QUERY = {"password", "passwd", "pwd", "pass", "secret", "token", "access_token"}


# --------------------------------------------------------------------------- the resolved project


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSource:
    """Where one input table comes from: a file, a SQL table, or a SQL query."""

    name: str
    path: Path | None = None
    sql: str | None = None
    sql_table: str | None = None
    url: str | None = None
    password_env: str | None = None
    #: a file's decimal separator ("." or ","; :class:`SourceSpec`)
    decimal: str = "."

    @property
    def is_file(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        """Where the table comes from, in words, without secrets."""
        if self.path is not None:
            return str(self.path)
        target = self.sql_table or "query"
        return f"{target} at {redact_url(self.url or '')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticsSettings:
    """Parameters of the statistics; a site may override any of them."""

    rules: str = "we"
    min_phase_points: int = 12
    sustain_points: int = 8
    alpha: float = 0.05
    screen_mr: bool = False
    #: N of "N points in a row on one side" (Western Electric 4, NHS); None: 8 and 7
    run_length: int | None = None
    #: N of "N points in a row increasing or decreasing" (NHS, Nelson 3); None: 7 and 6
    trend_length: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """SMTP connection settings; the password is read from the environment at send time."""

    host: str | None = None
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    timeout: float = 30.0
    auth: str = "password"  # password | xoauth2 (the token only ever from the environment)
    token_command: str | None = None  # prints an OAuth 2 access token, as git's credential helpers


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailSettings:
    sender: str | None = None
    error_recipients: tuple[str, ...] = ()
    max_attachment_mb: float = 10.0
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    report_url: str | None = None  # where the reports are published: a "read the full report" link
    attach: str | None = None  # pdf | html | none; unset: the PDF when the run made one


@dataclass(frozen=True, slots=True, kw_only=True)
class Stakeholder:
    """One recipient of a site's email; ``metrics`` empty means all of them."""

    address: str
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """One configured site; ``timezone`` is an IANA zone name (checked), the local time of the
    site's naive timestamps."""

    id: str
    name: str
    timezone: str = "UTC"
    stakeholders: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    #: the stakeholders with their metrics (``stakeholders`` holds their addresses alone)
    recipients: tuple[Stakeholder, ...] = ()


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
    #: ISO 4217 code of the events' ``claimed_saving`` amounts; None when not configured.
    currency: str | None = None
    pdf: bool = False  # output.pdf: a report.pdf beside each report.html

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
                f"unknown site {'id' if len(unknown) == 1 else 'ids'} {', '.join(map(repr, unknown))}; "
                f"known sites: {', '.join(self.site_ids)}"
            )
        wanted = set(site_ids)
        return tuple(s for s in self.sites if s.id in wanted)

    def statistics_for(self, site_id: str) -> StatisticsSettings:
        """Project statistics settings with the site's overrides applied."""
        overrides = self.site(site_id).overrides
        known = {k: v for k, v in overrides.items() if k in StatisticsSettings.__slots__}
        return replace(self.statistics, **known)

    def timezones(self) -> dict[str, str]:
        """Each site's time zone name, by site id."""
        return {s.id: s.timezone for s in self.sites}

    def lookback_start(self, as_of: Any) -> Any:
        """First date of the report window ending at ``as_of`` (a pandas Timestamp)."""
        unit = {"day": "days", "week": "weeks", "month": "months", "year": "years"}[
            self.lookback_unit
        ]
        return pd.Timestamp(as_of) - pd.DateOffset(**{unit: self.lookback_amount})


# --------------------------------------------------------------------------- what the file may say


def _not_bool(value: Any) -> Any:
    # YAML reads yes/no/true as booleans, which pydantic would quietly take for 1 and 0
    if isinstance(value, bool):
        raise ValueError("bool")
    return value


def _as_list(value: Any) -> Any:
    # one address may be written without brackets
    return [value] if isinstance(value, str) else ([] if value is None else value)


Whole = Annotated[int, BeforeValidator(_not_bool)]
Number = Annotated[float, BeforeValidator(_not_bool)]
Text = Annotated[str, Field(min_length=1)]
TextList = Annotated[list[Text], BeforeValidator(_as_list)]


class _Spec(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,  # a site named 2024 is a name, not an error
        allow_inf_nan=False,
        populate_by_name=True,
    )


def _none_is_empty(value: Any) -> Any:
    # `email:` with nothing under it means "the defaults", as YAML writes it null
    return {} if value is None else value


class StatisticsSpec(_Spec):
    """``statistics:`` (and a site's ``overrides:``, where every setting is optional)."""

    rules: Literal["we", "nelson", "anhoej", "nhs", "all"] = "we"
    min_phase_points: Whole = Field(default=12, ge=2)
    sustain_points: Whole = Field(default=8, ge=1)
    alpha: Number = Field(default=0.05, gt=0, le=0.5)
    screen_mr: bool = False
    run_length: Whole | None = Field(default=None, ge=2)
    trend_length: Whole | None = Field(default=None, ge=2)


class OverridesSpec(_Spec):
    rules: Literal["we", "nelson", "anhoej", "nhs", "all"] | None = None
    min_phase_points: Whole | None = Field(default=None, ge=2)
    sustain_points: Whole | None = Field(default=None, ge=1)
    alpha: Number | None = Field(default=None, gt=0, le=0.5)
    screen_mr: bool | None = None
    run_length: Whole | None = Field(default=None, ge=2)
    trend_length: Whole | None = Field(default=None, ge=2)


class SmtpSpec(_Spec):
    host: Text | None = None
    port: Whole | None = Field(default=None, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: Text | None = None
    timeout: Number = Field(default=30.0, gt=0)
    auth: Literal["password", "xoauth2"] = "password"
    token_command: Text | None = None

    @field_validator("security", "auth", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class EmailSpec(_Spec):
    sender: Text | None = Field(default=None, alias="from")
    error_recipients: TextList = []
    max_attachment_mb: Number = Field(default=10.0, gt=0)
    smtp: SmtpSpec = Field(default_factory=SmtpSpec)
    report_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")] | None = None
    attach: Literal["pdf", "html", "none"] | None = None

    _empty = field_validator("smtp", mode="before")(_none_is_empty)


class StakeholderSpec(_Spec):
    """``{address: ..., metrics: [...]}``: a stakeholder who reads only some metrics."""

    address: Text
    metrics: TextList = []


class OutputSpec(_Spec):
    """``output: {path: reports, pdf: true}`` (``output: reports`` is the path alone)."""

    path: Text = "reports"
    pdf: bool = False


class SourceSpec(_Spec):
    """One table's source: exactly one of ``path``, ``sql`` or ``table``."""

    path: Text | None = None
    sql: Text | None = None
    table: Text | None = None
    url: Text | None = None
    password_env: Text | None = None
    #: the decimal separator of a file's numbers: "," for a spreadsheet saved in a locale that
    #: writes 12,5 (its thousands, if any, grouped with points: 1.234,5)
    decimal: Literal[".", ","] = "."

    @model_validator(mode="before")
    @classmethod
    def _path_alone(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        kinds = [k for k in ("path", "sql", "table") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("needs exactly one of path, sql or table")
        if self.decimal != "." and not self.path:
            raise ValueError("decimal applies to a file (path): a database gives numbers as such")
        return self


class TablesSpec(_Spec):
    metrics: SourceSpec
    observations: SourceSpec
    events: SourceSpec
    goals: SourceSpec | None = None
    suggestions: SourceSpec | None = None
    headcount: SourceSpec | None = None
    surveys: SourceSpec | None = None
    defects: SourceSpec | None = None
    annotations: SourceSpec | None = None


class DatabaseSpec(_Spec):
    url: Text | None = None
    password_env: Text | None = None


class SiteSpec(_Spec):
    id: Text
    name: Text | None = None
    timezone: Text = "UTC"
    stakeholders: Annotated[list[Text | StakeholderSpec], BeforeValidator(_as_list)] = []
    overrides: OverridesSpec = Field(default_factory=OverridesSpec)

    _empty = field_validator("overrides", mode="before")(_none_is_empty)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        problem = site_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        check_timezone(value)
        return value


class ProjectSpec(_Spec):
    """The whole of ``kaizen.yaml``."""

    project: Text | None = None
    output: Text | OutputSpec = "reports"
    lookback: Text = "24 months"
    tables: TablesSpec
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    statistics: StatisticsSpec = Field(default_factory=StatisticsSpec)
    sites: Annotated[list[SiteSpec], Field(min_length=1)]
    email: EmailSpec = Field(default_factory=EmailSpec)
    currency: Text | None = None

    _empty = field_validator("database", "statistics", "email", mode="before")(_none_is_empty)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"{value!r} is not an ISO 4217 code of three capital letters (EUR)")
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str) -> str:
        m = _LOOKBACK.fullmatch(value)
        if not m:
            raise ValueError(f"{value!r} is not of the form 'N days|weeks|months|years'")
        if int(m.group(1)) < 1:
            raise ValueError(f"{value!r} is an empty report window; give at least 1")
        return value

    @field_validator("sites")
    @classmethod
    def _unique(cls, sites: list[SiteSpec]) -> list[SiteSpec]:
        seen: set[str] = set()
        for s in sites:
            if s.id in seen:
                raise ValueError(f"site id {s.id!r} is configured twice")
            seen.add(s.id)
        return sites


# --------------------------------------------------------------------------- loading


def load_project(path: str | Path) -> Project:
    """Read ``kaizen.yaml`` and return a checked :class:`Project`.

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or any setting is invalid; the message names the
        key and its place in the file.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"project file {path} does not exist")
    try:
        raw = _load_yaml(path.read_text(encoding="utf-8"), path.name)
    except _DuplicateKey as exc:
        raise ConfigError(f"{path.name}: {exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name} must be a mapping of settings")
    return parse_project(raw, path)


def _load_yaml(text: str, name: str) -> Any:
    """The document in ``text``, read by the safe loader below; YAML's own messages name the
    file as ``name`` rather than ``<unicode string>``."""
    loader = _UniqueKeyLoader(text)
    loader.name = name  # the reader stamps this name on every mark of a parse error
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _DuplicateKey(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: YAML would keep the last
    one silently, so a second ``statistics:`` further down would undo the first."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _DuplicateKey(
                    f"line {key_node.start_mark.line + 1}: the key {key!r} is given twice "
                    "in the same mapping"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_project(raw: dict[str, Any], path: Path) -> Project:
    """A :class:`Project` from the settings of the file at ``path`` (already read as YAML)."""
    _reject_secrets(raw, (), path.name)
    try:
        spec = ProjectSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe_errors(exc, raw, path.name)) from None
    return _resolve(spec, path)


def _resolve(spec: ProjectSpec, path: Path) -> Project:
    root = path.parent
    m = _LOOKBACK.fullmatch(spec.lookback)
    assert m is not None  # checked by ProjectSpec
    tables: dict[str, TableSource] = {}
    for name in TABLES:
        source = getattr(spec.tables, name)
        if source is None:
            continue
        if source.path is not None:
            p = Path(source.path).expanduser()
            tables[name] = TableSource(
                name=name, path=p if p.is_absolute() else root / p, decimal=source.decimal
            )
            continue
        url = source.url or spec.database.url
        if not url:
            raise ConfigError(
                f"{path.name}: tables.{name}: reads SQL but neither it nor database gives a url"
            )
        tables[name] = TableSource(
            name=name,
            sql=source.sql,
            sql_table=source.table,
            url=url,
            password_env=source.password_env or spec.database.password_env,
        )
    stats = spec.statistics
    smtp = spec.email.smtp
    return Project(
        path=path,
        name=spec.project or path.parent.name,
        output=root / (spec.output if isinstance(spec.output, str) else spec.output.path),
        pdf=not isinstance(spec.output, str) and spec.output.pdf,
        lookback_amount=int(m.group(1)),
        lookback_unit=m.group(2).lower(),
        tables=tables,
        sites=tuple(
            Site(
                id=s.id,
                name=s.name or s.id,
                timezone=s.timezone,
                stakeholders=tuple(r if isinstance(r, str) else r.address for r in s.stakeholders),
                recipients=tuple(
                    Stakeholder(address=r)
                    if isinstance(r, str)
                    else Stakeholder(address=r.address, metrics=tuple(r.metrics))
                    for r in s.stakeholders
                ),
                overrides=s.overrides.model_dump(exclude_none=True),
            )
            for s in spec.sites
        ),
        statistics=StatisticsSettings(**stats.model_dump()),
        email=EmailSettings(
            sender=spec.email.sender,
            error_recipients=tuple(spec.email.error_recipients),
            max_attachment_mb=spec.email.max_attachment_mb,
            smtp=SmtpSettings(**smtp.model_dump()),
            report_url=spec.email.report_url,
            attach=spec.email.attach,
        ),
        currency=spec.currency,
    )


# --------------------------------------------------------------------------- messages


def _place(loc: tuple[Any, ...], raw: Any) -> str:
    """``('sites', 1, 'stakeholder')`` as ``sites[2].stakeholder (site 'south')``: list items
    counted from 1 as a person counts them, with the site's id when it has one."""
    text, node, site = "", raw, ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part + 1}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if (
                text.startswith("sites[")
                and isinstance(node, dict)
                and "id" in node
                and loc[-1] != "id"
            ):
                site = f" (site {str(node['id'])!r})"
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text + site


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The spec model that holds the key at ``loc`` (for "did you mean")."""
    model: type[BaseModel] = ProjectSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        found = _find_model(info.annotation)
        if found is None:
            return None
        model = found
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _describe_errors(exc: ValidationError, raw: dict[str, Any], filename: str) -> str:
    """Every problem pydantic found, one clause each, naming the key and its place."""
    clauses: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        where = f"{_place(loc, raw)}: " if loc else ""
        text = f"{filename}: {where}{_problem(err, loc)}"
        if text not in clauses:
            clauses.append(text)
    return "; ".join(clauses)


def _problem(err: Any, loc: tuple[Any, ...]) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    shown = repr(value)
    if kind == "extra_forbidden":
        model = _model_at(loc)
        known = _keys_of(model) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        if close:
            return f"unknown setting; did you mean {close[0]!r}?"
        return "unknown setting; known settings here: " + ", ".join(known)
    if kind == "missing":
        return "is required"
    if kind in ("int_parsing", "int_type"):
        return f"{shown} is not a whole number"
    if kind == "int_from_float":
        return f"{shown} is not a whole number"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"{shown} is not a number"
    if kind in ("bool_parsing", "bool_type"):
        return f"{shown} is not true or false"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{shown} is out of range; {_range_of(loc)}"
    if kind == "literal_error":
        return f"{shown} is not one of {ctx.get('expected', '')}"
    if kind in ("string_type", "string_too_short"):
        return f"{shown} is not a text value" if kind == "string_type" else "must not be empty"
    if kind in ("list_type",):
        return f"{shown} is not a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{shown} is not a mapping of settings"
    if kind == "too_short":
        return "must list at least one"
    if kind == "value_error":
        message = str(ctx.get("error", err.get("msg", "")))
        if message == "bool":
            return "a yes/no value is not a number"
        return message
    return str(err.get("msg", "is not valid"))


def _range_of(loc: tuple[Any, ...]) -> str:
    """The allowed range of the setting at ``loc``, in words, from its pydantic metadata."""
    model = _model_at(loc)
    info = model.model_fields.get(str(loc[-1])) if model else None
    if info is None:
        return "see the documentation"
    bounds = []
    for meta in info.metadata:
        for attr, word in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{word} {getattr(meta, attr)}")
    return f"{loc[-1]} must be {' and '.join(bounds)}" if bounds else "see the documentation"


# --------------------------------------------------------------------------- secrets and URLs


def _looks_secret(key: str) -> bool:
    k = key.strip().lower().replace("-", "_")
    if k.endswith(("_env", "_command")):  # names a variable or a command, holds no secret
        return False
    return k in _SECRET_KEYS or any(word in k for word in _SECRET_WORDS)


def _reject_secrets(raw: Any, loc: tuple[Any, ...], filename: str, root: Any = None) -> None:
    """Passwords belong in the environment; refuse a configuration file that holds one."""
    root = raw if root is None else root
    if isinstance(raw, dict):
        for key, value in raw.items():
            here = (*loc, str(key))
            if _looks_secret(str(key)):
                env = {
                    "email": "KAIZEN_SMTP_PASSWORD",
                    "tables": "the variable that password_env names",
                    "database": "the variable that password_env names",
                }.get(
                    here[0],
                    "KAIZEN_SMTP_PASSWORD for email, the variable that password_env names for a "
                    "database",
                )
                raise ConfigError(
                    f"{filename}: {_place(here, root)}: secrets are not read from the project "
                    f"file; set them in the environment ({env})"
                )
            if str(key).lower() == "url" and isinstance(value, str) and url_has_secret(value):
                raise ConfigError(
                    f"{filename}: {_place(here, root)}: the database URL {redact_url(value)} "
                    "holds a password; put it in an environment variable and name that "
                    "variable with password_env"
                )
            _reject_secrets(value, here, filename, root)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            _reject_secrets(value, (*loc, i), filename, root)


def url_has_secret(url: str) -> bool:
    """True when the SQLAlchemy URL carries a password, in its user part (any characters, an
    empty user too) or as a query parameter (``?password=``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # not a URL SQLAlchemy understands; if it has user:...@ it may still hold a password
        return bool(re.search(r"://[^@]*:[^@]*@", url))
    if parsed.password is not None:
        return True
    return any(k.lower() in _SECRET_QUERY for k in parsed.query)


def redact_url(url: str) -> str:
    """``url`` fit to print: SQLAlchemy's rendering with the password hidden, and secret query
    parameters masked; a string that is not a URL is not shown at all."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(a database URL that SQLAlchemy cannot parse)"
    text = parsed.set(query={}).render_as_string(hide_password=True)
    pairs = [
        f"{k}={'***' if k.lower() in _SECRET_QUERY else v}"
        for k, values in parsed.query.items()
        for v in ((values,) if isinstance(values, str) else values)
    ]
    return text + ("?" + "&".join(pairs) if pairs else "")


# --------------------------------------------------------------------------- time zones and dates


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def check_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name``; ValueError (with a "did you mean") when there is none."""
    try:
        if name.strip() != name or not name:
            raise ValueError(name)
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, _zone_names(), n=1, cutoff=0.6)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else " (use an IANA name such as Europe/Berlin)"
        )
        raise ValueError(f"{name!r} is not a known time zone{hint}") from None


def today() -> dt.date:
    """Today's date on this machine's clock: the default ``as_of``, and the newest ``run`` accepts
    (:func:`check_as_of`) and ``OUT/latest`` may point at."""
    return dt.date.today()


#: An ISO date at the start of a text, then nothing, or an ISO time ("T" or a space, then hh:mm).
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}\S*)?$")


def parse_as_of(value: str | dt.date | None) -> pd.Timestamp:
    """``as_of`` as a normalised Timestamp (today when None).

    Text must be an ISO date (``2026-03-04``, optionally with an ISO time after it): pandas alone
    would read ``03/04/2026`` month first (4 March, where most of Europe means 3 April) and take
    words such as ``now``, so a report could be dated by a guess.
    """
    if value is None or value == "":
        return pd.Timestamp(today())
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ConfigError(f"--as-of {value!r} is not a date (use YYYY-MM-DD)")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        why = "no such day in the calendar" if isinstance(value, str) else "use YYYY-MM-DD"
        raise ConfigError(f"--as-of {value!r} is not a date ({why})") from None
    if pd.isna(ts):
        raise ConfigError(f"--as-of {value!r} is not a date (use YYYY-MM-DD)")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def check_as_of(stamp: pd.Timestamp, *, allow_future: bool = False) -> pd.Timestamp:
    """``stamp`` unless it is after :func:`today` and ``allow_future`` is false.

    A future report date is nearly always a typo (2028 for 2026); such a run would say "as of" a
    day nobody has seen yet and, being the newest folder, would become ``OUT/latest``.

    Raises
    ------
    ConfigError
        ``--as-of 2028-06-01 is after today (2026-12-03)``, with what to do.
    """
    now = today()
    if not allow_future and stamp.date() > now:
        raise ConfigError(
            f"--as-of {stamp.date().isoformat()} is after today ({now.isoformat()})",
            hint="Check the date, or pass --allow-future-as-of if a future report date is meant",
        )
    return stamp
