"""Read queries over one user's ledger: every aggregate runs in SQL, every query is scoped.

The exception is a text search over memos, which are encrypted at rest: it matches and
sums in Python over the decrypted rows (``find_transactions``).

Semantics shared by every tool (see ``docs/ledger.md``):

- ``amount`` is the change to the account's balance: outflows are negative.
- Spending = -(sum of amounts) of non-transfer transactions in expense categories (refunds,
  positive amounts there, reduce spending) plus uncategorised outflows.
- Income = sum of amounts of non-transfer transactions in income categories plus
  uncategorised inflows (money in that nobody has categorised is income, not a refund).
- Transfers between the user's own accounts (``is_transfer``) are neither.
- Periods are inclusive calendar dates.

Each function takes ``user_id`` and filters on it (transactions carry ``user_id`` for exactly
this); ids passed in (accounts, categories) must already be resolved for that user, and the
queries re-check ownership so a foreign id matches nothing rather than leaking rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Subquery,
    and_,
    case,
    extract,
    func,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from ledger.masking import mask_sensitive_text
from ledger.models import (
    Account,
    AccountMonthTotal,
    Budget,
    Category,
    CategoryKind,
    Transaction,
)

ZERO = Decimal("0.00")
UNCATEGORISED = "Uncategorised"
"""The key spending without a category is grouped under (the taxonomy's group of that name
is merged with it)."""

GroupBy = Literal["category", "merchant", "month"]
Sort = Literal["date_desc", "date_asc", "amount_desc", "amount_asc"]
Direction = Literal["any", "outflow", "inflow"]


# ---------------------------------------------------------------- dialect helpers
class month_of(FunctionElement[str]):
    """The ``YYYY-MM`` of a date column, as SQL that SQLite and PostgreSQL both group by.

    Rendered without bound parameters, so PostgreSQL sees the same expression in the select
    list and in GROUP BY.
    """

    type = String()
    name = "month_of"
    inherit_cache = True


@compiles(month_of)
def _month_of_sqlite(element: month_of, compiler: Any, **kw: Any) -> str:
    # SQLite stores dates as ISO text: the first seven characters are the month.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 7)"


@compiles(month_of, "postgresql")
def _month_of_postgresql(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value


# ---------------------------------------------------------------- names and ranges
@dataclass(frozen=True)
class AccountRef:
    id: int
    name: str
    kind: str
    currency: str


@dataclass(frozen=True)
class CategoryRef:
    id: int
    name: str
    parent: str | None
    kind: str


def accounts(session: Session, user_id: int) -> list[AccountRef]:
    """The user's accounts in creation order."""
    rows = session.execute(
        select(Account.id, Account.name, Account.kind, Account.currency)
        .where(Account.user_id == user_id)
        .order_by(Account.id)
    )
    return [AccountRef(r.id, r.name, r.kind.value, r.currency) for r in rows]


def categories(session: Session, user_id: int) -> list[CategoryRef]:
    """The user's categories, groups before their children, in creation order."""
    parent = aliased(Category)
    rows = session.execute(
        select(Category.id, Category.name, parent.name.label("parent"), Category.kind)
        .outerjoin(parent, parent.id == Category.parent_id)
        .where(Category.user_id == user_id)
        .order_by(Category.id)
    )
    return [CategoryRef(r.id, r.name, r.parent, r.kind.value) for r in rows]


def category_family(session: Session, user_id: int, category_id: int) -> list[int]:
    """``category_id`` and its children: filtering on a group includes its subcategories."""
    rows = session.scalars(
        select(Category.id).where(
            Category.user_id == user_id,
            or_(Category.id == category_id, Category.parent_id == category_id),
        )
    )
    return list(rows)


def ledger_today(session: Session, user_id: int) -> dt.date | None:
    """The user's latest transaction date: "today" for a ledger that is not live."""
    return session.scalar(select(func.max(Transaction.date)).where(Transaction.user_id == user_id))


def first_transaction_date(session: Session, user_id: int) -> dt.date | None:
    """The user's earliest transaction date."""
    return session.scalar(select(func.min(Transaction.date)).where(Transaction.user_id == user_id))


def main_currency(session: Session, user_id: int) -> str | None:
    """The currency most of the user's accounts are in (ties: the first account's)."""
    return session.scalar(
        select(Account.currency)
        .where(Account.user_id == user_id)
        .group_by(Account.currency)
        .order_by(func.count().desc(), func.min(Account.id))
        .limit(1)
    )


def top_payees(session: Session, user_id: int, *, limit: int = 300) -> list[str]:
    """The user's most frequent payees, most frequent first (ties alphabetical).

    Transfers between own accounts are left out: their "payees" are not merchants.
    """
    count = func.count()
    rows = session.scalars(
        select(Transaction.payee)
        .where(Transaction.user_id == user_id, Transaction.is_transfer.is_(False))
        .group_by(Transaction.payee)
        .order_by(count.desc(), Transaction.payee)
        .limit(limit)
    )
    return list(rows)


# ---------------------------------------------------------------- balances
@dataclass(frozen=True)
class Balance:
    account_id: int
    name: str
    kind: str
    currency: str
    balance: Decimal
    """Opening balance plus every transaction up to and including the day; zero before the
    account was opened."""


def balances(
    session: Session, user_id: int, *, as_of: dt.date, account_id: int | None = None
) -> list[Balance]:
    """Each account's balance at the end of ``as_of`` (one account with ``account_id``).

    Whole months before ``as_of`` come from ``account_month_totals`` (kept by triggers), the
    days of its own month from the covering index ``(account_id, date, amount)``: the cost is
    one month of rows per account, however long the history. The accounts are filtered by
    ``user_id``, and each sum is correlated to one of those accounts.
    """
    month_start = as_of.replace(day=1)
    earlier = (
        select(func.sum(AccountMonthTotal.amount))
        .where(AccountMonthTotal.account_id == Account.id,
               AccountMonthTotal.month < month_start.strftime("%Y-%m"))
        .scalar_subquery()
    )
    this_month = (
        select(func.sum(Transaction.amount))
        .where(Transaction.account_id == Account.id,
               Transaction.date.between(month_start, as_of))
        .scalar_subquery()
    )
    query = (
        select(Account.id, Account.name, Account.kind, Account.currency,
               Account.opening_balance, Account.opened_on,
               earlier.label("earlier"), this_month.label("this_month"))
        .where(Account.user_id == user_id)
        .order_by(Account.id)
    )
    if account_id is not None:
        query = query.where(Account.id == account_id)
    return [
        Balance(
            r.id, r.name, r.kind.value, r.currency,
            ZERO if as_of < r.opened_on
            else r.opening_balance + _money(r.earlier) + _money(r.this_month),
        )
        for r in session.execute(query)
    ]


# ---------------------------------------------------------------- spending and income
@dataclass(frozen=True)
class _Scope:
    """Which of a user's non-transfer transactions an aggregate reads."""

    start: dt.date
    end: dt.date
    account_id: int | None = None
    currency: str | None = None
    category_ids: Collection[int] | None = None
    after_day: int = 0
    """Only days of the month after this one (0: every day)."""


def _presummed(user_id: int, scope: _Scope, key: ColumnElement[Any] | None = None) -> Subquery:
    """The scoped non-transfer rows summed per category (and per ``key``, labelled ``key``):
    category joins and kind filters then run on a few dozen rows instead of on every
    transaction, which keeps a month of a large ledger fast."""
    t = Transaction
    where = [t.user_id == user_id, t.date.between(scope.start, scope.end),
             t.is_transfer.is_(False)]
    if scope.account_id is not None:
        where.append(t.account_id == scope.account_id)
    if scope.currency is not None:
        where.append(t.currency == scope.currency)
    if scope.category_ids is not None:
        where.append(t.category_id.in_(list(scope.category_ids)))
    if scope.after_day > 0:
        where.append(extract("day", t.date) > scope.after_day)
    keys = [] if key is None else [key]
    inflow = case((and_(t.category_id.is_(None), t.amount > 0), 1), else_=0)
    return (
        select(t.category_id, inflow.label("uncategorised_inflow"),
               *(k.label("key") for k in keys),
               func.sum(t.amount).label("total"), func.count().label("n"))
        .where(*where)
        .group_by(t.category_id, inflow, *keys)
        .subquery()
    )


def _is_income(part: Subquery) -> ColumnElement[bool]:
    """Income: income categories, and uncategorised money coming in (a fresh import's salary
    is income, not a refund that would cancel out spending)."""
    return or_(part.c.uncategorised_inflow == 1,
               and_(part.c.category_id.is_not(None), Category.kind == CategoryKind.INCOME))


def _not_income(part: Subquery) -> ColumnElement[bool]:
    """Spending's rule: expense categories (refunds included) and uncategorised outflows."""
    return not_(_is_income(part))


@dataclass(frozen=True)
class SpendingGroup:
    key: str
    """Category name, payee, or month as ``YYYY-MM``."""
    amount: Decimal
    count: int


def spending(
    session: Session,
    user_id: int,
    *,
    start: dt.date,
    end: dt.date,
    group_by: GroupBy = "category",
    category_ids: Collection[int] | None = None,
    account_id: int | None = None,
    currency: str | None = None,
) -> list[SpendingGroup]:
    """Spending in ``[start, end]`` grouped by the transaction's category, payee or month.

    Largest first (months in calendar order). ``category_ids`` restricts to those categories
    (pass ``category_family`` to include a group's children).
    """
    scope = _Scope(start, end, account_id, currency, category_ids)
    if group_by == "category":
        part = _presummed(user_id, scope)
        key: ColumnElement[str] = func.coalesce(Category.name,
                                                literal_column(f"'{UNCATEGORISED}'"))
    else:
        raw = Transaction.payee if group_by == "merchant" else month_of(Transaction.date)
        part = _presummed(user_id, scope, raw)
        key = part.c.key
    total = func.sum(part.c.total)
    query = (
        select(key.label("key"), total.label("total"), func.sum(part.c.n).label("n"))
        .select_from(part)
        .outerjoin(Category, Category.id == part.c.category_id)
        .where(_not_income(part))
        .group_by(key)
    )
    query = query.order_by(key) if group_by == "month" else query.order_by(total, key)
    return [SpendingGroup(r.key, -_money(r.total), int(r.n)) for r in session.execute(query)]


@dataclass(frozen=True)
class MonthFlow:
    month: str
    """``YYYY-MM``."""
    income: Decimal
    spending: Decimal


def cash_flow(
    session: Session,
    user_id: int,
    *,
    start: dt.date,
    end: dt.date,
    account_id: int | None = None,
    currency: str | None = None,
) -> list[MonthFlow]:
    """Income and spending per month of ``[start, end]``; months without rows are absent."""
    part = _presummed(user_id, _Scope(start, end, account_id, currency),
                      month_of(Transaction.date))
    income_row = _is_income(part)
    zero = literal_column("0")
    income = func.sum(case((income_row, part.c.total), else_=zero))
    spent = func.sum(case((income_row, zero), else_=part.c.total))
    query = (
        select(part.c.key.label("month"), income.label("income"), spent.label("spent"))
        .select_from(part)
        .outerjoin(Category, Category.id == part.c.category_id)
        .group_by(part.c.key)
        .order_by(part.c.key)
    )
    return [
        MonthFlow(r.month, _money(r.income), -_money(r.spent)) for r in session.execute(query)
    ]


# ---------------------------------------------------------------- budgets
@dataclass(frozen=True)
class BudgetRef:
    id: int
    category_id: int
    category: str
    amount: Decimal


def budgets(session: Session, user_id: int) -> list[BudgetRef]:
    """The user's monthly budgets, in the order they were set."""
    rows = session.execute(
        select(Budget.id, Budget.category_id, Category.name, Budget.amount)
        .join(Category, Category.id == Budget.category_id)
        .where(Budget.user_id == user_id)
        .order_by(Budget.id)
    )
    return [BudgetRef(r.id, r.category_id, r.name, r.amount) for r in rows]


def budget_spending(
    session: Session,
    user_id: int,
    *,
    start: dt.date,
    end: dt.date,
    after_day: int = 0,
    currency: str | None = None,
) -> dict[int, Decimal]:
    """Spending per budget id in ``[start, end]`` (a group's budget includes its children).

    ``after_day`` keeps only days of the month after it: the projection uses it to ask how
    much was spent in the rest of earlier months. Budgets with no spending are absent.
    """
    part = _presummed(user_id, _Scope(start, end, currency=currency, after_day=after_day))
    covers = or_(Budget.category_id == Category.id, Budget.category_id == Category.parent_id)
    query = (
        select(Budget.id, func.sum(part.c.total).label("total"))
        .select_from(part)
        .join(Category, Category.id == part.c.category_id)
        .join(Budget, and_(Budget.user_id == user_id, covers))
        .where(_not_income(part))
        .group_by(Budget.id)
    )
    return {r.id: -_money(r.total) for r in session.execute(query)}


# ---------------------------------------------------------------- transactions
@dataclass(frozen=True)
class TransactionFilter:
    """Conditions on a user's transactions; ``None`` means no condition."""

    start: dt.date | None = None
    end: dt.date | None = None
    account_id: int | None = None
    category_ids: Sequence[int] | None = None
    payee: str | None = None
    """Payee contains this text, ignoring case."""
    text: str | None = None
    """Payee or memo contains this text, ignoring case."""
    min_abs: Decimal | None = None
    max_abs: Decimal | None = None
    direction: Direction = "any"
    include_transfers: bool = True


@dataclass(frozen=True)
class TransactionLine:
    id: int
    date: dt.date
    account: str
    payee: str
    memo: str | None
    category: str | None
    amount: Decimal
    currency: str
    is_transfer: bool

    def masked(self) -> TransactionLine:
        """This line as a model, a log or a response may see it: card numbers, IBANs and
        account numbers in the memo cut to their last four (``ledger.masking``)."""
        if not self.memo:
            return self
        return replace(self, memo=mask_sensitive_text(self.memo))


@dataclass(frozen=True)
class TransactionPage:
    total_count: int
    totals: dict[str, Decimal]
    """Signed sum per currency over every match, not only this page."""
    rows: list[TransactionLine]


def _conditions(user_id: int, flt: TransactionFilter) -> list[ColumnElement[bool]]:
    t = Transaction
    where: list[ColumnElement[bool]] = [t.user_id == user_id]
    if flt.start is not None:
        where.append(t.date >= flt.start)
    if flt.end is not None:
        where.append(t.date <= flt.end)
    if flt.account_id is not None:
        where.append(t.account_id == flt.account_id)
    if flt.category_ids is not None:
        where.append(t.category_id.in_(list(flt.category_ids)))
    if flt.payee:
        where.append(t.payee.icontains(flt.payee, autoescape=True))
    if flt.min_abs is not None:
        where.append(or_(t.amount >= flt.min_abs, t.amount <= -flt.min_abs))
    if flt.max_abs is not None:
        where.append(t.amount.between(-flt.max_abs, flt.max_abs))
    if flt.direction == "outflow":
        where.append(t.amount < ZERO)
    elif flt.direction == "inflow":
        where.append(t.amount > ZERO)
    if not flt.include_transfers:
        where.append(t.is_transfer.is_(False))
    return where


_ORDER = {
    "date_desc": (Transaction.date.desc(), Transaction.id.desc()),
    "date_asc": (Transaction.date.asc(), Transaction.id.asc()),
    "amount_desc": (func.abs(Transaction.amount).desc(), Transaction.date.desc(),
                    Transaction.id.desc()),
    "amount_asc": (func.abs(Transaction.amount).asc(), Transaction.date.desc(),
                   Transaction.id.desc()),
}


def find_transactions(
    session: Session,
    user_id: int,
    flt: TransactionFilter,
    *,
    sort: Sort = "date_desc",
    limit: int = 20,
    offset: int = 0,
) -> TransactionPage:
    """One page of matching transactions plus the count and sums over all matches."""
    if flt.text:
        return _find_by_text(session, user_id, flt, sort=sort, limit=limit, offset=offset)
    where = _conditions(user_id, flt)
    totals = session.execute(
        select(Transaction.currency, func.count().label("n"),
               func.sum(Transaction.amount).label("total"))
        .where(*where)
        .group_by(Transaction.currency)
        .order_by(Transaction.currency)
    ).all()
    rows = session.execute(
        _lines(where).order_by(*_ORDER[sort]).limit(limit).offset(offset)
    )
    return TransactionPage(
        total_count=sum(r.n for r in totals),
        totals={r.currency: _money(r.total) for r in totals},
        rows=[TransactionLine(**r._asdict()) for r in rows],
    )


def _lines(where: list[ColumnElement[bool]]) -> Select[Any]:
    """The columns of ``TransactionLine`` for the rows matching ``where``."""
    return (
        select(Transaction.id, Transaction.date, Account.name.label("account"),
               Transaction.payee, Transaction.memo, Category.name.label("category"),
               Transaction.amount, Transaction.currency, Transaction.is_transfer)
        .join(Account, Account.id == Transaction.account_id)
        .outerjoin(Category, Category.id == Transaction.category_id)
        .where(*where)
    )


_SORT_KEYS: dict[Sort, tuple[Callable[[TransactionLine], Any], bool]] = {
    "date_desc": (lambda r: (r.date, r.id), True),
    "date_asc": (lambda r: (r.date, r.id), False),
    "amount_desc": (lambda r: (abs(r.amount), r.date, r.id), True),
    "amount_asc": (lambda r: (abs(r.amount), -r.date.toordinal(), -r.id), False),
}
"""``_ORDER`` for rows already in Python: (key, reverse)."""


def _find_by_text(
    session: Session, user_id: int, flt: TransactionFilter, *, sort: Sort, limit: int,
    offset: int,
) -> TransactionPage:
    """``find_transactions`` with ``flt.text``: memos are encrypted at rest, so SQL can only
    match payees; it narrows the rows to those whose payee matches or that have a memo, and
    the decrypted memos are matched here. Counting, sums, order and the page follow in
    Python over the matches (a search decrypts the memos of the rows the other conditions
    leave: narrow it with dates or an account on a large ledger)."""
    assert flt.text
    needle = flt.text.casefold()
    payee_hit = Transaction.payee.icontains(flt.text, autoescape=True)
    candidates = session.execute(
        _lines(_conditions(user_id, flt))
        .add_columns(payee_hit.label("payee_hit"))
        .where(or_(payee_hit, and_(Transaction.memo.is_not(None), Transaction.memo != "")))
    )
    matches = [
        TransactionLine(**{k: v for k, v in r._asdict().items() if k != "payee_hit"})
        for r in candidates
        if r.payee_hit or needle in (r.memo or "").casefold()
    ]
    totals: dict[str, Decimal] = {}
    for line in matches:
        totals[line.currency] = totals.get(line.currency, ZERO) + line.amount
    key, reverse = _SORT_KEYS[sort]
    matches.sort(key=key, reverse=reverse)
    return TransactionPage(
        total_count=len(matches),
        totals={currency: _money(totals[currency]) for currency in sorted(totals)},
        rows=matches[offset:offset + limit],
    )
