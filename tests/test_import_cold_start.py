"""The built-in payee table: a brand-new user's first import is categorised without any rules
or history; rules and the learned model still win; renamed categories get nothing."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from import_support import Ledger
from sqlalchemy import text

from cli.chat import ask_command
from cli.imports import COMMANDS
from ledger.categorise import Categoriser, add_rule, categorise_ledger
from ledger.classifier import Example
from ledger.db import create_schema, make_engine, session_factory
from ledger.default_rules import CATEGORY_NAMES, default_category
from ledger.importing import ImportOptions, import_bytes
from ledger.taxonomy import DEFAULT_CATEGORIES

# (date, bank descriptor, amount, category the table should give or None)
STATEMENT: list[tuple[str, str, str, str | None]] = [
    ("2026-09-28", "TESCO STORES 3021 LONDON", "-41.20", "Groceries"),
    ("2026-10-01", "ACME CORP PAYROLL PPD ID: 9876543210", "2450.00", "Salary"),
    ("2026-10-01", "FOXTONS LETTINGS", "-1350.00", "Rent"),
    ("2026-10-02", "TESCO STORES 3021 LONDON", "-23.45", "Groceries"),
    ("2026-10-03", "SQ *BLUE BOTTLE COFFEE", "-4.75", "Coffee"),
    ("2026-10-04", "UBER *TRIP HELP.UBER.COM", "-14.20", "Taxi"),
    ("2026-10-05", "CARD PAYMENT TO SAINSBURYS S/MKTS", "-61.08", "Groceries"),
    ("2026-10-06", "SHELL OIL 57442 HOUSTON TX", "-48.00", "Fuel"),
    ("2026-10-07", "NETFLIX.COM", "-10.99", "Subscriptions"),
    ("2026-10-08", "KROGER #0412 CINCINNATI OH", "-37.16", "Groceries"),
    ("2026-10-09", "DIRECT DEBIT BRITISH GAS", "-72.00", "Utilities"),
    ("2026-10-10", "TST* JOES PIZZERIA", "-28.50", "Dining Out"),
    ("2026-10-11", "CVS/PHARMACY #1234", "-9.30", "Pharmacy"),
    ("2026-10-12", "WHOLEFDS MKT 10234", "-54.10", "Groceries"),
    ("2026-10-13", "LIDL GB LONDON", "5.00", "Groceries"),  # a refund
    ("2026-10-14", "PAYROLL ADVANCE REPAYMENT", "-200.00", None),  # payroll, but an outflow
    ("2026-10-15", "INTEREST PAID", "0.84", "Interest"),
    ("2026-10-16", "J SMITH", "-25.00", None),
    ("2026-10-17", "CORNER SHOP LTD", "-6.40", None),
    ("2026-10-18", "LYFT *RIDE SUN 10AM", "-18.00", "Taxi"),
    ("2026-10-19", "THAMES WATER UTILITIES", "-35.00", "Utilities"),
    ("2026-10-20", "AMAZON.CO.UK", "-19.99", None),  # sells everything: no default
]
CSV = ("Date,Description,Amount\n" + "".join(
    f"{date},{payee},{amount}\n" for date, payee, amount, _ in STATEMENT)).encode()


def _import(ledger: Ledger, *, categorise: bool = True) -> tuple[int, int]:
    report = import_bytes(ledger.sessions, CSV, filename="statement.csv", user_id=ledger.bob,
                          account="Checking",
                          options=ImportOptions(model_dir=ledger.model_dir,
                                                categorise=categorise))
    assert report.rows_added == len(STATEMENT)
    return report.categorised_by_rule, report.categorised_by_model


def _categories(ledger: Ledger) -> list[str | None]:
    return [row[5] for row in ledger.stored(user=ledger.bob)]


EXPECTED = [category for *_, category in STATEMENT]


def test_a_new_users_first_import_is_categorised_by_the_table(ledger: Ledger) -> None:
    assert _import(ledger) == (0, 0)  # no rules, no history: no model
    assert _categories(ledger) == EXPECTED


def test_categorise_reports_the_table_as_its_source(ledger: Ledger) -> None:
    _import(ledger, categorise=False)
    assert set(_categories(ledger)) == {None}
    report = categorise_ledger(ledger.sessions, ledger.bob, directory=ledger.model_dir)
    named = sum(c is not None for c in EXPECTED)
    assert (report.examined, report.by_rule, report.by_model, report.by_default,
            report.left_uncategorised, report.trained_on) == (
        len(STATEMENT), 0, 0, named, len(STATEMENT) - named, None)
    assert _categories(ledger) == EXPECTED


def test_the_users_rules_win(ledger: Ledger) -> None:
    with ledger.sessions.begin() as session:
        add_rule(session, user_id=ledger.bob, pattern="tesco", category="Household")
    assert _import(ledger) == (2, 0)
    assert _categories(ledger) == [
        "Household" if "TESCO" in payee else category for _, payee, _, category in STATEMENT]


def test_the_learned_model_wins(ledger: Ledger) -> None:
    """This user files Sainsbury's under Household; the table would say Groceries."""
    history = [("Sainsbury's", "Household"), ("Pret", "Dining Out")] * 12
    with ledger.engine.begin() as conn:
        for i, (payee, category) in enumerate(history):
            conn.execute(text(
                "INSERT INTO transactions (user_id, account_id, date, amount, currency, payee, "
                "category_id, is_transfer) SELECT :u, a.id, :d, -1000 - :i, 'GBP', :p, c.id, "
                "false FROM accounts a, categories c WHERE a.user_id = :u AND c.user_id = :u "
                "AND a.name = 'Checking' AND c.name = :c"),
                {"u": ledger.bob, "d": dt.date(2026, 1, 1) + dt.timedelta(days=i), "i": i,
                 "p": payee, "c": category})
    by_model = _import(ledger)[1]
    sainsburys = _categories(ledger)[len(history) + 6]
    assert (STATEMENT[6][3], sainsburys) == ("Groceries", "Household") and by_model >= 1


def test_a_renamed_category_gets_nothing_from_the_table(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE categories SET name = 'Food shopping' WHERE user_id = :u "
                          "AND name = 'Groceries'"), {"u": ledger.bob})
    _import(ledger)
    assert _categories(ledger) == [None if c == "Groceries" else c for c in EXPECTED]


def test_a_user_without_the_tables_categories_has_nothing_to_apply(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE categories SET name = 'x' || name WHERE user_id = :u"),
                     {"u": ledger.bob})
    with ledger.sessions() as session:
        categoriser = Categoriser.for_user(session, ledger.bob, directory=ledger.model_dir)
    assert not categoriser.active
    assert categoriser.assign([Example("TESCO", None, Decimal("-1.00"))])[0].source is None


@pytest.mark.parametrize(
    ("payee", "amount", "category"),
    [("Acme Corp Payroll", "2450.00", "Salary"), ("Acme Corp Payroll", "-2450.00", None),
     ("Monthly Salary", "-10.00", None), ("Interest Paid", "1.00", "Interest"),
     ("Card Interest", "-3.10", "Loan Interest"), ("Rent To J Landlord", "-900.00", "Rent"),
     ("Rent From Tenant", "900.00", None), ("Uber Eats", "-18.00", "Dining Out"),
     ("Disney+", "-7.99", "Subscriptions"), ("Shell Gas Station", "-40.00", "Fuel"),
     ("Waterstones", "-12.00", None), ("Rentokil", "-60.00", None)],
)
def test_directions_and_whole_words(payee: str, amount: str, category: str | None) -> None:
    assert default_category(payee, Decimal(amount)) == category


def test_every_table_category_is_a_default_category() -> None:
    names = {n for group, (_, children) in DEFAULT_CATEGORIES.items() for n in (group, *children)}
    assert names >= CATEGORY_NAMES


def test_ask_about_groceries_after_a_fresh_import(tmp_path: Path) -> None:
    """``finchat import`` then ``finchat ask`` for a user with nothing but a new account."""
    from ledger.users import create_user

    db = tmp_path / "fresh.db"
    engine = make_engine(str(db))
    create_schema(engine)
    with session_factory(engine).begin() as session:
        create_user(session, "dora", currency="GBP", opened_on=dt.date(2026, 9, 1))
    engine.dispose()
    statement = tmp_path / "statement.csv"
    statement.write_bytes(CSV)
    app = click.Group("finchat", commands=COMMANDS)
    runner = CliRunner()
    imported = runner.invoke(app, ["import", str(statement), "--account", "Checking", "--db",
                                   str(db)], env={"FINCHAT_MODEL_DIR": str(tmp_path / "models")})
    assert imported.exit_code == 0, imported.output

    asked = runner.invoke(ask_command, ["how much did I spend on groceries this month?", "--db",
                                        str(db), "--model", "offline", "--json"],
                          catch_exceptions=False)
    assert asked.exit_code == 0, asked.output
    expected = -sum(Decimal(amount) for date, _, amount, category in STATEMENT
                    if category == "Groceries" and date.startswith("2026-10"))
    assert expected == Decimal("170.79")  # 23.45 + 61.08 + 37.16 + 54.10 - 5.00 refunded
    answer = json.loads(asked.stdout)["answer"]
    assert f"{expected:,}" in answer, answer
