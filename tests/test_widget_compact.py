"""The widget's compact view of tool results: exact amounts, bounded rows, any tool shape."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tools.base import ToolFailure
from tools.schemas import (
    AccountBalance,
    BalanceOutput,
    BudgetLine,
    BudgetOutput,
    CurrencyTotal,
    PeriodTotal,
    SpendingOutput,
    SpendingRow,
    TransactionRow,
    TransactionsOutput,
)
from webui.compact import MAX_BARS, MAX_ROWS, compact_result

SEP_1, SEP_30 = dt.date(2026, 9, 1), dt.date(2026, 9, 30)


def _spending(rows: int, *, previous: bool = False) -> dict:
    output = SpendingOutput(
        start_date=SEP_1, end_date=SEP_30, group_by="category", currency="EUR",
        total=Decimal("1234.50"),
        rows=[
            SpendingRow(key=f"Cat {i}", amount=Decimal(f"{100 - i}.05"), share=Decimal("2.50"),
                        count=i + 1, previous_amount=Decimal("7.00") if previous else None)
            for i in range(rows)
        ],
        previous=PeriodTotal(start_date=dt.date(2026, 8, 2), end_date=dt.date(2026, 8, 31),
                             total=Decimal("999.99")) if previous else None,
    )
    return output.model_dump(mode="json")


def test_a_breakdown_becomes_a_table_and_bars_with_the_exact_amounts() -> None:
    view = compact_result("spending_breakdown", True, _spending(3))

    assert view["table"]["columns"] == ["Category", "Amount", "Share %", "Count"]
    assert view["table"]["rows"][0] == ["Cat 0", "100.05", "2.50", "1"]
    assert view["chart"]["unit"] == "EUR"
    assert view["chart"]["bars"] == [
        {"label": "Cat 0", "value": "100.05"},
        {"label": "Cat 1", "value": "99.05"},
        {"label": "Cat 2", "value": "98.05"},
    ]
    assert "1234.50 EUR" in view["summary"] and "2026-09-01" in view["summary"]


def test_a_comparison_adds_the_previous_column_and_total() -> None:
    view = compact_result("spending_breakdown", True, _spending(2, previous=True))

    assert view["table"]["columns"][-1] == "Previous"
    assert view["table"]["rows"][1][-1] == "7.00"
    assert "999.99" in view["summary"]


def test_long_results_are_cut_and_say_how_many_rows_there_were() -> None:
    view = compact_result("spending_breakdown", True, _spending(MAX_ROWS + 7))

    assert len(view["table"]["rows"]) == MAX_ROWS
    assert view["table"]["total_rows"] == MAX_ROWS + 7
    assert [bar["label"] for bar in view["chart"]["bars"]] == [f"Cat {i}" for i in range(MAX_BARS)]


def test_budget_bars_carry_the_budget_as_their_limit() -> None:
    output = BudgetOutput(
        period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 31),
        as_of=dt.date(2026, 10, 20), days_elapsed=20, days_in_period=31, currency="EUR",
        method="spent so far divided by days elapsed, times days in the month",
        budgets=[BudgetLine(category="Groceries", budget=Decimal("400.00"),
                            spent=Decimal("300.00"), projected=Decimal("465.00"),
                            projected_difference=Decimal("65.00"), status="at_risk")],
        total_budget=Decimal("400.00"), total_spent=Decimal("300.00"),
        total_projected=Decimal("465.00"),
    ).model_dump(mode="json")

    view = compact_result("budget_projection", True, output)

    assert view["table"]["rows"] == [["Groceries", "400.00", "300.00", "465.00", "at_risk"]]
    assert view["chart"]["bars"] == [{"label": "Groceries", "value": "465.00",
                                      "limit": "400.00"}]
    assert "20 of 31 days" in view["summary"]


def test_balances_and_transactions_keep_text_as_data() -> None:
    balances = BalanceOutput(
        as_of=SEP_30,
        accounts=[AccountBalance(account="Checking", kind="checking", currency="EUR",
                                 balance=Decimal("-12.30"))],
        net_worth=[CurrencyTotal(currency="EUR", amount=Decimal("-12.30"))],
    ).model_dump(mode="json")
    hostile = "<img src=x onerror=alert(1)>"
    transactions = TransactionsOutput(
        total_count=40, total_amount=Decimal("-80.00"), limit=1, offset=0, has_more=True,
        transactions=[TransactionRow(id=1, date=SEP_1, account="Checking", payee=hostile,
                                     memo=None, category=None, amount=Decimal("-2.00"),
                                     currency="EUR", is_transfer=False)],
    ).model_dump(mode="json")

    assert compact_result("get_balance", True, balances)["table"]["rows"] == [
        ["Checking", "checking", "-12.30", "EUR"]
    ]
    view = compact_result("list_transactions", True, transactions)
    assert view["table"]["rows"] == [["2026-09-01", hostile, "", "", "-2.00"]]
    assert view["table"]["total_rows"] == 40  # the page is 1 of 40 matches


def test_a_failure_shows_its_message() -> None:
    failure = ToolFailure(error="invalid_arguments", message="unknown category 'Grocery'",
                          field="category", allowed=["Groceries"]).model_dump(mode="json")
    assert compact_result("spending_breakdown", False, failure) == {
        "error": "unknown category 'Grocery'"
    }


def test_an_unknown_tool_gets_a_generic_table_of_its_first_record_list() -> None:
    result = {"currency": "EUR", "total": "29.98", "note": "ignored",
              "items": [{"payee": "Netflix", "amount": "14.99", "tags": ["x"]},
                        {"payee": "Spotify", "amount": "14.99", "tags": []}]}

    view = compact_result("recurring_payments", True, result)

    assert view["summary"] == "currency: EUR; total: 29.98"
    assert view["table"]["columns"] == ["payee", "amount"]
    assert view["table"]["rows"] == [["Netflix", "14.99"], ["Spotify", "14.99"]]


def test_a_known_tool_with_an_unexpected_shape_falls_back_to_the_generic_view() -> None:
    view = compact_result("spending_breakdown", True, {"total": "5.00"})
    assert view == {"summary": "total: 5.00"}
