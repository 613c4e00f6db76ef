"""Creating users and their accounts, so every user starts with the same category tree.

A new user gets the default two-level categories of ``ledger.taxonomy`` and one checking
account in their currency: the ledger has no per-user currency column, so the first account
is where the user's currency lives, and imports have an account to land in from the start.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import Account, AccountKind, Category, User
from ledger.money import to_money
from ledger.taxonomy import DEFAULT_CATEGORIES

DEFAULT_ACCOUNT = "Checking"
"""The name of the checking account every new user starts with."""
DEFAULT_CURRENCY = "EUR"
"""A new user's currency unless told otherwise; also reported for a user without accounts."""


def create_user(
    session: Session,
    name: str,
    *,
    currency: str = DEFAULT_CURRENCY,
    opened_on: dt.date | None = None,
    created_at: dt.datetime | None = None,
) -> User:
    """Create ``name`` with the default categories and a ``Checking`` account in ``currency``.

    Args:
        session: the session to add to; the caller commits.
        name: the unique user name (surrounding spaces are dropped).
        currency: ISO 4217 code of the first account.
        opened_on: when the first account was opened (default: ``created_at``'s date or today).
        created_at: an explicit creation time (the demo ledger pins it to stay reproducible);
            ``None`` leaves it to the database clock.

    Raises:
        ValueError: the name is empty or taken, or the currency is not a 3-letter code.
    """
    name = name.strip()
    if not name:
        raise ValueError("a user name must not be empty")
    if get_user_by_name(session, name) is not None:
        raise ValueError(f"a user named {name!r} already exists")
    user = User(name=name)
    if created_at is not None:
        user.created_at = created_at
    session.add(user)
    session.flush()
    _add_default_categories(session, user)
    start = opened_on or (created_at.date() if created_at else dt.date.today())
    add_account(session, user, DEFAULT_ACCOUNT, kind=AccountKind.CHECKING, currency=currency,
                opened_on=start)
    return user


def get_user_by_name(session: Session, name: str) -> User | None:
    """The user called exactly ``name`` (after trimming spaces), or ``None``."""
    return session.scalar(select(User).where(User.name == name.strip()))


def add_account(
    session: Session,
    user: User,
    name: str,
    *,
    kind: AccountKind,
    currency: str,
    opened_on: dt.date,
    opening_balance: Decimal | int | str = Decimal("0.00"),
    institution: str | None = None,
    number_last4: str | None = None,
) -> Account:
    """Add an account to ``user``; names are unique per user, ignoring case.

    Raises:
        ValueError: the name is empty or already used by this user, or the currency is not a
            3-letter code.
    """
    name = name.strip()
    if not name:
        raise ValueError("an account name must not be empty")
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"not a currency code: {currency!r} (expected e.g. EUR)")
    taken = session.scalars(select(Account.name).where(Account.user_id == user.id)).all()
    if name.casefold() in {existing.casefold() for existing in taken}:
        raise ValueError(f"{user.name!r} already has an account named {name!r}")
    account = Account(
        user_id=user.id,
        name=name,
        kind=kind,
        currency=currency,
        opening_balance=to_money(opening_balance),
        opened_on=opened_on,
        institution=institution,
        number_last4=number_last4,
    )
    session.add(account)
    session.flush()
    return account


def _add_default_categories(session: Session, user: User) -> None:
    """The taxonomy's groups, then their children (children inherit the group's kind)."""
    for group_name, (kind, children) in DEFAULT_CATEGORIES.items():
        group = Category(user_id=user.id, name=group_name, kind=kind)
        session.add(group)
        session.flush()
        session.add_all(
            Category(user_id=user.id, name=child, parent_id=group.id, kind=kind)
            for child in children
        )
    session.flush()
