"""The HTTP server: an OpenAI-compatible API, the widget API and the widget itself.

* ``/v1/models`` and ``/v1/chat/completions`` speak OpenAI's chat-completions protocol, so any
  OpenAI client (the SDK, LangChain, Open WebUI, LibreChat) works with only its base URL and
  API key changed. finchat's own tools run here, on the server; the client sees the answer.
* ``/api/...`` is the widget's API: persisted conversations and a turn streamed as rich SSE
  events (text, each tool step with a compact table/chart view, completion, feedback).
* ``/`` is a demo page and ``/static/widget.js`` the embeddable widget.

Who the user is comes only from the bearer token: the server binds that user into the tool
context, and nothing in a request body or in model output can change whose ledger is read.
Workers keep no state between requests (tokens and conversations live in the database), so
any number of them can run behind a load balancer. Run it with ``uvicorn server:app`` (settings
from ``FINCHAT_*``) or ``finchat serve``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import html
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import NoDecode
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from assistant import conversations
from assistant.agent import run_turn
from assistant.backends import make_model
from assistant.events import (
    AgentEvent,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    TurnFailed,
)
from assistant.messages import Message
from assistant.model import Model
from assistant.settings import Settings
from ledger.auth import AuthenticatedUser, resolve_token
from ledger.db import create_schema, make_engine, session_factory
from ledger.queries import ledger_today
from tools import default_registry
from tools.base import ToolContext, ToolRegistry, Vocabulary
from tools.profile import UserProfile, load_profile
from webui import page_template, static_dir
from webui.compact import compact_result

logger = logging.getLogger("finchat.server")

MODEL_ID = "finchat"
"""The one model name this server answers to in the OpenAI-compatible API."""

T = TypeVar("T")


# ================================================================ settings
class ServerSettings(Settings):
    """Server options on top of the assistant's settings (also ``FINCHAT_*`` variables)."""

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed to call the API from a browser, comma-separated in
    ``FINCHAT_CORS_ORIGINS``; empty means same-origin only (the demo page)."""
    max_request_bytes: int = 256 * 1024
    """Larger request bodies are refused with 413 before they are read."""
    history_messages: int = 40
    """Stored messages replayed to the model per widget turn (cut at a user message)."""
    max_message_chars: int = 4000
    """Longest user message the widget API accepts."""
    profile_cache_seconds: float = 10.0
    """How long a worker reuses a user's profile (names for the tool enums); 0 disables."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


# ================================================================ errors
class ApiError(Exception):
    """An error answered as ``{"error": {"message", "type", "param", "code"}}`` (OpenAI's
    shape, used by every endpoint so one client-side handler understands them all)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "type": type, "param": param, "code": code}
        self.headers = headers


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse({"error": error.body}, status_code=error.status, headers=error.headers)


async def _api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


async def _http_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return _error_response(ApiError(exc.status_code, str(exc.detail), code=code))


async def _validation_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"][1:]) or None
    return _error_response(ApiError(400, first["msg"], param=param, code="invalid_value"))


async def _unexpected_error_handler(_request: Request, exc: Exception) -> Response:
    logger.error("unhandled error", exc_info=exc)
    error = ApiError(
        500,
        f"internal error (request id {_request_id.get()})",
        type="server_error",
        code="internal_error",
    )
    return _error_response(error)


# ================================================================ logging
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id and user id of the request that logged
    it and any ``extra={"fields": {...}}`` merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id.get(),
            "user_id": _user_id.get(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners and daemons swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """``StreamHandler.__init__`` assigns a stream; this handler has none of its own."""


def configure_logging(level: int = logging.INFO) -> None:
    """Send ``finchat.*`` logs to stderr as JSON lines (idempotent)."""
    root = logging.getLogger("finchat")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """A uvicorn ``log_config`` that writes uvicorn's and finchat's logs as JSON lines
    (uvicorn's access log is off: ``RequestContextMiddleware`` logs every request)."""
    handler = {"()": StderrHandler, "formatter": "json"}
    quiet = {"handlers": [], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": quiet,
            "finchat": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


# ================================================================ middleware
class RequestContextMiddleware:
    """Gives each request an id (``X-Request-ID``, echoed back), and logs one line per request
    when its response is complete (for a stream: when the stream ends)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: AsgiMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state") or {}
            logger.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user_id": state.get("user_id"),
                    }
                },
            )
            _request_id.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    """A caller's ``X-Request-ID`` if it is short and plain (it ends up in logs)."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if 0 < len(candidate) <= 64 and all(c.isalnum() or c in "-_." for c in candidate):
                return candidate
    return None


class RequestTooLarge(Exception):
    """The body grew past the limit while being read (no or a false Content-Length)."""


class BodySizeLimitMiddleware:
    """Refuses bodies over ``limit`` bytes: at once from ``Content-Length``, otherwise while
    reading, so a chunked upload cannot make a worker buffer an unbounded body."""

    def __init__(self, app: ASGIApp, *, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            response = _error_response(_too_large(self.limit))
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> AsgiMessage:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise RequestTooLarge
            return message

        await self.app(scope, counting_receive, send)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"request body is larger than {limit} bytes", code="request_too_large"
    )


async def _too_large_handler(request: Request, _exc: Exception) -> Response:
    return _error_response(_too_large(request.app.state.runtime.settings.max_request_bytes))


# ================================================================ runtime and identity
@dataclass
class Runtime:
    """What every request shares: settings, the database, the model and the tools."""

    settings: ServerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: ToolRegistry
    profiles: ProfileCache
    model: Model | None = None
    """Built at startup unless one was injected (tests, benchmarks)."""
    page_token: str | None = None
    """Only in ``--demo`` mode: the token the demo page at ``/`` hands to its widget."""

    def require_model(self) -> Model:
        if self.model is None:
            raise ApiError(503, "the model is not loaded yet", type="server_error")
        return self.model


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def _db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking database work in a worker thread: one slow query never stalls streams."""
    return await to_thread.run_sync(lambda: fn(*args, **kwargs))


async def current_user(request: Request) -> AuthenticatedUser:
    """The owner of the request's bearer token; 401 for a missing, unknown or revoked one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    user = await _db(resolve_token, _runtime(request).sessions, token.strip())
    if user is None:
        raise _unauthorized("invalid or revoked API token")
    request.state.user_id = user.id
    _user_id.set(user.id)
    return user


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
    )


User = Annotated[AuthenticatedUser, Depends(current_user)]


# ================================================================ running a turn
@dataclass(frozen=True)
class TurnSetup:
    """A user's tool context and profile, bound by the server for one turn."""

    ctx: ToolContext
    profile: UserProfile


class ProfileCache:
    """Recently loaded profiles, per worker, keyed by user and "today".

    Loading a profile (names, frequent payees, budgets) takes a few milliseconds of SQL per
    turn. "Today" is part of the key, so a new latest transaction takes effect at once; new
    account, category or payee names reach the model's enums within ``ttl`` seconds. The
    tools themselves always read the database, so no figure is ever stale.
    """

    def __init__(self, ttl: float, max_entries: int = 1024):
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[int, dt.date], tuple[float, UserProfile]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: int, today: dt.date) -> UserProfile | None:
        with self._lock:
            entry = self._entries.get((user_id, today))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user_id: int, today: dt.date, profile: UserProfile) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[(user_id, today)] = (time.monotonic() + self.ttl, profile)


class SchemaCachingRegistry(ToolRegistry):
    """A registry that builds each vocabulary's tool schemas once (about 2 ms of pydantic
    schema generation per turn otherwise). The lists it returns are shared: read-only."""

    def __init__(self, tools: ToolRegistry):
        super().__init__(list(tools))
        self._schemas = functools.lru_cache(maxsize=256)(super().openai_schemas)

    def openai_schemas(self, vocabulary: Vocabulary | None = None) -> list[dict[str, Any]]:
        return list(self._schemas(vocabulary))


def _setup_turn(runtime: Runtime, user_id: int) -> TurnSetup:
    """Bind ``user_id`` into the tool context: the only place a turn's user is decided."""
    with runtime.sessions() as session:
        today = runtime.settings.today or ledger_today(session, user_id) or dt.date.today()
        profile = runtime.profiles.get(user_id, today)
        if profile is None:
            profile = load_profile(session, user_id, today)
            runtime.profiles.put(user_id, today, profile)
    ctx = ToolContext(sessions=runtime.sessions, user_id=user_id, today=profile.today)
    return TurnSetup(ctx=ctx, profile=profile)


async def _logged_turn(
    runtime: Runtime,
    setup: TurnSetup,
    *,
    history: list[Message],
    user_message: str,
    sampling: dict[str, Any],
    endpoint: str,
) -> AsyncIterator[AgentEvent]:
    """``run_turn`` plus one log line with its timings, tools and tokens.

    The consumer must close this stream when it stops early (``aclosing``): closing it closes
    the agent loop, which closes the model's stream, so a disconnected client stops the work.
    """
    settings = runtime.settings
    started = time.perf_counter()
    first_token_ms: float | None = None
    outcome = "cancelled"
    try:
        async with aclosing(
            run_turn(
                model=runtime.require_model(),
                registry=runtime.registry,
                ctx=setup.ctx,
                profile=setup.profile,
                history=history,
                user_message=user_message,
                prompt_version=settings.prompt_version,
                max_steps=settings.max_steps,
                settings=sampling,
            )
        ) as events:
            async for event in events:
                if isinstance(event, TextDelta) and first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
                if isinstance(event, TurnCompleted):
                    outcome = "completed"
                    _log_turn(event, endpoint=endpoint, first_token_ms=first_token_ms)
                elif isinstance(event, TurnFailed):
                    outcome = "failed"
                yield event
    finally:
        if outcome != "completed":
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            fields = {"endpoint": endpoint, "outcome": outcome, "duration_ms": duration_ms}
            logger.warning("turn not completed", extra={"fields": fields})


def _log_turn(event: TurnCompleted, *, endpoint: str, first_token_ms: float | None) -> None:
    tools = [
        {"name": c.name, "ok": c.ok, "duration_ms": round(c.duration_ms, 2)}
        for c in event.tool_calls
    ]
    fields = {
        "endpoint": endpoint,
        "outcome": "completed",
        "steps": event.steps,
        "duration_ms": round(event.duration_ms, 2),
        "first_token_ms": None if first_token_ms is None else round(first_token_ms, 2),
        "tools": tools,
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
        "finish_reason": event.finish_reason,
    }
    logger.info("turn", extra={"fields": fields})


def _usage(event: TurnCompleted) -> dict[str, int]:
    return {
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
        "total_tokens": event.usage.total_tokens,
    }


async def _read_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "We could not parse the JSON body of your request.", code="invalid_json"
        ) from exc


def _validated(model: type[BaseModel], data: Any) -> Any:
    """``data`` as ``model``, or a 400 naming the first offending field."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, first["msg"], param=param, code="invalid_value") from exc


# ================================================================ OpenAI-compatible API
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


def _finish_reason(reason: str) -> str:
    """OpenAI's vocabulary: a turn cut by the step limit reads as ``length``."""
    return "length" if reason in ("length", "step_limit") else "stop"


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


def _model_error(message: str) -> ApiError:
    return ApiError(502, message, type="api_error", code="model_error")


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
                        yield {"data": completion.usage_chunk(_usage(event))}
                elif isinstance(event, TurnFailed):
                    yield {"data": json.dumps({"error": _model_error(event.message).body})}
        except Exception:
            logger.exception("stream failed")
            error = ApiError(500, f"internal error (request id {_request_id.get()})",
                             type="server_error", code="internal_error")
            yield {"data": json.dumps({"error": error.body})}
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
                return JSONResponse(completion.message(content, reason, _usage(event)))
            elif isinstance(event, TurnFailed):
                raise _model_error(event.message)
    raise _model_error("the model stopped without an answer")


def _register_openai_routes(app: FastAPI) -> None:
    @app.get("/v1/models", tags=["openai"])
    async def list_models(_user: User) -> dict[str, Any]:
        """The one model: ``finchat`` (its backend is a server setting, not a client choice)."""
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "finchat"}],
        }

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    async def chat_completions(request: Request, user: User) -> Response:
        """OpenAI chat completions; the client's messages are the history, the last one is
        the question, and finchat's tools run server-side for the token's user."""
        chat = parse_chat_request(await _read_json(request))
        runtime = _runtime(request)
        runtime.require_model()
        setup = await _db(_setup_turn, runtime, user.id)
        events = _logged_turn(
            runtime, setup, history=chat.history, user_message=chat.user_message,
            sampling=chat.sampling, endpoint="openai",
        )
        completion = _Completion(include_usage=chat.include_usage)
        if not chat.stream:
            return await _openai_answer(events, completion)
        return EventSourceResponse(_openai_stream(events, completion), sep="\n")


# ================================================================ widget API
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


def _conversation_json(info: conversations.ConversationInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "title": info.title,
        "created_at": info.created_at.isoformat() + "Z",
        "updated_at": info.updated_at.isoformat() + "Z",
    }


def widget_history(stored: list[conversations.StoredMessage]) -> list[dict[str, Any]]:
    """Stored messages as the widget shows them: each user message, then one assistant entry
    per answer with the text it streamed and each tool step (with its compact view)."""
    view: list[dict[str, Any]] = []
    steps: dict[str, dict[str, Any]] = {}
    texts: list[str] = []
    for item in stored:
        message = item.message
        if message.role == "user":
            view.append({"id": item.id, "role": "user", "content": message.content or ""})
        elif message.role == "tool" and message.tool_call_id in steps:
            result = _stored_result(message.content)
            ok = not _is_failure(result)
            step = steps[message.tool_call_id]
            step.update(ok=ok, result=compact_result(step["name"], ok, result))
        elif message.role == "assistant":
            texts.append(message.content or "")
            for call in message.tool_calls:
                steps[call.id] = {"name": call.name, "arguments": call.arguments}
            if not message.tool_calls:
                view.append({"id": item.id, "role": "assistant", "content": "".join(texts),
                             "tools": list(steps.values())})
                steps, texts = {}, []
    return view


def _stored_result(content: str | None) -> dict[str, Any]:
    try:
        data = json.loads(content or "")
    except json.JSONDecodeError:
        return {"error": "tool_error", "message": content or ""}
    return data if isinstance(data, dict) else {"value": data}


def _is_failure(result: dict[str, Any]) -> bool:
    """A stored ``ToolFailure`` (its keys are exactly these; outputs never look like it)."""
    return "error" in result and set(result) <= {"error", "message", "field", "allowed"}


def _sse(event: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": event,
            "data": json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))}


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
                    ids = await _db(conversations.append_messages, runtime.sessions, user_id,
                                    conversation_id, event.new_messages)
                    yield _sse("message_completed", _completed(event, ids, conversation_id,
                                                               user_message_id))
                elif isinstance(event, TurnFailed):
                    yield _sse("error", {"message": event.message, "code": "model_error"})
        except Exception:
            logger.exception("widget stream failed")
            yield _sse("error", {"message": f"internal error (request id {_request_id.get()})",
                                 "code": "internal_error"})


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
        "usage": _usage(event),
        "finish_reason": event.finish_reason,
    }


def _start_widget_turn(
    runtime: Runtime, user_id: int, conversation_id: str, content: str
) -> tuple[list[Message], int, TurnSetup]:
    """Load the history, store the question, bind the user: one worker-thread hop."""
    sessions = runtime.sessions
    history = conversations.history(sessions, user_id, conversation_id,
                                    max_messages=runtime.settings.history_messages)
    [message_id] = conversations.append_messages(
        sessions, user_id, conversation_id, [Message(role="user", content=content)]
    )
    return history, message_id, _setup_turn(runtime, user_id)


def _not_found(exc: LookupError) -> ApiError:
    return ApiError(404, str(exc).strip("'\""), code="not_found")


def _register_widget_routes(app: FastAPI) -> None:
    @app.post("/api/conversations", status_code=201, tags=["widget"])
    async def create_conversation(request: Request, user: User) -> dict[str, Any]:
        """Start a conversation (optionally titled; otherwise named by its first question)."""
        body = _validated(NewConversation, await _read_json(request))
        info = await _db(conversations.create_conversation, _runtime(request).sessions,
                         user.id, title=body.title)
        return _conversation_json(info)

    @app.get("/api/conversations", tags=["widget"])
    async def list_conversations(request: Request, user: User) -> dict[str, Any]:
        """The caller's conversations, most recently active first."""
        infos = await _db(conversations.list_conversations, _runtime(request).sessions, user.id)
        return {"data": [_conversation_json(info) for info in infos]}

    @app.get("/api/conversations/{conversation_id}", tags=["widget"])
    async def get_conversation(request: Request, user: User, conversation_id: str
                               ) -> dict[str, Any]:
        """One conversation with its messages as the widget renders them."""
        sessions = _runtime(request).sessions
        try:
            info = await _db(conversations.get_conversation, sessions, user.id, conversation_id)
            stored = await _db(conversations.load_messages, sessions, user.id, conversation_id)
        except conversations.ConversationNotFound as exc:
            raise _not_found(exc) from exc
        return {**_conversation_json(info), "messages": widget_history(stored)}

    @app.delete("/api/conversations/{conversation_id}", status_code=204, tags=["widget"])
    async def delete_conversation(request: Request, user: User, conversation_id: str
                                  ) -> Response:
        """Delete a conversation with its messages and feedback."""
        try:
            await _db(conversations.delete_conversation, _runtime(request).sessions, user.id,
                      conversation_id)
        except conversations.ConversationNotFound as exc:
            raise _not_found(exc) from exc
        return Response(status_code=204)

    @app.post("/api/conversations/{conversation_id}/messages", tags=["widget"],
              response_model=None)
    async def post_message(request: Request, user: User, conversation_id: str
                           ) -> EventSourceResponse:
        """Ask a question; the answer streams as SSE events (see docs/api.md)."""
        runtime = _runtime(request)
        body = _validated(NewMessage, await _read_json(request))
        content = body.content.strip()
        if not content or len(content) > runtime.settings.max_message_chars:
            raise ApiError(400, f"content must be 1 to {runtime.settings.max_message_chars} "
                           "characters", param="content", code="invalid_value")
        runtime.require_model()
        try:
            history, message_id, setup = await _db(
                _start_widget_turn, runtime, user.id, conversation_id, content
            )
        except conversations.ConversationNotFound as exc:
            raise _not_found(exc) from exc
        events = _logged_turn(runtime, setup, history=history, user_message=content,
                              sampling={}, endpoint="widget")
        return EventSourceResponse(
            _widget_stream(runtime, user.id, conversation_id, message_id, events)
        )

    @app.post("/api/messages/{message_id}/feedback", status_code=201, tags=["widget"])
    async def post_feedback(request: Request, user: User, message_id: int) -> dict[str, Any]:
        """Thumbs up/down (and a comment) on one of the caller's assistant messages."""
        body = _validated(NewFeedback, await _read_json(request))
        rating = 1 if body.rating in ("up", 1) else -1
        try:
            feedback_id = await _db(conversations.record_feedback, _runtime(request).sessions,
                                    user.id, message_id, rating=rating, comment=body.comment)
        except conversations.ConversationNotFound as exc:
            raise _not_found(exc) from exc
        return {"id": feedback_id, "message_id": message_id, "rating": rating}


# ================================================================ pages and operations
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The demo page runs only this server's own files: no inline script, nothing remote."""


def render_page(template: str, page_token: str | None) -> str:
    """The demo page, with the widget's token attribute only when one is given (demo mode)."""
    attribute = f' data-token="{html.escape(page_token)}"' if page_token else ""
    return template.replace("{{TOKEN_ATTRIBUTE}}", attribute)


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _register_page_routes(app: FastAPI) -> None:
    template = page_template()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        page = render_page(template, _runtime(request).page_token)
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP,
                                           "Cache-Control": "no-store"})

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (no dependency checked)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None)
    async def readyz(request: Request) -> dict[str, str] | JSONResponse:
        """Ready to serve: the database answers and the model is loaded."""
        runtime = _runtime(request)
        try:
            await _db(_ping_database, runtime.engine)
        except Exception:
            logger.exception("readiness: database unreachable")
            return JSONResponse({"status": "unavailable", "reason": "database unreachable"},
                                status_code=503)
        if runtime.model is None:
            return JSONResponse({"status": "unavailable", "reason": "model not loaded"},
                                status_code=503)
        return {"status": "ready"}

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")


# ================================================================ the application
def create_app(
    settings: Settings | None = None,
    *,
    model: Model | None = None,
    registry: ToolRegistry | None = None,
    demo_page_token: str | None = None,
) -> FastAPI:
    """Build the application; nothing is connected or loaded until startup.

    Args:
        settings: defaults to ``ServerSettings()`` (``FINCHAT_*`` variables); plain
            ``Settings`` are extended with the server options from the environment.
        model: a model to use instead of building one from ``settings.model`` (tests).
        registry: the tools (default: every built-in tool).
        demo_page_token: ``--demo`` only: the token the page at ``/`` gives its widget, so a
            first-time visitor can chat at once. Anyone who can load the page can use it.
    """
    server_settings = _server_settings(settings)
    engine = make_engine(server_settings.database_url)
    runtime = Runtime(
        settings=server_settings,
        engine=engine,
        sessions=session_factory(engine),
        registry=SchemaCachingRegistry(registry or default_registry()),
        profiles=ProfileCache(server_settings.profile_cache_seconds),
        model=model,
        page_token=demo_page_token,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        try:
            await _db(create_schema, engine)
        except SQLAlchemyError:  # keep serving: /readyz reports it until the database is back
            logger.exception("database unreachable at startup")
        if runtime.model is None:
            runtime.model = await _db(make_model, server_settings)
        logger.info("ready", extra={"fields": {"model": server_settings.model,
                                               "database": engine.url.render_as_string()}})
        yield
        engine.dispose()

    app = FastAPI(title="finchat", version="0.1.0", lifespan=lifespan,
                  description="Conversational finance assistant over your own ledger.")
    app.state.runtime = runtime
    _add_error_handlers(app)
    _register_openai_routes(app)
    _register_widget_routes(app)
    _register_page_routes(app)
    app.add_middleware(BodySizeLimitMiddleware, limit=server_settings.max_request_bytes)
    if server_settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server_settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
    return app


def _server_settings(settings: Settings | None) -> ServerSettings:
    if settings is None:
        return ServerSettings()
    if isinstance(settings, ServerSettings):
        return settings
    return ServerSettings(**settings.model_dump(exclude_unset=True))


def _add_error_handlers(app: FastAPI) -> None:
    handlers: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: _api_error_handler,
        RequestTooLarge: _too_large_handler,
        StarletteHTTPException: _http_error_handler,
        RequestValidationError: _validation_error_handler,
        Exception: _unexpected_error_handler,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)


app = create_app()
"""The application ``uvicorn server:app`` serves, configured from ``FINCHAT_*``."""
