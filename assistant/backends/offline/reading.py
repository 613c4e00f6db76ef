"""One utterance read on its own: intent scores, slots and the cue words of a follow-up.

A ``Reading`` knows nothing about the conversation; ``frame`` merges it with what earlier
turns established. Keeping the two apart lets the planner re-read earlier questions of an
OpenAI-style history (plain texts, no tool calls) exactly as it read them the first time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from assistant.backends.offline import intents
from assistant.backends.offline.intents import IntentScores
from assistant.backends.offline.periods import PERIOD_WORDS, PeriodMention, Unit, find_periods
from assistant.backends.offline.slots import (
    EntityIndex,
    Mention,
    find_amounts,
    find_mentions,
    find_top_n,
    index_for,
    product_type_of,
    quoted_text,
    search_word,
)
from assistant.backends.offline.text import (
    COMMON_WORDS,
    EVERYDAY_WORDS,
    Speller,
    clean,
    is_foreign,
    normalize,
    raw_tokens,
    singular,
    words_of,
)
from assistant.backends.offline.vocab import ACCOUNT_KINDS, CONCEPTS, PLACE_TERMS, PRODUCT_TYPES
from tools.profile import UserProfile

_UNIT_WORDS: dict[str, Unit] = {"day": "day", "week": "week", "month": "month",
                                "quarter": "quarter", "year": "year"}
_FOLLOW_START = re.compile(
    r"^(and|what about|how about|same|now|also|ok|okay|but|then|only|just|what of|plus|or|so"
    r"|and what about|and how about|and for|for)\b"
)
_ANAPHORA = re.compile(r"\b(those|these|them|it|that|the ones|ones|same|this one|that one"
                       r"|back then|at that (time|point|date)|the two|both of them"
                       r"|the (actual|individual|underlying|separate|single) (transactions|payments"
                       r"|purchases|items|entries))\b")
_SHIFT_BACK = re.compile(
    r"\b(?:the )?(day|week|month|quarter|year) (?:before|prior|earlier)\b(?! last)"
)
_SHIFT_BACK_SAME = re.compile(r"\bbefore that\b|\bthe (?:one|period) before\b"
                              r"|\bprevious (?:one|period)\b|\bprior (?:one|period)\b")
_SHIFT_FORWARD = re.compile(r"\b(?:the )?(day|week|month|quarter|year) after\b"
                            r"|\bthe (?:next|following) (day|week|month|quarter|year)\b")
_COMPARE = re.compile(
    r"\bthan (the )?(\w+ )?(before|previous|prior)\b|\bcompar\w*|\bversus\b|\bagainst\b"
    r"|\bthan (?:zper|before|usual|normal)"
    r"|\bchange[ds]? (?:from|since)\b|\bincrease|\bdecrease|\b(?:went|gone|go|going) (?:up|down)\b"
    r"|\bdifference\b|\bmore or less\b|\bprevious period\b"
)
_COMPARE_BASE_CUES = frozenset({"versus", "than", "against", "to", "with"})
_MONTH_GROUP = re.compile(r"\b(?:by|per|each|every|a) month\b|\bmonthly\b|\bmonth (?:by|on) month"
                          r"|\btrend|\bover time\b|\baverage\b")
_MERCHANT_GROUP = re.compile(r"\b(?:merchants?|payees?|shops|stores|vendors?|retailers?|businesses"
                             r"|companies|places)\b|\b(?:by|per|each) (?:shop|store|place)\b")
_CATEGORY_GROUP = re.compile(r"\bby category\b|\bcategories\b|\bper category\b|\beach category\b")
_OUTFLOW = re.compile(
    r"\b(?:spent|spend|spending|bought|buy|purchases?|paid|pay|payments?|expenses?|charged"
    r"|came out|went out|gone out|debits?|outgoings?|withdrawals?|cost|costs|orders?)\b"
)
_PURCHASE = re.compile(r"\b(?:spent|spend|spending|bought|buy|purchases?|expenses?|orders?|paid"
                       r"|pay|payments?|charges?|cost|costs|refunds?|reimburse\w*)\b")
_INFLOW = re.compile(r"\b(?:income|received|receive|refunds?|deposits?|deposited|came in|come in"
                     r"|paid in|(?:went|came|paid|put|go|goes) into"
                     r"|credits?|got paid|incoming|money in|reimburse\w*|comes in|coming in"
                     r"|(?:get|got|getting) back)\b")
_SORT = (
    (re.compile(r"\b(?:biggest|largest|highest|most expensive|priciest|top)\b"), "amount_desc"),
    (re.compile(r"\b(?:smallest|lowest|cheapest|tiniest)\b"), "amount_asc"),
    (re.compile(r"\b(?:oldest|earliest|chronological\w*|in order)\b"), "date_asc"),
)
_SINGLE = re.compile(r"\b(?:biggest|largest|highest|smallest|most expensive|single) "
                     r"(?:single )?(?:purchase|expense|transaction|payment|charge)\b(?!s)"
                     r"|\bwhen did i last\b|\blast time\b")
_VAGUE = re.compile(r"\b(it|that|this one|that one|them|the (?:two|2)|both of them|back then)\b"
                    r"(?! (?:zper|zent|zamt|month|week|year|day))")
_ANTECEDENT = re.compile(r"\b(accounts?|transactions?|budgets?|categories|payments?|purchases?"
                         r"|zent|zper|zamt)\b")
_MORE = re.compile(r"\b(show|give|list) (me )?(some )?more\b|^more\b|\bnext page\b|\bthe rest\b"
                   r"|\bnext \d+\b|\bkeep going\b")
_TARGET_VERBS = frozenset({"spend", "spent", "spending", "pay", "paid", "buy", "bought", "cost",
                           "went", "go", "blow", "blew", "blown", "waste", "wasted", "splurge"})
_TARGET_PREPS = frozenset({"on", "at", "for", "with", "from", "to", "in"})
_GENERIC_NOUNS = frozenset({"place", "places", "thing", "things", "one", "ones", "something",
                            "anything", "everything", "stuff", "money", "cash", "it"})
_FILLER = frozenset({"my", "the", "a", "an", "some", "all", "those", "these", "our", "any",
                     "stuff", "things", "items", "it", "that", "this", "them", "total",
                     "average", "i", "me"})


@dataclass(frozen=True)
class Reading:
    """What one utterance says on its own."""

    text: str
    tokens: list[str]
    placeholder_tokens: list[str]
    scores: IntentScores
    periods: list[PeriodMention]
    compare_base: PeriodMention | None
    mentions: list[list[Mention]]
    min_amount: Decimal | None
    max_amount: Decimal | None
    top_n: int | None
    quoted: str | None
    target: str | None
    """A word after "spend on"/"pay at" that names nothing the user has: searched as text."""
    other_user: bool
    follow_cue: bool
    anaphora: bool
    shift: tuple[int, Unit | None] | None
    compare: bool
    group_by: str | None
    direction: str | None
    purchase: bool
    """Purchases, payments or refunds: transfers between own accounts are not meant."""
    sort: str | None
    single: bool
    more: bool
    """"show me more": the next page of a list."""
    vague_reference: bool
    """"it", "that shop", "the two": something said before, with nothing named here."""
    proper_noun: str | None
    """A capitalised word the planner does not know ("my Mallorca trip"): searched as text."""
    product_type: str | None
    foreign: bool
    """Written in another language: answered with a plain "English only" reply."""
    index: EntityIndex = field(repr=False)

    @property
    def joined(self) -> str:
        return " ".join(self.placeholder_tokens)

    @property
    def period(self) -> PeriodMention | None:
        return self.periods[0] if self.periods else None

    def has_slots(self) -> bool:
        return bool(self.periods or self.mentions or self.min_amount is not None
                    or self.max_amount is not None or self.quoted or self.target)


@lru_cache(maxsize=1)
def _static_speller() -> Speller:
    words = set(COMMON_WORDS) | EVERYDAY_WORDS | set(PERIOD_WORDS) | intents.vocabulary()
    words |= words_of(t for c in CONCEPTS for t in c.terms)
    words |= words_of(w for ws in ACCOUNT_KINDS.values() for w in ws)
    words |= words_of(w for ws in PRODUCT_TYPES.values() for w in ws)
    return Speller(words)


@lru_cache(maxsize=64)
def _profile_speller(words: frozenset[str]) -> Speller:
    return Speller(w for w in words if w.isalpha())


def spellers_for(index: EntityIndex) -> tuple[Speller, ...]:
    """The user's own names first (a payee beats a dictionary word), then the planner's words."""
    return (_profile_speller(index.words), _static_speller())


def read(text: str, profile: UserProfile) -> Reading:
    """Read one utterance against ``profile`` (names, today, first transaction date)."""
    index = index_for(profile)
    tokens = normalize(text, spellers_for(index))
    periods = find_periods(tokens, profile.today, profile.first_date,
                           month_first=profile.currency == "USD")
    masked: set[int] = {i for m in periods for i in range(m.start, m.stop)}
    placeholders: dict[int, tuple[int, str]] = {m.start: (m.stop, "zper") for m in periods}
    amounts = find_amounts(tokens, masked)
    for start, stop in amounts.spans:
        masked.update(range(start, stop))
        placeholders[start] = (stop, "zamt")
    top = find_top_n(tokens, masked)
    if top:
        masked.update(range(*top[1]))
        placeholders[top[1][0]] = (top[1][1], "znum")
    quoted = quoted_text(text)
    if quoted:  # quoted words are searched literally, not read as names
        masked.update(_span_of(tokens, quoted))
    mentions = find_mentions(index, tokens, masked)
    for readings in mentions:
        placeholders[readings[0].start] = (readings[0].stop, "zent")
    placeholder_tokens = _with_placeholders(tokens, placeholders)
    joined = " ".join(placeholder_tokens)
    compare_base = _compare_base(tokens, periods)
    taken = masked | {i for r in mentions for i in range(r[0].start, r[0].stop)}
    search = search_word(tokens, taken)
    shift = _shift(joined)
    return Reading(
        text=text,
        tokens=tokens,
        placeholder_tokens=placeholder_tokens,
        scores=intents.classify(placeholder_tokens, tokens),
        periods=[m for m in periods if m is not compare_base],
        compare_base=compare_base,
        mentions=mentions,
        min_amount=amounts.minimum,
        max_amount=amounts.maximum,
        top_n=top[0] if top else None,
        quoted=quoted or (search[0] if search else None),
        target=_target(tokens, taken),
        other_user=_someone_else(text, index, profile.user_name),
        follow_cue=bool(_FOLLOW_START.search(joined)),
        anaphora=bool(_ANAPHORA.search(joined)),
        shift=None if _COMPARE.search(joined) and shift else shift,
        compare=bool(_COMPARE.search(joined)) or compare_base is not None,
        group_by=_group_by(joined, tokens, mentions),
        direction=_direction(joined),
        purchase=bool(_PURCHASE.search(joined)),
        sort=next((s for pattern, s in _SORT if pattern.search(joined)), None),
        single=bool(_SINGLE.search(joined)),
        more=bool(_MORE.search(joined)),
        vague_reference=_vague(joined),
        proper_noun=_proper_noun(text, taken, tokens, spellers_for(index), profile.user_name),
        product_type=product_type_of(tokens),
        foreign=is_foreign(text),
        index=index,
    )


def _with_placeholders(tokens: list[str], spans: dict[int, tuple[int, str]]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i in spans:
            stop, placeholder = spans[i]
            out.append(placeholder)
            i = stop
        else:
            out.append(tokens[i])
            i += 1
    return out


def _span_of(tokens: list[str], phrase: str) -> range:
    words = raw_tokens(clean(phrase))
    for start in range(len(tokens) - len(words) + 1):
        if tokens[start : start + len(words)] == words:
            return range(start, start + len(words))
    return range(0)


def _compare_base(tokens: list[str], periods: list[PeriodMention]) -> PeriodMention | None:
    """The period after "vs"/"compared to"/"than": what the subject is compared with."""
    for mention in periods:
        k = mention.start - 1
        while k >= 0 and tokens[k] in ("the", "a", "in", "on", "for", "during", "of"):
            k -= 1
        before = tokens[k] if k >= 0 else ""
        if before in ("to", "with"):
            if any(t.startswith("compar") for t in tokens[max(0, k - 2) : k]):
                return mention
        elif before in _COMPARE_BASE_CUES:
            return mention
    return None


def _vague(joined: str) -> bool:
    """"it"/"that shop"/"the two" with no noun before it in the same question."""
    match = _VAGUE.search(joined)
    return bool(match) and not _ANTECEDENT.search(joined[: match.start()])


def _shift(joined: str) -> tuple[int, Unit | None] | None:
    if match := _SHIFT_BACK.search(joined):
        return 1, _UNIT_WORDS[match.group(1)]
    if _SHIFT_BACK_SAME.search(joined):
        return 1, None
    if match := _SHIFT_FORWARD.search(joined):
        return -1, _UNIT_WORDS[match.group(1) or match.group(2)]
    return None


def _group_by(joined: str, tokens: list[str], mentions: list[list[Mention]]) -> str | None:
    if _MONTH_GROUP.search(joined):
        return "month"
    if _MERCHANT_GROUP.search(joined):
        return "merchant"
    has_category = any(r.kind == "category" for readings in mentions for r in readings)
    if has_category and re.search(r"\bwhere\b", joined):
        return "merchant"
    for readings in mentions:  # "which supermarkets": places, so merchants
        start = readings[0].start
        words = " ".join(tokens[start : readings[0].stop])
        if words in PLACE_TERMS and start and tokens[start - 1] in ("which", "what"):
            return "merchant"
    if _CATEGORY_GROUP.search(joined):
        return "category"
    return None


def _direction(joined: str) -> str | None:
    inflow = bool(_INFLOW.search(joined))
    outflow = bool(_OUTFLOW.search(joined))
    if inflow == outflow:
        return None
    return "inflow" if inflow else "outflow"


def _target(tokens: list[str], taken: set[int]) -> str | None:
    """"spend on zorbing": the word after a spending verb and preposition, if it is unknown."""
    for i, token in enumerate(tokens):
        if token not in _TARGET_VERBS:
            continue
        j = i + 1
        while j < len(tokens) and (tokens[j] in _TARGET_PREPS or tokens[j] in _FILLER):
            j += 1
        if j == i + 1 or j >= len(tokens) or j in taken:
            continue
        word = tokens[j]
        known = word in COMMON_WORDS or word in PERIOD_WORDS or word in PLACE_TERMS \
            or singular(word) in PLACE_TERMS or word in _GENERIC_NOUNS
        if word.isalpha() and len(word) >= 3 and not known:
            return word
    return None


def _proper_noun(
    text: str, taken: set[int], tokens: list[str], spellers: tuple[Speller, ...], user: str
) -> str | None:
    """A capitalised word, not the first one, that is no name or word the planner knows."""
    words = re.findall(r"[A-Za-zÀ-ÿ][\w'-]*", text)
    own = {w.lower() for w in user.split()}
    for word in words[1:]:
        acronym = word.isupper() and len(word) <= 4
        if not word[0].isupper() or len(word) < 3 or acronym:
            continue
        lowered = clean(word).replace("'s", "").replace("'", "")
        if any(s.knows(lowered) for s in spellers) or lowered in PERIOD_WORDS or lowered in own:
            continue
        index = tokens.index(lowered) if lowered in tokens else -1
        if index >= 0 and index not in taken:
            return word.replace("'s", "")
    return None


def _someone_else(text: str, index: EntityIndex, user_name: str) -> bool:
    """Whether the question asks about another person's data."""
    lowered = clean(text)
    if intents.OTHER_USER.search(lowered):
        return True
    own = {singular(w) for w in index.words} | {singular(w) for w in raw_tokens(clean(user_name))}
    owners = [m.group(1) for m in intents.POSSESSIVE.finditer(lowered)]
    owners += [m.group(1) for m in intents.SUBJECT.finditer(lowered)]
    return any(
        owner not in COMMON_WORDS and owner not in PERIOD_WORDS and owner not in intents.NOT_SOMEONE
        and singular(owner) not in own
        for owner in owners
    )
