"""User management for administrators: the list of users with their roles, new users, roles.

Nothing here reads ledger content (accounts, transactions, conversations): an administrator
manages who exists and in which role, and reads a user's data only through an export or a
consent grant like anyone else. Every change is recorded in the audit log by
``ledger.consent.set_role`` or here, in the caller's transaction. The caller checks that the
actor is an administrator (``ledger.policy.may_manage_users``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import audit
from ledger.consent import role_of, set_role
from ledger.models import User
from ledger.policy import Role
from ledger.security_models import UserRole
from ledger.users import DEFAULT_CURRENCY, create_user


class AdminError(ValueError):
    """A change that cannot be made; the message says why."""


class LastAdminError(AdminError):
    """The change would leave the installation without an administrator."""


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: Role
    created_at: dt.datetime


def list_users(session: Session) -> list[UserInfo]:
    """Every user with their role, oldest first."""
    rows = session.execute(
        select(User.id, User.name, User.created_at, UserRole.role)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .order_by(User.id)
    ).all()
    return [UserInfo(id_, name, Role(role) if role else Role.CUSTOMER, created)
            for id_, name, created, role in rows]


def add_user(
    session: Session, name: str, role: Role, *, by: int | None,
    currency: str = DEFAULT_CURRENCY,
) -> UserInfo:
    """Create ``name`` (default categories, a checking account) with ``role``.

    Raises:
        ValueError: see ``ledger.users.create_user`` (empty or taken name, bad currency).
    """
    user = create_user(session, name, currency=currency)
    audit.append(session, action="user.create", outcome="done", actor_id=by,
                 actor_role=Role.ADMIN.value, subject_id=user.id, detail={"role": role.value})
    if role is not Role.CUSTOMER:
        set_role(session, user.id, role, by=by)
    session.flush()
    session.refresh(user)
    return UserInfo(user.id, user.name, role, user.created_at)


def change_role(session: Session, user_id: int, role: Role, *, by: int | None) -> UserInfo:
    """Give ``user_id`` a new role.

    Raises:
        LookupError: no such user.
        LastAdminError: ``user_id`` is the only administrator and would stop being one.
    """
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user with id {user_id}")
    if role is not Role.ADMIN and role_of(session, user_id) is Role.ADMIN:
        admins = session.scalar(select(func.count()).where(UserRole.role == Role.ADMIN))
        if admins == 1:
            raise LastAdminError("this is the only administrator; make another one first")
    set_role(session, user_id, role, by=by)
    return UserInfo(user.id, user.name, role, user.created_at)
