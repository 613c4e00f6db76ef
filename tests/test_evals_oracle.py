"""The evaluation oracle against a tiny ledger whose answers were worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from evals.oracle import Oracle, OracleError, check_query
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import Account, AccountKind, Budget, Category, Transaction
from ledger.users import add_account, create_user

TODAY = dt.date(2026, 10, 2)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path: Path = tmp_path_factory.mktemp("oracle") / "tiny.db"
    engine = make_engine(str(path))
    create_schema(engine)
    with session_factory(engine).begin() as session:
        ann = create_user(session, "ann", opened_on=dt.date(2026, 1, 1))
        checking = session.scalars(select(Account).where(Account.user_id == ann.id)).one()
        checking.opening_balance = Decimal("1000.00")
        card = add_account(session, ann, "Card", kind=AccountKind.CREDIT_CARD, currency="EUR",
                           opened_on=dt.date(2026, 1, 1))
        cats = {c.name: c.id for c in session.scalars(
            select(Category).where(Category.user_id == ann.id))}
        rows = [
            (checking, "2026-08-30", "-20.00", "REWE", None, "Groceries", False),
            (checking, "2026-09-01", "-500.00", "Landlord", None, "Rent", False),
            (checking, "2026-09-03", "-40.00", "REWE 1234", None, "Groceries", False),
            (card, "2026-09-05", "-60.00", "Lidl", None, "Groceries", False),
            (card, "2026-09-06", "10.00", "Lidl", "Refund", "Groceries", False),
            (checking, "2026-09-10", "-25.00", "Cafe", None, "Coffee", False),
            (checking, "2026-09-12", "-15.00", "Flohmarkt", None, None, False),
            (checking, "2026-09-25", "2000.00", "Employer", None, "Salary", False),
            (checking, "2026-09-28", "-100.00", "Transfer to Card", None, None, True),
            (card, "2026-09-28", "100.00", "Transfer from Checking", None, None, True),
            (checking, "2026-10-02", "-30.00", "rewe", None, "Groceries", False),
        ]
        for account, day, amount, payee, memo, category, transfer in rows:
            session.add(Transaction(
                user_id=ann.id, account_id=account.id, date=dt.date.fromisoformat(day),
                amount=Decimal(amount), currency="EUR", payee=payee, memo=memo,
                category_id=cats[category] if category else None, is_transfer=transfer,
            ))
        session.add(Budget(user_id=ann.id, category_id=cats["Groceries"], amount=Decimal("80")))
        ben = create_user(session, "ben", opened_on=dt.date(2026, 1, 1))
        ben_checking = session.scalars(select(Account).where(Account.user_id == ben.id)).one()
        ben_checking.opening_balance = Decimal("50.00")
        session.add(Transaction(user_id=ben.id, account_id=ben_checking.id,
                                date=dt.date(2026, 9, 2), amount=Decimal("5.00"),
                                currency="EUR", payee="Gift"))
    return engine


SEPTEMBER = {"start": "2026-09-01", "end": "2026-09-30"}

EXPECTED = [
    # outflows minus the refund, the uncategorised one included, the transfer and salary not
    ({"spending": SEPTEMBER}, Decimal("630.00")),
    ({"spending": {"month": "2026-09"}}, Decimal("630.00")),
    ({"spending": {**SEPTEMBER, "category": "Food"}}, Decimal("115.00")),  # group: children
    ({"spending": {**SEPTEMBER, "category": "Groceries"}}, Decimal("90.00")),
    ({"spending": {**SEPTEMBER, "account": "Card"}}, Decimal("50.00")),
    ({"spending": {**SEPTEMBER, "payee": "rewe"}}, Decimal("40.00")),
    ({"income": SEPTEMBER}, Decimal("2000.00")),
    ({"net": SEPTEMBER}, Decimal("1370.00")),
    ({"balance": {"account": "Checking"}}, Decimal("2270.00")),
    ({"balance": {"account": "Checking", "as_of": "2026-09-30"}}, Decimal("2300.00")),
    ({"balance": {"account": "Card"}}, Decimal("50.00")),
    ({"balance": {}}, Decimal("2320.00")),
    ({"balance": {"user": "ben"}}, Decimal("55.00")),
    ({"balance": {"accounts": ["Checking", "Card"]}}, Decimal("2320.00")),
    ({"count": {"payee": "rewe"}}, 3),
    ({"count": {**SEPTEMBER, "payee": "rewe"}}, 1),
    ({"count": {**SEPTEMBER, "direction": "inflow", "include_transfers": False}}, 2),
    ({"count": {"min_amount": 100}}, 4),  # the transfer's two legs included
    ({"count": {"max_amount": 20}}, 3),
    ({"sum": {"text": "refund"}}, Decimal("10.00")),
    ({"largest": SEPTEMBER}, Decimal("500.00")),
    ({"largest_payee": SEPTEMBER}, "Landlord"),
    ({"top_category": SEPTEMBER}, "Rent"),
    ({"top_category": {**SEPTEMBER, "level": "group"}}, "Housing"),
    ({"top_payee": {**SEPTEMBER, "category": "Food"}}, "Lidl"),
    ({"top_month": {"start": "2026-08-01", "end": "2026-10-31"}}, "September"),
    ({"top_month": {"start": "2026-08-01", "end": "2026-10-31", "measure": "spending"}},
     "September"),
    ({"top_month": {"start": "2026-08-01", "end": "2026-08-31", "measure": "income"}},
     "August"),
    ({"budget": {"category": "Groceries"}}, Decimal("80.00")),
    ({"budget": {}}, Decimal("80.00")),
    ({"budget_spent": {"category": "Groceries"}}, Decimal("30.00")),
    ({"budget_spent": {"category": "Groceries", "month": "2026-09"}}, Decimal("90.00")),
    ({"over_budget": {"month": "2026-09"}}, ["Groceries"]),
    ({"over_budget": {}}, []),
    ({"accounts": {}}, ["Card", "Checking"]),
]


@pytest.mark.parametrize(("query", "expected"), EXPECTED, ids=[str(q) for q, _ in EXPECTED])
def test_oracle_matches_hand_computation(engine: Engine, query: dict, expected: object) -> None:
    assert Oracle(engine, "ann", TODAY).evaluate(query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"spending": {"category": "Nope", **SEPTEMBER}}, "no category"),
        ({"spending": {"account": "Nope", **SEPTEMBER}}, "no account"),
        ({"balance": {"user": "nobody"}}, "no user"),
        ({"budget": {"category": "Rent"}}, "no budget"),
        ({"spending": {"start": "yesterday"}}, "not a date"),
    ],
)
def test_oracle_errors_name_the_problem(engine: Engine, query: dict, message: str) -> None:
    with pytest.raises(OracleError, match=message):
        Oracle(engine, "ann", TODAY).evaluate(query)


def test_unknown_queries_and_parameters_are_rejected_before_running() -> None:
    with pytest.raises(OracleError, match="unknown oracle query 'spend'"):
        check_query({"spending": {}, "spend": {}})
    with pytest.raises(OracleError, match=r"unknown parameter\(s\) \['categry'\]"):
        check_query({"spending": {"categry": "Food"}})
