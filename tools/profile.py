"""A summary of one user's ledger that agents need before any tool call.

The offline planner reads names and "today" from it to resolve slots; the system prompt lists
the user's accounts and categories from it; schema export turns it into enums.
"""

from __future__ import annotations

import datetime as dt
from typing import overload

from pydantic import BaseModel
from sqlalchemy.orm import Session

from ledger import queries as q
from ledger.models import User
from ledger.users import DEFAULT_CURRENCY
from tools.base import ToolContext, Vocabulary

TOP_PAYEES = 300


class AccountInfo(BaseModel):
    name: str
    kind: str
    currency: str


class CategoryInfo(BaseModel):
    name: str
    parent: str | None
    kind: str


class UserProfile(BaseModel):
    user_name: str
    today: dt.date
    currency: str
    """The currency of most of the user's accounts."""
    accounts: list[AccountInfo]
    categories: list[CategoryInfo]
    payees: list[str]
    """The user's most frequent payees, most frequent first (at most a few hundred)."""
    budget_categories: list[str]
    first_date: dt.date | None = None
    """The earliest transaction date, for "all time" questions."""

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(
            accounts=tuple(a.name for a in self.accounts),
            categories=tuple(c.name for c in self.categories),
        )


@overload
def load_profile(source: ToolContext) -> UserProfile: ...


@overload
def load_profile(source: Session, user_id: int, today: dt.date) -> UserProfile: ...


def load_profile(
    source: ToolContext | Session, user_id: int | None = None, today: dt.date | None = None
) -> UserProfile:
    """The profile of the context's user (or of ``user_id`` in an open session).

    ``load_profile(ctx)`` opens its own session and takes "today" from the context; callers
    that already hold a session pass it with the user id and the resolved "today".
    """
    if isinstance(source, ToolContext):
        with source.sessions() as session:
            return _build_profile(session, source.user_id, source.today)
    if user_id is None or today is None:
        raise TypeError("load_profile(session, user_id, today) needs all three arguments")
    return _build_profile(source, user_id, today)


def _build_profile(session: Session, user_id: int, today: dt.date) -> UserProfile:
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user with id {user_id}")
    categories = q.categories(session, user_id)
    return UserProfile(
        user_name=user.name,
        today=today,
        currency=q.main_currency(session, user_id) or DEFAULT_CURRENCY,
        accounts=[AccountInfo(name=a.name, kind=a.kind, currency=a.currency)
                  for a in q.accounts(session, user_id)],
        categories=[CategoryInfo(name=c.name, parent=c.parent, kind=c.kind) for c in categories],
        payees=q.top_payees(session, user_id, limit=TOP_PAYEES),
        budget_categories=[b.category for b in q.budgets(session, user_id)],
        first_date=q.first_transaction_date(session, user_id),
    )
