"""The widget API over real HTTP: owner-scoped conversations, a turn as SSE events, feedback,
disconnects that stop the work, and streams that do not wait for each other."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict
from server_support import (
    category_spending,
    demo_ledger,
    ledger_today,
    live_server,
    mentions_amount,
    previous_month,
    sse_events,
    token_for,
)
from sqlalchemy import select

from assistant.messages import Message, ToolCall
from assistant.model import ModelError, ModelEvent, ModelRequest, ModelResponse, TextDelta
from ledger.db import make_engine, session_factory
from ledger.models import Feedback
from server import ServerSettings, create_app
from tools import default_registry
from tools.base import Tool, ToolContext, ToolRegistry

QUESTION = "How much did I spend on groceries last month?"


@dataclass
class Api:
    base: str
    tokens: dict[str, str]
    ledger: Path

    def client(self, user: str = "alice") -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=60,
                            headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def ask(self, conversation_id: str, content: str, user: str = "alice"
            ) -> list[tuple[str, dict[str, Any]]]:
        with self.client(user) as client, client.stream(
            "POST", f"/api/conversations/{conversation_id}/messages", json={"content": content}
        ) as response:
            assert response.status_code == 200, response.read()
            return list(sse_events(response))


def _start(app_ledger: Path, **app_options: Any) -> Iterator[Api]:
    app = create_app(ServerSettings(database_url=str(app_ledger)), **app_options)
    tokens = {user: token_for(app_ledger, user) for user in ("alice", "bob")}
    with live_server(app) as server:
        yield Api(server.base_url, tokens, app_ledger)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The real stack: offline model, every built-in tool, the demo ledger."""
    yield from _start(demo_ledger(tmp_path_factory.mktemp("widget")))


# ---------------------------------------------------------------- conversations
def test_conversations_are_created_listed_read_and_deleted(api: Api) -> None:
    with api.client() as client:
        created = client.post("/api/conversations", json={"title": "Budget check"})
        assert created.status_code == 201
        conversation = created.json()
        listed = client.get("/api/conversations").json()["data"]
        read = client.get(f"/api/conversations/{conversation['id']}").json()
        deleted = client.delete(f"/api/conversations/{conversation['id']}")
        after = client.get(f"/api/conversations/{conversation['id']}")

    assert conversation["title"] == "Budget check"
    assert conversation["id"] in [c["id"] for c in listed]
    assert read["messages"] == [] and read["title"] == "Budget check"
    assert deleted.status_code == 204
    assert after.status_code == 404 and after.json()["error"]["code"] == "not_found"


def test_another_users_conversation_answers_404_everywhere(api: Api) -> None:
    with api.client("alice") as alice:
        conversation_id = alice.post("/api/conversations").json()["id"]
    events = api.ask(conversation_id, QUESTION)
    message_id = events[-1][1]["message_id"]

    with api.client("bob") as bob:
        responses = [
            bob.get(f"/api/conversations/{conversation_id}"),
            bob.delete(f"/api/conversations/{conversation_id}"),
            bob.post(f"/api/conversations/{conversation_id}/messages", json={"content": "hi"}),
            bob.post(f"/api/messages/{message_id}/feedback", json={"rating": "down"}),
        ]
        listed = bob.get("/api/conversations").json()["data"]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert conversation_id not in [c["id"] for c in listed]
    with api.client("alice") as alice:  # still there, untouched
        assert len(alice.get(f"/api/conversations/{conversation_id}").json()["messages"]) == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [({"content": ""}, "content"), ({"content": "   "}, "content"),
     ({"content": "x" * 4001}, "content"), ({}, "content"), ({"text": "hi"}, "content"),
     ({"content": 5}, "content")],
)
def test_bad_messages_are_refused_before_anything_streams(
    api: Api, body: dict[str, Any], param: str
) -> None:
    with api.client() as client:
        conversation_id = client.post("/api/conversations").json()["id"]
        response = client.post(f"/api/conversations/{conversation_id}/messages", json=body)
        history = client.get(f"/api/conversations/{conversation_id}").json()["messages"]

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert history == []


# ---------------------------------------------------------------- a turn
def test_a_turn_streams_tool_steps_text_and_completion_then_persists(api: Api) -> None:
    with api.client() as client:
        conversation_id = client.post("/api/conversations").json()["id"]
    events = api.ask(conversation_id, QUESTION)
    names = [name for name, _ in events]

    assert names[-1] == "message_completed" and "error" not in names
    started = [data for name, data in events if name == "tool_started"]
    finished = [data for name, data in events if name == "tool_finished"]
    assert started and [s["call_id"] for s in started] == [f["call_id"] for f in finished]
    assert all(names.index("tool_started") < names.index(n) for n in ("tool_finished", "text"))
    assert all(f["ok"] and f["duration_ms"] >= 0 for f in finished)
    assert any(f["result"].get("table", {}).get("rows") for f in finished)

    text = "".join(data["delta"] for name, data in events if name == "text")
    completed = events[-1][1]
    start, end = previous_month(ledger_today(api.ledger, "alice"))
    expected = category_spending(api.ledger, "alice", "Groceries", start, end)
    assert mentions_amount(text, expected), text
    assert completed["content"] == text
    assert completed["conversation_id"] == conversation_id
    assert [c["name"] for c in completed["tool_calls"]] == [s["name"] for s in started]
    assert completed["timing"]["steps"] >= 2 and completed["timing"]["duration_ms"] > 0
    assert completed["usage"]["total_tokens"] == (completed["usage"]["prompt_tokens"]
                                                  + completed["usage"]["completion_tokens"])

    with api.client() as client:
        stored = client.get(f"/api/conversations/{conversation_id}").json()
    user, answer = stored["messages"]
    assert user == {"id": completed["user_message_id"], "role": "user", "content": QUESTION}
    assert answer["id"] == completed["message_id"] and answer["content"] == text
    assert [t["result"] for t in answer["tools"]] == [f["result"] for f in finished]
    assert stored["title"] == QUESTION


def test_a_follow_up_question_sees_the_stored_history(api: Api) -> None:
    with api.client() as client:
        conversation_id = client.post("/api/conversations").json()["id"]
    api.ask(conversation_id, QUESTION)
    api.ask(conversation_id, "And on dining out?")

    with api.client() as client:
        messages = client.get(f"/api/conversations/{conversation_id}").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]


def test_feedback_is_stored_for_the_answer(api: Api) -> None:
    with api.client() as client:
        conversation_id = client.post("/api/conversations").json()["id"]
    completed = api.ask(conversation_id, QUESTION)[-1][1]

    with api.client() as client:
        up = client.post(f"/api/messages/{completed['message_id']}/feedback",
                         json={"rating": "up"})
        down = client.post(f"/api/messages/{completed['message_id']}/feedback",
                           json={"rating": "down", "comment": "wrong month"})
        on_question = client.post(f"/api/messages/{completed['user_message_id']}/feedback",
                                  json={"rating": "up"})
        bad = client.post(f"/api/messages/{completed['message_id']}/feedback",
                          json={"rating": "sideways"})

    assert (up.status_code, down.status_code) == (201, 201)
    assert up.json()["id"] == down.json()["id"] and down.json()["rating"] == -1
    assert on_question.status_code == 404 and bad.status_code == 400
    engine = make_engine(str(api.ledger))
    with session_factory(engine)() as session:
        row = session.scalars(
            select(Feedback).where(Feedback.message_id == completed["message_id"])
        ).one()
    engine.dispose()
    assert (row.rating, row.comment) == (-1, "wrong month")


# ---------------------------------------------------------------- disconnects and concurrency
class _NoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _GateOut(BaseModel):
    released: bool


@dataclass
class Controls:
    """What the test model and tool report back to the test."""

    gate: threading.Event = field(default_factory=threading.Event)
    stream_closed: threading.Event = field(default_factory=threading.Event)
    deltas: int = 0


class ControlledModel:
    """Behaves by the question: ``endless`` streams until closed, ``slow`` calls a tool that
    blocks a worker thread until the test opens the gate, ``fail`` fails, others answer."""

    name = "controlled"

    def __init__(self, controls: Controls):
        self.controls = controls

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.messages[-1]
        if last.role == "tool":
            yield _answer("The gate opened.")
        elif last.content == "endless":
            try:
                while True:
                    self.controls.deltas += 1
                    yield TextDelta("tick ")
                    await asyncio.sleep(0.01)
            finally:
                self.controls.stream_closed.set()
        elif last.content == "slow":
            call = ToolCall(id="call_gate", name="wait_for_gate", arguments={})
            yield ModelResponse(message=Message(role="assistant", tool_calls=[call]))
        elif last.content == "fail":
            raise ModelError("the model server is unreachable")
        else:
            yield TextDelta("Quick answer.")
            yield _answer("Quick answer.")


def _answer(text: str) -> ModelResponse:
    return ModelResponse(message=Message(role="assistant", content=text))


@pytest.fixture(scope="module")
def controlled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Controls]]:
    controls = Controls()

    def wait_for_gate(_ctx: ToolContext, _params: _NoInput) -> _GateOut:
        return _GateOut(released=controls.gate.wait(timeout=30))

    registry = ToolRegistry([*default_registry(),
                             Tool("wait_for_gate", "Waits.", _NoInput, _GateOut, wait_for_gate)])
    ledger = demo_ledger(tmp_path_factory.mktemp("controlled"))
    for api in _start(ledger, model=ControlledModel(controls), registry=registry):
        yield api, controls


def test_a_client_disconnect_stops_the_turn(controlled: tuple[Api, Controls]) -> None:
    api, controls = controlled
    with api.client() as client:
        conversation_id = client.post("/api/conversations").json()["id"]
        with client.stream("POST", f"/api/conversations/{conversation_id}/messages",
                           json={"content": "endless"}) as response:
            events = sse_events(response)
            assert [next(events)[0] for _ in range(3)] == ["text"] * 3
        # leaving the block closed the connection mid-stream

    assert controls.stream_closed.wait(timeout=10), "the model kept streaming"
    produced = controls.deltas
    threading.Event().wait(0.3)
    assert controls.deltas == produced
    with api.client() as client:
        messages = client.get(f"/api/conversations/{conversation_id}").json()["messages"]
    assert [m["role"] for m in messages] == ["user"]  # the question is kept, no answer stored


def test_a_stream_waiting_on_a_tool_does_not_block_another_stream(
    controlled: tuple[Api, Controls],
) -> None:
    api, controls = controlled
    controls.gate.clear()
    with api.client("bob") as bob:
        fast_id = bob.post("/api/conversations").json()["id"]
    with api.client() as client:
        slow_id = client.post("/api/conversations").json()["id"]
        with client.stream("POST", f"/api/conversations/{slow_id}/messages",
                           json={"content": "slow"}) as slow:
            slow_events = sse_events(slow)
            assert next(slow_events)[0] == "tool_started"  # its tool now blocks a thread

            fast = api.ask(fast_id, "quick", user="bob")  # must finish while the gate is shut
            assert fast[-1][0] == "message_completed" and not controls.gate.is_set()

            controls.gate.set()
            rest = list(slow_events)

    finished = next(data for name, data in rest if name == "tool_finished")
    assert finished["ok"] and rest[-1][0] == "message_completed"
    assert "released: True" in (finished["result"]["summary"] or "")


def test_a_model_failure_is_an_error_event_and_keeps_the_question(
    controlled: tuple[Api, Controls],
) -> None:
    api, _ = controlled
    with api.client() as client:
        conversation_id = client.post("/api/conversations").json()["id"]
    events = api.ask(conversation_id, "fail")

    assert events == [("error", {"message": "the model server is unreachable",
                                 "code": "model_error"})]
    with api.client() as client:
        messages = client.get(f"/api/conversations/{conversation_id}").json()["messages"]
    assert messages == [{"id": messages[0]["id"], "role": "user", "content": "fail"}]
