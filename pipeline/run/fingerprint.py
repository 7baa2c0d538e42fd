"""A site's fingerprint: digests of everything its report depends on, so that an unchanged site
is not executed again (incremental runs; ``run --force`` re-runs every site).

The parts are the site's input rows (its Arrow IPC slice) and its validation result, the
configuration that applies to it (the project's settings and its own entry, not other sites'),
the notebook template, the contract suites, the package version, the report date, the
kernel and whether a PDF is printed. The fingerprint is published with the report
(``<site>/fingerprint.json``), so it describes exactly the report beside it; the run log names
the parts that changed.

Before any of that, :func:`inputs_digest` digests the run's inputs as they are stored — the bytes
of each input file, the configuration, the notebook, the suites, the version, as_of, the kernel,
``--pdf`` and the selected sites. When it equals the digest recorded in the manifest for the run
folder and for every selected site, nothing can have changed: the run neither reads, validates
nor starts a kernel (a file touched without a change in its bytes has the same digest). A SQL
table has no stored bytes to digest: it is read, and its rows are digested instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pipeline.files import atomic_write_json

FINGERPRINT = "fingerprint.json"


def _digest_bytes(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "little"))  # framed: ("ab","c") differs from ("a","bc")
        h.update(chunk)
    return h.hexdigest()


def _digest_files(files: list[Path]) -> str:
    """``_digest_bytes`` of each file's name and bytes, the bytes read in blocks (a site's
    slice of a large table is hundreds of MiB: it is never in memory at once)."""
    h = hashlib.sha256()
    for f in files:
        name = f.name.encode()
        h.update(len(name).to_bytes(8, "little"))
        h.update(name)
        with f.open("rb") as fh:
            h.update(os.fstat(fh.fileno()).st_size.to_bytes(8, "little"))
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def _digest_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (an input file may be hundreds of MiB)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _digest_frame(frame: Any) -> str:
    """The digest of a table read from SQL: its column names and types, and its rows in order."""
    import pandas as pd

    head = repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode()
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return _digest_bytes(head, rows)


def inputs_digest(
    *,
    project: Any,
    site_ids: list[str],
    as_of: str,
    notebook: str,
    kernel_name: str,
    suites_dir: Path,
    pdf: bool = False,
    per_table: dict[str, str] | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """One digest of everything a run reads, taken before anything is parsed or validated, and
    the SQL tables it had to read for it (handed on, so that they are not read twice).

    ``per_table``, when given, receives each table's own digest (of its file's bytes, or of a
    SQL table's rows): the validation cache's keys.

    The digest is ``None`` when an input file cannot be read: the run then reads the inputs
    as usual, and reports the problem the way it always does.
    """
    from pipeline import __version__
    from pipeline.data.inputs import read_table

    per_table = {} if per_table is None else per_table
    tables: list[str] = []
    read: dict[str, Any] = {}
    for name, source in sorted(project.tables.items()):
        if source.path is not None:
            try:
                per_table[name] = f"{source.path}:{_digest_file(Path(source.path))}"
                if source.decimal != ".":  # the same bytes parse to other numbers
                    per_table[name] += f":decimal={source.decimal}"
            except OSError:
                per_table.clear()
                return None, read
        else:  # no bytes at rest to digest: the query's rows are the input
            read[name] = read_table(source)
            per_table[name] = f"sql:{_digest_frame(read[name])}"
        tables.append(f"{name}={per_table[name]}")
    digest = _digest_bytes(
        # the whole configuration (every site's entry, the tables' sources): the contracts
        # compare sites and tables with each other, so any change may move any site's result
        repr(project).encode(),
        *(t.encode() for t in tables),
        _digest_files([Path(notebook)]).encode(),
        _digest_files(sorted(suites_dir.glob("*.json"))).encode(),
        __version__.encode(),
        as_of.encode(),
        kernel_name.encode(),
        b"pdf" if pdf else b"no pdf",
        repr(sorted(site_ids)).encode(),
    )
    return digest, read


def site_fingerprint(
    *,
    project: Any,
    site: Any,
    as_of: str,
    notebook: str,
    kernel_name: str,
    slice_dir: Path,
    validation: dict[str, Any],
    suites_dir: Path,
    pdf: bool = False,
) -> dict[str, str]:
    """The digests of each input of one site's report, by part name."""
    from pipeline import __version__

    settings = (
        project.name,
        project.lookback_amount,
        project.lookback_unit,
        project.statistics,
        getattr(project, "currency", None),
        site,
    )
    return {
        "data": _digest_files(sorted(slice_dir.glob("*.arrow"))),
        "validation": _digest_bytes(json.dumps(validation, sort_keys=True, default=str).encode()),
        # frozen dataclasses of plain values: their repr is stable and names every field
        "configuration": _digest_bytes(repr(settings).encode()),
        "notebook": _digest_files([Path(notebook)]),
        "contracts": _digest_files(sorted(suites_dir.glob("*.json"))),
        "version": __version__,
        "as_of": as_of,
        "kernel": kernel_name,
        "pdf": "yes" if pdf else "no",  # a run that adds report.pdf must print it
    }


def read_fingerprint(site_dir: Path) -> dict[str, str] | None:
    """The fingerprint published with the report in ``site_dir``, if any."""
    try:
        data = json.loads((site_dir / FINGERPRINT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    parts = data.get("parts") if isinstance(data, dict) else None
    return parts if isinstance(parts, dict) else None


def write_fingerprint(site_dir: Path, parts: dict[str, str]) -> None:
    atomic_write_json(site_dir / FINGERPRINT, {"parts": parts})


def changed_parts(previous: dict[str, str] | None, parts: dict[str, str]) -> list[str]:
    """Names of the parts that differ (every part when there is no previous fingerprint)."""
    if previous is None:
        return list(parts)
    return [k for k in parts if previous.get(k) != parts[k]]
