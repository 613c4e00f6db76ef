"""Okapi BM25 over the indexed chunks, in memory.

Our own ~60 lines rather than ``rank_bm25``: that package scores every document for every
query with a Python loop per term and offers no tokenizer; here an inverted index touches
only the postings of the query's terms, candidates can be restricted by a metadata filter
before ranking, and the tokenizer (lowercase, stop words, a light plural stemmer) is ours to
keep identical between indexing and querying. Lucene's non-negative idf is used, so a term
present in most chunks never subtracts from a score.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_STOP_WORDS_TEXT = """
a an and are as at be by can do does for from has have how i if in is it its me my of on or our
so that the their there this to was what when where which who will with would you your
"""
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def _stem(token: str) -> str:
    """Plural endings only: 'fees' -> 'fee', 'policies' -> 'policy'."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercased word and number tokens without stop words; '4.25' stays one token and
    '1,000' becomes '1000', as a customer would type it."""
    tokens = (t.replace(",", "") for t in _TOKEN.findall(text.lower()))
    return [_stem(t) for t in tokens if t not in _STOP_WORDS]


class BM25Index:
    """BM25 scores for a fixed list of texts (rebuilt when the chunks change)."""

    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75):
        self._k1 = k1
        self._b = b
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._lengths: list[int] = []
        for position, text in enumerate(texts):
            counts = Counter(tokenize(text))
            self._lengths.append(sum(counts.values()))
            for term, frequency in counts.items():
                self._postings[term].append((position, frequency))
        self._average_length = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0

    def __len__(self) -> int:
        return len(self._lengths)

    def _idf(self, term: str) -> float:
        n = len(self._postings.get(term, ()))
        return math.log(1.0 + (len(self._lengths) - n + 0.5) / (n + 0.5))

    def top(
        self, query: str, k: int, *, allowed: Callable[[int], bool] | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` best ``(position, score)`` pairs with a positive score, best first;
        ``allowed`` restricts the candidates (a metadata filter). Ties keep index order."""
        scores: dict[int, float] = defaultdict(float)
        for term in set(tokenize(query)):
            idf = self._idf(term)
            for position, frequency in self._postings.get(term, ()):
                if allowed is not None and not allowed(position):
                    continue
                norm = 1 - self._b + self._b * self._lengths[position] / self._average_length
                scores[position] += idf * frequency * (self._k1 + 1) / (frequency + self._k1 * norm)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:k]
