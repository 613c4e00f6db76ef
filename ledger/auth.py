"""API tokens (API keys): who is calling.

A token is shown once, when it is created; the database keeps only its SHA-256 (and its last
four characters, to tell keys apart in a list), so a copy of the database reveals no usable
token. Lookups go by that hash, so comparing secrets in Python (and its timing) never happens.
Every request that reads a ledger resolves its token here or, for a password login's access
token, in ``ledger.login_tokens``; the user found is the only user whose data that request may
touch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ledger.credential_models import ApiKeyHint
from ledger.models import ApiToken, User

TOKEN_PREFIX = "fc_"
"""Makes a finchat token recognisable in a leaked log or a secret scanner."""

_MAX_TOKEN_LENGTH = 200
"""Longer header values are refused before hashing: no real token is that long."""


Credential = Literal["api_key", "access_token"]


@dataclass(frozen=True)
class AuthenticatedUser:
    """The owner of a valid token."""

    id: int
    name: str
    credential: Credential = "api_key"
    """What the caller presented: a long-lived API key, or a password login's access token
    (account changes such as new API keys or a new password ask for the latter)."""
    session_id: str | None = None
    """The login session of an access token (``None`` for an API key)."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key after its creation: never the key itself."""

    id: int
    label: str | None
    created_at: dt.datetime
    last4: str | None
    """``None`` for keys created before hints were kept."""


@dataclass(frozen=True)
class IssuedApiKey:
    token: str
    """Shown once; only its hash is stored."""
    info: ApiKeyInfo


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
    return issue_api_key(sessions, user_id, label=label).token


def issue_api_key(
    sessions: sessionmaker[Session], user_id: int, *, label: str | None = None
) -> IssuedApiKey:
    """Like ``create_token``, with what the key list will show about it.

    Raises:
        UnknownUserError: no user has id ``user_id``.
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with sessions.begin() as session:
        if session.get(User, user_id) is None:
            raise UnknownUserError(f"no user with id {user_id}")
        row = ApiToken(user_id=user_id, token_sha256=hash_token(token), label=label)
        session.add(row)
        session.flush()
        session.add(ApiKeyHint(token_id=row.id, last4=token[-4:]))
        session.flush()
        session.refresh(row, ["created_at"])
        info = ApiKeyInfo(id=row.id, label=label, created_at=row.created_at, last4=token[-4:])
    return IssuedApiKey(token=token, info=info)


def list_api_keys(sessions: sessionmaker[Session], user_id: int) -> list[ApiKeyInfo]:
    """The unrevoked keys of ``user_id``, oldest first."""
    query = (
        select(ApiToken.id, ApiToken.label, ApiToken.created_at, ApiKeyHint.last4)
        .outerjoin(ApiKeyHint, ApiKeyHint.token_id == ApiToken.id)
        .where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False))
        .order_by(ApiToken.id)
    )
    with sessions() as session:
        return [ApiKeyInfo(*row) for row in session.execute(query)]


def revoke_api_key(sessions: sessionmaker[Session], user_id: int, key_id: int) -> bool:
    """Revoke key ``key_id`` if it belongs to ``user_id``; ``False`` when no such active key
    (another user's key answers the same as a missing one)."""
    return _revoke(sessions, ApiToken.id == key_id, ApiToken.user_id == user_id) > 0


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
