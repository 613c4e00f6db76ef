"""``/api/consents``, ``/api/audit``, ``/api/export``, ``/api/account`` and ``/api/admin/users``:
consent, the audit log, GDPR requests and user management over HTTP.

Every route goes through ``server.access`` like the chat and ledger routes: a customer
grants, lists and revokes consent on their own data and reads their own audit log; an
administrator names a user with ``X-Finchat-Customer`` to export or erase them or to read
their audit log, and manages users and roles, but never receives ledger content from the
admin routes. Revocation takes effect on the next request: no decision is cached. See
``docs/access.md``.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger import admin, audit, consent, privacy
from ledger.credentials import PasswordPolicyError, check_password_policy, set_password
from ledger.crypto import CryptoError
from ledger.models import User
from ledger.policy import Action, GrantView, Role, Scope
from ledger.users import get_user_by_name
from server.access import (
    MAX_USER_ID,
    Access,
    Admin,
    Erase,
    Export,
    ManageConsent,
    ReadAudit,
    require,
)
from server.auth import auth_settings_of
from server.bodies import read_json, validated
from server.errors import ApiError
from server.runtime import run_blocking, runtime_of

OwnConsents = require(Action.MANAGE_CONSENT, others=False)
Id = Annotated[int, Path(ge=1, le=MAX_USER_ID)]
DEFAULT_DAYS = 90
"""How long a grant lasts when the customer names no expiry."""
T = TypeVar("T")


def add_routes(app: FastAPI) -> None:
    """Register this module's endpoints (tagged ``privacy`` and ``admin``)."""
    route = functools.partial(app.add_api_route, tags=["privacy"])
    route("/api/consents", list_consents, methods=["GET"])
    route("/api/consents", create_consent, methods=["POST"], status_code=201)
    route("/api/consents/{grant_id}", revoke_consent, methods=["DELETE"], status_code=204,
          response_model=None)
    route("/api/audit", read_audit, methods=["GET"])
    route("/api/export", export_data, methods=["GET"], response_model=None)
    route("/api/account", erase_account, methods=["DELETE"])
    manage = functools.partial(app.add_api_route, tags=["admin"])
    manage("/api/admin/users", list_users, methods=["GET"])
    manage("/api/admin/users", create_user, methods=["POST"], status_code=201)
    manage("/api/admin/users/{user_id}/role", change_role, methods=["PUT"])


# ---------------------------------------------------------------- consent
class NewConsent(BaseModel):
    """Name the advisor by id or by name; the expiry as a time or a number of days."""

    model_config = ConfigDict(extra="forbid")

    advisor_id: int | None = Field(None, ge=1, le=MAX_USER_ID)
    advisor: StrictStr | None = Field(None, min_length=1, max_length=80)
    scope: Scope
    expires_at: dt.datetime | None = None
    """ISO 8601; without a zone it is UTC."""
    days: int | None = Field(None, ge=1, le=consent.MAX_GRANT.days)


async def list_consents(request: Request, access: OwnConsents) -> dict[str, Any]:
    """The grants the caller has given (as a customer) and received (as an advisor)."""
    return await run_blocking(_consents, runtime_of(request).sessions, access.customer_id)


async def create_consent(request: Request, access: ManageConsent) -> dict[str, Any]:
    """Let an advisor read the caller's data in a scope until an expiry."""
    body = validated(NewConsent, await read_json(request))
    if (body.advisor_id is None) == (body.advisor is None):
        raise ApiError(400, "name the advisor with exactly one of advisor_id and advisor",
                       param="advisor_id", code="invalid_value")
    if body.expires_at is not None and body.days is not None:
        raise ApiError(400, "give expires_at or days, not both", param="days",
                       code="invalid_value")
    try:
        return await run_blocking(_grant, runtime_of(request).sessions, access.customer_id,
                                  body)
    except consent.ConsentError as exc:
        raise ApiError(400, str(exc), param="advisor_id", code="invalid_value") from None


async def revoke_consent(request: Request, access: ManageConsent, grant_id: Id) -> Response:
    """Revoke one of the caller's active grants; the advisor's next request is refused."""
    done = await run_blocking(_revoke, runtime_of(request).sessions, access.customer_id,
                              grant_id)
    if not done:
        raise ApiError(404, f"you have no active consent grant {grant_id}", param="grant_id",
                       code="not_found")
    return Response(status_code=204)


def _consents(sessions: sessionmaker[Session], user_id: int) -> dict[str, Any]:
    now = audit.utcnow()
    with sessions() as session:
        given, received = consent.grants_of(session, user_id), consent.grants_to(session, user_id)
        names = _names(session, {user_id, *(g.advisor_id for g in given),
                                 *(g.customer_id for g in received)})
    return {"given": [_grant_json(g, names, now) for g in given],
            "received": [_grant_json(g, names, now) for g in received]}


def _grant(sessions: sessionmaker[Session], customer_id: int, body: NewConsent
           ) -> dict[str, Any]:
    now = audit.utcnow()
    with sessions.begin() as session:
        advisor_id = body.advisor_id
        if body.advisor is not None:
            found = get_user_by_name(session, body.advisor)
            if found is None:  # the same words as a non-advisor: no account is revealed
                raise consent.ConsentError("consent can only be given to an advisor")
            advisor_id = found.id
        assert advisor_id is not None
        expires = _expiry(body, now)
        row = consent.grant(session, customer_id=customer_id, advisor_id=advisor_id,
                            scope=body.scope, expires_at=expires, now=now)
        view = GrantView(row.id, customer_id, advisor_id, body.scope, expires)
        names = _names(session, {advisor_id, customer_id})
    return _grant_json(view, names, now)


def _expiry(body: NewConsent, now: dt.datetime) -> dt.datetime:
    if body.expires_at is None:
        return now + dt.timedelta(days=body.days or DEFAULT_DAYS)
    if body.expires_at.tzinfo is None:
        return body.expires_at
    return body.expires_at.astimezone(dt.UTC).replace(tzinfo=None)


def _revoke(sessions: sessionmaker[Session], customer_id: int, grant_id: int) -> bool:
    with sessions.begin() as session:
        return consent.revoke(session, customer_id=customer_id, grant_id=grant_id)


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


def _grant_json(grant: GrantView, names: dict[int, str], now: dt.datetime) -> dict[str, Any]:
    return {
        "id": grant.id,
        "customer_id": grant.customer_id,
        "customer": names.get(grant.customer_id),
        "advisor_id": grant.advisor_id,
        "advisor": names.get(grant.advisor_id),
        "scope": grant.scope.value,
        "expires_at": grant.expires_at.isoformat() + "Z",
        "revoked_at": None if grant.revoked_at is None else grant.revoked_at.isoformat() + "Z",
        "active": grant.active(now),
    }


# ---------------------------------------------------------------- audit log
async def read_audit(
    request: Request, access: ReadAudit,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Who did what to the subject's data, newest first: every advisor access (allowed or
    denied, with the endpoint or tool), grant, revocation, export and role change."""
    entries = await run_blocking(_audit, runtime_of(request).sessions, access.customer_id,
                                 limit)
    return {"data": entries}


def _audit(sessions: sessionmaker[Session], user_id: int, limit: int) -> list[dict[str, Any]]:
    with sessions() as session:
        views = audit.entries_for(session, user_id, limit=limit)
    return [{"id": v.id, "at": v.at.isoformat() + "Z", "action": v.action,
             "outcome": v.outcome, "actor": v.actor, "actor_role": v.actor_role,
             "detail": v.detail} for v in views]


# ---------------------------------------------------------------- GDPR
class Erasure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm_user_id: int = Field(ge=1, le=MAX_USER_ID)
    """The id of the account being erased, repeated: the erasure cannot be undone."""


async def export_data(
    request: Request, access: Export,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """Everything the subject has in every table: one JSON document, or a zip of one CSV per
    table with a manifest."""
    export = await run_blocking(_export, runtime_of(request).sessions, access)
    stem = f"finchat-export-{access.customer_id}-{export.exported_at:%Y%m%d-%H%M%S}"
    headers = {"Cache-Control": "no-store"}
    if fmt == "json":
        headers["Content-Disposition"] = f'attachment; filename="{stem}.json"'
        return Response(export.to_json(), media_type="application/json", headers=headers)
    archive = io.BytesIO()
    export.write_zip(archive)
    headers["Content-Disposition"] = f'attachment; filename="{stem}.zip"'
    return Response(archive.getvalue(), media_type="application/zip", headers=headers)


async def erase_account(request: Request, access: Erase) -> dict[str, Any]:
    """Erase the subject (the caller, or the user an administrator names) everywhere; audit
    entries stay, pseudonymised. The body repeats the id: ``{"confirm_user_id": 7}``."""
    body = validated(Erasure, await read_json(request))
    if body.confirm_user_id != access.customer_id:
        raise ApiError(400, f"confirm_user_id must repeat the id of the account being erased "
                            f"({access.customer_id})", param="confirm_user_id",
                       code="invalid_value")
    report = await run_blocking(_erase, runtime_of(request).sessions, access)
    return {"user_id": report.user_id, "rows_deleted": report.rows_deleted,
            "audit_principals_pseudonymised": report.principals_erased}


def _export(sessions: sessionmaker[Session], access: Access) -> privacy.UserExport:
    try:
        return _for_customer(sessions, access, privacy.export_user)
    except CryptoError:
        raise ApiError(503, "encrypted fields cannot be exported: the server has no data key",
                       type="server_error", code="data_key_missing") from None


def _erase(sessions: sessionmaker[Session], access: Access) -> privacy.DeletionReport:
    return _for_customer(sessions, access, privacy.delete_user)


def _for_customer(
    sessions: sessionmaker[Session], access: Access, act: Callable[..., T]
) -> T:
    """Run ``ledger.privacy``'s ``act`` on the request's customer, recorded as done by its
    actor, in one transaction; a customer erased meanwhile is a 404."""
    try:
        with sessions.begin() as session:
            return act(session, access.customer_id, actor_id=access.actor_id,
                       actor_role=access.actor_role.value)
    except privacy.UnknownUserError as exc:
        raise ApiError(404, str(exc), code="not_found") from None


# ---------------------------------------------------------------- administrators
class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=80)
    role: Role = Role.CUSTOMER
    currency: StrictStr = Field("EUR", min_length=3, max_length=3)
    password: StrictStr | None = None
    """Optional: the new user's first password (else set later, e.g. ``finchat users
    passwd``)."""


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


async def list_users(request: Request, _admin: Admin) -> dict[str, Any]:
    """Every user with their role; no ledger content."""
    users = await run_blocking(_list_users, runtime_of(request).sessions)
    return {"data": [_user_json(u) for u in users]}


async def create_user(request: Request, actor: Admin) -> dict[str, Any]:
    """Create a user with a role (and optionally a first password)."""
    body = validated(NewUser, await read_json(request))
    settings = auth_settings_of(request)
    if body.password is not None:
        try:
            check_password_policy(body.password, body.name, settings=settings)
        except PasswordPolicyError as exc:
            raise ApiError(400, str(exc), param="password", code="invalid_value") from None
    sessions = runtime_of(request).sessions
    try:
        info = await run_blocking(_add_user, sessions, body, actor.actor_id)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="name", code="invalid_value") from None
    if body.password is not None:
        await run_blocking(set_password, sessions, info.id, body.password, settings=settings)
    return _user_json(info)


async def change_role(request: Request, actor: Admin, user_id: Id) -> dict[str, Any]:
    """Give a user a new role; the last administrator cannot be demoted."""
    body = validated(RoleChange, await read_json(request))
    try:
        info = await run_blocking(_change_role, runtime_of(request).sessions, user_id,
                                  body.role, actor.actor_id)
    except admin.LastAdminError as exc:
        raise ApiError(409, str(exc), param="role", code="conflict") from None
    except LookupError as exc:
        raise ApiError(404, str(exc).strip("'\""), param="user_id", code="not_found") from None
    return _user_json(info)


def _list_users(sessions: sessionmaker[Session]) -> list[admin.UserInfo]:
    with sessions() as session:
        return admin.list_users(session)


def _add_user(sessions: sessionmaker[Session], body: NewUser, by: int) -> admin.UserInfo:
    with sessions.begin() as session:
        return admin.add_user(session, body.name, body.role, by=by, currency=body.currency)


def _change_role(sessions: sessionmaker[Session], user_id: int, role: Role, by: int
                 ) -> admin.UserInfo:
    with sessions.begin() as session:
        return admin.change_role(session, user_id, role, by=by)


def _user_json(info: admin.UserInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "role": info.role.value,
            "created_at": info.created_at.isoformat() + "Z"}
