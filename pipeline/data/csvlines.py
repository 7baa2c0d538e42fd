"""The line of a CSV file each record starts on, as an editor numbers them (header = line 1).

The readers skip blank lines and let a quoted field run over several lines, so a record's
position in the table plus 2 is its line only in a file without either. :class:`LineScanner`
finds the lines that start no record (blank, or inside a quoted field) in one vectorised
pass over the bytes (numpy, a block at a time; only lines that may be blank are looked at
one by one), and :class:`RowNumbers` turns 0-based positions into line numbers from them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: A file's header is line 1, so the first data record (position 0) is line 2 when no line is
#: skipped; a Parquet file or SQL query is numbered as its CSV export would be.
FIRST_DATA_LINE = 2
#: Bytes read at a time when a file is scanned on its own.
SCAN_BLOCK_BYTES = 4 << 20

_NEWLINE, _QUOTE = 10, 34


def _empty() -> np.ndarray:
    return np.zeros(0, dtype="int64")


@dataclass(frozen=True, slots=True, kw_only=True)
class RowNumbers:
    """The row numbers messages show for a table's records.

    ``skipped`` holds, for every line of the file that starts no data record (a blank line, a
    line inside a quoted field, the header's own extra lines), how many data records start
    before it, in ascending order; record ``p`` (0-based) then starts on line
    ``p + first + (the number of skipped lines before it)``.
    """

    first: int = FIRST_DATA_LINE
    skipped: np.ndarray = field(default_factory=_empty)

    def lines(self, positions: Iterable[int] | np.ndarray) -> np.ndarray:
        """The line (or row number) of each 0-based position."""
        pos = np.asarray(positions, dtype="int64").reshape(-1)
        if not len(self.skipped):
            return pos + self.first
        return pos + self.first + np.searchsorted(self.skipped, pos, side="right")

    def line(self, position: int) -> int:
        return int(self.lines([int(position)])[0])


class LineScanner:
    """Finds the lines of a CSV file that start no record, from its bytes fed in order.

    A line starts a record unless it begins inside a quoted field (an odd number of ``"``
    before it: ``""`` inside a field keeps the count even) or holds only spaces, tabs and
    ``\\r`` (the readers skip those). :meth:`row_numbers` says whether the records found are
    as many as the table's rows; when they are not (a stray ``"`` inside an unquoted field,
    lines ended by ``\\r`` alone), :func:`csv_row_numbers` asks the csv module instead.
    """

    def __init__(self, *, separator: str = ",") -> None:
        blank = {32, 9, 13} - {ord(separator)} if len(separator) == 1 else {32, 9, 13}
        self._blank_bytes = bytes(sorted(blank))
        #: by first byte: may the line be blank (empty, or only spaces, tabs and \r)?
        self._may_start_blank = np.zeros(256, dtype=bool)
        self._may_start_blank[sorted(blank | {_NEWLINE})] = True
        self._pending = bytearray()
        self._in_quotes = False
        self._records = 0  # records started so far, the header included
        self._skipped: list[np.ndarray] = []

    def feed(self, data: bytes) -> None:
        """Scan the next bytes of the file."""
        last = data.rfind(b"\n")
        if last < 0:
            self._pending += data
            return
        first = data.find(b"\n")
        self._pending += data[: first + 1]
        self._scan(bytes(self._pending), 0, len(self._pending))
        self._scan(data, first + 1, last + 1)
        self._pending = bytearray(data[last + 1 :])

    def finish(self) -> None:
        """The file ended (its last line may have no newline)."""
        if self._pending:
            self._scan(bytes(self._pending) + b"\n", 0, len(self._pending) + 1)
            self._pending = bytearray()

    def row_numbers(self, records: int) -> RowNumbers | None:
        """Line numbers of the data records, or None when the file holds a number of records
        other than ``records`` (the table's rows) plus the header."""
        if self._records != records + 1:
            return None
        if not self._skipped:
            return RowNumbers()
        # counted with the header: data records before a line are one fewer (none before it)
        skipped = np.maximum(np.concatenate(self._skipped) - 1, 0)
        return RowNumbers(skipped=skipped)

    def _scan(self, buf: bytes, start: int, end: int) -> None:
        """Scan the complete lines ``buf[start:end]`` (``end`` is just after a newline)."""
        if start >= end:
            return
        arr = np.frombuffer(buf, dtype=np.uint8, count=end - start, offset=start)
        ends = np.flatnonzero(arr == _NEWLINE)
        starts = np.concatenate(([0], ends[:-1] + 1))
        maybe_blank = self._may_start_blank[arr[starts]]
        quoted = self._in_quotes or buf.find(b'"', start, end) >= 0
        if not quoted and not maybe_blank.any():
            self._records += len(starts)  # the usual block: every line starts a record
            return
        inside = np.zeros(len(starts), dtype=bool)
        if quoted:
            at = np.flatnonzero(arr == _QUOTE)
            inside = (np.searchsorted(at, starts) + int(self._in_quotes)) % 2 == 1
            self._in_quotes = (len(at) + int(self._in_quotes)) % 2 == 1
        blank = np.zeros(len(starts), dtype=bool)
        for k in np.flatnonzero(maybe_blank & ~inside):  # empty, or begins with a space: rare
            s, e = start + int(starts[k]), start + int(ends[k])
            blank[k] = not buf[s:e].strip(self._blank_bytes)
        none = np.flatnonzero(inside | blank)
        if len(none):
            self._skipped.append(self._records + none - np.arange(len(none)))
        self._records += len(starts) - len(none)


def csv_row_numbers(path: Path, *, records: int, separator: str = ",") -> RowNumbers:
    """The line each of the ``records`` data records of the CSV file ``path`` starts on.

    One scan of the bytes (:class:`LineScanner`); when it does not find ``records`` records,
    the csv module reads the file (its ``line_num`` counts physical lines); when that does not
    either, the records are numbered as if no line were skipped.
    """
    scanner = LineScanner(separator=separator)
    with path.open("rb") as fh:
        while block := fh.read(SCAN_BLOCK_BYTES):
            scanner.feed(block)
    scanner.finish()
    found = scanner.row_numbers(records)
    if found is None:
        found = _csv_module_row_numbers(path, records=records, separator=separator)
    return found or RowNumbers()


def _csv_module_row_numbers(path: Path, *, records: int, separator: str) -> RowNumbers | None:
    starts: list[int] = []
    blank = " \t\r".replace(separator, "")
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=separator)
            before = 0
            for row in reader:
                if row and not (len(row) == 1 and not row[0].strip(blank)):
                    starts.append(before + 1)
                before = reader.line_num
    except (csv.Error, UnicodeDecodeError, OSError):
        return None
    if len(starts) != records + 1:
        return None
    lines = np.asarray(starts[1:], dtype="int64")
    extra = lines - np.arange(len(lines)) - FIRST_DATA_LINE  # skipped lines before each record
    if not len(extra) or not extra.any():
        return RowNumbers()
    # one entry per skipped line: the record it comes before, repeated for each such line
    steps = np.diff(np.concatenate(([0], extra)))
    return RowNumbers(skipped=np.repeat(np.arange(len(lines), dtype="int64"), steps))
