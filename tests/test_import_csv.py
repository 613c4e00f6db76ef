"""CSV imports in the layouts of real banks' exports (fixtures in tests/data/imports)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from import_support import DATA, Ledger

from ledger import queries as q
from ledger.importing import CsvOptions, ImportOptions, ImportRejected, import_bytes, import_path
from ledger.importing.csv_reader import parse_mapping

D = Decimal


def _import(ledger: Ledger, name: str, account: str, **csv: object) -> object:
    options = ImportOptions(csv=CsvOptions(**csv), model_dir=ledger.model_dir)  # type: ignore[arg-type]
    return import_path(ledger.sessions, DATA / name, user_id=ledger.alice, account=account,
                       options=options)


def _rows(ledger: Ledger, account: str) -> list[tuple[dt.date, Decimal, str, str | None]]:
    return [(d, a, p, m) for d, a, p, m, *_ in ledger.stored(account)]


def test_uk_nationwide_preamble_pounds_and_paid_out_in_columns(ledger: Ledger) -> None:
    report = _import(ledger, "uk_nationwide.csv", "Checking")
    assert report.details["encoding"] == "cp1252"
    assert report.details["date format"] == "%d %b %Y"
    assert (report.rows_read, report.rows_added, report.rows_duplicate) == (8, 8, 0)
    assert _rows(ledger, "Checking") == [
        (dt.date(2026, 10, 1), D("-96.00"), "Octopus Energy", None),
        (dt.date(2026, 10, 1), D("-1450.00"), "Foxtons Lettings Rent", None),
        (dt.date(2026, 10, 3), D("-23.45"), "Tesco", None),
        (dt.date(2026, 10, 3), D("-23.45"), "Tesco", None),  # two real purchases, both kept
        (dt.date(2026, 10, 12), D("-18.99"), "Amazon", None),
        (dt.date(2026, 10, 15), D("-4.50"), "Blue Bottle", None),
        (dt.date(2026, 10, 28), D("3480.00"), "Brightwell Analytics Ltd Salary", None),
        (dt.date(2026, 10, 30), D("-3.20"), "Café Nero Ltd", None),
    ]


def test_uk_monzo_bank_ids_become_source_ids(ledger: Ledger) -> None:
    _import(ledger, "uk_monzo.csv", "Checking")
    stored = ledger.stored("Checking")
    assert [(r[0], r[1], r[2], r[4]) for r in stored] == [
        (dt.date(2026, 10, 2), D("-4.95"), "Pret A Manger", "tx_0000AbC1"),
        (dt.date(2026, 10, 2), D("-31.20"), "Sainsbury's", "tx_0000AbC2"),
        (dt.date(2026, 10, 5), D("-32.99"), "PureGym", "tx_0000AbC3"),
        (dt.date(2026, 10, 7), D("25.00"), "Jane Doe", "tx_0000AbC4"),
        (dt.date(2026, 10, 16), D("-12.99"), "Spotify", "tx_0000AbC5"),
        (dt.date(2026, 10, 20), D("-14.62"), "Uber", "tx_0000AbC6"),
    ]
    assert stored[3][3] == "pizza, thanks"  # quoted comma inside the notes column


def test_us_chase_month_first_dates_and_trailing_comma(ledger: Ledger) -> None:
    report = _import(ledger, "us_chase_checking.csv", "US Checking")
    assert report.details["date format"] == "%m/%d/%Y"
    assert "memo" not in report.details["columns"]  # "Details" is DEBIT/CREDIT, not a memo
    assert _rows(ledger, "US Checking") == [  # the export lists newest first: stored oldest first
        (dt.date(2026, 10, 1), D("-5.75"), "Blue Bottle Coffee San Francisco", None),
        (dt.date(2026, 10, 3), D("-96.30"), "PG&E Web Online", None),
        (dt.date(2026, 10, 13), D("-120.00"), "Check 1042", None),
        (dt.date(2026, 10, 15), D("2750.00"), "Acme Corp Payroll", None),
        (dt.date(2026, 10, 28), D("-15.49"), "Netflix", None),
        (dt.date(2026, 10, 30), D("-82.17"), "Whole Foods", None),
    ]


def test_german_ing_semicolons_decimal_commas_latin1_preamble(ledger: Ledger) -> None:
    report = _import(ledger, "de_ing.csv", "Giro")
    assert (report.details["delimiter"], report.details["decimal separator"]) == (";", ",")
    assert "amount=Betrag" in report.details["columns"]  # not "Saldo", the running balance
    assert _rows(ledger, "Giro") == [
        (dt.date(2026, 10, 1), D("-890.00"), "Hausverwaltung Müller & Söhne", "Miete Oktober"),
        (dt.date(2026, 10, 5), D("-54.00"), "SWM Stadtwerke München", "Abschlag Strom Oktober"),
        (dt.date(2026, 10, 15), D("-1049.90"), "Deutsche Bahn",
         "DB Vertrieb GmbH Fahrkarte 1234567"),
        (dt.date(2026, 10, 27), D("3210.00"), "Stadtklinikum München", "Gehalt Oktober 2026"),
        (dt.date(2026, 10, 30), D("-54.37"), "REWE", "REWE SAGT DANKE 4711//Berlin/DE"),
    ]


def test_credit_card_debit_and_credit_columns(ledger: Ledger) -> None:
    _import(ledger, "cc_capitalone.csv", "Card")
    assert [(d, a, p) for d, a, p, _ in _rows(ledger, "Card")] == [
        (dt.date(2026, 10, 11), D("18.99"), "Amazon"),
        (dt.date(2026, 10, 11), D("-31.40"), "Joes Pizza"),
        (dt.date(2026, 10, 18), D("-1234.56"), "Amazon"),
        (dt.date(2026, 10, 20), D("-41.07"), "Shell"),
        (dt.date(2026, 10, 24), D("500.00"), "Capital One Online Pymt"),
        (dt.date(2026, 10, 29), D("-23.18"), "Uber Eats"),
    ]
    with ledger.sessions() as session:  # newest first again, the bank's order within a day
        account_id = next(a.id for a in q.accounts(session, ledger.alice) if a.name == "Card")
        page = q.find_transactions(session, ledger.alice, q.TransactionFilter(
            account_id=account_id), sort="date_desc", limit=2, offset=4)
    assert [(r.date, r.payee) for r in page.rows] == [
        (dt.date(2026, 10, 11), "Joes Pizza"), (dt.date(2026, 10, 11), "Amazon")]


def test_tab_bom_parentheses_and_dates_disambiguated_by_order(ledger: Ledger) -> None:
    # A EUR account gives no month-first hint; only %m/%d/%Y keeps these rows sorted.
    report = _import(ledger, "us_creditunion.tsv", "Giro")
    assert report.details["encoding"] == "utf-8-sig"
    assert report.details["delimiter"] == "tab"
    assert report.details["date format"] == "%m/%d/%Y"
    assert report.notes and "date order" in report.notes[0]
    assert [(d, a) for d, a, *_ in _rows(ledger, "Giro")] == [
        (dt.date(2026, 1, 2), D("2100.00")),
        (dt.date(2026, 1, 9), D("-84.20")),
        (dt.date(2026, 2, 3), D("-60.00")),
        (dt.date(2026, 3, 1), D("-1204.50")),
        (dt.date(2026, 3, 11), D("0.42")),
    ]


def test_headerless_file_needs_and_accepts_column_numbers(ledger: Ledger) -> None:
    with pytest.raises(ImportRejected, match="no header row"):
        _import(ledger, "us_wellsfargo_noheader.csv", "US Checking")
    report = _import(ledger, "us_wellsfargo_noheader.csv", "US Checking",
                     mapping={"1": "date", "2": "amount", "5": "payee"})
    assert report.rows_added == 3
    assert [(d, a, p) for d, a, p, _ in _rows(ledger, "US Checking")] == [
        (dt.date(2026, 10, 27), D("1850.00"), "Acme Corp Dir Dep 102726 Xxxxx1234 John Doe"),
        (dt.date(2026, 10, 29), D("-9.99"), "Spotify"),
        (dt.date(2026, 10, 31), D("-67.12"), "Safeway"),
    ]


def test_map_overrides_detection_and_ignore_drops_a_column(ledger: Ledger) -> None:
    data = b"When,What,Value,Note\n2026-10-01,Rent,-900.00,October\n"
    options = ImportOptions(
        csv=CsvOptions(mapping=parse_mapping(["When=date", "What=payee", "Value=amount",
                                              "Note=ignore"])),
        model_dir=ledger.model_dir,
    )
    import_bytes(ledger.sessions, data, filename="x.csv", user_id=ledger.alice,
                 account="Checking", options=options)
    assert _rows(ledger, "Checking") == [(dt.date(2026, 10, 1), D("-900.00"), "Rent", None)]


@pytest.mark.parametrize(
    ("pairs", "message"),
    [(["Date"], "expected COLUMN=FIELD"), (["Date=when"], "unknown field 'when'")],
)
def test_bad_map_arguments_are_explained(pairs: list[str], message: str) -> None:
    with pytest.raises(ImportRejected, match=message):
        parse_mapping(pairs)


def test_classic_mac_line_endings(ledger: Ledger) -> None:
    data = b"Date,Description,Amount\r2026-10-01,Rent,-900.00\r2026-10-02,Cafe,-3.00\r"
    report = import_bytes(ledger.sessions, data, filename="mac.csv", user_id=ledger.alice,
                          account="Checking", options=ImportOptions(model_dir=ledger.model_dir))
    assert report.rows_added == 2


def test_negate_flips_purchases_listed_as_positive(ledger: Ledger) -> None:
    data = b"Date,Description,Amount\n10/05/2026,NETFLIX.COM,15.49\n10/09/2026,PAYMENT,-200.00\n"
    import_bytes(ledger.sessions, data, filename="amex.csv", user_id=ledger.alice,
                 account="Card",
                 options=ImportOptions(csv=CsvOptions(negate=True), model_dir=ledger.model_dir))
    assert [(d, a) for d, a, *_ in _rows(ledger, "Card")] == [
        (dt.date(2026, 10, 5), D("-15.49")),
        (dt.date(2026, 10, 9), D("200.00")),
    ]


def test_unsigned_amounts_with_a_debit_credit_indicator(ledger: Ledger) -> None:
    data = ("Buchungstag;Umsatz;Soll/Haben;Empfänger\n01.10.2026;54,37;S;REWE\n"
            "02.10.2026;3.210,00;H;Arbeitgeber GmbH\n03.10.2026;1,00;X;Kiosk\n").encode()
    report = import_bytes(ledger.sessions, data, filename="sh.csv", user_id=ledger.alice,
                          account="Giro",
                          options=ImportOptions(skip_invalid=True, model_dir=ledger.model_dir))
    assert [(a, p) for _, a, p, _ in _rows(ledger, "Giro")] == [
        (D("-54.37"), "REWE"), (D("3210.00"), "Arbeitgeber GmbH")]
    assert [e.describe("sh.csv") for e in report.errors] == [
        "sh.csv, line 4, Soll/Haben: 'x' is neither a debit (D, DR, S) nor a credit (C, CR, H)"]


def test_a_currency_column_must_match_the_account(ledger: Ledger) -> None:
    data = b"Date,Name,Amount,Currency\n2026-10-01,Hotel,-100.00,GBP\n2026-10-02,Cafe,-3.00,EUR\n"
    with pytest.raises(ImportRejected) as caught:
        import_bytes(ledger.sessions, data, filename="fx.csv", user_id=ledger.alice,
                     account="Checking", options=ImportOptions(model_dir=ledger.model_dir))
    assert str(caught.value).startswith("fx.csv, line 3, Currency: EUR but the account is in GBP")
