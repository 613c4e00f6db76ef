"""Names and numbers in a question: categories, accounts, payees, amounts, top-N, quoted text.

Names come from the user's profile, so the planner works for any user's categories and
accounts. Each name is indexed under its own words (rank 3), under the everyday words of its
concept (rank 2, see ``vocab``) and under its distinctive single words (rank 1); a phrase
that selects several names with the same best rank is ambiguous and the planner asks which.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from assistant.backends.offline.text import COMMON_WORDS, clean, raw_tokens, singular
from assistant.backends.offline.vocab import (
    ACCOUNT_KINDS,
    CONCEPTS,
    GENERIC_NAME_WORDS,
    PAYEE_CONCEPTS,
    PRODUCT_TYPES,
)
from tools.profile import UserProfile

Kind = Literal["category", "account", "payee"]
Key = tuple[str, ...]
_MAX_PHRASE = 4


def key_of(phrase: str) -> Key:
    """The comparable form of a name or phrase: tokens, singular, no punctuation."""
    return tuple(singular(t) for t in raw_tokens(clean(phrase)))


@dataclass(frozen=True)
class Mention:
    """Words at ``start:stop`` that name one of the user's things (or several: ambiguous)."""

    kind: Kind
    start: int
    stop: int
    values: tuple[str, ...]
    rank: int
    alternatives: tuple[str, ...] = ()
    """Weaker candidates for the same words ("interest" -> "Loan Interest")."""


@dataclass
class _Table:
    entries: dict[Key, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, key: Key, name: str, rank: int) -> None:
        if key and rank > self.entries[key].get(name, 0):
            self.entries[key][name] = rank


@dataclass(frozen=True)
class EntityIndex:
    """Phrase tables for one profile's categories, accounts and payees."""

    tables: dict[Kind, dict[Key, dict[str, int]]]
    category_parent: dict[str, str | None]
    category_kind: dict[str, str]
    account_kind: dict[str, str]
    words: frozenset[str]
    """Every word of every name and synonym, for the speller."""

    def lookup(self, key: Key) -> dict[Kind, dict[str, int]]:
        return {kind: table[key] for kind, table in self.tables.items() if key in table}


def _profile_key(profile: UserProfile) -> tuple[object, ...]:
    return (
        tuple((a.name, a.kind) for a in profile.accounts),
        tuple((c.name, c.parent, c.kind) for c in profile.categories),
        tuple(profile.payees),
    )


def index_for(profile: UserProfile) -> EntityIndex:
    """The (cached) entity index of ``profile``'s names."""
    return _build_index(_profile_key(profile))


@lru_cache(maxsize=64)
def _build_index(key: tuple[object, ...]) -> EntityIndex:
    accounts, categories, payees = key
    assert isinstance(accounts, tuple) and isinstance(categories, tuple)
    assert isinstance(payees, tuple)
    parents = {name: parent for name, parent, _ in categories}
    category_kinds = {name: kind for name, _, kind in categories}
    account_kinds = {name: kind for name, kind in accounts}
    category_table = _category_table(parents)
    account_table = _account_table(account_kinds)
    taken = set(category_table.entries) | set(account_table.entries)
    payee_table = _payee_table(payees, taken)
    words: set[str] = set()
    for table in (category_table, account_table, payee_table):
        for phrase in table.entries:
            words.update(phrase)
    return EntityIndex(
        tables={
            "category": dict(category_table.entries),
            "account": dict(account_table.entries),
            "payee": dict(payee_table.entries),
        },
        category_parent=parents,
        category_kind=category_kinds,
        account_kind=account_kinds,
        words=frozenset(words),
    )


def _category_table(parents: dict[str, str | None]) -> _Table:
    table = _Table()
    by_key = {key_of(name): name for name in parents}
    for key, name in by_key.items():
        table.add(key, name, 3)
        for word in key:
            if word not in GENERIC_NAME_WORDS and len(word) >= 3:
                table.add((word,), name, 1)
    families: dict[str, set[str]] = defaultdict(set)
    for concept in CONCEPTS:
        families[concept.family].update(by_key.get(key_of(t), "") for t in concept.terms)
    for concept in CONCEPTS:
        own = {by_key[k] for k in map(key_of, concept.terms) if k in by_key}
        chosen = _narrowest(own or families[concept.family] - {""}, parents)
        for term in concept.terms:
            for name in chosen:
                table.add(key_of(term), name, 2)
    return table


def _narrowest(names: set[str], parents: dict[str, str | None]) -> set[str]:
    """A group and its own children collapse to the group ("kids" covers "Childcare")."""
    for name in names:
        if all(other == name or parents.get(other) == name for other in names):
            return {name}
    return names


def _account_table(kinds: dict[str, str]) -> _Table:
    table = _Table()
    for name, kind in kinds.items():
        key = key_of(name)
        table.add(key, name, 3)
        for part in _sub_phrases(key):  # "the rainy day pot" for "Rainy Day Savings"
            table.add(part, name, 2)
        own_kind = {w for phrase in ACCOUNT_KINDS.get(kind, ()) for w in key_of(phrase)}
        for word in key:  # "loan" in "Car Loan" ranks as a kind word (below), "isa" in
            # "Stocks ISA" (an investment) as a name word
            if word not in GENERIC_NAME_WORDS and word not in own_kind and len(word) >= 3:
                table.add((word,), name, 2)
    for kind, words in ACCOUNT_KINDS.items():
        owners = [name for name, k in kinds.items() if k == kind]
        for word in words:
            for name in owners:
                table.add(key_of(word), name, 1)
    return table


def _sub_phrases(key: Key) -> list[Key]:
    """Runs of two or more words of a name, shorter than the name, not all generic."""
    return [
        key[i:j] for i in range(len(key)) for j in range(i + 2, len(key) + 1)
        if j - i < len(key) and not all(w in GENERIC_NAME_WORDS for w in key[i:j])
    ]


def _payee_concepts(table: _Table, payee: str, key: Key) -> None:
    """Everyday words for a payee the user never names ("tax refund" -> the tax office)."""
    words = set(key)
    for terms, any_of, all_of in PAYEE_CONCEPTS:
        if words & any_of and all_of <= words | {singular(w) for w in words}:
            for term in terms:
                table.add(key_of(term), payee, 2)


def _payee_table(payees: tuple[str, ...], taken: set[Key]) -> _Table:
    table = _Table()
    concept_words = {w for c in CONCEPTS for t in c.terms for w in key_of(t)}
    for payee in payees:
        key = key_of(payee)
        table.add(key, payee, 3)
        _payee_concepts(table, payee, key)
        if len(key) > 1:  # "Albert Heijn" also as "albertheijn"
            table.add(("".join(key),), payee, 3)
        for word in key:
            distinctive = word not in COMMON_WORDS and word not in GENERIC_NAME_WORDS
            usable = distinctive and word not in concept_words and (word,) not in taken
            if len(word) >= 4 and usable:
                table.add((word,), payee, 2)
    return table


def find_mentions(index: EntityIndex, tokens: list[str], masked: set[int]) -> list[list[Mention]]:
    """Name mentions left to right, longest phrase first; each item holds the readings of one
    span (a span may name both a category and an account: the planner picks by intent)."""
    keys = [singular(t) for t in tokens]
    found: list[list[Mention]] = []
    i = 0
    while i < len(tokens):
        readings: list[Mention] = []
        for length in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            if any(j in masked for j in range(i, i + length)):
                continue
            hits = index.lookup(tuple(keys[i : i + length]))
            readings = [_mention(kind, i, i + length, names) for kind, names in hits.items()]
            if readings:
                break
        if readings:
            found.append(readings)
            i = readings[0].stop
        else:
            i += 1
    return found


def _mention(kind: Kind, start: int, stop: int, names: dict[str, int]) -> Mention:
    best = max(names.values())
    values = tuple(n for n, r in names.items() if r == best)
    others = tuple(n for n, r in names.items() if r < best)
    return Mention(kind, start, stop, values, best, others)


# ---------------------------------------------------------------- numbers
_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?k?")
_CURRENCY = frozenset({"€", "£", "$", "euros", "pounds", "dollars", "eur", "gbp", "usd"})
_MIN_WORDS: tuple[Key, ...] = (
    ("over",), ("above",), ("more", "than"), ("greater", "than"), ("bigger", "than"),
    ("larger", "than"), ("higher", "than"), ("at", "least"), ("exceeding",), ("upwards", "of"),
    (">",), ("min",), ("minimum",), ("no", "less", "than"),
)
_MAX_WORDS: tuple[Key, ...] = (
    ("under",), ("below",), ("less", "than"), ("smaller", "than"), ("lower", "than"),
    ("cheaper", "than"), ("at", "most"), ("up", "to"), ("<",), ("max",), ("maximum",),
    ("no", "more", "than"), ("within",),
)
_MIN_AFTER: tuple[Key, ...] = (("or", "more"), ("plus",), ("and", "up"), ("or", "above"),
                               ("and", "over"), ("or", "over"), ("and", "above"))
_MAX_AFTER: tuple[Key, ...] = (("or", "less"), ("or", "under"), ("and", "under"),
                               ("or", "below"), ("and", "below"))


def parse_number(token: str) -> Decimal | None:
    if not _NUMBER_RE.fullmatch(token):
        return None
    multiplier = Decimal(1000) if token.endswith("k") else Decimal(1)
    try:
        return Decimal(token.rstrip("k").replace(",", "")) * multiplier
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class AmountRange:
    minimum: Decimal | None
    maximum: Decimal | None
    spans: tuple[tuple[int, int], ...]


def _starts_with(tokens: list[str], i: int, options: tuple[Key, ...]) -> int:
    for option in options:
        if tuple(tokens[i : i + len(option)]) == option:
            return len(option)
    return 0


def _money_at(tokens: list[str], i: int, masked: set[int]) -> tuple[Decimal, int] | None:
    """A number at ``i`` with optional currency before/after; returns (value, stop)."""
    j = i + (i < len(tokens) and tokens[i] in _CURRENCY)
    if j >= len(tokens) or j in masked:
        return None
    value = parse_number(tokens[j])
    if value is None:
        return None
    stop = j + 1 + (j + 1 < len(tokens) and tokens[j + 1] in _CURRENCY)
    return value, stop


def _money_range(
    tokens: list[str], i: int, masked: set[int]
) -> tuple[Decimal, Decimal, int] | None:
    """"20 and 50 euros" after "between": (low, high, stop)."""
    first = _money_at(tokens, i, masked)
    if first is None or first[1] >= len(tokens) or tokens[first[1]] not in ("and", "to"):
        return None
    second = _money_at(tokens, first[1] + 1, masked)
    if second is None:
        return None
    low, high = sorted((first[0], second[0]))
    return low, high, second[1]


def find_amounts(tokens: list[str], masked: set[int]) -> AmountRange:
    """Amount bounds: "over €50", "less than 20", "between 20 and 50 euros", "100 or more"."""
    low: Decimal | None = None
    high: Decimal | None = None
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        if i in masked:
            i += 1
            continue
        if tokens[i] == "between" and (pair := _money_range(tokens, i + 1, masked)):
            low, high, stop = pair
            spans.append((i, stop))
            i = stop
            continue
        for options, is_min in ((_MIN_WORDS, True), (_MAX_WORDS, False)):
            width = _starts_with(tokens, i, options)
            if width and (money := _money_at(tokens, i + width, masked)):
                low, high = (money[0], high) if is_min else (low, money[0])
                spans.append((i, money[1]))
                i = money[1] - 1
                break
        else:
            money = _money_at(tokens, i, masked)
            if money and (width := _starts_with(tokens, money[1], _MIN_AFTER)):
                low = money[0]
                spans.append((i, money[1] + width))
                i = money[1] + width - 1
            elif money and (width := _starts_with(tokens, money[1], _MAX_AFTER)):
                high = money[0]
                spans.append((i, money[1] + width))
                i = money[1] + width - 1
        i += 1
    return AmountRange(low, high, tuple(spans))


_TOP_BEFORE = frozenset({"top", "first", "latest", "last", "biggest", "largest", "highest",
                         "smallest", "lowest", "cheapest", "recent"})
_TOP_AFTER = frozenset({"biggest", "largest", "highest", "most", "top", "smallest", "lowest",
                        "cheapest", "latest", "recent", "transactions", "transaction",
                        "purchases", "payments", "expenses", "merchants", "categories",
                        "shops", "payees", "stores", "places", "items"})


def find_top_n(tokens: list[str], masked: set[int]) -> tuple[int, tuple[int, int]] | None:
    """"top 5", "10 biggest", "largest 3", "last 10 transactions": a count of rows."""
    for i, token in enumerate(tokens):
        if i in masked or not token.isdigit() or not 0 < int(token) <= 100:
            continue
        before = tokens[i - 1] if i > 0 else ""
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        if before in _TOP_BEFORE or after in _TOP_AFTER:
            return int(token), (i - (before in _TOP_BEFORE), i + 1)
    return None


_QUOTED_RE = re.compile(r"(?:^|(?<=\s))[\"']([^\"']{2,60})[\"'](?=$|[\s?.!,;:])")
_SEARCH_CUES = frozenset({"mention", "mentions", "mentioning", "containing", "contains",
                          "contain", "memo", "description", "labelled", "labeled", "saying",
                          "says", "reference"})


def quoted_text(text: str) -> str | None:
    """Text the user put in quotes: a literal search for payee or memo."""
    match = _QUOTED_RE.search(clean(text))
    return match.group(1).strip() if match else None


def search_word(tokens: list[str], masked: set[int]) -> tuple[str, int] | None:
    """"transactions mentioning parking" -> ("parking", index)."""
    for i, token in enumerate(tokens[:-1]):
        if token in _SEARCH_CUES and i + 1 not in masked:
            word = tokens[i + 1]
            if word not in COMMON_WORDS and word.isalpha():
                return word, i + 1
    return None


def product_type_of(tokens: list[str]) -> str | None:
    """The product type a product question is about, most specific phrase first."""
    keys = [singular(t) for t in tokens]
    best: tuple[int, str] | None = None
    for product_type, phrases in PRODUCT_TYPES.items():
        for phrase in phrases:
            key = key_of(phrase)
            for i in range(len(keys) - len(key) + 1):
                if tuple(keys[i : i + len(key)]) == key and (best is None or len(key) > best[0]):
                    best = (len(key), product_type)
    return best[1] if best else None
