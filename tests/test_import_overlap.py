"""The overlapped write path: rows prepared in a worker thread while SQLite inserts, indexes
built after a large insert, memos encrypted per value. A failure in either thread leaves
nothing, and no thread or missing index behind.

Expected values come from the test's own data and from plain SQL, never the importer's code.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal

import pytest
from import_support import Ledger
from sqlalchemy import text

import ledger.importing.importer as importer
from ledger.categorise import Categoriser
from ledger.importing import ImportOptions, ImportRejected, add_transaction, import_bytes
from ledger.models import Transaction

ROWS = 5_000
"""Five statements' worth, so that the worker is several statements ahead of the inserts."""
INDEXES = {index.name for index in Transaction.__table__.indexes}


def _statement(rows: int = ROWS) -> bytes:
    lines = ["Date,Description,Amount,Memo"]
    for i in range(rows):
        memo = "CONTACTLESS" if i % 2 else ""
        lines.append(f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d},SHOP {i % 41},-{i + 1}.25,{memo}")
    return "\n".join(lines).encode()


def _import(ledger: Ledger, data: bytes, name: str = "big.csv") -> importer.ImportReport:
    return import_bytes(ledger.sessions, data, filename=name, user_id=ledger.alice,
                        account="Checking", options=ImportOptions(model_dir=ledger.model_dir))


def _indexes(ledger: Ledger) -> set[str]:
    """The transactions table's named indexes, as the database lists them."""
    with ledger.engine.connect() as conn:
        if ledger.engine.dialect.name == "sqlite":
            sql = ("SELECT name FROM sqlite_master WHERE type = 'index' "
                   "AND tbl_name = 'transactions'")
        else:
            sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'transactions'"
        return set(conn.execute(text(sql)).scalars())


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "import-prepare"]


def test_a_large_import_stores_every_row_and_keeps_every_index(any_ledger: Ledger) -> None:
    ledger = any_ledger
    report = _import(ledger, _statement())

    assert report.rows_added == ROWS
    with ledger.engine.connect() as conn:
        count, total = conn.execute(text("SELECT count(*), sum(amount) FROM transactions")).one()
        totals = conn.execute(text("SELECT sum(tx_count), sum(amount) FROM account_month_totals")
                              ).one()
    assert (count, int(total)) == (ROWS, -sum((i + 1) * 100 + 25 for i in range(ROWS)))
    assert (int(totals[0]), int(totals[1])) == (count, int(total))
    assert _indexes(ledger) >= INDEXES
    if ledger.engine.dialect.name == "sqlite":
        with ledger.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM transactions WHERE user_id = 1 "
                "AND is_transfer = 0 AND payee = 'Shop 7'").all()
        assert "ix_tx_user_transfer_payee" in plan[0][-1], plan
    assert not _workers()


def test_equal_memos_are_encrypted_each_with_its_own_nonce(ledger: Ledger) -> None:
    """Memos go through the column's encryption, one call per value: equal memos stored as
    equal ciphertexts would show which rows share a memo."""
    _import(ledger, _statement(3_000))
    with ledger.engine.connect() as conn:
        memos = conn.execute(text("SELECT memo FROM transactions WHERE memo IS NOT NULL")
                             ).scalars().all()
    assert len(memos) == 1_500
    assert all(memo.startswith("fc1:") for memo in memos)
    assert len(set(memos)) == len(memos)
    assert {m for *_, m, _, _, _ in ledger.stored("Checking")} == {"CONTACTLESS", None}


class _Exploding(Categoriser):
    """Fails on its third batch, while the rows of the first ones are being inserted."""

    calls = 0

    def categories(self, payees: Sequence[str], memos: Sequence[str | None],
                   amounts: Sequence[Decimal]) -> tuple[list[int | None], list[str | None]]:
        type(self).calls += 1
        if type(self).calls == 3:
            raise RuntimeError("model file vanished")
        return super().categories(payees, memos, amounts)


def test_a_failure_in_the_worker_leaves_nothing(any_ledger: Ledger,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = any_ledger
    add_transaction(ledger.sessions, user_id=ledger.alice, account="Checking",
                    date="2026-01-05", amount="-3.00", payee="Cafe", auto_categorise=False)
    monkeypatch.setattr(importer, "Categoriser", _Exploding)
    monkeypatch.setattr(importer, "_BATCH_ROWS", 1_000)  # one batch per statement
    monkeypatch.setattr(_Exploding, "calls", 0)
    monkeypatch.setattr(_Exploding, "active", True)

    with pytest.raises(RuntimeError, match="model file vanished"):
        _import(ledger, _statement())

    assert _Exploding.calls == 3
    assert (ledger.count("transactions"), ledger.count("import_batches")) == (1, 0)
    with ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(tx_count) FROM account_month_totals")
                            ).scalar_one() == 1
    assert _indexes(ledger) >= INDEXES
    assert not _workers()


def test_a_statement_refused_mid_import_stops_the_worker(any_ledger: Ledger,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses the third statement (a source id committed by a concurrent
    import): the file is rejected with the reason, nothing of it stays."""
    import ledger.importing.dedupe as dedupe

    ledger = any_ledger
    data = _statement()
    header, *lines = data.decode().splitlines()
    _import(ledger, "\n".join([header, lines[2_500]]).encode(), name="first.csv")
    monkeypatch.setattr(  # as if the first import committed after this one's check
        dedupe, "existing_source_ids", lambda session, account_id: set())

    with pytest.raises(ImportRejected, match=r"^big\.csv: the database refused the import"):
        _import(ledger, data)

    assert (ledger.count("transactions"), ledger.count("import_batches")) == (1, 1)
    assert _indexes(ledger) >= INDEXES
    assert not _workers()


def test_a_ledger_keeps_exactly_the_indexes_it_had(ledger: Ledger) -> None:
    """A ledger created by another version (an index missing, one of its own added) gets its
    own indexes back after a large import, not the current model's."""
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_tx_transfer")
        conn.exec_driver_sql("CREATE INDEX ix_local_payee ON transactions (payee)")
        before = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name").all()

    assert _import(ledger, _statement()).rows_added == ROWS

    with ledger.engine.connect() as conn:
        after = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name").all()
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    assert after == before

