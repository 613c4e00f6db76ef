"""What a reader hands the importer: parsed rows, the problems found, and how it read the file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import compress
from typing import Any, NamedTuple


@dataclass(frozen=True)
class ImportLimits:
    """Caps that keep a hostile or mistaken file from exhausting memory or the database."""

    max_bytes: int = 50 * 1024 * 1024
    max_rows: int = 1_000_000
    max_cell_chars: int = 1000
    """Longer cells are refused: no bank writes a 1000-character payee or memo."""


@dataclass(frozen=True)
class RowError:
    """One bad value: where it is (line in the file, or transaction number in OFX) and why."""

    line: int
    field: str | None
    message: str

    def describe(self, filename: str) -> str:
        where = f"{filename}, line {self.line}"
        if self.field:
            where += f", {self.field}"
        return f"{where}: {self.message}"


class ParsedRow(NamedTuple):
    """One transaction read from a file, before de-duplication.

    A tuple of plain values rather than a dataclass: the garbage collector stops tracking
    such tuples, so a 200k-row file does not make every collection rescan 200k objects.
    """

    line: int
    date: dt.date
    amount: Decimal
    payee_raw: str
    """The bank's descriptor as written (hashing uses it, so cleaning rules can improve
    without changing the hashes of rows already imported)."""
    payee: str
    memo: str | None
    bank_id: str | None
    """The bank's own transaction id (OFX FITID, a CSV id column), when the file has one."""


class RowBatch(NamedTuple):
    """Rows a column at a time, as the import pipeline handles them: each step (parsing,
    hashing, de-duplication, categorisation, conversion) is a few calls per column
    instead of a call per row. Fields as in ``ParsedRow``."""

    lines: Sequence[int]
    dates: Sequence[dt.date]
    amounts: Sequence[Decimal]
    payees_raw: Sequence[str]
    payees: Sequence[str]
    memos: Sequence[str | None]
    bank_ids: Sequence[str | None]

    @classmethod
    def of(cls, rows: Sequence[ParsedRow]) -> RowBatch:
        return cls(*zip(*rows, strict=True)) if rows else cls((), (), (), (), (), (), ())

    @property
    def size(self) -> int:
        return len(self.lines)

    def rows(self) -> list[ParsedRow]:
        return list(map(ParsedRow, *self))

    def select(self, keep: Sequence[Any]) -> RowBatch:
        """The rows whose ``keep`` is true."""
        return RowBatch(*(list(compress(column, keep)) for column in self))


@dataclass
class ParsedFile:
    """Everything a reader found in one file."""

    file_format: str
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    details: dict[str, str] = field(default_factory=dict)
    """How the file was read (encoding, delimiter, columns, date format), for the report."""
    notes: list[str] = field(default_factory=list)
    """Assumptions the user may want to check, e.g. how ambiguous dates were read."""
    account_number: str | None = None
    """The statement's full account number (OFX ``ACCTID``): stored encrypted, never shown."""
    account_is_card: bool = False
    """``account_number`` is a card's: only its last four are kept."""

    def newest_first(self) -> bool:
        """Whether the file lists its rows newest first, as many banks do (the importer
        stores them oldest first)."""
        return bool(self.rows) and self.rows[0].date > self.rows[-1].date

    def batches(self, size: int, *, reverse: bool = False) -> Iterator[RowBatch]:
        """The rows, ``size`` at a time, in file order or ``reverse``d."""
        rows = self.rows[::-1] if reverse else self.rows
        for start in range(0, len(rows), size):
            yield RowBatch.of(rows[start:start + size])

    def date_range(self) -> tuple[dt.date, dt.date] | None:
        """The first and last date of the rows (``None`` without rows)."""
        if not self.rows:
            return None
        return min(r.date for r in self.rows), max(r.date for r in self.rows)
