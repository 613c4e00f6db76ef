"""``/auth/...``: password login (OAuth2 password flow), refresh, logout, password change,
TOTP enrolment and API keys.

``POST /auth/token`` takes the OAuth2 password form (``username``, ``password``,
``grant_type=password``, plus ``otp`` when TOTP is on) and answers ``access_token`` (a JWT for
``expires_in`` seconds), ``token_type: bearer`` and a ``refresh_token``. A wrong name, a wrong
password and a locked account all answer the same 401 ``invalid_grant`` (see
``ledger.credentials``). Changing the password, TOTP and API keys need the access token of a
password login (``LoggedIn``), and the sensitive ones ask for the password again. Secrets
travel only in bodies, which are never logged; answers carrying tokens are ``no-store``.
See docs/auth.md.
"""

from __future__ import annotations

import functools
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from ledger import auth, credentials, login_tokens, totp
from ledger.auth_settings import AuthSettings
from ledger.credentials import LoginRefused, PasswordPolicyError
from ledger.login_tokens import SigningKeyMissing, TokenPair, TokenRefused
from server.auth import LoggedIn, User, auth_settings_of, not_configured
from server.bodies import read_json, validated
from server.errors import ApiError
from server.logs import bind_user_id
from server.runtime import run_blocking, runtime_of

logger = logging.getLogger("finchat.auth")

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 section 5.1: no cache may keep an answer that carries tokens."""


def add_routes(app: FastAPI) -> None:
    """Register this module's endpoints (tagged ``auth``); reads ``AuthSettings`` now, so a
    bad ``FINCHAT_*`` value fails at startup."""
    app.state.auth_settings = AuthSettings()
    route = functools.partial(app.add_api_route, tags=["auth"])
    token_body = {"requestBody": {"required": True, "content": {
        kind: {"schema": RefreshBody.model_json_schema()}
        for kind in ("application/json", "application/x-www-form-urlencoded")}}}
    route("/auth/token", token, methods=["POST"], response_model=None)
    route("/auth/refresh", refresh, methods=["POST"], response_model=None,
          openapi_extra=token_body)
    route("/auth/logout", logout, methods=["POST"], status_code=204, openapi_extra=token_body)
    route("/auth/password", change_password, methods=["POST"], status_code=204)
    route("/auth/totp/enrol", enrol_totp, methods=["POST"])
    route("/auth/totp/confirm", confirm_totp, methods=["POST"])
    route("/auth/totp/disable", disable_totp, methods=["POST"], status_code=204)
    route("/auth/api-keys", list_api_keys, methods=["GET"])
    route("/auth/api-keys", create_api_key, methods=["POST"], status_code=201)
    route("/auth/api-keys/{key_id}", revoke_api_key, methods=["DELETE"], status_code=204)


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=2000)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


class CodeOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)


class PasswordAndCode(PasswordOnly):
    code: str = Field(min_length=1, max_length=64)
    """A current TOTP code or an unused recovery code."""


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=80, pattern=r"^[^\x00-\x1f\x7f]*$")
    """A note to recognise the key by (no control characters)."""


# ---------------------------------------------------------------- tokens
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    otp: Annotated[str | None, Form(max_length=64)] = None,
) -> JSONResponse:
    """Sign in with user name and password (and ``otp``: a TOTP code or a recovery code, when
    two-factor authentication is on); answers an access token and a refresh token."""
    sessions = runtime_of(request).sessions
    try:
        pair = await run_blocking(credentials.login, sessions, form.username, form.password,
                                  otp=otp, settings=auth_settings_of(request))
    except LoginRefused as refused:
        logger.info("login refused", extra={"fields": {"reason": refused.code}})
        raise _refused(str(refused), refused.code) from None
    except SigningKeyMissing:
        raise not_configured() from None
    _mark_user(request, pair.user_id)
    logger.info("login", extra={"fields": {"session": pair.session_id}})
    return _token_response(pair)


async def refresh(request: Request) -> JSONResponse:
    """A new access token and refresh token for a refresh token (form or JSON
    ``refresh_token``); each refresh token works once."""
    presented = await _posted_refresh_token(request)
    try:
        pair = await run_blocking(login_tokens.refresh, runtime_of(request).sessions, presented,
                                  settings=auth_settings_of(request))
    except TokenRefused as refused:
        raise _refused(str(refused), refused.code) from None
    except SigningKeyMissing:
        raise not_configured() from None
    _mark_user(request, pair.user_id)
    return _token_response(pair)


async def logout(request: Request) -> Response:
    """End the login session of a refresh token: its refresh tokens and access tokens stop
    working at once. Answers 204 whether or not the token was known (nothing to learn)."""
    presented = await _posted_refresh_token(request)
    await run_blocking(login_tokens.revoke_by_refresh_token, runtime_of(request).sessions,
                       presented)
    return Response(status_code=204)


# ---------------------------------------------------------------- password and TOTP
async def change_password(request: Request, user: LoggedIn, body: PasswordChange) -> Response:
    """Replace the password (the current one is checked like a login); the caller's other
    login sessions are signed out."""
    await _guarded(credentials.change_password, runtime_of(request).sessions, user.id,
                   body.current_password, body.new_password,
                   settings=auth_settings_of(request), keep_session=user.session_id)
    return Response(status_code=204)


async def enrol_totp(request: Request, user: LoggedIn, body: PasswordOnly) -> JSONResponse:
    """Start two-factor enrolment: a secret for an authenticator app, active only once
    ``/auth/totp/confirm`` gets a code from it."""
    enrolment = await _guarded(credentials.enrol_totp, runtime_of(request).sessions,
                               user.id, body.password, settings=auth_settings_of(request))
    return JSONResponse({"secret": enrolment.secret, "otpauth_uri": enrolment.uri},
                        headers=_NO_STORE)


async def confirm_totp(request: Request, user: LoggedIn, body: CodeOnly) -> JSONResponse:
    """Turn two-factor authentication on with a code from the app; answers ten single-use
    recovery codes, shown this once."""
    codes = await _guarded(totp.confirm, runtime_of(request).sessions, user.id,
                           body.code)
    return JSONResponse({"recovery_codes": codes}, headers=_NO_STORE)


async def disable_totp(request: Request, user: LoggedIn, body: PasswordAndCode) -> Response:
    """Turn two-factor authentication off (password and a code or recovery code)."""
    await _guarded(credentials.disable_totp, runtime_of(request).sessions, user.id,
                   body.password, body.code, settings=auth_settings_of(request))
    return Response(status_code=204)


# ---------------------------------------------------------------- API keys
async def list_api_keys(request: Request, user: User) -> dict[str, Any]:
    """The caller's active API keys: id, label, creation time and last four characters."""
    keys = await run_blocking(auth.list_api_keys, runtime_of(request).sessions, user.id)
    return {"data": [_key_json(key) for key in keys]}


async def create_api_key(request: Request, user: LoggedIn, body: NewApiKey) -> JSONResponse:
    """A new API key for scripts, in ``key``: shown this once, only its hash is kept."""
    issued = await run_blocking(auth.issue_api_key, runtime_of(request).sessions, user.id,
                                label=body.label)
    return JSONResponse({**_key_json(issued.info), "key": issued.token}, status_code=201,
                        headers=_NO_STORE)


async def revoke_api_key(request: Request, user: LoggedIn,
                         key_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    """Revoke one of the caller's API keys at once (another user's answers 404)."""
    if not await run_blocking(auth.revoke_api_key, runtime_of(request).sessions, user.id,
                              key_id):
        raise ApiError(404, f"no active API key {key_id}", param="key_id", code="not_found")
    return Response(status_code=204)


# ---------------------------------------------------------------- helpers
async def _guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an account change, turning its refusals into error answers."""
    try:
        return await run_blocking(fn, *args, **kwargs)
    except LoginRefused as refused:
        raise _refused(str(refused), refused.code) from None
    except PasswordPolicyError as weak:
        raise ApiError(400, str(weak), param="new_password", code="weak_password") from None
    except totp.TotpStateError as state:
        status = 400 if state.code == "invalid_otp" else 409
        raise ApiError(status, str(state), code=state.code) from None


async def _posted_refresh_token(request: Request) -> str:
    """``refresh_token`` from a JSON body or a form (OAuth2 clients send forms)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return validated(RefreshBody, await read_json(request)).refresh_token
    form = await request.form()
    return validated(RefreshBody, {"refresh_token": form.get("refresh_token")}).refresh_token


def _token_response(pair: TokenPair) -> JSONResponse:
    body = {"access_token": pair.access_token, "token_type": "bearer",
            "expires_in": pair.expires_in, "refresh_token": pair.refresh_token}
    return JSONResponse(body, headers=_NO_STORE)


def _refused(message: str, code: str) -> ApiError:
    return ApiError(401, message, code=code, headers={"WWW-Authenticate": "Bearer"})


def _mark_user(request: Request, user_id: int) -> None:
    """Tag the request's log line with the user who just signed in."""
    request.state.user_id = user_id
    bind_user_id(user_id)


def _key_json(key: auth.ApiKeyInfo) -> dict[str, Any]:
    return {"id": key.id, "label": key.label, "created_at": key.created_at.isoformat(),
            "last4": key.last4}
