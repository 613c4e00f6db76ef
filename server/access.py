"""Whose data a request touches and whether its caller may: the one dependency every route
that reads or changes a ledger goes through.

The caller comes from the bearer token (``server.auth``). The subject is the caller's own
data unless the request names another user with the ``X-Finchat-Customer: <user id>``
header (an advisor reading a customer under consent, an administrator exporting or erasing).
``ledger.consent.check_access`` then decides by ``ledger.policy`` and records any access to
someone else's data, allowed or denied, in that person's audit log. Nothing is cached: each
request decides afresh, so a revoked consent refuses the very next request.

A refusal is 403 with the policy's reason. A customer naming anyone else gets the same 403
(``customers can only access their own data``) whether that id exists or not, and an
advisor naming an unknown id gets the same answer as for a customer who gave no consent: the
answer never reveals who has an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from ledger.audit import utcnow
from ledger.consent import check_access, permitted_actions, role_of
from ledger.policy import Action, Actor, Decision, Role, may_manage_users
from server.auth import User
from server.errors import ApiError
from server.runtime import run_blocking, runtime_of

CUSTOMER_HEADER = "X-Finchat-Customer"
"""Names the user whose data the request is about (default: the caller)."""
MAX_USER_ID = 2**31 - 1
"""Ids are 32-bit integers on PostgreSQL: a larger one is a 400, never a database error."""


@dataclass(frozen=True)
class Access:
    """The decided access of one request: who asks, whose data, and what they may do."""

    actor_id: int
    actor_role: Role
    customer_id: int
    """Whose data the request reads or changes."""
    permitted: frozenset[Action]
    """Every action the actor may perform on that data now (the route's own included)."""

    @property
    def own(self) -> bool:
        return self.actor_id == self.customer_id

    @property
    def actor(self) -> int | None:
        """The actor to bind into tools: ``None`` on one's own data (nothing to audit)."""
        return None if self.own else self.actor_id


CustomerHeader = Annotated[
    int | None,
    Header(alias=CUSTOMER_HEADER, ge=1, le=MAX_USER_ID,
           description="The user whose data this request is about (default: yourself). "
                       "Advisors name a customer who granted consent; administrators the "
                       "user of an export or erasure."),
]


def require(action: Action, *, others: bool = True) -> Any:
    """A route parameter type yielding the request's ``Access`` once ``action`` is allowed.

    Args:
        action: what the route does with the subject's data.
        others: whether the route serves another user's data at all; when not (the widget's
            conversations are the caller's own), naming someone else is a 400.

    Routes use the aliases below: ``async def route(access: ReadSummary) -> ...``.
    """

    async def dependency(request: Request, user: User, customer: CustomerHeader = None
                         ) -> Access:
        customer_id = user.id if customer is None else customer
        if customer_id != user.id and not others:
            raise ApiError(400, f"this endpoint works on your own data only; send no "
                                f"{CUSTOMER_HEADER} header", param=CUSTOMER_HEADER,
                           code="own_data_only")
        via = f"{request.method} {request.url.path}"
        access, decision = await run_blocking(
            decide_request, runtime_of(request).sessions, user.id, customer_id, action, via
        )
        if not decision:
            raise forbidden(decision.reason)
        return access

    dependency.__name__ = f"require_{action.value}"
    return Annotated[Access, Depends(dependency)]


def decide_request(
    sessions: sessionmaker[Session], actor_id: int, customer_id: int, action: Action, via: str
) -> tuple[Access, Decision]:
    """Check ``action`` (audited when the data is someone else's) and the actions the actor
    may perform besides, in one transaction that commits the audit entry."""
    with sessions.begin() as session:
        now = utcnow()
        decision = check_access(session, actor_id=actor_id, customer_id=customer_id,
                                action=action, via=via, now=now)
        permitted = permitted_actions(session, actor_id=actor_id, customer_id=customer_id,
                                      now=now) if decision else frozenset()
        access = Access(actor_id, role_of(session, actor_id), customer_id, permitted)
    return access, decision


def forbidden(reason: str) -> ApiError:
    return ApiError(403, reason, type="permission_error", code="forbidden")


ReadSummary = require(Action.READ_SUMMARY)
ReadTransactions = require(Action.READ_TRANSACTIONS)
Write = require(Action.WRITE)
Export = require(Action.EXPORT)
Erase = require(Action.DELETE)
ReadAudit = require(Action.READ_AUDIT)
ManageConsent = require(Action.MANAGE_CONSENT)
OwnRead = require(Action.READ_SUMMARY, others=False)
"""The caller's own data only (the widget's conversations, one's own consents)."""
OwnWrite = require(Action.WRITE, others=False)


async def admin(request: Request, user: User) -> Access:
    """The caller, if they are an administrator: user management is theirs alone."""
    role = await run_blocking(_role, runtime_of(request).sessions, user.id)
    decision = may_manage_users(Actor(user.id, role))
    if not decision:
        raise forbidden(decision.reason)
    return Access(user.id, role, user.id, frozenset())


def _role(sessions: sessionmaker[Session], user_id: int) -> Role:
    with sessions() as session:
        return role_of(session, user_id)


Admin = Annotated[Access, Depends(admin)]
"""A route parameter of this type is an administrator (403 for anyone else)."""
