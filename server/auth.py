"""Who the caller is: the owner of the request's bearer token, and nobody else.

The token alone decides whose ledger a request reads (``ledger.auth`` resolves it); nothing
in a body, a system message or model output can change that. Routes take the ``User``
dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ledger.auth import AuthenticatedUser, resolve_token
from server.errors import ApiError
from server.logs import bind_user_id
from server.runtime import run_blocking, runtime_of


async def current_user(request: Request) -> AuthenticatedUser:
    """The owner of the request's bearer token; 401 for a missing, unknown or revoked one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    user = await run_blocking(resolve_token, runtime_of(request).sessions, token.strip())
    if user is None:
        raise _unauthorized("invalid or revoked API token")
    request.state.user_id = user.id
    bind_user_id(user.id)
    return user


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
    )


User = Annotated[AuthenticatedUser, Depends(current_user)]
"""A route parameter of this type is the authenticated caller."""
