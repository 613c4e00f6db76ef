"""``OfflineModel``: the default backend, a planner and an answer writer behind the ``Model``
protocol. No key, no network, no weights: deterministic, so CI can rely on it.

A request that ends with a user message gets tool calls (or a plain reply when no tool
applies); a request that ends with tool results gets the final answer written from them.
The text is streamed word by word so clients see it arrive like any model's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from assistant.backends.offline import planner
from assistant.backends.offline.answer import CallResult, write_answer
from assistant.messages import Message, ToolCall
from assistant.model import ModelEvent, ModelRequest, ModelResponse, TextDelta
from tools.profile import UserProfile


class OfflineModel:
    """The embedded planner (see docs/offline-model.md)."""

    name = "offline"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        message = respond(request.messages, request.profile, tool_names(request.tools))
        for piece in chunks(message.content or ""):
            yield TextDelta(piece)
        finish = "tool_calls" if message.tool_calls else "stop"
        yield ModelResponse(message=message, finish_reason=finish)


def tool_names(tools: list[dict[str, Any]]) -> set[str]:
    """Names of the OpenAI-style function schemas a request offers."""
    names = set()
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


def chunks(text: str) -> list[str]:
    """Word-sized pieces that join back to ``text`` exactly."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def respond(messages: list[Message], profile: UserProfile, names: set[str]) -> Message:
    """The assistant message for this point of the conversation."""
    if messages and messages[-1].role == "tool":
        return Message(role="assistant", content=write_answer(last_results(messages), profile))
    result = planner.plan(messages, profile, names)
    if not result.calls:
        return Message(role="assistant", content=result.reply)
    first = 1 + sum(len(m.tool_calls) for m in messages if m.role == "assistant")
    calls = [
        ToolCall(id=f"call_{first + i}", name=call.name, arguments=call.arguments)
        for i, call in enumerate(result.calls)
    ]
    return Message(role="assistant", tool_calls=calls)


def last_results(messages: list[Message]) -> list[CallResult]:
    """The last round of tool calls with the content of their results, in call order."""
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message.role == "assistant" and message.tool_calls:
            later = messages[position + 1 :]
            answers = {m.tool_call_id: m.content for m in later if m.role == "tool"}
            return [
                CallResult(
                    name=call.name,
                    arguments=call.arguments if isinstance(call.arguments, dict) else {},
                    content=answers.get(call.id),
                )
                for call in message.tool_calls
            ]
    return [
        CallResult(name=m.name or "tool", arguments={}, content=m.content)
        for m in messages
        if m.role == "tool"
    ][-1:]
