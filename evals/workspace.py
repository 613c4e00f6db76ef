"""The ledgers and product indexes a run's cases use, built once per run in a scratch folder.

Every case reads a demo ledger (``ledger.demo.build_demo``) chosen by its seed and user count.
A case that inserts rows (an injected memo, a strange payee) gets its own copy, so no case
sees another's fixtures; cases with the same rows share one copy. Product documents work the
same way: the shipped corpus is indexed once, on first use, and a case that adds documents
gets an index of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from evals.cases import Case, CaseError, InsertedDocument, InsertedTransaction
from evals.oracle import Oracle
from ledger.db import make_engine, session_factory
from ledger.demo import build_demo
from ledger.models import Account, Category, Transaction, User


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._ledgers: dict[str, Path] = {}
        self._knowledge: dict[str, LazyRetriever] = {}
        self._corpus = _Corpus(root / "knowledge")
        self._oracles: dict[tuple[Path, str, dt.date], Oracle] = {}
        self._engines: dict[Path, Engine] = {}

    def prepare(self, cases: Iterable[Case]) -> None:
        """Build every ledger the cases need now, so no case pays for it in its latency, and
        start indexing the product corpus in the background when a case will search it."""
        needs_corpus = False
        for case in cases:
            self.ledger(case)
            needs_corpus = needs_corpus or _searches_products(case)
        if needs_corpus:
            self._corpus.start()

    def ledger(self, case: Case) -> Path:
        """The SQLite file ``case`` runs against."""
        base = self._cached(f"demo-{case.seed}-{case.users}", lambda p: _build(p, case))
        if not case.insert_transactions:
            return base
        rows = [row.model_dump(mode="json") for row in case.insert_transactions]
        key = _digest({"base": base.name, "rows": rows})
        return self._cached(f"fixture-{key}", lambda p: _patch(base, p, case))

    def knowledge(self, case: Case) -> LazyRetriever:
        """The product index for ``case``: the shipped corpus plus the case's documents."""
        docs = [doc.model_dump(mode="json") for doc in case.insert_documents]
        key = _digest(docs) if docs else "builtin"
        if key not in self._knowledge:
            documents = case.insert_documents
            self._knowledge[key] = LazyRetriever(
                lambda: self._corpus.with_documents(key, documents)
            )
        return self._knowledge[key]

    def oracle(self, ledger: Path, user: str, today: dt.date) -> Oracle:
        """The oracle of one user of one ledger; shared, since it caches the user's rows."""
        key = (ledger, user, today)
        if key not in self._oracles:
            if ledger not in self._engines:
                self._engines[ledger] = make_engine(str(ledger))
            self._oracles[key] = Oracle(self._engines[ledger], user, today)
        return self._oracles[key]

    def cancel(self) -> None:
        """Stop background work soon (the run was interrupted)."""
        self._corpus.cancel()

    def close(self) -> None:
        self._corpus.join()
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._oracles.clear()

    def _cached(self, name: str, build: Callable[[Path], None]) -> Path:
        if name not in self._ledgers:
            path = self.root / f"{name}.db"
            path.unlink(missing_ok=True)
            build(path)
            self._ledgers[name] = path
        return self._ledgers[name]


class LazyRetriever:
    """Stands in for a ``knowledge.Retriever`` and builds it on the first search: indexing
    the corpus takes seconds, and most runs never look a product up. Tools run in worker
    threads, so the build is guarded by a lock."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._retriever: Any = None
        self._lock = threading.Lock()

    def search(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._retriever is None:
                self._retriever = self._build()
        return self._retriever.search(*args, **kwargs)


def _searches_products(case: Case) -> bool:
    return bool(case.insert_documents) or any(
        call.name == "product_lookup"
        for turn in case.turns
        if turn.expect is not None
        for calls in turn.expect.call_sets()
        for call in calls
    )


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _build(path: Path, case: Case) -> None:
    try:
        build_demo(str(path), seed=case.seed, users=case.users)
    except ValueError as exc:
        raise CaseError(f"case {case.id}: cannot build the demo ledger: {exc}") from exc


def _patch(base: Path, path: Path, case: Case) -> None:
    """Copy ``base`` (SQLite's backup API: consistent even with a WAL) and add the rows."""
    with sqlite3.connect(base) as source, sqlite3.connect(path) as target:
        source.backup(target)
    engine = make_engine(str(path))
    try:
        with session_factory(engine).begin() as session:
            for row in case.insert_transactions:
                session.add(_transaction(session, row, row.user or case.user, case.id))
    finally:
        engine.dispose()


def _transaction(session: Any, row: InsertedTransaction, user_name: str, case_id: str) -> Any:
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise CaseError(f"case {case_id}: no user {user_name!r} in the demo ledger")
    account = session.scalar(
        select(Account).where(Account.user_id == user.id, Account.name == row.account)
    )
    if account is None:
        raise CaseError(f"case {case_id}: {user_name} has no account {row.account!r}")
    category_id = None
    if row.category is not None:
        category_id = session.scalar(
            select(Category.id).where(Category.user_id == user.id, Category.name == row.category)
        )
        if category_id is None:
            raise CaseError(f"case {case_id}: {user_name} has no category {row.category!r}")
    return Transaction(
        user_id=user.id,
        account_id=account.id,
        date=row.date,
        amount=row.amount,
        currency=account.currency,
        payee=row.payee,
        memo=row.memo,
        category_id=category_id,
    )


class IndexingCancelled(Exception):
    """The run was interrupted while the product corpus was being indexed."""


class _Corpus:
    """One chromadb store per run: the shipped corpus is embedded once (the slow part, about
    250 chunks), and an index with extra documents starts as a copy of its vectors, so only
    the extra documents are embedded. Indexing stops between two documents once cancelled,
    so Ctrl-C never waits for the whole corpus."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._client: Any = None
        self._builtin: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Index the corpus in a worker thread while the ledger cases run."""
        self._thread = threading.Thread(target=self._index, name="eval-corpus")
        self._thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _index(self) -> None:
        with contextlib.suppress(IndexingCancelled):
            self.builtin()

    def builtin(self) -> Any:
        from knowledge import BUILTIN_ORIGIN, KnowledgeSettings, Retriever, StoreLocation
        from knowledge.store import open_client, open_collection

        with self._lock:
            if self._builtin is None:
                embedder = KnowledgeSettings().make_embedder()
                self._client = open_client(StoreLocation(path=self.folder / "index"))
                retriever = Retriever(open_collection(self._client, embedder), embedder)
                retriever.index(self._shipped_documents(), origin=BUILTIN_ORIGIN)
                self._builtin = retriever
        return self._builtin

    def _shipped_documents(self) -> Iterator[Any]:
        """``knowledge.sync_builtin_corpus``'s documents, checking for cancellation first."""
        from knowledge import builtin_corpus_dir, iter_files, load_document

        for file, root in iter_files([builtin_corpus_dir()]):
            if self._cancelled.is_set():
                raise IndexingCancelled
            yield load_document(file, root=root)

    def with_documents(self, key: str, documents: Sequence[InsertedDocument]) -> Any:
        """The builtin retriever itself, or a copy of it plus ``documents``."""
        from knowledge import Retriever, load_document
        from knowledge.store import open_collection

        builtin = self.builtin()
        if not documents:
            return builtin
        collection = open_collection(self._client, builtin.embedder, base=f"eval-{key}")
        stored = builtin.collection.get(include=["embeddings", "documents", "metadatas"])
        collection.add(ids=stored["ids"], embeddings=stored["embeddings"],
                       documents=stored["documents"], metadatas=stored["metadatas"])
        retriever = Retriever(collection, builtin.embedder)
        files = [_write_document(self.folder / f"docs-{key}", doc) for doc in documents]
        retriever.index([load_document(file) for file in files], origin="eval")
        return retriever


def _write_document(folder: Path, doc: InsertedDocument) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    front = {"id": doc.doc_id, "name": doc.title}
    if doc.product_type:
        front["type"] = doc.product_type
    path = folder / f"{doc.doc_id}.md"
    path.write_text(f"---\n{json.dumps(front)}\n---\n{doc.body}\n", encoding="utf-8")
    return path
