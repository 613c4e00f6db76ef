"""The agent loop driven by the scripted model through a small in-test tool registry."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import pytest
from agent_support import BALANCES, AddIn, collect, make_context, make_profile, make_registry

from assistant.agent import STEP_LIMIT_ANSWER, run_turn
from assistant.backends.scripted import ScriptedModel, ScriptExhaustedError
from assistant.events import (
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    TurnFailed,
)
from assistant.messages import Message, ToolCall, Usage
from assistant.model import ModelError, ModelRequest, ModelResponse
from assistant.model import TextDelta as ModelTextDelta
from tools.base import Tool, ToolRegistry


def call(name: str, arguments: dict[str, Any] | str, call_id: str) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


def calls(*tool_calls: ToolCall) -> Message:
    return Message(role="assistant", tool_calls=list(tool_calls))


def turn(model: Any, message: str = "question", **kwargs: Any) -> AsyncIterator[Any]:
    options: dict[str, Any] = {
        "registry": make_registry(),
        "ctx": make_context(),
        "profile": make_profile(),
        "history": [],
    }
    options.update(kwargs)
    return run_turn(model=model, user_message=message, **options)


def tool_payload(message: Message) -> dict[str, Any]:
    assert message.role == "tool" and message.content is not None
    return json.loads(message.content)


async def test_text_answer_streams_and_completes() -> None:
    model = ScriptedModel(["You have no pending questions."])
    events = await collect(turn(model, "hello"))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert "".join(deltas) == done.answer == "You have no pending questions."
    assert done.steps == 1 and done.tool_calls == [] and done.finish_reason == "stop"
    assert [m.role for m in done.new_messages] == ["assistant"]

    (request,) = model.requests
    assert [m.role for m in request.messages] == ["system", "user"]
    assert "2024-05-31" in (request.messages[0].content or "")
    assert request.messages[1].content == "hello"
    schemas = {s["function"]["name"]: s for s in request.tools}
    account = schemas["balance"]["function"]["parameters"]["properties"]["account"]
    assert account["enum"] == ["Checking", "Savings"]
    model.assert_all_used()


async def test_history_sits_between_system_prompt_and_new_question() -> None:
    history = [
        Message(role="user", content="first"),
        Message(role="assistant", content="first answer"),
    ]
    model = ScriptedModel(["second answer"])
    await collect(turn(model, "second", history=history))
    sent = model.requests[0].messages
    assert [(m.role, m.content) for m in sent[1:]] == [
        ("user", "first"),
        ("assistant", "first answer"),
        ("user", "second"),
    ]


async def test_tool_round_feeds_results_back_and_sums_usage() -> None:
    model = ScriptedModel(
        [
            ModelResponse(
                calls(call("balance", {"account": "Savings"}, "c1")),
                Usage(prompt_tokens=100, completion_tokens=10),
                "tool_calls",
            ),
            ModelResponse(
                Message(role="assistant", content="Savings holds 8000.00 EUR."),
                Usage(prompt_tokens=150, completion_tokens=12),
            ),
        ]
    )
    events = await collect(turn(model))

    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == ["ToolStarted", "ToolFinished", "TurnCompleted"]
    started, finished = (e for e in events if isinstance(e, ToolStarted | ToolFinished))
    assert started.call_id == finished.call_id == "c1"
    assert started.arguments == {"account": "Savings"}
    assert finished.ok and finished.result == {"account": "Savings", "balance": "8000.00"}
    assert finished.duration_ms >= 0

    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.usage == Usage(prompt_tokens=250, completion_tokens=22)
    assert done.steps == 2
    assert [(r.name, r.ok, r.result["balance"]) for r in done.tool_calls] == [
        ("balance", True, str(BALANCES["Savings"]))
    ]
    assert [m.role for m in done.new_messages] == ["assistant", "tool", "assistant"]

    second = model.requests[1].messages
    assert second[-2].tool_calls[0].id == "c1"
    assert second[-1].tool_call_id == "c1" and second[-1].name == "balance"
    assert tool_payload(second[-1]) == {"account": "Savings", "balance": "8000.00"}


async def test_parallel_calls_in_one_step_all_run_in_order() -> None:
    model = ScriptedModel(
        [
            calls(
                call("balance", {"account": "Checking"}, "a"),
                call("balance", {"account": "Savings"}, "b"),
                call("add", {"a": "1520.35", "b": "8000.00"}, "c"),
            ),
            "Together 9520.35 EUR.",
        ]
    )
    done = (await collect(turn(model)))[-1]
    assert isinstance(done, TurnCompleted)
    tool_messages = [m for m in model.requests[1].messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_messages] == ["a", "b", "c"]
    total = BALANCES["Checking"] + BALANCES["Savings"]
    assert Decimal(tool_payload(tool_messages[2])["total"]) == total
    assert done.steps == 2 and len(done.tool_calls) == 3


async def test_malformed_arguments_come_back_as_failure_and_get_repaired() -> None:
    model = ScriptedModel(
        [
            calls(call("balance", '{"account": "Savings"', "bad")),
            calls(call("balance", {"account": "Savings"}, "good")),
            "Savings holds 8000.00 EUR.",
        ]
    )
    events = await collect(turn(model))
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [f.ok for f in finished] == [False, True]
    assert finished[0].result["error"] == "invalid_arguments"
    assert "not valid JSON" in finished[0].result["message"]

    fed_back = tool_payload(model.requests[1].messages[-1])
    assert fed_back["error"] == "invalid_arguments"
    assert isinstance(events[-1], TurnCompleted) and events[-1].steps == 3
    model.assert_all_used()


async def test_invalid_value_names_the_field() -> None:
    """Arguments that parse but do not validate name the field the model must fix."""
    model = ScriptedModel(
        [calls(call("add", {"a": "x", "b": "1"}, "c1")), "I could not add those."]
    )
    events = await collect(turn(model))
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert not finished.ok and finished.result["field"] == "a"


async def test_unknown_tool_is_reported_to_the_model() -> None:
    model = ScriptedModel([calls(call("transfer_money", {"amount": 5}, "x")), "I cannot do that."])
    events = await collect(turn(model))
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert not finished.ok
    assert finished.result["error"] == "unknown_tool"
    assert finished.result["allowed"] == ["balance", "add"]
    assert tool_payload(model.requests[1].messages[-1]) == finished.result
    assert isinstance(events[-1], TurnCompleted)


async def test_step_limit_ends_with_a_fixed_answer_and_consistent_history() -> None:
    model = ScriptedModel(
        [calls(call("balance", {"account": "Checking"}, f"c{i}")) for i in range(3)]
    )
    events = await collect(turn(model, max_steps=2))
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.answer == STEP_LIMIT_ANSWER and not re.search(r"\d", done.answer)
    assert done.finish_reason == "step_limit" and done.steps == 2
    assert len(model.requests) == 2 and len(model.unused_steps) == 1
    assert isinstance(events[-2], TextDelta) and events[-2].text == STEP_LIMIT_ANSWER
    # every call is answered by a tool message, so the history is valid for the next turn
    answered = {m.tool_call_id for m in done.new_messages if m.role == "tool"}
    asked = {c.id for m in done.new_messages for c in m.tool_calls}
    assert asked == answered == {"c0", "c1"}
    assert done.new_messages[-1] == Message(role="assistant", content=STEP_LIMIT_ANSWER)


async def test_model_error_becomes_turn_failed_with_its_safe_message() -> None:
    model = ScriptedModel(
        [calls(call("balance", {"account": "Checking"}, "c1")), ModelError("server is down")]
    )
    events = await collect(turn(model))
    assert isinstance(events[-1], TurnFailed)
    assert events[-1].message == "server is down"
    assert not any(isinstance(e, TurnCompleted) for e in events)


async def test_empty_model_answer_fails_the_turn() -> None:
    events = await collect(turn(ScriptedModel([Message(role="assistant", content="")])))
    assert isinstance(events[-1], TurnFailed)


async def test_caller_errors_raise_before_streaming() -> None:
    with pytest.raises(ValueError, match="v1"):
        await collect(turn(ScriptedModel(["x"]), prompt_version="v999"))
    with pytest.raises(ValueError, match="max_steps"):
        await collect(turn(ScriptedModel(["x"]), max_steps=0))


async def test_settings_reach_the_model_request() -> None:
    model = ScriptedModel(["ok"])
    await collect(turn(model, settings={"temperature": 0.2}))
    assert model.requests[0].settings == {"temperature": 0.2}


async def test_scripted_model_refuses_unscripted_steps() -> None:
    model = ScriptedModel([calls(call("balance", {"account": "Checking"}, "c1"))])
    with pytest.raises(ScriptExhaustedError, match="2 time"):
        await collect(turn(model))
    unused = ScriptedModel(["a", "b"])
    await collect(turn(unused))
    with pytest.raises(AssertionError, match="1 scripted step"):
        unused.assert_all_used()


async def test_tools_run_off_the_event_loop() -> None:
    """A blocking tool must not stall the loop: a coroutine releases it while it waits."""
    release = threading.Event()

    def wait_for_release(ctx: Any, params: AddIn) -> AddIn:
        if not release.wait(timeout=5):
            raise RuntimeError("event loop was blocked")
        return params

    registry = make_registry()
    registry.add(Tool("wait", "Waits.", AddIn, AddIn, wait_for_release))
    model = ScriptedModel([calls(call("wait", {"a": "1", "b": "2"}, "w")), "done"])

    async def releaser() -> None:
        await asyncio.sleep(0.05)
        release.set()

    events, _ = await asyncio.gather(collect(turn(model, registry=registry)), releaser())
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert finished.ok


async def test_tool_runs_in_a_worker_thread() -> None:
    ctx = make_context()
    model = ScriptedModel([calls(call("balance", {"account": "Checking"}, "c")), "ok"])
    await collect(turn(model, ctx=ctx))
    assert ctx.extras["threads"] and threading.get_ident() not in ctx.extras["threads"]


class _EndlessModel:
    """Streams deltas until closed; records that it was closed."""

    name = "endless"

    def __init__(self) -> None:
        self.closed = False

    async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
        try:
            while True:
                yield ModelTextDelta("more ")
                await asyncio.sleep(0)
        finally:
            self.closed = True


async def test_consumer_stopping_closes_the_model_stream() -> None:
    model = _EndlessModel()
    async with aclosing(turn(model)) as events:
        async for event in events:
            assert isinstance(event, TextDelta)
            break
    assert model.closed


async def test_cancelling_the_turn_during_a_tool_stops_further_steps() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(ctx: Any, params: AddIn) -> AddIn:
        started.set()
        release.wait(timeout=5)
        return params

    registry = ToolRegistry([Tool("slow", "Slow.", AddIn, AddIn, slow)])
    model = ScriptedModel([calls(call("slow", {"a": "1", "b": "2"}, "s")), "never reached"])
    task = asyncio.create_task(collect(turn(model, registry=registry)))
    while not started.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await asyncio.sleep(0.05)
    assert len(model.requests) == 1 and len(model.unused_steps) == 1
