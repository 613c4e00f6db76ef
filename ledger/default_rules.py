"""Built-in payee keywords that categorise a new user's first import (the cold start).

Why it exists: a user who has just signed up has no rules and no categorised history, so
there is no learned model and every imported row would stay uncategorised; "how much did I
spend on groceries?" would then find nothing. This table names a default category for
well-known chains and for words that say what a payment is (``supermarket``, ``pharmacy``,
``payroll``). It runs last: the user's rules and their learned model both take priority, and
as the user corrects categories the model (trained on them) takes over.

Limits, on purpose:

- Small and general: chains common in the UK, US and Germany plus generic words; most local
  merchants are not in it and stay uncategorised (add a rule, or categorise a few by hand).
- Matched against the *cleaned* payee (``ledger.importing.normalise.clean_payee``), whole
  words, case-insensitive; the memo is not read (it too often mentions other things).
- Direction matters where the word means different things either way: salary and interest
  earned only on inflows, rent only on outflows (rent received is income), interest charged
  on an outflow is loan interest. Other expense categories take both directions, as a refund
  from a supermarket reduces grocery spending.
- It names categories by their default names (``ledger.taxonomy``); a user who renamed or
  deleted one gets nothing from its rules.
- Merchants that sell too many kinds of thing (Amazon, Costco, Walmart, Target, Apple) are
  left out: a wrong default is worse than none, since an uncategorised row invites a fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache


class Direction(StrEnum):
    """Which amounts a rule applies to."""

    ANY = "any"
    OUTFLOW = "outflow"
    INFLOW = "inflow"


@dataclass(frozen=True)
class DefaultRule:
    """Payee words -> a default category name, for amounts in ``direction``."""

    category: str
    pattern: re.Pattern[str]
    direction: Direction = Direction.ANY

    def matches(self, payee: str, amount: Decimal) -> bool:
        """Whether the cleaned ``payee`` has one of the words and ``amount`` the direction."""
        if self.direction is Direction.INFLOW and amount <= 0:
            return False
        if self.direction is Direction.OUTFLOW and amount >= 0:
            return False
        return self.pattern.search(payee) is not None


def _rule(category: str, words: Sequence[str],
          direction: Direction = Direction.ANY) -> DefaultRule:
    """A rule matching any of ``words`` (regex fragments) as whole words.

    Lookarounds instead of ``\\b``, so that words ending in a symbol (``Disney+``) still
    need a non-word character or the end after them.
    """
    alternatives = "|".join(words)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    return DefaultRule(category, pattern, direction)


_APOSTROPHE = "['’]?"

DEFAULT_RULES: tuple[DefaultRule, ...] = (
    # Income first: a payroll inflow from any employer.
    _rule("Salary", ["salary", "salaries", "payroll", "wages?", "gehalt", "lohn"],
          Direction.INFLOW),
    _rule("Interest", ["interest", "zinsen", "habenzinsen"], Direction.INFLOW),
    _rule("Loan Interest", ["interest", "finance charges?", "sollzinsen"], Direction.OUTFLOW),
    _rule("Rent", ["rent", "landlord", "lettings?", "letting agents?", "miete",
                   "property management"], Direction.OUTFLOW),
    # Delivery apps before "Uber" (taxi) and before the coffee words.
    _rule("Dining Out", ["uber eats", "deliveroo", "just eat", "doordash", "grubhub",
                         "lieferando"]),
    _rule("Coffee", ["coffee", "caf[eé]", "caff[eè]", "espresso", "starbucks", "costa",
                     "pret a manger", "caffe nero", "dunkin", "tim hortons",
                     f"peet{_APOSTROPHE}s"]),
    _rule("Dining Out", ["restaurant", "ristorante", "trattoria", "pizzeria", "pizza",
                         "burgers?", "grill", "bistro", "brasserie", "diner", "steakhouse",
                         "sushi", "ramen", "noodles?", "taqueria", "kebab", "pub", "tavern",
                         f"mc ?donald{_APOSTROPHE}s?", "burger king", "kfc",
                         f"nando{_APOSTROPHE}s", "wagamama", f"domino{_APOSTROPHE}s",
                         "chipotle", "taco bell", f"wendy{_APOSTROPHE}s", "five guys",
                         "greggs", "shake shack", "panera"]),
    _rule("Groceries", ["tesco", f"sainsbury{_APOSTROPHE}s?", "asda", "morrisons",
                        "waitrose", "aldi", "lidl", "co-?op food", "ocado", "iceland foods",
                        "rewe", "edeka", "kaufland", "netto", "penny markt", "kroger",
                        "safeway", "whole foods", f"trader joe{_APOSTROPHE}s", "publix",
                        "albertsons", "wegmans", "h-e-b", "food lion", "meijer", "sprouts",
                        "supermarkets?", "supermarkt", "grocery", "groceries"]),
    _rule("Taxi", ["uber", "lyft", "taxis?", "cabs?", "minicabs?", "bolt", "free ?now",
                   "addison lee", "gett"]),
    _rule("Public Transport", ["tfl", "transport for london", "trainline", "national rail",
                               "deutsche bahn", "bvg", "mvv", "mta", "amtrak",
                               "greyhound", "oyster"]),
    _rule("Fuel", ["shell", "bp", "esso", "aral", "chevron", "exxon(?:mobil)?", "mobil",
                   "texaco", "sunoco", "valero", "arco", "circle k", "petrol", "gas station",
                   "fuel", "tankstelle"]),
    _rule("Subscriptions", ["netflix", "spotify", r"disney ?(?:\+|plus)", "hulu", "hbo max",
                            "amazon prime", "prime video", "youtube", "apple music", "audible",
                            "now tv", "dazn", r"paramount ?(?:\+|plus)", "crunchyroll"]),
    _rule("Internet", ["broadband", "virgin media", "xfinity", "comcast", "verizon fios"]),
    _rule("Utilities", ["electricity", "electric", "energy", "gas", "water", "british gas",
                        "edf", "e\\.?on", "octopus energy", "ovo", "scottish power",
                        "pg&e", "con ?edison", "national grid", "stadtwerke", "vattenfall"]),
    _rule("Pharmacy", ["pharmacy", "chemist", "apotheke", "boots", "walgreens", "cvs",
                       "rite aid"]),
    _rule("Bank Fees", ["(?:account|monthly|maintenance|overdraft|atm|late|card|"
                        "foreign transaction) fees?", "service charge", "kontoführung"],
          Direction.OUTFLOW),
    _rule("Entertainment", ["cinema", "odeon", "cineworld", "vue", "amc theatres",
                            "ticketmaster"]),
    _rule("Travel", ["airbnb", "hotels?", "ryanair", "easyjet", "british airways",
                     "lufthansa", "expedia"]),
    _rule("Sport", ["gym", "puregym", "fitness"]),
    _rule("Household", ["ikea", "b&q", "home depot", f"lowe{_APOSTROPHE}s"]),
)
"""First match wins, so more specific rules (delivery apps) come before general ones."""

CATEGORY_NAMES: frozenset[str] = frozenset(rule.category for rule in DEFAULT_RULES)
"""Every category the table can assign; each is a name in ``ledger.taxonomy``."""


def default_category(cleaned_payee: str, amount: Decimal) -> str | None:
    """The default category name for a cleaned payee and signed amount, or ``None``.

    Only the amount's sign matters, so the answer is memoised per payee and sign: a
    statement repeats its payees, and twenty searches per row would triple an import's time.
    """
    return _lookup(cleaned_payee, (amount > 0) - (amount < 0))


@lru_cache(maxsize=65536)
def _lookup(cleaned_payee: str, sign: int) -> str | None:
    return next((rule.category for rule in DEFAULT_RULES
                 if rule.matches(cleaned_payee, Decimal(sign))), None)
