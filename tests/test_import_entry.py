"""Manual add/edit/delete: the same validation as imports, scoped to one user."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from import_support import Ledger, open_ledger

from ledger.categorise import add_rule
from ledger.importing import EntryError, add_transaction, delete_transaction, edit_transaction


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("FINCHAT_MODEL_DIR", str(tmp_path / "models"))
    with open_ledger(str(tmp_path / "ledger.db"), tmp_path / "models") as opened:
        yield opened


def _add(ledger: Ledger, **fields: object) -> object:
    values: dict[str, object] = {"account": "Checking", "date": "2026-10-01",
                                 "amount": "-12.50", "payee": "Corner Shop"}
    values.update(fields)
    return add_transaction(ledger.sessions, user_id=ledger.alice, **values)  # type: ignore[arg-type]


def test_add_stores_exact_values_in_the_account_currency(ledger: Ledger) -> None:
    view = _add(ledger, amount="1.234,56", memo="  birthday  ", category="household")
    assert (view.amount, view.currency, view.category, view.memo) == (
        Decimal("1234.56"), "GBP", "Household", "birthday")
    assert ledger.stored() == [(dt.date(2026, 10, 1), Decimal("1234.56"), "Corner Shop",
                                "birthday", None, "Household", None)]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"account": "Savings"}, "account", "no account named 'Savings'"),
        ({"date": "31/10/2026"}, "date", "use YYYY-MM-DD"),
        ({"date": "2026-02-30"}, "date", "not a date"),
        ({"amount": "12.345"}, "amount", "more than two decimal places"),
        ({"amount": "twelve"}, "amount", "not an amount"),
        ({"amount": 12.5}, "amount", "never a float"),
        ({"payee": "   "}, "payee", "must not be empty"),
        ({"payee": "x" * 201}, "payee", "at most 200"),
        ({"category": "Yachts"}, "category", "no category named 'Yachts'"),
    ],
)
def test_add_rejects_bad_fields_naming_them(ledger: Ledger, fields: dict[str, object],
                                            field: str, message: str) -> None:
    with pytest.raises(EntryError, match=message) as caught:
        _add(ledger, **fields)
    assert caught.value.field == field
    assert ledger.count("transactions") == 0


def test_rules_categorise_a_new_entry_and_formulas_are_neutralised(ledger: Ledger) -> None:
    with ledger.sessions.begin() as session:
        add_rule(session, user_id=ledger.alice, pattern="netflix", category="Subscriptions")
    assert _add(ledger, payee="Netflix").category == "Subscriptions"
    assert _add(ledger, payee="=cmd|' /C calc'!A0").payee == "'=cmd|' /C calc'!A0"


def test_edit_changes_only_given_fields_and_can_clear(ledger: Ledger) -> None:
    view = _add(ledger, memo="note", category="Groceries")
    edited = edit_transaction(ledger.sessions, user_id=ledger.alice, transaction_id=view.id,
                              amount="-13", category=None, memo=None, account="giro")
    assert (edited.amount, edited.category, edited.memo, edited.account, edited.currency,
            edited.payee) == (Decimal("-13.00"), None, None, "Giro", "EUR", "Corner Shop")
    with pytest.raises(EntryError, match="not a date"):
        edit_transaction(ledger.sessions, user_id=ledger.alice, transaction_id=view.id,
                         date="soon")
    assert ledger.stored()[0][1] == Decimal("-13.00")


def test_other_users_transactions_look_missing(ledger: Ledger) -> None:
    view = _add(ledger)
    for action in (
        lambda: edit_transaction(ledger.sessions, user_id=ledger.bob, transaction_id=view.id,
                                 amount="0"),
        lambda: delete_transaction(ledger.sessions, user_id=ledger.bob, transaction_id=view.id),
    ):
        with pytest.raises(EntryError, match=f"no transaction with id {view.id}"):
            action()
    delete_transaction(ledger.sessions, user_id=ledger.alice, transaction_id=view.id)
    assert ledger.count("transactions") == 0
