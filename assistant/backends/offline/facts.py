"""What a product question asks for: a rate, a fee, a limit, a minimum, a term, eligibility.

The planner adds the words documents use for that fact to the search ("key facts", "AER"),
so a product's key-facts table is retrieved beside its prose; the answer writer then quotes
the table rows and sentences that state the fact, never a figure of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    name: str
    """How the answer names the fact when no passage states it."""
    cue: re.Pattern[str]
    """Words of a question that ask for it (lower-case text)."""
    stated: re.Pattern[str]
    """Words of a document line that states it."""
    search: str
    """Words added to the product search."""


def _i(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


FACTS: tuple[Fact, ...] = (
    Fact("interest rate",
         _i(r"\b(rates?|interest|apr|aer|apy|pays|paying|earns?|returns?|yield|best|better"
            r"|highest|compare)\b"),
         _i(r"\b(rates?|interest|apr|aer|apy|bonus|returns?)\b"), "rate AER APR key facts"),
    Fact("fee",
         _i(r"\b(fees?|charges?|charged|costs?|price|commission|free)\b"),
         _i(r"\b(fees?|charges?|charged|costs?|commission|free|none)\b"), "fee charges key facts"),
    Fact("limit",
         _i(r"\b(limits?|maximum|max|most|cap|borrow|allowance|up to|how much can)\b"),
         _i(r"\b(limits?|maximum|up to|borrow|allowance|cap|per year|each year|a year)\b"),
         "limit maximum key facts"),
    Fact("minimum",
         _i(r"\b(minimum|min|at least|how much .*\bto (open|start))\b"),
         _i(r"\b(minimum|min|to open|at least|opening)\b"), "minimum to open key facts"),
    Fact("term",
         _i(r"\b(term|how long|length|duration|notice|lock|fixed for)\b"),
         _i(r"\b(terms?|years?|months?|notice|days)\b"), "term notice key facts"),
    Fact("eligibility",
         _i(r"\b(eligib\w*|who can|qualify|requirements?|age|apply|can i (get|open))\b"),
         _i(r"\b(eligib\w*|who can|aged?|resident|over 18|must|requirements?)\b"),
         "eligibility who can apply"),
)


def asked_facts(question: str) -> list[Fact]:
    """The facts ``question`` asks for, in the order of ``FACTS``."""
    return [fact for fact in FACTS if fact.cue.search(question)]
