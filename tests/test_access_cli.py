"""``finchat users role``: the local operator gives roles, on a real SQLite ledger, and the
role takes effect in the policy at once."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from cli import main
from ledger.consent import role_of
from ledger.db import create_schema, make_engine, session_factory
from ledger.policy import Role
from ledger.users import create_user


def _ledger(tmp_path: Path) -> str:
    path = str(tmp_path / "roles.db")
    engine = make_engine(path)
    create_schema(engine)
    with session_factory(engine).begin() as session:
        for name in ("ana", "ben"):
            create_user(session, name)
    engine.dispose()
    return path


def _role(db: str, user_id: int) -> Role:
    engine = make_engine(db)
    try:
        with session_factory(engine)() as session:
            return role_of(session, user_id)
    finally:
        engine.dispose()


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["users", "role", *args])


def test_the_operator_sets_roles(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    assert _run("ana", "admin", "--db", db).output == "'ana' is now an admin.\n"
    assert _run("ben", "advisor", "--db", db).exit_code == 0
    assert (_role(db, 1), _role(db, 2)) == (Role.ADMIN, Role.ADVISOR)


def test_role_errors_are_one_line(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    assert _run("ana", "admin", "--db", db).exit_code == 0
    last = _run("ana", "customer", "--db", db)
    assert last.exit_code == 1 and "only administrator" in last.output
    unknown = _run("nobody", "advisor", "--db", db)
    assert unknown.exit_code == 1 and "no user named 'nobody'" in unknown.output
    bad = _run("ben", "boss", "--db", db)
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert _role(db, 1) is Role.ADMIN and _role(db, 2) is Role.CUSTOMER
