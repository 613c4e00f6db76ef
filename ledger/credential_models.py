"""Tables for signing in: passwords, login sessions, refresh tokens, TOTP and API key hints.

They live on ``ledger.models.Base`` beside the ledger's tables; importing this module
registers them, so ``ledger.db.create_schema`` imports it before ``create_all``. Every table
reaches ``users`` through a foreign key with ``ON DELETE CASCADE``: erasing a user removes
their credentials, and ``ledger.privacy`` finds them from the schema. Nothing here can be used
as a credential if the database leaks: passwords are argon2id hashes, refresh tokens and
recovery codes SHA-256 hashes, and the TOTP secret is encrypted (``ledger.crypto``).

- ``user_credentials``: a user's password hash, lockout counters and TOTP state (no row: the
  user has no password and signs in with API keys only).
- ``login_sessions``: one per password login; refreshing keeps the session, logging out or a
  reused refresh token revokes it, and access tokens name it (``sid``), so they stop too.
- ``refresh_tokens``: every refresh token a session was given; a used one is kept until it
  expires, so presenting it again is recognised as theft.
- ``recovery_codes``: single-use codes that stand in for a TOTP code.
- ``api_key_hints``: the last four characters of an API key, to tell keys apart in a list.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.crypto import EncryptedString
from ledger.models import Base


class UserCredential(Base):
    __tablename__ = "user_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """argon2id in PHC format (``$argon2id$v=19$m=...``): the parameters travel with it."""
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    failed_logins: Mapped[int] = mapped_column(default=0)
    """Consecutive failures since the last successful login; decides the lockout length."""
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    totp_secret: Mapped[str | None] = mapped_column(
        EncryptedString(context="user_credentials.totp_secret")
    )
    """Base32 TOTP secret; set at enrolment, used only once ``totp_enabled``."""
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    totp_last_step: Mapped[int | None] = mapped_column()
    """The 30-second step of the last accepted code: a code is never accepted twice."""


class LoginSession(Base):
    """A refresh token family: what a password login started and what logout ends."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    """Set when it was exchanged for a new pair; it is never accepted again."""


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ApiKeyHint(Base):
    """Kept beside ``api_tokens`` (a new table, so existing ledgers need no migration)."""

    __tablename__ = "api_key_hints"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    last4: Mapped[str] = mapped_column(String(4))
