"""Categorising transactions: the user's rules, a classifier learned from the ledger, then
a built-in table for users with nothing to learn from yet.

Rules (``CategoryRule``: payee pattern, optional amount range) express intent, so they always
win. Everything else goes to the classifier trained on the user's own categorised
transactions (``ledger.classifier``), which leaves a row uncategorised rather than guessing
when it is unsure. Rows that neither the rules nor the model categorise get a default
category from ``ledger.default_rules`` when the payee is a well-known chain or says what it
is (``Tesco``, ``payroll``) and the user still has that category: a new user's first import
is then not all uncategorised. Rows are only ever categorised when they have no category: a
category a person set (a correction) is never overwritten, and becomes training data at the
next retraining (``finchat categorize --retrain``).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.classifier import (
    UNCATEGORISED,
    Example,
    PayeeClassifier,
    load_classifier,
    train_and_save,
)
from ledger.default_rules import CATEGORY_NAMES, default_category
from ledger.models import Category, CategoryRule, Transaction
from ledger.money import to_money

# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """A user's rule in matching form."""

    id: int
    pattern: str
    category_id: int
    min_amount: Decimal | None
    max_amount: Decimal | None

    def matches(self, payee: str, amount: Decimal) -> bool:
        """Case-insensitive: a glob when the pattern has ``*``/``?``, else a substring.

        The amount range applies to the absolute amount, as people write "over 100" for
        a payment of -100.
        """
        text, pattern = payee.casefold(), self.pattern.casefold()
        if "*" in pattern or "?" in pattern:
            hit = fnmatch.fnmatchcase(text, pattern)
        else:
            hit = pattern in text
        size = abs(amount)
        if self.min_amount is not None and size < self.min_amount:
            return False
        if self.max_amount is not None and size > self.max_amount:
            return False
        return hit


def load_rules(session: Session, user_id: int) -> list[Rule]:
    """The user's rules, most specific first: amount-bounded ones, then longer patterns."""
    rows = session.scalars(select(CategoryRule).where(CategoryRule.user_id == user_id)).all()
    rules = [Rule(r.id, r.payee_pattern, r.category_id, r.min_amount, r.max_amount) for r in rows]
    return sorted(
        rules,
        key=lambda r: (r.min_amount is None and r.max_amount is None, -len(r.pattern), r.id),
    )


def add_rule(
    session: Session,
    *,
    user_id: int,
    pattern: str,
    category: str,
    min_amount: Decimal | str | None = None,
    max_amount: Decimal | str | None = None,
) -> CategoryRule:
    """Store a rule; the caller commits.

    Raises:
        ValueError: empty or over-long pattern, a category the user does not have, or a
            minimum above the maximum.
    """
    pattern = pattern.strip()
    if not pattern or len(pattern) > 200:
        raise ValueError("a rule pattern must have 1 to 200 characters")
    category_id = category_id_by_name(session, user_id, category)
    low = to_money(min_amount) if min_amount is not None else None
    high = to_money(max_amount) if max_amount is not None else None
    if low is not None and high is not None and low > high:
        raise ValueError(f"min_amount {low} is above max_amount {high}")
    rule = CategoryRule(user_id=user_id, payee_pattern=pattern, category_id=category_id,
                        min_amount=low, max_amount=high)
    session.add(rule)
    session.flush()
    return rule


def category_id_by_name(session: Session, user_id: int, name: str) -> int:
    """The id of the user's category called ``name`` (case-insensitive).

    Raises:
        ValueError: no such category; the message lists the user's categories.
    """
    rows = session.execute(
        select(Category.id, Category.name).where(Category.user_id == user_id)
    ).all()
    for category_id, category_name in rows:
        if category_name.casefold() == name.strip().casefold():
            return int(category_id)
    names = ", ".join(sorted(n for _, n in rows))
    raise ValueError(f"no category named {name!r}; categories: {names}")


# ---------------------------------------------------------------- applying


@dataclass(frozen=True)
class Assignment:
    category_id: int | None
    source: str | None
    """``rule``, ``model``, ``default`` (the built-in table) or ``None`` (uncategorised)."""


class Categoriser:
    """Rules, then the classifier, then the built-in table; built once per import or
    categorisation run."""

    def __init__(self, rules: Sequence[Rule], classifier: PayeeClassifier | None,
                 valid_ids: set[int] | None = None, defaults: Mapping[str, int] | None = None):
        self.rules = list(rules)
        self.classifier = classifier
        self.valid_ids = valid_ids
        """The user's category ids now: a saved model may predict a category deleted since."""
        self.defaults = dict(defaults or {})
        """Casefolded default category name -> the user's category id, for the names of
        ``ledger.default_rules`` the user has; empty turns the table off."""

    @classmethod
    def for_user(
        cls, session: Session, user_id: int, *, directory: Path | None = None
    ) -> Categoriser:
        """The user's rules, saved model and categories."""
        return cls.with_classifier(session, user_id,
                                   load_classifier(session, user_id, directory=directory))

    @classmethod
    def with_classifier(
        cls, session: Session, user_id: int, classifier: PayeeClassifier | None
    ) -> Categoriser:
        """The user's rules and categories around a given (e.g. just retrained) model."""
        ids = _category_ids(session, user_id)
        return cls(load_rules(session, user_id), classifier, set(ids.values()),
                   {name: ids[name] for name in _DEFAULT_NAMES if name in ids})

    @property
    def active(self) -> bool:
        """Whether there is anything to apply (a user without rules, model or any of the
        table's categories has not)."""
        return bool(self.rules) or self.classifier is not None or bool(self.defaults)

    def assign(self, items: Sequence[Example]) -> list[Assignment]:
        """One assignment per item."""
        ids, sources = self.categories([i.payee for i in items], [i.memo for i in items],
                                       [i.amount for i in items])
        return list(map(Assignment, ids, sources))

    def categories(
        self, payees: Sequence[str], memos: Sequence[str | None], amounts: Sequence[Decimal]
    ) -> tuple[list[int | None], list[str | None]]:
        """The category id and its source (see ``Assignment``) of each transaction, given a
        column at a time: an import categorises hundreds of thousands of rows, and the
        built-in table is consulted once per payee and sign."""
        count = len(payees)
        ids: list[int | None] = [None] * count
        sources: list[str | None] = [None] * count
        pending = list(range(count))
        if self.rules:
            pending = []
            for index, (payee, amount) in enumerate(zip(payees, amounts, strict=True)):
                rule = next((r for r in self.rules if r.matches(payee, amount)), None)
                if rule is None:
                    pending.append(index)
                else:
                    ids[index], sources[index] = rule.category_id, "rule"
        if self.classifier is not None and pending:
            predictions = self.classifier.predict(
                [Example(payees[i], memos[i], amounts[i]) for i in pending])
            unsure: list[int] = []
            for index, (category_id, _) in zip(pending, predictions, strict=True):
                if category_id is not None and (
                    self.valid_ids is None or category_id in self.valid_ids
                ):
                    ids[index], sources[index] = category_id, "model"
                else:
                    unsure.append(index)
            pending = unsure
        if self.defaults and pending:
            self._apply_defaults(payees, amounts, pending, ids, sources)
        return ids, sources

    def _apply_defaults(self, payees: Sequence[str], amounts: Sequence[Decimal],
                        pending: list[int], ids: list[int | None],
                        sources: list[str | None]) -> None:
        """The built-in table's category for the ``pending`` rows, where it has one: looked
        up once per payee and sign (whether the amount is above and below zero)."""
        from ledger.importing.normalise import clean_payee  # the importer imports this

        if len(pending) < len(payees):
            payees, amounts = [payees[i] for i in pending], [amounts[i] for i in pending]
        keys = list(zip(payees, map(_ZERO.__lt__, amounts), map(_ZERO.__gt__, amounts),
                        strict=True))
        known: dict[tuple[str, bool, bool], int | None] = {}
        for payee, above, below in set(keys):
            name = default_category(clean_payee(payee), Decimal(above - below))
            known[payee, above, below] = self.defaults.get(name.casefold()) if name else None
        for index, category_id in zip(pending, map(known.__getitem__, keys), strict=True):
            if category_id is not None:
                ids[index], sources[index] = category_id, "default"


_ZERO = Decimal(0)
_DEFAULT_NAMES = frozenset(name.casefold() for name in CATEGORY_NAMES)


def _category_ids(session: Session, user_id: int) -> dict[str, int]:
    """The user's categories: casefolded name -> id."""
    rows = session.execute(select(Category.name, Category.id).where(Category.user_id == user_id))
    return {name.casefold(): int(category_id) for name, category_id in rows}


@dataclass(frozen=True)
class CategoriseReport:
    examined: int
    by_rule: int
    by_model: int
    by_default: int
    """Rows categorised by the built-in table (``ledger.default_rules``)."""
    trained_on: int | None
    """Rows the model was trained on, ``None`` when there was too little data for one."""

    @property
    def left_uncategorised(self) -> int:
        return self.examined - self.by_rule - self.by_model - self.by_default


def categorise_ledger(
    sessions: sessionmaker[Session],
    user_id: int,
    *,
    retrain: bool = False,
    directory: Path | None = None,
) -> CategoriseReport:
    """Categorise every uncategorised, non-transfer transaction of the user, in one
    database transaction; ``retrain`` rebuilds the model from current categories first."""
    with sessions.begin() as session:
        if retrain:
            classifier = train_and_save(session, user_id, directory=directory)
        else:
            classifier = load_classifier(session, user_id, directory=directory)
        categoriser = Categoriser.with_classifier(session, user_id, classifier)
        rows = session.execute(
            select(Transaction.id, Transaction.payee, Transaction.memo, Transaction.amount)
            .where(Transaction.user_id == user_id, Transaction.is_transfer.is_(False))
            .where(or_(Transaction.category_id.is_(None),
                       Transaction.category_id.in_(_uncategorised_ids(session, user_id))))
            .order_by(Transaction.id)
        ).all()
        assignments = categoriser.assign([Example(p, m, a) for _, p, m, a in rows])
        updates = [
            {"tx_id": row.id, "new_category": a.category_id}
            for row, a in zip(rows, assignments, strict=True)
            if a.category_id is not None
        ]
        if updates:
            table = Transaction.__table__
            session.connection().execute(
                table.update()
                .where(table.c.id == bindparam("tx_id"), table.c.user_id == user_id)
                .values(category_id=bindparam("new_category")),
                updates,
            )
        counts = Counter(a.source for a in assignments)
        return CategoriseReport(
            examined=len(rows),
            by_rule=counts["rule"],
            by_model=counts["model"],
            by_default=counts["default"],
            trained_on=classifier.trained_on if classifier else None,
        )


def _uncategorised_ids(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(
        select(Category.id).where(Category.user_id == user_id, Category.name == UNCATEGORISED)
    ))
