"""A model for the access tests: it calls whatever tool the question names, offered or not,
and answers with the tool's raw result, so a test reads exactly what a tool returned."""

from __future__ import annotations

from collections.abc import AsyncIterator

from assistant.messages import Message, ToolCall
from assistant.model import ModelEvent, ModelRequest, ModelResponse


class ToolCaller:
    """Calls the tool named by the question's last word with no arguments, whatever tools it
    was offered, then answers with the tool result verbatim."""

    name = "tool-caller"

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        last = request.messages[-1]
        if last.role == "tool":
            yield ModelResponse(message=Message(role="assistant", content=last.content))
            return
        call = ToolCall(id="call-1", name=(last.content or "").split()[-1], arguments={})
        yield ModelResponse(message=Message(role="assistant", content=None, tool_calls=[call]),
                            finish_reason="tool_calls")
