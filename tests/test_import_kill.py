"""A process killed with SIGKILL in the middle of a large import leaves zero rows or all rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from import_support import open_ledger

from ledger.db import make_engine, session_factory
from ledger.importing import ImportOptions, import_bytes
from ledger.models import Transaction

ROWS = 150_000
_SCRIPT = """
import sys
from ledger.db import make_engine, session_factory
from ledger.importing import ImportOptions, import_path
from pathlib import Path
sessions = session_factory(make_engine(sys.argv[1]))
import_path(sessions, sys.argv[2], user_id=1, account="Checking",
            options=ImportOptions(model_dir=Path(sys.argv[3])))
print("committed", flush=True)
"""


def _write_statement(path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("Date,Description,Amount\n")
        for i in range(ROWS):
            day = f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}"
            handle.write(f"{day},Shop {i % 500},-{i % 9000 + 1}.{i % 100:02d}\n")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_import_leaves_zero_or_all_rows(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    statement = tmp_path / "big.csv"
    _write_statement(statement)
    with open_ledger(str(db), tmp_path / "models"):
        pass
    wal = Path(f"{db}-wal")
    start_size = wal.stat().st_size if wal.exists() else 0
    process = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(db), str(statement), str(tmp_path / "models")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[1],
    )
    deadline = time.monotonic() + 180
    killed = False
    while process.poll() is None and time.monotonic() < deadline:
        # Rows are being written (uncommitted) once the write-ahead log grows by 2 MB.
        if wal.exists() and wal.stat().st_size > start_size + 2_000_000:
            os.kill(process.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    assert killed, f"the import finished before it could be killed: {process.stderr.read()!r}"
    assert process.returncode == -signal.SIGKILL

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
        batches = conn.execute("SELECT count(*) FROM import_batches").fetchone()[0]
        totals = conn.execute("SELECT coalesce(sum(tx_count), 0) FROM account_month_totals"
                              ).fetchone()[0]
        indexes = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transactions'")}
    assert (rows, batches) in {(0, 0), (ROWS, 1)}
    assert rows == 0  # killed while writing, before the commit: nothing of it survives
    assert totals == rows  # derived tables rolled back with it
    # indexes dropped for the bulk insert (ledger.importing.bulk) came back with the rollback
    assert {index.name for index in Transaction.__table__.indexes} <= indexes

    # The ledger is not left locked or half-written: the next import works.
    engine = make_engine(str(db))
    try:
        report = import_bytes(session_factory(engine), b"Date,Payee,Amount\n2026-10-01,A,-1\n",
                              filename="small.csv", user_id=1, account="Checking",
                              options=ImportOptions(model_dir=tmp_path / "models"))
    finally:
        engine.dispose()
    assert report.rows_added == 1
