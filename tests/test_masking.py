"""Masking to the last four: real-shaped card numbers and IBANs are cut, figures are kept."""

from __future__ import annotations

import pytest

from ledger.masking import (
    iban_valid,
    luhn_valid,
    mask_number,
    mask_personal_data,
    mask_sensitive_text,
    mask_strings,
)

CARDS = [  # the networks' published test numbers: Luhn-valid, real lengths and prefixes
    "4111111111111111",  # Visa 16
    "4222222222222",  # Visa 13
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express 15
    "6011111111111117",  # Discover
    "3530111333300000",  # JCB
    "6250941006528599",  # UnionPay
]
IBANS = [  # valid check digits, one per country format
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "CH9300762011623852957",
    "BE68539007547034",
    "NO9386011117947",
    "PL61109010140000071219812874",
]


def _grouped(number: str, size: int = 4) -> str:
    return " ".join(number[i:i + size] for i in range(0, len(number), size))


@pytest.mark.parametrize("card", CARDS)
def test_card_numbers_contiguous_and_printed_in_groups_keep_their_last_four(card: str) -> None:
    assert luhn_valid(card)
    for form in (card, _grouped(card), _grouped(card).replace(" ", "-")):
        assert mask_sensitive_text(f"paid with {form} today") == f"paid with •••• {card[-4:]} today"


@pytest.mark.parametrize("iban", IBANS)
def test_ibans_of_several_countries_keep_their_last_four(iban: str) -> None:
    assert iban_valid(iban)
    for form in (iban, _grouped(iban)):
        assert mask_sensitive_text(f"SEPA to {form} ref") == f"SEPA to •••• {iban[-4:]} ref"


def test_an_iban_with_a_wrong_checksum_is_still_masked() -> None:
    typo = "DE89370400440532013001"
    assert not iban_valid(typo)
    assert mask_sensitive_text(f"to {typo}") == "to •••• 3001"


@pytest.mark.parametrize("text, masked", [
    ("acct 12345678", "acct •••• 5678"),
    ("sort code + account 20-00-00 12345678", "sort code + account •••• 5678"),
    ("Konto 0532013000 BLZ 37040044", "Konto •••• 3000 BLZ •••• 0044"),
])
def test_long_account_numbers_in_free_text(text: str, masked: str) -> None:
    assert mask_sensitive_text(text) == masked


@pytest.mark.parametrize("text", [
    "Gehalt",
    "refund 1,234.56 EUR on 2026-10-31",
    "€1.234,56 paid 31.10.2026",
    "12'345.60 CHF",
    "-1520.35 and 12345678.90",
    "statement 20261031",
    "tel +44 20 7946 0958",
    "call 020 7946 0958 or (415) 555-2671",
    "order 1234567, top 5, card ending 4321",
    "Q3 2025, 2023 2024 2025, 15%",
    "REF 123456",
])
def test_amounts_dates_phones_and_short_numbers_are_left_alone(text: str) -> None:
    assert mask_sensitive_text(text) == text


def test_mask_number_is_the_last_four_of_the_compact_number() -> None:
    assert mask_number("DE89 3704 0044 0532 0130 00") == "•••• 3000"
    assert mask_number("4111-1111-1111-1111") == "•••• 1111"
    assert mask_sensitive_text(mask_number(CARDS[0])) == "•••• 1111"  # masking is idempotent


def test_personal_data_masking_adds_kinds_and_walks_json_values() -> None:
    text = "mail a.b@example.org, card 4111111111111111, 221B Baker Street, 2026-10-31"
    assert mask_personal_data(text) == (
        "mail [email], card •••• 1111, [address], 2026-10-31")
    value = {"memo": text, "amount": "-12.50", "rows": [{"n": 12345678}, "IBAN " + IBANS[0]]}
    assert mask_strings(value) == {
        "memo": "mail a.b@example.org, card •••• 1111, 221B Baker Street, 2026-10-31",
        "amount": "-12.50", "rows": [{"n": 12345678}, "IBAN •••• 3000"]}
