"""The JSON files the pipeline writes for other programs, checked against the JSON Schemas shipped
in the package (draft 2020-12): one version rule and one error message for results.json and
manifest.json alike."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.exceptions import InputError

__all__ = ["check_document", "read_document", "read_document_bytes", "schema", "where"]


@cache
def schema(file: Path) -> dict[str, Any]:
    """The JSON Schema in ``file`` (read once per process)."""
    data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return data


@cache
def _validator(file: Path) -> Any:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema(file))
    return Draft202012Validator(schema(file), format_checker=Draft202012Validator.FORMAT_CHECKER)


def where(path: Any) -> str:
    """A JSON path for people: ``metrics[2].events[0].outcome``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def check_document(
    data: Any,
    schema_file: Path,
    *,
    version: str,
    source: str,
    site_id: str | None = None,
    hint: str = "",
) -> None:
    """Check ``data`` against its schema and the reader's major ``version`` (a reader accepts
    every file of its major version: minor versions only add keys).

    Raises
    ------
    InputError
        naming the file, the first offending field and why.
    """
    if not isinstance(data, dict):
        raise InputError(f"{source} is not a JSON object", site_id=site_id)
    found = str(data.get("schema_version", ""))
    if found.split(".")[0] != version.split(".")[0]:
        raise InputError(
            f"{source} has schema_version {data.get('schema_version')!r}; this version of Kaizen "
            f"Reports reads {version.split('.')[0]}.x",
            site_id=site_id or data.get("site_id"),
            hint=hint,
        )
    errors = list(_validator(schema_file).iter_errors(data))
    if errors:
        from jsonschema.exceptions import best_match

        from pipeline.formatting import count_of  # pandas: imported only for the message

        first = best_match(errors)
        message = first.message if len(first.message) <= 200 else first.message[:199] + "…"
        more = f" (and {count_of(len(errors) - 1, 'more problem')})" if len(errors) > 1 else ""
        raise InputError(
            f"{source} does not match its schema at {where(first.absolute_path)}: {message}{more}",
            site_id=site_id or data.get("site_id"),
        )


def read_document(path: str | Path, name: str) -> tuple[Path, Any]:
    """The file (``path`` itself, or the file ``name`` in the folder ``path``) and its parsed
    JSON; an :class:`InputError` when it is missing or no JSON."""
    file, _raw, data = read_document_bytes(path, name)
    return file, data


def read_document_bytes(path: str | Path, name: str) -> tuple[Path, bytes, Any]:
    """:func:`read_document`, with the bytes the JSON was parsed from."""
    file = Path(path)
    if file.is_dir():
        file = file / name
    try:
        raw = file.read_bytes()
        return file, raw, json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{file} is missing") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{file} cannot be read: {exc}") from None
