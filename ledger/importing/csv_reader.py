"""Reading bank CSV exports whose layout is discovered, not configured.

Banks put a preamble above the header (account number, balance), name columns in their own
language, split amounts into debit and credit columns, and disagree on delimiters, decimal
separators and date order. The reader finds the delimiter and the header row, maps columns to
ledger fields by name (``--map`` overrides any of it), decides date format and decimal
separator from whole columns, then parses every row; a bad cell becomes a ``RowError`` naming
its line and column rather than stopping the read, so the caller can report them all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ledger.importing.content import decode_text
from ledger.importing.csv_rows import RowParser, cell_at, column_cells
from ledger.importing.errors import ImportRejected
from ledger.importing.normalise import (
    ValueProblem,
    detect_date_format,
    detect_decimal_separator,
)
from ledger.importing.records import ImportLimits, ParsedFile, RowBatch

FIELDS = ("date", "amount", "debit", "credit", "direction", "payee", "memo", "id", "currency",
          "ignore")
"""Ledger fields a column can be mapped to (``ignore`` drops a column auto-mapping chose).
``direction`` is a debit/credit indicator (``D``/``C``, ``DR``/``CR``, ``S``/``H``...) for
files whose amount column is unsigned."""

HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "date": (
        "transaction date", "date", "trans date", "booking date", "posting date", "posted date",
        "post date", "completed date", "buchungstag", "buchungsdatum", "buchung", "datum",
        "date operation", "fecha", "value date", "valuta", "wertstellung",
    ),
    "amount": (
        "amount", "transaction amount", "betrag", "umsatz", "montant", "importe", "bedrag",
        "value",
    ),
    "debit": (
        "debit", "debit amount", "paid out", "money out", "withdrawals", "withdrawal", "soll",
        "ausgang", "charges",
    ),
    "credit": (
        "credit", "credit amount", "paid in", "money in", "deposits", "deposit", "haben",
        "eingang", "payments",
    ),
    "payee": (
        "payee", "merchant", "merchant name", "name", "counterparty", "counter party",
        "beneficiary", "auftraggeber/empfänger", "zahlungsempfänger*in",
        "begünstigter/zahlungspflichtiger", "beguenstigter/zahlungspflichtiger", "empfänger",
        "description", "transaction description", "narrative", "beschreibung", "libellé",
    ),
    "memo": (
        "memo", "notes", "note", "notes and #tags", "reference", "verwendungszweck",
        "purpose", "additional information", "description", "buchungstext",
    ),
    "direction": (
        "debit/credit", "credit/debit", "debit/credit indicator", "credit/debit indicator",
        "dr/cr", "cr/dr", "d/c", "c/d", "s/h", "soll/haben", "transaction direction",
    ),
    "id": ("transaction id", "id", "fitid", "reference number", "transaction reference"),
    "currency": ("currency", "währung", "waehrung", "ccy"),
}
"""Header names per field, most specific first; matched after ``_normalise_header``."""

_FIELD_ORDER = ("date", "amount", "debit", "credit", "direction", "id", "currency", "payee",
                "memo")
_DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_LINES = 50
_HEADER_SEARCH = 30
_SAMPLE_CHARS = 4096
"""Layout detection reads at most this much of a line; an oversized cell is then reported
with its line number by the full read, not by the detection."""


@dataclass(frozen=True)
class CsvOptions:
    """What the user may override; everything left unset is detected from the file."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    """Column (header name, or 1-based number) -> one of ``FIELDS``."""
    date_format: str | None = None
    """A ``strptime`` format, e.g. ``%m/%d/%Y``."""
    negate: bool = False
    """Flip every sign: for card exports that list purchases as positive amounts."""


@dataclass(frozen=True)
class _Layout:
    delimiter: str
    header_line: int | None
    """0-based index of the header among the file's lines, ``None`` for headerless files."""
    columns: dict[str, int]
    names: list[str]


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["Booking Text=payee", "3=amount"]`` -> ``{"Booking Text": "payee", "3": "amount"}``.

    Raises:
        ImportRejected: a pair without ``=`` or with an unknown field.
    """
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise ImportRejected(
                f"--map {pair!r}: expected COLUMN=FIELD, e.g. 'Booking Text=payee'"
            )
        if target not in FIELDS:
            raise ImportRejected(
                f"--map {pair!r}: unknown field {target!r}; one of {', '.join(FIELDS)}"
            )
        mapping[column.strip()] = target
    return mapping


def read_csv(
    data: bytes,
    *,
    filename: str,
    currency: str,
    options: CsvOptions,
    limits: ImportLimits,
    lazy: bool = False,
) -> ParsedFile:
    """Parse a CSV export into rows and row errors; ``currency`` is the account's.

    With ``lazy``, only the layout is decided here and ``rows`` stays empty: the rows are
    parsed as ``batches`` hands them out (and their errors appended as found), so that an
    import can store the first rows while later ones are still being parsed.

    Raises:
        ImportRejected: the file as a whole cannot be read (no header row, a malformed
            quote, too many rows, an unknown ``--map`` column); nothing row-level raises.
    """
    text, encoding = decode_text(data)
    if "\n" not in text and "\r" in text:  # classic Mac line endings
        text = text.replace("\r", "\n")
    lines = text.split("\n", _SAMPLE_LINES + 1)[:_SAMPLE_LINES]
    sample = [line.rstrip("\r")[:_SAMPLE_CHARS] for line in lines]
    layout = _find_layout(sample, options.mapping, filename)
    records = _read_records(text, lines, layout, filename, limits)
    del text
    parsed = CsvFile(file_format="csv", rows_read=len(records))
    parsed.details = {
        "encoding": encoding,
        "delimiter": {"\t": "tab"}.get(layout.delimiter, layout.delimiter),
        "columns": ", ".join(f"{f}={layout.names[i]}" for f, i in layout.columns.items()),
    }
    if records:
        parsed.date_cells = column_cells(records, layout.columns["date"])
        parsed.parser = _row_parser(records, parsed.date_cells, layout, currency, options,
                                    parsed, limits)
        parsed.pending = records
        if not lazy:
            parsed.rows = [row for batch in parsed.batches(_BATCH) for row in batch.rows()]
    return parsed


_BATCH = 5000
"""Records parsed at a time by an eager ``read_csv`` (the importer picks its own size):
large enough for the column-wise path to pay."""


@dataclass
class CsvFile(ParsedFile):
    """A CSV file whose rows may still be waiting to be parsed (see ``read_csv``)."""

    pending: list[tuple[int, tuple[str, ...]]] | None = None
    """(line, cells) of the rows not parsed yet; ``batches`` consumes them once."""
    parser: RowParser | None = None
    date_cells: list[str] = field(default_factory=list)
    """The date cell of every record."""

    def batches(self, size: int, *, reverse: bool = False) -> Iterator[RowBatch]:
        if self.pending is None or self.parser is None:
            yield from super().batches(size, reverse=reverse)
            return
        records, self.pending = self.pending, None
        if reverse:
            records.reverse()
        for start in range(0, len(records), size):
            batch, errors = self.parser.parse_many(records[start:start + size])
            self.errors.extend(errors)
            yield batch
        self.errors.sort(key=lambda error: error.line)

    def newest_first(self) -> bool:
        if self.pending is None or self.parser is None:
            return super().newest_first()
        dates = self.parser.dates(self.pending)
        first = next(dates, None)
        last = next(self.parser.dates(reversed(self.pending)), None)
        return first is not None and last is not None and first > last

    def date_range(self) -> tuple[dt.date, dt.date] | None:
        if self.pending is None or self.parser is None:
            return super().date_range()
        return self.parser.date_range(self.date_cells)


# ---------------------------------------------------------------- layout


def _find_layout(lines: list[str], mapping: Mapping[str, str], filename: str) -> _Layout:
    delimiter = _sniff_delimiter(lines)
    rows = list(csv.reader(lines, delimiter=delimiter))
    for index, row in enumerate(rows[:_HEADER_SEARCH]):
        columns = _columns_from_header(row, mapping)
        if columns is not None:
            return _Layout(delimiter, index, columns, [c.strip() for c in row])
    by_number = {k: v for k, v in mapping.items() if k.isdigit()}
    if by_number and len(by_number) == len(mapping):
        columns = {target: int(col) - 1 for col, target in by_number.items() if target != "ignore"}
        if _has_date_and_amount(columns):
            width = max(len(r) for r in rows) if rows else 0
            return _Layout(delimiter, None, columns, [f"column {i + 1}" for i in range(width)])
    seen = next((r for r in rows if len(r) > 1), rows[0] if rows else [])
    raise ImportRejected(
        f"{filename}: no header row with a date and an amount column in the first "
        f"{_HEADER_SEARCH} lines (first columns seen: {', '.join(seen[:10]) or 'none'}); "
        "name them with --map COLUMN=date --map COLUMN=amount"
    )


def _sniff_delimiter(lines: list[str]) -> str:
    """The delimiter under which the most cells line up in rows of equal width.

    Scored as (lines sharing a width) x width, so a preamble of two-cell lines cannot
    outvote the data rows, and a decimal comma inside ``;`` files does not make ``,`` win.
    """
    best, best_score = ",", 0
    for delimiter in _DELIMITERS:
        widths = Counter(len(row) for row in csv.reader(lines, delimiter=delimiter) if row)
        score = max((count * width for width, count in widths.items() if width > 1), default=0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _normalise_header(name: str) -> str:
    """``" Betrag (€) "`` -> ``"betrag"``; ``"Trans. Date"`` -> ``"trans date"``."""
    name = re.sub(r"[(\[].*?[)\]]", " ", name.strip().strip('"').casefold())
    return " ".join(name.replace("_", " ").replace(".", "").split()).rstrip(":")


def _columns_from_header(row: Sequence[str], mapping: Mapping[str, str]) -> dict[str, int] | None:
    """The field -> column map for ``row`` if it is a header, else ``None``.

    A header must name at least one column itself (a known name or a ``--map`` by name):
    mappings by column number alone fit any row, data rows included.
    """
    names = [_normalise_header(cell) for cell in row]
    columns: dict[str, int] = {}
    overridden: set[int] = set()
    named = 0
    for column, target in mapping.items():
        index = int(column) - 1 if column.isdigit() else _index_of(names, _normalise_header(column))
        if index is None or index >= len(row):
            return None
        named += not column.isdigit()
        overridden.add(index)
        if target != "ignore":
            columns[target] = index
    for target in _FIELD_ORDER:
        if target in columns:
            continue
        used = overridden | set(columns.values())
        free = {name: i for i, name in reversed(list(enumerate(names))) if i not in used}
        index = next((free[s] for s in HEADER_SYNONYMS[target] if s in free), None)
        if index is not None:
            columns[target] = index
            named += 1
    if not named:
        return None
    if "amount" in columns:
        columns.pop("debit", None)
        columns.pop("credit", None)
    else:
        columns.pop("direction", None)  # an indicator only qualifies a single amount column
    if "payee" not in columns and "memo" in columns:
        columns["payee"] = columns.pop("memo")
    return columns if _has_date_and_amount(columns) else None


def _index_of(names: list[str], name: str) -> int | None:
    return names.index(name) if name in names else None


def _has_date_and_amount(columns: Mapping[str, int]) -> bool:
    return "date" in columns and bool({"amount", "debit", "credit"} & columns.keys())


# ---------------------------------------------------------------- records


def _read_records(
    text: str, lines: list[str], layout: _Layout, filename: str, limits: ImportLimits
) -> list[tuple[int, tuple[str, ...]]]:
    """(line number, cells) of every non-blank data row, with the line each row starts on."""
    skip = 0 if layout.header_line is None else layout.header_line + 1
    offset = sum(len(line) + 1 for line in lines[:skip])
    reader = csv.reader(io.StringIO(text[offset:]), delimiter=layout.delimiter)
    records: list[tuple[int, tuple[str, ...]]] = []
    previous = 0
    try:
        for row in reader:
            start, previous = skip + previous + 1, reader.line_num
            if not "".join(row).strip():
                continue
            records.append((start, tuple(row)))  # tuples of str: untracked by the GC
            if len(records) > limits.max_rows:
                raise ImportRejected(
                    f"{filename} has more than {limits.max_rows:,} rows; split it into "
                    "smaller files"
                )
    except csv.Error as exc:
        raise ImportRejected(f"{filename}, line {skip + reader.line_num}: {exc}") from exc
    return records


def _row_parser(
    records: list[tuple[int, tuple[str, ...]]],
    date_cells: list[str],
    layout: _Layout,
    currency: str,
    options: CsvOptions,
    parsed: ParsedFile,
    limits: ImportLimits,
) -> RowParser:
    """The parser of this file's rows: date format and decimal separator decided from
    whole columns (noted in ``parsed``)."""
    cols = layout.columns
    names = layout.names
    date_col = cols["date"]
    if options.date_format:
        date_fmt = options.date_format
    else:
        try:
            choice = detect_date_format(date_cells, month_first_hint=currency == "USD")
        except ValueProblem as exc:
            raise ImportRejected(f"column {names[date_col]!r}: {exc}") from exc
        date_fmt = choice.fmt
        if choice.note:
            parsed.notes.append(choice.note)
    amount_cols = [cols[f] for f in ("amount", "debit", "credit") if f in cols]
    decimal = detect_decimal_separator(
        (cell_at(r, c) for _, r in records[:5000] for c in amount_cols),
        default="," if layout.delimiter == ";" else ".",
    )
    parsed.details["date format"] = date_fmt
    parsed.details["decimal separator"] = decimal
    return RowParser(layout.columns, layout.names, currency=currency, negate=options.negate,
                     date_fmt=date_fmt, decimal=decimal, limits=limits)
