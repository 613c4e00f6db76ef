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

EVERYDAY_WORDS = word_set(
    """
    able act actual actually add added adds again almost alone altogether answer anybody
    anymore apart area arrive asap aside awful bad badly bag basically bear beat become bed
    bill billed bills bit black blue boiler book born bottom bought box bring brings bringing
    brought brown build burn burning burnt busy call called calling calm came car care careful
    case cat cats catch cause certain chance change check cheap city clear close closed coat
    cold come comes coming company contact cool copy corner country couple course cover crazy
    cut dark date dead deal decent deep despite die dinner dog dogs door double draft dream
    dress drink drive drop dropped dropping due easy eat eating email ends enjoy entire
    especially exact example explain face fact fair fall family fancy far feel feeling fell
    felt fine finish fire fix floor fly follow food foot force forget form forward free fresh
    front fund funds game garden gave general girl glad goal gold gone green ground group grow
    guess guy hand happen happened happy hard hate head hear heard heavy hello hit holding
    hole honest hope horrible hot hour house huge idea ill important instead issue job join
    jump kept key kid kids kill knew land large laugh lead learn leave lend light line live
    living lock locked lose losing lost loud love lunch main making man manage managed march
    mark matter meal means meet meeting mind minute miss moment move moved near nearly neat
    nice night normal note notice odd open order outside paper park parked parking pass
    person phone pick picture piece place plan point pot pretty price proper pull push quid
    quiet race rain raise ran rate reach read ready reason red remind remember rest return
    rich ride ring road rock room rule run running safe said sat saw say saying school sea
    seen sell send sense set shape share sheet shop short shot side sign simple sit sitting
    size sleep slow smart sold sort sound space speak special stand star start state stay
    step stick stop story street strong study sure talk tall team tell terrible test text
    thin third thought told took tour town tree trip trouble true trust try trying turn type
    usual usually view visit wait walk wall watch water wear week weird wife win wind woman
    wonder word work worked world worry worse worst wrong
    """
)
"""More plain English the speller must leave alone ("in the black" is not "in the back",
"best place" is not "best pace"). Unlike ``COMMON_WORDS`` these may still name a category,
payee or search word ("parking", "kids")."""


FOREIGN_WORDS = word_set(
    """
    ich ist mein meine meinem meinen meiner wie viel wieviel habe hast letzten letzte monat
    geld konto girokonto ausgegeben und nicht fur auf dem der das mir bitte kann welche wann
    je est mon mes le les du des quel quelle quels combien ai depense compte solde pour dans
    avec mois dernier derniere argent une sur cuanto cuanta gaste mi mis el los las del mes
    pasado cuenta saldo dinero que tengo como por para ano hoeveel heb ik mijn uitgegeven aan
    het een wat rekening vorige maand niet voor van quanto ho speso il mio conto scorso soldi
    gastei meu minha dinheiro voce estou sono
    """
)
"""Everyday words of German, French, Spanish, Dutch, Italian and Portuguese that are not
English words: a question made of them gets a plain "English only" reply, not a guess."""


def is_foreign(text: str) -> bool:
    """Whether ``text`` is written in another language than English (see FOREIGN_WORDS)."""
    tokens = raw_tokens(clean(text))
    foreign = sum(1 for t in tokens if t in FOREIGN_WORDS)
    english = sum(1 for t in tokens if t in COMMON_WORDS)
    return foreign >= 2 and foreign > english and foreign * 5 >= len(tokens) * 2


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


def _swaps(word: str) -> set[str]:
    """``word`` with two neighbouring letters exchanged, the commonest slip on a keyboard."""
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}


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
        """Known words one edit away, with a rank: 0 missing letter, 1 extra or swapped,
        2 changed."""
        found: list[tuple[int, str]] = [(0, w) for w in self._by_delete.get(token, [])]
        found += [(1, w) for w in _swaps(token) if w in self.known]  # "zaar" -> "zara"
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


PHRASAL_SPENDING: dict[tuple[str, str], str] = {
    ("shell", "out"): "spend", ("shelled", "out"): "spent", ("fork", "out"): "spend",
    ("forked", "out"): "spent", ("splash", "out"): "spend", ("splashed", "out"): "spent",
    ("cough", "up"): "spend", ("coughed", "up"): "spent", ("drop", "on"): "spend on",
    ("dropped", "on"): "spent on", ("dropped", "at"): "spent at",
}
"""Phrasal verbs for spending, read as "spend" before names are looked up: "shell out on
streaming" is no payment to Shell."""


def _with_phrasal_verbs(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        plain = PHRASAL_SPENDING.get((tokens[i], tokens[i + 1])) if i + 1 < len(tokens) else None
        if plain:
            out.extend(plain.split())
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def normalize(text: str, spellers: tuple[Speller, ...]) -> list[str]:
    """The token list of a question: cleaned, short forms expanded, typos fixed."""
    tokens = _with_number_words(raw_tokens(clean(text)))
    return _with_phrasal_verbs([correct(token, spellers) for token in tokens])


def words_of(phrases: Iterable[str]) -> set[str]:
    """Every token of ``phrases`` (names, synonyms, exemplars) as the speller should know it."""
    out: set[str] = set()
    for phrase in phrases:
        out.update(t for t in raw_tokens(clean(phrase)) if t.isalpha())
    return out
