"""The ledger tools: balances, spending, cash flow, budgets and transactions of one user.

Each tool reads the user fixed in ``ToolContext`` (never one named by the model), resolves
account and category names case-insensitively to this user's canonical names (an unknown
name is a ``ToolArgumentError`` listing the allowed ones), and leaves the arithmetic to
``ledger.queries``. Dates outside the ledger's range are valid and simply give zeros.
Amounts stay ``Decimal``; shares are percentages rounded half-even to two decimals.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.orm import Session

from ledger import queries as q
from ledger.money import CENT
from ledger.policy import Action
from ledger.users import DEFAULT_CURRENCY
from tools.base import Tool, ToolArgumentError, ToolContext
from tools.schemas import (
    AccountBalance,
    BalanceInput,
    BalanceOutput,
    BudgetInput,
    BudgetLine,
    BudgetOutput,
    CashFlowInput,
    CashFlowMonth,
    CashFlowOutput,
    CurrencyTotal,
    PeriodTotal,
    SpendingInput,
    SpendingOutput,
    SpendingRow,
    TransactionRow,
    TransactionsInput,
    TransactionsOutput,
)

ZERO = q.ZERO
HISTORY_MONTHS = 3
"""Full months before the budget month that the projection learns from."""


# ---------------------------------------------------------------- shared helpers
def _resolve_account(session: Session, ctx: ToolContext, name: str | None) -> q.AccountRef | None:
    if name is None:
        return None
    options = q.accounts(session, ctx.user_id)
    wanted = name.strip().casefold()
    for account in options:
        if account.name.casefold() == wanted:
            return account
    raise ToolArgumentError("account", f"no account named {name!r}",
                            allowed=[a.name for a in options])


def _resolve_category(session: Session, ctx: ToolContext, name: str | None) -> q.CategoryRef | None:
    if name is None:
        return None
    options = q.categories(session, ctx.user_id)
    wanted = name.strip().casefold()
    for category in options:
        if category.name.casefold() == wanted:
            return category
    raise ToolArgumentError("category", f"no category named {name!r}",
                            allowed=[c.name for c in options])


def _currency(session: Session, ctx: ToolContext, account: q.AccountRef | None) -> str:
    """The account's currency, else the user's main one: totals never mix currencies."""
    if account is not None:
        return account.currency
    return q.main_currency(session, ctx.user_id) or DEFAULT_CURRENCY


def _share(amount: Decimal, total: Decimal) -> Decimal:
    if total == 0:
        return Decimal("0.00")
    return (amount * 100 / total).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _add_months(first: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after (or before) ``first``'s month."""
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _calendar_months(start: dt.date, end: dt.date) -> list[str]:
    """Every ``YYYY-MM`` that ``[start, end]`` touches, in order."""
    months, first = [], _month_start(start)
    while first <= end:
        months.append(first.strftime("%Y-%m"))
        first = _add_months(first, 1)
    return months


def _previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period just before, as a person means it.

    A period starting on the 1st moves back by the months it touches, so March compares with
    February and October 1-20 (month to date) with September 1-20, not with the twenty days
    before October 1. Any other period compares with the same number of days just before it.
    """
    if start.day == 1:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        previous_start = _add_months(start, -months)
        if end == _month_end(end):
            return previous_start, start - dt.timedelta(days=1)
        earlier_month = _add_months(_month_start(end), -months)
        same_day = earlier_month + dt.timedelta(days=end.day - 1)
        return previous_start, min(same_day, _month_end(earlier_month))
    length = end - start
    previous_end = start - dt.timedelta(days=1)
    return previous_end - length, previous_end


# ---------------------------------------------------------------- get_balance
def get_balance(ctx: ToolContext, params: BalanceInput) -> BalanceOutput:
    """Balances at the end of ``as_of`` (default today) and their total per currency."""
    as_of = params.as_of or ctx.today
    with ctx.sessions() as session:
        account = _resolve_account(session, ctx, params.account)
        rows = q.balances(session, ctx.user_id, as_of=as_of,
                          account_id=account.id if account else None)
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, ZERO) + row.balance
    return BalanceOutput(
        as_of=as_of,
        accounts=[AccountBalance(account=r.name, kind=r.kind, currency=r.currency,
                                 balance=r.balance) for r in rows],
        net_worth=[CurrencyTotal(currency=c, amount=a) for c, a in sorted(totals.items())],
    )


# ---------------------------------------------------------------- spending_breakdown
def spending_breakdown(ctx: ToolContext, params: SpendingInput) -> SpendingOutput:
    """Spending over a period by category, merchant or month, with shares and top N."""
    with ctx.sessions() as session:
        account = _resolve_account(session, ctx, params.account)
        category = _resolve_category(session, ctx, params.category)
        currency = _currency(session, ctx, account)
        family = q.category_family(session, ctx.user_id, category.id) if category else None

        def groups(start: dt.date, end: dt.date) -> list[q.SpendingGroup]:
            found = q.spending(session, ctx.user_id, start=start, end=end,
                               group_by=params.group_by, category_ids=family,
                               account_id=account.id if account else None, currency=currency)
            return _with_empty_months(found, start, end) if params.group_by == "month" else found

        current = groups(params.start_date, params.end_date)
        previous = None
        if params.compare_previous:
            previous_start, previous_end = _previous_period(params.start_date, params.end_date)
            previous = (previous_start, previous_end, groups(previous_start, previous_end))
    total = sum((g.amount for g in current), ZERO)
    kept = _top(current, params.top_n, by_month=params.group_by == "month")
    rows = [SpendingRow(key=g.key, amount=g.amount, share=_share(g.amount, total), count=g.count)
            for g in kept]
    output = SpendingOutput(
        start_date=params.start_date, end_date=params.end_date, group_by=params.group_by,
        currency=currency, total=total, rows=rows,
        other_rows_total=total - sum((g.amount for g in kept), ZERO) if params.top_n else None,
    )
    if previous is not None:
        _add_previous(output, current, *previous)
    return output


def _with_empty_months(found: list[q.SpendingGroup], start: dt.date,
                       end: dt.date) -> list[q.SpendingGroup]:
    """Every month of the period, zero where nothing was spent (a gap is not a missing row)."""
    by_key = {g.key: g for g in found}
    return [by_key.get(month, q.SpendingGroup(month, ZERO, 0))
            for month in _calendar_months(start, end)]


def _top(groups: list[q.SpendingGroup], top_n: int | None, *,
         by_month: bool) -> list[q.SpendingGroup]:
    """The ``top_n`` largest groups; months keep calendar order."""
    if top_n is None or top_n >= len(groups):
        return groups
    largest = sorted(groups, key=lambda g: (-g.amount, g.key))[:top_n]
    return sorted(largest, key=lambda g: g.key) if by_month else largest


def _add_previous(output: SpendingOutput, current: list[q.SpendingGroup], start: dt.date,
                  end: dt.date, previous: list[q.SpendingGroup]) -> None:
    """Previous amounts by key; months are matched by position (1st month with 1st...)."""
    output.previous = PeriodTotal(start_date=start, end_date=end,
                                  total=sum((g.amount for g in previous), ZERO))
    if output.group_by == "month":
        position = {g.key: i for i, g in enumerate(current)}
        for row in output.rows:
            index = position[row.key]
            row.previous_amount = previous[index].amount if index < len(previous) else ZERO
    else:
        earlier = {g.key: g.amount for g in previous}
        for row in output.rows:
            row.previous_amount = earlier.get(row.key, ZERO)


# ---------------------------------------------------------------- cash_flow
def cash_flow(ctx: ToolContext, params: CashFlowInput) -> CashFlowOutput:
    """Income, spending and net per calendar month of the period, and in total."""
    with ctx.sessions() as session:
        account = _resolve_account(session, ctx, params.account)
        currency = _currency(session, ctx, account)
        found = q.cash_flow(session, ctx.user_id, start=params.start_date, end=params.end_date,
                            account_id=account.id if account else None, currency=currency)
    by_month = {m.month: m for m in found}
    months = []
    for key in _calendar_months(params.start_date, params.end_date):
        flow = by_month.get(key, q.MonthFlow(key, ZERO, ZERO))
        months.append(CashFlowMonth(month=key, income=flow.income, spending=flow.spending,
                                    net=flow.income - flow.spending))
    income = sum((m.income for m in months), ZERO)
    spending = sum((m.spending for m in months), ZERO)
    return CashFlowOutput(start_date=params.start_date, end_date=params.end_date,
                          currency=currency, income=income, spending=spending,
                          net=income - spending, months=months)


# ---------------------------------------------------------------- budget_projection
def budget_projection(ctx: ToolContext, params: BudgetInput) -> BudgetOutput:
    """Where each monthly budget will end: spent so far plus what the rest of the month
    usually costs (see ``_projection_method``)."""
    period_start = _month_start(params.month or ctx.today)
    period_end = _month_end(period_start)
    as_of = min(max(ctx.today, period_start - dt.timedelta(days=1)), period_end)
    elapsed = (as_of - period_start).days + 1
    with ctx.sessions() as session:
        chosen = _chosen_budgets(session, ctx, params.category)
        currency = _currency(session, ctx, None)
        spent = (q.budget_spending(session, ctx.user_id, start=period_start, end=as_of,
                                   currency=currency) if elapsed > 0 else {})
        history = _history_months(session, ctx, period_start)
        usual_rest = q.budget_spending(
            session, ctx.user_id, start=history[0], end=_month_end(history[-1]),
            after_day=elapsed, currency=currency,
        ) if history else {}
    lines = []
    for budget in chosen:
        so_far = spent.get(budget.id, ZERO)
        if history:
            rest = usual_rest.get(budget.id, ZERO) / len(history)
            projected = so_far + max(rest, ZERO)
        else:
            projected = so_far * period_end.day / elapsed if elapsed > 0 else ZERO
        projected = projected.quantize(CENT, rounding=ROUND_HALF_EVEN)
        status = ("over" if so_far > budget.amount
                  else "at_risk" if projected > budget.amount else "under")
        lines.append(BudgetLine(category=budget.category, budget=budget.amount, spent=so_far,
                                projected=projected,
                                projected_difference=projected - budget.amount, status=status))
    return BudgetOutput(
        period_start=period_start, period_end=period_end, as_of=as_of, days_elapsed=elapsed,
        days_in_period=period_end.day, currency=currency,
        method=_projection_method(history, elapsed, period_end.day),
        budgets=lines,
        total_budget=sum((line.budget for line in lines), ZERO),
        total_spent=sum((line.spent for line in lines), ZERO),
        total_projected=sum((line.projected for line in lines), ZERO),
    )


def _chosen_budgets(session: Session, ctx: ToolContext, name: str | None) -> list[q.BudgetRef]:
    every = q.budgets(session, ctx.user_id)
    category = _resolve_category(session, ctx, name)
    if category is None:
        return every
    chosen = [b for b in every if b.category_id == category.id]
    if not chosen:
        raise ToolArgumentError("category", f"no budget is set for {category.name!r}",
                                allowed=[b.category for b in every])
    return chosen


def _history_months(session: Session, ctx: ToolContext, period_start: dt.date) -> list[dt.date]:
    """The first days of up to ``HISTORY_MONTHS`` months before the period that the ledger
    covers completely (after its first transaction, ended by today)."""
    first = q.first_transaction_date(session, ctx.user_id)
    if first is None:
        return []
    months = [_add_months(period_start, -n) for n in range(HISTORY_MONTHS, 0, -1)]
    return [m for m in months if m >= _month_start(first) and _month_end(m) <= ctx.today]


def _projection_method(history: list[dt.date], elapsed: int, days: int) -> str:
    if elapsed >= days:
        return "The month is over: projected equals spent."
    if history:
        names = ", ".join(m.strftime("%B %Y") for m in history)
        if elapsed <= 0:
            return (f"The month has not started: projected is the average monthly spending of "
                    f"the previous {len(history)} full month(s) ({names}).")
        return (f"Spent so far plus the average spent after day {elapsed} of the month in the "
                f"previous {len(history)} full month(s) ({names}), so bills already paid this "
                "month are not counted twice.")
    if elapsed <= 0:
        return "No history and no spending yet this month: projected is zero."
    return (f"No full month of history: linear pace, spent so far / {elapsed} days elapsed "
            f"x {days} days in the month.")


# ---------------------------------------------------------------- list_transactions
def list_transactions(ctx: ToolContext, params: TransactionsInput) -> TransactionsOutput:
    """One page of matching transactions with the count and signed total of all matches."""
    with ctx.sessions() as session:
        account = _resolve_account(session, ctx, params.account)
        category = _resolve_category(session, ctx, params.category)
        family = q.category_family(session, ctx.user_id, category.id) if category else None
        flt = q.TransactionFilter(
            start=params.start_date, end=params.end_date,
            account_id=account.id if account else None, category_ids=family,
            payee=params.payee, text=params.text, min_abs=params.min_amount,
            max_abs=params.max_amount, direction=params.direction,
            include_transfers=params.include_transfers,
        )
        page = q.find_transactions(session, ctx.user_id, flt, sort=params.sort,
                                   limit=params.limit, offset=params.offset)
        if len(page.totals) > 1:
            names = [a.name for a in q.accounts(session, ctx.user_id)]
            raise ToolArgumentError(
                "account",
                f"the matches are in {len(page.totals)} currencies "
                f"({', '.join(page.totals)}); name one account to get a total",
                allowed=names,
            )
    return TransactionsOutput(
        total_count=page.total_count,
        total_amount=next(iter(page.totals.values()), ZERO),
        transactions=[TransactionRow(**vars(row.masked())) for row in page.rows],
        limit=params.limit,
        offset=params.offset,
        has_more=params.offset + len(page.rows) < page.total_count,
    )


# ---------------------------------------------------------------- the tools
get_balance_tool: Tool[BalanceInput, BalanceOutput] = Tool(
    name="get_balance",
    description=(
        "Balance of one account or of all accounts at the end of a day (default: today), "
        "with the total per currency (net worth; loans and cards count negative)."
    ),
    input_model=BalanceInput, output_model=BalanceOutput, fn=get_balance,
    action=Action.READ_SUMMARY,
)
spending_breakdown_tool: Tool[SpendingInput, SpendingOutput] = Tool(
    name="spending_breakdown",
    description=(
        "Spending in a period (inclusive dates) grouped by category, merchant or month, with "
        "each group's amount, share in percent and count; optionally only one category (a "
        "group includes its subcategories) or account, the top N groups, and the previous "
        "period for comparison. Transfers between own accounts are excluded; refunds reduce "
        "spending."
    ),
    input_model=SpendingInput, output_model=SpendingOutput, fn=spending_breakdown,
    action=Action.READ_SUMMARY,
)
cash_flow_tool: Tool[CashFlowInput, CashFlowOutput] = Tool(
    name="cash_flow",
    description=(
        "Income, spending and net saving per month over a period (inclusive dates), and in "
        "total; transfers between own accounts are neither income nor spending."
    ),
    input_model=CashFlowInput, output_model=CashFlowOutput, fn=cash_flow,
    action=Action.READ_SUMMARY,
)
budget_projection_tool: Tool[BudgetInput, BudgetOutput] = Tool(
    name="budget_projection",
    description=(
        "The user's monthly budgets for a month (default: this month): budget, spent so far, "
        "projected month-end spending and status (under, at_risk, over), with the method."
    ),
    input_model=BudgetInput, output_model=BudgetOutput, fn=budget_projection,
    action=Action.READ_SUMMARY,
)
list_transactions_tool: Tool[TransactionsInput, TransactionsOutput] = Tool(
    name="list_transactions",
    description=(
        "Find transactions by period, account, category, payee or text, amount range and "
        "direction; sorted and paginated, with the count and signed total of all matches."
    ),
    input_model=TransactionsInput, output_model=TransactionsOutput, fn=list_transactions,
    action=Action.READ_TRANSACTIONS,
)

LEDGER_TOOLS = (get_balance_tool, spending_breakdown_tool, cash_flow_tool,
                budget_projection_tool, list_transactions_tool)
"""The ledger tools in the order they are offered to models."""
