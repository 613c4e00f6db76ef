"""Reading numbers out of answers and tool results, for grounding and fact checks.

Numbers are read the way a person reads an answer: currency symbols and codes, thousands
separators, signs, ``%`` and ``k``/``million`` suffixes are understood; dates, times, ordinals,
bare years and list markers are not numbers. An amount counts as the same as another when it
is that amount rounded to the precision the answer shows ("€1,235" for 1234.56), so an answer
is not punished for rounding and not rewarded for inventing; a plain whole number ("3
payments") is a count and must match exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NOT_NUMBERS = re.compile(
    "|".join(
        [
            r"\b\d{4}-\d{1,2}(?:-\d{1,2})?\b",  # 2026-09-01, 2026-09
            r"\b\d{1,4}[/.]\d{1,2}[/.]\d{2,4}\b",  # 01/09/2026, 2026/09/01, 1.9.2026
            rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b\.?(?:,?\s+\d{{4}}\b)?",
            rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}}\b)?",
            rf"\b{_MONTH}\.?,?\s+\d{{4}}\b",  # September 2026
            r"\b\d{1,2}:\d{2}\b",  # times
            r"\b\d+(?:st|nd|rd|th)\b",  # ordinals
            r"^\s*\d+[.)]\s",  # numbered list markers
        ]
    ),
    re.IGNORECASE | re.MULTILINE,
)
_DECIMAL_TEXT = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<minus>[-−]\s?)?(?P<currency>[€$£¥]\s?|(?:EUR|USD|GBP|CHF)\s)?(?P<minus2>[-−])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\w,]*\d)"
    r"(?P<suffix>\s?(?:%|percent\b|k\b|K\b|million\b|bn\b|billion\b))?"
    r"(?P<code>\s?(?:[€£$]|(?:EUR|GBP|USD|CHF|euros?|pounds?|dollars?)\b))?"
)
_SCALE = {"k": 1000, "million": 1_000_000, "bn": 1_000_000_000, "billion": 1_000_000_000}


@dataclass(frozen=True)
class Number:
    """A number as written in a text."""

    value: Decimal
    unit: Decimal
    """The smallest step the text shows (0.01 for "12.34", 100 for "1.2k"); 0 for a plain
    whole number ("3 payments"), which is a count and must be exact, not a rounding."""
    text: str

    def same_as(self, other: Decimal, tolerance: Decimal = Decimal(0)) -> bool:
        """True when this number is ``other`` (sign ignored) shown at this precision."""
        return abs(abs(self.value) - abs(other)) <= self.unit / 2 + tolerance


def extract_numbers(text: str) -> list[Number]:
    """Every number in ``text`` except dates, times, ordinals, years and list markers."""
    masked = _NOT_NUMBERS.sub(lambda m: " " * len(m.group()), text.replace("\u202f", " "))
    numbers = []
    for match in _NUMBER.finditer(masked):
        number = _parse(match)
        if number is not None:
            numbers.append(number)
    return numbers


def _parse(match: re.Match[str]) -> Number | None:
    digits = match["digits"].replace(",", "")
    suffix = (match["suffix"] or "").strip().lower()
    if _looks_like_year(match, digits, suffix):
        return None
    decimals = len(digits.partition(".")[2])
    money = bool(match["currency"] or match["code"])
    unit = Decimal(1).scaleb(-decimals) if decimals or money or suffix else Decimal(0)
    value = Decimal(digits)
    scale = _SCALE.get(suffix)
    if scale:
        value, unit = value * scale, unit * scale
    if match["minus"] or match["minus2"]:
        value = -value
    return Number(value=value, unit=unit, text=match.group().strip())


def _looks_like_year(match: re.Match[str], digits: str, suffix: str) -> bool:
    plain = not (match["currency"] or suffix or match["minus"] or "," in match["digits"])
    return plain and len(digits) == 4 and digits[:2] in ("19", "20")


def numbers_in_data(data: Any) -> Iterator[Decimal]:
    """Every number in a tool result (JSON-ready data), including numbers inside strings."""
    if isinstance(data, bool) or data is None:
        return
    if isinstance(data, int | float | Decimal):
        yield Decimal(str(data))
    elif isinstance(data, str):
        if _DECIMAL_TEXT.fullmatch(data):
            yield Decimal(data)
        else:
            yield from (n.value for n in extract_numbers(data))
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from numbers_in_data(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from numbers_in_data(value)


def ungrounded_numbers(answer: str, sources: Iterable[Decimal]) -> list[str]:
    """The numbers in ``answer`` that no source number accounts for (as written)."""
    known = {abs(s) for s in sources}
    return [n.text for n in extract_numbers(answer) if not any(n.same_as(s) for s in known)]


