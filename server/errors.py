"""Errors in OpenAI's shape, answered the same way by every endpoint.

Every error body is ``{"error": {"message", "type", "param", "code"}}``, so one client-side
handler (the OpenAI SDK's included) understands them all. Routing and validation errors from
FastAPI are reshaped too, and a bug answers 500 with the request id, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.logs import current_request_id

logger = logging.getLogger("finchat.server")

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


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


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse({"error": error.body}, status_code=error.status, headers=error.headers)


def internal_error() -> ApiError:
    """What a bug answers: the request id to look up in the logs, never the cause."""
    return ApiError(
        500,
        f"internal error (request id {current_request_id()})",
        type="server_error",
        code="internal_error",
    )


def add_error_handlers(app: FastAPI) -> None:
    """Answer ``ApiError``, routing, validation and unexpected errors in the error shape."""
    handlers: dict[type[Exception], ErrorHandler] = {
        ApiError: _api_error_handler,
        StarletteHTTPException: _http_error_handler,
        RequestValidationError: _validation_error_handler,
        Exception: _unexpected_error_handler,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)


async def _api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(ApiError(exc.status_code, str(exc.detail), code=code))


async def _validation_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"][1:]) or None
    return error_response(ApiError(400, first["msg"], param=param, code="invalid_value"))


async def _unexpected_error_handler(_request: Request, exc: Exception) -> Response:
    logger.error("unhandled error", exc_info=exc)
    return error_response(internal_error())
