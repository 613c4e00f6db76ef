"""Uncategorised money: outflows are spending, inflows are income (never refunds)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from ledger.db import create_schema, make_engine, session_factory
from ledger.models import Account, Transaction
from ledger.users import create_user
from tools import default_registry
from tools.base import ToolContext


def test_a_fresh_import_without_categories_reads_as_income_and_spending(tmp_path: Path) -> None:
    engine = make_engine(str(tmp_path / "ledger.db"))
    create_schema(engine)
    sessions = session_factory(engine)
    rows = [("2026-10-01", "2500.00", "ACME LTD SALARY"), ("2026-10-03", "-64.20", "TESCO 2231"),
            ("2026-10-09", "-12.50", "PRET A MANGER"), ("2026-10-20", "30.00", "FROM J SMITH")]
    with sessions() as session:
        user = create_user(session, "dora", currency="GBP")
        account = session.query(Account).filter_by(user_id=user.id).one()
        for day, amount, payee in rows:
            session.add(Transaction(user_id=user.id, account_id=account.id,
                                    date=dt.date.fromisoformat(day), amount=Decimal(amount),
                                    currency="GBP", payee=payee))
        session.commit()
        user_id = user.id
    ctx = ToolContext(sessions=sessions, user_id=user_id, today=dt.date(2026, 10, 31))
    period = {"start_date": "2026-10-01", "end_date": "2026-10-31"}

    spending = default_registry().run(ctx, "spending_breakdown", period).to_dict()
    flow = default_registry().run(ctx, "cash_flow", period).to_dict()

    outflows = -sum(Decimal(a) for _, a, _ in rows if Decimal(a) < 0)
    inflows = sum(Decimal(a) for _, a, _ in rows if Decimal(a) > 0)
    assert Decimal(spending["total"]) == outflows == Decimal("76.70")
    assert Decimal(flow["income"]) == inflows == Decimal("2530.00")
    assert Decimal(flow["spending"]) == outflows
    assert Decimal(flow["net"]) == inflows - outflows
