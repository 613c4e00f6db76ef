"""Who the caller is: the owner of the request's bearer token, and nobody else.

Two kinds of bearer token are accepted: an API key (``fc_...``, resolved by ``ledger.auth``)
and an access token from a password login (a JWT, checked by ``ledger.login_tokens``).
Refresh tokens (``fcr_...``) are not: they only buy new access tokens at ``/auth/refresh``.
The token alone decides whose ledger a request reads; nothing in a body, a system message or
model output can change that. Routes take the ``User`` dependency; account changes take
``LoggedIn``, which also wants the access token of a password login.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from ledger.auth import TOKEN_PREFIX, AuthenticatedUser, resolve_token
from ledger.auth_settings import AuthSettings
from ledger.login_tokens import (
    REFRESH_PREFIX,
    SigningKeyMissing,
    TokenRefused,
    verify_access_token,
)
from server.errors import ApiError
from server.logs import bind_user_id
from server.runtime import run_blocking, runtime_of

bearer_token = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
"""Reads ``Authorization: Bearer ...`` and documents the password flow in the OpenAPI schema
(the Authorize button of ``/docs``)."""


async def current_user(
    request: Request, token: Annotated[str | None, Depends(bearer_token)]
) -> AuthenticatedUser:
    """The owner of the request's bearer token; 401 for a missing, unknown, revoked or
    expired one."""
    token = (token or "").strip()
    if not token:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    sessions = runtime_of(request).sessions
    if token.startswith(TOKEN_PREFIX) or token.count(".") != 2:
        if token.startswith(REFRESH_PREFIX):
            raise _unauthorized("a refresh token is not a bearer token: exchange it at "
                                "/auth/refresh")
        user = await run_blocking(resolve_token, sessions, token)
        if user is None:
            raise _unauthorized("invalid or revoked API token")
    else:
        user = await run_blocking(_access_token_user, sessions, token,
                                  auth_settings_of(request))
    request.state.user_id = user.id
    bind_user_id(user.id)
    return user


async def logged_in_user(user: Annotated[AuthenticatedUser, Depends(current_user)]
                         ) -> AuthenticatedUser:
    """The caller, if they came with a password login's access token: managing keys,
    passwords and second factors is refused to API keys, so a leaked key cannot mint
    itself successors or lock its owner out."""
    if user.credential != "access_token":
        raise ApiError(403, "this needs a password login's access token, not an API key "
                            "(POST /auth/token)", type="permission_error", code="login_required")
    return user


def auth_settings_of(request: Request) -> AuthSettings:
    """The application's ``AuthSettings``: read once from the environment when the routes are
    added (``server.login``), so a bad value fails at startup; tests may replace them."""
    return request.app.state.auth_settings


def _access_token_user(sessions: sessionmaker[Session], token: str, settings: AuthSettings
                       ) -> AuthenticatedUser:
    try:
        return verify_access_token(sessions, token, settings=settings)
    except TokenRefused as refused:
        raise _unauthorized(str(refused), code=refused.code) from None
    except SigningKeyMissing:
        raise not_configured() from None


def not_configured() -> ApiError:
    """What a server without a signing key answers to anything involving access tokens."""
    return ApiError(503, "password login is not configured on this server: set "
                         "FINCHAT_TOKEN_SECRET or a data key", type="server_error",
                    code="login_not_configured")


def _unauthorized(message: str, *, code: str = "invalid_api_key") -> ApiError:
    """401 with the RFC 6750 challenge; ``code`` tells an expired access token (refresh it)
    from one that is no good."""
    challenge = "Bearer" if code == "invalid_api_key" else 'Bearer error="invalid_token"'
    return ApiError(401, message, code=code, headers={"WWW-Authenticate": challenge})


User = Annotated[AuthenticatedUser, Depends(current_user)]
"""A route parameter of this type is the authenticated caller."""
LoggedIn = Annotated[AuthenticatedUser, Depends(logged_in_user)]
"""The authenticated caller, signed in with a password (not an API key)."""
