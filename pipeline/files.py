"""Files the pipeline writes: atomic replacement, and paths from ids that cannot leave their folder.

Every file another process may read while we write it (results.json, the manifest, the portfolio,
the send ledger) is written to a temporary file beside it and moved into place with
:func:`os.replace`, so a reader sees the old file or the new one, never half of either. Every path
built from an id that comes from data or configuration goes through :func:`child_path`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pipeline.exceptions import ConfigError

#: What an id that becomes part of a path may look like (site ids, metric ids, event ids).
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")


def is_slug(value: object) -> bool:
    """True when ``value`` is a slug: lowercase letters, digits, '-' and '_', not starting with
    '-' or '_' (``re.fullmatch``, so a trailing newline is not accepted)."""
    return isinstance(value, str) and SLUG.fullmatch(value) is not None


def child_path(root: str | Path, *parts: str) -> Path:
    """``root / part / ...``, refusing any part that is not a plain file or folder name, and any
    result that would resolve outside ``root`` (through ``..``, an absolute part or a symlink).

    Raises
    ------
    ConfigError
        naming the offending part.
    """
    base = Path(root).resolve()
    path = base
    for part in parts:
        text = str(part)
        if (
            not text
            or text in (".", "..")
            or "/" in text
            or "\\" in text
            or "\x00" in text
            or any(ord(c) < 32 for c in text)
        ):
            raise ConfigError(f"{text!r} cannot be used as a file or folder name")
        path = path / text
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise ConfigError(f"{'/'.join(parts)!r} would be written outside {str(base)!r}")
    return path


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    :func:`os.replace`; with ``durable`` the file is fsync'ed first (ledgers, journals)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | Path, text: str, *, durable: bool = False) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | Path, data: Any, *, durable: bool = False) -> Path:
    """:func:`atomic_write_text` of ``data`` as JSON (no NaN: plain JSON only)."""
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return atomic_write_text(path, text, durable=durable)
