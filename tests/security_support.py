"""Ledgers for the security tests: every table filled for a user, on SQLite or PostgreSQL.

``fill_user`` gives one user a row in every table the schema has (accounts, an encrypted
IBAN, transactions, a budget, a rule, an import, a conversation with messages, feedback, a
token, a role), each text carrying the user's ``marker`` so a later search can tell whose
it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import (
    AccountKind,
    ApiToken,
    Budget,
    Category,
    CategoryRule,
    Conversation,
    ConversationMessage,
    Feedback,
    ImportBatch,
    Transaction,
)
from ledger.security_models import AccountNumber  # also registers the security tables
from ledger.users import add_account, create_user

START = dt.date(2026, 9, 1)


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    payees: tuple[str, ...]
    iban: str
    transactions: int
    """Rows in ``transactions`` (the imported one included)."""


def fill_user(session: Session, name: str, marker: str, iban: str) -> Person:
    """Create ``name`` with one row or more in every ledger table; texts carry ``marker``."""
    user = create_user(session, name, opened_on=START)
    checking = user.accounts[0]
    card = add_account(session, user, f"{marker} Card", kind=AccountKind.CREDIT_CARD,
                       currency="EUR", opened_on=START, number_last4="4242")
    session.add(AccountNumber(account_id=checking.id, user_id=user.id, kind="iban", number=iban))
    groceries = session.scalar(
        select(Category).where(Category.user_id == user.id, Category.name == "Groceries")
    )
    assert groceries is not None
    payees = (f"{marker} Bakery", f"{marker} Garage", f"{marker} Salary Corp")
    rows = [
        (checking.id, payees[0], "-23.40", f"bread for {marker}"),
        (card.id, payees[1], "-310.00", None),
        (checking.id, payees[2], "2500.00", f"salary {marker}"),
    ]
    for day, (account_id, payee, amount, memo) in enumerate(rows):
        session.add(Transaction(
            user_id=user.id, account_id=account_id, date=START + dt.timedelta(days=day),
            amount=Decimal(amount), currency="EUR", payee=payee, memo=memo,
            category_id=groceries.id if day == 0 else None,
        ))
    batch = ImportBatch(user_id=user.id, account_id=checking.id,
                        filename=f"{marker}-statement.csv", file_sha256="0" * 64,
                        file_format="csv", rows_read=1, rows_added=1)
    session.add(batch)
    session.flush()
    session.add(Transaction(
        user_id=user.id, account_id=checking.id, date=START + dt.timedelta(days=5),
        amount=Decimal("-9.99"), currency="EUR", payee=f"{marker} Imported Shop", memo=None,
        import_id=batch.id, source_id=f"{marker}-row-1",
    ))
    session.add(Budget(user_id=user.id, category_id=groceries.id, amount=Decimal("300.00")))
    session.add(CategoryRule(user_id=user.id, payee_pattern=payees[0],
                             category_id=groceries.id))
    session.add(ApiToken(user_id=user.id, label=f"{marker} laptop",
                         token_sha256=hashlib.sha256(marker.encode()).hexdigest()))
    conversation = Conversation(id=f"conv-{marker}"[:36], user_id=user.id,
                                title=f"Spending at {payees[0]}")
    session.add(conversation)
    session.flush()
    message = ConversationMessage(
        conversation_id=conversation.id, role="assistant",
        payload=json.dumps({"role": "assistant", "content": f"You paid {payees[1]} 310.00"}),
    )
    session.add(message)
    session.flush()
    session.add(Feedback(user_id=user.id, message_id=message.id, rating=-1,
                         comment=f"wrong about {payees[1]}"))
    session.flush()
    return Person(user.id, name, (*payees, f"{marker} Imported Shop"), iban, transactions=4)
