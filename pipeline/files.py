"""Files the pipeline writes: atomic replacement, locks, and paths from ids that cannot leave their folder.

Every file another process may read while we write it (results.json, the manifest, the portfolio,
the send ledger) is written to a temporary file beside it and moved into place with
:func:`os.replace`, so a reader sees the old file or the new one, never half of either. Every path
built from an id that comes from data or configuration goes through :func:`child_path`. The run's
and the mailer's exclusive locks are :func:`exclusive_lock` (``filelock``); a folder the pipeline
may not write to is a :class:`ConfigError` that names it (:func:`writing_to`), never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.exceptions import ConfigError, LockHeld

#: What an id that becomes part of a path may look like (site ids, metric ids, event ids).
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")

#: ``OUT/latest``: the link to the newest report date's folder, kept by every run.
LATEST = "latest"
#: ``OUT/<as_of>/logs/``: the run logs, beside the site folders of that date.
LOGS = "logs"
#: Names of the output layout's own entries that a site id, a slug, could take: ``OUT/<as_of>/
#: <site_id>/`` would be the run-log folder, or ``OUT/latest/...`` read as a report date's
#: folder holding a site. The dated folder's other entries (``.staging``, ``.trash``,
#: ``.journal.jsonl``, ``manifest.json``, ``index.html``, ...) hold a '.', which no slug does.
RESERVED_SITE_IDS = (LOGS, LATEST)


def is_slug(value: object) -> bool:
    """True when ``value`` is a slug: lowercase letters, digits, '-' and '_', not starting with
    '-' or '_' (``re.fullmatch``, so a trailing newline is not accepted)."""
    return isinstance(value, str) and SLUG.fullmatch(value) is not None


def site_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a site id (it becomes the site's folder in each report date's
    folder), or None when it can: not a slug, or one of :data:`RESERVED_SITE_IDS`."""
    if not is_slug(value):
        return (
            f"site id {value!r} is not a safe slug (lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit)"
        )
    if value in RESERVED_SITE_IDS:
        names = " and ".join(repr(n) for n in RESERVED_SITE_IDS)
        return (
            f"site id {value!r} is reserved: the output folder keeps {names} for itself (the "
            "run logs of each report date, the link to the newest one); choose another id"
        )
    return None


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


def atomic_symlink(link: str | Path, target: str | Path) -> Path:
    """Point the symlink ``link`` at ``target`` (made beside it, then :func:`os.replace`d), so a
    reader follows the old target or the new one, never a missing link."""
    link = Path(link)
    fd, tmp = tempfile.mkstemp(prefix=f".{link.name}.", suffix=".tmp", dir=link.parent)
    os.close(fd)
    os.unlink(tmp)  # mkstemp reserved a free name; the symlink takes it
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return link


#: errno values that mean "this process may not write here" (not a bug, not a full disk).
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextmanager
def writing_to(folder: str | Path, *, what: str = "the output folder") -> Iterator[None]:
    """Turn a permission or read-only-file-system error inside the block into a
    :class:`ConfigError` that names the path and says what to do.

    Raises
    ------
    ConfigError
        e.g. ``cannot write to the output folder reports/2026-11-27: '.kaizen.lock': Read-only
        file system. Make it writable, or choose another folder with --output``.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in _NOT_WRITABLE:
            raise
        where = f": {Path(exc.filename).name!r}" if exc.filename else ""
        raise ConfigError(
            f"cannot write to {what} {folder}{where}: {exc.strerror}",
            hint="Make it writable, or choose another folder with --output",
        ) from None


def check_output_folder(path: str | Path, *, setting: str = "the output folder") -> Path:
    """``path`` when it is a folder or does not exist yet (it is created when written to).

    The one check of an output folder, whichever way it was given (``--output`` on the command
    line, ``output`` in kaizen.yaml, or :func:`~pipeline.run.execute.run_project`'s project).

    Raises
    ------
    ConfigError
        ``path`` is a file (or anything else that is not a folder), e.g. ``output in kaizen.yaml
        (reports) is a file, not a folder. Point it at a folder; it is created if missing``;
        or its :data:`LATEST` is not a link (a copy that followed it), which a run could not
        point at its new report date.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{setting} ({path}) is a file, not a folder",
            hint="Point it at a folder; it is created if missing",
        )
    latest = path / LATEST
    if latest.exists() and not latest.is_symlink():
        raise ConfigError(
            f"{latest} in {setting} is a folder or file, not the link to the newest report "
            "date that each run keeps (copied without its links?)",
            hint="Move it aside; the next run makes the link again",
        )
    return path


@contextmanager
def exclusive_lock(path: str | Path, *, held: str | Callable[[], str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block (``filelock``: ``flock`` on POSIX, so the
    operating system releases it when the holder dies, however it dies).

    Raises
    ------
    LockHeld
        with the message ``held`` (or what ``held()`` returns, asked only then) when another
        process holds the lock.
    ConfigError
        when the lock file cannot be created (a read-only folder), naming it.
    """
    from filelock import FileLock, Timeout

    target = Path(path)
    lock = FileLock(target, is_singleton=False, thread_local=False)
    with writing_to(target.parent):
        try:
            lock.acquire(blocking=False)
        except Timeout:
            raise LockHeld(held() if callable(held) else held) from None
    try:
        yield
    finally:
        lock.release()
