"""``finchat keys generate`` and ``finchat keys rotate``: the data keys of encryption at rest.

Rotating is two steps: put a new key first in the ring (``FINCHAT_DATA_KEY=new,old``, or a
new first line in the key file: ``finchat keys generate --prepend-to FILE``), keeping the old
ones after it, then ``finchat keys rotate`` re-encrypts every encrypted value under the new
key. It runs in one database transaction: interrupted, nothing changed and every value still
reads under the old keys; run again, it changes nothing. Afterwards the old keys can go.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from cli import UserError
from ledger.crypto import CryptoError, current_keyring, generate_key, rotate
from ledger.db import create_schema, make_engine


@click.group("keys")
def keys() -> None:
    """Data keys for the encrypted columns (memos, account numbers)."""


@keys.command("generate")
@click.option("--prepend-to", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also make it the first key of this key file (created with mode 600); "
                   "the keys already there stay, to decrypt until `finchat keys rotate`.")
def generate_command(key_file: Path | None) -> None:
    """Print a new random data key (base64 of 32 bytes)."""
    key = generate_key()
    if key_file is not None:
        _prepend(key_file.expanduser(), key)
        click.echo(f"Added a new first key to {key_file}; now run `finchat keys rotate`.",
                   err=True)
    click.echo(key)


def _prepend(path: Path, key: str) -> None:
    """Write ``key`` as the first line of ``path``, atomically, owner-only."""
    try:
        old = path.read_text(encoding="ascii") if path.exists() else ""
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(f"{key}\n{old}")
        temporary.replace(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot write key file {path}: {exc}") from None


@keys.command("rotate")
@click.option("--db", default="finchat.db", show_default=True, envvar="FINCHAT_DATABASE_URL",
              help="A SQLite file or a SQLAlchemy URL [env FINCHAT_DATABASE_URL].")
def rotate_command(db: str) -> None:
    """Re-encrypt every encrypted value under the first data key (and encrypt memos stored
    before encryption existed)."""
    backend = _backend(db)
    engine = make_engine(db)
    try:
        ring = current_keyring(backend=backend)
        assert ring is not None  # required=True raised otherwise
        create_schema(engine)  # tables added since the ledger was made, so rotate sees all
        changed = rotate(engine, ring)
    except CryptoError as exc:
        raise UserError(str(exc)) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        raise UserError(f"cannot rotate the keys of {db}: {reason}") from None
    finally:
        engine.dispose()
    for column, count in changed.items():
        click.echo(f"{column}: {count} re-encrypted")
    primary, *others = ring.key_ids
    click.echo(f"Every encrypted value is now under key {primary}.")
    if others:
        click.echo(f"Keys no longer needed: {', '.join(others)} (remove them from the ring).")
    else:
        click.echo("The ring has one key: to rotate, put a new one first "
                   "(`finchat keys generate`), keep this one after it, and run this again.")


def _backend(db: str) -> str:
    """``sqlite`` for a path or SQLite URL (a missing file is refused), else the URL's."""
    if "://" not in db:
        if not Path(db).expanduser().exists():
            raise UserError(f"no ledger at {db}")
        return "sqlite"
    try:
        url = make_url(db)
    except ArgumentError:
        raise UserError(f"not a database URL: {db}") from None
    database = url.database
    if (url.get_backend_name() == "sqlite" and database and database != ":memory:"
            and not Path(database).expanduser().exists()):
        raise UserError(f"no ledger at {database}")
    return url.get_backend_name()


COMMANDS: tuple[click.Command, ...] = (keys,)
