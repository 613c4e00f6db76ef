"""``/api/...``: the widget's API, every call scoped to the token's user.

Persisted conversations, a turn streamed as rich SSE events (text, each tool step with a
compact table/chart view, completion) and feedback on answers. Conversations are always the
caller's own and about their own ledger: the routes go through ``server.access`` with
``others=False``, so an ``X-Finchat-Customer`` header naming someone else answers 400 (an
advisor asks about a customer on ``/v1/chat/completions``, where the header is honoured).
Bad bodies and unknown ids are answered before any stream starts; another user's
conversation or message answers 404, exactly like a missing one. The question is stored when
asked, the answer on completion.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from assistant import conversations
from assistant.events import (
    AgentEvent,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    TurnFailed,
)
from assistant.messages import Message
from server.access import Access, OwnRead, OwnWrite
from server.bodies import read_json, validated
from server.errors import ApiError, internal_error
from server.runtime import Runtime, run_blocking, runtime_of
from server.turns import TurnSetup, logged_turn, setup_turn, token_usage
from server.widget_history import widget_history
from webui.compact import compact_result

logger = logging.getLogger("finchat.server")

ConversationId = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")]
"""Conversation ids are UUIDs: anything else is refused before it reaches SQL (PostgreSQL
rejects a NUL in text with an error of its own)."""
MessageId = Annotated[int, Path(ge=1, le=2**31 - 1)]
"""Message ids fit PostgreSQL's INTEGER; larger numbers name no message."""


def add_routes(app: FastAPI) -> None:
    """Register this module's endpoints (tagged ``widget`` in the OpenAPI document)."""
    route = functools.partial(app.add_api_route, tags=["widget"])
    one = "/api/conversations/{conversation_id}"
    route("/api/conversations", create_conversation, methods=["POST"], status_code=201)
    route("/api/conversations", list_conversations, methods=["GET"])
    route(one, get_conversation, methods=["GET"])
    route(one, delete_conversation, methods=["DELETE"], status_code=204)
    route(one + "/messages", post_message, methods=["POST"], response_model=None)
    route("/api/messages/{message_id}/feedback", post_feedback, methods=["POST"], status_code=201)


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200)


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1)


class NewFeedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down", 1, -1]
    comment: str | None = Field(None, max_length=2000)


async def create_conversation(request: Request, access: OwnWrite) -> dict[str, Any]:
    """Start a conversation (optionally titled; otherwise named by its first question)."""
    body = validated(NewConversation, await read_json(request))
    info = await run_blocking(conversations.create_conversation, runtime_of(request).sessions,
                              access.customer_id, title=body.title)
    return _conversation_json(info)


async def list_conversations(request: Request, access: OwnRead) -> dict[str, Any]:
    """The caller's conversations, most recently active first."""
    infos = await run_blocking(conversations.list_conversations, runtime_of(request).sessions,
                               access.customer_id)
    return {"data": [_conversation_json(info) for info in infos]}


async def get_conversation(request: Request, access: OwnRead, conversation_id: ConversationId
                           ) -> dict[str, Any]:
    """One conversation with its messages as the widget renders them."""
    sessions = runtime_of(request).sessions
    try:
        info = await run_blocking(conversations.get_conversation, sessions, access.customer_id,
                                  conversation_id)
        stored = await run_blocking(conversations.load_messages, sessions, access.customer_id,
                                    conversation_id)
    except conversations.ConversationNotFound as exc:
        raise _not_found(exc) from exc
    return {**_conversation_json(info), "messages": widget_history(stored)}


async def delete_conversation(request: Request, access: OwnWrite, conversation_id: ConversationId
                              ) -> Response:
    """Delete a conversation with its messages and feedback."""
    try:
        await run_blocking(conversations.delete_conversation, runtime_of(request).sessions,
                           access.customer_id, conversation_id)
    except conversations.ConversationNotFound as exc:
        raise _not_found(exc) from exc
    return Response(status_code=204)


async def post_message(request: Request, access: OwnRead, conversation_id: ConversationId
                       ) -> EventSourceResponse:
    """Ask a question; the answer streams as SSE events (see docs/api.md)."""
    runtime = runtime_of(request)
    body = validated(NewMessage, await read_json(request))
    content = body.content.strip()
    if not content or len(content) > runtime.settings.max_message_chars:
        raise ApiError(400, f"content must be 1 to {runtime.settings.max_message_chars} "
                       "characters", param="content", code="invalid_value")
    runtime.require_model()
    try:
        history, message_id, setup = await run_blocking(
            _start_widget_turn, runtime, access, conversation_id, content
        )
    except conversations.ConversationNotFound as exc:
        raise _not_found(exc) from exc
    events = logged_turn(runtime, setup, history=history, user_message=content,
                         sampling={}, endpoint="widget")
    return EventSourceResponse(
        _widget_stream(runtime, access.customer_id, conversation_id, message_id, events)
    )


async def post_feedback(
    request: Request, access: OwnWrite, message_id: MessageId
) -> dict[str, Any]:
    """Thumbs up/down (and a comment) on one of the caller's assistant messages."""
    body = validated(NewFeedback, await read_json(request))
    rating = 1 if body.rating in ("up", 1) else -1
    try:
        feedback_id = await run_blocking(conversations.record_feedback,
                                         runtime_of(request).sessions, access.customer_id,
                                         message_id, rating=rating, comment=body.comment)
    except conversations.ConversationNotFound as exc:
        raise _not_found(exc) from exc
    return {"id": feedback_id, "message_id": message_id, "rating": rating}


def _start_widget_turn(
    runtime: Runtime, access: Access, conversation_id: str, content: str
) -> tuple[list[Message], int, TurnSetup]:
    """Load the history, store the question, bind the user: one worker-thread hop."""
    sessions, user_id = runtime.sessions, access.customer_id
    history = conversations.history(sessions, user_id, conversation_id,
                                    max_messages=runtime.settings.history_messages)
    [message_id] = conversations.append_messages(
        sessions, user_id, conversation_id, [Message(role="user", content=content)]
    )
    return history, message_id, setup_turn(runtime, access)


async def _widget_stream(
    runtime: Runtime,
    user_id: int,
    conversation_id: str,
    user_message_id: int,
    events: AsyncIterator[AgentEvent],
) -> AsyncIterator[dict[str, str]]:
    """The widget's SSE events for one turn; the turn's messages are stored on completion."""
    async with aclosing(events):
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    yield _sse("text", {"delta": event.text})
                elif isinstance(event, ToolStarted):
                    yield _sse("tool_started", {"call_id": event.call_id, "name": event.name,
                                                "arguments": event.arguments})
                elif isinstance(event, ToolFinished):
                    yield _sse("tool_finished", {
                        "call_id": event.call_id, "name": event.name, "ok": event.ok,
                        "duration_ms": round(event.duration_ms, 2),
                        "result": compact_result(event.name, event.ok, event.result),
                    })
                elif isinstance(event, TurnCompleted):
                    ids = await run_blocking(conversations.append_messages, runtime.sessions,
                                             user_id, conversation_id, event.new_messages)
                    yield _sse("message_completed", _completed(event, ids, conversation_id,
                                                               user_message_id))
                elif isinstance(event, TurnFailed):
                    yield _sse("error", {"message": event.message, "code": "model_error"})
        except Exception:
            logger.exception("widget stream failed")
            yield _sse("error", {"message": str(internal_error()), "code": "internal_error"})


def _completed(
    event: TurnCompleted, ids: list[int], conversation_id: str, user_message_id: int
) -> dict[str, Any]:
    answer_id = next(
        (i for i, m in zip(reversed(ids), reversed(event.new_messages), strict=True)
         if m.role == "assistant"),
        None,
    )
    return {
        "message_id": answer_id,
        "user_message_id": user_message_id,
        "conversation_id": conversation_id,
        "content": event.answer,
        "tool_calls": [
            {"name": c.name, "arguments": c.arguments, "ok": c.ok,
             "duration_ms": round(c.duration_ms, 2)}
            for c in event.tool_calls
        ],
        "timing": {"duration_ms": round(event.duration_ms, 2), "steps": event.steps},
        "usage": token_usage(event),
        "finish_reason": event.finish_reason,
    }


def _sse(event: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": event,
            "data": json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))}


def _conversation_json(info: conversations.ConversationInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "title": info.title,
        "created_at": info.created_at.isoformat() + "Z",
        "updated_at": info.updated_at.isoformat() + "Z",
    }


def _not_found(exc: LookupError) -> ApiError:
    return ApiError(404, str(exc).strip("'\""), code="not_found")
