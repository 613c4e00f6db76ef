"""Structured logs: JSON lines on stderr, each tagged with its request id and user id.

``RequestContextMiddleware`` gives every request an id (the caller's ``X-Request-ID`` if it
is plain, else a new one), echoes it back, and writes one ``request`` line per response.
Anything logged while the request runs carries the same id, so one grep finds it all.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

logger = logging.getLogger("finchat.server")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)


def current_request_id() -> str:
    """The id of the request being served (``-`` outside a request)."""
    return _request_id.get()


def bind_user_id(user_id: int) -> None:
    """Tag the rest of this request's log lines with ``user_id``."""
    _user_id.set(user_id)


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
