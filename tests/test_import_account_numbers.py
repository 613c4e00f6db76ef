"""An OFX statement's account number is kept encrypted; only its last four stay plain."""

from __future__ import annotations

from pathlib import Path

from import_support import DATA, open_ledger
from sqlalchemy import select, text

from ledger.crypto import is_encrypted
from ledger.importing import ImportOptions, import_path
from ledger.security_models import AccountNumber


def test_ofx_acctid_is_stored_encrypted_and_a_cards_only_as_last_four(tmp_path: Path) -> None:
    with open_ledger(str(tmp_path / "ledger.db"), tmp_path / "models") as ledger:
        options = ImportOptions(model_dir=tmp_path / "models")
        import_path(ledger.sessions, DATA / "us_bank_v1.ofx", user_id=ledger.alice,
                    account="US Checking", options=options)
        import_path(ledger.sessions, DATA / "cc_card_v1.qfx", user_id=ledger.alice,
                    account="Card", options=options)
        with ledger.engine.connect() as conn:
            stored = conn.execute(text("SELECT kind, number FROM account_numbers")).all()
            last4 = dict(conn.execute(text("SELECT name, number_last4 FROM accounts")).all())
        with ledger.sessions() as session:
            numbers = session.execute(select(AccountNumber.kind, AccountNumber.number)).all()
    assert len(stored) == 1 and is_encrypted(stored[0][1]) and "1234567" not in stored[0][1]
    assert numbers == [("account", "0001234567")]  # the card's 4111...4821 is not kept
    assert (last4["US Checking"], last4["Card"]) == ("4567", "4821")
