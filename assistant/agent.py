"""The agent loop: one user turn, from question to grounded answer, as a stream of events.

    async def run_turn(
        *, model: Model, registry: ToolRegistry, ctx: ToolContext, profile: UserProfile,
        history: list[Message], user_message: str, prompt_version: str = "v1",
        max_steps: int = 6, settings: dict | None = None,
    ) -> AsyncIterator[AgentEvent]

Each step sends the conversation and the user's tool schemas to the model, forwards its text
deltas, runs the tools it called and feeds their results back. The loop never branches on the
backend. Tools are synchronous (SQLAlchemy sessions), so they run in a worker thread and the
event loop keeps serving other turns. Consumers that stop early should close the stream
(``contextlib.aclosing``) so the model's HTTP stream is closed at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import prompts
from assistant.events import (
    AgentEvent,
    TextDelta,
    ToolCallRecord,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    TurnFailed,
)
from assistant.messages import Message, ToolCall, Usage
from assistant.model import Model, ModelError, ModelRequest, ModelResponse
from assistant.model import TextDelta as ModelTextDelta
from tools.base import ToolContext, ToolRegistry
from tools.profile import UserProfile

STEP_LIMIT_ANSWER = (
    "I could not finish this answer within the number of steps allowed for one question. "
    "Please ask again more specifically, for example naming the account, category or period."
)
"""The answer when the model keeps calling tools: it states no figure, so it invents none."""


async def run_turn(
    *,
    model: Model,
    registry: ToolRegistry,
    ctx: ToolContext,
    profile: UserProfile,
    history: list[Message],
    user_message: str,
    prompt_version: str = "v1",
    max_steps: int = 6,
    settings: dict[str, Any] | None = None,
) -> AsyncIterator[AgentEvent]:
    """Answer ``user_message`` and stream what happens, ending with exactly one
    ``TurnCompleted`` or ``TurnFailed``.

    Args:
        history: earlier user, assistant and tool messages (no system prompt: it is rendered
            here from ``prompt_version`` and ``profile``).
        max_steps: model calls allowed in this turn, tool rounds included.
        settings: sampling options passed to the backend (temperature, max_tokens...).

    Raises:
        ValueError: ``max_steps`` below 1 or an unknown ``prompt_version`` (caller errors,
            raised before anything is streamed).
    """
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    system = Message(role="system", content=prompts.render(prompt_version, profile))
    turn = _Turn([system, *history, Message(role="user", content=user_message)])
    schemas = registry.openai_schemas(profile.vocabulary())

    while turn.steps < max_steps:
        turn.steps += 1
        request = ModelRequest(
            messages=list(turn.messages),
            tools=schemas,
            profile=profile,
            settings=dict(settings or {}),
        )
        response: ModelResponse | None = None
        try:
            async with aclosing(model.stream(request)) as stream:
                async for event in stream:
                    if isinstance(event, ModelTextDelta):
                        yield TextDelta(event.text)
                    else:
                        response = event
        except ModelError as exc:
            yield TurnFailed(str(exc))
            return
        if response is None or not (response.message.content or response.message.tool_calls):
            yield TurnFailed("The model returned an empty answer; please try again.")
            return
        turn.usage += response.usage
        turn.add(response.message)
        if not response.message.tool_calls:
            yield turn.completed(response.message.content or "", response.finish_reason)
            return
        for call in response.message.tool_calls:
            yield ToolStarted(call_id=call.id, name=call.name, arguments=call.arguments)
            yield await _run_tool(registry, ctx, call, turn)

    turn.add(Message(role="assistant", content=STEP_LIMIT_ANSWER))
    yield TextDelta(STEP_LIMIT_ANSWER)
    yield turn.completed(STEP_LIMIT_ANSWER, "step_limit")


async def _run_tool(
    registry: ToolRegistry, ctx: ToolContext, call: ToolCall, turn: _Turn
) -> ToolFinished:
    """Run one call in a worker thread and append its result for the model to read.

    Malformed JSON and unknown tools come back from the registry as ``ToolFailure`` results,
    so the model sees a structured error it can repair on its next step.
    """
    started = time.perf_counter()
    result = await asyncio.to_thread(registry.run, ctx, call.name, call.arguments)
    duration_ms = (time.perf_counter() - started) * 1000
    data = result.to_dict()
    turn.records.append(ToolCallRecord(call.name, call.arguments, data, result.ok, duration_ms))
    turn.add(Message(role="tool", content=result.to_json(), tool_call_id=call.id, name=call.name))
    return ToolFinished(
        call_id=call.id, name=call.name, ok=result.ok, result=data, duration_ms=duration_ms
    )


class _Turn:
    """What one turn has accumulated so far (kept apart so the loop reads as steps)."""

    def __init__(self, messages: list[Message]):
        self.started = time.perf_counter()
        self.messages = messages
        """The whole conversation the model sees next, system prompt first."""
        self.steps = 0
        self.usage = Usage()
        self.records: list[ToolCallRecord] = []
        self.new_messages: list[Message] = []

    def add(self, message: Message) -> None:
        self.messages.append(message)
        self.new_messages.append(message)

    def completed(self, answer: str, finish_reason: str) -> TurnCompleted:
        return TurnCompleted(
            answer=answer,
            tool_calls=list(self.records),
            new_messages=list(self.new_messages),
            usage=self.usage,
            steps=self.steps,
            duration_ms=(time.perf_counter() - self.started) * 1000,
            finish_reason=finish_reason,
        )
