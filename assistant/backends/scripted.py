"""A test double that replays a script of assistant messages through the real agent loop.

Like openai-agents' scripted model: every ``ModelRequest`` is recorded so a test can assert
what the loop sent, asking for more steps than scripted is a loud error (never a silent empty
answer), and ``assert_all_used`` catches a loop that stopped too early.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from assistant.messages import Message
from assistant.model import ModelEvent, ModelRequest, ModelResponse, TextDelta

Step = Message | ModelResponse | str | Exception
"""One scripted model call: an assistant message (or a full response with usage), a plain
answer text, or an exception to raise (e.g. a ``ModelError``)."""


class ScriptExhaustedError(AssertionError):
    """The loop asked the scripted model for more steps than the test scripted."""


class ScriptedModel:
    """Replays ``steps`` in order, one per model call."""

    name = "scripted"

    def __init__(self, steps: Sequence[Step]):
        self._steps = list(steps)
        self.requests: list[ModelRequest] = []
        """Every request received, in order."""

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        """Steps from a JSON list of assistant messages (``{"content", "tool_calls"}``).

        This lets ``FINCHAT_MODEL=scripted:<file>`` drive the CLI or the server end to end.
        """
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise ValueError(f"{path}: a script is a JSON list of assistant messages")
        return cls([Message.model_validate({"role": "assistant", **step}) for step in raw])

    @property
    def unused_steps(self) -> list[Step]:
        return self._steps[len(self.requests) :]

    def assert_all_used(self) -> None:
        if self.unused_steps:
            raise AssertionError(f"{len(self.unused_steps)} scripted step(s) never requested")

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Stream the next step's text word by word, then its complete response."""
        index = len(self.requests)
        self.requests.append(request)
        if index >= len(self._steps):
            raise ScriptExhaustedError(
                f"model called {index + 1} time(s) but only {len(self._steps)} step(s) scripted"
            )
        response = _as_response(self._steps[index])
        for piece in re.findall(r"\s*\S+\s*", response.message.content or ""):
            yield TextDelta(piece)
        yield response


def _as_response(step: Step) -> ModelResponse:
    if isinstance(step, Exception):
        raise step
    if isinstance(step, ModelResponse):
        return step
    if isinstance(step, str):
        step = Message(role="assistant", content=step)
    finish = "tool_calls" if step.tool_calls else "stop"
    return ModelResponse(message=step, finish_reason=finish)
