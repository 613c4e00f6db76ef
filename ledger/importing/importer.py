"""Importing one file into one account: all of it in one database transaction, or nothing.

The whole import (reading existing ids, the ``ImportBatch`` row, every transaction, the
batch's counts) runs inside a single transaction that commits at the end. A bad row rejects
the file with the file, line and field named, unless ``skip_invalid`` is set, in which case
the good rows are imported and the bad ones reported. Because nothing commits before the
end, an exception, a crash or a ``SIGKILL`` half way through leaves the database exactly as
it was (SQLite discards an uncommitted WAL tail; PostgreSQL aborts the transaction).
Undo deletes a batch's rows and the batch record, again in one transaction.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ledger.account_numbers import record_account_number
from ledger.categorise import Categoriser
from ledger.importing.bulk import indexes_built_after, insert_columns
from ledger.importing.content import check_content, check_size, detect_format
from ledger.importing.csv_reader import CsvOptions, read_csv
from ledger.importing.dedupe import Deduplicator
from ledger.importing.errors import ImportConflict, ImportNotFound, ImportRejected
from ledger.importing.ofx_reader import read_ofx
from ledger.importing.records import ImportLimits, ParsedFile, RowBatch, RowError
from ledger.models import Account, ImportBatch, Transaction


@dataclass(frozen=True)
class ImportOptions:
    """How to import; the defaults detect everything and reject a file with any bad row."""

    csv: CsvOptions = field(default_factory=CsvOptions)
    skip_invalid: bool = False
    categorise: bool = True
    limits: ImportLimits = field(default_factory=ImportLimits)
    model_dir: Path | None = None
    """Where the categorisation model is kept (``None``: the default model directory)."""


@dataclass
class ImportReport:
    """What an import did, for the CLI and the API."""

    filename: str
    account: str
    file_format: str
    batch_id: int | None = None
    rows_read: int = 0
    rows_added: int = 0
    rows_duplicate: int = 0
    rows_invalid: int = 0
    categorised_by_rule: int = 0
    categorised_by_model: int = 0
    categorised_by_default: int = 0
    """From the built-in payee table (ledger/default_rules.py): a new user's first import."""
    errors: list[RowError] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    already_imported_as: int | None = None
    """The batch that already holds this exact file; nothing was imported again."""


@dataclass(frozen=True)
class BatchSummary:
    id: int
    account: str
    filename: str
    file_format: str
    created_at: dt.datetime
    rows_read: int
    rows_added: int
    rows_duplicate: int
    rows_invalid: int
    rows_present: int
    """Rows of the batch still in the ledger (edits and deletes since the import show here)."""


def import_path(
    sessions: sessionmaker[Session],
    path: str | Path,
    *,
    user_id: int,
    account: str,
    options: ImportOptions | None = None,
) -> ImportReport:
    """Import the file at ``path``; its size is checked before it is read.

    Raises:
        ImportRejected: see ``import_bytes``; also a missing or unreadable file.
    """
    options = options or ImportOptions()
    path = Path(path)
    try:
        check_size(path.stat().st_size, path.name, options.limits)
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(f"cannot read {path}: {exc.strerror or exc}") from None
    return import_bytes(sessions, data, filename=path.name, user_id=user_id, account=account,
                        options=options)


def import_bytes(
    sessions: sessionmaker[Session],
    data: bytes,
    *,
    filename: str,
    user_id: int,
    account: str,
    options: ImportOptions | None = None,
) -> ImportReport:
    """Import ``data`` (CSV or OFX/QFX, detected from the content) into ``account``.

    Args:
        sessions: the session factory; the import opens and commits its own transaction.
        data: the file's bytes.
        filename: the name to record and to quote in messages.
        user_id: the owner; ``account`` is looked up among this user's accounts only.
        account: the account's name (case-insensitive).
        options: detection overrides, ``skip_invalid``, limits.

    Raises:
        ImportRejected: nothing was written; the message names the file and, for bad rows,
            the first line and field (``.errors`` holds every bad row). Subclasses:
            ``ImportNotFound`` (no such account), ``ImportTooLarge``, ``ImportConflict``
            (the database refused the write; trying again may work).
    """
    options = options or ImportOptions()
    filename = Path(filename).name[:255] or "upload"
    check_content(data, filename, options.limits)
    digest = hashlib.sha256(data).hexdigest()
    try:
        return _import(sessions, data, digest, filename, user_id, account, options)
    except (IntegrityError, OperationalError) as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0][:200]
        raise ImportConflict(
            f"{filename}: the database refused the import ({reason}); nothing was imported. "
            "Another import into the same account at the same time? Try again."
        ) from None


def _import(
    sessions: sessionmaker[Session],
    data: bytes,
    digest: str,
    filename: str,
    user_id: int,
    account: str,
    options: ImportOptions,
) -> ImportReport:
    """The import proper, in one transaction (see ``import_bytes``)."""
    with _collector_paused(), sessions.begin() as session:
        target = find_account(session, user_id, account)
        report = ImportReport(filename=filename, account=target.name,
                              file_format=detect_format(data))
        previous = session.scalar(
            select(ImportBatch.id).where(
                ImportBatch.account_id == target.id, ImportBatch.file_sha256 == digest
            )
        )
        if previous is not None:
            report.already_imported_as = previous
            return report
        parsed = _read(data, filename, target, report.file_format, options)
        report.details, report.notes = parsed.details, parsed.notes
        report.rows_read = parsed.rows_read
        _reject_bad_rows(filename, parsed, options)  # a reader that found them already
        _store(session, target, parsed, digest, filename, report, options)
        report.errors = parsed.errors
        report.rows_invalid = len(parsed.errors)
        _reject_bad_rows(filename, parsed, options)  # found while storing: all rolled back
        if parsed.account_number:
            record_account_number(session, target, parsed.account_number,
                                  card=parsed.account_is_card)
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for one import.

    Parsing a large file creates hundreds of thousands of objects that live until the
    insert, and they keep triggering full collections, each rescanning every object the
    process holds (about 150k from SQLAlchemy, pandas and scikit-learn alone): a fifth of
    the time of a 200k-row import. An import creates no reference cycles and reference
    counting still frees everything else, so nothing accumulates; the collector resumes
    when the import ends, however it ends (and only if it was running: concurrent imports
    cannot leave it off).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read(
    data: bytes, filename: str, account: Account, file_format: str, options: ImportOptions
) -> ParsedFile:
    """The file, its CSV rows still to be parsed (see ``_store``)."""
    if file_format == "ofx":
        return read_ofx(data, filename=filename, account=account, limits=options.limits)
    return read_csv(data, filename=filename, currency=account.currency, options=options.csv,
                    limits=options.limits, lazy=True)


def _reject_bad_rows(filename: str, parsed: ParsedFile, options: ImportOptions) -> None:
    if parsed.errors and not options.skip_invalid:
        raise ImportRejected(_rejection(filename, parsed.errors), parsed.errors)


def _rejection(filename: str, errors: list[RowError]) -> str:
    first = errors[0].describe(filename)
    more = f" (and {len(errors) - 1} more bad rows)" if len(errors) > 1 else ""
    return f"{first}{more}; nothing was imported (--skip-invalid imports the good rows)"


def _store(
    session: Session,
    account: Account,
    parsed: ParsedFile,
    digest: str,
    filename: str,
    report: ImportReport,
    options: ImportOptions,
) -> None:
    """Insert the batch and its new rows; the caller's transaction commits them.

    One pipeline from the file to the database: a CSV file's rows are parsed,
    de-duplicated, categorised and converted a batch at a time while the previous batches
    are being inserted (on SQLite in a worker thread, see ``ledger.importing.bulk``), so
    the import takes about as long as the database's own work. What the pipeline needs from
    the database (existing source ids, rows of other sources, rules and model) is read
    before it starts. A file with bad rows is found out while its good rows are stored, and
    ``import_bytes`` then rolls all of it back.
    """
    batch = ImportBatch(
        user_id=account.user_id,
        account_id=account.id,
        filename=filename,
        file_sha256=digest,
        file_format=parsed.file_format,
        rows_read=parsed.rows_read,
        rows_added=0,
        rows_skipped_duplicate=0,
        rows_invalid=0,
    )
    session.add(batch)
    session.flush()
    report.batch_id = batch.id
    if parsed.rows_read:
        _insert_new_rows(session, account, parsed, batch.id, report, options)
    batch.rows_added = report.rows_added
    batch.rows_skipped_duplicate = report.rows_duplicate
    batch.rows_invalid = len(parsed.errors)


def _insert_new_rows(session: Session, account: Account, parsed: ParsedFile, batch_id: int,
                     report: ImportReport, options: ImportOptions) -> None:
    """The pipeline of ``_store``: set up from the database, then run and inserted."""
    deduplicator = Deduplicator(session, account_id=account.id, file_format=parsed.file_format,
                                date_range=parsed.date_range())
    categoriser = (Categoriser.for_user(session, account.user_id, directory=options.model_dir)
                   if options.categorise else None)
    scoring = categoriser is not None and categoriser.classifier is not None
    batches = parsed.batches(_MODEL_BATCH_ROWS if scoring else _BATCH_ROWS,
                             reverse=parsed.newest_first())
    rows = _prepared(batches, parsed, deduplicator,
                     categoriser if categoriser is not None and categoriser.active else None,
                     report, strict=not options.skip_invalid)
    constants = {"user_id": account.user_id, "account_id": account.id,
                 "currency": account.currency, "is_transfer": False, "import_id": batch_id}
    connection, table = session.connection(), Transaction.__table__
    with indexes_built_after(connection, table, adding=parsed.rows_read,
                             constant=_CONSTANT_COLUMNS, ascending=("date",)) as drop:
        insert_columns(connection, table, _INSERT_COLUMNS, rows, constants=constants,
                       before_first_insert=drop)
    report.rows_duplicate = deduplicator.duplicates


_BATCH_ROWS = 2_000
"""Rows parsed, de-duplicated, categorised and inserted at a time: one statement each
(``ledger.importing.bulk._ROWS_PER_STATEMENT``). Small batches keep both threads busy: the
worker never holds the GIL long in one C call while the inserting thread waits for it, and
the first insert starts early. Imports of ``bench/bench_import.py``'s 200,000 rows, best of
4: 2.22 s with batches of 10,000 cut into statements of 1,000; 1.73-1.79 s with batches of
1,000-2,000, one statement each; 1.86 s with 3,000 or 500 (docs/import.md)."""
_MODEL_BATCH_ROWS = 20_000
"""The batch size when a trained classifier scores the rows: each call has a fixed cost
(scoring 200,000 rows: 10.9 s in one call, 11.4 s in chunks of 20,000, 16.7 s in chunks of
2,000), which outweighs everything else."""


def _prepared(
    batches: Iterator[RowBatch],
    parsed: ParsedFile,
    deduplicator: Deduplicator,
    categoriser: Categoriser | None,
    report: ImportReport,
    *,
    strict: bool,
) -> Iterator[list[Sequence[Any]]]:
    """The new rows of each batch, a column at a time in ``_INSERT_COLUMNS`` order.

    A generator, so that on SQLite all of this runs in the insert's worker thread while
    earlier rows are being inserted; the report's counts are complete once it is exhausted.
    Once a ``strict`` import has met a bad row nothing more is stored (it will be rolled
    back), but the rest of the file is still read, so that every bad row is reported.
    """
    for batch in batches:
        if strict and parsed.errors:
            continue
        fresh, source_ids = deduplicator.fresh(batch)
        if not fresh.size:
            continue
        categories: Sequence[int | None] = [None] * fresh.size
        if categoriser is not None:
            categories, sources = categoriser.categories(fresh.payees, fresh.memos,
                                                         fresh.amounts)
            counts = Counter(sources)
            report.categorised_by_rule += counts["rule"]
            report.categorised_by_model += counts["model"]
            report.categorised_by_default += counts["default"]
        report.rows_added += fresh.size
        yield [fresh.dates, fresh.amounts, fresh.payees, fresh.memos, categories, source_ids]


_CONSTANT_COLUMNS = ("user_id", "account_id", "currency", "is_transfer", "import_id",
                     "transfer_id")
"""Columns with one value in all of an import's rows (``transfer_id`` is always NULL); the
rows arrive in date order (see ``ledger.importing.bulk.indexes_built_after``)."""
_INSERT_COLUMNS = ("date", "amount", "payee", "memo", "category_id", "source_id")


def find_account(session: Session, user_id: int, name: str) -> Account:
    """The user's account called ``name`` (case-insensitive).

    Raises:
        ImportNotFound: no such account; the message lists this user's accounts only.
    """
    accounts = session.scalars(select(Account).where(Account.user_id == user_id)).all()
    for candidate in accounts:
        if candidate.name.casefold() == name.strip().casefold():
            return candidate
    names = ", ".join(sorted(a.name for a in accounts)) or "none"
    raise ImportNotFound(f"no account named {name!r}; your accounts: {names}")


def list_imports(sessions: sessionmaker[Session], *, user_id: int) -> list[BatchSummary]:
    """The user's import batches, newest first."""
    with sessions() as session:
        present = (
            select(Transaction.import_id, func.count().label("n"))
            .where(Transaction.user_id == user_id, Transaction.import_id.is_not(None))
            .group_by(Transaction.import_id)
            .subquery()
        )
        rows = session.execute(
            select(ImportBatch, Account.name, func.coalesce(present.c.n, 0))
            .join(Account, Account.id == ImportBatch.account_id)
            .outerjoin(present, present.c.import_id == ImportBatch.id)
            .where(ImportBatch.user_id == user_id)
            .order_by(ImportBatch.id.desc())
        ).all()
    return [
        BatchSummary(
            id=b.id, account=name, filename=b.filename, file_format=b.file_format,
            created_at=b.created_at, rows_read=b.rows_read, rows_added=b.rows_added,
            rows_duplicate=b.rows_skipped_duplicate, rows_invalid=b.rows_invalid,
            rows_present=int(count),
        )
        for b, name, count in rows
    ]


_LARGEST_ID = {"postgresql": 2**31 - 1}


def fits_id(session: Session, value: int) -> bool:
    """Whether ``value`` can be an id of this database's INTEGER keys (PostgreSQL: 32 bits,
    SQLite: 64). Ids from a URL or the command line may be any integer; the driver refuses to
    send one that does not fit instead of finding nothing."""
    return 1 <= value <= _LARGEST_ID.get(session.get_bind().dialect.name, 2**63 - 1)


def undo_import(sessions: sessionmaker[Session], *, user_id: int, batch_id: int) -> int:
    """Delete batch ``batch_id`` and every transaction it added; the number of rows deleted.

    Rows edited since the import go too: they came from the file being undone.

    Raises:
        ImportNotFound: the user has no such batch (another user's batch looks the same).
    """
    with sessions.begin() as session:
        batch = session.scalar(
            select(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.user_id == user_id)
        ) if fits_id(session, batch_id) else None
        if batch is None:
            raise ImportNotFound(f"no import with id {batch_id}")
        deleted = session.execute(
            delete(Transaction).where(
                Transaction.import_id == batch_id, Transaction.user_id == user_id
            )
        ).rowcount
        session.delete(batch)
    return int(deleted or 0)

