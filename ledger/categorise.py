"""Categorising transactions: the user's rules, a classifier learned from the ledger, then
a built-in table for users with nothing to learn from yet.

Rules (``CategoryRule``: payee pattern, optional amount range) express intent, so they always
win. Everything else goes to a classifier trained on the user's own categorised transactions:
TF-IDF over character n-grams of payee and memo (robust to ``TESCO STORES 3217`` vs
``Tesco Metro``) plus the direction and order of magnitude of the amount, fed to a logistic
regression. A prediction below ``CONFIDENCE_THRESHOLD`` leaves the row uncategorised rather
than guessing. Rows that neither the rules nor the model categorise get a default category
from ``ledger.default_rules`` when the payee is a well-known chain or says what it is
(``Tesco``, ``payroll``) and the user still has that category: a new user's first import is
then not all uncategorised. Rows are only ever categorised when they have no category: a
category a person set (a correction) is never overwritten, and becomes training data at the
next retraining.

The model is saved per database and user under the model directory (``FINCHAT_MODEL_DIR``,
default ``~/.cache/finchat/models``); it is derived data, deleting it only means the next
use trains again. ``finchat categorize --retrain`` rebuilds it from the current categories.
Amount features are string buckets computed from ``Decimal``; money never becomes a float.
scikit-learn, pandas and joblib are imported where a model is trained, loaded or evaluated:
every import and CLI command imports this module, and most never need them (2 s saved).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.default_rules import CATEGORY_NAMES, default_category
from ledger.masking import mask_sensitive_text
from ledger.models import Category, CategoryRule, Transaction
from ledger.money import to_money

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

CONFIDENCE_THRESHOLD = 0.5
"""Below this predicted probability a row stays uncategorised (see ``docs/import.md``)."""
SIMILARITY_FLOOR = 0.5
"""Below this similarity to every training text a row stays uncategorised."""
MIN_TRAINING_ROWS = 20
UNCATEGORISED = "Uncategorised"
_MODEL_VERSION = 2


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


# ---------------------------------------------------------------- classifier


@dataclass(frozen=True, slots=True)
class Example:
    """One transaction as the classifier sees it."""

    payee: str
    memo: str | None
    amount: Decimal


_COLUMNS = ["text", "direction", "magnitude"]


def _frame(items: Sequence[Example]) -> pd.DataFrame:
    """Model inputs (``_features``) as the pipeline's columns."""
    import pandas as pd

    return pd.DataFrame(dict(zip(_COLUMNS, _features(items), strict=True)))


def _features(items: Sequence[Example]) -> tuple[list[str], list[str], list[str]]:
    """Model inputs: cleaned payee and memo (so ``NAME 1234`` and ``Name`` are one merchant
    whether the row was imported, typed in or loaded by the demo), direction, magnitude.

    The memo is masked first (``ledger.masking``): the saved model keeps the training texts'
    n-grams and vectors in a plaintext file, which must not hold a card or account number
    that the ledger keeps encrypted."""
    from ledger.importing.normalise import clean_payee  # the importer imports this module

    return (
        [f"{clean_payee(e.payee)} {mask_sensitive_text(e.memo or '')}".casefold()
         for e in items],
        ["in" if e.amount > 0 else "out" for e in items],
        [_magnitude(e.amount) for e in items],
    )


def _magnitude(amount: Decimal) -> str:
    """Half-decade bucket of ``|amount|``: ``1`` (1-4.99), ``1h`` (5-9.99), ``2`` (10-49.99)..."""
    size = abs(amount)
    if size < 1:
        return "0"
    digits = size.adjusted() + 1
    return f"{digits}h" if size >= 5 * Decimal(10) ** (digits - 1) else str(digits)


def _pipeline() -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = ColumnTransformer(
        [
            ("text", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                     min_df=1), "text"),
            ("amount", OneHotEncoder(handle_unknown="ignore"), ["direction", "magnitude"]),
        ]
    )
    return Pipeline([("features", features),
                     ("model", LogisticRegression(C=10.0, max_iter=2000))])


class PayeeClassifier:
    """A trained model mapping ``Example`` to a category id, or ``None`` when unsure.

    Unsure means either the predicted probability is below ``threshold`` or the payee and
    memo look like nothing in the training data (cosine similarity of their n-gram vectors
    to the nearest training text below ``SIMILARITY_FLOOR``): a softmax always picks some
    class, even for a merchant the user has never categorised.
    """

    def __init__(self, pipeline: Pipeline, reference: Any, trained_on: int, threshold: float):
        self.pipeline = pipeline
        self.reference = reference
        """The training texts' TF-IDF vectors (sparse, L2-normalised)."""
        self.trained_on = trained_on
        self.threshold = threshold

    @classmethod
    def train(
        cls, examples: Sequence[Example], labels: Sequence[int], *,
        threshold: float = CONFIDENCE_THRESHOLD,
    ) -> PayeeClassifier | None:
        """A classifier, or ``None`` with too little data (fewer than ``MIN_TRAINING_ROWS``
        rows or fewer than two categories).

        Identical rows are merged and weighted by their count (a ledger repeats the same
        payee and amount bucket many times): the regression minimises the same loss several
        times faster; only the n-gram weights (IDF) are computed over distinct texts.
        """
        if len(examples) < MIN_TRAINING_ROWS or len(set(labels)) < 2:
            return None
        from threadpoolctl import threadpool_limits

        frame = _frame(examples)
        frame["label"] = list(labels)
        merged = frame.groupby([*_COLUMNS, "label"], sort=False).size().reset_index(name="n")
        pipeline = _pipeline()
        with threadpool_limits(limits=1):  # small fits: threads only contend on shared cores
            pipeline.fit(merged[_COLUMNS], merged["label"].to_numpy(),
                         model__sample_weight=merged["n"].to_numpy())
        reference = _text_vectors(pipeline, merged["text"].drop_duplicates())
        return cls(pipeline, reference, len(examples), threshold)

    def predict(self, items: Sequence[Example]) -> list[tuple[int | None, float]]:
        """(category id or ``None``, confidence) per item; identical items are scored once."""
        if not items:
            return []
        import pandas as pd
        from threadpoolctl import threadpool_limits

        keys = list(zip(*_features(items), strict=True))
        distinct = list(dict.fromkeys(keys))
        unique = pd.DataFrame(distinct, columns=_COLUMNS)
        position = {key: i for i, key in enumerate(distinct)}
        with threadpool_limits(limits=1):
            proba, similarity = self._score(unique)
        classes = self.pipeline.classes_
        best = proba.argmax(axis=1)
        scored = [
            (int(classes[b]) if proba[i, b] >= self.threshold
             and similarity[i] >= SIMILARITY_FLOOR else None, float(proba[i, b]))
            for i, b in enumerate(best)
        ]
        return [scored[position[key]] for key in keys]

    def _score(self, unique: pd.DataFrame) -> tuple[Any, Any]:
        """Class probabilities and the similarity to the nearest training text of each row
        (0 where no class reaches the threshold: the row stays uncategorised whatever it is).

        The features are computed once for both: the text's TF-IDF vector is the first block
        of the model's input (``_pipeline``). Scoring 20,000 imported rows took 1.0 s with
        ``pipeline.predict_proba`` and a second ``transform`` of the text for the
        similarities of all rows, 0.8 s with one transform, and less again with the
        similarities (a product with every training text) of confident rows only."""
        import numpy as np
        from scipy import sparse

        features = self.pipeline.named_steps["features"]
        matrix = features.transform(unique)
        proba = self.pipeline.named_steps["model"].predict_proba(matrix)
        confident = np.flatnonzero(proba.max(axis=1) >= self.threshold)
        similarity = np.zeros(len(proba))
        if len(confident):
            text = matrix[confident][:, :len(features.named_transformers_["text"].vocabulary_)]
            similarity[confident] = _row_maxima(sparse.csr_matrix(text @ self.reference.T))
        return proba, similarity


def _row_maxima(products: Any) -> Any:
    """The largest entry of each row of a sparse matrix of non-negative values (0 for an
    empty row). ``csr_matrix.max(axis=1)`` sorts every row's indices first, which took a
    quarter of the time of scoring an import; a maximum needs no order."""
    import numpy as np

    maxima = np.zeros(products.shape[0])
    starts = products.indptr[:-1]
    filled = np.flatnonzero(np.diff(products.indptr))
    if len(filled):
        maxima[filled] = np.maximum.reduceat(products.data, starts[filled])
    return maxima


def _text_vectors(pipeline: Pipeline, texts: pd.Series) -> Any:
    vectorizer = pipeline.named_steps["features"].named_transformers_["text"]
    return vectorizer.transform(texts)


def training_data(session: Session, user_id: int) -> tuple[list[Example], list[int]]:
    """The user's categorised, non-transfer transactions (``Uncategorised`` excluded)."""
    rows = session.execute(
        select(Transaction.payee, Transaction.memo, Transaction.amount, Transaction.category_id)
        .join(Category, Category.id == Transaction.category_id)
        .where(Transaction.user_id == user_id, Transaction.is_transfer.is_(False))
        .where(Category.name != UNCATEGORISED)
        .order_by(Transaction.id)
    ).all()
    return [Example(p, m, a) for p, m, a, _ in rows], [int(c) for *_, c in rows]


# ---------------------------------------------------------------- persistence


def model_dir() -> Path:
    """Where trained models live: ``FINCHAT_MODEL_DIR`` or ``~/.cache/finchat/models``."""
    return Path(os.environ.get("FINCHAT_MODEL_DIR", "~/.cache/finchat/models")).expanduser()


def _model_path(session: Session, user_id: int, directory: Path | None) -> Path:
    """One file per database and user; a SQLite file is identified by its absolute path."""
    url = session.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        key = str(Path(url.database).expanduser().resolve())
    else:
        key = url.render_as_string(hide_password=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return (directory or model_dir()) / f"categoriser-{digest}-user{user_id}.joblib"


def train_and_save(
    session: Session, user_id: int, *, directory: Path | None = None
) -> PayeeClassifier | None:
    """Train from the ledger's current categories and save; ``None`` with too little data."""
    examples, labels = training_data(session, user_id)
    classifier = PayeeClassifier.train(examples, labels)
    path = _model_path(session, user_id, directory)
    if classifier is None:
        path.unlink(missing_ok=True)
        return None
    import joblib
    import sklearn

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": _MODEL_VERSION, "sklearn": sklearn.__version__,
               "pipeline": classifier.pipeline, "reference": classifier.reference,
               "trained_on": classifier.trained_on}
    temporary = path.with_suffix(".tmp")
    joblib.dump(payload, temporary)
    temporary.replace(path)
    return classifier


def load_classifier(
    session: Session, user_id: int, *, directory: Path | None = None
) -> PayeeClassifier | None:
    """The saved model, or a freshly trained one when none is saved or it is unreadable
    (e.g. saved by another scikit-learn version)."""
    path = _model_path(session, user_id, directory)
    if not path.exists():
        return train_and_save(session, user_id, directory=directory)
    import joblib
    import sklearn

    try:
        payload: dict[str, Any] | None = joblib.load(path)
    except Exception:  # a corrupt or foreign file is only a cache miss
        payload = None
    if (
        payload
        and payload.get("version") == _MODEL_VERSION
        and payload.get("sklearn") == sklearn.__version__
    ):
        return PayeeClassifier(payload["pipeline"], payload["reference"], payload["trained_on"],
                               CONFIDENCE_THRESHOLD)
    return train_and_save(session, user_id, directory=directory)


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


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """Cross-validated quality; abstentions (below the threshold) count as wrong answers."""

    rows: int
    categories: int
    folds: int
    accuracy: float
    macro_f1: float
    coverage: float
    """Share of rows the model was confident enough to categorise."""
    accuracy_when_confident: float
    split: str
    """``random`` (stratified folds) or ``unseen merchants`` (groups never in training)."""


def evaluate(
    examples: Sequence[Example],
    labels: Sequence[int],
    *,
    folds: int = 5,
    threshold: float = CONFIDENCE_THRESHOLD,
    group_by_payee: bool = False,
    groups: Sequence[str] | None = None,
) -> Evaluation:
    """K-fold cross-validation of the classifier on labelled ``examples``.

    With ``group_by_payee`` (cleaned payee names) or explicit ``groups`` (e.g. the true
    merchant of synthetic data) every group is entirely in train or in test, which measures
    how well the model does on merchants the user has never categorised. Categories with
    fewer rows than ``folds`` are left out (they cannot be stratified).

    Raises:
        ValueError: fewer than two categories with at least ``folds`` rows.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    counts = Counter(labels)
    keep = [i for i, label in enumerate(labels) if counts[label] >= folds]
    xs = [examples[i] for i in keep]
    ys = np.asarray([labels[i] for i in keep])
    if len(set(ys.tolist())) < 2:
        raise ValueError("need at least two categories with enough rows to cross-validate")
    if group_by_payee and groups is None:
        from ledger.importing.normalise import clean_payee  # the importer imports this module

        groups = [clean_payee(e.payee).casefold() for e in examples]
    if groups is not None:
        kept_groups = [groups[i] for i in keep]
        splits = GroupKFold(n_splits=folds).split(xs, ys, kept_groups)
    else:
        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(xs, ys)
    predicted = np.full(len(ys), -1)
    for train, test in splits:
        classifier = PayeeClassifier.train([xs[i] for i in train], ys[train].tolist(),
                                           threshold=threshold)
        if classifier is None:
            continue
        for i, (category_id, _) in zip(test, classifier.predict([xs[i] for i in test]),
                                       strict=True):
            predicted[i] = -1 if category_id is None else category_id
    confident = predicted != -1
    present = sorted(set(ys.tolist()))
    return Evaluation(
        rows=len(ys),
        categories=len(present),
        folds=folds,
        accuracy=float(accuracy_score(ys, predicted)),
        macro_f1=float(f1_score(ys, predicted, labels=present, average="macro", zero_division=0)),
        coverage=float(confident.mean()),
        accuracy_when_confident=float(accuracy_score(ys[confident], predicted[confident]))
        if confident.any() else 0.0,
        split="unseen merchants" if groups is not None else "random",
    )
