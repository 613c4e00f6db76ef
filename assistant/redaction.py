"""Masking personal data in text that leaves the machine for an external model.

A hosted model needs the user's figures, dates, categories and payees to answer, but not their
card numbers, IBANs, account numbers, e-mail addresses, phone numbers or street addresses. The
``openai`` backend runs every outgoing message (system prompt, user, assistant, tool results,
tool-call arguments) and the user's enum names in the tool schemas through one ``Redactor``
per request; the offline backend never sends anything anywhere and needs none of this.

How a text is scanned: detectors run in a fixed order and every span one of them claims is
blanked for the detectors after it. High-confidence forms come first (e-mail, IBAN with its
mod-97 checksum, ``+``/``00`` international phone numbers, card numbers in their printed
groupings with the Luhn check); then dates, year ranges, money amounts and percentages are
claimed *to be kept*, so that nothing after them can eat a figure the answer needs; then
national phone numbers, runs of eight or more digits (account, order and reference numbers),
street addresses and UK postcodes. Masking too much is the safe side: a reference number
lost costs an answer less than a card number sent.

Masks: numbers keep their last four characters (``•••• 1234``, the form banks print); other
kinds become numbered placeholders (``[email 1]``, ``[phone 2]``, ``[address 1]``). A
``Redactor`` remembers what each mask stands for, so when the model calls a tool with a mask
("transactions mentioning [email 1]") ``restore`` gives the tool the user's real value; the
value never travelled. Names of people are not detected (that needs a NER model); payees stay
readable because answers are about them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
    _Detector(
        "phone",
        re.compile(r"(?<![\w+])(?:\+|\b00)[1-9]\d{0,3}(?:[ .\-]?\(?\d{1,5}\)?){1,7}"),
        _digit_groups_span(8, 15),
    ),
    _Detector(
        "number",
        re.compile(
            r"(?<![\w.,])(?:\d{13,19}|\d{4}([ \-])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
            r"|\d{4}([ \-])\d{6}\2\d{4,5})(?![\w]|[.,]\d)"
        ),
        _card_span,
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


# ---------------------------------------------------------------- the redactor
@dataclass
class Redactor:
    """Masks personal data in the texts of one model request and remembers the masks.

    Use one per request: the same original gets the same mask everywhere in it (the model
    can tell two e-mail addresses apart), and ``restore`` maps masks in the model's tool-call
    arguments back to what they stand for.
    """

    _masks: dict[tuple[str, str], str] = field(default_factory=dict)
    """(kind, original) -> mask."""
    _originals: dict[str, str | None] = field(default_factory=dict)
    """mask -> original; ``None`` when two originals share a mask (same last four digits)."""
    _counts: dict[str, int] = field(default_factory=dict)

    @property
    def masked_count(self) -> int:
        """How many distinct values this redactor has masked so far."""
        return len(self._masks)

    def text(self, text: str) -> str:
        """``text`` with every detected personal datum replaced by its mask."""
        out: list[str] = []
        position = 0
        for start, end, kind in _spans(text):
            out.append(text[position:start])
            original = text[start:end]
            out.append(original if kind == "keep" else self._mask(kind, original))
            position = end
        out.append(text[position:])
        return "".join(out)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it redacted (keys, numbers kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def json_text(self, text: str) -> str:
        """Redact the strings inside a JSON document, keeping it valid JSON; text that is not
        JSON is redacted as text. Unchanged documents are returned byte for byte."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return self.text(text)
        redacted = self.value(data)
        return text if redacted == data else json.dumps(redacted, ensure_ascii=False)

    def restore(self, value: Any) -> Any:
        """The inverse for values the model sends back: unambiguous masks in strings become
        their originals again, so a tool searches for what the user really has."""
        if isinstance(value, str):
            for mask, original in self._originals.items():
                if original is not None and mask in value:
                    value = value.replace(mask, original)
            return value
        if isinstance(value, list):
            return [self.restore(item) for item in value]
        if isinstance(value, dict):
            return {key: self.restore(item) for key, item in value.items()}
        return value

    def _mask(self, kind: str, original: str) -> str:
        key = (kind, _normalise(kind, original))
        mask = self._masks.get(key)
        if mask is None:
            if kind == "number":
                mask = f"{DOTS} {key[1][-4:]}"
            else:
                self._counts[kind] = self._counts.get(kind, 0) + 1
                mask = f"[{kind} {self._counts[kind]}]"
            self._masks[key] = mask
            if mask not in self._originals:
                self._originals[mask] = original
            elif self._originals[mask] != original:
                self._originals[mask] = None  # ambiguous: restore leaves it masked
        return mask


def redact(text: str) -> str:
    """``text`` with personal data masked (a one-off ``Redactor``)."""
    return Redactor().text(text)


def _normalise(kind: str, original: str) -> str:
    """The identity of a value: a number without separators, other kinds case-folded."""
    if kind == "number":
        return re.sub(r"[\s\-\u00a0]", "", original).upper()
    return " ".join(original.split()).casefold()


def _spans(text: str) -> Iterator[tuple[int, int, str]]:
    """Claimed spans in text order as (start, end, kind); see the module docstring."""
    work = text
    claimed: list[tuple[int, int, str]] = []
    for detector in _DETECTORS:
        found = [span for span in map(detector.check, detector.pattern.finditer(work)) if span]
        for start, end in found:
            claimed.append((start, end, detector.kind))
            work = work[:start] + _BLANK * (end - start) + work[end:]
    return iter(sorted(claimed))
