"""The chromadb collection that holds the chunks, and incremental indexing into it.

A local ``PersistentClient`` folder by default, or a Chroma server by URL (``HttpClient``)
when one process is not enough. Telemetry is off, and our embedding function is passed on
every collection call, so chromadb never loads or downloads a model of its own. Each
embedder gets its own collection (vectors of two models must never be compared).

Indexing is incremental per *origin* (a folder or file given to ``finchat knowledge index``,
or the shipped corpus): a document whose fingerprint (file hash + chunker version) and
source are unchanged is skipped, a changed one has its chunks replaced, and documents that
were indexed from that origin but are no longer there leave the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings

from knowledge.chunking import Chunk, chunk_document, document_fingerprint
from knowledge.documents import Document
from knowledge.embeddings import ChromaEmbeddingFunction, Embedder
from knowledge.errors import KnowledgeError

BUILTIN_ORIGIN = "builtin:products"
"""The origin of the shipped corpus (stable wherever the package is installed)."""


@dataclass(frozen=True)
class StoreLocation:
    """Where the collection lives: a local folder, or a Chroma server URL."""

    path: Path | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.url is None):
            raise KnowledgeError("give exactly one of a knowledge path or a Chroma server URL")

    def describe(self) -> str:
        return self.url if self.url is not None else str(self.path)


def open_client(location: StoreLocation) -> ClientAPI:
    """A chromadb client for ``location`` with anonymous telemetry disabled."""
    settings = Settings(anonymized_telemetry=False)
    if location.path is not None:
        location.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(location.path), settings=settings)
    assert location.url is not None
    parsed = urlparse(location.url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        message = f"Chroma server URL must be http(s)://host[:port], got {location.url!r}"
        raise KnowledgeError(message)
    port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    return chromadb.HttpClient(
        host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
    )


def collection_name(base: str, embedder: Embedder) -> str:
    """``<base>-<embedder id>`` in the characters chromadb allows."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{base}-{embedder.id}").strip("-._")
    return name[:512]


def open_collection(client: ClientAPI, embedder: Embedder, *, base: str = "products") -> Collection:
    """The collection for ``embedder`` (created on first use, cosine distance)."""
    return client.get_or_create_collection(
        collection_name(base, embedder),
        embedding_function=ChromaEmbeddingFunction(embedder),  # type: ignore[arg-type]
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedder": embedder.id},
    )


@dataclass
class IndexReport:
    """What one indexing run did, by document id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    """Documents with no text: nothing to index (and nothing to remove)."""
    chunks_written: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{len(self.empty)} empty ({self.chunks_written} chunks written)"
        )


@dataclass(frozen=True)
class _Indexed:
    fingerprint: str
    source: str
    origin: str


def _indexed_documents(collection: Collection) -> dict[str, _Indexed]:
    """One entry per indexed document, read from its chunks' metadata."""
    result = collection.get(include=["metadatas"])
    indexed: dict[str, _Indexed] = {}
    for metadata in result["metadatas"] or []:
        doc_id = str(metadata["doc_id"])
        indexed.setdefault(
            doc_id,
            _Indexed(str(metadata["doc_hash"]), str(metadata["source"]), str(metadata["origin"])),
        )
    return indexed


def index_documents(
    collection: Collection,
    embedder: Embedder,
    documents: Iterable[Document],
    *,
    origin: str,
    on_document: Callable[[Document], None] | None = None,
) -> IndexReport:
    """Bring ``collection`` in line with ``documents`` for ``origin``.

    Args:
        documents: every document the origin holds now (a generator is fine).
        origin: what the documents were indexed from; documents previously indexed from the
            same origin and absent now are removed.
        on_document: called after each document (a progress bar's ``update``).

    Raises:
        KnowledgeError: two documents with one id, or an id already taken by a file of
            another origin (so one folder can never overwrite another's document).
    """
    indexed = _indexed_documents(collection)
    report = IndexReport()
    seen: dict[str, str] = {}
    for doc in documents:
        if doc.doc_id in seen:
            message = f"id {doc.doc_id!r} is used by both {seen[doc.doc_id]} and {doc.source}"
            raise KnowledgeError(message)
        seen[doc.doc_id] = doc.source
        previous = indexed.get(doc.doc_id)
        if previous and previous.origin != origin and previous.source != doc.source:
            raise KnowledgeError(
                f"{doc.source}: id {doc.doc_id!r} is already indexed from {previous.source}"
            )
        if previous and previous == _Indexed(document_fingerprint(doc), doc.source, origin):
            report.unchanged.append(doc.doc_id)
        else:
            if previous:
                collection.delete(where={"doc_id": doc.doc_id})
            chunks = chunk_document(doc)
            if chunks:
                _write_chunks(collection, embedder, chunks, origin)
                report.chunks_written += len(chunks)
                (report.updated if previous else report.added).append(doc.doc_id)
            else:
                report.empty.append(doc.doc_id)
        if on_document is not None:
            on_document(doc)
    for doc_id, entry in indexed.items():
        if entry.origin == origin and doc_id not in seen:
            collection.delete(where={"doc_id": doc_id})
            report.removed.append(doc_id)
    return report


def _write_chunks(
    collection: Collection, embedder: Embedder, chunks: list[Chunk], origin: str
) -> None:
    vectors = embedder.embed([chunk.search_text for chunk in chunks])
    metadatas: list[Any] = [{**chunk.metadata, "origin": origin} for chunk in chunks]
    collection.add(
        ids=[chunk.chunk_id for chunk in chunks],
        embeddings=vectors,
        documents=[chunk.text for chunk in chunks],
        metadatas=metadatas,
    )
