"""Creating users and accounts: the default category tree, the first account, clear errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.db import create_schema, make_engine, session_factory
from ledger.models import Account, AccountKind, Category, CategoryKind
from ledger.taxonomy import DEFAULT_CATEGORIES
from ledger.users import add_account, create_user, get_user_by_name


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = str(tmp_path / "users.db") if request.param == "sqlite" else request.getfixturevalue(
        "pg_url")
    engine = make_engine(url)
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()


def test_a_new_user_gets_the_taxonomy_and_a_checking_account(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        user = create_user(session, " dora ", currency="GBP", opened_on=dt.date(2025, 1, 2))
        session.commit()
        tree = {(c.name, c.parent.name if c.parent else None, c.kind)
                for c in session.scalars(select(Category).where(Category.user_id == user.id))}
        accounts = session.scalars(select(Account).where(Account.user_id == user.id)).all()
    expected = set()
    for group, (kind, children) in DEFAULT_CATEGORIES.items():
        expected.add((group, None, kind))
        expected |= {(child, group, kind) for child in children}
    assert tree == expected
    assert ("Salary", "Income", CategoryKind.INCOME) in tree
    assert [(a.name, a.kind, a.currency, a.opened_on) for a in accounts] == [
        ("Checking", AccountKind.CHECKING, "GBP", dt.date(2025, 1, 2))]
    assert user.name == "dora"


def test_names_are_unique_and_looked_up_exactly(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        create_user(session, "dora")
        with pytest.raises(ValueError, match="already exists"):
            create_user(session, "dora")
        with pytest.raises(ValueError, match="must not be empty"):
            create_user(session, "   ")
        session.commit()
        found = get_user_by_name(session, " dora")
        assert found is not None and found.name == "dora"
        assert get_user_by_name(session, "Dora") is None


def test_account_names_are_unique_per_user_ignoring_case(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        dora, eli = create_user(session, "dora"), create_user(session, "eli")
        day = dt.date(2025, 1, 1)
        add_account(session, dora, "Savings", kind=AccountKind.SAVINGS, currency="eur",
                    opened_on=day, opening_balance="100.10")
        add_account(session, eli, "Savings", kind=AccountKind.SAVINGS, currency="EUR",
                    opened_on=day)  # another user's name is no conflict
        with pytest.raises(ValueError, match="already has an account named 'SAVINGS'"):
            add_account(session, dora, "SAVINGS", kind=AccountKind.SAVINGS, currency="EUR",
                        opened_on=day)
        with pytest.raises(ValueError, match="not a currency code"):
            add_account(session, dora, "Card", kind=AccountKind.CREDIT_CARD, currency="EURO",
                        opened_on=day)
        session.commit()
        saved = session.scalars(select(Account).where(Account.user_id == dora.id,
                                                      Account.name == "Savings")).one()
    assert (saved.currency, str(saved.opening_balance)) == ("EUR", "100.10")
