"""Amounts, dates, payees and formula-safe text, cell by cell."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.importing.content import decode_text, detect_format
from ledger.importing.normalise import (
    ValueProblem,
    clean_payee,
    detect_date_format,
    detect_decimal_separator,
    parse_amount,
    safe_text,
)


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("1,234.56", ".", "1234.56"),
        ("1.234,56", ",", "1234.56"),
        ("-12.5", ".", "-12.50"),
        ("(12.50)", ".", "-12.50"),
        ("($1,204.50)", ".", "-1204.50"),
        ("12.50-", ".", "-12.50"),
        ("+5", ".", "5.00"),
        ("£1,234.56", ".", "1234.56"),
        ("12,50 €", ",", "12.50"),
        ("EUR -1.234,56", ",", "-1234.56"),
        ("1 234,56", ",", "1234.56"),
        ("1'234.56", ".", "1234.56"),
        ("12.50 DR", ".", "-12.50"),
        ("12.50 CR", ".", "12.50"),
        ("−3.10", ".", "-3.10"),
        ("7.000", ".", "7.00"),
    ],
)
def test_amounts(text: str, decimal: str, expected: str) -> None:
    value = parse_amount(text, decimal=decimal)
    assert value == Decimal(expected) and value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty amount"), ("abc", "not an amount"), ("12.345", "more than two decimal"),
     ("1.2.3", "not an amount"), ("1" * 14, "amount too large")],
)
def test_bad_amounts(text: str, message: str) -> None:
    with pytest.raises(ValueProblem, match=message):
        parse_amount(text)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["1.234,56", "-3,5", "12,00"], ","),
        (["1,234.56", "12.5"], "."),
        (["1.234.567"], ","),  # repeated dots can only be thousands
        (["1,234"], "."),  # undecidable on its own: the default
    ],
)
def test_decimal_separator_is_decided_by_the_column(cells: list[str], expected: str) -> None:
    assert detect_decimal_separator(cells) == expected


@pytest.mark.parametrize(
    ("cells", "hint", "fmt", "assumed"),
    [
        (["2026-10-31", "2026-11-01T09:15:00"], False, "%Y-%m-%d", False),
        (["31/10/2026", "01/11/2026"], False, "%d/%m/%Y", False),
        (["10/31/2026", "11/01/2026"], False, "%m/%d/%Y", False),
        (["31 Oct 2026", "1 Nov 2026"], False, "%d %b %Y", False),
        (["31.10.26", "01.11.26"], False, "%d.%m.%y", False),
        # Only month-first keeps 2 Jan < 9 Jan < 3 Feb in order.
        (["01/02/2026", "01/09/2026", "02/03/2026"], False, "%m/%d/%Y", True),
        # Both readings are sorted: the US-dollar hint, else day first.
        (["03/04/2026", "03/04/2026"], True, "%m/%d/%Y", True),
        (["03/04/2026", "03/04/2026"], False, "%d/%m/%Y", True),
    ],
)
def test_date_format_is_decided_by_the_column(cells: list[str], hint: bool, fmt: str,
                                              assumed: bool) -> None:
    choice = detect_date_format(cells, month_first_hint=hint)
    assert choice.fmt == fmt
    assert (choice.note is not None) == assumed


def test_a_few_broken_dates_do_not_hide_the_format_but_garbage_does() -> None:
    assert detect_date_format(["31.10.26", "01.11.26", "tomorrow"]).fmt == "%d.%m.%y"
    with pytest.raises(ValueProblem, match="no date format fits"):
        detect_date_format(["tomorrow", "yesterday", "31.10.26"])


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("AMZN Mktp US*2K4AB12C3", "Amazon"),
        ("SQ *BLUE BOTTLE", "Blue Bottle"),
        ("BLUE BOTTLE COFFEE   OAKLAND      CA", "Blue Bottle Coffee"),
        ("TST* JOES PIZZA #123", "Joes Pizza"),
        ("PAYPAL *SPOTIFY", "Spotify"),
        ("PAYPAL *JOHNSMITH", "Johnsmith"),
        ("CARD PAYMENT TO COSTA COFFEE ON 31-10-2026", "Costa Coffee"),
        ("CHECKCARD 1031 SHELL OIL 57442 XXXX1234", "Shell"),
        ("PURCHASE AUTHORIZED ON 10/31 SAFEWAY #1234 SAN JOSE CA S3863045 CARD 1234", "Safeway"),
        ("KARTENZAHLUNG Backhaus Kamps GmbH", "Backhaus Kamps GmbH"),
        ("VODAFONE LTD REF 123456789", "Vodafone Ltd"),
        ("ACME CORP PAYROLL PPD ID: 9876543210", "Acme Corp Payroll"),
        ("IN-N-OUT BURGER #123", "In-N-Out Burger"),
        ("AT&T MOBILITY", "AT&T Mobility"),
        ("CHECK 1042", "Check 1042"),  # too generic to lose its number
        ("Stadtwerke München GmbH", "Stadtwerke München GmbH"),
        ("   ", ""),
    ],
)
def test_payees(raw: str, clean: str) -> None:
    assert clean_payee(raw) == clean


@pytest.mark.parametrize(
    ("text", "stored"),
    [("=1+2", "'=1+2"), ("+44 20 7946 0000", "'+44 20 7946 0000"), ("-Refund", "'-Refund"),
     ("@handle", "'@handle"), ("\t=cmd", "'=cmd"), ("a\x00b\x1bc", "a b c"), ("Tesco", "Tesco")],
)
def test_formulas_are_neutralised_and_control_characters_removed(text: str, stored: str) -> None:
    assert safe_text(text) == stored


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        ("Café £5".encode(), "Café £5", "utf-8"),
        (b"\xef\xbb\xbfDate", "Date", "utf-8-sig"),
        ("Caf\xe9 \xa35 \u20ac".encode("cp1252"), "Café £5 €", "cp1252"),
        (b"\x81\x8d", "\x81\x8d", "latin-1"),  # undefined in cp1252: Latin-1 takes any byte
        ("Straße".encode("utf-16"), "Straße", "utf-16"),
        (b"\xef\xbb\xbfCaf\xe9", "Café", "cp1252"),  # a BOM, then not UTF-8 after all
    ],
)
def test_text_encodings(data: bytes, text: str, encoding: str) -> None:
    assert decode_text(data) == (text, encoding)


def test_format_detection_reads_content_not_names() -> None:
    assert detect_format(b"\xef\xbb\xbf\r\nOFXHEADER:100\r\n") == "ofx"
    assert detect_format(b'<?xml version="1.0"?>\n<?OFX OFXHEADER="200"?>') == "ofx"
    assert detect_format(b"Date,Amount\n") == "csv"
