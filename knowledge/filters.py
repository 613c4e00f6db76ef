"""Metadata filters, applied identically by the vector store and by BM25.

One ``Filters`` value renders to a chromadb ``where`` clause and to a Python predicate over
the same chunk metadata, so both retrievers rank exactly the same candidate set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Which chunks may be returned; ``None`` fields do not filter."""

    product_type: str | None = None
    fee_free: bool | None = None
    """``True``: no monthly or annual fee; ``False``: has one. Documents that do not say
    are excluded by either value."""
    max_min_deposit: Decimal | None = None
    """Minimum deposit at most this; documents without a minimum deposit are excluded."""

    def _conditions(self) -> list[tuple[str, str, Any]]:
        conditions: list[tuple[str, str, Any]] = []
        if self.product_type is not None:
            conditions.append(("product_type", "$eq", self.product_type))
        if self.fee_free is not None:
            conditions.append(("fee_free", "$eq", self.fee_free))
        if self.max_min_deposit is not None:
            cents = int((self.max_min_deposit * 100).to_integral_value(rounding="ROUND_FLOOR"))
            conditions.append(("min_deposit_cents", "$lte", cents))
        return conditions

    def where(self) -> dict[str, Any] | None:
        """The chromadb ``where`` clause (``None`` when nothing filters)."""
        clauses = [{key: {op: value}} for key, op, value in self._conditions()]
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """The same test as ``where()``, in Python, for BM25's candidates."""
        for key, op, value in self._conditions():
            if key not in metadata:
                return False
            actual = metadata[key]
            if op == "$eq" and actual != value:
                return False
            if op == "$lte" and not actual <= value:
                return False
        return True
