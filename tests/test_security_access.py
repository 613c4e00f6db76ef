"""Roles, consent and the audit log: the pure policy, the services on SQLite and PostgreSQL,
and the database refusing to change or delete audit entries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ledger.audit import AuditChainError, append, entries_for, verify_chain
from ledger.consent import (
    ConsentError,
    check_access,
    grant,
    grants_of,
    revoke,
    role_of,
    set_role,
)
from ledger.db import create_schema, make_engine, session_factory, sqlite_url
from ledger.policy import Action, Actor, GrantView, Role, Scope, decide
from ledger.security_models import APPEND_ONLY_MESSAGE, AuditEntry
from ledger.users import create_user

NOW = dt.datetime(2026, 10, 1, 12, 0)
LATER = NOW + dt.timedelta(days=30)


# ---------------------------------------------------------------- the pure policy
CUSTOMER, OTHER, ADVISOR, ADMIN = (
    Actor(1, Role.CUSTOMER), Actor(2, Role.CUSTOMER), Actor(3, Role.ADVISOR), Actor(4, Role.ADMIN)
)


def _grant(scope: Scope, **changes: object) -> GrantView:
    fields: dict[str, object] = {"id": 7, "customer_id": 1, "advisor_id": 3, "scope": scope,
                                 "expires_at": LATER, "revoked_at": None}
    return GrantView(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actor", "action", "grants", "allowed", "reason"),
    [
        (CUSTOMER, Action.DELETE, [], True, "own data"),
        (CUSTOMER, Action.READ_TRANSACTIONS, [], True, "own data"),
        (OTHER, Action.READ_SUMMARY, [], False, "only access their own"),
        (OTHER, Action.READ_SUMMARY, [_grant(Scope.SUMMARY, advisor_id=2)], False, "own"),
        (ADVISOR, Action.READ_SUMMARY, [], False, "no consent"),
        (ADVISOR, Action.READ_SUMMARY, [_grant(Scope.SUMMARY)], True, "consent grant 7"),
        (ADVISOR, Action.READ_TRANSACTIONS, [_grant(Scope.SUMMARY)], False, "does not cover"),
        (ADVISOR, Action.READ_TRANSACTIONS, [_grant(Scope.TRANSACTIONS)], True, "grant 7"),
        (ADVISOR, Action.READ_SUMMARY, [_grant(Scope.SUMMARY, expires_at=NOW)], False,
         "expired"),
        (ADVISOR, Action.READ_SUMMARY, [_grant(Scope.SUMMARY, revoked_at=NOW)], False,
         "revoked"),
        (ADVISOR, Action.READ_SUMMARY, [_grant(Scope.SUMMARY, customer_id=9)], False,
         "no consent"),
        (ADVISOR, Action.READ_SUMMARY, [_grant(Scope.SUMMARY, advisor_id=8)], False,
         "no consent"),
        (ADVISOR, Action.WRITE, [_grant(Scope.TRANSACTIONS)], False, "reserved"),
        (ADVISOR, Action.EXPORT, [_grant(Scope.TRANSACTIONS)], False, "reserved"),
        (ADVISOR, Action.MANAGE_CONSENT, [_grant(Scope.TRANSACTIONS)], False, "reserved"),
        (ADMIN, Action.EXPORT, [], True, "administrator"),
        (ADMIN, Action.DELETE, [], True, "administrator"),
        (ADMIN, Action.READ_AUDIT, [], True, "administrator"),
        (ADMIN, Action.READ_TRANSACTIONS, [], False, "no consent"),
        (ADMIN, Action.WRITE, [], False, "reserved"),
    ],
)
def test_policy(
    actor: Actor, action: Action, grants: list[GrantView], allowed: bool, reason: str
) -> None:
    decision = decide(actor, 1, action, grants, NOW)
    assert decision.allowed is allowed and bool(decision) is allowed
    assert reason in decision.reason


def test_an_active_grant_wins_over_expired_ones() -> None:
    grants = [_grant(Scope.TRANSACTIONS, id=1, expires_at=NOW - dt.timedelta(days=1)),
              _grant(Scope.SUMMARY, id=2)]
    assert decide(ADVISOR, 1, Action.READ_SUMMARY, grants, NOW).grant_id == 2
    assert not decide(ADVISOR, 1, Action.READ_TRANSACTIONS, grants, NOW)


# ---------------------------------------------------------------- the services
@dataclass(frozen=True)
class People:
    sessions: sessionmaker[Session]
    ana: int
    ben: int
    ada: int
    """An advisor."""
    root: int
    """An administrator."""


@contextmanager
def _people(url: str) -> Iterator[People]:
    engine = make_engine(url)
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        ids = [create_user(session, name, opened_on=NOW.date()).id
               for name in ("ana", "ben", "ada", "root")]
        set_role(session, ids[2], Role.ADVISOR)
        set_role(session, ids[3], Role.ADMIN)
    yield People(sessions, *ids)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def people(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[People]:
    url = (sqlite_url(tmp_path / "access.db") if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    with _people(url) as people:
        yield people


def test_roles(people: People) -> None:
    with people.sessions() as session:
        assert [role_of(session, u) for u in (people.ana, people.ada, people.root)] == [
            Role.CUSTOMER, Role.ADVISOR, Role.ADMIN]


def test_grants_are_checked_when_made(people: People) -> None:
    with people.sessions.begin() as session:
        with pytest.raises(ConsentError, match="only be given to an advisor"):
            grant(session, customer_id=people.ana, advisor_id=people.ben,
                  scope=Scope.SUMMARY, expires_at=LATER, now=NOW)
        for expires in (NOW, NOW + dt.timedelta(days=400)):
            with pytest.raises(ConsentError, match="within 366 days"):
                grant(session, customer_id=people.ana, advisor_id=people.ada,
                      scope=Scope.SUMMARY, expires_at=expires, now=NOW)
        with pytest.raises(ConsentError, match="must exist"):
            grant(session, customer_id=999, advisor_id=people.ada, scope=Scope.SUMMARY,
                  expires_at=LATER, now=NOW)


def _check(people: People, actor: int, action: Action, now: dt.datetime = NOW) -> bool:
    with people.sessions.begin() as session:
        return check_access(session, actor_id=actor, customer_id=people.ana, action=action,
                            now=now).allowed


def test_consent_lifecycle_is_enforced_and_audited(people: People) -> None:
    assert not _check(people, people.ada, Action.READ_SUMMARY)
    with people.sessions.begin() as session:
        summary = grant(session, customer_id=people.ana, advisor_id=people.ada,
                        scope=Scope.SUMMARY, expires_at=LATER, now=NOW).id
    assert _check(people, people.ada, Action.READ_SUMMARY)
    assert not _check(people, people.ada, Action.READ_TRANSACTIONS)
    assert not _check(people, people.ada, Action.READ_SUMMARY, now=LATER)  # expired
    assert not _check(people, people.ben, Action.READ_SUMMARY)  # another customer
    assert _check(people, people.root, Action.EXPORT)
    assert _check(people, people.ana, Action.DELETE)  # own data: allowed, not audited

    with people.sessions.begin() as session:
        assert not revoke(session, customer_id=people.ben, grant_id=summary, now=NOW)
        assert revoke(session, customer_id=people.ana, grant_id=summary, now=NOW)
        assert not revoke(session, customer_id=people.ana, grant_id=summary, now=NOW)
    assert not _check(people, people.ada, Action.READ_SUMMARY)

    with people.sessions() as session:
        (view,) = grants_of(session, people.ana)
        assert (view.scope, view.revoked_at) == (Scope.SUMMARY, NOW)
        log = entries_for(session, people.ana)
        ben_log = entries_for(session, people.ben)
        assert verify_chain(session) == len(session.scalars(select(AuditEntry)).all())
    assert [(e.action, e.outcome, e.actor) for e in reversed(log)] == [
        ("access.read_summary", "denied", "ada"),
        ("consent.grant", "done", "you"),
        ("access.read_summary", "allowed", "ada"),
        ("access.read_transactions", "denied", "ada"),
        ("access.read_summary", "denied", "ada"),
        ("access.read_summary", "denied", "ben"),
        ("access.export", "allowed", "root"),
        ("consent.revoke", "done", "you"),
        ("access.read_summary", "denied", "ada"),
    ]
    assert log[-1].detail == {}  # the first denial names no grant
    assert [(e.action, e.actor) for e in ben_log] == [("access.read_summary", "you")]


def test_the_database_refuses_to_change_the_audit_log(people: People) -> None:
    with people.sessions.begin() as session:
        append(session, action="test.event", outcome="done", actor_id=people.ana,
               actor_role="customer", subject_id=people.ana, now=NOW)
    statements = [update(AuditEntry).values(outcome="denied"), delete(AuditEntry)]
    if people.sessions.kw["bind"].dialect.name == "postgresql":
        statements.append(text("TRUNCATE audit_log"))
    for statement in statements:
        with people.sessions() as session, pytest.raises(DBAPIError, match=APPEND_ONLY_MESSAGE):
            session.execute(statement)
            session.commit()
    with people.sessions() as session:
        assert session.scalar(select(AuditEntry.outcome).where(
            AuditEntry.action == "test.event")) == "done"


def test_the_chain_exposes_edits_made_around_the_triggers(tmp_path: Path) -> None:
    with _people(sqlite_url(tmp_path / "chain.db")) as people:
        _tamper_and_verify(people)


def _tamper_and_verify(people: People) -> None:
    with people.sessions.begin() as session:
        for number in range(3):
            append(session, action=f"event.{number}", outcome="done", actor_id=None,
                   actor_role="admin", subject_id=people.ana, now=NOW)
    engine = people.sessions.kw["bind"]
    with engine.begin() as conn:  # someone with file access drops the guard
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("UPDATE audit_log SET outcome = 'denied' WHERE action = 'event.1'"))
    with people.sessions() as session, pytest.raises(AuditChainError, match="was altered"):
        verify_chain(session)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET outcome = 'done' WHERE action = 'event.1'"))
    with people.sessions() as session:
        assert verify_chain(session) == 5  # two role changes and three events
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE action = 'event.1'"))
    with people.sessions() as session, pytest.raises(AuditChainError, match="missing"):
        verify_chain(session)
