"""Tables for access control, consent, the audit log and encrypted account numbers.

They live on ``ledger.models.Base`` beside the ledger's tables; importing this module
registers them, so ``ledger.db.create_schema`` must import it before ``create_all``.

- ``user_roles``: a user's role (no row means customer).
- ``consent_grants``: a customer lets an advisor read their data in a scope until a date.
- ``audit_principals``: the audit log's stand-in for a user. Erasing a user cuts the link
  (``user_id`` becomes NULL, ``erased_at`` is set): entries stay, pseudonymous.
- ``audit_log``: append-only, hash-chained (``ledger.audit``); database triggers refuse
  UPDATE and DELETE (and TRUNCATE on PostgreSQL), whoever sends them.
- ``account_numbers``: an account's full number or IBAN, AES-GCM encrypted
  (``ledger.crypto``); ``accounts.number_last4`` stays the plaintext masked form.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    DDL,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.crypto import EncryptedString
from ledger.models import Base
from ledger.policy import Role, Scope


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=10))


class ConsentGrant(Base):
    """Revoking sets ``revoked_at``; the grant and its history stay until the user is erased."""

    __tablename__ = "consent_grants"
    __table_args__ = (Index("ix_consent_pair", "customer_id", "advisor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    advisor_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[Scope] = mapped_column(Enum(Scope, native_enum=False, length=15))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AuditPrincipal(Base):
    __tablename__ = "audit_principals"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """One recorded event. ``detail`` is JSON holding ids, scopes and counts, never names,
    payees or amounts, so the log itself needs no erasure."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("prev_hash"),)  # two writers cannot fork the chain

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("audit_principals.id"), index=True)
    """``None``: the local operator (the CLI), who has no account."""
    actor_role: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("audit_principals.id"), index=True
    )
    """Whose data the event concerns."""
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(10))
    """``allowed``, ``denied`` or ``done``."""
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AccountNumber(Base):
    """The full number of an account, kept apart so only code that needs it loads it."""

    __tablename__ = "account_numbers"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    """``iban`` or ``account`` (a card's full number is never stored: only its last four)."""
    number: Mapped[str] = mapped_column(EncryptedString(context="account_numbers.number"))


APPEND_ONLY_MESSAGE = "audit_log is append-only"
_APPEND_ONLY = {
    "sqlite": [
        f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
        f"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
    ],
    "postgresql": [
        f"""CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
        END $$""",
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}
for _dialect, _statements in _APPEND_ONLY.items():
    for _statement in _statements:
        event.listen(
            AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect)
        )
