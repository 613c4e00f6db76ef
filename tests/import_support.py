"""Shared by the import tests: a fresh writable ledger and a plain-SQL view of its rows.

The oracle reads with hand-written SQL (``stored``), never through the importer's code, so
the tests compare what landed in the database with values written down from the fixtures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from ledger.crypto import decrypt_stored
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import AccountKind
from ledger.users import add_account, create_user

DATA = Path(__file__).parent / "data" / "imports"


@dataclass(frozen=True)
class Ledger:
    """alice: GBP "Checking", USD "US Checking" (number ...4567), EUR "Giro", USD "Card"
    (credit card ...4821). bob: GBP "Checking" only."""

    engine: Engine
    sessions: sessionmaker[Session]
    alice: int
    bob: int
    model_dir: Path

    def stored(self, account: str | None = None, user: int | None = None) -> list[tuple]:
        """(date, amount, payee, memo, source_id, category, import_id) in insertion order."""
        sql = (
            "SELECT t.date, t.amount, t.payee, t.memo, t.source_id, c.name, t.import_id "
            "FROM transactions t JOIN accounts a ON a.id = t.account_id "
            "LEFT JOIN categories c ON c.id = t.category_id WHERE t.user_id = :user"
        )
        params: dict[str, object] = {"user": self.alice if user is None else user}
        if account is not None:
            sql += " AND a.name = :account"
            params["account"] = account
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql + " ORDER BY t.id"), params).all()
        backend = self.engine.dialect.name
        return [
            (_date(d), Decimal(cents) / 100, payee,
             decrypt_stored(memo, "transactions.memo", backend=backend), source, category, batch)
            for d, cents, payee, memo, source, category, batch in rows
        ]

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@contextmanager
def open_ledger(url: str, model_dir: Path) -> Iterator[Ledger]:
    """A new ledger at ``url`` (a SQLite path or a PostgreSQL URL) with alice and bob."""
    engine = make_engine(url)
    create_schema(engine)
    sessions = session_factory(engine)
    opened = dt.date(2020, 1, 1)
    with sessions.begin() as session:
        alice = create_user(session, "alice", currency="GBP", opened_on=opened)
        add_account(session, alice, "US Checking", kind=AccountKind.CHECKING, currency="USD",
                    opened_on=opened, number_last4="4567")
        add_account(session, alice, "Giro", kind=AccountKind.CHECKING, currency="EUR",
                    opened_on=opened)
        add_account(session, alice, "Card", kind=AccountKind.CREDIT_CARD, currency="USD",
                    opened_on=opened, number_last4="4821")
        bob = create_user(session, "bob", currency="GBP", opened_on=opened)
        ids = alice.id, bob.id
    try:
        yield Ledger(engine, sessions, ids[0], ids[1], model_dir)
    finally:
        engine.dispose()
