"""Ledger data from the terminal: ``import``, ``imports list|undo``, ``tx add|edit|delete``,
``categorize`` and ``recurring``.

Every command takes ``--db`` (a SQLite file or a SQLAlchemy URL, default
``FINCHAT_DATABASE_URL`` or ``finchat.db``) and ``--user`` (default: the ledger's first user).
Expected failures (a rejected file, an unknown account, a bad amount) end as one line on
stderr and exit code 1; a rejected import also lists its bad rows first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cli import UserError
from ledger import queries
from ledger.categorise import categorise_ledger
from ledger.classifier import evaluate, training_data
from ledger.db import make_engine, session_factory
from ledger.importing import (
    CsvOptions,
    EntryError,
    ImportOptions,
    ImportRejected,
    ImportReport,
    add_transaction,
    delete_transaction,
    edit_transaction,
    import_path,
    list_imports,
    parse_mapping,
    undo_import,
)
from ledger.importing.entry import UNSET, EntryView
from ledger.masking import mask_sensitive_text
from ledger.models import User
from ledger.users import get_user_by_name
from tools.base import ToolContext
from tools.recurring import RecurringInput, recurring_payments

F = TypeVar("F", bound=Callable[..., Any])
_ERRORS_SHOWN = 20


def _ledger_options(command: F) -> F:
    """``--db`` and ``--user``, shared by every command here."""
    command = click.option("--user", help="Whose ledger (default: the first user).")(command)
    return click.option(
        "--db", default="finchat.db", show_default=True, envvar="FINCHAT_DATABASE_URL",
        help="A SQLite file or a SQLAlchemy URL [env FINCHAT_DATABASE_URL].",
    )(command)


@contextmanager
def _ledger(db: str, user: str | None) -> Iterator[tuple[sessionmaker[Session], int]]:
    """Sessions and the user id; a missing SQLite file is an error, never created here."""
    if "://" not in db and not Path(db).expanduser().exists():
        raise UserError(f"no ledger at {db}; create one first (e.g. `finchat demo --db {db}`)")
    if "://" in db and make_url(db).get_backend_name() == "sqlite":
        database = make_url(db).database
        if database and database != ":memory:" and not Path(database).expanduser().exists():
            raise UserError(f"no ledger at {database}")
    engine = make_engine(db)
    try:
        sessions = session_factory(engine)
        try:
            with sessions() as session:
                user_id = _user_id(session, user)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            raise UserError(f"cannot read the ledger at {db}: {reason}") from None
        yield sessions, user_id
    finally:
        engine.dispose()


def _user_id(session: Session, name: str | None) -> int:
    if name is not None:
        found = get_user_by_name(session, name)
        if found is None:
            raise UserError(f"no user named {name!r} in this ledger")
        return found.id
    first = session.scalar(select(User.id).order_by(User.id).limit(1))
    if first is None:
        raise UserError("the ledger has no users yet")
    return int(first)


# ---------------------------------------------------------------- import


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--account", required=True, help="The account the file belongs to.")
@_ledger_options
@click.option("--skip-invalid", is_flag=True,
              help="Import the good rows and report the bad ones (default: reject the file).")
@click.option("--map", "mapping", multiple=True, metavar="COLUMN=FIELD",
              help="Map a CSV column (header or 1-based number) to date, amount, debit, "
                   "credit, direction (a D/C indicator), payee, memo, id, currency or "
                   "ignore. Repeatable.")
@click.option("--date-format", help="strptime format of the date column, e.g. %m/%d/%Y.")
@click.option("--negate", is_flag=True,
              help="Flip signs (card exports that list purchases as positive).")
@click.option("--no-categorise", "no_categorise", is_flag=True,
              help="Leave new rows uncategorised.")
def import_command(file: Path, account: str, db: str, user: str | None, skip_invalid: bool,
                   mapping: tuple[str, ...], date_format: str | None, negate: bool,
                   no_categorise: bool) -> None:
    """Import a CSV or OFX/QFX bank export into ACCOUNT, all rows or none."""
    try:
        options = ImportOptions(
            csv=CsvOptions(mapping=parse_mapping(mapping), date_format=date_format,
                           negate=negate),
            skip_invalid=skip_invalid,
            categorise=not no_categorise,
        )
        with _ledger(db, user) as (sessions, user_id):
            report = import_path(sessions, file, user_id=user_id, account=account,
                                 options=options)
    except ImportRejected as exc:
        _echo_errors(exc.errors, file.name)
        raise UserError(str(exc)) from None
    _echo_report(report)


def _echo_report(report: ImportReport) -> None:
    if report.already_imported_as is not None:
        click.echo(f"{report.filename} was already imported into {report.account} as batch "
                   f"{report.already_imported_as}; nothing to do.")
        return
    categorised = (report.categorised_by_rule + report.categorised_by_model
                   + report.categorised_by_default)
    click.echo(
        f"Imported {report.rows_added} of {report.rows_read} rows from {report.filename} "
        f"into {report.account} (batch {report.batch_id}): {report.rows_duplicate} "
        f"duplicates skipped, {report.rows_invalid} invalid; {categorised} categorised "
        f"({report.categorised_by_rule} by rule, {report.categorised_by_model} by model, "
        f"{report.categorised_by_default} by default table)."
    )
    details = "; ".join(f"{k}: {v}" for k, v in report.details.items())
    click.echo(f"Read as {report.file_format.upper()}: {details}")
    for note in report.notes:
        click.echo(f"Note: {note}")
    _echo_errors(report.errors, report.filename, header="Skipped invalid rows:")


def _echo_errors(errors: list[Any], filename: str, header: str = "Invalid rows:") -> None:
    if not errors:
        return
    click.echo(header, err=True)
    for error in errors[:_ERRORS_SHOWN]:
        click.echo(f"  {error.describe(filename)}", err=True)
    if len(errors) > _ERRORS_SHOWN:
        click.echo(f"  ... and {len(errors) - _ERRORS_SHOWN} more", err=True)


# ---------------------------------------------------------------- imports list / undo


@click.group("imports")
def imports_group() -> None:
    """List or undo past imports."""


@imports_group.command("list")
@_ledger_options
def imports_list(db: str, user: str | None) -> None:
    """Every import of the user, newest first."""
    with _ledger(db, user) as (sessions, user_id):
        batches = list_imports(sessions, user_id=user_id)
    if not batches:
        click.echo("No imports yet.")
        return
    click.echo(f"{'id':>5}  {'when':16}  {'account':14}  {'format':6}  {'added':>7}  "
               f"{'dupes':>6}  {'invalid':>7}  {'present':>7}  file")
    for b in batches:
        click.echo(f"{b.id:>5}  {b.created_at:%Y-%m-%d %H:%M}  {b.account[:14]:14}  "
                   f"{b.file_format:6}  {b.rows_added:>7}  {b.rows_duplicate:>6}  "
                   f"{b.rows_invalid:>7}  {b.rows_present:>7}  {b.filename}")


@imports_group.command("undo")
@click.argument("batch_id", type=int)
@_ledger_options
def imports_undo(batch_id: int, db: str, user: str | None) -> None:
    """Delete import BATCH_ID and every transaction it added."""
    try:
        with _ledger(db, user) as (sessions, user_id):
            deleted = undo_import(sessions, user_id=user_id, batch_id=batch_id)
    except ImportRejected as exc:
        raise UserError(str(exc)) from None
    click.echo(f"Undid import {batch_id}: {deleted} transactions deleted.")


# ---------------------------------------------------------------- tx add / edit / delete


@click.group("tx")
def tx_group() -> None:
    """Add, edit or delete single transactions."""


@tx_group.command("add")
@click.option("--account", required=True)
@click.option("--date", "date", required=True, help="YYYY-MM-DD.")
@click.option("--amount", required=True, help="Signed: -12.50 for money out.")
@click.option("--payee", required=True)
@click.option("--memo")
@click.option("--category", help="Default: your rules and the learned model decide.")
@_ledger_options
def tx_add(account: str, date: str, amount: str, payee: str, memo: str | None,
           category: str | None, db: str, user: str | None) -> None:
    """Add a transaction."""
    with _ledger(db, user) as (sessions, user_id), _entry_errors():
        view = add_transaction(sessions, user_id=user_id, account=account, date=date,
                               amount=amount, payee=payee, memo=memo, category=category)
    click.echo(f"Added {_describe(view)}")


@tx_group.command("edit")
@click.argument("transaction_id", type=int)
@click.option("--account")
@click.option("--date", "date", help="YYYY-MM-DD.")
@click.option("--amount")
@click.option("--payee")
@click.option("--memo", help='"" clears it.')
@click.option("--category", help='"" clears it; a new category is learned at --retrain.')
@_ledger_options
def tx_edit(transaction_id: int, account: str | None, date: str | None, amount: str | None,
            payee: str | None, memo: str | None, category: str | None, db: str,
            user: str | None) -> None:
    """Change fields of transaction TRANSACTION_ID."""
    changes: dict[str, Any] = {
        "account": UNSET if account is None else account,
        "date": UNSET if date is None else date,
        "amount": UNSET if amount is None else amount,
        "payee": UNSET if payee is None else payee,
        "memo": UNSET if memo is None else (memo or None),
        "category": UNSET if category is None else (category or None),
    }
    if all(value is UNSET for value in changes.values()):
        raise UserError("nothing to change: pass --date, --amount, --payee, --memo, "
                        "--category or --account")
    with _ledger(db, user) as (sessions, user_id), _entry_errors():
        view = edit_transaction(sessions, user_id=user_id, transaction_id=transaction_id,
                                **changes)
    click.echo(f"Updated {_describe(view)}")


@tx_group.command("delete")
@click.argument("transaction_id", type=int)
@_ledger_options
def tx_delete(transaction_id: int, db: str, user: str | None) -> None:
    """Delete transaction TRANSACTION_ID."""
    with _ledger(db, user) as (sessions, user_id), _entry_errors():
        delete_transaction(sessions, user_id=user_id, transaction_id=transaction_id)
    click.echo(f"Deleted transaction {transaction_id}.")


@contextmanager
def _entry_errors() -> Iterator[None]:
    try:
        yield
    except EntryError as exc:
        raise UserError(str(exc)) from None


def _describe(view: EntryView) -> str:
    category = view.category or "uncategorised"
    memo = f" ({mask_sensitive_text(view.memo)})" if view.memo else ""
    return (f"#{view.id} {view.date} {view.account}: {view.payee}{memo} "
            f"{view.amount} {view.currency} [{category}]")


# ---------------------------------------------------------------- categorize


@click.command("categorize")
@click.option("--retrain", is_flag=True,
              help="Rebuild the model from your current categories (your corrections "
                   "included) and report its cross-validated accuracy.")
@_ledger_options
def categorize_command(retrain: bool, db: str, user: str | None) -> None:
    """Categorise uncategorised transactions: your rules first, then the learned model."""
    with _ledger(db, user) as (sessions, user_id):
        report = categorise_ledger(sessions, user_id, retrain=retrain)
        if retrain:
            with sessions() as session:
                examples, labels = training_data(session, user_id)
    trained = (f"model trained on {report.trained_on} transactions"
               if report.trained_on else "no model (too few categorised transactions)")
    click.echo(f"Examined {report.examined} uncategorised transactions: {report.by_rule} by "
               f"rule, {report.by_model} by model, {report.by_default} by default table, "
               f"{report.left_uncategorised} left; {trained}.")
    if retrain and report.trained_on:
        try:
            quality = evaluate(examples, labels)
        except ValueError as exc:
            click.echo(f"No cross-validation: {exc}.")
            return
        click.echo(
            f"Cross-validated ({quality.folds} folds, {quality.rows} rows, "
            f"{quality.categories} categories): accuracy {quality.accuracy:.3f}, macro-F1 "
            f"{quality.macro_f1:.3f}, coverage {quality.coverage:.3f} (accuracy when it "
            f"answers {quality.accuracy_when_confident:.3f})."
        )


# ---------------------------------------------------------------- recurring


@click.command("recurring")
@click.option("--direction", type=click.Choice(["outflow", "inflow", "any"]),
              default="outflow", show_default=True)
@click.option("--all", "include_inactive", is_flag=True, help="Include stopped series.")
@click.option("--increases", is_flag=True, help="Only series whose price went up.")
@click.option("--today", help="As of this day, YYYY-MM-DD (default: last transaction date).")
@_ledger_options
def recurring_command(direction: str, include_inactive: bool, increases: bool,
                      today: str | None, db: str, user: str | None) -> None:
    """Recurring payments: cadence, typical amount, next date and price changes."""
    try:
        as_of = dt.date.fromisoformat(today) if today else None
        params = RecurringInput(direction=direction, include_inactive=include_inactive,
                                only_price_increases=increases)
    except ValueError as exc:
        raise UserError(f"--today: {exc}") from None
    with _ledger(db, user) as (sessions, user_id):
        if as_of is None:
            with sessions() as session:
                as_of = queries.ledger_today(session, user_id) or dt.date.today()
        result = recurring_payments(ToolContext(sessions=sessions, user_id=user_id,
                                                today=as_of), params)
    if not result.items:
        click.echo(f"No recurring {direction} payments found as of {as_of}.")
        return
    click.echo(f"{'payee':28}  {'cadence':9}  {'amount':>10}  {'per month':>10}  "
               f"{'next':10}  changes")
    for item in result.items:
        changes = ", ".join(f"{c.date}: {c.old_amount} -> {c.new_amount}"
                            for c in item.price_changes) or "-"
        typical = f"~{item.typical_amount}" if item.amount_varies else str(item.typical_amount)
        status = "" if item.active else " (stopped?)"
        click.echo(f"{item.payee[:28]:28}  {item.cadence:9}  {typical:>10}  "
                   f"{item.monthly_equivalent:>10}  {item.next_expected}  {changes}{status}")
    for total in result.monthly_total:
        click.echo(f"Active outflows per month: {total.amount} {total.currency}")


COMMANDS: tuple[click.Command, ...] = (
    import_command, imports_group, tx_group, categorize_command, recurring_command,
)
"""What ``cli.main`` adds: ``for command in COMMANDS: main.add_command(command)``."""
