"""The ``import``, ``imports``, ``tx``, ``categorize`` and ``recurring`` commands, run through
click's test runner against real ledger files."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from import_support import DATA, Ledger

from cli.imports import COMMANDS


@pytest.fixture
def app() -> click.Group:
    group = click.Group("finchat")
    for command in COMMANDS:
        group.add_command(command)
    return group


def _run(app: click.Group, tmp_path: Path, *args: str, db: str | None = None) -> Result:
    return CliRunner().invoke(
        app, [*args, "--db", db or str(tmp_path / "ledger.db")],
        env={"FINCHAT_MODEL_DIR": str(tmp_path / "models")},
    )


def test_import_then_again_then_list_and_undo(app: click.Group, ledger: Ledger,
                                              tmp_path: Path) -> None:
    statement = str(DATA / "uk_nationwide.csv")
    first = _run(app, tmp_path, "import", statement, "--account", "Checking")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0] == (
        "Imported 8 of 8 rows from uk_nationwide.csv into Checking (batch 1): 0 duplicates "
        "skipped, 0 invalid; 6 categorised (0 by rule, 0 by model, 6 by default table)."
    )
    assert "date format: %d %b %Y" in first.stdout
    again = _run(app, tmp_path, "import", statement, "--account", "checking")
    assert again.stdout.strip() == ("uk_nationwide.csv was already imported into Checking as "
                                    "batch 1; nothing to do.")
    listing = _run(app, tmp_path, "imports", "list").stdout.splitlines()
    assert listing[1].split()[-6:] == ["csv", "8", "0", "0", "8", "uk_nationwide.csv"]
    undo = _run(app, tmp_path, "imports", "undo", "1")
    assert undo.stdout.strip() == "Undid import 1: 8 transactions deleted."
    assert ledger.count("transactions") == 0
    twice = _run(app, tmp_path, "imports", "undo", "1")
    assert (twice.exit_code, twice.stderr.strip()) == (1, "Error: no import with id 1")


def test_rejected_import_lists_bad_rows_and_exits_1(app: click.Group, ledger: Ledger,
                                                    tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Description,Amount\n2026-10-01,A,-1.00\n2026-10-02,B,lots\n")
    result = _run(app, tmp_path, "import", str(bad), "--account", "Checking")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Invalid rows:",
        "  bad.csv, line 3, Amount: not an amount: 'lots'",
        "Error: bad.csv, line 3, Amount: not an amount: 'lots'; nothing was imported "
        "(--skip-invalid imports the good rows)",
    ]
    assert ledger.count("transactions") == 0
    skipped = _run(app, tmp_path, "import", str(bad), "--account", "Checking", "--skip-invalid")
    assert skipped.exit_code == 0 and "Imported 1 of 2 rows" in skipped.stdout
    assert "Skipped invalid rows:" in skipped.stderr


def test_import_with_column_numbers(app: click.Group, ledger: Ledger, tmp_path: Path) -> None:
    result = _run(app, tmp_path, "import", str(DATA / "us_wellsfargo_noheader.csv"),
                  "--account", "US Checking", "--map", "1=date", "--map", "2=amount",
                  "--map", "5=payee")
    assert result.exit_code == 0, result.output
    assert ledger.stored("US Checking")[-1][2] == "Safeway"  # newest, first in the file
    wrong = _run(app, tmp_path, "import", str(DATA / "de_ing.csv"), "--account", "Giro",
                 "--map", "Betrag=money")
    assert wrong.exit_code == 1 and "unknown field 'money'" in wrong.stderr


def test_tx_add_edit_delete(app: click.Group, ledger: Ledger, tmp_path: Path) -> None:
    added = _run(app, tmp_path, "tx", "add", "--account", "checking", "--date", "2026-10-01",
                 "--amount", "-12.50", "--payee", "Corner Shop", "--category", "Groceries")
    assert added.stdout.strip() == (
        "Added #1 2026-10-01 Checking: Corner Shop -12.50 GBP [Groceries]")
    edited = _run(app, tmp_path, "tx", "edit", "1", "--amount", "-13", "--category", "")
    assert edited.stdout.strip() == (
        "Updated #1 2026-10-01 Checking: Corner Shop -13.00 GBP [uncategorised]")
    nothing = _run(app, tmp_path, "tx", "edit", "1")
    assert nothing.exit_code == 1 and "nothing to change" in nothing.stderr
    bad = _run(app, tmp_path, "tx", "add", "--account", "Checking", "--date", "yesterday",
               "--amount", "1", "--payee", "X")
    assert (bad.exit_code, bad.stderr.strip()) == (
        1, "Error: date: not a date: 'yesterday' (use YYYY-MM-DD)")
    bobs = _run(app, tmp_path, "tx", "delete", "1", "--user", "bob")
    assert bobs.exit_code == 1 and "no transaction with id 1" in bobs.stderr
    assert _run(app, tmp_path, "tx", "delete", "1").stdout.strip() == "Deleted transaction 1."
    assert ledger.count("transactions") == 0


def test_ledger_and_user_errors(app: click.Group, ledger: Ledger, tmp_path: Path) -> None:
    missing = _run(app, tmp_path, "imports", "list", db=str(tmp_path / "nope.db"))
    assert missing.exit_code == 1 and "no ledger at" in missing.stderr
    assert not (tmp_path / "nope.db").exists()
    stranger = _run(app, tmp_path, "imports", "list", "--user", "mallory")
    assert stranger.stderr.strip() == "Error: no user named 'mallory' in this ledger"


def test_categorize_and_recurring_on_the_demo(app: click.Group, demo_db_path: Path,
                                              tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    shutil.copy(demo_db_path, db)
    retrained = _run(app, tmp_path, "categorize", "--retrain", db=str(db))
    assert retrained.exit_code == 0, retrained.output
    assert "Cross-validated (5 folds" in retrained.stdout
    recurring = _run(app, tmp_path, "recurring", "--user", "bob", "--increases", db=str(db))
    assert recurring.exit_code == 0, recurring.output
    puregym = next(line for line in recurring.stdout.splitlines() if line.startswith("PureGym"))
    assert "2026-01-01: 29.99 -> 32.99" in puregym
