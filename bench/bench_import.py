"""CSV import throughput into SQLite, against raw ``sqlite3`` inserts of the same rows.

    python bench/bench_import.py [--rows 200000] [--repeat 3] [--with-model] [--postgres URL]

Generates a deterministic bank-style CSV (DD/MM/YYYY dates, decimal amounts, noisy card
descriptors from a few hundred merchants, half the rows with a memo), imports it with
``import_path`` into a fresh SQLite file (detection, parsing, payee cleaning, hashing,
de-duplication, categorisation lookup, memo encryption under a throwaway key, one
transaction) and checks the stored rows (count, sum of the amounts, every memo encrypted).
Then inserts the very rows that import stored into other fresh files with raw ``sqlite3`` in
one transaction, same schema, indexes and triggers: once with ``executemany`` (one statement
per row) and once with 2,000 rows per ``INSERT ... VALUES`` statement (the importer's size),
the floor any importer has to pay. It also times a re-import of the same file under
another name (every row a duplicate) and undoing the import. Prints the best and the
median rows per second of each over the rounds, and the import's ratio to the floor
measured in the same round (the machine may be shared: the ratio varies less than the
times). ``--with-model`` also times importing a second such file for a user whose model was
trained on the first, so that the classifier scores every row; ``--postgres URL`` times
the import end to end into a PostgreSQL database too.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine

from ledger.classifier import train_and_save
from ledger.crypto import KeyRing, generate_key, use_keyring
from ledger.db import create_schema, make_engine, session_factory
from ledger.importing import ImportOptions, import_path, undo_import
from ledger.importing.csv_reader import CsvOptions, read_csv
from ledger.importing.records import ImportLimits
from ledger.users import create_user

_MERCHANTS = [
    "TESCO STORES {n}", "SAINSBURYS S/MKTS", "AMZN Mktp UK*{ref}", "SQ *BLUE BOTTLE",
    "PRET A MANGER", "TFL TRAVEL CH", "UBER *TRIP", "NETFLIX.COM", "SPOTIFY P{ref}",
    "CARD PAYMENT TO COSTA COFFEE", "SHELL {n}", "BOOTS {n}", "WAITROSE {n}", "LIDL GB LONDON",
]
_COLUMNS = ["Date", "Description", "Amount", "Memo"]


def generate(path: Path, rows: int, seed: int = 1) -> int:
    """A deterministic CSV of ``rows`` transactions over about three years, newest last;
    returns the sum of its amounts in cents, to check what the import stored."""
    rng = random.Random(seed)
    merchants = _MERCHANTS + [f"SHOP {i:03d} LTD" for i in range(300)]
    start = dt.date(2023, 1, 1)
    total = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_COLUMNS)
        for i in range(rows):
            day = start + dt.timedelta(days=i * 1095 // rows)
            template = rng.choice(merchants)
            payee = template.format(n=rng.randint(1000, 9999), ref=rng.randint(10**6, 10**7))
            cents = -rng.randint(100, 25_000) if rng.random() < 0.95 else rng.randint(1000, 300_000)
            memo = rng.choice(["", "", "CONTACTLESS", f"REF {rng.randint(1, 10**6)}"])
            writer.writerow([day.strftime("%d/%m/%Y"), payee, f"{cents / 100:.2f}", memo])
            total += cents
    return total


def _ledger(path: Path | str) -> tuple[object, int]:
    """A fresh ledger at ``path`` (a SQLite file or a database URL) with one user."""
    engine = make_engine(str(path))
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        user_id = create_user(session, "bench", currency="GBP").id
    return sessions, user_id


_COLUMNS_SQL = ("user_id, account_id, date, amount, currency, payee, memo, category_id, "
                "source_id, is_transfer, import_id")
_PER_STATEMENT = 2000


def _baseline(rows: list[tuple], path: Path, *, multirow: bool) -> float:
    """Seconds for raw inserts of ``rows`` into a fresh file with the same schema: one
    ``executemany``, or ``_PER_STATEMENT`` rows per statement."""
    sessions, _ = _ledger(path)
    sessions.kw["bind"].dispose()  # type: ignore[attr-defined]
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    started = time.perf_counter()
    with connection:
        connection.execute(
            "INSERT INTO import_batches (user_id, account_id, filename, file_sha256, "
            "file_format, rows_read, rows_added, rows_skipped_duplicate, rows_invalid) "
            "VALUES (1, 1, 'baseline', '', 'csv', 0, 0, 0, 0)"
        )
        group = f"({', '.join('?' * 11)})"
        insert = f"INSERT INTO transactions ({_COLUMNS_SQL}) VALUES "
        if multirow:
            for start in range(0, len(rows), _PER_STATEMENT):
                chunk = rows[start:start + _PER_STATEMENT]
                connection.execute(insert + ", ".join([group] * len(chunk)),
                                   [value for row in chunk for value in row])
        else:
            connection.executemany(insert + group, rows)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def _run_once(work: Path, csv_path: Path, n: int, cents: int, run: int) -> dict[str, float]:
    """One round of every measurement, each into fresh database files; the imported rows
    are checked (count, sum of amounts, memos encrypted) before anything else runs."""
    timings: dict[str, float] = {}
    gc.disable()  # as during an import (see importer._collector_paused)
    started = time.perf_counter()
    parsed = read_csv(csv_path.read_bytes(), filename=csv_path.name, currency="GBP",
                      options=CsvOptions(), limits=ImportLimits())
    timings["parse"] = time.perf_counter() - started
    gc.enable()
    assert len(parsed.rows) == n
    del parsed  # not kept alive (and scanned by the garbage collector) during the import

    database = work / f"import-{run}.db"
    sessions, user_id = _ledger(database)
    options = ImportOptions(model_dir=work / "models")
    started = time.perf_counter()
    report = import_path(sessions, csv_path, user_id=user_id, account="Checking",
                         options=options)
    timings["import"] = time.perf_counter() - started
    assert report.rows_added == n, report
    again = work / "statement-again.csv"
    again.write_bytes(csv_path.read_bytes() + b"\n")
    started = time.perf_counter()
    rerun = import_path(sessions, again, user_id=user_id, account="Checking", options=options)
    timings["reimport"] = time.perf_counter() - started
    assert rerun.rows_added == 0 and rerun.rows_duplicate == n, rerun

    raw = sqlite3.connect(database)
    count, total, plain = raw.execute(
        "SELECT count(*), sum(amount), sum(memo NOT LIKE 'fc1:%') FROM transactions "
        "WHERE import_id = 1").fetchone()
    assert (count, total, plain) == (n, cents, 0), (count, total, plain)
    stored = raw.execute(
        "SELECT user_id, account_id, date, amount, currency, payee, memo, category_id, "
        "source_id, is_transfer, 1 FROM transactions WHERE import_id = 1 ORDER BY id"
    ).fetchall()
    raw.close()
    started = time.perf_counter()
    assert undo_import(sessions, user_id=user_id, batch_id=report.batch_id) == n
    timings["undo"] = time.perf_counter() - started
    sessions.kw["bind"].dispose()  # type: ignore[attr-defined]
    timings["executemany"] = _baseline(stored, work / f"many-{run}.db", multirow=False)
    timings["baseline"] = _baseline(stored, work / f"baseline-{run}.db", multirow=True)
    timings["ratio"] = timings["import"] / timings["baseline"]
    return timings


def _with_model(work: Path, first: Path, second: Path, n: int, run: int) -> float:
    """Seconds to import ``second`` for a user whose model was trained on ``first`` (the
    classifier then scores every row: the cost for a user with history)."""
    sessions, user_id = _ledger(work / f"model-{run}.db")
    options = ImportOptions(model_dir=work / f"models-{run}")
    import_path(sessions, first, user_id=user_id, account="Checking", options=options)
    with sessions.begin() as session:
        assert train_and_save(session, user_id, directory=options.model_dir) is not None
    started = time.perf_counter()
    report = import_path(sessions, second, user_id=user_id, account="Checking",
                         options=options)
    elapsed = time.perf_counter() - started
    assert report.rows_added + report.rows_duplicate == n and report.categorised_by_model
    sessions.kw["bind"].dispose()  # type: ignore[attr-defined]
    return elapsed


def _postgres_import(url: str, csv_path: Path, n: int, cents: int, run: int) -> float:
    """Seconds to import ``csv_path`` into a new schema of the PostgreSQL database at ``url``
    (dropped afterwards); the stored rows are checked as on SQLite."""
    schema = f"bench_import_{os.getpid()}_{run}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        sessions, user_id = _ledger(f"{url}?options=-csearch_path%3D{schema}")
        started = time.perf_counter()
        report = import_path(sessions, csv_path, user_id=user_id, account="Checking",
                             options=ImportOptions(model_dir=csv_path.parent / "models"))
        elapsed = time.perf_counter() - started
        engine = sessions.kw["bind"]  # type: ignore[attr-defined]
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT count(*), sum(amount) FROM transactions").one()
        engine.dispose()
        assert report.rows_added == n and tuple(stored) == (n, cents), (report, stored)
        return elapsed
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="Rounds; the best and the median of each measurement are "
                             "reported (the machine may be shared).")
    parser.add_argument("--with-model", action="store_true",
                        help="Also time importing a second file for a user with a model "
                             "trained on the first (about 10 s more per round).")
    parser.add_argument("--postgres", metavar="URL",
                        help="Also time the import into PostgreSQL at URL (without query "
                             "string), e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test; "
                             "each round uses a new schema, dropped afterwards.")
    args = parser.parse_args(argv)
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = work / "statement.csv"
        cents = generate(csv_path, n)
        size_mb = csv_path.stat().st_size / 1e6
        with use_keyring(KeyRing.from_base64(generate_key())):  # memos encrypted, no key file
            rounds = [_run_once(work, csv_path, n, cents, run) for run in range(args.repeat)]
            if args.with_model:
                second = work / "next-statement.csv"
                generate(second, n, seed=2)
                for run, timings in enumerate(rounds):
                    timings["model"] = _with_model(work, csv_path, second, n, run)
            if args.postgres:
                for run, timings in enumerate(rounds):
                    timings["postgres"] = _postgres_import(args.postgres, csv_path, n, cents, run)
    best = {key: min(r[key] for r in rounds) for key in rounds[0]}
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"file: {n:,} rows, {size_mb:.1f} MB; python {sys.version.split()[0]}, "
          f"sqlite {sqlite3.sqlite_version}; {args.repeat} rounds, best and median")
    labels = {
        "parse": "parse only (read_csv)",
        "import": "finchat import (end to end)",
        "reimport": "re-import, all duplicates",
        "undo": "undo the import",
        "executemany": "raw executemany",
        "baseline": f"raw, {_PER_STATEMENT} rows/statement",
        "model": "import, trained model",
        "postgres": "import into PostgreSQL",
    }
    for key, label in labels.items():
        if key not in best:
            continue
        print(f"{label:29} {best[key]:6.2f} s {n / best[key]:9,.0f} rows/s   "
              f"median {median[key]:6.2f} s {n / median[key]:9,.0f} rows/s")
    each = ", ".join(f"{r['ratio']:.2f}" for r in rounds)
    print(f"{'import / raw floor, same round':29} {best['ratio']:6.2f}x{'':17}"
          f"median {median['ratio']:6.2f}x   (rounds: {each})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
