"""``/v1/models`` and ``/v1/chat/completions``: OpenAI's chat-completions protocol.

Any OpenAI client (the SDK, LangChain, Open WebUI, LibreChat) works with only its base URL
and API key changed. finchat's own tools run here, on the server, for the token's user; the
client sees the answer, streamed as ``chat.completion.chunk`` events or as one
``chat.completion``, with the same text either way. An advisor asks about a customer who
granted consent by naming them in the ``X-Finchat-Customer`` header (``server.access``):
the model is then offered only the tools that consent covers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from assistant.events import AgentEvent, TextDelta, TurnCompleted, TurnFailed
from server.access import ReadSummary
from server.auth import User
from server.bodies import read_json
from server.errors import ApiError, internal_error
from server.openai_request import MODEL_ID, parse_chat_request
from server.runtime import run_blocking, runtime_of
from server.turns import logged_turn, setup_turn, token_usage

logger = logging.getLogger("finchat.server")


def add_routes(app: FastAPI) -> None:
    """Register this module's endpoints (tagged ``openai`` in the OpenAPI document)."""
    app.add_api_route("/v1/models", list_models, methods=["GET"], tags=["openai"])
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"],
                      tags=["openai"], response_model=None)


async def list_models(_user: User) -> dict[str, Any]:
    """The one model: ``finchat`` (its backend is a server setting, not a client choice)."""
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "finchat"}],
    }


async def chat_completions(request: Request, access: ReadSummary) -> Response:
    """OpenAI chat completions; the client's messages are the history, the last one is
    the question, and finchat's tools run server-side for the token's user (or the customer
    an advisor names, within their consent)."""
    chat = parse_chat_request(await read_json(request))
    runtime = runtime_of(request)
    runtime.require_model()
    setup = await run_blocking(setup_turn, runtime, access)
    events = logged_turn(
        runtime, setup, history=chat.history, user_message=chat.user_message,
        sampling=chat.sampling, endpoint="openai",
    )
    completion = _Completion(include_usage=chat.include_usage)
    if not chat.stream:
        return await _openai_answer(events, completion)
    return EventSourceResponse(_openai_stream(events, completion), sep="\n")


class _Completion:
    """Builds the ``chat.completion`` / ``chat.completion.chunk`` objects of one answer."""

    def __init__(self, *, include_usage: bool = False):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.include_usage = include_usage

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._dump("chat.completion.chunk", choices=[choice], **self._usage_field())

    def usage_chunk(self, usage: dict[str, int]) -> str:
        return self._dump("chat.completion.chunk", choices=[], usage=usage)

    def message(self, content: str, finish_reason: str, usage: dict[str, int]) -> dict[str, Any]:
        message = {"role": "assistant", "content": content, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        return self._object("chat.completion", choices=[choice], usage=usage)

    def _usage_field(self) -> dict[str, Any]:
        return {"usage": None} if self.include_usage else {}

    def _object(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": MODEL_ID,
                "system_fingerprint": None, **fields}

    def _dump(self, kind: str, **fields: Any) -> str:
        return json.dumps(self._object(kind, **fields), ensure_ascii=False, separators=(",", ":"))


async def _openai_stream(
    events: AsyncIterator[AgentEvent], completion: _Completion
) -> AsyncIterator[dict[str, str]]:
    """SSE ``data:`` events exactly as OpenAI streams them, ending with ``[DONE]``."""
    async with aclosing(events):
        yield {"data": completion.chunk({"role": "assistant", "content": ""})}
        streamed = False
        try:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    streamed = True
                    yield {"data": completion.chunk({"content": event.text})}
                elif isinstance(event, TurnCompleted):
                    if not streamed and event.answer:
                        yield {"data": completion.chunk({"content": event.answer})}
                    reason = _finish_reason(event.finish_reason)
                    yield {"data": completion.chunk({}, reason)}
                    if completion.include_usage:
                        yield {"data": completion.usage_chunk(token_usage(event))}
                elif isinstance(event, TurnFailed):
                    yield {"data": json.dumps({"error": _model_error(event.message).body})}
        except Exception:
            logger.exception("stream failed")
            yield {"data": json.dumps({"error": internal_error().body})}
    yield {"data": "[DONE]"}


async def _openai_answer(
    events: AsyncIterator[AgentEvent], completion: _Completion
) -> JSONResponse:
    """The whole answer as one ``chat.completion`` (the same text a stream would carry)."""
    parts: list[str] = []
    async with aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, TurnCompleted):
                content = "".join(parts) or event.answer
                reason = _finish_reason(event.finish_reason)
                return JSONResponse(completion.message(content, reason, token_usage(event)))
            elif isinstance(event, TurnFailed):
                raise _model_error(event.message)
    raise _model_error("the model stopped without an answer")


def _finish_reason(reason: str) -> str:
    """OpenAI's vocabulary: a turn cut by the step limit reads as ``length``."""
    return "length" if reason in ("length", "step_limit") else "stop"


def _model_error(message: str) -> ApiError:
    return ApiError(502, message, type="api_error", code="model_error")
