"""The bulk write path of an import: many rows per statement, derived totals, stable ids.

Expected values come from the generator's own integers and from ``hashlib``, never from the
importer's code; the stored rows are read back with plain SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

from import_support import Ledger, open_ledger
from sqlalchemy import event, text

from ledger.importing import ImportOptions, add_transaction, import_bytes, undo_import
from ledger.importing.bulk import insert_columns
from ledger.models import Transaction

ROWS = 2_345
"""More than two statements' worth (a thousand rows each), with a remainder."""


def _statement(rows: int) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """A CSV over January to April 2026, and per month the (cents, count) it holds."""
    lines = ["Date,Description,Amount"]
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i in range(rows):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i * 119 // rows)
        cents = -(i * 7919 % 20_000 + 1) if i % 10 else i * 13 + 100_000
        lines.append(f"{day:%d/%m/%Y},SHOP {i % 37},{cents / 100:.2f}")
        expected[f"{day:%Y-%m}"][0] += cents
        expected[f"{day:%Y-%m}"][1] += 1
    return "\n".join(lines).encode(), {k: (v[0], v[1]) for k, v in expected.items()}


def _month_totals(ledger: Ledger, account: str) -> dict[str, tuple[int, int]]:
    """``account_month_totals`` of one of alice's accounts, months with rows only."""
    with ledger.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT m.month, m.amount, m.tx_count FROM account_month_totals m "
            "JOIN accounts a ON a.id = m.account_id WHERE a.name = :name AND a.user_id = :user "
            "AND m.tx_count != 0"), {"name": account, "user": ledger.alice}).all()
    return {month: (int(cents), int(count)) for month, cents, count in rows}


def _row_totals(ledger: Ledger, account: str) -> dict[str, tuple[int, int]]:
    """The same, summed from the transactions themselves."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for day, amount, *_ in ledger.stored(account):
        totals[f"{day:%Y-%m}"][0] += int(amount * 100)
        totals[f"{day:%Y-%m}"][1] += 1
    return {k: (v[0], v[1]) for k, v in totals.items()}


def test_an_import_keeps_the_monthly_totals_exact(any_ledger: Ledger) -> None:
    ledger = any_ledger
    for day, amount in (("2026-02-10", "-1234.56"), ("2026-05-01", "-0.07")):
        add_transaction(ledger.sessions, user_id=ledger.alice, account="Checking", date=day,
                        amount=amount, payee="Landlord", auto_categorise=False)
    manual = {"2026-02": (-123_456, 1), "2026-05": (-7, 1)}
    data, imported = _statement(ROWS)

    report = import_bytes(ledger.sessions, data, filename="big.csv", user_id=ledger.alice,
                          account="Checking", options=ImportOptions(model_dir=ledger.model_dir))

    assert report.rows_added == ROWS
    expected = {month: (imported.get(month, (0, 0))[0] + manual.get(month, (0, 0))[0],
                        imported.get(month, (0, 0))[1] + manual.get(month, (0, 0))[1])
                for month in imported.keys() | manual.keys()}
    assert _row_totals(ledger, "Checking") == expected
    assert _month_totals(ledger, "Checking") == expected
    assert undo_import(ledger.sessions, user_id=ledger.alice, batch_id=report.batch_id) == ROWS
    assert _month_totals(ledger, "Checking") == manual


def test_rows_are_stored_oldest_first_across_statements(any_ledger: Ledger) -> None:
    """A newest-first export is stored oldest first; its ids do not depend on the order, so
    the same rows oldest first are all duplicates."""
    ledger = any_ledger
    data, _ = _statement(ROWS)
    header, *lines = data.decode().splitlines()
    newest_first = "\n".join([header, *reversed(lines)]).encode()
    options = ImportOptions(model_dir=ledger.model_dir)
    import_bytes(ledger.sessions, newest_first, filename="new.csv", user_id=ledger.alice,
                 account="Checking", options=options)
    stored = ledger.stored("Checking")
    assert [f"{d:%d/%m/%Y},{p.upper()},{amount:.2f}" for d, amount, p, *_ in stored] == lines
    again = import_bytes(ledger.sessions, data, filename="old.csv", user_id=ledger.alice,
                         account="Checking", options=options)
    assert (again.rows_added, again.rows_duplicate) == (0, ROWS)


def test_sqlite_parameter_limit_is_respected(tmp_path: Path) -> None:
    """SQLite before 3.32 allows 999 parameters per statement; fewer rows go per statement."""
    with open_ledger(str(tmp_path / "ledger.db"), tmp_path / "models") as ledger:
        def low_limit(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 60)

        event.listen(ledger.engine, "connect", low_limit)
        ledger.engine.dispose()  # new connections get the limit
        data, imported = _statement(100)
        report = import_bytes(ledger.sessions, data, filename="f.csv", user_id=ledger.alice,
                              account="Checking",
                              options=ImportOptions(model_dir=ledger.model_dir))
        assert report.rows_added == 100
        assert _month_totals(ledger, "Checking") == imported


_COLUMNS = ("date", "amount", "payee", "memo", "category_id", "source_id", "user_id",
            "account_id", "currency", "is_transfer", "import_id")


def test_equal_values_convert_to_the_same_cents(any_ledger: Ledger) -> None:
    """Conversions are memoised per value: 1.5 and 1.50 are equal Decimals, both 150 cents."""
    ledger = any_ledger
    with ledger.engine.begin() as conn:
        account_id = conn.execute(text(
            "SELECT id FROM accounts WHERE user_id = :u AND name = 'Checking'"),
            {"u": ledger.alice}).scalar_one()
        rows = [(dt.date(2026, 3, 1), Decimal(value), "x", None, None, f"id{i}", ledger.alice,
                 account_id, "GBP", False, None)
                for i, value in enumerate(["1.5", "1.50", "-0.10", "-0.1", "0", "-0.00"])]
        insert_columns(conn, Transaction.__table__, _COLUMNS, [list(zip(*rows, strict=True))])
        cents = conn.execute(text(
            "SELECT amount FROM transactions ORDER BY source_id")).scalars().all()
    assert cents == [150, 150, -10, -10, 0, 0]


def test_hashed_source_ids_are_stable(any_ledger: Ledger) -> None:
    """The id of a row without a bank id is a published formula: changing it would make every
    earlier import's rows come back as new ones on the next overlapping import."""
    ledger = any_ledger
    data = b"Date,Description,Amount\n03/10/2026,TESCO  Stores 3297,-23.45\n" \
           b"03/10/2026,tesco stores 3297,-23.45\n"
    import_bytes(ledger.sessions, data, filename="f.csv", user_id=ledger.alice,
                 account="Checking", options=ImportOptions(model_dir=ledger.model_dir))
    with ledger.engine.connect() as conn:
        account_id = conn.execute(text(
            "SELECT id FROM accounts WHERE user_id = :u AND name = 'Checking'"),
            {"u": ledger.alice}).scalar_one()

    def expected(occurrence: int) -> str:
        key = f"{account_id}|2026-10-03|-23.45|tesco stores 3297|{occurrence}"
        return "h:20261003:" + hashlib.sha256(key.encode()).hexdigest()[:32]

    stored = Counter(row[4] for row in ledger.stored("Checking"))
    assert stored == Counter([expected(0), expected(1)])


def test_deleting_a_row_finds_the_rows_pointing_at_it_by_index(tmp_path: Path) -> None:
    """``transfer_id``'s ON DELETE SET NULL looks up, for every deleted row, the rows whose
    transfer_id is its id; without an index, undoing an import scanned the table per row."""
    with open_ledger(str(tmp_path / "ledger.db"), tmp_path / "models") as ledger, \
            ledger.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT 1 FROM transactions WHERE transfer_id = 1").all()
    assert "INDEX ix_tx_transfer" in plan[0][-1], plan


def test_deleting_a_transfer_leg_unlinks_the_other(any_ledger: Ledger) -> None:
    """The partial index leaves the foreign key's behaviour as it was, on both databases."""
    ledger = any_ledger
    with ledger.engine.begin() as conn:
        account_id = conn.execute(text(
            "SELECT id FROM accounts WHERE user_id = :u AND name = 'Checking'"),
            {"u": ledger.alice}).scalar_one()
        rows = [(dt.date(2026, 3, 1), Decimal(value), "Savings", None, None, f"leg{i}",
                 ledger.alice, account_id, "GBP", True, None)
                for i, value in enumerate(["-50.00", "50.00"])]
        insert_columns(conn, Transaction.__table__, _COLUMNS, [list(zip(*rows, strict=True))])
        first, second = conn.execute(text(
            "SELECT id FROM transactions ORDER BY source_id")).scalars().all()
        conn.execute(text("UPDATE transactions SET transfer_id = :a WHERE id = :b"),
                     {"a": first, "b": second})
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM transactions WHERE id = :a"), {"a": first})
        left = conn.execute(text("SELECT id, transfer_id FROM transactions")).all()
    assert [tuple(row) for row in left] == [(second, None)]
