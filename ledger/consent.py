"""Consent between customers and advisors, and the access check every caller goes through.

``check_access`` loads the actor's role and the grants between the two users, asks
``ledger.policy.decide`` and records the decision in the audit log whenever someone touches
another user's data (allowed or not), so a customer can read who looked at their money.
Grants and revocations are recorded too. Each function works in the caller's session and
transaction: the audit entry commits together with what it records.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger import audit
from ledger.models import User
from ledger.policy import Action, Actor, Decision, GrantView, Role, Scope, decide
from ledger.security_models import ConsentGrant, UserRole

MAX_GRANT = dt.timedelta(days=366)
"""Consent is never open-ended: a grant lasts a year at most and is renewed explicitly."""


class ConsentError(ValueError):
    """A grant that cannot be made or revoked; the message says why."""


def role_of(session: Session, user_id: int) -> Role:
    """The user's role; a user without a ``user_roles`` row is a customer."""
    role = session.scalar(select(UserRole.role).where(UserRole.user_id == user_id))
    return Role(role) if role is not None else Role.CUSTOMER


def set_role(session: Session, user_id: int, role: Role, *, by: int | None = None) -> None:
    """Give ``user_id`` a role: an administrator's act (``by``; ``None`` is the local
    operator), so the caller checks who asks."""
    row = session.get(UserRole, user_id)
    if row is None:
        session.add(UserRole(user_id=user_id, role=role))
    else:
        row.role = role
    audit.append(session, action="role.set", outcome="done", actor_id=by,
                 actor_role=Role.ADMIN.value, subject_id=user_id, detail={"role": role.value})


def grant(
    session: Session,
    *,
    customer_id: int,
    advisor_id: int,
    scope: Scope,
    expires_at: dt.datetime,
    now: dt.datetime | None = None,
) -> ConsentGrant:
    """The customer lets the advisor read their data in ``scope`` until ``expires_at``.

    Raises:
        ConsentError: unknown users, the grantee is not an advisor, or the expiry is in the
            past or more than ``MAX_GRANT`` away.
    """
    now = now or audit.utcnow()
    if session.get(User, customer_id) is None:
        raise ConsentError("both the customer and the advisor must exist")
    if session.get(User, advisor_id) is None or role_of(session, advisor_id) is not Role.ADVISOR:
        # one message for both: a customer learns nothing about who else has an account
        raise ConsentError("consent can only be given to an advisor")
    if not now < expires_at <= now + MAX_GRANT:
        raise ConsentError(f"a grant must expire in the future and within {MAX_GRANT.days} days")
    row = ConsentGrant(customer_id=customer_id, advisor_id=advisor_id, scope=scope,
                       granted_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    audit.append(
        session, action="consent.grant", outcome="done", actor_id=customer_id,
        actor_role=role_of(session, customer_id).value, subject_id=customer_id, now=now,
        detail={"grant": row.id, "advisor": audit.principal_id(session, advisor_id),
                "scope": scope.value, "expires_at": expires_at.isoformat()},
    )
    return row


def revoke(
    session: Session, *, customer_id: int, grant_id: int, now: dt.datetime | None = None
) -> bool:
    """Revoke one of the customer's active grants; ``False`` if there is none with that id
    (another customer's grant id included: its existence is not revealed)."""
    now = now or audit.utcnow()
    changed = session.execute(
        update(ConsentGrant)
        .where(ConsentGrant.id == grant_id, ConsentGrant.customer_id == customer_id,
               ConsentGrant.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    if changed:
        audit.append(session, action="consent.revoke", outcome="done", actor_id=customer_id,
                     actor_role=role_of(session, customer_id).value, subject_id=customer_id,
                     detail={"grant": grant_id}, now=now)
    return bool(changed)


def grants_of(session: Session, customer_id: int) -> list[GrantView]:
    """Every grant the customer has given, newest first (revoked and expired included)."""
    rows = session.scalars(
        select(ConsentGrant)
        .where(ConsentGrant.customer_id == customer_id)
        .order_by(ConsentGrant.id.desc())
    )
    return [_view(row) for row in rows]


def grants_to(session: Session, advisor_id: int) -> list[GrantView]:
    """Every grant the advisor has received, newest first (revoked and expired included)."""
    rows = session.scalars(
        select(ConsentGrant)
        .where(ConsentGrant.advisor_id == advisor_id)
        .order_by(ConsentGrant.id.desc())
    )
    return [_view(row) for row in rows]


def permitted_actions(
    session: Session, *, actor_id: int, customer_id: int, now: dt.datetime | None = None
) -> frozenset[Action]:
    """Every action ``decide`` allows the actor on the customer's data now, without auditing:
    what a caller may offer (the tools of a turn), each use still going through
    ``check_access``."""
    now = now or audit.utcnow()
    facts = _facts(session, actor_id, customer_id)
    if facts is None:
        return frozenset()
    actor, grants = facts
    return frozenset(a for a in Action if decide(actor, customer_id, a, grants, now))


def check_access(
    session: Session,
    *,
    actor_id: int,
    customer_id: int,
    action: Action,
    via: str | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """Decide whether ``actor_id`` may do ``action`` on ``customer_id``'s data; access to
    someone else's data is recorded in the audit log whatever the outcome.

    Args:
        via: what asked (an endpoint, ``tool:<name>``), recorded in the entry's detail so the
            customer can read what was looked at.
    """
    now = now or audit.utcnow()
    facts = _facts(session, actor_id, customer_id)
    if facts is None:
        return Decision(False, "unknown actor")
    actor, grants = facts
    decision = decide(actor, customer_id, action, grants, now)
    if actor_id != customer_id and session.get(User, customer_id) is not None:
        audit.append(
            session, action=f"access.{action.value}",
            outcome="allowed" if decision else "denied", actor_id=actor_id,
            actor_role=actor.role.value, subject_id=customer_id, now=now,
            detail=_access_detail(decision, via),
        )
    return decision


def _facts(
    session: Session, actor_id: int, customer_id: int
) -> tuple[Actor, list[GrantView]] | None:
    """What ``decide`` needs: the actor with their role and the grants from this customer to
    them (none to load on one's own data); ``None`` when the actor does not exist."""
    if session.get(User, actor_id) is None:
        return None
    actor = Actor(actor_id, role_of(session, actor_id))
    if actor_id == customer_id:
        return actor, []
    rows = session.scalars(
        select(ConsentGrant).where(
            ConsentGrant.customer_id == customer_id, ConsentGrant.advisor_id == actor_id
        )
    )
    return actor, [_view(row) for row in rows]


def _access_detail(decision: Decision, via: str | None) -> dict[str, object]:
    detail: dict[str, object] = {}
    if decision.grant_id:
        detail["grant"] = decision.grant_id
    if via:
        detail["via"] = via
    return detail


def _view(row: ConsentGrant) -> GrantView:
    return GrantView(id=row.id, customer_id=row.customer_id, advisor_id=row.advisor_id,
                     scope=Scope(row.scope), expires_at=row.expires_at,
                     revoked_at=row.revoked_at)
