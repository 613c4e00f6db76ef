"""OFX/QFX imports: SGML 1.x quirks, XML 2.x, FITIDs, account and currency checks, hostile XML."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from import_support import DATA, Ledger

from ledger.importing import ImportOptions, ImportRejected, import_bytes, import_path

D = Decimal


def _import(ledger: Ledger, name: str, account: str, **options: object) -> object:
    return import_path(ledger.sessions, DATA / name, user_id=ledger.alice, account=account,
                       options=ImportOptions(model_dir=ledger.model_dir, **options))  # type: ignore[arg-type]


def test_sgml_v1_with_unclosed_tags_entities_payee_aggregate_and_long_names(
    ledger: Ledger,
) -> None:
    report = _import(ledger, "us_bank_v1.ofx", "US Checking")
    assert (report.file_format, report.details["version"]) == ("ofx", "102")
    assert [(d, a, p, m, s) for d, a, p, m, s, *_ in ledger.stored("US Checking")] == [
        (dt.date(2026, 10, 1), D("-5.75"), "Blue Bottle", None, "202610010001"),
        (dt.date(2026, 10, 14), D("2750.00"), "Acme Corp Payroll", None, "202610140001"),
        (dt.date(2026, 10, 15), D("-96.30"), "PG&E", "Café utility", "202610150001"),
        # 20:00 EST on Oct 31 is Nov 1 in UTC: the date stays the bank's own.
        (dt.date(2026, 10, 31), D("-18.99"), "Amazon", "Books & more", "202610310001"),
    ]


def test_qfx_credit_card_with_undeclared_windows_1252_bytes(ledger: Ledger) -> None:
    _import(ledger, "cc_card_v1.qfx", "Card")
    assert [(d, a, p, m, s) for d, a, p, m, s, *_ in ledger.stored("Card")] == [
        (dt.date(2026, 10, 11), D("-31.40"), "Joes Pizza", "Crème brûlée", "3201011B7"),
        (dt.date(2026, 10, 24), D("500.00"), "Payment - Thank You", None, "3201024P1"),
        (dt.date(2026, 10, 29), D("-23.18"), "Uber Eats", None, "3201029A1"),
    ]


def test_xml_v2(ledger: Ledger) -> None:
    report = _import(ledger, "de_bank_v2.ofx", "Giro")
    assert report.details["version"] == "220"
    assert [(d, a, p, s) for d, a, p, _, s, *_ in ledger.stored("Giro")] == [
        (dt.date(2026, 10, 5), D("-54.00"), "SWM Stadtwerke München", "2026100500011"),
        (dt.date(2026, 10, 27), D("3210.00"), "Stadtklinikum München", "2026102700003"),
        (dt.date(2026, 10, 30), D("-54.37"), "REWE", "2026103000017"),
    ]


def test_reimport_by_fitid_adds_nothing_even_from_an_edited_copy(ledger: Ledger) -> None:
    _import(ledger, "de_bank_v2.ofx", "Giro")
    edited = (DATA / "de_bank_v2.ofx").read_bytes().replace(b"GER", b"DEU")  # new sha256
    again = import_bytes(ledger.sessions, edited, filename="again.ofx", user_id=ledger.alice,
                         account="Giro", options=ImportOptions(model_dir=ledger.model_dir))
    assert (again.rows_read, again.rows_added, again.rows_duplicate) == (3, 0, 3)
    assert len(ledger.stored("Giro")) == 3


@pytest.mark.parametrize("name", ["evil_billion_laughs.ofx", "evil_external_entity.ofx"])
def test_doctype_and_entities_are_refused_before_parsing(ledger: Ledger, name: str) -> None:
    with pytest.raises(ImportRejected, match="declares a DOCTYPE or ENTITY"):
        _import(ledger, name, "Giro")
    assert ledger.count("transactions") == 0 and ledger.count("import_batches") == 0


def test_statement_currency_must_match_the_account(ledger: Ledger) -> None:
    with pytest.raises(ImportRejected, match="a USD statement but 'Checking' is in GBP"):
        _import(ledger, "us_bank_v1.ofx", "Checking")


def test_statement_for_another_account_number_is_refused(ledger: Ledger) -> None:
    # "Card" ends in 4821; this checking statement is for ...4567.
    with pytest.raises(ImportRejected, match=r"\.\.\.4567.*number ending 4821"):
        _import(ledger, "us_bank_v1.ofx", "Card")


def _ofx(transactions: str) -> bytes:
    template = (DATA / "de_bank_v2.ofx").read_text(encoding="utf-8")
    start = template.index("<STMTTRN>")
    end = template.rindex("</STMTTRN>") + len("</STMTTRN>")
    return (template[:start] + transactions + template[end:]).encode()


def _trn(fitid: str, amount: str, name: str = "Shop", date: str = "20261002") -> str:
    return (f"<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>{date}</DTPOSTED>"
            f"<TRNAMT>{amount}</TRNAMT><FITID>{fitid}</FITID><NAME>{name}</NAME></STMTTRN>\n")


def test_a_bad_transaction_is_located_and_rejects_the_file(ledger: Ledger) -> None:
    data = _ofx(_trn("A1", "-1.00") + _trn("A2", "twelve") + _trn("A3", "-3.00"))
    with pytest.raises(ImportRejected) as caught:
        import_bytes(ledger.sessions, data, filename="bad.ofx", user_id=ledger.alice,
                     account="Giro", options=ImportOptions(model_dir=ledger.model_dir))
    line = data[: data.index(b"<FITID>A2")].count(b"\n") + 1
    assert str(caught.value).startswith(f"bad.ofx, line {line}")
    assert ledger.count("transactions") == 0
    report = import_bytes(ledger.sessions, data, filename="bad.ofx", user_id=ledger.alice,
                          account="Giro",
                          options=ImportOptions(model_dir=ledger.model_dir, skip_invalid=True))
    assert (report.rows_added, report.rows_invalid) == (2, 1)


def test_repeated_fitids(ledger: Ledger) -> None:
    """Identical repeats are duplicates; a reused id with other content is kept as id#2."""
    data = _ofx(_trn("X", "-1.00") + _trn("X", "-1.00") + _trn("X", "-7.00", "Other"))
    report = import_bytes(ledger.sessions, data, filename="dup.ofx", user_id=ledger.alice,
                          account="Giro", options=ImportOptions(model_dir=ledger.model_dir))
    assert (report.rows_added, report.rows_duplicate) == (2, 1)
    assert [(a, s) for _, a, _, _, s, *_ in ledger.stored("Giro")] == [
        (D("-1.00"), "X"), (D("-7.00"), "X#2")
    ]


def test_not_ofx_at_all_is_one_readable_error(ledger: Ledger) -> None:
    data = b"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n<OFX><garbage"
    with pytest.raises(ImportRejected, match=r"^junk\.ofx is not a readable OFX file"):
        import_bytes(ledger.sessions, data, filename="junk.ofx", user_id=ledger.alice,
                     account="Giro", options=ImportOptions(model_dir=ledger.model_dir))
