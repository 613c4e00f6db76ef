"""The five ledger tools against values computed independently (pandas over plain rows), on
SQLite and PostgreSQL. The demo ledger's "today" is 2026-10-20 for every user."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from tools import default_registry
from tools.base import ToolContext, ToolFailure
from tools.ledger_tools import _previous_period
from tools.profile import load_profile

if TYPE_CHECKING:
    from conftest import LedgerDB

D = dt.date
SEPTEMBER = (D(2026, 9, 1), D(2026, 9, 30))
USERS = ["alice", "bob"]
REGISTRY = default_registry()


def dec(cents: Any) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def run(ctx: ToolContext, tool: str, **arguments: Any) -> Any:
    result = REGISTRY.run(ctx, tool, arguments)
    assert result.ok, result.failure
    return result.output


def fail(ctx: ToolContext, tool: str, **arguments: Any) -> ToolFailure:
    result = REGISTRY.run(ctx, tool, arguments)
    assert result.failure is not None, result.output
    return result.failure


def in_period(rows: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    return rows[(rows.date >= start) & (rows.date <= end)]


def spending_rows(rows: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The semantics, restated: no transfers, no income categories, uncategorised counts."""
    chosen = in_period(rows, start, end)
    return chosen[~chosen.is_transfer & (chosen.kind != "INCOME")]


def expected_groups(frame: pd.DataFrame, key: pd.Series) -> dict[str, tuple[Decimal, int]]:
    grouped = frame.groupby(key)["cents"].agg(["sum", "count"])
    return {k: (dec(-row["sum"]), int(row["count"])) for k, row in grouped.iterrows()}


def accounts_of(db: LedgerDB, user: str) -> list[tuple]:
    return db.query(
        "SELECT a.id, a.name, a.opening_balance, a.opened_on FROM accounts a "
        "JOIN users u ON u.id = a.user_id WHERE u.name = :user ORDER BY a.id", user=user)


# ---------------------------------------------------------------- get_balance
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("as_of", [None, D(2026, 10, 1), D(2025, 6, 30), D(2024, 11, 1)])
def test_balances_are_opening_plus_rows_up_to_the_day(
    ledger_db: LedgerDB, user: str, as_of: dt.date | None
) -> None:
    ctx = ledger_db.context(user)
    day = as_of or ctx.today
    rows = ledger_db.rows_of(user)
    expected = {
        name: dec(opening + rows[(rows.account_id == account_id) & (rows.date <= day)].cents.sum())
        for account_id, name, opening, _ in accounts_of(ledger_db, user)
    }
    output = run(ctx, "get_balance", **({"as_of": as_of.isoformat()} if as_of else {}))
    assert output.as_of == day
    assert {a.account: a.balance for a in output.accounts} == expected
    assert [(t.currency, t.amount) for t in output.net_worth] == [
        (output.accounts[0].currency, sum(expected.values()))
    ]


def test_balance_of_one_account_by_any_case(ledger_db: LedgerDB) -> None:
    output = run(ledger_db.context("alice"), "get_balance", account="  visa CARD ")
    assert [a.account for a in output.accounts] == ["Visa Card"]


def test_balances_before_the_ledger_are_zero_and_after_it_stay_put(ledger_db: LedgerDB) -> None:
    ctx = ledger_db.context("bob")
    before = run(ctx, "get_balance", as_of="2019-12-31")
    assert {a.balance for a in before.accounts} == {Decimal("0.00")}
    later = run(ctx, "get_balance", as_of="2031-01-01")
    now = run(ctx, "get_balance")
    assert later.accounts == now.accounts


# ---------------------------------------------------------------- spending_breakdown
@pytest.mark.parametrize("user", USERS)
def test_spending_by_category_matches_the_oracle(ledger_db: LedgerDB, user: str) -> None:
    chosen = spending_rows(ledger_db.rows_of(user), *SEPTEMBER)
    expected = expected_groups(chosen, chosen.category.fillna("Uncategorised"))
    output = run(ledger_db.context(user), "spending_breakdown",
                 start_date="2026-09-01", end_date="2026-09-30")
    assert {r.key: (r.amount, r.count) for r in output.rows} == expected
    assert output.total == dec(-chosen.cents.sum())
    assert [r.amount for r in output.rows] == sorted((r.amount for r in output.rows),
                                                      reverse=True)
    assert abs(sum(r.share for r in output.rows) - 100) <= Decimal("0.01") * len(output.rows)


@pytest.mark.parametrize("user", USERS)
def test_spending_by_merchant_and_by_month(ledger_db: LedgerDB, user: str) -> None:
    ctx = ledger_db.context(user)
    start, end = D(2026, 4, 1), D(2026, 9, 30)
    chosen = spending_rows(ledger_db.rows_of(user), start, end)
    merchants = run(ctx, "spending_breakdown", start_date=start.isoformat(),
                    end_date=end.isoformat(), group_by="merchant")
    assert {r.key: (r.amount, r.count) for r in merchants.rows} == expected_groups(
        chosen, chosen.payee)
    months = run(ctx, "spending_breakdown", start_date=start.isoformat(),
                 end_date=end.isoformat(), group_by="month")
    by_month = expected_groups(chosen, chosen.date.map(lambda d: d.strftime("%Y-%m")))
    assert [(r.key, r.amount, r.count) for r in months.rows] == [
        (k, *by_month[k]) for k in sorted(by_month)
    ]


def test_months_without_spending_are_listed_as_zero(ledger_db: LedgerDB) -> None:
    output = run(ledger_db.context("alice"), "spending_breakdown", start_date="2026-09-01",
                 end_date="2026-12-31", group_by="month")
    assert [(r.key, r.amount) for r in output.rows][1:] == [
        ("2026-10", output.rows[1].amount), ("2026-11", Decimal("0.00")),
        ("2026-12", Decimal("0.00"))]


def test_a_group_includes_its_subcategories(ledger_db: LedgerDB) -> None:
    rows = ledger_db.rows_of("alice")
    chosen = spending_rows(rows, *SEPTEMBER)
    food = chosen[(chosen.parent == "Food") | (chosen.category == "Food")]
    output = run(ledger_db.context("alice"), "spending_breakdown", start_date="2026-09-01",
                 end_date="2026-09-30", category="food")
    assert {r.key for r in output.rows} == {"Groceries", "Dining Out", "Coffee"}
    assert output.total == dec(-food.cents.sum())


def test_account_filter(ledger_db: LedgerDB) -> None:
    chosen = spending_rows(ledger_db.rows_of("alice"), *SEPTEMBER)
    on_card = chosen[chosen.account == "Visa Card"]
    output = run(ledger_db.context("alice"), "spending_breakdown", start_date="2026-09-01",
                 end_date="2026-09-30", account="Visa Card", group_by="merchant")
    assert output.total == dec(-on_card.cents.sum())
    assert sum(r.count for r in output.rows) == len(on_card)


def test_transfers_are_neither_spending_nor_income(ledger_db: LedgerDB) -> None:
    rows = in_period(ledger_db.rows_of("alice"), *SEPTEMBER)
    transfers = rows[rows.is_transfer]
    assert len(transfers) >= 4 and transfers.cents.lt(0).any()  # the test can fail
    checking = rows[rows.account == "Checking"]  # where only the outgoing legs are
    output = run(ledger_db.context("alice"), "spending_breakdown", start_date="2026-09-01",
                 end_date="2026-09-30", account="Checking")
    spending = checking[~checking.is_transfer & (checking.kind != "INCOME")]
    assert output.total == dec(-spending.cents.sum())
    assert output.total != dec(-checking[checking.kind != "INCOME"].cents.sum())
    flow = run(ledger_db.context("alice"), "cash_flow", start_date="2026-09-01",
               end_date="2026-09-30")
    assert flow.income == dec(rows[~rows.is_transfer & (rows.kind == "INCOME")].cents.sum())


def test_refunds_reduce_spending(ledger_db: LedgerDB) -> None:
    rows = ledger_db.rows_of("alice")
    refunds = rows[(rows.category == "Clothing") & (rows.cents > 0)]
    assert not refunds.empty
    day = refunds.date.iloc[0]
    start, end = day.replace(day=1), (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()
    clothing = in_period(rows, start, end)
    clothing = clothing[clothing.category == "Clothing"]
    output = run(ledger_db.context("alice"), "spending_breakdown", start_date=start.isoformat(),
                 end_date=end.isoformat(), category="Clothing")
    assert output.total == dec(-clothing.cents.sum())
    assert output.total < dec(-clothing[clothing.cents < 0].cents.sum())


def test_period_ends_are_inclusive(ledger_db: LedgerDB) -> None:
    rows = ledger_db.rows_of("bob")
    spend_days = sorted(set(spending_rows(rows, D(2026, 3, 1), D(2026, 3, 31)).date))
    start, end = spend_days[1], spend_days[-2]
    output = run(ledger_db.context("bob"), "spending_breakdown", start_date=start.isoformat(),
                 end_date=end.isoformat())
    inclusive = spending_rows(rows, start, end)
    exclusive = inclusive[(inclusive.date > start) & (inclusive.date < end)]
    assert output.total == dec(-inclusive.cents.sum())
    assert output.total != dec(-exclusive.cents.sum())


def test_previous_period_and_top_n(ledger_db: LedgerDB) -> None:
    rows = ledger_db.rows_of("alice")
    august = spending_rows(rows, D(2026, 8, 1), D(2026, 8, 31))
    output = run(ledger_db.context("alice"), "spending_breakdown", start_date="2026-09-01",
                 end_date="2026-09-30", top_n=3, compare_previous=True)
    assert output.previous is not None
    assert (output.previous.start_date, output.previous.end_date) == (D(2026, 8, 1),
                                                                      D(2026, 8, 31))
    assert output.previous.total == dec(-august.cents.sum())
    before = expected_groups(august, august.category.fillna("Uncategorised"))
    assert len(output.rows) == 3
    for row in output.rows:
        assert row.previous_amount == before.get(row.key, (Decimal("0.00"),))[0]
    assert output.other_rows_total == output.total - sum(r.amount for r in output.rows)


def test_months_compare_with_the_same_position_in_the_previous_period(
    ledger_db: LedgerDB,
) -> None:
    rows = spending_rows(ledger_db.rows_of("bob"), D(2026, 4, 1), D(2026, 9, 30))
    by_month = rows.groupby(rows.date.map(lambda d: d.strftime("%Y-%m"))).cents.sum()
    output = run(ledger_db.context("bob"), "spending_breakdown", start_date="2026-07-01",
                 end_date="2026-09-30", group_by="month", compare_previous=True)
    assert output.previous is not None and output.previous.start_date == D(2026, 4, 1)
    assert [(r.key, r.amount, r.previous_amount) for r in output.rows] == [
        (f"2026-0{m}", dec(-by_month[f"2026-0{m}"]), dec(-by_month[f"2026-0{m - 3}"]))
        for m in (7, 8, 9)]


def test_dates_outside_the_ledger_give_zeros(ledger_db: LedgerDB) -> None:
    output = run(ledger_db.context("alice"), "spending_breakdown", start_date="2019-01-01",
                 end_date="2019-12-31")
    assert output.total == Decimal("0.00") and output.rows == []


# ---------------------------------------------------------------- cash_flow
@pytest.mark.parametrize("user", USERS)
def test_cash_flow_per_month(ledger_db: LedgerDB, user: str) -> None:
    start, end = D(2026, 7, 1), D(2026, 11, 30)
    rows = in_period(ledger_db.rows_of(user), start, end)
    rows = rows[~rows.is_transfer].assign(month=lambda f: f.date.map(lambda d: d.strftime("%Y-%m")))
    output = run(ledger_db.context(user), "cash_flow", start_date=start.isoformat(),
                 end_date=end.isoformat())
    assert [m.month for m in output.months] == ["2026-07", "2026-08", "2026-09", "2026-10",
                                                "2026-11"]
    for month in output.months:
        these = rows[rows.month == month.month]
        income = these[these.kind == "INCOME"].cents.sum()
        spending = -these[these.kind != "INCOME"].cents.sum()
        assert (month.income, month.spending, month.net) == (dec(income), dec(spending),
                                                             dec(income - spending))
    assert output.net == output.income - output.spending
    assert output.months[-1].income == output.months[-1].spending == Decimal("0.00")


# ---------------------------------------------------------------- budget_projection
def budget_oracle(db: LedgerDB, user: str, today: dt.date) -> dict[str, tuple]:
    """(budget, spent, projected, status) per budget: spent so far + the mean over the three
    previous months of what was spent after today's day of the month."""
    rows = db.rows_of(user)
    rows = rows[~rows.is_transfer & (rows.kind != "INCOME")]
    first = today.replace(day=1)
    history = [(first - pd.DateOffset(months=n)).date() for n in (3, 2, 1)]
    result = {}
    for name, cents in db.query(
        "SELECT c.name, b.amount FROM budgets b JOIN categories c ON c.id = b.category_id "
        "JOIN users u ON u.id = b.user_id WHERE u.name = :user", user=user):
        family = rows[(rows.category == name) | (rows.parent == name)]
        spent = Decimal(-int(in_period(family, first, today).cents.sum())) / 100
        later = in_period(family, history[0], first - dt.timedelta(days=1))
        later = later[later.date.map(lambda d: d.day) > today.day]
        rest = max(Decimal(-int(later.cents.sum())) / 300, Decimal(0))
        projected = (spent + rest).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        budget = dec(cents)
        status = "over" if spent > budget else "at_risk" if projected > budget else "under"
        result[name] = (budget, spent, projected, status)
    return result


@pytest.mark.parametrize("user", USERS)
def test_budget_projection_uses_the_rest_of_previous_months(ledger_db: LedgerDB,
                                                           user: str) -> None:
    ctx = ledger_db.context(user)
    output = run(ctx, "budget_projection")
    assert (output.period_start, output.period_end, output.as_of) == (
        D(2026, 10, 1), D(2026, 10, 31), ctx.today)
    assert (output.days_elapsed, output.days_in_period) == (20, 31)
    assert "after day 20" in output.method and "3 full month" in output.method
    got = {b.category: (b.budget, b.spent, b.projected, b.status) for b in output.budgets}
    assert got == budget_oracle(ledger_db, user, ctx.today)
    assert output.total_projected == sum(b.projected for b in output.budgets)
    assert {b.status for b in output.budgets} >= {"under", "over"}  # a realistic mix


def test_budget_projection_without_history_is_linear(ledger_db: LedgerDB) -> None:
    ctx = ledger_db.context("alice", today=D(2024, 11, 15))
    output = run(ctx, "budget_projection", category="groceries")
    rows = spending_rows(ledger_db.rows_of("alice"), D(2024, 11, 1), D(2024, 11, 15))
    spent = dec(-rows[rows.category == "Groceries"].cents.sum())
    [line] = output.budgets
    assert line.spent == spent
    assert line.projected == (spent * 30 / 15).quantize(Decimal("0.01"))
    assert output.method.startswith("No full month of history: linear pace")


def test_budget_of_a_past_month_projects_what_was_spent(ledger_db: LedgerDB) -> None:
    output = run(ledger_db.context("bob"), "budget_projection", month="2026-08-17")
    assert output.as_of == D(2026, 8, 31) and output.days_elapsed == 31
    assert all(b.projected == b.spent for b in output.budgets)


def test_budget_for_a_category_without_budget_lists_the_budgeted_ones(
    ledger_db: LedgerDB,
) -> None:
    failure = fail(ledger_db.context("alice"), "budget_projection", category="Rent")
    assert failure.field == "category"
    assert failure.allowed == ["Groceries", "Dining Out", "Coffee", "Transport", "Shopping",
                               "Subscriptions"]


# ---------------------------------------------------------------- list_transactions
def test_pages_add_up_to_every_match(ledger_db: LedgerDB) -> None:
    ctx = ledger_db.context("alice")
    rows = in_period(ledger_db.rows_of("alice"), *SEPTEMBER)
    expected = rows.sort_values(["date", "id"], ascending=False).id.tolist()
    seen, offset = [], 0
    while True:
        page = run(ctx, "list_transactions", start_date="2026-09-01", end_date="2026-09-30",
                   limit=7, offset=offset)
        assert page.total_count == len(rows)
        assert page.total_amount == dec(rows.cents.sum())
        seen += [t.id for t in page.transactions]
        offset += 7
        if not page.has_more:
            break
    assert seen == expected


def test_transaction_filters(ledger_db: LedgerDB) -> None:
    ctx = ledger_db.context("alice")
    rows = ledger_db.rows_of("alice")
    page = run(ctx, "list_transactions", payee="rewe", min_amount="20", max_amount="60",
               direction="outflow", sort="amount_desc", limit=100)
    chosen = rows[rows.payee.str.lower().str.contains("rewe") & (rows.cents <= -2000)
                  & (rows.cents >= -6000)]
    assert page.total_count == len(chosen) > 0
    assert page.total_amount == dec(chosen.cents.sum())
    amounts = [abs(t.amount) for t in page.transactions]
    assert amounts == sorted(amounts, reverse=True)

    food = run(ctx, "list_transactions", category="Food", include_transfers=False,
               start_date="2026-09-01", end_date="2026-09-30", limit=100)
    assert {t.category for t in food.transactions} <= {"Groceries", "Dining Out", "Coffee"}
    assert food.total_count == len(in_period(rows[rows.parent == "Food"], *SEPTEMBER))

    no_transfers = run(ctx, "list_transactions", include_transfers=False, direction="inflow",
                       text="gehalt")
    salaries = rows[~rows.is_transfer & (rows.cents > 0) & (
        rows.payee.str.lower().str.contains("gehalt")
        | rows.memo.fillna("").str.lower().str.contains("gehalt"))]
    assert no_transfers.total_count == len(salaries) == 23


# ---------------------------------------------------------------- isolation and errors
def test_one_user_never_sees_another_users_rows(ledger_db: LedgerDB) -> None:
    alice = ledger_db.context("alice")
    failure = fail(alice, "get_balance", account="Amex")  # bob's card
    assert failure.field == "account"
    assert failure.allowed == ["Checking", "Savings", "Visa Card", "Car Loan"]
    savings = run(alice, "get_balance", account="Savings")  # both have one
    rows = ledger_db.rows_of("alice")
    [(account_id, _, opening, _)] = [a for a in accounts_of(ledger_db, "alice")
                                     if a[1] == "Savings"]
    assert savings.accounts[0].balance == dec(opening + rows[rows.account_id == account_id]
                                              .cents.sum())
    everything = run(alice, "list_transactions", limit=100)
    assert everything.total_count == len(rows)
    assert {t.currency for t in everything.transactions} == {"EUR"}
    assert run(alice, "list_transactions", payee="Tesco").total_count == 0
    bob_rows = ledger_db.rows_of("bob")
    assert not bob_rows[bob_rows.payee.str.contains("Tesco")].empty


def test_invalid_arguments_come_back_as_repairable_failures(ledger_db: LedgerDB) -> None:
    ctx = ledger_db.context("alice")
    failure = fail(ctx, "spending_breakdown", start_date="2026-09-01", end_date="2026-09-30",
                   category="Gadgets")
    assert failure.error == "invalid_arguments" and failure.field == "category"
    assert {"Groceries", "Food", "Salary", "Uncategorised"} <= set(failure.allowed or [])
    backwards = fail(ctx, "cash_flow", start_date="2026-09-30", end_date="2026-09-01")
    assert backwards.error == "invalid_arguments" and "end_date" in backwards.message
    extra = fail(ctx, "get_balance", user_id=2)
    assert extra.field == "user_id"
    top = fail(ctx, "spending_breakdown", start_date="2026-09-01", end_date="2026-09-30",
               top_n=0)
    assert top.field == "top_n"


# ---------------------------------------------------------------- profile and registry
def test_profile_describes_the_users_ledger(ledger_db: LedgerDB) -> None:
    ctx = ledger_db.context("bob")
    profile = load_profile(ctx)
    with ctx.sessions() as session:
        assert load_profile(session, ctx.user_id, ctx.today) == profile
    rows = ledger_db.rows_of("bob")
    counts = rows[~rows.is_transfer].groupby("payee").size().reset_index(name="n")
    top = counts.sort_values(["n", "payee"], ascending=[False, True]).payee.tolist()[:300]
    assert profile.user_name == "bob" and profile.currency == "GBP"
    assert profile.today == ctx.today and profile.first_date == min(rows.date)
    assert [a.name for a in profile.accounts] == ["Checking", "Savings", "Amex", "Stocks ISA"]
    assert {(c.name, c.parent) for c in profile.categories} >= {("Groceries", "Food"),
                                                                ("Food", None)}
    assert profile.payees == top
    assert profile.budget_categories == ["Groceries", "Dining Out", "Coffee", "Leisure",
                                         "Shopping"]


def test_default_registry_offers_the_ledger_tools_recurring_and_product_lookup() -> None:
    assert default_registry().names() == ["get_balance", "spending_breakdown", "cash_flow",
                                          "budget_projection", "list_transactions",
                                          "recurring_payments", "product_lookup"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-03-01", "2026-03-31", ("2026-02-01", "2026-02-28")),
        ("2026-10-01", "2026-10-20", ("2026-09-01", "2026-09-20")),
        ("2024-03-01", "2024-03-30", ("2024-02-01", "2024-02-29")),
        ("2026-07-01", "2026-09-30", ("2026-04-01", "2026-06-30")),
        ("2026-01-01", "2026-12-31", ("2025-01-01", "2025-12-31")),
        ("2026-10-11", "2026-10-20", ("2026-10-01", "2026-10-10")),
    ],
)
def test_previous_period_is_the_one_a_person_means(
    start: str, end: str, expected: tuple[str, str]
) -> None:
    got = _previous_period(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    assert (got[0].isoformat(), got[1].isoformat()) == expected
