"""The demo ledger: reproducible to the byte, realistic in shape, scalable, and its CLI."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.demo import demo_command
from ledger.demo import DEMO_FIRST_DATE, DEMO_LAST_DATE, build_demo


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db(demo_db_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{demo_db_path}?mode=ro", uri=True)
    yield conn
    conn.close()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path,
                                                     demo_db_path: Path) -> None:
    again, other = tmp_path / "again.db", tmp_path / "other.db"
    build_demo(str(again))
    build_demo(str(other), seed=8)
    assert sha256(again) == sha256(demo_db_path)
    assert sha256(other) != sha256(demo_db_path)
    assert not Path(f"{again}-wal").exists()


def test_two_users_over_24_months_ending_on_the_demo_day(db: sqlite3.Connection) -> None:
    rows = db.execute(
        "SELECT u.name, min(t.date), max(t.date), count(DISTINCT substr(t.date, 1, 7)), "
        "count(DISTINCT a.id), group_concat(DISTINCT a.currency) FROM users u "
        "JOIN accounts a ON a.user_id = u.id JOIN transactions t ON t.account_id = a.id "
        "GROUP BY u.name ORDER BY u.name").fetchall()
    first, last = DEMO_FIRST_DATE.isoformat(), DEMO_LAST_DATE.isoformat()
    assert rows == [("alice", first, last, 24, 4, "EUR"), ("bob", first, last, 24, 4, "GBP")]
    kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM accounts")}
    assert {"CHECKING", "SAVINGS", "CREDIT_CARD"} < kinds


def test_everyday_life_is_there(db: sqlite3.Connection) -> None:
    used = {name for (name,) in db.execute(
        "SELECT DISTINCT c.name FROM transactions t JOIN categories c ON c.id = t.category_id")}
    assert {"Salary", "Rent", "Groceries", "Dining Out", "Coffee", "Public Transport",
            "Utilities", "Internet", "Subscriptions", "Travel", "Clothing", "Electronics",
            "Interest", "Bank Fees", "Loan Interest", "Other Income", "Sport"} <= used
    uncategorised = db.execute("SELECT count(*) FROM transactions WHERE category_id IS NULL "
                               "AND NOT is_transfer").fetchone()[0]
    assert uncategorised > 0
    refunds = db.execute(
        "SELECT count(*) FROM transactions t JOIN categories c ON c.id = t.category_id "
        "WHERE c.kind = 'EXPENSE' AND t.amount > 0").fetchone()[0]
    assert refunds > 5
    netflix = db.execute(
        "SELECT t.date, -t.amount FROM transactions t JOIN users u ON u.id = t.user_id "
        "WHERE u.name = 'alice' AND t.payee = 'Netflix' ORDER BY t.date").fetchall()
    assert len(netflix) == 24 and netflix[0][1] < netflix[-1][1]  # a price rise
    noisy = db.execute("SELECT count(*) FROM transactions WHERE payee = 'REWE' OR "
                       "payee LIKE 'REWE %'").fetchone()[0]
    clean = db.execute("SELECT count(*) FROM transactions WHERE payee = 'REWE'").fetchone()[0]
    assert 0 < clean < noisy
    budgets = db.execute("SELECT u.name, count(*) FROM budgets b JOIN users u "
                         "ON u.id = b.user_id GROUP BY u.name ORDER BY u.name").fetchall()
    assert budgets == [("alice", 6), ("bob", 5)]


def test_transfers_are_linked_pairs_between_own_accounts(db: sqlite3.Connection) -> None:
    bad = db.execute(
        "SELECT count(*) FROM transactions t LEFT JOIN transactions o ON o.id = t.transfer_id "
        "WHERE t.is_transfer AND (o.id IS NULL OR o.transfer_id != t.id OR NOT o.is_transfer "
        "OR o.amount != -t.amount OR o.date != t.date OR o.user_id != t.user_id "
        "OR o.account_id = t.account_id)").fetchone()[0]
    assert bad == 0
    linked_plain = db.execute("SELECT count(*) FROM transactions WHERE transfer_id IS NOT NULL "
                              "AND NOT is_transfer").fetchone()[0]
    assert linked_plain == 0
    repayments = db.execute(
        "SELECT u.name, count(*) FROM transactions t JOIN accounts a ON a.id = t.account_id "
        "JOIN users u ON u.id = t.user_id WHERE a.kind = 'CREDIT_CARD' AND t.is_transfer "
        "GROUP BY u.name ORDER BY u.name").fetchall()
    assert repayments == [("alice", 23), ("bob", 23)]


def test_rows_have_stable_unique_source_ids_and_pinned_timestamps(
    db: sqlite3.Connection,
) -> None:
    total, distinct = db.execute(
        "SELECT count(*), count(DISTINCT source_id) FROM transactions").fetchone()
    assert total == distinct
    assert db.execute("SELECT source_id FROM transactions WHERE id = 1").fetchone() == (
        "demo:alice:0000001",)
    assert {c for (c,) in db.execute("SELECT created_at FROM users")} == {
        "2024-10-28 09:00:00.000000"}


def test_month_totals_agree_with_the_rows(db: sqlite3.Connection) -> None:
    mismatch = db.execute(
        "SELECT count(*) FROM (SELECT account_id, substr(date, 1, 7) AS month, sum(amount) AS s, "
        "count(*) AS n FROM transactions GROUP BY 1, 2) r LEFT JOIN account_month_totals m "
        "ON m.account_id = r.account_id AND m.month = r.month "
        "WHERE m.amount IS NOT r.s OR m.tx_count IS NOT r.n").fetchone()[0]
    assert mismatch == 0


def test_volume_pads_to_exactly_n(tmp_path: Path) -> None:
    summary = build_demo(str(tmp_path / "big.db"), transactions=6_000, users=3)
    assert summary.transactions == 6_000 and summary.users == ("alice", "bob", "chloe")
    with sqlite3.connect(tmp_path / "big.db") as conn:
        assert conn.execute("SELECT count(*) FROM transactions").fetchone() == (6_000,)
    assert (summary.first_date, summary.last_date) == (DEMO_FIRST_DATE, DEMO_LAST_DATE)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"transactions": 100}, "transactions must be at least"),
    ({"users": 0}, "users must be between 1 and 3"),
    ({"users": 4}, "users must be between 1 and 3"),
])
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_demo(str(tmp_path / "x.db"), **kwargs)
    assert not (tmp_path / "x.db").exists()


def test_a_ledger_with_users_is_never_overwritten_silently(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    build_demo(str(path), users=1)
    with pytest.raises(ValueError, match="already has users"):
        build_demo(str(path))
    assert build_demo(str(path), replace=True, seed=7).users == ("alice", "bob")


def test_postgresql_gets_the_same_rows(pg_url: str, demo_db_path: Path) -> None:
    from sqlalchemy import create_engine, text

    build_demo(pg_url)
    columns = "id, user_id, account_id, date, amount, payee, category_id, transfer_id, source_id"
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        pg_rows = [(*r[:3], r[3].isoformat(), *r[4:])
                   for r in conn.execute(text(f"SELECT {columns} FROM transactions ORDER BY id"))]
        next_id = conn.execute(text("SELECT nextval(pg_get_serial_sequence('transactions', "
                                    "'id'))")).scalar()
    engine.dispose()
    with sqlite3.connect(demo_db_path) as conn:
        sqlite_rows = conn.execute(f"SELECT {columns} FROM transactions ORDER BY id").fetchall()
    assert pg_rows == sqlite_rows
    assert next_id == len(sqlite_rows) + 1  # later inserts do not collide with demo ids


# ---------------------------------------------------------------- finchat demo
def test_cli_builds_refuses_and_replaces(tmp_path: Path) -> None:
    path = str(tmp_path / "cli.db")
    runner = CliRunner()
    built = runner.invoke(demo_command, ["--db", path, "--users", "1"])
    assert built.exit_code == 0, built.output
    assert "1 users (alice)" in built.output and "2024-11-01 to 2026-10-20" in built.output
    before = sha256(Path(path))

    refused = runner.invoke(demo_command, ["--db", path])
    assert refused.exit_code == 1
    assert refused.output == f"Error: {path} already holds a ledger; pass --force to replace it\n"

    bad = runner.invoke(demo_command, ["--db", path, "--force", "--transactions", "10"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1
    assert sha256(Path(path)) == before  # a rejected argument costs no ledger

    replaced = runner.invoke(demo_command, ["--db", path, "--force", "--seed", "3"])
    assert replaced.exit_code == 0 and "2 users (alice, bob)" in replaced.output
    assert sha256(Path(path)) != before


def test_cli_reports_an_unreachable_database_in_one_line() -> None:
    result = CliRunner().invoke(
        demo_command, ["--db", "postgresql+psycopg://postgres@127.0.0.1:9/none"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot build the demo in postgresql")
    assert result.output.count("\n") == 1
