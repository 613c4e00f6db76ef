"""Where the knowledge index lives and which embedder fills it (``FINCHAT_KNOWLEDGE_*``).

By default the index is a folder beside the ledger (``finchat.db`` -> ``finchat.knowledge/``)
so a user's data stays in one place; ``FINCHAT_KNOWLEDGE_PATH`` moves it and
``FINCHAT_KNOWLEDGE_URL`` points at a Chroma server instead.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from knowledge.documents import builtin_corpus_dir, iter_files, load_document
from knowledge.embeddings import Embedder, make_embedder
from knowledge.retriever import Retriever
from knowledge.store import BUILTIN_ORIGIN, StoreLocation, open_client, open_collection


class KnowledgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINCHAT_KNOWLEDGE_", extra="ignore")

    path: Path | None = None
    """The index folder (default: beside the ledger)."""
    url: str | None = None
    """A Chroma server (``http://host:8000``); wins over ``path``."""
    collection: str = "products"
    embedder: str = "minilm"
    """``minilm`` (local, default), ``openai:<model>`` or ``sentence-transformers:<name>``."""
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None

    def location(self, ledger_url: str | None = None) -> StoreLocation:
        """The configured store, else a folder beside the ledger's SQLite file, else a
        per-user data folder (for a PostgreSQL or in-memory ledger)."""
        if self.url:
            return StoreLocation(url=self.url)
        if self.path is not None:
            return StoreLocation(path=self.path.expanduser())
        ledger = _sqlite_file(ledger_url or os.environ.get("FINCHAT_DATABASE_URL", "finchat.db"))
        if ledger is not None:
            return StoreLocation(path=ledger.with_suffix(".knowledge"))
        data_home = Path(os.environ.get("XDG_DATA_HOME", "~/.local/share")).expanduser()
        return StoreLocation(path=data_home / "finchat" / "knowledge")

    def make_embedder(self) -> Embedder:
        key = self.embedding_api_key.get_secret_value() if self.embedding_api_key else None
        return make_embedder(self.embedder, base_url=self.embedding_base_url, api_key=key)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ledger (a bare path counts), ``None`` for anything else."""
    if "://" not in url:
        return Path(url).expanduser().resolve()
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def open_retriever(settings: KnowledgeSettings, ledger_url: str | None = None) -> Retriever:
    """A retriever over the configured store (nothing is indexed here)."""
    embedder = settings.make_embedder()
    client = open_client(settings.location(ledger_url))
    return Retriever(open_collection(client, embedder, base=settings.collection), embedder)


def sync_builtin_corpus(retriever: Retriever) -> None:
    """Index the shipped product documents (only what changed since the last run)."""
    corpus = builtin_corpus_dir()
    documents = (load_document(file, root=root) for file, root in iter_files([corpus]))
    retriever.index(documents, origin=BUILTIN_ORIGIN)


_defaults: dict[str | None, Retriever] = {}
_defaults_lock = threading.Lock()


def default_retriever(ledger_url: str | None = None) -> Retriever:
    """The retriever ``product_lookup`` uses when none is bound: the configured store with
    the shipped corpus synced into it; built once per process and ledger (under a lock, so
    concurrent first requests never index the same documents twice)."""
    with _defaults_lock:
        if ledger_url not in _defaults:
            retriever = open_retriever(KnowledgeSettings(), ledger_url)
            sync_builtin_corpus(retriever)
            _defaults[ledger_url] = retriever
        return _defaults[ledger_url]


def forget_default_retrievers() -> None:
    """Drop the cached default retrievers (after the settings changed, and in tests)."""
    with _defaults_lock:
        _defaults.clear()
