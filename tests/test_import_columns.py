"""The import pipeline's column-at-a-time steps against their row-at-a-time definitions.

Each fast path (parsing a batch a column at a time, hashing source ids, encrypting memos,
converting amounts to cents, dropping scattered indexes) is checked against the slow,
obviously right version on generated data: random layouts and values from a seeded
generator, ids from ``hashlib`` and the published formula, cents from ``to_cents``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from import_support import Ledger
from sqlalchemy import text

from ledger.crypto import KeyRing, generate_key
from ledger.importing import ImportOptions, ImportRejected, import_bytes
from ledger.importing.bulk import indexes_built_after
from ledger.importing.csv_reader import CsvFile, CsvOptions, read_csv
from ledger.importing.dedupe import Deduplicator
from ledger.importing.normalise import payee_key
from ledger.importing.records import ImportLimits, ParsedRow, RowBatch
from ledger.models import Transaction
from ledger.money import Cents, to_cents

_PAYEES = ["TESCO STORES 3297", "tesco stores 3297", "AMZN Mktp UK*2K4", "=HYPERLINK(x)",
           "SQ *BLUE BOTTLE", "", "Caf\u00e9 Nero", "  SPACED  ", "@SUM(A1)", "x" * 30]
_MEMOS = ["", "", "CONTACTLESS", "REF 123", "-minus", "tab\there", "y" * 40, "line"]


def _amount(rng: random.Random, decimal: str) -> str:
    cents = rng.choice([0, 5, 100, 1250, 99_999, 123_456_789]) * rng.choice([1, -1])
    text_ = f"{abs(cents) // 100}{decimal}{abs(cents) % 100:02d}"
    return ("-" if cents < 0 else "") + text_ if rng.random() < 0.9 else f"{cents}"


def _file(rng: random.Random, layout: str, rows: int) -> bytes:
    """A CSV of ``layout`` ("amount", "comma", "debit_credit", "currency_id") with random,
    often repeated, cells; a few rows are broken when ``layout`` ends with "!", rows are one
    cell longer or shorter than the header when it ends with "~"."""
    broken, ragged = layout.endswith("!"), layout.endswith("~")
    layout = layout.rstrip("!~")
    header = {
        "amount": "Date,Description,Amount,Memo",
        "comma": "Datum;Empfänger;Betrag;Verwendungszweck",
        "debit_credit": "Date,Description,Paid out,Paid in,Memo",
        "currency_id": "Date,Description,Amount,Currency,Transaction ID,Memo",
    }[layout]
    lines = [header]
    for i in range(rows):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 60))
        payee, memo = rng.choice(_PAYEES), rng.choice(_MEMOS)
        if layout == "comma":
            lines.append(f"{day:%d.%m.%Y};{payee};{_amount(rng, ',')};{memo}")
        elif layout == "debit_credit":
            value = _amount(rng, ".").lstrip("-")
            out, into = (value, "") if rng.random() < 0.8 else ("", value)
            lines.append(f"{day:%d/%m/%Y},{payee},{out},{into},{memo}")
        else:
            amount = _amount(rng, ".")
            if layout == "amount":
                lines.append(f"{day:%Y-%m-%d},{payee},{amount},{memo}")
            else:
                ident = rng.choice(["", f"T{rng.randint(1, 40)}"])
                lines.append(f"{day:%Y-%m-%d},{payee},{amount},GBP,{ident},{memo}")
        if broken and i % 97 == 5:
            lines[-1] = lines[-1].replace("2026", "20x6", 1)
        if ragged and i % 5 == 1:
            lines[-1] += ","  # a trailing delimiter: an empty cell beyond the header
        if ragged and i % 7 == 2 and lines[-1].endswith(","):
            lines[-1] = lines[-1][:-1]  # the memo cell left out
    return "\n".join(lines).encode()


@pytest.mark.parametrize("layout", ["amount", "comma", "debit_credit", "currency_id",
                                    "amount!", "amount~", "debit_credit~"])
@pytest.mark.parametrize("negate", [False, True])
def test_a_batch_parsed_a_column_at_a_time_equals_the_rows_parsed_one_by_one(
        layout: str, negate: bool) -> None:
    rng = random.Random(f"{layout}{negate}")
    data = _file(rng, layout, 600)
    parsed = read_csv(data, filename="f.csv", currency="GBP",
                      options=CsvOptions(negate=negate), limits=ImportLimits(), lazy=True)
    assert isinstance(parsed, CsvFile) and parsed.parser is not None
    records = list(parsed.pending or [])
    parser = parsed.parser

    batch, errors = parser.parse_many(records)
    one_by_one, expected_errors = [], []
    for line, row in records:
        try:
            one_by_one.append(parser.parse(line, row))
        except Exception as exc:
            expected_errors.append((line, str(exc)))

    assert batch.rows() == one_by_one
    assert [(e.line, e.message) for e in errors] == expected_errors
    assert [str(a) for a in batch.amounts] == [str(r.amount) for r in one_by_one]
    assert bool(errors) == layout.endswith("!")
    column_wise = parser._parse_columns(records)
    assert (column_wise is None) == layout.endswith("!")  # the fast path was the one tested


def test_a_lazy_file_gives_the_eager_rows_in_batches_and_reversed() -> None:
    data = _file(random.Random(7), "amount!", 1000)
    options = {"filename": "f.csv", "currency": "GBP", "options": CsvOptions(),
               "limits": ImportLimits()}
    eager = read_csv(data, **options)
    lazy = read_csv(data, lazy=True, **options)
    backwards = read_csv(data, lazy=True, **options)

    assert [r for b in lazy.batches(64) for r in b.rows()] == eager.rows
    assert [r for b in backwards.batches(100, reverse=True) for r in b.rows()] == \
        eager.rows[::-1]
    assert lazy.errors == backwards.errors == eager.errors  # reported in line order
    assert lazy.rows_read == eager.rows_read == 1000


def _reference_ids(account_id: int, rows: list[ParsedRow]) -> list[str]:
    """The published formula, row by row: occurrences count equal (date, amount, payee)."""
    seen: Counter[tuple[dt.date, Decimal, str]] = Counter()
    ids = []
    for row in rows:
        content = (row.date, row.amount, payee_key(row.payee_raw))
        key = f"{account_id}|{row.date:%Y-%m-%d}|{row.amount}|{content[2]}|{seen[content]}"
        seen[content] += 1
        ids.append(f"h:{row.date:%Y%m%d}:" + hashlib.sha256(key.encode()).hexdigest()[:32])
    return ids


def _deduplicator(account_id: int) -> Deduplicator:
    """A de-duplicator of an empty account, made without a database."""
    fresh = Deduplicator.__new__(Deduplicator)
    fresh.account_id = account_id
    fresh.occurrences = defaultdict(int)
    fresh.bank_seen = {}
    return fresh


@pytest.mark.parametrize("size", [1, 7, 250, 5000])
def test_source_ids_follow_the_formula_whatever_the_batch_size(size: int) -> None:
    rng = random.Random(11)
    rows = [ParsedRow(i, dt.date(2026, 3, rng.randint(1, 3)),
                      Decimal(rng.choice(["-1.00", "4.50", "0.00", "-0.00"])),
                      rng.choice(["Cafe", "CAFE ", "cafe", "Bar"]), "x", None, None)
            for i in range(3000)]
    deduplicator = _deduplicator(42)

    ids = [sid for start in range(0, len(rows), size)
           for sid in deduplicator.source_ids(RowBatch.of(rows[start:start + size]))]

    assert ids == _reference_ids(42, rows)
    assert len(set(ids)) == len(ids)


def test_bank_ids_and_hashes_mixed_in_one_file() -> None:
    day, amount = dt.date(2026, 3, 1), Decimal("-2.00")
    rows = [ParsedRow(1, day, amount, "Cafe", "Cafe", None, None),
            ParsedRow(2, day, amount, "Cafe", "Cafe", None, "B1"),
            ParsedRow(3, day, amount, "Cafe", "Cafe", None, "B1"),  # same id, same content
            ParsedRow(4, day, Decimal("-3.00"), "Cafe", "Cafe", None, "B1"),  # reused id
            ParsedRow(5, day, amount, "cafe", "Cafe", None, None)]
    ids = _deduplicator(5).source_ids(RowBatch.of(rows))
    hashed = _reference_ids(5, [rows[0], rows[4]])
    assert ids == [hashed[0], "B1", None, "B1#2", hashed[1]]


def test_memos_encrypted_in_bulk_decrypt_each_to_its_own_value() -> None:
    ring = KeyRing.from_base64(generate_key())
    values = ["CONTACTLESS", None, "", "CONTACTLESS", "caf\u00e9 \u20ac 12", "x" * 500]

    stored = ring.encrypt_many(values, "transactions.memo")

    assert stored[1] is None and stored[2] == ""
    sealed = [s for s in stored if s]
    assert len(set(sealed)) == 4  # equal memos, different nonces
    assert [ring.decrypt(s, "transactions.memo") for s in sealed] == \
        ["CONTACTLESS", "CONTACTLESS", "caf\u00e9 \u20ac 12", "x" * 500]
    with pytest.raises(Exception, match="does not decrypt"):
        ring.decrypt(sealed[0], "feedback.comment")  # bound to its column


def test_cents_in_bulk_are_the_cents_of_each_value() -> None:
    values = [Decimal(v) for v in ["1.5", "-0.005", "0.015", "-2.675", "12345678901.99",
                                   "-0.00", "0.004999", "7"]]
    assert Cents().bind_many(values, None) == [to_cents(v) for v in values]
    assert Cents().bind_many([Decimal("1.00"), None, 3, "4.5"], None) == [100, None, 300, 450]


def test_only_indexes_reached_at_scattered_places_are_dropped(ledger: Ledger) -> None:
    def indexes(conn: object) -> set[str]:
        return set(conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name = 'transactions'").scalars())

    constant = ("user_id", "account_id", "currency", "is_transfer", "import_id", "transfer_id")
    with ledger.engine.begin() as conn:
        before = indexes(conn)
        with indexes_built_after(conn, Transaction.__table__, adding=1, constant=constant,
                                 ascending=("date",)) as drop:
            assert indexes(conn) == before  # nothing dropped until the first insert
            drop()
            kept = indexes(conn)
        assert indexes(conn) == before
    assert before - kept == {"ix_tx_user_transfer_payee", "ix_tx_user_category_date"}


def _numbered_file(rows: int, bad: set[int], newest_first: bool) -> bytes:
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i // 40) for i in range(rows)]
    if newest_first:
        days.reverse()
    lines = ["Date,Description,Amount"]
    for i, day in enumerate(days):
        amount = "oops" if i + 2 in bad else f"-{i % 500 + 1}.25"
        lines.append(f"{day:%Y-%m-%d},SHOP {i % 300},{amount}")
    return "\n".join(lines).encode()


@pytest.mark.parametrize("newest_first", [False, True])
def test_bad_rows_found_while_storing_reject_the_whole_file(ledger: Ledger,
                                                            newest_first: bool) -> None:
    """Rows are stored while later ones are still being parsed: bad rows in the first and
    the last batch still reject everything, every bad row reported in line order."""
    bad = {40, 6_900}
    data = _numbered_file(7_000, bad, newest_first)
    options = ImportOptions(model_dir=ledger.model_dir)

    with pytest.raises(ImportRejected) as caught:
        import_bytes(ledger.sessions, data, filename="f.csv", user_id=ledger.alice,
                     account="Checking", options=options)

    assert str(caught.value).startswith("f.csv, line 40, Amount: not an amount: 'oops'")
    assert [e.line for e in caught.value.errors] == sorted(bad)
    assert (ledger.count("transactions"), ledger.count("import_batches")) == (0, 0)

    report = import_bytes(ledger.sessions, data, filename="f.csv", user_id=ledger.alice,
                          account="Checking",
                          options=ImportOptions(model_dir=ledger.model_dir, skip_invalid=True))
    assert (report.rows_added, report.rows_invalid) == (6_998, 2)
    assert [e.line for e in report.errors] == sorted(bad)
    stored = ledger.stored("Checking")
    assert [d for d, *_ in stored] == sorted(d for d, *_ in stored)  # oldest first
    with ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT rows_added, rows_invalid FROM import_batches")
                            ).one() == (6_998, 2)
