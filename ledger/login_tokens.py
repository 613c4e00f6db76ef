"""What a password login hands out: short-lived access tokens and rotating refresh tokens.

- An **access token** is a JWT (HS256) naming the user (``sub``), its login session (``sid``),
  when it was issued and when it expires (``iat``, ``exp``), a unique id (``jti``) and
  ``type: access``. It is checked on every request: signature, type, expiry, and that the user
  and the login session still exist unrevoked, so logging out ends it at once.
- A **refresh token** (``fcr_...``) is opaque and stored as its SHA-256. Each use replaces it
  with a new one (rotation); presenting a used one again means two parties hold it, so the
  whole login session is revoked (theft detection): the thief and the owner both sign in anew.

The signing key is ``FINCHAT_TOKEN_SECRET`` or, unset, derived (HKDF-SHA256) from the data
key that encrypts the ledger (``ledger.crypto``), so a deployment has one secret to keep.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from ledger.audit import utcnow
from ledger.auth import AuthenticatedUser
from ledger.auth_settings import AuthSettings
from ledger.credential_models import LoginSession, RefreshToken
from ledger.crypto import CryptoError, KeyRing, current_keyring
from ledger.models import User

REFRESH_PREFIX = "fcr_"
"""Tells a refresh token from an API key (``fc_``) in a log or a secret scanner."""
ACCESS_TYPE = "access"
ALGORITHM = "HS256"
_HKDF_INFO = b"finchat access tokens v1"
_MAX_TOKEN_LENGTH = 2000
_REQUIRED_CLAIMS = ["sub", "sid", "iat", "exp", "jti", "type"]

logger = logging.getLogger("finchat.auth")


class TokenRefused(Exception):
    """A token that grants nothing; ``code`` says why in one word for clients."""

    def __init__(self, message: str, *, code: str = "invalid_token"):
        super().__init__(message)
        self.code = code


class SigningKeyMissing(Exception):
    """No ``FINCHAT_TOKEN_SECRET`` and no data key: access tokens cannot be signed."""


@dataclass(frozen=True)
class TokenPair:
    user_id: int
    access_token: str
    refresh_token: str
    expires_in: int
    """Seconds the access token lives."""
    session_id: str


def start_session(
    sessions: sessionmaker[Session], user_id: int, *, settings: AuthSettings,
    now: dt.datetime | None = None,
) -> TokenPair:
    """A new login session for ``user_id`` (who has just proved who they are) and its tokens.

    Raises:
        SigningKeyMissing: see the module docstring.
    """
    now = now or utcnow()
    key = signing_key(sessions, settings)
    session_id = uuid.uuid4().hex
    with sessions.begin() as session:
        session.add(LoginSession(id=session_id, user_id=user_id, created_at=now))
        refresh = _add_refresh_token(session, session_id, settings, now)
    return _pair(user_id, session_id, refresh, key, settings, now)


def refresh(
    sessions: sessionmaker[Session], token: str, *, settings: AuthSettings,
    now: dt.datetime | None = None,
) -> TokenPair:
    """Exchange a refresh token for a new access token and a new refresh token.

    Raises:
        TokenRefused: unknown, expired, revoked or already used (the session is then revoked).
        SigningKeyMissing: see the module docstring.
    """
    now = now or utcnow()
    key = signing_key(sessions, settings)
    refused = TokenRefused("invalid or expired refresh token", code="invalid_grant")
    if not token.startswith(REFRESH_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        raise refused
    digest = _hash(token)
    reused: LoginSession | None = None
    with sessions.begin() as session:
        row = session.execute(
            select(RefreshToken.expires_at, LoginSession)
            .join(LoginSession, LoginSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_sha256 == digest)
        ).first()
        if row is None or row.LoginSession.revoked_at is not None or row.expires_at <= now:
            raise refused
        login = row.LoginSession
        claimed = session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_sha256 == digest, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if claimed == 1:
            session.execute(delete(RefreshToken).where(
                RefreshToken.session_id == login.id, RefreshToken.expires_at <= now))
            new_refresh = _add_refresh_token(session, login.id, settings, now)
        else:
            login.revoked_at = now
            reused = login
    if reused is not None:  # committed above: the revocation must outlive this refusal
        logger.warning("refresh token reused: login session revoked",
                       extra={"fields": {"user_id": reused.user_id, "session": reused.id}})
        raise refused
    return _pair(login.user_id, login.id, new_refresh, key, settings, now)


def revoke_by_refresh_token(
    sessions: sessionmaker[Session], token: str, *, now: dt.datetime | None = None
) -> bool:
    """Log out: revoke the login session ``token`` belongs to (used or not). ``False`` when
    there is no such active session."""
    if not token.startswith(REFRESH_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return False
    owner = select(RefreshToken.session_id).where(RefreshToken.token_sha256 == _hash(token))
    return _revoke(sessions, LoginSession.id.in_(owner.scalar_subquery()), now=now) > 0


def revoke_sessions(
    sessions: sessionmaker[Session], user_id: int, *, keep: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Revoke every login session of ``user_id`` but ``keep``; returns how many."""
    conditions = [LoginSession.user_id == user_id]
    if keep is not None:
        conditions.append(LoginSession.id != keep)
    return _revoke(sessions, *conditions, now=now)


def verify_access_token(
    sessions: sessionmaker[Session], token: str, *, settings: AuthSettings,
    now: dt.datetime | None = None,
) -> AuthenticatedUser:
    """The user an access token was issued to, if it is still good.

    Raises:
        TokenRefused: bad signature or shape, not an access token, expired (``code``
            ``token_expired``), or its user or login session is gone.
        SigningKeyMissing: see the module docstring.
    """
    now = now or utcnow()
    if len(token) > _MAX_TOKEN_LENGTH:
        raise TokenRefused("invalid access token")
    try:
        # The clock is ours (``now``), so PyJWT's own time checks are off and expiry is below.
        claims = jwt.decode(
            token, signing_key(sessions, settings), algorithms=[ALGORITHM],
            options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
        )
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise TokenRefused("invalid access token") from None
    if claims["type"] != ACCESS_TYPE:
        raise TokenRefused("not an access token")
    if not isinstance(claims["exp"], int) or claims["exp"] <= _timestamp(now):
        raise TokenRefused("access token expired: get a new one at /auth/refresh",
                           code="token_expired")
    query = (
        select(User.id, User.name)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == user_id, LoginSession.id == claims["sid"],
               LoginSession.revoked_at.is_(None))
    )
    with sessions() as session:
        row = session.execute(query).first()
    if row is None:
        raise TokenRefused("access token revoked: sign in again")
    return AuthenticatedUser(id=row.id, name=row.name, credential="access_token",
                             session_id=claims["sid"])


def signing_key(sessions: sessionmaker[Session], settings: AuthSettings) -> bytes:
    """The HS256 key: ``FINCHAT_TOKEN_SECRET``, else derived from the data key in use.

    Raises:
        SigningKeyMissing: neither is configured (a PostgreSQL ledger has no implicit key).
    """
    if settings.token_secret is not None:
        return settings.token_secret.get_secret_value().encode("utf-8")
    backend = sessions.kw["bind"].dialect.name
    try:
        ring = current_keyring(backend=backend)
    except CryptoError as exc:
        raise SigningKeyMissing(
            f"cannot sign access tokens: set FINCHAT_TOKEN_SECRET or a data key ({exc})"
        ) from None
    assert ring is not None  # required=True raised otherwise
    return derive_signing_key(ring)


def derive_signing_key(ring: KeyRing) -> bytes:
    """HKDF-SHA256 of the ring's encrypting key: tokens never see the data key itself."""
    return ring.derive_key(_HKDF_INFO)


def _pair(user_id: int, session_id: str, refresh_token: str, key: bytes,
          settings: AuthSettings, now: dt.datetime) -> TokenPair:
    lifetime = settings.access_token_minutes * 60
    issued = _timestamp(now)
    claims = {"sub": str(user_id), "sid": session_id, "iat": issued, "exp": issued + lifetime,
              "jti": uuid.uuid4().hex, "type": ACCESS_TYPE}
    access = jwt.encode(claims, key, algorithm=ALGORITHM)
    return TokenPair(user_id=user_id, access_token=access, refresh_token=refresh_token,
                     expires_in=lifetime, session_id=session_id)


def _add_refresh_token(session: Session, session_id: str, settings: AuthSettings,
                       now: dt.datetime) -> str:
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    session.add(RefreshToken(
        token_sha256=_hash(token), session_id=session_id, issued_at=now,
        expires_at=now + dt.timedelta(days=settings.refresh_token_days),
    ))
    return token


def _revoke(sessions: sessionmaker[Session], *conditions: object,
            now: dt.datetime | None) -> int:
    statement = (
        update(LoginSession)
        .where(*conditions, LoginSession.revoked_at.is_(None))  # type: ignore[arg-type]
        .values(revoked_at=now or utcnow())
    )
    with sessions.begin() as session:
        return session.execute(statement).rowcount


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _timestamp(moment: dt.datetime) -> int:
    """Seconds since the epoch of a naive UTC time (the ledger's form)."""
    return int(moment.replace(tzinfo=dt.UTC).timestamp())
