"""Reading OFX/QFX statements (1.x SGML and 2.x XML) with ofxtools.

ofxtools tokenises both dialects with its own regex parser (unclosed SGML tags included) and
never hands the text to an XML parser, so it does not expand entities or fetch DTDs; it only
unescapes the five predefined entities. A file declaring a DOCTYPE or ENTITY is refused before
parsing anyway: no bank needs one, and the refusal does not depend on a library's internals.

Each ``<STMTTRN>`` is converted on its own (ofxtools validates types and required elements),
so one broken transaction is a row error with its position, not a failed file. The date is
taken from the text of ``DTPOSTED`` (its first eight digits) rather than from the parsed
datetime, which ofxtools converts to UTC and would move an evening transaction in a
negative-offset time zone to the next day.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import re
import warnings
import xml.etree.ElementTree as ET
from decimal import Decimal

from ofxtools.models.base import Aggregate
from ofxtools.Parser import OFXTree

from ledger.importing.errors import ImportRejected
from ledger.importing.normalise import display_payee, safe_text
from ledger.importing.records import ImportLimits, ParsedFile, ParsedRow, RowError
from ledger.models import Account
from ledger.money import CENT

_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ATTLIST|ELEMENT)", re.IGNORECASE)
_CHARSET_LINE = re.compile(rb"CHARSET:\s*[\w-]+")
_STATEMENTS = ("STMTRS", "CCSTMTRS")
_SOURCE_ID_MAX = 100


def read_ofx(
    data: bytes, *, filename: str, account: Account, limits: ImportLimits
) -> ParsedFile:
    """Parse the statement for ``account`` out of an OFX/QFX file.

    Raises:
        ImportRejected: the file declares a DTD/entities, is not parseable OFX, holds no bank
            or card statement, is in another currency, or is for another account.
    """
    if _FORBIDDEN.search(data):
        raise ImportRejected(
            f"{filename} declares a DOCTYPE or ENTITY; OFX files never need one, so it is "
            "refused (entity expansion and external entities are a known attack)"
        )
    root, version = _parse(data.removeprefix(codecs.BOM_UTF8), filename)
    statement = _pick_statement(root, account, filename)
    currency = (statement.findtext("CURDEF") or "").strip().upper()
    if currency and currency != account.currency:
        raise ImportRejected(
            f"{filename} is a {currency} statement but {account.name!r} is in {account.currency}"
        )
    transactions = list(statement.iter("STMTTRN"))
    if len(transactions) > limits.max_rows:
        raise ImportRejected(
            f"{filename} has more than {limits.max_rows:,} transactions; split it"
        )
    parsed = ParsedFile(file_format="ofx", rows_read=len(transactions),
                        account_number=_account_id(statement) or None,
                        account_is_card=statement.find("CCACCTFROM") is not None)
    parsed.details = {"version": version, "currency": currency or account.currency}
    lines = _transaction_lines(data)
    for number, element in enumerate(transactions):
        line = lines[number] if number < len(lines) else number + 1
        try:
            parsed.rows.append(_convert(element, line, limits))
        except _TransactionProblem as exc:
            parsed.errors.append(RowError(line, exc.field, exc.message))
    return parsed


def _parse(data: bytes, filename: str) -> tuple[ET.Element, str]:
    """The element tree and OFX version; a v1 file whose body is not in its declared
    charset (``CHARSET:NONE`` with Windows-1252 bytes is common) is retried as 1252."""
    for attempt in (data, _CHARSET_LINE.sub(b"CHARSET:1252", data, count=1)):
        tree = OFXTree()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree.parse(io.BytesIO(attempt))
        except UnicodeDecodeError:
            continue
        except (SyntaxError, ValueError, KeyError, IndexError, AssertionError) as exc:
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ImportRejected(f"{filename} is not a readable OFX file: {reason}") from None
        root = tree.getroot()
        if root is None:
            break
        return root, str(getattr(tree.header, "version", ""))
    raise ImportRejected(f"{filename} is not a readable OFX file: undecodable text")


def _pick_statement(root: ET.Element, account: Account, filename: str) -> ET.Element:
    """The bank or card statement in the file that belongs to ``account``.

    With several statements, the one whose account number ends in ``account.number_last4``;
    with one, it must not contradict ``number_last4`` when the account has it.
    """
    statements = [s for tag in _STATEMENTS for s in root.iter(tag)]
    if not statements:
        kind = "an investment statement" if next(root.iter("INVSTMTRS"), None) is not None else (
            "no bank or credit-card statement"
        )
        raise ImportRejected(f"{filename} has {kind}; only bank and card statements import")
    ids = [_account_id(s) for s in statements]
    last4 = account.number_last4
    matching = [
        s for s, acct in zip(statements, ids, strict=True) if last4 and acct.endswith(last4)
    ]
    if len(statements) == 1 and (not last4 or matching or not ids[0]):
        return statements[0]
    if len(matching) == 1:
        return matching[0]
    masked = ", ".join(f"...{acct[-4:]}" for acct in ids)
    raise ImportRejected(
        f"{filename} holds statements for account(s) {masked}; none is unambiguously "
        f"{account.name!r} (number ending {last4 or 'unknown'})"
    )


def _account_id(statement: ET.Element) -> str:
    return (statement.findtext("BANKACCTFROM/ACCTID") or statement.findtext("CCACCTFROM/ACCTID")
            or "").strip()


def _transaction_lines(data: bytes) -> list[int]:
    """The line on which each ``<STMTTRN>`` starts, in document order."""
    return [data.count(b"\n", 0, m.start()) + 1 for m in re.finditer(rb"<STMTTRN>", data)]


class _TransactionProblem(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _convert(element: ET.Element, line: int, limits: ImportLimits) -> ParsedRow:
    """One ``ParsedRow`` from a ``<STMTTRN>`` element, validated by ofxtools.

    The elements every row needs are checked first so their errors name the element;
    ofxtools then validates the rest of the aggregate against the specification.
    """
    for tag in ("DTPOSTED", "TRNAMT", "FITID"):
        if not (element.findtext(tag) or "").strip():
            raise _TransactionProblem(tag, "missing")
    raw_amount = (element.findtext("TRNAMT") or "").strip()
    try:
        Decimal(raw_amount.replace(",", "."))
    except ArithmeticError:
        raise _TransactionProblem("TRNAMT", f"not an amount: {raw_amount!r}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trn = Aggregate.from_etree(element)
    except (SyntaxError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise _TransactionProblem(None, f"not a valid OFX transaction: {reason}") from None
    for tag in ("NAME", "MEMO", "FITID"):
        text = element.findtext(tag) or element.findtext(f"PAYEE/{tag}") or ""
        if len(text) > limits.max_cell_chars:
            raise _TransactionProblem(tag, f"{len(text):,} characters (at most "
                                      f"{limits.max_cell_chars:,})")
    if element.find("CURRENCY") is not None:
        code = element.findtext("CURRENCY/CURSYM") or "another currency"
        raise _TransactionProblem("CURRENCY", f"amount is in {code}, not the account currency")
    amount = Decimal(trn.trnamt)
    if amount != amount.quantize(CENT):
        raise _TransactionProblem("TRNAMT", f"more than two decimal places: {amount}")
    payee_raw = _payee(trn)
    memo = (trn.memo or "").strip()
    return ParsedRow(
        line=line,
        date=_posted_date(element.findtext("DTPOSTED") or ""),
        amount=amount.quantize(CENT),
        payee_raw=payee_raw or memo or "(no description)",
        payee=display_payee(payee_raw or memo or "(no description)"),
        memo=safe_text(memo)[:500] or None,
        bank_id=_source_id(str(trn.fitid).strip()),
    )


def _payee(trn: Aggregate) -> str:
    payee = getattr(trn, "payee", None)
    name = getattr(payee, "name", None) if payee is not None else None
    return (name or getattr(trn, "name", None) or "").strip()


def _posted_date(text: str) -> dt.date:
    """``20261031200000.000[-5:EST]`` -> 2026-10-31: the date as the bank wrote it."""
    digits = text.strip()[:8]
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise _TransactionProblem("DTPOSTED", f"not a date: {text.strip()!r}") from None


def _source_id(fitid: str) -> str:
    """FITID as the source id; ids longer than the column are replaced by their hash."""
    if len(fitid) <= _SOURCE_ID_MAX:
        return fitid
    return "fitid-sha256:" + hashlib.sha256(fitid.encode()).hexdigest()
