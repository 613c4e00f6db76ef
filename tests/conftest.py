"""Shared fixtures: demo ledgers on SQLite and PostgreSQL, tool contexts, and an oracle.

- ``demo_db_path`` / ``demo_sessions``: the default demo ledger as a SQLite file, built once
  per test session (treat it as read-only; copy it to write).
- ``tool_context_for(name)``: a ``ToolContext`` for a demo user, "today" = their last day.
- ``pg_url``: a URL into a fresh, private PostgreSQL schema (dropped afterwards); skips with
  the reason when PostgreSQL is not reachable.
- ``ledger_db``: the demo ledger on each backend in turn (SQLite, then PostgreSQL), with
  ``context(name)`` and ``frame``: every transaction as plain rows for an independent oracle
  (pandas over hand-written SQL; it never calls ``ledger.queries``).

Memos are encrypted at rest: the session runs with one random data key in
``FINCHAT_DATA_KEY`` (unless one is set already), inherited by CLI and server subprocesses,
so no test writes a key file into the home folder.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from import_support import Ledger, open_ledger
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from ledger.crypto import ENV_KEY, decrypt_stored, generate_key
from ledger.db import make_engine, session_factory
from ledger.demo import build_demo
from tools.base import ToolContext

os.environ.setdefault(ENV_KEY, generate_key())

PG_BASE_URL = os.environ.get(
    "FINCHAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

ORACLE_SQL = """
SELECT t.id, t.user_id, u.name AS user_name, t.account_id, a.name AS account, t.date,
       t.amount AS cents, t.currency, t.payee, t.memo, t.category_id, c.name AS category,
       p.name AS parent, c.kind AS kind, t.is_transfer, t.transfer_id, t.source_id
FROM transactions t
JOIN users u ON u.id = t.user_id
JOIN accounts a ON a.id = t.account_id
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN categories p ON p.id = c.parent_id
"""
"""Plain rows, no aggregate: amounts stay integer cents, kinds the stored enum names."""


# ---------------------------------------------------------------- PostgreSQL
@cache
def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used (``None`` when it can); asked once per process."""
    engine = create_engine(PG_BASE_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: skip, saying why
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL not reachable at {engine.url.render_as_string()}: {first_line}"
    finally:
        engine.dispose()
    return None


@contextmanager
def _private_schema() -> Iterator[str]:
    """A URL whose connections see only a new, uniquely named schema; dropped on exit."""
    reason = _postgres_unreachable()
    if reason:
        pytest.skip(reason)
    schema = f"finchat_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database of your own for one test (a private schema)."""
    with _private_schema() as url:
        yield url


# ---------------------------------------------------------------- SQLite demo
@pytest.fixture(scope="session")
def demo_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo ledger (seed 7, alice and bob) as a SQLite file; do not write to it."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    build_demo(str(path))
    return path


@pytest.fixture(scope="session")
def demo_sessions(demo_db_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(str(demo_db_path))
    yield session_factory(engine)
    engine.dispose()


def _context(sessions: sessionmaker[Session], engine: Engine, name: str) -> ToolContext:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT u.id, max(t.date) FROM users u JOIN transactions t ON t.user_id = u.id "
                 "WHERE u.name = :name GROUP BY u.id"),
            {"name": name},
        ).one()
    return ToolContext(sessions=sessions, user_id=row[0], today=_as_date(row[1]))


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@pytest.fixture(scope="session")
def tool_context_for(
    demo_sessions: sessionmaker[Session],
) -> Callable[[str], ToolContext]:
    """``tool_context_for("alice")``: a context bound to that demo user on the SQLite demo."""
    engine = demo_sessions.kw["bind"]
    return lambda name: _context(demo_sessions, engine, name)


# ---------------------------------------------------------------- both backends
@dataclass(frozen=True)
class LedgerDB:
    """The demo ledger on one backend, with plain rows for computing expected values."""

    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    frame: pd.DataFrame
    """One row per transaction (see ``ORACLE_SQL``), ``date`` as ``datetime.date``."""

    def context(self, name: str, today: dt.date | None = None) -> ToolContext:
        ctx = _context(self.sessions, self.engine, name)
        return ctx if today is None else ToolContext(ctx.sessions, ctx.user_id, today)

    def rows_of(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame.user_name == name]

    def query(self, sql: str, **params: object) -> list[tuple]:
        """Hand-written SQL for expectations the frame does not hold (accounts, budgets)."""
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]


def _load_frame(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(text(ORACLE_SQL), conn)
    frame["date"] = frame["date"].map(_as_date)
    frame["memo"] = frame["memo"].map(lambda memo: decrypt_stored(memo, "transactions.memo"))
    frame["is_transfer"] = frame["is_transfer"].astype(bool)
    frame["cents"] = frame["cents"].astype("int64")
    return frame


@contextmanager
def _opened(backend: str, url: str) -> Iterator[LedgerDB]:
    engine = make_engine(url)
    try:
        yield LedgerDB(backend, url, engine, session_factory(engine), _load_frame(engine))
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def ledger_db(request: pytest.FixtureRequest, demo_db_path: Path) -> Iterator[LedgerDB]:
    """The default demo ledger on SQLite, then on PostgreSQL (skipped if unreachable)."""
    if request.param == "sqlite":
        with _opened("sqlite", str(demo_db_path)) as db:
            yield db
        return
    with _private_schema() as url:
        build_demo(url)
        with _opened("postgresql", url) as db:
            yield db


# ---------------------------------------------------------------- import tests
@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh SQLite ledger with the import tests' users and accounts (import_support);
    a test module may define its own ``ledger`` instead."""
    with open_ledger(str(tmp_path / "ledger.db"), tmp_path / "models") as opened:
        yield opened


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """The same ledger on SQLite, then on PostgreSQL (skipped with a reason where absent)."""
    url = str(tmp_path / "ledger.db") if request.param == "sqlite" else request.getfixturevalue(
        "pg_url")
    with open_ledger(url, tmp_path / "models") as opened:
        yield opened
