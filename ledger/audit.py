"""The audit log: who did what to whose data, append-only and hash-chained.

There is no update or delete function here, and database triggers refuse both anyway
(``ledger.security_models``). Each entry stores the SHA-256 of the previous entry's hash and
its own content, so ``verify_chain`` notices an entry edited or removed behind the
database's back (by someone who dropped the triggers). A user appears only as an
``AuditPrincipal``; erasing the user unlinks the principal and leaves the entries intact.

``detail`` holds ids, scopes and counts only, never names, payees or amounts: the log must
survive an erasure without holding the erased person's data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from ledger.models import User
from ledger.security_models import AuditEntry, AuditPrincipal

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""
_CHAIN_LOCK = 724_911_001
"""PostgreSQL advisory lock id that serialises appends, so the chain never forks."""


class AuditChainError(Exception):
    """The chain does not verify: an entry was changed or removed outside this module."""


@dataclass(frozen=True)
class AuditView:
    """An entry as its subject reads it."""

    id: int
    at: dt.datetime
    action: str
    outcome: str
    actor_role: str
    actor: str
    """``you``, the actor's user name, ``operator`` (the CLI) or ``erased user``."""
    detail: dict[str, Any]


def utcnow() -> dt.datetime:
    """Naive UTC, the form every ``DateTime`` column of the ledger stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def principal_id(session: Session, user_id: int) -> int:
    """The audit principal of ``user_id``, created on first use."""
    found = session.scalar(select(AuditPrincipal.id).where(AuditPrincipal.user_id == user_id))
    if found is not None:
        return found
    principal = AuditPrincipal(user_id=user_id)
    session.add(principal)
    session.flush()
    return principal.id


def append(
    session: Session,
    *,
    action: str,
    outcome: str,
    actor_id: int | None,
    actor_role: str,
    subject_id: int | None,
    detail: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AuditEntry:
    """Record an event in the caller's transaction (it commits with the change it records).

    Args:
        actor_id, subject_id: user ids (``None`` for the local operator / no subject).
        detail: JSON-serialisable ids, scopes and counts; no personal data.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _CHAIN_LOCK})
    entry = AuditEntry(
        at=(now or utcnow()).replace(microsecond=0),
        actor_id=None if actor_id is None else principal_id(session, actor_id),
        actor_role=actor_role,
        subject_id=None if subject_id is None else principal_id(session, subject_id),
        action=action,
        outcome=outcome,
        detail=json.dumps(detail or {}, sort_keys=True, separators=(",", ":")),
    )
    entry.prev_hash = _last_hash(session)
    entry.entry_hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and every recorded field."""
    content = json.dumps(
        [entry.prev_hash, entry.at.isoformat(), entry.actor_id, entry.actor_role,
         entry.subject_id, entry.action, entry.outcome, entry.detail],
        separators=(",", ":"),
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _last_hash(session: Session) -> str:
    last = session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1))
    return last or GENESIS


def entries_for(session: Session, user_id: int, *, limit: int = 200) -> list[AuditView]:
    """The entries about ``user_id``'s data or done by them, newest first: what a customer
    sees of who accessed their data."""
    own = session.scalar(select(AuditPrincipal.id).where(AuditPrincipal.user_id == user_id))
    if own is None:
        return []
    rows = session.execute(
        select(AuditEntry, User.name)
        .outerjoin(AuditPrincipal, AuditPrincipal.id == AuditEntry.actor_id)
        .outerjoin(User, User.id == AuditPrincipal.user_id)
        .where(or_(AuditEntry.subject_id == own, AuditEntry.actor_id == own))
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    ).all()
    return [_view(entry, name, own) for entry, name in rows]


def _view(entry: AuditEntry, actor_name: str | None, own: int) -> AuditView:
    if entry.actor_id == own:
        actor = "you"
    elif entry.actor_id is None:
        actor = "operator"
    else:
        actor = actor_name or "erased user"
    return AuditView(
        id=entry.id,
        at=entry.at,
        action=entry.action,
        outcome=entry.outcome,
        actor_role=entry.actor_role,
        actor=actor,
        detail=json.loads(entry.detail),
    )


def verify_chain(session: Session) -> int:
    """Check every entry's hash and link; returns how many entries were verified.

    Raises:
        AuditChainError: naming the first entry that does not verify.
    """
    previous = GENESIS
    count = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        if entry.prev_hash != previous:
            raise AuditChainError(f"audit entry {entry.id}: the entry before it is missing")
        if entry_hash(entry) != entry.entry_hash:
            raise AuditChainError(f"audit entry {entry.id} was altered")
        previous = entry.entry_hash
        count += 1
    return count
