"""A chat-completions request body, validated and reduced to what finchat uses.

Unknown parameters are tolerated, so clients that send more than finchat needs keep working;
what finchat would silently not honour (client tools forced on, ``n > 1``, image parts) is
refused with a 400 naming the parameter, exactly as OpenAI words its own errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from assistant.messages import Message
from server.errors import ApiError

MODEL_ID = "finchat"
"""The one model name this server answers to in the OpenAI-compatible API."""

SAMPLING_NUMBERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
)
"""Sampling options forwarded to the model backend (which may ignore them)."""

_CLIENT_TOOLS_MESSAGE = (
    "client-side tools are not supported: finchat runs its own tools on the server; "
    "send only system, user and assistant messages with text content"
)


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request, reduced to what finchat uses."""

    history: list[Message]
    user_message: str
    stream: bool
    include_usage: bool
    sampling: dict[str, Any]


def parse_chat_request(data: Any) -> ChatRequest:
    """Validate an OpenAI chat-completions body; unknown parameters are tolerated.

    Raises:
        ApiError: 400 for a malformed request, 404 for a model other than ``finchat``.
    """
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    _check_model(data.get("model"))
    texts = _conversation(data.get("messages"))
    if texts[-1][0] != "user":
        raise ApiError(400, "the last message must come from the user", param="messages")
    _check_choice_count(data.get("n"))
    _check_tool_choice(data)
    stream = data.get("stream", False)
    if not isinstance(stream, bool | None):
        raise ApiError(400, "'stream' must be a boolean", param="stream", code="invalid_type")
    options = data.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object", param="stream_options")
    history = [Message(role=role, content=content) for role, content in texts[:-1]]
    return ChatRequest(
        history=history,
        user_message=texts[-1][1],
        stream=bool(stream),
        include_usage=bool(options.get("include_usage")),
        sampling=_sampling(data),
    )


def _check_model(model: Any) -> None:
    if model is None:
        raise ApiError(400, "you must provide a model parameter", param="model",
                       code="missing_required_parameter")
    if model != MODEL_ID:
        raise ApiError(
            404,
            f"The model '{model}' does not exist or you do not have access to it; "
            f"this server serves '{MODEL_ID}'.",
            param="model",
            code="model_not_found",
        )


def _conversation(messages: Any) -> list[tuple[Literal["user", "assistant"], str]]:
    """``(role, text)`` of the user and assistant messages; system/developer messages dropped.

    Client system prompts are dropped on purpose: finchat's own versioned prompt, with its
    grounding rules, is the only system prompt the model sees.
    """
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array", param="messages",
                       code="missing_required_parameter" if messages is None else "invalid_value")
    texts: list[tuple[Literal["user", "assistant"], str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"{where} must be an object", param=where)
        role = message.get("role")
        if role in ("tool", "function") or message.get("tool_calls") or message.get(
            "function_call"
        ):
            raise ApiError(400, _CLIENT_TOOLS_MESSAGE, param=f"{where}.role",
                           code="unsupported_value")
        if role not in ("system", "developer", "user", "assistant"):
            raise ApiError(400, f"{where}.role must be one of system, developer, user, "
                           f"assistant (got {role!r})", param=f"{where}.role",
                           code="invalid_value")
        content = _text_content(message.get("content"), f"{where}.content")
        if role in ("system", "developer"):
            continue
        if not content.strip():
            raise ApiError(400, f"{where}.content must not be empty", param=f"{where}.content",
                           code="invalid_value")
        texts.append((role, content))
    if not texts:
        raise ApiError(400, "'messages' must contain a user message", param="messages")
    return texts


def _text_content(content: Any, where: str) -> str:
    """A message's text: a string, or an array of ``{"type": "text"}`` parts joined."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text"
                    and isinstance(part.get("text"), str)):
                raise ApiError(400, f"{where}: only text content parts are supported",
                               param=where, code="unsupported_value")
            parts.append(part["text"])
        return "".join(parts)
    raise ApiError(400, f"{where} must be a string or an array of text parts", param=where,
                   code="invalid_type")


def _check_choice_count(n: Any) -> None:
    if n is not None and n != 1:
        raise ApiError(400, "only n=1 is supported", param="n", code="unsupported_value")


def _check_tool_choice(data: dict[str, Any]) -> None:
    """Client ``tools`` are ignored; a client *forcing* a tool call is refused, because this
    server would silently never honour it (finchat answers with its own server-side tools)."""
    for name in ("tool_choice", "function_call"):
        choice = data.get(name)
        if choice is not None and choice not in ("auto", "none"):
            raise ApiError(400, f"'{name}' cannot force a call: {_CLIENT_TOOLS_MESSAGE}",
                           param=name, code="unsupported_value")


def _sampling(data: dict[str, Any]) -> dict[str, Any]:
    sampling: dict[str, Any] = {}
    for name in SAMPLING_NUMBERS:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError(400, f"'{name}' must be a number", param=name, code="invalid_type")
        sampling[name] = value
    stop = data.get("stop")
    if stop is not None:
        if not (isinstance(stop, str) or (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop)
        )):
            raise ApiError(400, "'stop' must be a string or an array of strings", param="stop",
                           code="invalid_type")
        sampling["stop"] = stop
    return sampling
