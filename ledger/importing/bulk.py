"""Writing an import's rows: straight to the driver, SQLite's inserts overlapped with Python.

An import spends about as long preparing its rows in Python (parsing, de-duplicating,
categorising, converting each value for its column, encrypting memos) as SQLite spends
inserting them. The ``sqlite3`` module releases the GIL while a statement runs, so on SQLite
a worker thread prepares the next statements' rows while the calling thread inserts the
current one. Only the calling
thread ever touches the connection, and it stays inside the caller's transaction: if either
thread fails, the worker is stopped and the original exception propagates from here, so the
caller's transaction rolls back everything, as before. A large insert into a small table
also builds the indexes it would reach at scattered places after the rows instead of entry
by entry (``indexes_built_after``). Values are converted a column at a time: a column type
with a ``bind_many`` method (``Cents``, ``EncryptedString``) converts a whole column in one
call.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Date, Table, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

_ROWS_PER_STATEMENT = 2000
"""Rows per ``INSERT`` on SQLite (fewer where the driver allows fewer parameters); the
importer's batches are this size, one statement each (``importer._BATCH_ROWS``)."""
_ROWS_PER_EXECUTEMANY = 5000
"""Other databases: rows converted and sent per ``executemany``."""
_QUEUE_DEPTH = 4
"""Statements prepared ahead: enough to keep SQLite busy, little memory."""
_MEMOISED_TYPES = (Date,)
"""Column types without ``bind_many`` whose bind conversion is a pure function of the value,
converted once per distinct value. Never an encrypted column: each value must get its own
nonce, or equal memos would be stored as equal ciphertexts."""

ColumnConverter = Callable[[Sequence[Any]], Sequence[Any]]
Columns = Sequence[Sequence[Any]]
"""A batch of rows a column at a time: one sequence per column, all of one length."""


def insert_columns(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    batches: Iterable[Columns],
    *,
    constants: Mapping[str, Any] | None = None,
    before_first_insert: Callable[[], None] | None = None,
) -> None:
    """Insert ``batches`` of rows given a column at a time (in ``columns`` order), with each
    column's bind conversion; ``constants`` are the values of the other columns, the same in
    every row.

    ``batches`` may be a lazy iterator: on SQLite it is consumed by the worker thread, so the
    work of producing each batch overlaps the inserts too. SQLAlchemy's executemany would
    build and process a parameter dict per row, which costs more than the database's own
    insert; here each column is converted with one call (dates once per distinct value,
    memos encrypted in bulk). ``before_first_insert`` runs once, just before the first rows
    are sent, if any are.
    """
    first = _once(before_first_insert)
    dialect = connection.dialect
    converters = _converters(table, columns, dialect)
    fixed = _bound_constants(table, constants or {}, dialect)
    if dialect.name == "sqlite":
        _insert_sqlite(connection, table, columns, fixed, converters, batches, first)
        return
    if dialect.driver == "psycopg":
        _copy_postgresql(connection, table, columns, fixed, converters, batches, first)
        return
    names = [*columns, *fixed]
    compiled = table.insert().compile(dialect=dialect, column_keys=names)
    order = ([names.index(key) for key in compiled.positiontup or ()] if compiled.positional
             else range(len(names)))
    for batch in _split(batches, _ROWS_PER_EXECUTEMANY):
        count = len(batch[0])
        full = [*_convert(batch, converters, range(len(columns))),
                *([value] * count for value in fixed.values())]
        rows = list(zip(*(full[i] for i in order), strict=True))
        first()
        connection.exec_driver_sql(
            compiled.string,
            rows if compiled.positional else [dict(zip(names, row, strict=True)) for row in rows]
        )


def _bound_constants(table: Table, constants: Mapping[str, Any], dialect: Dialect
                     ) -> dict[str, Any]:
    """``constants`` with their columns' bind conversion (booleans, cents...)."""
    converters = _converters(table, list(constants), dialect)
    return {name: value if convert is None else convert([value])[0]
            for (name, value), convert in zip(constants.items(), converters, strict=True)}


def _once(action: Callable[[], None] | None) -> Callable[[], None]:
    """``action``, run by the first call only."""
    pending = [action] if action is not None else []

    def run() -> None:
        while pending:
            pending.pop()()

    return run


def _converters(
    table: Table, columns: Sequence[str], dialect: Dialect
) -> list[ColumnConverter | None]:
    """The dialect's bind conversion of each column, applied a column at a time (``Cents``;
    dates on SQLite, which the driver's deprecated default adapter would otherwise handle;
    encryption of memos)."""
    converters: list[ColumnConverter | None] = []
    for name in columns:
        kind = table.c[name].type
        bulk = getattr(kind, "bind_many", None)
        convert = kind.dialect_impl(dialect).bind_processor(dialect)
        if bulk is not None:
            converters.append(partial(_bind_many, bulk, dialect))
        elif convert is None:
            converters.append(None)
        elif isinstance(kind, _MEMOISED_TYPES):
            converters.append(partial(_each_distinct, convert))
        else:
            converters.append(partial(_each, convert))
    return converters


def _bind_many(bulk: Callable[..., list[Any]], dialect: Dialect,
               values: Sequence[Any]) -> list[Any]:
    return bulk(values, dialect)


def _each(convert: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    return list(map(convert, values))


def _each_distinct(convert: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    """``convert`` of each value, called once per distinct value (a file has a few hundred
    dates)."""
    converted = {value: convert(value) for value in set(values)}
    return list(map(converted.__getitem__, values))


def _convert(
    batch: Columns, converters: list[ColumnConverter | None], order: Iterable[int]
) -> list[Sequence[Any]]:
    """The columns of ``batch`` converted, in the statement's parameter ``order``."""
    return [batch[i] if converters[i] is None else converters[i](batch[i])  # type: ignore[misc]
            for i in order]


def _split(batches: Iterable[Columns], size: int) -> Iterator[Columns]:
    """``batches`` cut into batches of at most ``size`` rows (empty ones dropped)."""
    for batch in batches:
        rows = len(batch[0]) if batch else 0
        for start in range(0, rows, size):
            yield [column[start:start + size] for column in batch]


def _insert_sqlite(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    constants: Mapping[str, Any],
    converters: list[ColumnConverter | None],
    batches: Iterable[Columns],
    first: Callable[[], None],
) -> None:
    """Insert ``batches`` with up to ``_ROWS_PER_STATEMENT`` rows per statement
    (``constants`` already bound).

    An INSERT into a table with a trigger is a multi-write statement to SQLite: it opens a
    statement journal so that the statement can be undone alone, and saves in it each page
    the statement changes. ``executemany`` runs one statement per row, so every row paid
    that for each b-tree it touches. Measured on 200,000 rows (CPU seconds, this schema):
    executemany 4.0 with the ``account_month_totals`` trigger, 3.6 with a trigger whose
    ``WHEN`` is false, 2.0 without a trigger; a thousand rows per statement 1.7 with the
    trigger, 1.5 without. Statements of the same size reuse the driver's prepared statement.

    The constants are bound once per statement, ``INSERT ... SELECT column1, ..., ? FROM
    (VALUES ...)``, not once per row: binding is Python work, and an import's constant
    columns (user, account, currency, batch...) are half of its parameters.
    """
    target = _target(connection, table, [*columns, *constants])
    picked = ", ".join([*(f"column{i + 1}" for i in range(len(columns))), *"?" * len(constants)])
    head = (f"INSERT INTO {target} SELECT {picked} FROM (VALUES " if constants
            else f"INSERT INTO {target} VALUES ")
    tail = ")" if constants else ""
    group = f"({', '.join('?' * len(columns))})"
    driver = connection.connection.driver_connection
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
    per_statement = max(1, min(_ROWS_PER_STATEMENT, (limit - len(constants)) // len(columns)))
    fixed = tuple(constants.values())
    everything = range(len(columns))

    def statements() -> Iterator[tuple[int, tuple[Any, ...]]]:
        for batch in batches:
            converted = _convert(batch, converters, everything)
            rows = len(converted[0]) if converted else 0
            for start in range(0, rows, per_statement):
                part = [column[start:start + per_statement] for column in converted]
                yield len(part[0]), fixed + tuple(chain.from_iterable(zip(*part, strict=True)))

    with _Prefetcher(statements()) as prepared:
        for count, parameters in prepared:
            first()
            connection.exec_driver_sql(head + ", ".join([group] * count) + tail, parameters)


def _target(connection: Connection, table: Table, names: Sequence[str]) -> str:
    """``"table" ("column", ...)``, quoted for the connection's database."""
    quote = connection.dialect.identifier_preparer.quote
    return f"{quote(table.name)} ({', '.join(quote(name) for name in names)})"


def _copy_postgresql(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    constants: Mapping[str, Any],
    converters: list[ColumnConverter | None],
    batches: Iterable[Columns],
    first: Callable[[], None],
) -> None:
    """Insert ``batches`` on PostgreSQL (psycopg 3) with one ``COPY ... FROM STDIN``
    (``constants`` already bound).

    One statement for the whole import: the totals triggers fire once, over its transition
    table (``ledger.models``), and the server parses no SQL per row. 200,000 rows: 15.7 s as
    ``executemany`` with a row-level trigger, 4.0 s copied with statement-level ones. A
    refusal (a duplicate source id) surfaces as SQLAlchemy's exception, as from any other
    statement, so the import reports it the same way.
    """
    filled = (batch for batch in batches if batch and len(batch[0]))
    head = next(filled, None)
    if head is None:
        return
    first()
    sql = f"COPY {_target(connection, table, [*columns, *constants])} FROM STDIN"
    fixed = tuple(constants.values())
    everything = range(len(columns))
    dbapi = connection.dialect.dbapi
    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for batch in chain([head], filled):
                for row in zip(*_convert(batch, converters, everything), strict=True):
                    copy.write_row(row + fixed)
    except dbapi.Error as exc:  # type: ignore[union-attr]
        raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc  # type: ignore[union-attr]


@contextmanager
def indexes_built_after(
    connection: Connection,
    table: Table,
    *,
    adding: int,
    constant: Collection[str] = (),
    ascending: Collection[str] = (),
) -> Iterator[Callable[[], None]]:
    """On SQLite, for a bulk insert of ``adding`` rows that at least doubles ``table``, drop
    the secondary indexes that the rows would reach at scattered places, and build them
    again after the rows, in the same transaction.

    Yields the function that drops them: call it just before the first insert (an import
    whose rows all turn out to be duplicates then costs no rebuild). ``constant`` names the
    columns that have one value in every new row and ``ascending`` those whose values arrive
    in ascending order: an index whose columns up to the first ascending one are all
    constant receives its entries at its right edge, where SQLite appends without splitting
    pages, and is kept. Any other index (say on the payee or the category after the user)
    receives them at hundreds of places at once, and inserting into a b-tree there splits
    pages over and over; ``CREATE INDEX`` sorts the entries and writes each page once
    instead. The rebuild reads the whole table, hence only when the insert is at least as
    large as what is there.

    The indexes are the ones the database has, re-created from its own ``CREATE INDEX`` text:
    a ledger created by an older version keeps exactly its indexes. Atomic like the rest of
    the insert: a failure inside the block leaves the indexes to the caller's rollback, which
    restores them with everything else (nothing is committed in between, and other
    connections see the old schema and rows until the commit). Unique constraints stay (their
    automatic indexes have no ``CREATE`` text): they are the last check against duplicate
    source ids. PostgreSQL is left alone: there ``DROP INDEX`` would lock readers out of the
    table until the commit.
    """
    if connection.dialect.name != "sqlite" or adding < _rows_in(connection, table):
        yield _nothing
        return
    indexes = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name", (table.name,)
    ).all()
    scattered = [(name, create) for name, create in indexes
                 if not _grows_at_the_end(_index_columns(connection, name), constant, ascending)]
    quote = connection.dialect.identifier_preparer.quote
    dropped: list[str] = []

    def drop() -> None:
        for name, create in scattered:
            connection.exec_driver_sql(f"DROP INDEX {quote(name)}")
            dropped.append(create)

    yield drop
    for create in dropped:
        connection.exec_driver_sql(create)


def _nothing() -> None:
    """Nothing to drop."""


def _index_columns(connection: Connection, name: str) -> list[str | None]:
    """The columns of index ``name`` in order (``None`` for an expression)."""
    quoted = connection.dialect.identifier_preparer.quote(name)
    rows = connection.exec_driver_sql(f"PRAGMA index_info({quoted})").all()
    return [column for _, _, column in sorted(rows)]


def _grows_at_the_end(
    columns: Sequence[str | None], constant: Collection[str], ascending: Collection[str]
) -> bool:
    """Whether an index on ``columns`` receives new rows' entries at its right edge: its
    columns up to the first ascending one are all constant."""
    for column in columns:
        if column in ascending:
            return True
        if column not in constant:
            return False
    return True


def _rows_in(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


class _Failed:
    """The worker's exception, handed to the consuming thread to raise."""

    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


class _Prefetcher:
    """Runs ``items`` in a worker thread, a few items ahead of the consumer.

    The worker's exception is raised from ``__iter__`` in the consuming thread (its traceback
    kept). Leaving the ``with`` block, however it is left, stops the worker and waits for it:
    nothing of the import runs on after the caller has rolled back.
    """

    def __init__(self, items: Iterator[Any]):
        self._items = items
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-prepare", daemon=True)

    def __enter__(self) -> Iterator[Any]:
        self._thread.start()
        return self._consume()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with suppress(queue.Empty):  # unblock a worker waiting on a full queue
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _run(self) -> None:
        try:
            for item in self._items:
                if self._stop.is_set() or not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # re-raised by the consumer
            self._put(_Failed(exc))

    def _put(self, item: object) -> bool:
        """Queue ``item``, giving up when the consumer has stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _consume(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

