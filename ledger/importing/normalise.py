"""Turning bank text into ledger values: amounts, dates, payees and safe text.

Banks disagree on everything a CSV cell can hold: ``1.234,56`` and ``1,234.56``, ``(12.50)``
and ``12.50-``, ``31/10/2026`` and ``10/31/2026``. Conventions that cannot be read from one
cell (the decimal separator, the order of day and month) are decided once per column from all
its values, then every cell is parsed the same way. Amounts become ``Decimal`` straight from
the text; they never pass through float.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import repeat

from ledger.money import CENT

# ---------------------------------------------------------------- amounts

_CURRENCY_NOISE = re.compile(r"[£$€¥₹₩₽₺]|\b(?:EUR|USD|GBP|CHF|CAD|AUD|JPY|SEK|NOK|DKK|PLN)\b")
_SPACES = re.compile(r"[\s\u00a0\u202f']+")
_AMOUNT_SHAPE = re.compile(r"\d+(?:[.,]\d+)*")
_PLAIN_AMOUNT = {
    ".": re.compile(r"-?\d{1,12}(?:\.\d{1,2})?"),
    ",": re.compile(r"-?\d{1,12}(?:,\d{1,2})?"),
}
_SIGNS = "+-\u2212"
_CREDIT_SUFFIX = re.compile(r"\s*(CR|DR|H|S)$", re.IGNORECASE)


class ValueProblem(ValueError):
    """A cell that cannot be read as the value its column holds; the message says why."""


def detect_decimal_separator(values: Iterable[str], *, default: str = ".") -> str:
    """The decimal separator ("." or ",") that the cells of one amount column use.

    A cell with both separators decides by whichever comes last (``1.234,56``); a lone
    separator followed by one or two digits is a decimal one (``12,5``); ``1,234`` alone is
    ambiguous and only counts when nothing else in the column decides.
    """
    votes = {".": 0, ",": 0}
    for raw in values:
        text = raw.strip()
        last_dot, last_comma = text.rfind("."), text.rfind(",")
        if last_dot >= 0 and last_comma >= 0:
            votes["." if last_dot > last_comma else ","] += 1
            continue
        sep = "." if last_dot >= 0 else "," if last_comma >= 0 else None
        if sep is None:
            continue
        digits_after = len(text) - text.rfind(sep) - 1 - len(_trailing_non_digits(text))
        if text.count(sep) == 1 and digits_after in (1, 2):
            votes[sep] += 1
        elif text.count(sep) > 1:  # 1.234.567 or 1,234,567: thousands, so the other one
            votes["," if sep == "." else "."] += 1
    if votes["."] == votes[","]:
        return default
    return "." if votes["."] > votes[","] else ","


def _trailing_non_digits(text: str) -> str:
    match = re.search(r"\D*$", text)
    return match.group(0) if match else ""


def parse_amount(text: str, *, decimal: str = ".") -> Decimal:
    """A signed two-decimal ``Decimal`` from one amount cell.

    Accepts currency symbols and codes, thousands separators (``,`` ``.`` space, apostrophe),
    leading or trailing signs (``-12.50``, ``12.50-``), parentheses for negatives (``(12.50)``)
    and ``CR``/``DR`` suffixes. More than two decimal places is refused rather than rounded.

    Raises:
        ValueProblem: the cell is empty or not an amount.
    """
    if _PLAIN_AMOUNT[decimal].fullmatch(text):  # the common case, 10x faster than the rules
        return Decimal(text if decimal == "." else text.replace(",", ".")).quantize(CENT)
    return _parse_amount_cached(text, decimal)


def parse_plain_amounts(cells: Sequence[str]) -> list[Decimal] | None:
    """``parse_amount`` of a whole column when every cell is a plain amount with a decimal
    point (``-12.50``, the common case), checked with one match over the column; ``None``
    otherwise (parse each cell then)."""
    text = "\n".join(cells) + "\n"
    if text.count("\n") != len(cells) or not _PLAIN_COLUMN.fullmatch(text):
        return None
    return list(map(Decimal.quantize, map(Decimal, cells), repeat(CENT)))


_PLAIN_COLUMN = re.compile(f"(?:{_PLAIN_AMOUNT['.'].pattern}\n)*")


@lru_cache(maxsize=65536)
def _parse_amount_cached(text: str, decimal: str) -> Decimal:
    original = text
    text = _CURRENCY_NOISE.sub("", text.strip())
    text = _SPACES.sub("", text)
    if not text:
        raise ValueProblem("empty amount")
    negative = False
    suffix = _CREDIT_SUFFIX.search(text)
    if suffix:
        negative = suffix.group(1).upper() in ("DR", "S")  # S(oll) is the German debit mark
        text = text[: suffix.start()]
    if text.startswith("(") and text.endswith(")"):
        negative, text = not negative, text[1:-1]
    if text and text[0] in _SIGNS:
        negative, text = negative != (text[0] != "+"), text[1:]
    elif text and text[-1] in _SIGNS:
        negative, text = negative != (text[-1] != "+"), text[:-1]
    if not _AMOUNT_SHAPE.fullmatch(text):
        raise ValueProblem(f"not an amount: {original.strip()!r}")
    thousands = "," if decimal == "." else "."
    whole, _, fraction = text.replace(thousands, "").partition(decimal)
    if decimal in fraction or not whole:
        raise ValueProblem(f"not an amount: {original.strip()!r}")
    if len(fraction.rstrip("0")) > 2:
        raise ValueProblem(f"more than two decimal places: {original.strip()!r}")
    if len(whole.lstrip("0")) > 12:
        raise ValueProblem(f"amount too large: {original.strip()!r}")
    try:
        value = Decimal(f"{whole}.{fraction or '0'}").quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise ValueProblem(f"not an amount: {original.strip()!r}") from exc
    return -value if negative else value


# ---------------------------------------------------------------- dates

DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d.%m.%y",
    "%d %b %Y",
    "%d %B %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%Y%m%d",
)
"""Formats tried on a date column, in order of preference when several fit every cell."""

_MONTH_FIRST = {"%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y"}
_ISO_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}")


@dataclass(frozen=True)
class DateFormatChoice:
    """The format chosen for a date column, and why, for the import report."""

    fmt: str
    note: str | None = None
    """Set when the choice was an assumption the user may want to override."""


def detect_date_format(
    values: Sequence[str], *, month_first_hint: bool = False
) -> DateFormatChoice:
    """The format that the cells of one date column are written in.

    The format must fit every non-empty cell, or at least half of them when some cells are
    broken (those then fail as bad rows, each with its line). When several formats fit
    (every day is 12 or less, so ``03/04/2026`` could be March or April) the column decides,
    in this order: the format under which the dates are sorted (bank exports are in date
    order), then ``month_first_hint`` (a US-dollar account), then day-first, which most of
    the world uses; the choice is then reported as an assumption.

    Raises:
        ValueProblem: no format fits half of the cells; the message quotes a cell.
    """
    cells = list(dict.fromkeys(_strip_time(v) for v in dict.fromkeys(values) if v.strip()))
    if not cells:
        raise ValueProblem("the date column is empty")
    fits = {fmt: sum(_parses(c, fmt) for c in cells) for fmt in DATE_FORMATS}
    best = max(fits.values())
    if best * 2 < len(cells):
        bad = next(c for c in cells if not _parses(c, max(fits, key=fits.__getitem__)))
        raise ValueProblem(f"no date format fits this column (e.g. {bad!r})")
    candidates = [fmt for fmt in DATE_FORMATS if fits[fmt] == best]
    if len(candidates) == 1:
        return DateFormatChoice(candidates[0])
    ordered = [v for v in (_strip_time(v) for v in values) if v]
    sorted_fits = [fmt for fmt in candidates if _is_sorted(ordered, fmt)]
    if len(sorted_fits) == 1:
        return DateFormatChoice(sorted_fits[0], f"dates read as {sorted_fits[0]}: only that "
                                "reading keeps the file in date order")
    pool = sorted_fits or candidates
    if month_first_hint:
        month_first = [fmt for fmt in pool if fmt in _MONTH_FIRST]
        if month_first:
            return DateFormatChoice(month_first[0], f"ambiguous dates read as {month_first[0]} "
                                    "(month first, as the account is in US dollars)")
    day_first = [fmt for fmt in pool if fmt not in _MONTH_FIRST]
    chosen = (day_first or pool)[0]
    return DateFormatChoice(chosen, f"ambiguous dates read as {chosen}; pass --date-format "
                            "to choose another")


def _strip_time(value: str) -> str:
    """``2026-10-31T09:15:00`` and ``2026-10-31 09:15`` become ``2026-10-31``."""
    value = value.strip()
    match = _ISO_PREFIX.match(value)
    return match.group(1) if match else value


def _parses(cell: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(cell, fmt)
    except ValueError:
        return False
    return True


def _is_sorted(cells: Sequence[str], fmt: str) -> bool:
    """Whether the readable ``cells`` (in file order) are in ascending or descending order."""
    parse = DateParser(fmt)
    runs = [c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1]]
    dates = []
    for cell in runs:
        try:
            dates.append(parse(cell))
        except ValueProblem:
            continue
    pairs = list(itertools.pairwise(dates))
    return all(a <= b for a, b in pairs) or all(a >= b for a, b in pairs)


class DateParser:
    """Parses the cells of one column with one format; repeated dates are parsed once."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self._cache: dict[str, dt.date] = {}

    def __call__(self, text: str) -> dt.date:
        """The date in ``text``.

        Raises:
            ValueProblem: empty, or not in this column's format.
        """
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        cell = _strip_time(text)
        if not cell:
            raise ValueProblem("empty date")
        try:
            value = dt.datetime.strptime(cell, self.fmt).date()
        except ValueError as exc:
            raise ValueProblem(f"not a date in the format {self.fmt}: {text.strip()!r}") from exc
        if len(self._cache) < 100_000:
            self._cache[text] = value
        return value


# ---------------------------------------------------------------- text safety

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """``text`` with control characters removed and spreadsheet formulas neutralised.

    A cell starting with ``= + - @`` (or tab/CR) is a formula to Excel, LibreOffice and
    Google Sheets, so a payee such as ``=HYPERLINK(...)`` could run when a ledger is exported
    and opened. Following OWASP's CSV-injection advice the value is stored with a leading
    apostrophe, which spreadsheets show as text; the original characters are all kept.
    """
    # isprintable(): no control characters, so the regex can be skipped (the common case)
    text = text.strip() if text.isprintable() else _CONTROL.sub(" ", text).strip()
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


# ---------------------------------------------------------------- payees

_PROCESSOR_PREFIX = re.compile(
    r"^(?:SQ|TST|SP|PP|PAYPAL|ZTL|IZ|SUMUP|CKO|DD|FS|PADDLE\.NET)\s?\*\s*", re.IGNORECASE
)
"""Card processors that put their own code before the merchant: ``SQ *BLUE BOTTLE``."""
_TERMINAL_NOISE = re.compile(
    r"^(?:(?:POS PURCHASE|POS|VISA PURCHASE|VISA|DEBIT CARD PURCHASE|CARD PURCHASE|"
    r"CHECKCARD(?:\s+\d{4})?|PURCHASE AUTHORI[SZ]ED ON\s+\d{1,2}/\d{1,2}|PURCHASE|"
    r"CARD PAYMENT TO|CARD PAYMENT|CONTACTLESS PAYMENT|CONTACTLESS|RECURRING PAYMENT|"
    r"ACH DEBIT|ACH CREDIT|DIRECT DEBIT|STANDING ORDER|FASTER PAYMENT|BILL PAYMENT TO|"
    r"SEPA-LASTSCHRIFT|SEPA LASTSCHRIFT|FOLGELASTSCHRIFT|ERSTLASTSCHRIFT|LASTSCHRIFT|"
    r"KARTENZAHLUNG|GIROCARD|DAUERAUFTRAG|GUTSCHRIFT|ÜBERWEISUNG|UEBERWEISUNG|"
    r"INT'L|INTL)[\s:]+)+",
    re.IGNORECASE,
)
"""Words a card terminal or a statement puts before the merchant; each needs a space after."""
_TRAILING_NOISE = re.compile(
    r"(?:\s+(?:"
    r"#\s*\d+|"  # store number: #1234
    r"(?:X{2,}|\*{2,})\d{2,4}|"  # masked card: XXXX1234
    r"CARD\s*\d{4}|"
    r"(?:ON\s+|AT\s+)?\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?|"  # a date: ON 10/31
    r"\d{1,2}:\d{2}(?::\d{2})?|"  # a time
    r"(?:REF|REFERENCE|ID|TRN|AUTH)[:.#]?\s*\S*\d\S*|"
    r"(?:PPD|CCD|WEB|TEL)(?:\s+ID:?\s*\S+)?|"  # ACH entry classes: PPD ID: 9876543210
    r"[A-Z]*\d[A-Z0-9-]{5,}|"  # long reference codes mixing digits and letters
    r"\d{3,}|"
    r"[A-Z]{2}\s+\d{5}(?:-\d{4})?|"  # state + zip
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|"
    r"NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC)|"
    r"GB|GBR|UK|DE|DEU|USA|US|FR|NL|IE|ES|IT"
    r"))+$",
)
_WEB_NOISE = re.compile(r"\b(?:WWW\.)|(?:\.(?:COM|CO\.UK|DE|NET|ORG|IO))\b(?:/\S*)?", re.I)
_MULTI_SPACE = re.compile(r"\s{2,}")
_STORE_NUMBER = re.compile(r"\s#\s?\d.*$")
"""A store number and whatever follows it (usually the city): ``SAFEWAY #1234 SAN JOSE``."""
_GENERIC = {"check", "cheque", "atm", "transfer", "payment", "deposit", "withdrawal", "fee",
            "interest", "dividend", "refund", "cash"}
"""Names too generic to stand alone: ``CHECK 1042`` keeps its number."""
_FIRST_LETTER = re.compile(r"[^\W\d_]")
_SMALL_WORDS = {"and", "of", "the", "de", "du", "la", "le", "und", "for", "on", "at"}

KNOWN_MERCHANTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"\bAMZN\s*PRIME|\bAMAZON\s*PRIME|PRIME\s*VIDEO", "Amazon Prime"),
        (r"\bAMZN\b|\bAMAZON\b|AMZ\*|\bAMZN\w*", "Amazon"),
        (r"\bUBER\s*\*?\s*EATS\b", "Uber Eats"),
        (r"\bUBER\b", "Uber"),
        (r"\bLYFT\b", "Lyft"),
        (r"\bNETFLIX\b", "Netflix"),
        (r"\bSPOTIFY\b", "Spotify"),
        (r"\bDISNEY\s*PLUS\b|\bDISNEYPLUS\b|\bDISNEY\+", "Disney+"),
        (r"\bYOUTUBE\b", "YouTube"),
        (r"\bAPPLE\.COM\b|\bAPPLE\s+SERVICES\b|\bITUNES\b", "Apple"),
        (r"\bGOOGLE\b", "Google"),
        (r"\bSTARBUCKS\b|\bSBUX\b", "Starbucks"),
        (r"\bMC\s?DONALD'?S?\b", "McDonald's"),
        (r"\bWHOLEFDS\b|\bWHOLE\s*FOODS\b", "Whole Foods"),
        (r"\bTRADER\s*JOE", "Trader Joe's"),
        (r"\bWAL-?MART\b|\bWM\s+SUPERCENTER\b", "Walmart"),
        (r"\bCOSTCO\b", "Costco"),
        (r"\bTARGET\b", "Target"),
        (r"\bTESCO\b", "Tesco"),
        (r"\bSAINSBURY", "Sainsbury's"),
        (r"\bWAITROSE\b", "Waitrose"),
        (r"\bLIDL\b", "Lidl"),
        (r"\bALDI\b", "Aldi"),
        (r"\bREWE\b", "REWE"),
        (r"\bEDEKA\b", "EDEKA"),
        (r"\bDB\s+VERTRIEB\b|\bDEUTSCHE\s+BAHN\b", "Deutsche Bahn"),
        (r"\bTFL\b|\bTRANSPORT\s+FOR\s+LONDON\b", "TfL"),
        (r"\bDELIVEROO\b", "Deliveroo"),
        (r"\bJUST\s*EAT\b", "Just Eat"),
        (r"\bAIRBNB\b", "Airbnb"),
        (r"\bSHELL\b", "Shell"),
        (r"\bIKEA\b", "IKEA"),
    )
)
"""Well-known merchants whose card descriptors vary too much for the general rules."""


def clean_payee(raw: str) -> str:
    """A readable merchant name from a bank's descriptor.

    General rules first: processor prefixes (``SQ *``, ``TST*``, ``PAYPAL *``), card-terminal
    words (``POS``, ``CONTACTLESS``, ``KARTENZAHLUNG``), the fixed-width city/state columns
    of US card descriptors, store numbers, masked cards, dates and trailing references; then
    the known-merchant table; ALL-CAPS names are title-cased. Falls back to the trimmed raw
    text when the rules would leave nothing.
    """
    return _clean_payee_cached(raw)


@lru_cache(maxsize=65536)
def _clean_payee_cached(raw: str) -> str:
    text = unicodedata.normalize("NFKC", _CONTROL.sub(" ", raw)).strip()
    fallback = _MULTI_SPACE.sub(" ", text)
    for pattern, name in KNOWN_MERCHANTS:
        if pattern.search(text):
            return name
    text = _PROCESSOR_PREFIX.sub("", _TERMINAL_NOISE.sub("", text))
    text = next((part for part in _MULTI_SPACE.split(text) if part.strip()), "")
    text = text.split("*", 1)[0]  # NAME*REF or SUBSCRIPTION*SUB-MERCHANT: keep the name
    text = _STORE_NUMBER.sub("", _WEB_NOISE.sub("", text))
    text = _TRAILING_NOISE.sub("", text).strip(" -/#:,.")
    if len(text) < 2 or text.casefold() in _GENERIC:
        return _title_if_shouting(fallback)
    return _title_if_shouting(text)


def _title_if_shouting(text: str) -> str:
    """``BLUE BOTTLE COFFEE San Francisco`` -> ``Blue Bottle Coffee San Francisco``.

    Only when most letters are capitals, and only the all-caps words; words with ``&``
    (``PG&E``, ``AT&T``) stay acronyms. Text written in mixed case is left as it is.
    """
    upper = sum(c.isupper() for c in text)
    if upper * 2 <= sum(c.isalpha() for c in text):
        return text
    return " ".join(_title_word(w, first=i == 0) for i, w in enumerate(text.split()))


def _title_word(word: str, *, first: bool) -> str:
    if not word.isupper() or "&" in word:
        return word
    lower = word.lower()
    if not first and lower in _SMALL_WORDS:
        return lower
    return "-".join(_FIRST_LETTER.sub(lambda m: m.group(0).upper(), part, count=1)
                    for part in lower.split("-"))


PAYEE_MAX = 200
"""Longest payee stored (the column's width)."""


@lru_cache(maxsize=65536)
def display_payee(raw: str) -> str:
    """The payee as stored: cleaned, formula-safe, at most ``PAYEE_MAX`` characters."""
    return safe_text(clean_payee(raw))[:PAYEE_MAX]


@lru_cache(maxsize=65536)
def payee_key(raw: str) -> str:
    """The form of a raw descriptor used for hashing: case and spacing do not matter."""
    return " ".join(raw.casefold().split())
