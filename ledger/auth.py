"""API tokens: who is calling.

A token is shown once, when it is created; the database keeps only its SHA-256, so a copy of
the database reveals no usable token. Lookups go by that hash, so comparing secrets in Python
(and its timing) never happens. Every request that reads a ledger resolves its token here, and
the user found is the only user whose data that request may touch.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ledger.models import ApiToken, User

TOKEN_PREFIX = "fc_"
"""Makes a finchat token recognisable in a leaked log or a secret scanner."""

_MAX_TOKEN_LENGTH = 200
"""Longer header values are refused before hashing: no real token is that long."""


@dataclass(frozen=True)
class AuthenticatedUser:
    """The owner of a valid token."""

    id: int
    name: str


class UnknownUserError(LookupError):
    """A token was requested for a user that does not exist."""


def hash_token(token: str) -> str:
    """The stored form of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(sessions: sessionmaker[Session], user_id: int, *, label: str | None = None) -> str:
    """Create a token for ``user_id`` and return it; it cannot be recovered later.

    Raises:
        UnknownUserError: no user has id ``user_id``.
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with sessions.begin() as session:
        if session.get(User, user_id) is None:
            raise UnknownUserError(f"no user with id {user_id}")
        session.add(ApiToken(user_id=user_id, token_sha256=hash_token(token), label=label))
    return token


def resolve_token(sessions: sessionmaker[Session], token: str) -> AuthenticatedUser | None:
    """The user a valid, unrevoked ``token`` belongs to, else ``None``."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    query = (
        select(User.id, User.name)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_sha256 == hash_token(token), ApiToken.revoked.is_(False))
    )
    with sessions() as session:
        row = session.execute(query).first()
    return None if row is None else AuthenticatedUser(id=row.id, name=row.name)


def revoke_token(sessions: sessionmaker[Session], token: str) -> bool:
    """Revoke ``token``; ``False`` when it was unknown or already revoked."""
    return _revoke(sessions, ApiToken.token_sha256 == hash_token(token)) > 0


def revoke_labelled(sessions: sessionmaker[Session], user_id: int, label: str) -> int:
    """Revoke every token of ``user_id`` carrying ``label``; returns how many were revoked.

    ``serve --demo`` uses it so that only the tokens printed by the running server work.
    """
    return _revoke(sessions, ApiToken.user_id == user_id, ApiToken.label == label)


def _revoke(sessions: sessionmaker[Session], *conditions: object) -> int:
    statement = (
        update(ApiToken)
        .where(*conditions, ApiToken.revoked.is_(False))  # type: ignore[arg-type]
        .values(revoked=True)
    )
    with sessions.begin() as session:
        return session.execute(statement).rowcount
