"""``OfflineModel`` behind the ``Model`` protocol, alone and inside the real agent loop.

The agent-loop test registers tools with the real input/output models whose functions return
hand-built outputs, so no ledger database is involved.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from offline_support import profile

from assistant.agent import run_turn
from assistant.backends.offline import OfflineModel
from assistant.events import ToolStarted, TurnCompleted
from assistant.messages import Message, ToolCall
from assistant.model import ModelRequest, ModelResponse, TextDelta
from tools.base import Tool, ToolContext, ToolRegistry, ToolResult
from tools.schemas import (
    SpendingInput,
    SpendingOutput,
    SpendingRow,
    TransactionsInput,
    TransactionsOutput,
)

SCHEMAS = [
    {"type": "function", "function": {"name": name, "parameters": {}}}
    for name in ("get_balance", "spending_breakdown", "cash_flow", "budget_projection",
                 "list_transactions", "product_lookup")
]


async def run(messages: list[Message], who: str = "default") -> tuple[list[str], ModelResponse]:
    request = ModelRequest(messages=messages, tools=SCHEMAS, profile=profile(who))
    deltas: list[str] = []
    response: ModelResponse | None = None
    async for event in OfflineModel().stream(request):
        if isinstance(event, TextDelta):
            assert response is None, "text after the response"
            deltas.append(event.text)
        else:
            response = event
    assert response is not None
    return deltas, response


async def test_a_question_becomes_tool_calls_without_text() -> None:
    deltas, response = await run([Message(role="system", content="You are finchat."),
                                  Message(role="user", content="groceries last month?")])
    assert deltas == [] and response.finish_reason == "tool_calls"
    assert response.message.content is None
    assert [(c.id, c.name, c.arguments) for c in response.message.tool_calls] == [
        ("call_1", "spending_breakdown",
         {"start_date": "2026-09-01", "end_date": "2026-09-30", "category": "Groceries"})]


async def test_call_ids_stay_unique_across_a_conversation() -> None:
    earlier = [ToolCall(id="call_1", name="get_balance", arguments={}),
               ToolCall(id="call_2", name="cash_flow", arguments={})]
    messages = [Message(role="user", content="balances and income"),
                Message(role="assistant", tool_calls=earlier),
                Message(role="assistant", content="..."),
                Message(role="user", content="what's my balance and how much did I spend?")]
    _, response = await run(messages)
    assert [c.id for c in response.message.tool_calls] == ["call_3", "call_4"]


async def test_tool_results_become_a_streamed_grounded_answer() -> None:
    output = SpendingOutput(start_date=dt.date(2026, 9, 1), end_date=dt.date(2026, 9, 30),
                            group_by="category", currency="EUR", total=Decimal("312.40"),
                            rows=[SpendingRow(key="Groceries", amount=Decimal("312.40"),
                                              share=Decimal("100.00"), count=14)])
    call = ToolCall(id="call_1", name="spending_breakdown", arguments={"category": "Groceries"})
    messages = [Message(role="user", content="groceries last month?"),
                Message(role="assistant", tool_calls=[call]),
                Message(role="tool", tool_call_id="call_1", name="spending_breakdown",
                        content=ToolResult("spending_breakdown", output=output).to_json())]
    deltas, response = await run(messages)
    assert response.finish_reason == "stop" and not response.message.tool_calls
    assert "".join(deltas) == response.message.content
    assert response.message.content == (
        "You spent €312.40 on Groceries from 2026-09-01 to 2026-09-30.")
    assert len(deltas) == len(response.message.content.split())


async def test_out_of_scope_is_a_plain_streamed_reply() -> None:
    deltas, response = await run([Message(role="user", content="transfer £500 to Bob")])
    assert response.finish_reason == "stop" and not response.message.tool_calls
    assert "can't make changes" in "".join(deltas)


def _spending(ctx: ToolContext, params: SpendingInput) -> SpendingOutput:
    assert params.category == "Groceries"
    return SpendingOutput(start_date=params.start_date, end_date=params.end_date,
                          group_by=params.group_by, currency="EUR", total=Decimal("98.76"),
                          rows=[SpendingRow(key="Groceries", amount=Decimal("98.76"),
                                            share=Decimal("100.00"), count=4)])


def _transactions(ctx: ToolContext, params: TransactionsInput) -> TransactionsOutput:
    return TransactionsOutput(total_count=0, total_amount=Decimal("0"), transactions=[],
                              limit=params.limit, offset=params.offset, has_more=False)


async def test_the_real_agent_loop_runs_a_two_turn_conversation() -> None:
    registry = ToolRegistry([
        Tool("spending_breakdown", "Spending.", SpendingInput, SpendingOutput, _spending),
        Tool("list_transactions", "Transactions.", TransactionsInput, TransactionsOutput,
             _transactions),
    ])
    user = profile()
    ctx = ToolContext(sessions=None, user_id=1, today=user.today)  # type: ignore[arg-type]
    history: list[Message] = []
    answers: list[str] = []
    started: list[tuple[str, Any]] = []
    for question in ("How much did I spend on groceries last month?", "and the month before?"):
        async for event in run_turn(model=OfflineModel(), registry=registry, ctx=ctx,
                                    profile=user, history=history, user_message=question):
            if isinstance(event, ToolStarted):
                started.append((event.name, event.arguments))
            if isinstance(event, TurnCompleted):
                answers.append(event.answer)
                history = [*history, Message(role="user", content=question),
                           *event.new_messages]
    assert started == [
        ("spending_breakdown",
         {"start_date": "2026-09-01", "end_date": "2026-09-30", "category": "Groceries"}),
        ("spending_breakdown",
         {"start_date": "2026-08-01", "end_date": "2026-08-31", "category": "Groceries"}),
    ]
    assert answers == [
        "You spent €98.76 on Groceries from 2026-09-01 to 2026-09-30.",
        "You spent €98.76 on Groceries from 2026-08-01 to 2026-08-31.",
    ]
