"""Finding sensitive numbers and personal data in free text, and masking numbers to last four.

One implementation for every place that must not show a full card number, IBAN or account
number: ledger tool results (memos), exports to other agent frameworks, and the PII
redaction in front of an external model (``assistant.redaction``, which adds numbered
placeholders for e-mails, phones and addresses and can restore them).

How a text is scanned (``spans``): detectors run in a fixed order and every span one of them
claims is blanked for the detectors after it. High-confidence forms come first (e-mail, IBAN
with its mod-97 checksum, card numbers in their printed groupings with the Luhn check, then
``+``/``00`` international phone numbers, which must not take a card's ``0031`` group); then
dates, year ranges, money amounts and percentages are claimed *to be kept*, so that nothing
after them can eat a figure; then national phone numbers, runs of eight or more digits
(account, order and reference numbers), street addresses and UK postcodes. Masking too much
is the safe side: a reference number lost costs less than a card number shown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

DOTS = "••••"
"""The masked part of a number: ``•••• 1234``."""

_BLANK = "\x00"
"""Fills a claimed span in the working copy: not a digit, not a word character."""

_SEP = r"[ \u00a0\-]"
"""Separators allowed between digit groups of card and account numbers."""


@dataclass(frozen=True)
class _Detector:
    """One kind of span: ``check`` turns a regex match into the span to claim, or ``None``."""

    kind: str
    """``keep`` (a figure to protect), ``number`` (mask to last four) or a placeholder label."""
    pattern: re.Pattern[str]
    check: Callable[[re.Match[str]], tuple[int, int] | None] = lambda m: m.span()


# ---------------------------------------------------------------- validators
def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def luhn_valid(number: str) -> bool:
    """The Luhn checksum of a card number (digits only) holds."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _is_compact_date(digits: str) -> bool:
    """``20261031``: eight digits that read as a plausible YYYYMMDD date."""
    if len(digits) != 8 or digits[:2] not in ("19", "20"):
        return False
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def _iban_span(match: re.Match[str]) -> tuple[int, int] | None:
    """The longest prefix of the match, cut at a group boundary, that passes the checksum
    (a grouped IBAN may be followed by another token the pattern swallowed)."""
    text = match.group()
    cuts = [len(text), *reversed([m.start() for m in re.finditer(" ", text)])]
    for cut in cuts:
        if iban_valid(text[:cut]):
            return match.start(), match.start() + cut
    return None


def _digit_groups_span(
    low: int, high: int
) -> Callable[[re.Match[str]], tuple[int, int] | None]:
    """Accept a run of digit groups with ``low``..``high`` digits; longer runs lose trailing
    groups until they fit (a phone number followed by a date, say)."""

    def check(match: re.Match[str]) -> tuple[int, int] | None:
        text = match.group()
        while len(_digits(text)) > high:
            cut = max(text.rfind(sep) for sep in " .-/")
            if cut <= 0:
                return None
            text = text[:cut].rstrip(" .-/(")
        if len(_digits(text)) < low or re.fullmatch(r"\+?\d+(?:[.,]\d{3})*[.,]\d{1,2}", text):
            return None
        return match.start(), match.start() + len(text)

    return check


def _card_span(match: re.Match[str]) -> tuple[int, int] | None:
    return match.span() if luhn_valid(_digits(match.group())) else None


def _account_span(match: re.Match[str]) -> tuple[int, int] | None:
    """Eight or more digits that are not a compact date and not single digits spaced out."""
    text = match.group()
    digits = _digits(text)
    if digits == text and _is_compact_date(digits):
        return None
    groups = re.split(_SEP, text)
    if len(groups) > 1 and max(len(group) for group in groups) < 3:
        return None
    return match.span()


# ---------------------------------------------------------------- detectors, in order
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_YEAR = r"(?:19|20)\d{2}"
_CURRENCY = r"(?:[€$£¥₹]|\b(?:EUR|USD|GBP|CHF|JPY|SEK|NOK|DKK|PLN|CZK|CAD|AUD)\b)"
_THOUSANDS = r"\d{1,3}(?:[,.'’ \u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?"
_AMOUNT_BODY = rf"{_THOUSANDS}|\d+(?:[.,]\d{{1,2}})?"
_NO_MORE_DIGITS = r"(?!\d|[.,\-/' ]\d)"
"""After a kept figure: not followed by another digit group (then it is a longer number)."""

_KEEP = re.compile(
    "|".join(
        [
            # ISO dates and timestamps, 2026/10/31, 31.10.2026, 31/10/26, 10/31/2026
            rf"\b{_YEAR}-{_MONTH}-{_DAY}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?"
            rf"(?:Z|[+-]\d{{2}}:?\d{{2}})?)?\b",
            rf"\b{_YEAR}[/.]{_MONTH}[/.]{_DAY}\b",
            rf"\b{_DAY}[/.\-]{_MONTH}[/.\-](?:{_YEAR}|\d{{2}})\b{_NO_MORE_DIGITS}",
            rf"\b{_MONTH}/{_DAY}/{_YEAR}\b",
            # years and ranges of them: 2024-25, 2023 2024 2025, 2024 to 2026
            rf"\b{_YEAR}(?:(?:\s*[\-–/,]\s*|\s+(?:to|and|or)\s+|\s+){_YEAR}\b)+",
            rf"\b{_YEAR}[\-–/]\d{{2}}\b{_NO_MORE_DIGITS}",
            # money with a currency, percentages, grouped thousands, decimals
            rf"[-+−]?{_CURRENCY}\s?[-−]?(?:{_AMOUNT_BODY})",
            rf"(?<![\d.,])[-+−]?(?:{_AMOUNT_BODY})\s?{_CURRENCY}",
            r"(?<![\d.,])[-+−]?\d+(?:[.,]\d+)?\s?%",
            rf"(?<![\d.,])[-+−]?{_THOUSANDS}{_NO_MORE_DIGITS}",
            rf"(?<![\d.,])[-+−]?\d+[.,]\d{{1,2}}{_NO_MORE_DIGITS}",
        ]
    )
)

_STREET_SUFFIX = (
    r"(?i:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|"
    r"terrace|close|crescent|square|sq|parkway|pkwy|highway|hwy|row|mews|gardens|grove)"
)
_NAME_WORD = r"[A-Z][A-Za-z'’\-]*"
_WORD = r"[^\W\d][\w'’\-]*"
_STREET_FIRST = "|".join(
    form
    for word in ("Rue", "Avenue", "Boulevard", "Place", "Allée", "Impasse", "Quai", "Chemin",
                 "Calle", "Via", "Viale", "Piazza", "Corso", "Rua", "Avenida", "Plaza", "Paseo",
                 "Carrer")
    for form in (word, word.upper())
)
_NUMBER_FIRST = r"(?i:rue|avenue|boulevard|bd|allée|impasse|quai|chemin)"
_GERMANIC = (
    r"(?:[A-ZÄÖÜ][\wäöüß\-]*(?:straße|strasse|str\.|weg|platz|gasse|allee|damm|straat|laan|"
    r"gracht|plein)|Straße|Strasse|Weg|Platz|Allee)"
)

_DETECTORS: tuple[_Detector, ...] = (
    _Detector(
        "email",
        re.compile(  # starts only where a local part starts: linear, not quadratic
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}"
            r"@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"
        ),
    ),
    _Detector(
        "number",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        _iban_span,
    ),
    _Detector(  # IBAN-shaped but failing the checksum (a typo): its digits are still private
        "number", re.compile(r"\b[A-Z]{2}\d{2}(?: ?\d{4}){3,7}(?: ?\d{1,4})?\b")
    ),
    _Detector(  # before phones: "2223 0031 2200 3222" is a card, not a call to +31
        "number",
        re.compile(
            r"(?<![\w.,])(?:\d{13,19}|\d{4}([ \-])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
            r"|\d{4}([ \-])\d{6}\2\d{4,5})(?![\w]|[.,]\d)"
        ),
        _card_span,
    ),
    _Detector(
        "phone",
        re.compile(r"(?<![\w+])(?:\+|\b00)[1-9]\d{0,3}(?:[ .\-]?\(?\d{1,5}\)?){1,7}"),
        _digit_groups_span(8, 15),
    ),
    _Detector("keep", _KEEP),
    _Detector(
        "phone",
        re.compile(
            r"(?<![\w+.,])(?:\(\d{3}\) ?|\d{3}[\-. ])\d{3}[\-. ]\d{4}(?![\w]|[.,]\d)"
            r"|(?<![\w+.,])0\d{1,4}(?:[ .\-/]\d{2,8}){1,4}(?![\w]|[.,]\d)"
        ),
        _digit_groups_span(9, 11),
    ),
    _Detector(
        "number", re.compile(rf"(?<![\w.,])\d(?:{_SEP}?\d){{7,}}(?![\w]|[.,]\d)"), _account_span
    ),
    _Detector(
        "address",
        re.compile(
            rf"\b\d{{1,5}}[A-Za-z]?,? (?:{_NAME_WORD} ){{1,4}}{_STREET_SUFFIX}\b\.?"
            rf"|\b\d{{1,4}}[a-z]?,? {_NUMBER_FIRST}(?: {_WORD}){{1,5}}"
            rf"|\b(?:{_STREET_FIRST}) (?:{_WORD} ){{1,5}}\d{{1,4}}[a-z]?\b"
            rf"|\b(?:{_NAME_WORD} )?{_GERMANIC} \d{{1,3}}[a-z]?\b"
        ),
    ),
    _Detector("postcode", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")),
)


def spans(text: str) -> Iterator[tuple[int, int, str]]:
    """Claimed spans in text order as (start, end, kind); see the module docstring."""
    work = text
    claimed: list[tuple[int, int, str]] = []
    for detector in _DETECTORS:
        found = [span for span in map(detector.check, detector.pattern.finditer(work)) if span]
        for start, end in found:
            claimed.append((start, end, detector.kind))
            work = work[:start] + _BLANK * (end - start) + work[end:]
    return iter(sorted(claimed))


# ---------------------------------------------------------------- masking
_DROP_DIGITS = str.maketrans("", "", "0123456789")
_MIN_DIGITS = 8
"""The fewest digits any masked kind has (an account number; IBANs and cards have more)."""


def normalise_number(original: str) -> str:
    """A number's identity: without spaces and dashes, upper-case (``de89 3704`` = ``DE893704``)."""
    return re.sub(r"[\s\-\u00a0]", "", original).upper()


def mask_number(value: str) -> str:
    """``•••• 1234``: the last four characters of a card, account number or IBAN, the form
    banks print."""
    return f"{DOTS} {normalise_number(value)[-4:]}"


def mask_sensitive_text(text: str) -> str:
    """``text`` with every card number (Luhn-valid), IBAN (mod-97 valid, or IBAN-shaped) and
    account number (eight or more digits) masked to its last four; amounts, dates, phone
    numbers, e-mails and addresses are left as they are. Text with fewer than eight digits
    is returned at once (most memos)."""
    if len(text) - len(text.translate(_DROP_DIGITS)) < _MIN_DIGITS:
        return text
    out: list[str] = []
    position = 0
    for start, end, kind in spans(text):
        if kind == "number":
            out.append(text[position:start])
            out.append(mask_number(text[start:end]))
            position = end
    out.append(text[position:])
    return "".join(out)


def mask_personal_data(text: str) -> str:
    """``mask_sensitive_text`` plus e-mail addresses, phone numbers, street addresses and
    postcodes replaced by their kind (``[email]``, ``[phone]``): for text handed to a model
    finchat does not control. Unlike ``assistant.redaction.Redactor`` nothing is numbered or
    remembered, so nothing can be restored."""
    out: list[str] = []
    position = 0
    for start, end, kind in spans(text):
        if kind == "keep":
            continue
        out.append(text[position:start])
        out.append(mask_number(text[start:end]) if kind == "number" else f"[{kind}]")
        position = end
    out.append(text[position:])
    return "".join(out)


def mask_strings(value: Any, mask: Callable[[str], str] = mask_sensitive_text) -> Any:
    """A JSON-like value with ``mask`` applied to every string in it (keys and numbers kept)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [mask_strings(item, mask) for item in value]
    if isinstance(value, dict):
        return {key: mask_strings(item, mask) for key, item in value.items()}
    return value
