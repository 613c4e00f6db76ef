"""Text normalisation for the offline planner: one token list every rule can match.

Users type fast: "whats my blance", "spnd on cloths this yr", "Pathé", "£50+". The planner
matches words, so this module lowers, strips accents and apostrophes, expands short forms
and number words, and fixes one-letter typos against the words the planner knows (its own
vocabulary plus the user's account, category and payee names). A typo is only fixed to a word
with the same first letter, and only for words of four letters or more, so short words and
names the planner has never seen (a shop called "Zorbing") stay as they were.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

_TOKEN_RE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}"  # ISO date
    r"|\d{1,2}/\d{1,2}/\d{2,4}"  # 15/06/2025
    r"|\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th|k)?"  # 1,234.56  3rd  2k
    r"|[a-z]+(?:'[a-z]+)*"
    r"|[€£$<>%]"
)

def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (keeps long word lists readable)."""
    return frozenset(text.split())


ABBREVIATIONS: dict[str, str] = {
    "yr": "year", "yrs": "years", "mo": "month", "mth": "month", "mths": "months",
    "mos": "months", "wk": "week", "wks": "weeks", "pls": "please", "plz": "please",
    "thx": "thanks", "ty": "thanks", "u": "you", "ur": "your", "r": "are", "txn": "transaction",
    "txns": "transactions", "tx": "transaction", "txs": "transactions", "acct": "account",
    "acc": "account", "bal": "balance", "amt": "amount", "whats": "what", "hows": "how",
    "wheres": "where", "thats": "that", "whos": "who", "im": "i", "ive": "i",
    "cc": "credit card", "vs": "versus", "v": "versus", "avg": "average", "approx": "about",
    "eur": "euros", "euro": "euros", "gbp": "pounds", "usd": "dollars", "quid": "pounds",
    "bucks": "dollars", "ytd": "year to date", "mtd": "month to date", "xmas": "christmas",
    "tho": "though", "cuz": "because", "coz": "because", "wanna": "want to", "gonna": "going to",
}
"""Short forms expanded before anything else looks at the text."""

NUMBER_WORDS: dict[str, str] = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15",
    "twenty": "20", "thirty": "30", "sixty": "60", "ninety": "90", "hundred": "100",
}
_UNIT_WORDS = frozenset({"day", "days", "week", "weeks", "month", "months", "year", "years",
                         "quarter", "quarters"})

COMMON_WORDS = word_set(
    """
    a about above across after again against ago all almost along already also always am among
    an and another any anything anyway are around as ask at available average away back be
    because been before began begin beginning behind being below best better between big bigger
    biggest bit both break broken but buy buying by can cannot cant could day days did didnt do
    does doing done dont down during each earlier early either else end ended ending enough
    entire even ever every everyone everything exactly far fast few find first for from full get
    gets getting give given go goes going gone good got great had has have having he help her
    here high higher highest him his hold how however if in include into is it its just keep
    kind know large larger largest last late later latest least left less let like little long
    look looking lot lots low lower lowest made make many may me mean might mine more most much
    must my myself near need never new next no none nor not nothing now of off often old on once
    one only onto or other our out over own part past per perhaps please plus point pretty put
    quick quite rather real really right round same see seem show showing shown since small
    smaller smallest so some something soon still stuff such sure take than thank thanks that
    the their them then there these they thing things think this those though through thru till
    time times to today together too top total totally toward under until up upon us use used
    using very via want wanted was way we well went were what whatever when where whether which
    while who whole why will with within without would yes yet you your yours yourself account
    accounts amount amounts balance balances bank budget budgets card cards cash category
    categories charge charged charges cost costs costing compare compared comparison earn earned
    earning earnings expense expenses income list money month monthly months payment payments
    pay paid paying purchase purchases receive received refund refunds save saved saving savings
    spend spending spent transaction transactions transfer transfers week weekly weeks year
    yearly years quarter quarters weekend yesterday tomorrow tonight dear hello hey hi morning
    evening afternoon joke poem weather news sister brother wife husband partner friend mother
    father mum mom dad son daughter boss user users customer customers people ignore
    instructions system prompt stock stocks share shares crypto bitcoin tell write song recipe
    score game play movie film
    """
)
"""Everyday words that must never be "corrected" into something else."""


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def clean(text: str) -> str:
    """Lower-case, accent-free text with uniform quotes, ``&`` as "and", ``50+`` as "50 plus"."""
    text = strip_accents(text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"(\dk?)\s*\+", r"\1 plus", text)
    return text.replace("&", " and ").replace("+", " and ")


def raw_tokens(text: str) -> list[str]:
    """Tokens of already ``clean`` text, possessive ``'s`` dropped and apostrophes removed."""
    out: list[str] = []
    for token in _TOKEN_RE.findall(text):
        if "'" in token:
            token = re.sub(r"'s$", "", token).replace("'", "")
        out.extend(ABBREVIATIONS.get(token, token).split())
    return out


def _with_number_words(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in NUMBER_WORDS:
            out.append(NUMBER_WORDS[token])
        elif token == "one" and following in _UNIT_WORDS:
            out.append("1")
        else:
            out.append(token)
    return out


def singular(word: str) -> str:
    """A crude singular that is good enough to compare names: "categories" -> "category".

    Words in "-ings" stay as they are: "savings" and "earnings" are not plurals of the verbs
    "saving" and "earning"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ings")):
        return word[:-1]
    return word


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class Speller:
    """Fixes one-edit typos (a missing, extra, swapped or wrong letter) against known words.

    Symmetric-delete lookup: every known word is indexed under itself and its one-letter
    deletions, so a lookup costs a few dictionary probes instead of an edit-distance scan.
    """

    def __init__(self, words: Iterable[str]):
        self.known = frozenset(w for w in words if w)
        self._by_delete: dict[str, list[str]] = defaultdict(list)
        for word in sorted(self.known):
            if len(word) >= 4 and word.isalpha():
                for deleted in _deletes(word):
                    self._by_delete[deleted].append(word)

    def knows(self, token: str) -> bool:
        """Known as it is, or as the singular or plural of a known word."""
        forms = (token, singular(token), token + "s", token + "es")
        return any(form in self.known for form in forms)

    def candidates(self, token: str) -> list[tuple[int, str]]:
        """Known words one edit away, with a rank: 0 missing letter, 1 extra, 2 changed."""
        found: list[tuple[int, str]] = [(0, w) for w in self._by_delete.get(token, [])]
        if len(token) >= 5:
            for deleted in _deletes(token):
                if deleted in self.known and len(deleted) >= 4:
                    found.append((1, deleted))
                same_length = (w for w in self._by_delete.get(deleted, []) if len(w) == len(token))
                found.extend((2, w) for w in same_length)
        return [(rank, w) for rank, w in found if w[0] == token[0] and w != token]


def correct(token: str, spellers: tuple[Speller, ...]) -> str:
    """``token`` or the best one-edit fix from any speller (earlier spellers win ties)."""
    if len(token) < 4 or not token.isalpha() or any(s.knows(token) for s in spellers):
        return token
    best: tuple[int, int, str] | None = None
    for order, speller in enumerate(spellers):
        for rank, word in speller.candidates(token):
            key = (rank, order, word)
            if best is None or key < best:
                best = key
    return best[2] if best else token


def normalize(text: str, spellers: tuple[Speller, ...]) -> list[str]:
    """The token list of a question: cleaned, short forms expanded, typos fixed."""
    tokens = _with_number_words(raw_tokens(clean(text)))
    return [correct(token, spellers) for token in tokens]


def words_of(phrases: Iterable[str]) -> set[str]:
    """Every token of ``phrases`` (names, synonyms, exemplars) as the speller should know it."""
    out: set[str] = set()
    for phrase in phrases:
        out.update(t for t in raw_tokens(clean(phrase)) if t.isalpha())
    return out
