"""Write the JSON Schemas of portfolio.json and manifest.json from the dataclasses that produce them.

Usage: ``python -m tools.schemas`` (rewrites the two ``*.schema.json`` files in the package);
``python -m tools.schemas --check`` exits 1 when a committed schema differs from what this
generates. ``tests/test_packaging.py`` runs the check, so a field added to ``Portfolio`` or
``Manifest`` without a new schema fails the suite.

Each dataclass becomes one ``$defs`` entry (its docstring is the description; every field is
required and no other is allowed), from its type hints: ``str``, ``int``, ``float``, ``bool``,
``X | None``, ``tuple[X, ...]``, ``dict[str, X]``, a :class:`enum.StrEnum` (its values) or
another dataclass (a ``$ref``). What the types cannot say (a pattern, a range, the values of a
``str`` field, a key added by ``to_dict``) is in :data:`REFINE` beside the class it refines.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.report import manifest, portfolio
from pipeline.report.portfolio import model
from pipeline.stats.pooling import PooledEffect

DRAFT = "https://json-schema.org/draft/2020-12/schema"
NULL = {"type": "null"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, NULL]}


#: What type hints cannot say, per class: field name -> its schema (replacing the derived one).
REFINE: dict[type, dict[str, dict[str, Any]]] = {
    model.Portfolio: {
        "currency": _nullable({"type": "string", "pattern": "^[A-Z]{3}$"}),
        "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    },
    model.Saving: {"status": {"type": "string", "enum": list(model.SAVING_ORDER)}},
    model.HistoryRow: {
        "kind": {"type": "string", "enum": ["variation", "assurance", "verdict", "goal"]},
        "change": {"type": "string", "enum": ["", "new", "changed"]},
    },
    manifest.Manifest: {
        "as_of": {"type": "string", "format": "date"},
        "seconds": {"type": "number", "minimum": 0},
        "validation_seconds": {"type": "number", "minimum": 0},
    },
    manifest.SiteOutcome: {
        "site_id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "seconds": {"type": "number", "minimum": 0},
        "attempts": {"type": "integer", "minimum": 0},
    },
}

#: Classes whose fields with a default may be left out: manifest.json is read back from run folders
#: written by earlier versions (the history, ``send``), which lacked some of today's keys.
DEFAULTS_OPTIONAL: set[type] = {manifest.Manifest, manifest.SiteOutcome}

#: Keys ``to_dict`` adds beyond the fields (name, its schema), per class.
EXTRA: dict[type, list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]]] = {
    model.History: [("changes", lambda defs: _array(_ref(model.HistoryRow, defs)))],
}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _ref(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    if cls.__name__ not in defs:
        defs[cls.__name__] = {}  # placeholder first: a class may refer to itself
        defs[cls.__name__] = _object(cls, defs)
    return {"$ref": f"#/$defs/{cls.__name__}"}


def _of(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of one type hint."""
    if hint is PooledEffect:
        return _ref_fixed("PooledEffect", POOLED_EFFECT, defs)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return _nullable(_of(rest[0], defs))
        raise TypeError(f"unsupported union {hint}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _array(_of(args[0], defs))
        raise TypeError(f"only tuple[X, ...] is supported, not {hint}")
    if origin is dict:
        return {"type": "object", "additionalProperties": _of(args[1], defs)}
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        return {"type": "string", "enum": [m.value for m in hint]}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _ref(hint, defs)
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    if hint is Any:
        return {}
    raise TypeError(f"unsupported type {hint}")


def _ref_fixed(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    defs.setdefault(name, schema)
    return {"$ref": f"#/$defs/{name}"}


def _properties(cls: type, defs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    refine = REFINE.get(cls, {})
    props = {
        f.name: refine.get(f.name) or _of(hints[f.name], defs)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    }
    for name, schema in EXTRA.get(cls, []):
        props[name] = schema(defs)
    return props


def _required(cls: type, props: dict[str, Any]) -> list[str]:
    if cls not in DEFAULTS_OPTIONAL:
        return list(props)
    optional = {
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    return [p for p in props if p not in optional]


def _object(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    props = _properties(cls, defs)
    return {
        "type": "object",
        "description": " ".join((cls.__doc__ or "").split()),
        "properties": props,
        "required": _required(cls, props),
        "additionalProperties": False,
    }


def document_schema(
    cls: type, *, schema_id: str, title: str, description: str, version: str
) -> dict[str, Any]:
    """The schema of a whole document: ``schema_version`` (a constant) then ``cls``'s fields."""
    defs: dict[str, Any] = {}
    props = {"schema_version": {"const": version}, **_properties(cls, defs)}
    return {
        "$schema": DRAFT,
        "$id": schema_id,
        "title": title,
        "description": description,
        "type": "object",
        "properties": props,
        "required": _required(cls, props),
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


#: ``PooledEffect.to_dict`` (the stats layer's shape, with the derived factor and n_sites).
POOLED_EFFECT: dict[str, Any] = {
    "type": "object",
    "description": "A random-effects pooled effect (improvement-positive log ratio of levels).",
    "properties": {
        "estimate": {"type": "number"},
        "se": {"type": "number"},
        "ci_low": {"type": "number"},
        "ci_high": {"type": "number"},
        "factor": {"type": "number"},
        "factor_ci_low": {"type": "number"},
        "factor_ci_high": {"type": "number"},
        "alpha": {"type": "number"},
        "tau2": {"type": "number"},
        "i2": {"type": "number", "minimum": 0, "maximum": 1},
        "q": {"type": "number"},
        "q_pvalue": {"type": "number"},
        "k": {"type": "integer", "minimum": 2},
        "n_sites": {"type": "integer", "minimum": 2},
        "method": {"type": "string"},
        "studies": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "site_id": {"type": "string"},
                    "effect": {"type": "number"},
                    "variance": {"type": "number", "exclusiveMinimum": 0},
                    "weight": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "required": ["label", "site_id", "effect", "variance", "weight"],
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
    "required": [
        "estimate", "se", "ci_low", "ci_high", "factor", "factor_ci_low", "factor_ci_high",
        "alpha", "tau2", "i2", "q", "q_pvalue", "k", "n_sites", "method", "studies",
    ],
}  # fmt: skip


def schemas() -> dict[Path, str]:
    """Each schema file's path and the text this generator writes into it."""
    docs = {
        model.SCHEMA_FILE: document_schema(
            model.Portfolio,
            schema_id="kaizen-reports/portfolio.schema.json",
            title="Kaizen Reports portfolio.json",
            description=(
                "Everything the portfolio page shows: run status kept apart from performance, "
                "the scorecard, improvements by verdict, goals of concern, practices pooled "
                "across sites, claimed against verified savings, history across runs."
            ),
            version=portfolio.SCHEMA_VERSION,
        ),
        manifest.SCHEMA_FILE: document_schema(
            manifest.Manifest,
            schema_id="kaizen-reports/manifest.schema.json",
            title="Kaizen Reports manifest.json",
            description=(
                "What one run folder holds: each site's run status, error, timings and the run "
                "that produced its report. No performance figures and no secrets."
            ),
            version=manifest.SCHEMA_VERSION,
        ),
    }
    return {path: json.dumps(doc, indent=1) + "\n" for path, doc in docs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a change")
    args = parser.parse_args(argv)
    stale = []
    for path, text in schemas().items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(("out of date: " if args.check else "written: ") + ", ".join(stale))
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
