"""GDPR export and erasure on SQLite and PostgreSQL, and the ``users export|delete`` CLI.

The erasure test does not trust ``ledger.privacy``'s idea of which rows are a user's: it
introspects every table in the metadata (tables added later included) and searches every
user-referencing column for the user's id and every text column, decrypted, for the user's
name, payees, IBAN and marker.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from security_support import Person, fill_user
from sqlalchemy import Column, Engine, String, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from cli.privacy import USER_COMMANDS
from ledger.audit import entries_for, verify_chain
from ledger.consent import check_access, grant, set_role
from ledger.crypto import KeyRing, generate_key, use_keyring
from ledger.db import create_schema, make_engine, session_factory, sqlite_url
from ledger.models import Base
from ledger.policy import Action, Role, Scope
from ledger.privacy import UnknownUserError, delete_user, export_user
from ledger.security_models import AuditPrincipal
from ledger.users import create_user

NOW = dt.datetime(2026, 10, 1, 12, 0)
ZOE_IBAN = "DE89 3704 0044 0532 0130 00"
YANN_IBAN = "GB82 WEST 1234 5698 7654 32"


@dataclass(frozen=True)
class World:
    engine: Engine
    sessions: sessionmaker[Session]
    zoe: Person
    yann: Person
    advisor_id: int


def _build(url: str) -> Iterator[World]:
    engine = make_engine(url)
    create_schema(engine)
    sessions = session_factory(engine)
    with use_keyring(KeyRing.from_base64(generate_key())):
        with sessions.begin() as session:
            zoe = fill_user(session, "zoe-privacy", "Zqxv", ZOE_IBAN)
            yann = fill_user(session, "yann-privacy", "Ywkj", YANN_IBAN)
            advisor = create_user(session, "ada-advisor", opened_on=NOW.date())
            set_role(session, advisor.id, Role.ADVISOR)
            set_role(session, zoe.id, Role.CUSTOMER)
            for person, scope in ((zoe, Scope.TRANSACTIONS), (yann, Scope.SUMMARY)):
                grant(session, customer_id=person.id, advisor_id=advisor.id, scope=scope,
                      expires_at=NOW + dt.timedelta(days=30), now=NOW)
                check_access(session, actor_id=advisor.id, customer_id=person.id,
                             action=Action.READ_TRANSACTIONS, now=NOW)
        yield World(engine, sessions, zoe, yann, advisor.id)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        yield from _build(sqlite_url(tmp_path / "privacy.db"))
    else:
        yield from _build(request.getfixturevalue("pg_url"))


def _count(session: Session, sql: str, **params: object) -> int:
    return int(session.execute(text(sql), params).scalar_one())


# ---------------------------------------------------------------- export
def test_export_holds_every_table_of_the_user_and_nobody_else(world: World) -> None:
    zoe, yann = world.zoe, world.yann
    with world.sessions.begin() as session:
        export = export_user(session, zoe.id, now=NOW)
        categories = _count(session, "SELECT count(*) FROM categories WHERE user_id = :u",
                            u=zoe.id)
    document = json.loads(export.to_json())
    tables: dict[str, list[dict[str, Any]]] = document["tables"]

    assert document["format"] == "finchat-user-export" and document["user_id"] == zoe.id
    assert set(tables) == set(Base.metadata.tables)  # every table holds some of zoe's data
    assert tables["users"] == [{"id": zoe.id, "name": zoe.name,
                                "created_at": tables["users"][0]["created_at"]}]
    counts = {name: len(rows) for name, rows in tables.items()}
    assert counts["categories"] == categories > 0
    assert {k: counts[k] for k in ("accounts", "transactions", "budgets", "category_rules",
                                   "import_batches", "conversations", "conversation_messages",
                                   "feedback", "api_tokens", "account_numbers",
                                   "consent_grants", "user_roles")} == {
        "accounts": 2, "transactions": zoe.transactions, "budgets": 1, "category_rules": 1,
        "import_batches": 1, "conversations": 1, "conversation_messages": 1, "feedback": 1,
        "api_tokens": 1, "account_numbers": 1, "consent_grants": 1, "user_roles": 1,
    }
    assert sorted(row["payee"] for row in tables["transactions"]) == sorted(zoe.payees)
    assert {row["amount"] for row in tables["transactions"]} == {
        "-310.00", "-23.40", "-9.99", "2500.00"}  # exact strings, never floats
    assert tables["account_numbers"][0]["number"] == ZOE_IBAN  # decrypted for its owner
    assert "token_sha256" not in tables["api_tokens"][0]  # secrets are not exported
    assert tables["api_tokens"][0]["label"] == "Zqxv laptop"
    actions = {row["action"] for row in tables["audit_log"]}
    assert {"consent.grant", "access.read_transactions", "role.set", "user.export"} <= actions
    assert len(tables["account_month_totals"]) == 2  # both accounts, all rows in 2026-09

    raw = export.to_json()
    assert not [p for p in yann.payees if p in raw] and YANN_IBAN not in raw
    assert "Ywkj" not in raw and yann.name not in raw


def test_csv_export_is_one_file_per_table(world: World, tmp_path: Path) -> None:
    with world.sessions.begin() as session:
        export = export_user(session, world.zoe.id, now=NOW)
    target = tmp_path / "zoe.zip"
    export.write_zip(target)
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        assert names == {"manifest.json"} | {f"{name}.csv" for name in export.tables}
        manifest = json.loads(archive.read("manifest.json"))
        for name, table in export.tables.items():
            rows = list(csv.reader(io.StringIO(archive.read(f"{name}.csv").decode())))
            assert rows[0] == table.columns
            assert len(rows) - 1 == len(table.rows) == manifest["tables"][name]
        transactions = list(csv.DictReader(io.StringIO(
            archive.read("transactions.csv").decode())))
    assert {row["payee"] for row in transactions} == set(world.zoe.payees)
    assert {row["memo"] for row in transactions} >= {"", "bread for Zqxv"}


# ---------------------------------------------------------------- erasure
def _user_columns(metadata: Any) -> list[Column[Any]]:
    """Columns that hold a user id: foreign keys to ``users`` and any ``*user_id`` column."""
    return [
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("user_id")
        or any(fk.column.table.name == "users" for fk in column.foreign_keys)
        or (table.name == "users" and column.name == "id")
    ]


def _text_columns(metadata: Any) -> list[Column[Any]]:
    def is_text(column: Column[Any]) -> bool:
        kind = column.type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        return isinstance(kind, String)  # Text and Enum are Strings too

    return [c for t in metadata.sorted_tables for c in t.columns if is_text(c)]


def _traces(session: Session, person: Person) -> list[str]:
    """Where ``person`` still appears, as "table.column: value" lines."""
    found = []
    for column in _user_columns(Base.metadata):
        hits = session.scalar(select(func.count()).where(column == person.id))
        if hits:
            found.append(f"{column.table.name}.{column.name} = {person.id} ({hits} rows)")
    needles = [n.casefold() for n in (person.name, "Zqxv", *person.payees, person.iban,
                                      re.sub(r"\s", "", person.iban))]
    for column in _text_columns(Base.metadata):
        for value in session.scalars(select(column).where(column.is_not(None))):
            if any(needle in str(value).casefold() for needle in needles):
                found.append(f"{column.table.name}.{column.name}: {value!r}")
    return found


def _dangling(session: Session) -> list[str]:
    """Foreign-key values pointing at rows that no longer exist."""
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            parent = fk.column
            orphan = select(func.count()).select_from(table).where(
                fk.parent.is_not(None),
                fk.parent.not_in(select(parent).where(parent.is_not(None))),
            )
            if session.scalar(orphan):
                found.append(f"{table.name}.{fk.parent.name} -> {parent.table.name}")
    return found


def _without_audit(export_json: str) -> dict[str, Any]:
    document = json.loads(export_json)
    for name in ("audit_log", "audit_principals"):
        document["tables"].pop(name)
    document.pop("exported_at")
    return document


def test_erasure_leaves_no_trace_in_any_table(world: World) -> None:
    zoe, yann = world.zoe, world.yann
    with world.sessions.begin() as session:
        assert _traces(session, zoe)  # the search finds zoe before the erasure
        yann_before = _without_audit(export_user(session, yann.id, now=NOW).to_json())
        audit_before = _count(session, "SELECT count(*) FROM audit_log")
    with world.sessions.begin() as session:
        report = delete_user(session, zoe.id, actor_role="admin", now=NOW)
    assert report.rows_deleted["users"] == 1 and report.rows_deleted["transactions"] == 4
    assert report.principals_erased == 1

    with world.sessions() as session:
        assert _traces(session, zoe) == []
        assert _dangling(session) == []
        # the audit trail stays, chained and complete, pointing at an unlinked principal
        assert _count(session, "SELECT count(*) FROM audit_log") == audit_before + 1
        assert verify_chain(session) == audit_before + 1  # + the erasure's own entry
        erased = session.scalars(select(AuditPrincipal).where(
            AuditPrincipal.erased_at.is_not(None))).all()
        assert len(erased) == 1 and erased[0].user_id is None
        advisor_view = entries_for(session, world.advisor_id)
        assert any(v.action == "access.read_transactions" for v in advisor_view)
    with world.sessions.begin() as session:
        yann_after = _without_audit(export_user(session, yann.id, now=NOW).to_json())
    assert yann_after == yann_before  # nothing of anyone else changed


def test_unknown_users_are_refused(world: World) -> None:
    with world.sessions.begin() as session, pytest.raises(UnknownUserError):
        delete_user(session, 999_999)
    with world.sessions.begin() as session, pytest.raises(UnknownUserError):
        export_user(session, 999_999)


# ---------------------------------------------------------------- CLI
@dataclass(frozen=True)
class CliLedger:
    db: str
    person: Person
    ring: KeyRing


@pytest.fixture
def cli_ledger(tmp_path: Path) -> CliLedger:
    path = tmp_path / "cli.db"
    ring = KeyRing.from_base64(generate_key())
    engine = make_engine(str(path))
    create_schema(engine)
    with use_keyring(ring), session_factory(engine).begin() as session:
        person = fill_user(session, "zoe cli", "Zqxv", ZOE_IBAN)
    engine.dispose()
    return CliLedger(str(path), person, ring)


def _users(args: list[str], ring: KeyRing | None) -> click.testing.Result:
    group = click.Group("users")
    for command in USER_COMMANDS:
        group.add_command(command)
    with use_keyring(ring):
        return CliRunner().invoke(group, args)


def test_cli_exports_json_and_csv_readable_only_by_the_owner(
    cli_ledger: CliLedger, tmp_path: Path
) -> None:
    name, db, out = cli_ledger.person.name, cli_ledger.db, tmp_path / "exports"
    for fmt in ("json", "csv"):
        result = _users(["export", name, "--format", fmt, "--out", str(out), "--db", db],
                        cli_ledger.ring)
        assert result.exit_code == 0, result.output
        assert re.match(r"Exported \d+ rows from \d+ tables to ", result.output)
    (json_file,) = out.glob("finchat-export-zoe_cli-*.json")
    (zip_file,) = out.glob("finchat-export-zoe_cli-*.zip")
    for path in (json_file, zip_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(json_file.read_text(encoding="utf-8"))
    assert document["tables"]["account_numbers"][0]["number"] == ZOE_IBAN
    with zipfile.ZipFile(zip_file) as archive:
        assert "transactions.csv" in archive.namelist()


def test_cli_errors_are_one_line(cli_ledger: CliLedger, tmp_path: Path) -> None:
    name, db = cli_ledger.person.name, cli_ledger.db
    no_key = _users(["export", name, "--out", str(tmp_path), "--db", db], None)
    assert no_key.exit_code == 1 and "FINCHAT_DATA_KEY" in no_key.output
    unknown = _users(["delete", "nobody", "--yes", "--db", db], cli_ledger.ring)
    assert unknown.exit_code == 1 and "no user named 'nobody'" in unknown.output
    missing = _users(["export", name, "--db", str(tmp_path / "none.db")], cli_ledger.ring)
    assert missing.exit_code == 1 and "no ledger at" in missing.output
    for result in (no_key, unknown, missing):
        assert "Traceback" not in result.output


def test_cli_delete_needs_yes_and_erases(cli_ledger: CliLedger) -> None:
    name, db = cli_ledger.person.name, cli_ledger.db
    refused = _users(["delete", name, "--db", db], cli_ledger.ring)
    assert refused.exit_code == 1 and "--yes" in refused.output
    engine = make_engine(db)
    with session_factory(engine)() as session:
        assert _count(session, "SELECT count(*) FROM users") == 1

        done = _users(["delete", name, "--yes", "--db", db], cli_ledger.ring)
        assert done.exit_code == 0, done.output
        assert re.match(r"Erased 'zoe cli': \d+ rows in \d+ tables; 1 audit principal",
                        done.output)
        assert _count(session, "SELECT count(*) FROM users") == 0
        with use_keyring(cli_ledger.ring):
            assert _traces(session, cli_ledger.person) == []
    engine.dispose()
