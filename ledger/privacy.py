"""GDPR: everything a user has, exported (JSON or CSV) or erased everywhere.

Which rows belong to a user is read from the schema, not listed by hand. A table is the
user's when it has a foreign key to ``users`` (rows where any such column is the user: a
consent grant names a customer and an advisor), or else a foreign key to a table that is
itself the user's (conversation messages through conversations, monthly totals through
accounts, audit entries through their principals). A table added later is covered as soon
as it has its foreign key; a table with no path to ``users`` holds nobody's personal data.

Erasure deletes the user's rows in every such table except the audit log: its entries stay,
their principal unlinked from the user (``ledger.audit``), so the record of what happened
survives without saying to whom. Secrets are never exported: columns whose name says hash,
secret, password, salt or totp are left out (a token's label and dates are exported, not its
hash). These functions record themselves in the audit log but do not authorise: callers ask
``ledger.consent.check_access`` (``Action.EXPORT`` / ``Action.DELETE``) first.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import enum
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, ForeignKey, MetaData, Table, delete, or_, select, update
from sqlalchemy.orm import Session

from ledger import audit
from ledger.models import Base
from ledger.security_models import AuditPrincipal  # also registers the security tables

FORMAT = "finchat-user-export"
VERSION = 1
RETAINED_TABLES = frozenset({"audit_log", "audit_principals"})
"""Kept on erasure: the audit trail, pseudonymised through its principals."""
SECRET_COLUMN = re.compile(r"hash|sha256|secret|password|salt|totp", re.IGNORECASE)


class UnknownUserError(LookupError):
    """No user has the given id."""


@dataclass(frozen=True)
class TableExport:
    columns: list[str]
    rows: list[list[Any]]
    """JSON-ready values: amounts and dates as strings, enums as their values."""


@dataclass(frozen=True)
class UserExport:
    user_id: int
    user_name: str
    exported_at: dt.datetime
    tables: dict[str, TableExport]
    """``users`` first, then every table holding the user's rows, in dependency order."""

    def to_json(self) -> str:
        document = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": self.exported_at.isoformat(),
            "user_id": self.user_id,
            "tables": {
                name: [dict(zip(table.columns, row, strict=True)) for row in table.rows]
                for name, table in self.tables.items()
            },
        }
        return json.dumps(document, ensure_ascii=False, indent=2)

    def write_zip(self, target: str | Path | BinaryIO) -> None:
        """One CSV per table (header row first) and a ``manifest.json``, zipped into
        ``target`` (a path or a binary file opened for writing)."""
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": self.exported_at.isoformat(),
            "user_id": self.user_id,
            "tables": {name: len(table.rows) for name, table in self.tables.items()},
        }
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest, indent=2))
            for name, table in self.tables.items():
                archive.writestr(f"{name}.csv", _csv(table))


@dataclass(frozen=True)
class DeletionReport:
    user_id: int
    rows_deleted: dict[str, int] = field(default_factory=dict)
    """Per table, the user row included (``users``: 1)."""
    principals_erased: int = 0


# ---------------------------------------------------------------- which rows are a user's
def owned_tables(metadata: MetaData | None = None) -> dict[Table, list[ForeignKey]]:
    """Every table holding users' rows, with the foreign keys that say whose a row is, in
    dependency order (parents first)."""
    metadata = metadata or Base.metadata
    users = metadata.tables["users"]
    plan: dict[Table, list[ForeignKey]] = {}
    for table in metadata.sorted_tables:
        if table is users:
            continue
        keys = sorted(table.foreign_keys, key=lambda fk: fk.parent.name)
        direct = [fk for fk in keys if fk.column.table is users]
        links = direct or [
            fk for fk in keys if fk.column.table in plan and fk.column.table is not table
        ]
        if links:
            plan[table] = links
    return plan


def owned_rows(
    table: Table, user_id: int, plan: dict[Table, list[ForeignKey]]
) -> ColumnElement[bool]:
    """The condition selecting ``user_id``'s rows of ``table`` (a table in ``plan``)."""
    conditions = []
    for fk in plan[table]:
        parent = fk.column.table
        if parent.name == "users":
            conditions.append(fk.parent == user_id)
        else:
            owners = select(fk.column).where(owned_rows(parent, user_id, plan))
            conditions.append(fk.parent.in_(owners))
    return or_(*conditions)


# ---------------------------------------------------------------- export
def export_user(
    session: Session,
    user_id: int,
    *,
    actor_id: int | None = None,
    actor_role: str = "admin",
    now: dt.datetime | None = None,
) -> UserExport:
    """Everything ``user_id`` has, in every table; the export itself is audited.

    Args:
        actor_id, actor_role: who asked, for the audit log (``None``: the local operator).

    Raises:
        UnknownUserError: no such user.
        ledger.crypto.CryptoError: encrypted values but no key to read them.
    """
    metadata = Base.metadata
    users = metadata.tables["users"]
    user = session.execute(select(users).where(users.c.id == user_id)).mappings().first()
    if user is None:
        raise UnknownUserError(f"no user with id {user_id}")
    now = now or audit.utcnow()
    audit.append(session, action="user.export", outcome="done", actor_id=actor_id,
                 actor_role=actor_role, subject_id=user_id, now=now)
    plan = owned_tables(metadata)
    tables = {"users": _export_table(session, users, users.c.id == user_id)}
    for table in plan:
        tables[table.name] = _export_table(session, table, owned_rows(table, user_id, plan))
    return UserExport(user_id, user["name"], now, tables)


def _export_table(session: Session, table: Table, condition: ColumnElement[bool]) -> TableExport:
    columns = [c for c in table.columns if not SECRET_COLUMN.search(c.name)]
    order = list(table.primary_key.columns) or columns
    rows = session.execute(select(*columns).where(condition).order_by(*order)).all()
    return TableExport(
        columns=[c.name for c in columns],
        rows=[[_plain(value) for value in row] for row in rows],
    )


def _plain(value: Any) -> Any:
    """A JSON- and CSV-friendly form: exact strings for money and time."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _csv(table: TableExport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([["" if v is None else v for v in row] for row in table.rows])
    return buffer.getvalue()


# ---------------------------------------------------------------- erasure
def delete_user(
    session: Session,
    user_id: int,
    *,
    actor_id: int | None = None,
    actor_role: str = "admin",
    now: dt.datetime | None = None,
) -> DeletionReport:
    """Erase ``user_id`` from every table in the caller's transaction (see the module
    docstring); the erasure is audited before the user's principal is unlinked.

    Args:
        actor_id, actor_role: who asked, for the audit log (``None``: the local operator).

    Raises:
        UnknownUserError: no such user.
    """
    metadata = Base.metadata
    users = metadata.tables["users"]
    if session.scalar(select(users.c.id).where(users.c.id == user_id)) is None:
        raise UnknownUserError(f"no user with id {user_id}")
    now = now or audit.utcnow()
    plan = owned_tables(metadata)
    counts: dict[str, int] = {}
    for table in reversed(list(plan)):  # children before their parents
        if table.name in RETAINED_TABLES:
            continue
        counts[table.name] = session.execute(
            delete(table).where(owned_rows(table, user_id, plan))
        ).rowcount
    counts = {name: n for name, n in counts.items() if n}
    audit.append(session, action="user.delete", outcome="done",
                 actor_id=actor_id, actor_role=actor_role,
                 subject_id=user_id, now=now, detail={"rows": sum(counts.values())})
    erased = session.execute(
        update(AuditPrincipal)
        .where(AuditPrincipal.user_id == user_id)
        .values(user_id=None, erased_at=now)
    ).rowcount
    counts["users"] = session.execute(delete(users).where(users.c.id == user_id)).rowcount
    session.expire_all()
    return DeletionReport(user_id, counts, erased)
