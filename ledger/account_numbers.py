"""Keeping an account's full number (an OFX ``ACCTID``, an IBAN) encrypted, its last four plain.

The full number goes to ``account_numbers`` (``EncryptedString``), apart from ``accounts`` so
only code that asks for it loads it; ``accounts.number_last4`` is the masked form that
answers, matching (an OFX file's statement for this account) and responses use. A card's full
number is never stored, only its last four: that keeps finchat outside the PCI DSS rules for
storing card numbers.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.masking import iban_valid, normalise_number
from ledger.models import Account
from ledger.security_models import AccountNumber


def record_account_number(
    session: Session, account: Account, number: str, *, card: bool = False
) -> None:
    """Remember ``number`` for ``account`` in the caller's transaction: its last four in
    ``accounts.number_last4`` and, unless it is a ``card``, the whole number encrypted (an
    earlier one is replaced). Blank or shorter than four characters: nothing changes."""
    compact = normalise_number(number)
    if len(compact) < 4:
        return
    account.number_last4 = compact[-4:]
    if card:
        return
    kind = "iban" if iban_valid(compact) else "account"
    stored = session.get(AccountNumber, account.id)
    if stored is None:
        session.add(AccountNumber(account_id=account.id, user_id=account.user_id, kind=kind,
                                  number=compact))
    elif stored.number != compact:
        stored.kind, stored.number = kind, compact
