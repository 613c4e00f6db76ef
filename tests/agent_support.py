"""A profile, a two-tool registry and a context for agent-loop tests that need no ledger."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import AsyncIterator
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import sessionmaker

from assistant.events import AgentEvent
from tools.base import VOCAB_KEY, Tool, ToolContext, ToolRegistry
from tools.profile import AccountInfo, CategoryInfo, UserProfile

BALANCES = {"Checking": Decimal("1520.35"), "Savings": Decimal("8000.00")}


class BalanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str = Field(json_schema_extra={VOCAB_KEY: "accounts"})


class BalanceOut(BaseModel):
    account: str
    balance: Decimal


class AddIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: Decimal
    b: Decimal


class AddOut(BaseModel):
    total: Decimal


def _balance(ctx: ToolContext, params: BalanceIn) -> BalanceOut:
    ctx.extras.setdefault("threads", []).append(threading.get_ident())
    return BalanceOut(account=params.account, balance=BALANCES[params.account])


def _add(ctx: ToolContext, params: AddIn) -> AddOut:
    return AddOut(total=params.a + params.b)


def make_registry() -> ToolRegistry:
    return ToolRegistry(
        [
            Tool("balance", "Balance of one account.", BalanceIn, BalanceOut, _balance),
            Tool("add", "Add two amounts.", AddIn, AddOut, _add),
        ]
    )


def make_profile() -> UserProfile:
    return UserProfile(
        user_name="ana",
        today=dt.date(2024, 5, 31),
        currency="EUR",
        accounts=[
            AccountInfo(name="Checking", kind="checking", currency="EUR"),
            AccountInfo(name="Savings", kind="savings", currency="EUR"),
        ],
        categories=[
            CategoryInfo(name="Food", parent=None, kind="expense"),
            CategoryInfo(name="Groceries", parent="Food", kind="expense"),
            CategoryInfo(name="Restaurants", parent="Food", kind="expense"),
            CategoryInfo(name="Salary", parent=None, kind="income"),
        ],
        payees=["Grocer"],
        budget_categories=["Groceries"],
    )


def make_context() -> ToolContext:
    return ToolContext(sessions=sessionmaker(), user_id=1, today=dt.date(2024, 5, 31))


async def collect(events: AsyncIterator[AgentEvent]) -> list[AgentEvent]:
    return [event async for event in events]
