"""A summary of one user's ledger that agents need before any tool call.

The offline planner reads names and "today" from it to resolve slots; the system prompt lists
the user's accounts and categories from it; schema export turns it into enums.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from tools.base import Vocabulary


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
