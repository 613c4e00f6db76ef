"""Recurring payments: cadence, typical amount, next date, price changes, and the tool."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from import_support import Ledger, open_ledger
from sqlalchemy import text

from ledger.recurring import find_recurring
from tools.base import ToolContext
from tools.recurring import recurring_payments_tool

TODAY = dt.date(2026, 10, 20)
D = Decimal


def _monthly(first: dt.date, amounts: list[str]) -> list[tuple[dt.date, str]]:
    return [(first + relativedelta(months=i), a) for i, a in enumerate(amounts)]


SERIES: dict[str, list[tuple[dt.date, str]]] = {
    "Netflix": _monthly(dt.date(2025, 11, 12), ["-9.99"] * 8 + ["-11.99"] * 4),
    "PureGym": [(TODAY - dt.timedelta(days=7 * k), "-10.00") for k in range(9, -1, -1)],
    "Aviva Insurance": [(dt.date(2025, 3, 1), "-120.00"), (dt.date(2026, 3, 1), "-132.00")],
    "Octopus Energy": _monthly(dt.date(2026, 5, 5), ["-80", "-95", "-70", "-88", "-102", "-76"]),
    "Tesco": [(dt.date(2026, 9, 1) + dt.timedelta(days=d), f"-{23 + d}.{d:02d}")
              for d in (0, 2, 11, 15, 27, 30, 37, 38, 48)],
    "Apple": _monthly(dt.date(2026, 4, 3), ["-0.99"] * 7)
    + _monthly(dt.date(2026, 4, 20), ["-10.99"] * 7),
    "Disney+": _monthly(dt.date(2025, 11, 20), ["-7.99"] * 6),
    "Acme Payroll": _monthly(dt.date(2026, 4, 28), ["3000.00"] * 6),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    url = str(tmp_path / "ledger.db") if request.param == "sqlite" else request.getfixturevalue(
        "pg_url")
    with open_ledger(url, tmp_path / "models") as opened:
        rows = [(opened.alice, payee, day, amount, False)
                for payee, payments in SERIES.items() for day, amount in payments]
        rows += [(opened.alice, "Transfer to Savings", day, amount, True)
                 for day, amount in _monthly(dt.date(2026, 1, 1), ["-500.00"] * 10)]
        rows += [(opened.bob, "Netflix", day, amount, False)
                 for day, amount in _monthly(dt.date(2026, 1, 3), ["-6.99"] * 9)]
        with opened.engine.begin() as conn:
            for user, payee, day, amount, transfer in rows:
                conn.execute(
                    text("INSERT INTO transactions (user_id, account_id, date, amount, currency,"
                         " payee, is_transfer) SELECT :u, id, :d, :c, 'GBP', :p, :t FROM "
                         "accounts WHERE user_id = :u AND name = 'Checking'"),
                    {"u": user, "d": day, "c": int(D(amount) * 100), "p": payee, "t": transfer},
                )
        yield opened


def _found(ledger: Ledger) -> dict[tuple[str, Decimal], object]:
    with ledger.sessions() as session:
        series = find_recurring(session, ledger.alice, today=TODAY)
    return {(s.payee, s.typical_amount): s for s in series}


def test_cadences_amounts_and_next_dates(ledger: Ledger) -> None:
    found = _found(ledger)
    summary = {
        key: (s.direction, s.cadence, s.occurrences, s.next_expected, s.active,
              s.monthly_equivalent, s.amount_varies)
        for key, s in found.items()
    }
    assert summary == {
        ("Netflix", D("11.99")): ("outflow", "monthly", 12, dt.date(2026, 11, 12), True,
                                  D("11.99"), False),
        ("PureGym", D("10.00")): ("outflow", "weekly", 10, dt.date(2026, 10, 27), True,
                                  D("43.33"), False),
        ("Aviva Insurance", D("132.00")): ("outflow", "yearly", 2, dt.date(2027, 3, 1), True,
                                           D("11.00"), False),
        ("Octopus Energy", D("84.00")): ("outflow", "monthly", 6, dt.date(2026, 11, 5), True,
                                         D("84.00"), True),
        ("Apple", D("0.99")): ("outflow", "monthly", 7, dt.date(2026, 11, 3), True,
                               D("0.99"), False),
        ("Apple", D("10.99")): ("outflow", "monthly", 7, dt.date(2026, 11, 20), True,
                                D("10.99"), False),
        ("Disney+", D("7.99")): ("outflow", "monthly", 6, dt.date(2026, 5, 20), False,
                                 D("7.99"), False),
        ("Acme Payroll", D("3000.00")): ("inflow", "monthly", 6, dt.date(2026, 10, 28), True,
                                         D("3000.00"), False),
    }  # no Tesco (irregular), no transfer, nothing of bob's


def test_price_changes_are_dated_and_only_for_fixed_prices(ledger: Ledger) -> None:
    found = _found(ledger)
    netflix = found[("Netflix", D("11.99"))].price_changes
    assert [(c.date, c.old_amount, c.new_amount, c.change, c.change_pct) for c in netflix] == [
        (dt.date(2026, 7, 12), D("9.99"), D("11.99"), D("2.00"), D("20.0"))
    ]
    insurance = found[("Aviva Insurance", D("132.00"))].price_changes
    assert [(c.date, c.change) for c in insurance] == [(dt.date(2026, 3, 1), D("12.00"))]
    assert found[("Octopus Energy", D("84.00"))].price_changes == ()


def _run(ledger: Ledger, **arguments: object) -> dict:
    ctx = ToolContext(sessions=ledger.sessions, user_id=ledger.alice, today=TODAY)
    result = recurring_payments_tool.run(ctx, arguments)
    assert result.ok, result.failure
    return result.to_dict()


def test_tool_lists_active_outflows_with_a_monthly_total(ledger: Ledger) -> None:
    output = _run(ledger)
    assert [i["payee"] for i in output["items"]] == [
        "Octopus Energy", "PureGym", "Netflix", "Aviva Insurance", "Apple", "Apple"]
    # 84.00 + 43.33 + 11.99 + 11.00 + 10.99 + 0.99, by hand
    assert output["monthly_total"] == [{"currency": "GBP", "amount": "162.30"}]
    assert output["items"][0]["typical_amount"] == "84.00"  # exact decimal strings


def test_did_any_bill_go_up(ledger: Ledger) -> None:
    output = _run(ledger, only_price_increases=True)
    assert [(r["payee"], r["date"], r["old_amount"], r["new_amount"])
            for r in output["price_increases"]] == [
        ("Netflix", "2026-07-12", "9.99", "11.99"),
        ("Aviva Insurance", "2026-03-01", "120.00", "132.00"),
    ]
    recent = _run(ledger, only_price_increases=True, changed_since="2026-06-01")
    assert [i["payee"] for i in recent["items"]] == ["Netflix"]


def test_tool_filters(ledger: Ledger) -> None:
    assert [i["payee"] for i in _run(ledger, direction="inflow")["items"]] == ["Acme Payroll"]
    assert [i["payee"] for i in _run(ledger, cadence="weekly")["items"]] == ["PureGym"]
    assert [i["payee"] for i in _run(ledger, payee="APPLE")["items"]] == ["Apple", "Apple"]
    stopped = _run(ledger, include_inactive=True, payee="disney")["items"]
    assert [(i["payee"], i["active"]) for i in stopped] == [("Disney+", False)]


def test_tool_arguments_are_validated() -> None:
    ctx = ToolContext(sessions=None, user_id=1, today=TODAY)  # type: ignore[arg-type]
    failure = recurring_payments_tool.run(ctx, {"cadence": "hourly"}).failure
    assert failure is not None and failure.field == "cadence"
    failure = recurring_payments_tool.run(ctx, {"user_id": 2}).failure
    assert failure is not None and failure.error == "invalid_arguments"
