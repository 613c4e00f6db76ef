"""Finding recurring payments (subscriptions, bills, salary) and their price changes.

SQL narrows the ledger to candidate series: per payee and direction, at least two payments
whose average spacing could be a cadence, within the last ``LOOKBACK_DAYS``. Python then
checks each series: the gaps between payments must match one cadence (weekly, every two
weeks, monthly, quarterly, yearly) within its tolerance for at least ``REGULAR_SHARE`` of
them, and the amounts must be either piecewise constant (a subscription whose price changes
now and then) or close to their median (a utility bill). A series that fails as a whole is
tried again split by exact amount, which separates two subscriptions at one merchant (each
part then needs at least three payments).

A price change is reported for piecewise-constant series only, when the new amount holds
for the next payment or is the latest one; a one-off charge between two equal ones is not
a price change. Money stays ``Decimal`` throughout.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.models import Account, Transaction
from ledger.money import CENT

Cadence = Literal["weekly", "biweekly", "monthly", "quarterly", "yearly"]
Direction = Literal["outflow", "inflow"]

LOOKBACK_DAYS = 800
"""About 26 months: enough to see a yearly payment twice."""
REGULAR_SHARE = 0.75
_SPLIT_MIN = 3
"""A series split out by amount needs three payments: at a shop visited often, two equal
purchases a year apart are a coincidence, not a yearly bill."""
VARIABLE_TOLERANCE = Decimal("0.35")
"""A variable bill's payments stay within this share of their median (most of them)."""


@dataclass(frozen=True)
class _CadenceSpec:
    gap_low: int
    gap_high: int
    step: relativedelta
    per_month: Decimal
    min_payments: int
    grace_days: int
    """How late the next payment may be before the series counts as lapsed."""


CADENCES: dict[Cadence, _CadenceSpec] = {
    "weekly": _CadenceSpec(5, 9, relativedelta(weeks=1), Decimal(52) / 12, 4, 3),
    "biweekly": _CadenceSpec(12, 16, relativedelta(weeks=2), Decimal(26) / 12, 3, 4),
    "monthly": _CadenceSpec(25, 36, relativedelta(months=1), Decimal(1), 3, 7),
    "quarterly": _CadenceSpec(83, 99, relativedelta(months=3), Decimal(1) / 3, 3, 10),
    "yearly": _CadenceSpec(350, 380, relativedelta(years=1), Decimal(1) / 12, 2, 20),
}


@dataclass(frozen=True)
class PriceChange:
    date: dt.date
    """The first payment at the new amount."""
    old_amount: Decimal
    new_amount: Decimal

    @property
    def change(self) -> Decimal:
        return self.new_amount - self.old_amount

    @property
    def change_pct(self) -> Decimal:
        return (self.change * 100 / self.old_amount).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class RecurringPayment:
    """One detected series; amounts are positive magnitudes, ``direction`` says which way."""

    payee: str
    direction: Direction
    cadence: Cadence
    account: str
    currency: str
    typical_amount: Decimal
    """The current price (latest amount) for fixed series, the median of the last six
    payments for variable ones."""
    amount_varies: bool
    min_amount: Decimal
    max_amount: Decimal
    occurrences: int
    first_date: dt.date
    last_date: dt.date
    last_amount: Decimal
    next_expected: dt.date
    active: bool
    """False when the next payment is overdue beyond the cadence's tolerance (cancelled?)."""
    monthly_equivalent: Decimal
    price_changes: tuple[PriceChange, ...]


@dataclass(frozen=True)
class _Payment:
    date: dt.date
    amount: Decimal
    account: str
    currency: str


def find_recurring(
    session: Session, user_id: int, *, today: dt.date, direction: Direction | None = None
) -> list[RecurringPayment]:
    """The user's recurring series as of ``today``, largest monthly equivalent first."""
    series = _candidate_series(session, user_id, today, direction)
    found: list[RecurringPayment] = []
    for (payee, flow), payments in series.items():
        detected = _detect(payee, flow, payments, today)
        if detected is None:
            by_amount: dict[Decimal, list[_Payment]] = defaultdict(list)
            for payment in payments:
                by_amount[payment.amount].append(payment)
            found += [
                d for group in by_amount.values()
                if _SPLIT_MIN <= len(group) < len(payments)
                and (d := _detect(payee, flow, group, today))
            ]
        else:
            found.append(detected)
    return sorted(found, key=lambda r: (not r.active, -r.monthly_equivalent, r.payee))


def _candidate_series(
    session: Session, user_id: int, today: dt.date, direction: Direction | None
) -> dict[tuple[str, Direction], list[_Payment]]:
    """Payments grouped by (payee, direction), for groups SQL finds plausibly periodic."""
    since = today - dt.timedelta(days=LOOKBACK_DAYS)
    base = [
        Transaction.user_id == user_id,
        Transaction.is_transfer.is_(False),
        Transaction.date.between(since, today),
        Transaction.amount != 0,
    ]
    if direction == "outflow":
        base.append(Transaction.amount < 0)
    elif direction == "inflow":
        base.append(Transaction.amount > 0)
    is_outflow = Transaction.amount < 0
    span = func.max(Transaction.date) != func.min(Transaction.date)
    groups = (
        select(Transaction.payee, is_outflow.label("outflow"))
        .where(*base)
        .group_by(Transaction.payee, is_outflow)
        .having(func.count() >= 2, span)
        .subquery()
    )
    rows = session.execute(
        select(Transaction.payee, Transaction.date, Transaction.amount, Account.name,
               Account.currency)
        .join(Account, Account.id == Transaction.account_id)
        .join(groups, (groups.c.payee == Transaction.payee)
              & (groups.c.outflow == is_outflow))
        .where(*base)
        .order_by(Transaction.payee, Transaction.date, Transaction.id)
    ).all()
    series: dict[tuple[str, Direction], list[_Payment]] = defaultdict(list)
    names: dict[str, str] = {}
    for payee, date, amount, account, currency in rows:
        key = names.setdefault(payee.casefold(), payee)
        flow: Direction = "outflow" if amount < 0 else "inflow"
        series[(key, flow)].append(_Payment(date, abs(amount), account, currency))
    for payments in series.values():
        payments.sort(key=lambda p: p.date)
    return series


def _detect(
    payee: str, flow: Direction, payments: Sequence[_Payment], today: dt.date
) -> RecurringPayment | None:
    if len(payments) < 2 or len({p.currency for p in payments}) > 1:
        return None
    gaps = [(b.date - a.date).days for a, b in itertools.pairwise(payments)]
    cadence = _cadence(gaps, len(payments))
    if cadence is None:
        return None
    amounts = [p.amount for p in payments]
    changes = _price_changes(payments)
    fixed = changes is not None
    if not fixed and not _close_to_median(amounts):
        return None
    spec = CADENCES[cadence]
    last = payments[-1]
    typical = last.amount if fixed else statistics.median(amounts[-6:]).quantize(CENT)
    next_expected = last.date + spec.step
    overdue_after = next_expected + dt.timedelta(days=spec.grace_days)
    return RecurringPayment(
        payee=payee,
        direction=flow,
        cadence=cadence,
        account=last.account,
        currency=last.currency,
        typical_amount=typical,
        amount_varies=not fixed,
        min_amount=min(amounts),
        max_amount=max(amounts),
        occurrences=len(payments),
        first_date=payments[0].date,
        last_date=last.date,
        last_amount=last.amount,
        next_expected=next_expected,
        active=overdue_after >= today,
        monthly_equivalent=(typical * spec.per_month).quantize(CENT),
        price_changes=tuple(changes or ()),
    )


def _cadence(gaps: Sequence[int], count: int) -> Cadence | None:
    """The cadence most gaps fit, if enough payments and enough gaps fit it."""
    if not gaps:
        return None
    median = statistics.median(gaps)
    for name, spec in CADENCES.items():
        if not spec.gap_low <= median <= spec.gap_high or count < spec.min_payments:
            continue
        regular = sum(spec.gap_low <= gap <= spec.gap_high for gap in gaps)
        if regular >= REGULAR_SHARE * len(gaps):
            return name
    return None


def _price_changes(payments: Sequence[_Payment]) -> list[PriceChange] | None:
    """The price changes of a piecewise-constant series, or ``None`` when it is not one.

    Piecewise constant: at most one change of amount per four payments, plus one (so a
    yearly bill paid twice at two prices qualifies). A change counts when the new amount is
    the latest or holds for the next payment too.
    """
    amounts = [p.amount for p in payments]
    switches = sum(a != b for a, b in itertools.pairwise(amounts))
    if switches > len(amounts) // 4 + 1:
        return None
    changes: list[PriceChange] = []
    price = amounts[0]
    for i in range(1, len(amounts)):
        new = amounts[i]
        if new == price:
            continue
        holds = i == len(amounts) - 1 or amounts[i + 1] == new
        if holds:
            changes.append(PriceChange(payments[i].date, price, new))
            price = new
    return changes


def _close_to_median(amounts: Sequence[Decimal]) -> bool:
    """Most (three in four) amounts are within ``VARIABLE_TOLERANCE`` of the median."""
    median = statistics.median(amounts)
    near = sum(abs(a - median) <= median * VARIABLE_TOLERANCE for a in amounts)
    return near >= REGULAR_SHARE * len(amounts)
