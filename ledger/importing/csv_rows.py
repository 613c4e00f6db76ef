"""Parsing the data rows of a CSV export once its layout is known (``csv_reader``).

Two paths with one result: a batch of records is parsed a column at a time, each distinct
date and amount cell once and plain amount columns checked with one regular expression; any
batch with a cell that needs a closer look (bad, oversized, a short or long row, a
debit/credit indicator) goes row by row through ``RowParser.parse``, which finds and words
every error. ``tests/test_import_columns.py`` checks that both give the same rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from decimal import Decimal
from operator import itemgetter
from typing import Any

from ledger.importing.normalise import (
    DateParser,
    ValueProblem,
    display_payee,
    parse_amount,
    parse_plain_amounts,
    safe_text,
)
from ledger.importing.records import ImportLimits, ParsedRow, RowBatch, RowError

_OUTFLOW_MARKS = frozenset({"d", "dr", "debit", "s", "soll", "-", "out", "withdrawal"})
_INFLOW_MARKS = frozenset({"c", "cr", "credit", "h", "haben", "+", "in", "deposit"})
_MEMO_MAX = 500


def _lookup(cells: Sequence[str], convert: Callable[[str], Any]) -> list[Any]:
    """``convert`` applied to every cell, called once per distinct cell."""
    values = {cell: convert(cell) for cell in set(cells)}
    return list(map(values.__getitem__, cells))


def _stripped(columns: list[tuple[str, ...]], index: int | None, count: int) -> list[str]:
    return list(map(str.strip, columns[index])) if index is not None else [""] * count


def _stored_memos(memos: list[str]) -> list[str | None]:
    """``_stored_memo`` of each (stripped) memo; checked all at once when none needs
    changing (no control character, formula or overlong memo: the common case)."""
    text = "\n".join(memos)
    if (text.count("\n") == len(memos) - 1 and "".join(memos).isprintable()
            and not _FORMULA_LINE.search(text) and max(map(len, memos)) <= _MEMO_MAX):
        return [memo or None for memo in memos]
    return list(map(_stored_memo, memos))


_FORMULA_LINE = re.compile(r"^[=+\-@]", re.MULTILINE)
"""A line starting like a spreadsheet formula (see ``safe_text``)."""


def _stored_memo(memo: str) -> str | None:
    return (safe_text(memo)[:_MEMO_MAX] or None) if memo else None


def column_cells(records: Sequence[tuple[int, tuple[str, ...]]], index: int) -> list[str]:
    """The cell ``index`` of every record (``""`` where a record is shorter)."""
    try:
        return list(map(itemgetter(index), map(itemgetter(1), records)))
    except IndexError:
        return [cell_at(row, index) for _, row in records]


def cell_at(row: Sequence[str], index: int) -> str:
    return row[index] if index < len(row) else ""


class CellProblem(Exception):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


class RowParser:
    """Parses one record with the column layout and conventions decided for the file."""

    def __init__(
        self,
        columns: dict[str, int],
        names: list[str],
        *,
        currency: str,
        negate: bool,
        date_fmt: str,
        decimal: str,
        limits: ImportLimits,
    ):
        self.cols = columns
        self.names = names
        self.width = len(names)
        self.currency = currency
        self.negate = negate
        self.parse_date = DateParser(date_fmt)
        self.decimal = decimal
        self.max_cell = limits.max_cell_chars
        self.padded = max([self.width, *(index + 1 for index in self.cols.values())])
        """Short rows are padded with empty cells to this width, so that every mapped
        column can be indexed directly."""
        self.payee_col = self.cols.get("payee")
        self.memo_col = self.cols.get("memo")
        self.id_col = self.cols.get("id")
        self.currency_col = self.cols.get("currency")

    def parse_many(
        self, records: Sequence[tuple[int, tuple[str, ...]]]
    ) -> tuple[RowBatch, list[RowError]]:
        """The rows of ``records`` and the errors of the bad ones, in ``records`` order."""
        batch = self._parse_columns(records)
        if batch is not None:
            return batch, []
        rows, errors = [], []
        for line, row in records:
            try:
                rows.append(self.parse(line, row))
            except CellProblem as exc:
                errors.append(RowError(line, exc.column, exc.message))
        return RowBatch.of(rows), errors

    def dates(self, records: Iterable[tuple[int, tuple[str, ...]]]) -> Iterator[dt.date]:
        """The dates of ``records`` that are readable, skipping the others."""
        index = self.cols["date"]
        for _, row in records:
            with suppress(ValueProblem):
                yield self.parse_date(cell_at(row, index))

    def date_range(self, cells: Iterable[str]) -> tuple[dt.date, dt.date] | None:
        """The first and last readable date of the date ``cells``, each distinct one read
        once."""
        dates = []
        for cell in set(cells):
            with suppress(ValueProblem):
                dates.append(self.parse_date(cell))
        return (min(dates), max(dates)) if dates else None

    def _parse_columns(
        self, records: Sequence[tuple[int, tuple[str, ...]]]
    ) -> RowBatch | None:
        """``records`` parsed a column at a time, each distinct cell once; ``None`` when a
        record needs ``parse``'s row-by-row checks (a bad or oversized cell, a short or long
        row, a debit/credit indicator), so that errors are found and worded in one place.

        Same values as ``parse``: a statement repeats its dates, amounts and payees, so
        looking up each distinct cell's value is several times faster than a call per row.
        """
        if not records or "direction" in self.cols or self.padded != self.width:
            return None
        lines, rows = zip(*records, strict=True)
        if set(map(len, rows)) != {self.width}:
            rows = self._fitted(rows)
            if rows is None:
                return None
        columns = list(zip(*rows, strict=True))
        if max(max(map(len, column)) for column in columns) > self.max_cell:
            return None
        try:
            dates = _lookup(columns[self.cols["date"]], self.parse_date)
            amounts = self._amounts(columns)
        except ValueProblem:
            return None
        if amounts is None or not self._currency_matches(columns):
            return None
        count = len(rows)
        raw = _stripped(columns, self.payee_col, count)
        memos = _stripped(columns, self.memo_col, count)
        if not all(raw):
            raw = [payee or memo or "(no description)"
                   for payee, memo in zip(raw, memos, strict=True)]
        bank_ids = ([cell.strip() or None for cell in columns[self.id_col]]
                    if self.id_col is not None else [None] * count)
        return RowBatch(lines, dates, amounts, raw, list(map(display_payee, raw)),
                        _stored_memos(memos), bank_ids)

    def _fitted(self, rows: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]] | None:
        """``rows`` cut or padded to the header's width, as ``parse`` reads them (many banks
        end each data line with a delimiter, or leave trailing empty cells out); ``None``
        when a row has something beyond the header's columns."""
        width = self.width
        if any("".join(row[width:]).strip() for row in rows if len(row) > width):
            return None
        empty = ("",) * width
        return [row[:width] if len(row) >= width else row + empty[len(row):] for row in rows]

    def _amounts(self, columns: list[tuple[str, ...]]) -> list[Decimal] | None:
        """The signed amounts of a batch's rows; ``None`` when a row has neither a debit
        nor a credit. Raises ``ValueProblem`` for an unreadable amount."""
        def read(text: str) -> Decimal:
            amount = parse_amount(text, decimal=self.decimal)
            return -amount if self.negate else amount

        if "amount" in self.cols:
            cells = columns[self.cols["amount"]]
            plain = (parse_plain_amounts(cells) if self.decimal == "." and not self.negate
                     else None)
            return plain if plain is not None else _lookup(cells, read)
        zero = Decimal("0.00")

        def magnitude(text: str) -> Decimal | None:
            return abs(parse_amount(text, decimal=self.decimal)) if text.strip() else None

        credits = (_lookup(columns[self.cols["credit"]], magnitude) if "credit" in self.cols
                   else [None] * len(columns[0]))
        debits = (_lookup(columns[self.cols["debit"]], magnitude) if "debit" in self.cols
                  else [None] * len(columns[0]))
        if any(c is None and d is None for c, d in zip(credits, debits, strict=True)):
            return None
        totals = [zero + (c or zero) - (d or zero) for c, d in zip(credits, debits, strict=True)]
        return [-total for total in totals] if self.negate else totals

    def _currency_matches(self, columns: list[tuple[str, ...]]) -> bool:
        if self.currency_col is None:
            return True
        codes = {cell.strip().upper() for cell in set(columns[self.currency_col])}
        return codes <= {"", self.currency}

    def name(self, target: str) -> str:
        index = self.cols[target]
        return self.names[index] if index < len(self.names) else f"column {index + 1}"

    def parse(self, line: int, row: Sequence[str]) -> ParsedRow:
        """One ``ParsedRow``; raises ``CellProblem`` naming the column at fault."""
        if len(row) > self.width and "".join(row[self.width:]).strip():
            raise CellProblem("row", f"{len(row)} cells but the header has {self.width}")
        if max(map(len, row)) > self.max_cell:
            index = next(i for i, cell in enumerate(row) if len(cell) > self.max_cell)
            column = self.names[index] if index < len(self.names) else f"column {index + 1}"
            size = len(row[index])
            raise CellProblem(column, f"{size:,} characters (at most {self.max_cell:,})")
        if len(row) < self.padded:
            row = (*row, *[""] * (self.padded - len(row)))
        try:
            date = self.parse_date(row[self.cols["date"]])
        except ValueProblem as exc:
            raise CellProblem(self.name("date"), str(exc)) from None
        amount = self._amount(row)
        if self.currency_col is not None:
            code = row[self.currency_col].strip().upper()
            if code and code != self.currency:
                raise CellProblem(
                    self.name("currency"), f"{code} but the account is in {self.currency}"
                )
        payee_raw = "" if self.payee_col is None else row[self.payee_col].strip()
        memo = "" if self.memo_col is None else row[self.memo_col].strip()
        if not payee_raw:
            payee_raw = memo or "(no description)"
        bank_id = None if self.id_col is None else row[self.id_col].strip() or None
        return ParsedRow(
            line,
            date,
            -amount if self.negate else amount,
            payee_raw,
            display_payee(payee_raw),
            _stored_memo(memo),
            bank_id,
        )

    def _amount(self, row: Sequence[str]) -> Decimal:
        cols = self.cols
        if "amount" in cols:
            try:
                amount = parse_amount(cell_at(row, cols["amount"]), decimal=self.decimal)
            except ValueProblem as exc:
                raise CellProblem(self.name("amount"), str(exc)) from None
            return amount if "direction" not in cols else self._directed(row, amount)
        total, seen = Decimal("0.00"), False
        for target, sign in (("credit", 1), ("debit", -1)):
            if target not in cols or not cell_at(row, cols[target]).strip():
                continue
            try:
                total += sign * abs(parse_amount(cell_at(row, cols[target]), decimal=self.decimal))
            except ValueProblem as exc:
                raise CellProblem(self.name(target), str(exc)) from None
            seen = True
        if not seen:
            names = " or ".join(self.name(t) for t in ("debit", "credit") if t in cols)
            raise CellProblem(names, "no amount in either column")
        return total

    def _directed(self, row: Sequence[str], amount: Decimal) -> Decimal:
        """The amount signed by the row's debit/credit indicator."""
        mark = cell_at(row, self.cols["direction"]).strip().casefold()
        if mark in _OUTFLOW_MARKS:
            return -abs(amount)
        if mark in _INFLOW_MARKS:
            return abs(amount)
        raise CellProblem(self.name("direction"),
                           f"{mark!r} is neither a debit (D, DR, S) nor a credit (C, CR, H)")
