"""``account_month_totals`` stays exact whatever writes the rows, and balances built on it
equal a plain sum over the rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, text, update
from sqlalchemy.orm import Session

from ledger import queries as q
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import Account, AccountKind, ImportBatch, Transaction
from ledger.users import add_account, create_user

D = dt.date


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = str(tmp_path / "totals.db") if request.param == "sqlite" else request.getfixturevalue(
        "pg_url")
    engine = make_engine(url)
    create_schema(engine)
    yield engine
    engine.dispose()


def totals_drift(engine: Engine) -> list[tuple]:
    """Rows where the stored totals differ from a GROUP BY over the transactions."""
    month = "substr(CAST(date AS TEXT), 1, 7)"
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"""
            SELECT r.account_id, r.month, r.s, r.n, m.amount, m.tx_count
            FROM (SELECT account_id, {month} AS month, sum(amount) AS s, count(*) AS n
                  FROM transactions GROUP BY account_id, {month}) r
            LEFT JOIN account_month_totals m
              ON m.account_id = r.account_id AND m.month = r.month
            WHERE m.amount IS NULL OR m.amount != r.s OR m.tx_count != r.n
            UNION ALL
            SELECT m.account_id, m.month, NULL, NULL, m.amount, m.tx_count
            FROM account_month_totals m
            WHERE m.tx_count != 0 AND NOT EXISTS (
                SELECT 1 FROM transactions t
                WHERE t.account_id = m.account_id AND {month.replace('date', 't.date')} = m.month)
            """))]


def plain_balance(engine: Engine, account_id: int, as_of: dt.date) -> Decimal:
    """Opening balance plus every row up to the day; zero before the account opened."""
    if as_of < D(2025, 1, 1):
        return Decimal("0.00")
    with engine.connect() as conn:
        cents = conn.execute(text(
            "SELECT a.opening_balance + coalesce(sum(t.amount), 0) FROM accounts a "
            "LEFT JOIN transactions t ON t.account_id = a.id AND t.date <= :day "
            "WHERE a.id = :id GROUP BY a.opening_balance"), {"day": as_of, "id": account_id}
        ).scalar_one()
    return Decimal(int(cents)) / 100


def seed(session: Session) -> tuple[int, int, int]:
    user = create_user(session, "dora", opened_on=D(2025, 1, 1))
    checking = session.query(Account).filter_by(user_id=user.id).one()
    checking.opening_balance = Decimal("50.00")
    card = add_account(session, user, "Card", kind=AccountKind.CREDIT_CARD, currency="EUR",
                       opened_on=D(2025, 1, 1))
    days = [D(2025, 1, 31), D(2025, 2, 1), D(2025, 2, 14), D(2025, 3, 3), D(2025, 3, 31)]
    for n, day in enumerate(days):
        session.add(Transaction(user_id=user.id, account_id=checking.id, date=day,
                                amount=Decimal(f"-{n + 1}.25"), currency="EUR", payee="Shop"))
    session.commit()
    return user.id, checking.id, card.id


def test_every_kind_of_write_keeps_the_totals_exact(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions() as session:
        user_id, checking, card = seed(session)
    assert totals_drift(engine) == []
    table = Transaction.__table__
    with engine.begin() as conn:  # bulk Core insert, as importers and the demo do
        conn.execute(insert(table), [
            {"user_id": user_id, "account_id": card, "date": D(2025, 2, day),
             "amount": Decimal("-10.00"), "currency": "EUR", "payee": "Bulk",
             "is_transfer": False} for day in (1, 2, 28)])
    assert totals_drift(engine) == []
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.payee == "Bulk", table.c.date == D(2025, 2, 28))
                     .values(amount=Decimal("-99.99"), date=D(2025, 4, 2)))
        conn.execute(update(table).where(table.c.amount == Decimal("-2.25"))
                     .values(account_id=card))
        conn.execute(update(table).where(table.c.payee == "Shop").values(memo="untouched"))
        conn.execute(update(table).where(table.c.payee == "Bulk")  # several rows, two months
                     .values(amount=table.c.amount * 2, date=D(2025, 3, 15)))
    assert totals_drift(engine) == []
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.date == D(2025, 3, 3)))
    assert totals_drift(engine) == []
    for as_of in (D(2024, 12, 31), D(2025, 1, 31), D(2025, 2, 13), D(2025, 3, 31),
                  D(2025, 4, 1), D(2026, 1, 1)):
        with sessions() as session:
            got = {b.account_id: b.balance for b in q.balances(session, user_id, as_of=as_of)}
        assert got == {a: plain_balance(engine, a, as_of) for a in (checking, card)}, as_of


def test_cascaded_deletes_keep_the_totals_exact(engine: Engine) -> None:
    """Undoing an import deletes its rows through ON DELETE CASCADE: triggers still fire."""
    sessions = session_factory(engine)
    with sessions() as session:
        user_id, checking, _ = seed(session)
        batch = ImportBatch(user_id=user_id, account_id=checking, filename="x.csv",
                            file_sha256="0" * 64, file_format="csv")
        session.add(batch)
        session.flush()
        session.add_all(Transaction(user_id=user_id, account_id=checking, date=D(2025, 2, day),
                                    amount=Decimal("-7.00"), currency="EUR", payee="Imported",
                                    import_id=batch.id) for day in (3, 4))
        session.commit()
        batch_id = batch.id
    with engine.begin() as conn:
        conn.execute(delete(ImportBatch.__table__).where(ImportBatch.__table__.c.id == batch_id))
    assert totals_drift(engine) == []
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM transactions WHERE payee = 'Imported'"))
        assert left.scalar_one() == 0


_ROW_LEVEL_TRIGGER = """
CREATE FUNCTION account_month_totals_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE account_month_totals SET amount = amount - OLD.amount, tx_count = tx_count - 1
        WHERE account_id = OLD.account_id AND month = to_char(OLD.date, 'YYYY-MM');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO account_month_totals AS t (account_id, month, amount, tx_count)
        VALUES (NEW.account_id, to_char(NEW.date, 'YYYY-MM'), NEW.amount, 1)
        ON CONFLICT (account_id, month) DO UPDATE
        SET amount = t.amount + EXCLUDED.amount, tx_count = t.tx_count + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER trg_tx_totals AFTER INSERT OR DELETE OR UPDATE OF account_id, date, amount
ON transactions FOR EACH ROW EXECUTE FUNCTION account_month_totals_sync();
"""
"""The trigger of PostgreSQL ledgers made before the statement-level ones, as it was."""


def test_an_older_postgresql_ledger_gets_the_statement_level_triggers(pg_url: str) -> None:
    engine = make_engine(pg_url)
    create_schema(engine)
    with engine.begin() as conn:  # make it look like a ledger of the previous version
        for name in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER trg_tx_totals_{name} ON transactions")
        conn.exec_driver_sql(_ROW_LEVEL_TRIGGER)
    sessions = session_factory(engine)
    with sessions() as session:
        seed(session)  # written by the old trigger

    create_schema(engine)  # as every command does on start

    with engine.connect() as conn:
        triggers = conn.execute(text(
            "SELECT tgname, tgtype & 1 FROM pg_trigger WHERE tgrelid = 'transactions'::regclass "
            "AND tgname LIKE 'trg_tx_totals%' ORDER BY tgname")).all()
    assert [tuple(t) for t in triggers] == [  # bit 0 of tgtype: row-level
        ("trg_tx_totals_delete", 0), ("trg_tx_totals_insert", 0), ("trg_tx_totals_update", 0)]
    with engine.begin() as conn:
        conn.execute(delete(Transaction.__table__).where(Transaction.__table__.c.amount
                                                         == Decimal("-3.25")))
        conn.execute(update(Transaction.__table__).values(amount=Transaction.__table__.c.amount
                                                          - Decimal("1.00")))
    assert totals_drift(engine) == []
    create_schema(engine)  # nothing left to replace: a no-op
    engine.dispose()
