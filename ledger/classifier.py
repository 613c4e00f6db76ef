"""The learned part of categorisation: a classifier trained on the user's own categorised
transactions, saved per database and user, and its cross-validated quality.

TF-IDF over character n-grams of payee and memo (robust to ``TESCO STORES 3217`` vs
``Tesco Metro``) plus the direction and order of magnitude of the amount, fed to a logistic
regression. A prediction below ``CONFIDENCE_THRESHOLD``, or for a text unlike anything in
training, leaves the row uncategorised rather than guessing. The model is saved under the
model directory (``FINCHAT_MODEL_DIR``, default ``~/.cache/finchat/models``); it is derived
data, deleting it only means the next use trains again. Amount features are string buckets
computed from ``Decimal``; money never becomes a float. scikit-learn, pandas and joblib are
imported where a model is trained, loaded or evaluated: every import and CLI command
imports this module, and most never need them (2 s saved). ``ledger.categorise`` applies
the model after the user's rules.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.masking import mask_sensitive_text
from ledger.models import Category, Transaction

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
