"""Product documents in a vector store, searched by vector similarity and BM25 together.

``default_retriever()`` is what ``product_lookup`` uses; ``finchat knowledge index`` adds a
user's own documents to the same store.
"""

from knowledge.documents import (
    PRODUCT_TYPES,
    Document,
    builtin_corpus_dir,
    iter_files,
    load_document,
)
from knowledge.embeddings import Embedder, MiniLMEmbedder, make_embedder
from knowledge.errors import KnowledgeError
from knowledge.filters import Filters
from knowledge.retriever import Hit, Retriever, reciprocal_rank_fusion
from knowledge.settings import (
    KnowledgeSettings,
    default_retriever,
    forget_default_retrievers,
    open_retriever,
    sync_builtin_corpus,
)
from knowledge.store import BUILTIN_ORIGIN, IndexReport, StoreLocation

__all__ = [
    "BUILTIN_ORIGIN",
    "PRODUCT_TYPES",
    "Document",
    "Embedder",
    "Filters",
    "Hit",
    "IndexReport",
    "KnowledgeError",
    "KnowledgeSettings",
    "MiniLMEmbedder",
    "Retriever",
    "StoreLocation",
    "builtin_corpus_dir",
    "default_retriever",
    "forget_default_retrievers",
    "iter_files",
    "load_document",
    "make_embedder",
    "open_retriever",
    "reciprocal_rank_fusion",
    "sync_builtin_corpus",
]
