"""The one protocol every model backend implements.

A backend receives the whole conversation (system prompt first, tool results included), the
tool schemas and the user's profile, and streams ``TextDelta`` events followed by exactly one
``ModelResponse``: the complete assistant message, possibly with tool calls. The agent loop
never branches on which backend it talks to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant.messages import Message, Usage
from tools.profile import UserProfile


@dataclass(frozen=True)
class ModelRequest:
    messages: list[Message]
    tools: list[dict[str, Any]]
    """OpenAI-style function schemas (``ToolRegistry.openai_schemas``)."""
    profile: UserProfile
    settings: dict[str, Any] = field(default_factory=dict)
    """Sampling options a client asked for (temperature, max_tokens...); backends may ignore."""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ModelResponse:
    message: Message
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"


ModelEvent = TextDelta | ModelResponse


class Model(Protocol):
    """A chat model that may call tools."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Stream text deltas, then one ``ModelResponse`` with the whole message."""
        ...


class ModelError(Exception):
    """The model could not be reached or answered with something unusable; the message is safe
    to show to a user (no keys, no stack traces)."""
