"""``finchat users export USER``, ``finchat users delete USER --yes`` (GDPR requests) and
``finchat users role USER ROLE``.

All run as the local operator (whoever can open the database file or URL can read it
anyway) and are recorded in the audit log. The export is written with owner-only
permissions: it holds the user's whole financial history. Encrypted columns need the data key
(``FINCHAT_DATA_KEY`` or ``FINCHAT_DATA_KEY_FILE``) to be exported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cli import UserError
from ledger.admin import LastAdminError, change_role
from ledger.crypto import CryptoError
from ledger.db import create_schema, make_engine, session_factory
from ledger.policy import Role
from ledger.privacy import delete_user, export_user
from ledger.users import get_user_by_name

_DB_OPTION = click.option(
    "--db", default="finchat.db", show_default=True, envvar="FINCHAT_DATABASE_URL",
    help="A SQLite file or a SQLAlchemy URL [env FINCHAT_DATABASE_URL].",
)


@contextmanager
def _ledger(db: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on an existing ledger, with the security tables created if missing."""
    path = Path(db).expanduser() if "://" not in db else None
    if "://" in db and make_url(db).get_backend_name() == "sqlite":
        database = make_url(db).database
        path = Path(database).expanduser() if database not in (None, "", ":memory:") else None
    if path is not None and not path.exists():
        raise UserError(f"no ledger at {path}")
    engine = make_engine(db)
    try:
        create_schema(engine)
        yield session_factory(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        raise UserError(f"cannot use the ledger at {db}: {reason}") from None
    except CryptoError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()


def _user_id(session: Session, name: str) -> int:
    user = get_user_by_name(session, name)
    if user is None:
        raise UserError(f"no user named {name!r} in this ledger")
    return user.id


@click.command("export")
@click.argument("user")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True, help="One JSON document, or a zip of one CSV per table.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory to write the export to.")
@_DB_OPTION
def export_command(user: str, fmt: str, out: Path, db: str) -> None:
    """Export everything USER has in the ledger (GDPR access and portability)."""
    with _ledger(db) as sessions, sessions.begin() as session:
        export = export_user(session, _user_id(session, user), actor_role=Role.ADMIN.value)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"finchat-export-{_safe(user)}-{export.exported_at:%Y%m%d-%H%M%S}"
    target = out / f"{stem}.{'json' if fmt == 'json' else 'zip'}"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        if fmt == "json":
            handle.write(export.to_json().encode("utf-8"))
        else:
            export.write_zip(handle)
    rows = sum(len(table.rows) for table in export.tables.values())
    click.echo(f"Exported {rows} rows from {len(export.tables)} tables to {target}")


@click.command("delete")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
@_DB_OPTION
def delete_command(user: str, yes: bool, db: str) -> None:
    """Erase USER and all their data (GDPR erasure); audit entries stay, pseudonymised."""
    if not yes:
        raise UserError(f"this erases {user!r} and all their data for good; add --yes to confirm")
    with _ledger(db) as sessions, sessions.begin() as session:
        report = delete_user(session, _user_id(session, user), actor_role=Role.ADMIN.value)
    deleted = sum(report.rows_deleted.values())
    click.echo(f"Erased {user!r}: {deleted} rows in {len(report.rows_deleted)} tables; "
               f"{report.principals_erased} audit principal(s) pseudonymised.")


@click.command("role")
@click.argument("user")
@click.argument("role", type=click.Choice([r.value for r in Role]))
@_DB_OPTION
def role_command(user: str, role: str, db: str) -> None:
    """Make USER a customer, an advisor or an administrator (the first administrator is made
    here; administrators then manage roles over HTTP)."""
    with _ledger(db) as sessions, sessions.begin() as session:
        try:
            change_role(session, _user_id(session, user), Role(role), by=None)
        except LastAdminError as exc:
            raise UserError(str(exc)) from None
    click.echo(f"{user!r} is now {'an' if role[0] in 'ae' else 'a'} {role}.")


def _safe(name: str) -> str:
    """A user name as a file-name fragment."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "user"


USER_COMMANDS: tuple[click.Command, ...] = (export_command, delete_command, role_command)
"""Subcommands of the ``users`` group (``cli/serve.py``):
``for command in USER_COMMANDS: users.add_command(command)``."""
