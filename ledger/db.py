"""Engines and sessions from a database URL: a SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from ledger.models import Base, replace_row_level_totals_trigger


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).expanduser()}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a bare path is taken as a SQLite file.

    SQLite gets WAL (readers never block the writer), foreign keys and a busy timeout.
    """
    if "://" not in url:
        url = sqlite_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet, security tables (consent, audit) included."""
    import ledger.credential_models  # (registers its tables on Base.metadata)
    import ledger.security_models  # noqa: F401  (registers its tables on Base.metadata)

    Base.metadata.create_all(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            replace_row_level_totals_trigger(connection)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
