"""The request body size limit, enforced before and while a body is read."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from server.errors import ApiError, error_response


class RequestTooLarge(Exception):
    """The body grew past the limit while being read (no or a false Content-Length)."""

    def __init__(self, limit: int):
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class BodySizeLimitMiddleware:
    """Refuses bodies over ``limit`` bytes: at once from ``Content-Length``, otherwise while
    reading, so a chunked upload cannot make a worker buffer an unbounded body.
    ``path_limits`` gives other limits to exact paths (a statement upload may be 50 MB)."""

    def __init__(self, app: ASGIApp, *, limit: int, path_limits: Mapping[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(route_path(scope), self.limit)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(_too_large(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> AsgiMessage:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


def route_path(scope: Scope) -> str:
    """The path the router matches: ``scope["path"]`` less the ``root_path`` a proxy prefix
    adds (``uvicorn --root-path /finchat``), so path rules hold behind a prefix too."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root):]
    return path


async def too_large_handler(_request: Request, exc: Exception) -> Response:
    """Answers ``RequestTooLarge`` raised while a route was reading the body."""
    assert isinstance(exc, RequestTooLarge)
    return error_response(_too_large(exc.limit))


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"request body is larger than {limit} bytes", code="request_too_large"
    )
