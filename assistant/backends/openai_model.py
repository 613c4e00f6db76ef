"""Any OpenAI-compatible chat-completions server through the official ``openai`` SDK.

OpenAI itself, Ollama, vLLM, llama.cpp's server and LM Studio all speak this protocol. The
SDK brings retries with backoff (connection errors, 408/409/429/5xx) and timeouts; this module
translates neutral messages to the wire format, accumulates the streamed tool-call deltas by
index (parallel calls arrive interleaved), and turns every failure into a ``ModelError`` whose
message is safe to show (no key, no stack trace).

What leaves the machine is redacted first (``assistant.redaction``): card and account numbers,
IBANs, e-mail addresses, phone numbers and street addresses in every message and in the
user's names in the tool schemas are masked, figures and dates are not. Masks the model puts
into tool-call arguments are restored before the tools run, so a search still finds the
user's real value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from assistant.messages import Message, ToolCall, Usage
from assistant.model import ModelError, ModelEvent, ModelRequest, ModelResponse, TextDelta
from assistant.redaction import Redactor

logger = logging.getLogger(__name__)

PLACEHOLDER_API_KEY = "not-needed"
"""Sent when no key is configured: local servers (Ollama, llama.cpp) accept any key."""

PASSED_SETTINGS = ("temperature", "top_p", "max_tokens", "seed", "stop")
"""Sampling options forwarded from ``ModelRequest.settings`` when a client gives them."""


class OpenAIModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        redact_pii: bool = True,
    ):
        """Args:
        redact_pii: mask personal data in what is sent (see the module docstring); turn it
            off only for a model server you run yourself.
        """
        self.model = model
        self.name = f"openai:{model}"
        self.redact_pii = redact_pii
        self._options: dict[str, Any] = {
            "base_url": base_url,
            "api_key": api_key or PLACEHOLDER_API_KEY,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        self._client: AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return str(self._client_for_loop().base_url).rstrip("/")

    def _client_for_loop(self) -> AsyncOpenAI:
        """The SDK client of the running event loop.

        An HTTP connection pool belongs to the loop that opened it; the CLI runs each turn in
        its own ``asyncio.run``, so a new loop gets a new client instead of a dead pool.
        """
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._client is None or (loop is not None and loop is not self._client_loop):
            self._client = AsyncOpenAI(**self._options)
            self._client_loop = loop
        return self._client

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Stream text deltas, then the assembled message with its tool calls and usage."""
        client = self._client_for_loop()
        kwargs = self._create_kwargs(request)
        redactor = Redactor() if self.redact_pii else None
        if redactor is not None:
            kwargs = _redacted(kwargs, redactor)
        state = _StreamState()
        try:
            stream = await client.chat.completions.create(**kwargs)
            async with stream:
                async for chunk in stream:
                    for text in state.add_chunk(chunk):
                        yield TextDelta(text)
        except openai.OpenAIError as exc:
            raise ModelError(_describe(exc, self)) from exc
        except httpx.TransportError as exc:  # SDKs before 2.x let mid-stream faults through
            raise ModelError(f"The connection to {self.base_url} broke off mid-answer.") from exc
        response = state.response()
        yield response if redactor is None else _restored(response, redactor)

    def _create_kwargs(self, request: ModelRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [to_openai_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:  # some servers reject an empty list
            kwargs["tools"] = request.tools
        for key in PASSED_SETTINGS:
            if request.settings.get(key) is not None:
                kwargs[key] = request.settings[key]
        return kwargs


def _redacted(kwargs: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The request with personal data masked in every message and in the schemas' enums
    (the user's account and category names)."""
    out = dict(kwargs)
    out["messages"] = [_redacted_message(message, redactor) for message in kwargs["messages"]]
    if "tools" in kwargs:
        out["tools"] = [_redacted_enums(tool, redactor) for tool in kwargs["tools"]]
    return out


def _redacted_message(message: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    out = dict(message)
    content = message.get("content")
    if isinstance(content, str):
        is_json = message.get("role") == "tool"  # tool results are JSON: keep them valid
        out["content"] = redactor.json_text(content) if is_json else redactor.text(content)
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                **call,
                "function": {
                    **call["function"],
                    "arguments": redactor.json_text(call["function"]["arguments"]),
                },
            }
            for call in message["tool_calls"]
        ]
    return out


def _redacted_enums(schema: Any, redactor: Redactor) -> Any:
    """A JSON schema whose ``enum`` strings are redacted; descriptions are our own text."""
    if isinstance(schema, list):
        return [_redacted_enums(item, redactor) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: redactor.value(value) if key == "enum" else _redacted_enums(value, redactor)
        for key, value in schema.items()
    }


def _restored(response: ModelResponse, redactor: Redactor) -> ModelResponse:
    """The response with masks in tool-call arguments mapped back to the user's values."""
    if not response.message.tool_calls:
        return response
    calls = [
        call.model_copy(update={"arguments": redactor.restore(call.arguments)})
        for call in response.message.tool_calls
    ]
    message = response.message.model_copy(update={"tool_calls": calls})
    return ModelResponse(
        message=message, usage=response.usage, finish_reason=response.finish_reason
    )


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _StreamState:
    """The message being assembled from ``chat.completion.chunk`` events."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"

    def add_chunk(self, chunk: Any) -> list[str]:
        """Fold one chunk in; return its text deltas."""
        if chunk.usage is not None:  # the final chunk when include_usage is honoured
            self.usage = Usage(
                prompt_tokens=chunk.usage.prompt_tokens or 0,
                completion_tokens=chunk.usage.completion_tokens or 0,
            )
        texts: list[str] = []
        for choice in chunk.choices:
            if choice.index not in (0, None):
                continue
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                self.text.append(delta.content)
                texts.append(delta.content)
            for call_delta in delta.tool_calls or []:
                self._add_call_delta(call_delta)
        return texts

    def _add_call_delta(self, delta: Any) -> None:
        """Fragments of parallel calls share their ``index``; a server that omits it sends
        each call whole, one per delta."""
        index = delta.index if delta.index is not None else len(self.calls)
        pending = self.calls.setdefault(index, _PendingCall())
        if delta.id:
            pending.id = delta.id
        if delta.function is not None:
            pending.name += delta.function.name or ""
            pending.arguments += delta.function.arguments or ""

    def response(self) -> ModelResponse:
        calls = [
            ToolCall(
                id=pending.id or f"call_{uuid.uuid4().hex[:12]}",
                name=pending.name,
                arguments=parse_arguments(pending.arguments),
            )
            for _, pending in sorted(self.calls.items())
        ]
        message = Message(role="assistant", content="".join(self.text) or None, tool_calls=calls)
        return ModelResponse(message=message, usage=self.usage, finish_reason=self.finish_reason)


def parse_arguments(raw: str) -> dict[str, Any] | str:
    """A call's arguments as a dict, or the raw text when it is not a JSON object.

    The raw text goes to the tool, whose structured failure tells the model what to repair.
    """
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return parsed if isinstance(parsed, dict) else raw


def to_openai_message(message: Message) -> dict[str, Any]:
    """A neutral message in the chat-completions wire format."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
        out["content"] = message.content or ""
    elif message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(call.arguments, ensure_ascii=False),
                },
            }
            for call in message.tool_calls
        ]
    elif message.content is None:
        out["content"] = ""
    return out


def from_openai_message(data: dict[str, Any]) -> Message:
    """A chat-completions message (as a client sends it) as a neutral message.

    Content given as a list of parts keeps its text parts; tool-call arguments are parsed
    like a streamed response's.
    """
    content = data.get("content")
    if isinstance(content, list):
        content = "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    calls = [
        ToolCall(
            id=call.get("id") or f"call_{uuid.uuid4().hex[:12]}",
            name=call.get("function", {}).get("name", ""),
            arguments=parse_arguments(call.get("function", {}).get("arguments") or ""),
        )
        for call in data.get("tool_calls") or []
    ]
    return Message(
        role=data["role"],
        content=content,
        tool_calls=calls,
        tool_call_id=data.get("tool_call_id"),
        name=data.get("name"),
    )


def _describe(exc: openai.OpenAIError, model: OpenAIModel) -> str:
    """One sentence a user can act on; the server's own message only where it helps
    (a 400 such as "model does not support tools"), never the key."""
    where = model.base_url
    if isinstance(exc, openai.APITimeoutError):
        return f"The model server at {where} did not answer in time; is it overloaded?"
    if isinstance(exc, openai.APIConnectionError):
        return f"Could not reach the model server at {where}; is it running?"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return (
            f"The model server at {where} refused the API key (HTTP {exc.status_code}); "
            "check FINCHAT_API_KEY."
        )
    if isinstance(exc, openai.NotFoundError):
        return f"The model server at {where} has no model {model.model!r} (HTTP 404)."
    if isinstance(exc, openai.RateLimitError):
        return "The model server is rate limiting requests (HTTP 429); try again later."
    if isinstance(exc, openai.APIStatusError):
        detail = _server_message(exc, model)
        return f"The model server rejected the request (HTTP {exc.status_code}){detail}."
    logger.warning("model stream failed: %r", exc)
    return f"The model server at {where} sent an unusable answer; try again."


def _server_message(exc: openai.APIStatusError, model: OpenAIModel) -> str:
    if exc.status_code >= 500 or not isinstance(exc.body, dict):
        return ""
    message = exc.body.get("message") or (exc.body.get("error") or {}).get("message")
    if not isinstance(message, str):
        return ""
    key = model._options["api_key"]
    message = message.replace(key, "***") if key != PLACEHOLDER_API_KEY else message
    return f": {message[:200]}"
