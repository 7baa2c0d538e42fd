"""The send ledger (what was sent to whom) and the lock that allows one ``send`` per run."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.exceptions import DeliveryError
from pipeline.files import atomic_write_bytes, exclusive_lock, writing_to

LEDGER = "send-ledger.json"
LOCK = ".send.lock"


class Ledger:
    """``OUT/<as_of>/send-ledger.json``: one entry per recipient and attempt, rewritten atomically."""

    def __init__(self, path: Path, *, as_of: str, run_id: str) -> None:
        self.path = path
        self.as_of = as_of
        self.run_id = run_id
        self.entries: list[dict[str, Any]] = []
        self._sent: set[tuple[str, str, str]] = set()
        self._last: dict[tuple[str, str, str], dict[str, Any]] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.entries = [e for e in data.get("entries", []) if isinstance(e, dict)]
            except (OSError, ValueError, AttributeError) as exc:
                raise DeliveryError(
                    f"{path} cannot be read ({exc}); move it away to start a fresh ledger"
                ) from None

        for e in self.entries:
            self._remember(e)

    def _remember(self, e: Mapping[str, Any]) -> None:
        key = entry_key(e)
        self._last[key] = dict(e)
        if e.get("outcome") == "sent":
            self._sent.add(key)

    def is_sent(self, key: tuple[str, str, str]) -> bool:
        return key in self._sent

    def message_id(self, key: tuple[str, str, str]) -> str | None:
        """The Message-ID of an earlier attempt that may have arrived (unknown outcome, or
        interrupted while sending), so a retry lets the receiving system drop a duplicate."""
        last = self._last.get(key)
        if last and last.get("outcome") in ("unknown", "sending") and last.get("message_id"):
            return str(last["message_id"])
        return None

    def record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        self._remember(entry)
        self.save()

    def save(self) -> None:
        data = {
            "as_of": self.as_of,
            "run_id": self.run_id,
            "updated_at": now(),
            "entries": self.entries,
        }
        atomic_write_bytes(
            self.path,
            (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode(),
            durable=True,
        )


def entry_key(e: Mapping[str, Any]) -> tuple[str, str, str]:
    """Ledger identity: a site's report once per recipient; a failure email once per run."""
    return (str(e.get("kind")), str(e.get("scope")), str(e.get("recipient", "")).lower())


def last_signatures(output: Path, *, site_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per recipient (lower-case address), ``(as_of, signature)`` of the last report of
    ``site_id`` that was sent to them, over every run's ledger in ``output``."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(output.glob(f"*/{LEDGER}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        as_of = str(data.get("as_of") or path.parent.name) if isinstance(data, dict) else ""
        entries = data.get("entries", []) if isinstance(data, dict) else []
        for e in entries:
            if (
                isinstance(e, dict)
                and e.get("kind") == "report"
                and e.get("site_id") == site_id
                and e.get("outcome") == "sent"
                and isinstance(e.get("signature"), dict)
            ):
                who = str(e.get("recipient", "")).lower()
                if who not in found or (as_of, str(e.get("time"))) >= (found[who][0], ""):
                    found[who] = (as_of, e["signature"])
    return found


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@contextmanager
def lock_run(folder: Path) -> Iterator[None]:
    """One ``send`` per run folder at a time, so two cron jobs cannot both send a message."""
    with writing_to(folder):
        folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(
        folder / LOCK, held=f"another `send` is running for {folder}; try again when it ends"
    ):
        yield
