"""Events the agent loop emits while it answers one user turn.

The CLI prints them, the widget API sends them as SSE events, the OpenAI-compatible API keeps
only the text deltas. ``TurnCompleted`` carries the full record of the turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.messages import Message, Usage


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolStarted:
    call_id: str
    name: str
    arguments: dict[str, Any] | str


@dataclass(frozen=True)
class ToolFinished:
    call_id: str
    name: str
    ok: bool
    result: dict[str, Any]
    """The tool's output (or its structured failure) as JSON-ready data."""
    duration_ms: float


@dataclass(frozen=True)
class ToolCallRecord:
    name: str
    arguments: dict[str, Any] | str
    result: dict[str, Any]
    ok: bool
    duration_ms: float


@dataclass(frozen=True)
class TurnCompleted:
    answer: str
    tool_calls: list[ToolCallRecord]
    new_messages: list[Message]
    """Everything this turn added to the conversation (assistant and tool messages)."""
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    duration_ms: float = 0.0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class TurnFailed:
    message: str
    """Safe to show to the user."""


AgentEvent = TextDelta | ToolStarted | ToolFinished | TurnCompleted | TurnFailed
