"""Adding, editing and deleting single transactions by hand, validated like imported rows.

The CLI and the API call these functions, so a typed-in amount goes through the same parser
as a CSV cell and a payee through the same formula neutralisation. Every lookup is scoped to
the user: another user's transaction id is reported exactly like a missing one.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.categorise import Categoriser, category_id_by_name
from ledger.classifier import Example
from ledger.importing.errors import EntryError, ImportRejected
from ledger.importing.importer import find_account, fits_id
from ledger.importing.normalise import (
    ValueProblem,
    detect_decimal_separator,
    parse_amount,
    safe_text,
)
from ledger.models import Account, Category, Transaction

_PAYEE_MAX, _MEMO_MAX = 200, 500


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""Default of ``edit_transaction`` fields: leave the value as it is (``None`` clears)."""


@dataclass(frozen=True)
class EntryView:
    """A transaction as stored, for printing or returning from an API."""

    id: int
    date: dt.date
    account: str
    amount: Decimal
    currency: str
    payee: str
    memo: str | None
    category: str | None


def add_transaction(
    sessions: sessionmaker[Session],
    *,
    user_id: int,
    account: str,
    date: str | dt.date,
    amount: str | Decimal | int,
    payee: str,
    memo: str | None = None,
    category: str | None = None,
    auto_categorise: bool = True,
) -> EntryView:
    """Add one transaction; without ``category`` the user's rules and model may set one.

    Raises:
        EntryError: unknown account or category, a bad date or amount, an empty payee.
    """
    with sessions.begin() as session:
        target = _account(session, user_id, account)
        row = Transaction(
            user_id=user_id,
            account_id=target.id,
            date=_date(date),
            amount=_amount(amount),
            currency=target.currency,
            payee=_payee(payee),
            memo=_memo(memo),
            is_transfer=False,
        )
        if category is not None:
            row.category_id = _category(session, user_id, category)
        elif auto_categorise:
            categoriser = Categoriser.for_user(session, user_id)
            row.category_id = categoriser.assign([Example(row.payee, row.memo, row.amount)])[
                0
            ].category_id
        session.add(row)
        session.flush()
        return _view(session, row, target)


def edit_transaction(
    sessions: sessionmaker[Session],
    *,
    user_id: int,
    transaction_id: int,
    account: str | _Unset = UNSET,
    date: str | dt.date | _Unset = UNSET,
    amount: str | Decimal | int | _Unset = UNSET,
    payee: str | _Unset = UNSET,
    memo: str | _Unset | None = UNSET,
    category: str | _Unset | None = UNSET,
) -> EntryView:
    """Change the given fields of one transaction; a new category is a correction that the
    next ``categorize --retrain`` learns from.

    Raises:
        EntryError: no such transaction for this user, or a field fails validation.
    """
    with sessions.begin() as session:
        row = _owned(session, user_id, transaction_id)
        target = session.get(Account, row.account_id)
        assert target is not None
        if not isinstance(account, _Unset):
            target = _account(session, user_id, account)
            row.account_id, row.currency = target.id, target.currency
        if not isinstance(date, _Unset):
            row.date = _date(date)
        if not isinstance(amount, _Unset):
            row.amount = _amount(amount)
        if not isinstance(payee, _Unset):
            row.payee = _payee(payee)
        if not isinstance(memo, _Unset):
            row.memo = _memo(memo)
        if not isinstance(category, _Unset):
            row.category_id = None if category is None else _category(session, user_id, category)
        session.flush()
        return _view(session, row, target)


def delete_transaction(
    sessions: sessionmaker[Session], *, user_id: int, transaction_id: int
) -> None:
    """Delete one transaction of the user.

    Raises:
        EntryError: no such transaction for this user.
    """
    with sessions.begin() as session:
        session.delete(_owned(session, user_id, transaction_id))


# ---------------------------------------------------------------- validation


def _owned(session: Session, user_id: int, transaction_id: int) -> Transaction:
    row = session.scalar(
        select(Transaction).where(Transaction.id == transaction_id,
                                  Transaction.user_id == user_id)
    ) if fits_id(session, transaction_id) else None
    if row is None:
        raise EntryError("id", f"no transaction with id {transaction_id}")
    return row


def _account(session: Session, user_id: int, name: str) -> Account:
    try:
        return find_account(session, user_id, name)
    except ImportRejected as exc:
        raise EntryError("account", str(exc)) from None


def _date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise EntryError("date", f"not a date: {value!r} (use YYYY-MM-DD)") from None
    if not 1900 <= value.year <= 2200:
        raise EntryError("date", f"{value.isoformat()} is out of range")
    return value


def _amount(value: str | Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise EntryError("amount", "must be a decimal string, a Decimal or an int, never a float")
    text = str(value)
    try:
        return parse_amount(text, decimal=detect_decimal_separator([text]))
    except ValueProblem as exc:
        raise EntryError("amount", str(exc)) from None


def _payee(value: str) -> str:
    text = safe_text(value)
    if not text:
        raise EntryError("payee", "must not be empty")
    if len(text) > _PAYEE_MAX:
        raise EntryError("payee", f"{len(text)} characters (at most {_PAYEE_MAX})")
    return text


def _memo(value: str | None) -> str | None:
    if value is None:
        return None
    text = safe_text(value)
    if len(text) > _MEMO_MAX:
        raise EntryError("memo", f"{len(text)} characters (at most {_MEMO_MAX})")
    return text or None


def _category(session: Session, user_id: int, name: str) -> int:
    try:
        return category_id_by_name(session, user_id, name)
    except ValueError as exc:
        raise EntryError("category", str(exc)) from None


def _view(session: Session, row: Transaction, account: Account) -> EntryView:
    category = session.get(Category, row.category_id) if row.category_id else None
    return EntryView(
        id=row.id, date=row.date, account=account.name, amount=row.amount,
        currency=row.currency, payee=row.payee, memo=row.memo,
        category=category.name if category else None,
    )
