"""The ``openai`` backend through the real SDK, HTTP and agent loop, against a fake server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from agent_support import BALANCES, collect, make_context, make_profile, make_registry
from fake_openai_server import FakeCall, FakeOpenAIServer, Reply, Stall, Status

from assistant.agent import STEP_LIMIT_ANSWER, run_turn
from assistant.backends.openai_model import (
    OpenAIModel,
    from_openai_message,
    parse_arguments,
    to_openai_message,
)
from assistant.events import TextDelta, ToolFinished, TurnCompleted, TurnFailed
from assistant.messages import Message, ToolCall, Usage


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.reset()
    return server


def model_for(fake: FakeOpenAIServer, **options: Any) -> OpenAIModel:
    options = {"timeout": 5.0, "max_retries": 0, **options}
    return OpenAIModel("fake-model", base_url=fake.base_url, **options)


async def ask(model: OpenAIModel, message: str = "question", **kwargs: Any) -> list[Any]:
    return await collect(
        run_turn(
            model=model,
            registry=make_registry(),
            ctx=make_context(),
            profile=make_profile(),
            history=[],
            user_message=message,
            **kwargs,
        )
    )


async def test_text_streams_in_chunks_with_usage(fake: FakeOpenAIServer) -> None:
    answer = "Hello Ana, ask me about your money."
    fake.enqueue(Reply(text=answer, usage=(42, 9), chunk_size=5))
    events = await ask(model_for(fake), "hi")

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == [answer[i : i + 5] for i in range(0, len(answer), 5)]
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.answer == answer and done.finish_reason == "stop"
    assert done.usage == Usage(prompt_tokens=42, completion_tokens=9)

    (body,) = fake.requests
    assert body["model"] == "fake-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == "hi"
    names = [t["function"]["name"] for t in body["tools"]]
    assert names == ["balance", "add"]
    assert fake.headers[0]["authorization"] == "Bearer not-needed"


async def test_parallel_tool_calls_through_the_loop(fake: FakeOpenAIServer) -> None:
    fake.enqueue(
        Reply(
            tool_calls=[
                FakeCall("balance", {"account": "Checking"}, id="call_a"),
                FakeCall("balance", {"account": "Savings"}, id="call_b"),
            ],
            chunk_size=3,
            usage=(100, 20),
        ),
        Reply(text="Checking 1520.35 EUR, Savings 8000.00 EUR.", usage=(200, 15)),
    )
    events = await ask(model_for(fake))

    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(f.call_id, f.result["balance"]) for f in finished] == [
        ("call_a", str(BALANCES["Checking"])),
        ("call_b", str(BALANCES["Savings"])),
    ]
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.usage == Usage(prompt_tokens=300, completion_tokens=35) and done.steps == 2

    sent = fake.requests[1]["messages"]
    assistant, tool_a, tool_b = sent[-3:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"account": "Savings"}
    assert (tool_a["role"], tool_a["tool_call_id"]) == ("tool", "call_a")
    assert json.loads(tool_b["content"]) == {"account": "Savings", "balance": "8000.00"}


async def test_calls_sent_whole_without_index(fake: FakeOpenAIServer) -> None:
    fake.enqueue(
        Reply(
            tool_calls=[
                FakeCall("balance", {"account": "Checking"}, id="o1"),
                FakeCall("balance", {"account": "Savings"}, id="o2"),
            ],
            whole_calls=True,
        ),
        Reply(text="done"),
    )
    events = await ask(model_for(fake))
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(f.call_id, f.result["account"]) for f in finished] == [
        ("o1", "Checking"),
        ("o2", "Savings"),
    ]


async def test_malformed_arguments_are_repaired_on_the_next_step(fake: FakeOpenAIServer) -> None:
    broken = '{"account": "Savings",'
    fake.enqueue(
        Reply(tool_calls=[FakeCall("balance", broken, id="c1")]),
        Reply(tool_calls=[FakeCall("balance", {"account": "Savings"}, id="c2")]),
        Reply(text="Savings holds 8000.00 EUR."),
    )
    events = await ask(model_for(fake))

    first, second = (e for e in events if isinstance(e, ToolFinished))
    assert not first.ok and first.result["error"] == "invalid_arguments"
    assert second.ok and second.result["balance"] == "8000.00"
    resent = fake.requests[1]["messages"]
    assert resent[-2]["tool_calls"][0]["function"]["arguments"] == broken
    assert json.loads(resent[-1]["content"])["error"] == "invalid_arguments"
    assert isinstance(events[-1], TurnCompleted) and events[-1].steps == 3


async def test_unknown_tool_is_fed_back(fake: FakeOpenAIServer) -> None:
    fake.enqueue(
        Reply(tool_calls=[FakeCall("wire_money", {"to": "attacker"})]),
        Reply(text="I can only read your ledger."),
    )
    events = await ask(model_for(fake))
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert finished.result["error"] == "unknown_tool"
    fed_back = json.loads(fake.requests[1]["messages"][-1]["content"])
    assert fed_back["allowed"] == ["balance", "add"]
    assert isinstance(events[-1], TurnCompleted)


async def test_step_limit(fake: FakeOpenAIServer) -> None:
    fake.enqueue(
        *(
            Reply(tool_calls=[FakeCall("balance", {"account": "Checking"}, id=f"c{i}")])
            for i in range(3)
        )
    )
    events = await ask(model_for(fake), max_steps=3)
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.answer == STEP_LIMIT_ANSWER and done.finish_reason == "step_limit"
    assert len(fake.requests) == 3 and not fake.script


async def test_server_error_is_retried(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Status(500, "overloaded"), Reply(text="Recovered."))
    events = await ask(model_for(fake, max_retries=2))
    assert isinstance(events[-1], TurnCompleted) and events[-1].answer == "Recovered."
    assert len(fake.requests) == 2


async def test_server_error_after_retries_fails_the_turn(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Status(500, "secret internal detail"), Status(503, "secret internal detail"))
    events = await ask(model_for(fake, max_retries=1))
    failed = events[-1]
    assert isinstance(failed, TurnFailed)
    assert "HTTP 503" in failed.message and "secret" not in failed.message


async def test_timeout_fails_the_turn(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Stall(1.0))
    events = await ask(model_for(fake, timeout=0.3))
    assert isinstance(events[-1], TurnFailed)
    assert "did not answer in time" in events[-1].message


async def test_stall_in_the_middle_of_a_stream_fails_the_turn(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="partial answer", pause=1.0))
    events = await ask(model_for(fake, timeout=0.3))
    assert isinstance(events[-1], TurnFailed)
    assert "did not answer in time" in events[-1].message


async def test_bad_key_fails_with_a_clear_message_without_the_key(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Status(401, "Incorrect API key provided: sk-live-123"))
    events = await ask(model_for(fake, api_key="sk-live-123"))
    failed = events[-1]
    assert isinstance(failed, TurnFailed)
    assert "HTTP 401" in failed.message and "FINCHAT_API_KEY" in failed.message
    assert "sk-live" not in failed.message
    assert fake.headers[0]["authorization"] == "Bearer sk-live-123"


async def test_bad_request_shows_the_server_reason(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Status(400, "fake-model does not support tools"))
    events = await ask(model_for(fake))
    assert isinstance(events[-1], TurnFailed)
    assert "does not support tools" in events[-1].message


async def test_unreachable_server_fails_the_turn() -> None:
    model = OpenAIModel("m", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    events = await ask(model)
    assert isinstance(events[-1], TurnFailed)
    assert re.search(
        r"Could not reach the model server at http://127\.0\.0\.1:9/v1", events[-1].message
    )


async def test_sampling_settings_are_passed_through(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="ok"))
    await ask(model_for(fake), settings={"temperature": 0.1, "max_tokens": 50, "user": "x"})
    body = fake.requests[0]
    assert body["temperature"] == 0.1 and body["max_tokens"] == 50
    assert "user" not in body


async def test_missing_usage_chunk_is_tolerated(fake: FakeOpenAIServer) -> None:
    """Servers that ignore ``stream_options`` send no usage: the turn still completes."""
    fake.enqueue(Reply(text="ok"))
    model = model_for(fake)
    original = model._create_kwargs

    def without_usage(request: Any) -> dict[str, Any]:
        kwargs = original(request)
        del kwargs["stream_options"]
        return kwargs

    model._create_kwargs = without_usage  # type: ignore[method-assign]
    events = await ask(model)
    assert isinstance(events[-1], TurnCompleted) and events[-1].usage == Usage()


def test_one_model_serves_successive_event_loops(fake: FakeOpenAIServer) -> None:
    """The CLI runs each chat turn in its own ``asyncio.run``."""
    import asyncio

    fake.enqueue(Reply(text="one"), Reply(text="two"))
    model = model_for(fake)
    answers = [asyncio.run(ask(model))[-1].answer for _ in range(2)]
    assert answers == ["one", "two"]


def test_arguments_parse_to_a_dict_or_stay_raw() -> None:
    assert parse_arguments('{"a": 1}') == {"a": 1}
    assert parse_arguments("  ") == {}
    assert parse_arguments('{"a": ') == '{"a": '
    assert parse_arguments("[1, 2]") == "[1, 2]"


def test_messages_round_trip_through_the_wire_format() -> None:
    messages = [
        Message(role="system", content="rules"),
        Message(role="user", content="hi"),
        Message(
            role="assistant",
            tool_calls=[
                ToolCall(id="a", name="balance", arguments={"account": "Savings"}),
                ToolCall(id="b", name="balance", arguments='{"broken'),
            ],
        ),
        Message(role="tool", content='{"x": 1}', tool_call_id="a"),
        Message(role="assistant", content="done"),
    ]
    wire = [to_openai_message(m) for m in messages]
    assert wire[2]["tool_calls"][0] == {
        "id": "a",
        "type": "function",
        "function": {"name": "balance", "arguments": '{"account": "Savings"}'},
    }
    assert wire[3] == {"role": "tool", "tool_call_id": "a", "content": '{"x": 1}'}
    assert [from_openai_message(w) for w in wire] == messages


def test_content_parts_keep_their_text() -> None:
    data = {
        "role": "user",
        "content": [
            {"type": "text", "text": "a"},
            {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "b"},
        ],
    }
    assert from_openai_message(data) == Message(role="user", content="ab")
