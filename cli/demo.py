"""``finchat demo``: build the deterministic demo ledger to try finchat without your own data."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cli import UserError
from ledger.db import make_engine
from ledger.demo import MAX_USERS, build_demo
from ledger.models import User


@click.command("demo")
@click.option("--db", "target", default="finchat.db", show_default=True,
              envvar="FINCHAT_DATABASE_URL",
              help="A SQLite file or a SQLAlchemy URL [env FINCHAT_DATABASE_URL].")
@click.option("--seed", default=7, show_default=True, help="Same seed, same ledger.")
@click.option("--users", default=2, show_default=True,
              type=click.IntRange(1, MAX_USERS), help="How many demo users.")
@click.option("--transactions", type=click.IntRange(1), default=None,
              help="Pad to exactly this many transactions (e.g. 1000000 for benchmarks).")
@click.option("--force", is_flag=True, help="Replace an existing ledger.")
def demo_command(target: str, seed: int, users: int, transactions: int | None,
                 force: bool) -> None:
    """Build a demo ledger: users with accounts, two years of transactions and budgets."""
    try:
        if _has_data(target) and not force:
            raise UserError(f"{target} already holds a ledger; pass --force to replace it")
        summary = build_demo(target, seed=seed, users=users, transactions=transactions,
                             replace=force)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise UserError(f"cannot build the demo in {target}: {reason}") from exc
    click.echo(summary.describe())


def _is_path(target: str) -> bool:
    return "://" not in target


def _has_data(target: str) -> bool:
    """A SQLite file with any bytes in it, or a database whose ledger has users."""
    if _is_path(target):
        path = Path(target).expanduser()
        return path.exists() and path.stat().st_size > 0
    engine = make_engine(target)
    try:
        if not inspect(engine).has_table(User.__tablename__):
            return False
        with Session(engine) as session:
            return bool(session.scalar(select(func.count()).select_from(User)))
    finally:
        engine.dispose()


COMMANDS: tuple[click.Command, ...] = (demo_command,)
