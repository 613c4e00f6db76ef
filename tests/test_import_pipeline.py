"""The import as a whole: de-duplication, all-or-nothing, batches and undo, users kept apart,
size limits and hostile files."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from import_support import DATA, Ledger

from ledger.importing import (
    EntryError,
    ImportLimits,
    ImportNotFound,
    ImportOptions,
    ImportRejected,
    add_transaction,
    delete_transaction,
    edit_transaction,
    import_bytes,
    import_path,
    list_imports,
    undo_import,
)

D = Decimal


def _bytes(ledger: Ledger, data: bytes, account: str = "Checking", name: str = "f.csv",
           user: int | None = None, **options: object) -> object:
    return import_bytes(ledger.sessions, data, filename=name,
                        user_id=ledger.alice if user is None else user, account=account,
                        options=ImportOptions(model_dir=ledger.model_dir, **options))  # type: ignore[arg-type]


def _csv(*rows: str, header: str = "Date,Description,Amount") -> bytes:
    return "\n".join([header, *rows, ""]).encode()


# ---------------------------------------------------------------- both backends


def test_import_reimport_and_undo(any_ledger: Ledger) -> None:
    ledger = any_ledger
    path = DATA / "de_ing.csv"
    first = import_path(ledger.sessions, path, user_id=ledger.alice, account="giro",
                        options=ImportOptions(model_dir=ledger.model_dir))
    assert (first.account, first.rows_added) == ("Giro", 5)
    assert sum(row[1] for row in ledger.stored("Giro")) == D("1161.73")
    with ledger.engine.connect() as conn:
        batch = conn.exec_driver_sql(
            "SELECT filename, file_sha256, file_format, rows_read, rows_added, "
            "rows_skipped_duplicate, rows_invalid FROM import_batches").one()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert tuple(batch) == ("de_ing.csv", digest, "csv", 5, 5, 0, 0)

    same = import_path(ledger.sessions, path, user_id=ledger.alice, account="Giro",
                       options=ImportOptions(model_dir=ledger.model_dir))
    assert (same.already_imported_as, same.rows_added, same.batch_id) == (first.batch_id, 0, None)
    copy = _bytes(ledger, path.read_bytes() + b"\n", account="Giro", name="copy.csv")
    assert (copy.rows_added, copy.rows_duplicate) == (0, 5)
    assert ledger.count("transactions") == 5

    assert undo_import(ledger.sessions, user_id=ledger.alice, batch_id=first.batch_id) == 5
    assert ledger.stored("Giro") == []
    assert [b.id for b in list_imports(ledger.sessions, user_id=ledger.alice)] == [copy.batch_id]


# ---------------------------------------------------------------- de-duplication


def test_overlapping_exports_add_only_the_new_days(ledger: Ledger) -> None:
    october = [f"2026-10-{day:02d},Coffee Shop,-3.{day:02d}" for day in range(1, 11)]
    _bytes(ledger, _csv(*october[:6]), name="first.csv")
    report = _bytes(ledger, _csv(*october[3:]), name="second.csv")
    assert (report.rows_read, report.rows_added, report.rows_duplicate) == (7, 4, 3)
    assert [a for _, a, *_ in ledger.stored("Checking")] == [
        D(f"-3.{day:02d}") for day in range(1, 11)
    ]


def test_identical_rows_are_counted_not_merged(ledger: Ledger) -> None:
    twice = "2026-10-05,Coffee Shop,-3.00"
    _bytes(ledger, _csv(twice, twice), name="a.csv")
    report = _bytes(ledger, _csv(twice, twice, twice, "2026-10-06,Bakery,-2.00"), name="b.csv")
    assert (report.rows_added, report.rows_duplicate) == (2, 2)  # the third coffee is new
    assert len(ledger.stored("Checking")) == 4


def test_manual_entry_absorbs_the_imported_copy_within_two_days(ledger: Ledger) -> None:
    add_transaction(ledger.sessions, user_id=ledger.alice, account="Checking",
                    date="2026-10-01", amount="-23.45", payee="Tesco Metro",
                    auto_categorise=False)
    add_transaction(ledger.sessions, user_id=ledger.alice, account="Checking",
                    date="2026-10-03", amount="-4.50", payee="Gym", auto_categorise=False)
    report = import_path(ledger.sessions, DATA / "uk_nationwide.csv", user_id=ledger.alice,
                         account="Checking", options=ImportOptions(model_dir=ledger.model_dir))
    # One of the two Tesco rows (2 days after the manual one) is the same purchase; the
    # 4.50 Blue Bottle on 10-15 is neither near nor the same payee as the gym.
    assert (report.rows_added, report.rows_duplicate) == (7, 1)
    assert [p for _, _, p, *_ in ledger.stored("Checking")].count("Tesco") == 1


def test_within_one_source_near_equal_rows_are_separate_purchases(ledger: Ledger) -> None:
    _bytes(ledger, _csv("2026-10-01,Coffee Shop,-3.00"), name="a.csv")
    report = _bytes(ledger, _csv("2026-10-02,Coffee Shop,-3.00"), name="b.csv")
    assert report.rows_added == 1


def test_ofx_after_csv_of_the_same_account(ledger: Ledger) -> None:
    import_path(ledger.sessions, DATA / "us_chase_checking.csv", user_id=ledger.alice,
                account="US Checking", options=ImportOptions(model_dir=ledger.model_dir))
    report = import_path(ledger.sessions, DATA / "us_bank_v1.ofx", user_id=ledger.alice,
                         account="US Checking", options=ImportOptions(model_dir=ledger.model_dir))
    # Payroll (a day later in the OFX) and Blue Bottle are already there from the CSV;
    # PG&E -96.30 is 12 days away from the CSV's, so it is a separate payment.
    assert (report.rows_added, report.rows_duplicate) == (2, 2)
    assert sorted(p for _, _, p, *_ in ledger.stored("US Checking")).count("PG&E") == 1


# ---------------------------------------------------------------- all or nothing


BAD = _csv("2026-10-01,Rent,-900.00", "2026-10-02,Cafe,12,50.00x", "2026-13-40,Shop,-1.00",
           "2026-10-04,Bakery,-2.00")


def test_a_bad_row_rejects_the_whole_file_naming_file_line_and_field(ledger: Ledger) -> None:
    with pytest.raises(ImportRejected) as caught:
        _bytes(ledger, BAD, name="october.csv")
    assert str(caught.value) == (
        "october.csv, line 3, row: 4 cells but the header has 3 (and 1 more bad rows); "
        "nothing was imported (--skip-invalid imports the good rows)"
    )
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "row"), (4, "Date")]
    assert ledger.count("transactions") == 0 and ledger.count("import_batches") == 0


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(ledger: Ledger) -> None:
    report = _bytes(ledger, BAD, name="october.csv", skip_invalid=True)
    assert (report.rows_read, report.rows_added, report.rows_invalid) == (4, 2, 2)
    assert [e.describe("october.csv") for e in report.errors][1] == (
        "october.csv, line 4, Date: not a date in the format %Y-%m-%d: '2026-13-40'"
    )
    assert [(d, a) for d, a, *_ in ledger.stored("Checking")] == [
        (dt.date(2026, 10, 1), D("-900.00")), (dt.date(2026, 10, 4), D("-2.00"))
    ]
    assert list_imports(ledger.sessions, user_id=ledger.alice)[0].rows_invalid == 2


def test_a_failure_while_writing_leaves_nothing(ledger: Ledger, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    import ledger.importing.importer as importer

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "insert_columns", explode)
    with pytest.raises(RuntimeError):
        import_path(ledger.sessions, DATA / "uk_nationwide.csv", user_id=ledger.alice,
                    account="Checking", options=ImportOptions(model_dir=ledger.model_dir))
    assert ledger.count("import_batches") == 0 and ledger.count("transactions") == 0
    assert gc.isenabled()  # the collector paused for the import is running again


def test_a_concurrent_writer_is_a_readable_rejection(ledger: Ledger,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Two imports racing past de-duplication collide on the unique source id at insert."""
    import ledger.importing.dedupe as dedupe

    data = _csv("2026-10-01,Rent,-900.00", "2026-10-02,Cafe,-3.00")
    _bytes(ledger, data, name="first.csv")
    monkeypatch.setattr(  # as if the first import committed after this one's check
        dedupe, "existing_source_ids", lambda session, account_id: set())
    with pytest.raises(ImportRejected, match=r"^second\.csv: the database refused the import "
                       r"\(UNIQUE constraint failed"):
        _bytes(ledger, data + b"\n", name="second.csv")  # another file, the same rows
    assert ledger.count("transactions") == 2 and ledger.count("import_batches") == 1


# ---------------------------------------------------------------- users kept apart


def test_accounts_and_batches_of_other_users_are_invisible(ledger: Ledger) -> None:
    with pytest.raises(ImportRejected) as caught:
        _bytes(ledger, _csv("2026-10-01,X,-1.00"), account="US Checking", user=ledger.bob)
    assert str(caught.value) == "no account named 'US Checking'; your accounts: Checking"
    mine = _bytes(ledger, _csv("2026-10-01,X,-1.00"))
    with pytest.raises(ImportRejected, match=f"no import with id {mine.batch_id}"):
        undo_import(ledger.sessions, user_id=ledger.bob, batch_id=mine.batch_id)
    assert list_imports(ledger.sessions, user_id=ledger.bob) == []
    assert len(ledger.stored("Checking")) == 1


# ---------------------------------------------------------------- limits and hostile files


def test_formula_cells_are_stored_neutralised(ledger: Ledger) -> None:
    data = _csv('2026-10-01,"=HYPERLINK(""http://x.example"",""y"")",-1.00,+cmd|calc',
                "2026-10-02,@Sum(A1),-2.00,-2+3", header="Date,Description,Amount,Memo")
    _bytes(ledger, data)
    stored = [(p, m) for _, _, p, m, *_ in ledger.stored("Checking")]
    assert stored == [("'=HYPERLINK(\"http://x.example\",\"y\")", "'+cmd|calc"),
                      ("'@Sum(A1)", "'-2+3")]


def test_limits_on_size_rows_and_cells(ledger: Ledger) -> None:
    small = ImportLimits(max_bytes=60, max_rows=2, max_cell_chars=20)
    three = _csv("2026-10-01,A,-1.00", "2026-10-02,B,-1.00", "2026-10-03,C,-1.00")
    with pytest.raises(ImportRejected, match=r"f\.csv is 81 bytes; the limit is 60"):
        _bytes(ledger, three, limits=small)
    with pytest.raises(ImportRejected, match=r"f\.csv has more than 2 rows"):
        _bytes(ledger, three, limits=ImportLimits(max_rows=2))
    with pytest.raises(ImportRejected, match="line 2, Description: 21 characters"):
        _bytes(ledger, _csv("2026-10-01," + "x" * 21 + ",-1.00"),
               limits=ImportLimits(max_cell_chars=20))
    huge = _csv("2026-10-01," + "x" * 200_000 + ",-1.00")
    with pytest.raises(ImportRejected, match=r"f\.csv, line 2: field larger than field limit"):
        _bytes(ledger, huge)
    assert ledger.count("transactions") == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", "f.csv is a ZIP archive (an .xlsx workbook?)"),
        (b"%PDF-1.7\n%\xe2\xe3", "f.csv is a PDF document"),
        (bytes(range(256)) * 4, "f.csv is a binary file"),
        (b"Date,Description,Amount,Id\n" + b"2026-10-01,Cafe,-1.00,A\n" * 4000
         + b"2026-10-02,Cafe,-1.00,B\x00\n", "f.csv is a binary file"),  # NUL after 64 KB
        (b"   \n\n", "f.csv is empty"),
        (b"just some prose\nwith no columns\n", "f.csv: no header row with a date"),
    ],
)
def test_files_that_are_not_statements_get_one_sentence(ledger: Ledger, data: bytes,
                                                        message: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        _bytes(ledger, data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_missing_file(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match=r"cannot read .*nope\.csv"):
        import_path(ledger.sessions, tmp_path / "nope.csv", user_id=ledger.alice,
                    account="Checking")


@pytest.mark.parametrize("batch_id", [0, -1, 2**31, 2**63, 10**30])
def test_undoing_an_id_no_integer_column_holds_is_not_found(any_ledger: Ledger,
                                                            batch_id: int) -> None:
    """Ids from a URL or the command line may be any integer; the database's INTEGER may not."""
    with pytest.raises(ImportNotFound, match=f"^no import with id {batch_id}$"):
        undo_import(any_ledger.sessions, user_id=any_ledger.alice, batch_id=batch_id)


@pytest.mark.parametrize("transaction_id", [0, 2**31, 2**63])
def test_editing_an_id_no_integer_column_holds_is_not_found(any_ledger: Ledger,
                                                            transaction_id: int) -> None:
    for change in (delete_transaction, partial(edit_transaction, payee="x")):
        with pytest.raises(EntryError, match=f"no transaction with id {transaction_id}$"):
            change(any_ledger.sessions, user_id=any_ledger.alice, transaction_id=transaction_id)
