"""``recurring_payments``: subscriptions, bills and salary that repeat, and their price changes.

Answers "what subscriptions do I have", "when is rent due next", "how much do my bills cost a
month" and "did any bill go up" (``only_price_increases``). Detection lives in
``ledger.recurring``; this module only filters and shapes its result. Amounts are positive
magnitudes with a ``direction``; money stays ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.policy import Action
from ledger.recurring import PriceChange, RecurringPayment, find_recurring
from tools.base import Tool, ToolContext
from tools.schemas import CurrencyTotal

METHOD = (
    "Series of payments to the same payee whose gaps match a weekly, two-weekly, monthly, "
    "quarterly or yearly cadence (at least 3 payments, 2 for yearly, over the last ~26 "
    "months); a price change is a new amount that held for the next payment or is the latest."
)


class RecurringInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["outflow", "inflow", "any"] = Field(
        "outflow",
        description="outflow: subscriptions and bills; inflow: salary and other regular "
        "income; any: both.",
    )
    payee: str | None = Field(
        None, max_length=100, description="Only payees containing this text (any case)."
    )
    cadence: Literal["weekly", "biweekly", "monthly", "quarterly", "yearly"] | None = Field(
        None, description="Only series with this cadence."
    )
    only_price_increases: bool = Field(
        False, description="Only series whose price went up (answers 'did any bill go up?')."
    )
    changed_since: dt.date | None = Field(
        None, description="Only count price changes on or after this day, YYYY-MM-DD."
    )
    include_inactive: bool = Field(
        False, description="Also list series that stopped (next payment overdue)."
    )


class PriceChangeRow(BaseModel):
    date: dt.date
    """The first payment at the new amount."""
    old_amount: Decimal
    new_amount: Decimal
    change: Decimal
    change_pct: Decimal
    """Percentage change, one decimal."""


class RecurringItem(BaseModel):
    payee: str
    direction: Literal["outflow", "inflow"]
    cadence: str
    account: str
    currency: str
    typical_amount: Decimal
    """Current price for fixed amounts; median of the last six payments when it varies."""
    amount_varies: bool
    last_date: dt.date
    last_amount: Decimal
    next_expected: dt.date
    occurrences: int
    active: bool
    monthly_equivalent: Decimal
    """``typical_amount`` converted to a per-month figure (yearly / 12, weekly x 52 / 12...)."""
    price_changes: list[PriceChangeRow]


class PriceIncrease(BaseModel):
    payee: str
    currency: str
    date: dt.date
    old_amount: Decimal
    new_amount: Decimal
    change: Decimal
    change_pct: Decimal


class RecurringOutput(BaseModel):
    as_of: dt.date
    count: int
    items: list[RecurringItem]
    monthly_total: list[CurrencyTotal]
    """Sum of ``monthly_equivalent`` of the active listed outflows, per currency."""
    price_increases: list[PriceIncrease]
    """Every increase among the listed series (within ``changed_since``), newest first."""
    method: str = METHOD


def recurring_payments(ctx: ToolContext, params: RecurringInput) -> RecurringOutput:
    """Detect the user's recurring series and filter them as asked."""
    direction = None if params.direction == "any" else params.direction
    with ctx.sessions() as session:
        series = find_recurring(session, ctx.user_id, today=ctx.today, direction=direction)
    items = [
        _item(s, params.changed_since)
        for s in series
        if (params.include_inactive or s.active)
        and (params.cadence is None or s.cadence == params.cadence)
        and (params.payee is None or params.payee.strip().casefold() in s.payee.casefold())
    ]
    if params.only_price_increases:
        items = [i for i in items if any(c.change > 0 for c in i.price_changes)]
    return RecurringOutput(
        as_of=ctx.today,
        count=len(items),
        items=items,
        monthly_total=_monthly_totals(items),
        price_increases=_increases(items),
    )


def _item(series: RecurringPayment, since: dt.date | None) -> RecurringItem:
    changes = [c for c in series.price_changes if since is None or c.date >= since]
    return RecurringItem(
        payee=series.payee,
        direction=series.direction,
        cadence=series.cadence,
        account=series.account,
        currency=series.currency,
        typical_amount=series.typical_amount,
        amount_varies=series.amount_varies,
        last_date=series.last_date,
        last_amount=series.last_amount,
        next_expected=series.next_expected,
        occurrences=series.occurrences,
        active=series.active,
        monthly_equivalent=series.monthly_equivalent,
        price_changes=[_change(c) for c in changes],
    )


def _change(change: PriceChange) -> PriceChangeRow:
    return PriceChangeRow(date=change.date, old_amount=change.old_amount,
                          new_amount=change.new_amount, change=change.change,
                          change_pct=change.change_pct)


def _monthly_totals(items: list[RecurringItem]) -> list[CurrencyTotal]:
    totals: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for item in items:
        if item.active and item.direction == "outflow":
            totals[item.currency] += item.monthly_equivalent
    return [CurrencyTotal(currency=c, amount=a) for c, a in sorted(totals.items())]


def _increases(items: list[RecurringItem]) -> list[PriceIncrease]:
    rows = [
        PriceIncrease(payee=i.payee, currency=i.currency, date=c.date, old_amount=c.old_amount,
                      new_amount=c.new_amount, change=c.change, change_pct=c.change_pct)
        for i in items
        for c in i.price_changes
        if c.change > 0
    ]
    return sorted(rows, key=lambda r: (r.date, r.payee), reverse=True)


recurring_payments_tool: Tool[RecurringInput, RecurringOutput] = Tool(
    name="recurring_payments",
    description=(
        "Recurring payments detected in the ledger: subscriptions, bills, rent, salary. For "
        "each: payee, cadence, typical amount, next expected date, monthly equivalent and "
        "price changes. Use only_price_increases=true for 'did any bill or subscription go "
        "up?', direction='inflow' for regular income."
    ),
    input_model=RecurringInput,
    output_model=RecurringOutput,
    fn=recurring_payments,
    action=Action.READ_TRANSACTIONS,  # names payees and amounts, like a transaction list
)
