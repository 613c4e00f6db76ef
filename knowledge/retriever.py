"""Hybrid retrieval: vector similarity and BM25 over the same chunks, fused by rank.

Dense vectors find paraphrases ("money I can take out any time" ~ "instant access"); BM25
finds exact terms a small embedding model blurs (product names, "APR", "4.10%"). Reciprocal
rank fusion (Cormack et al., 2009: ``score = sum 1 / (k + rank)``, k = 60) combines the two
rankings without calibrating their incomparable scores. Both rankers see the same filtered
candidate set (``Filters``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chromadb.api.models.Collection import Collection

from knowledge.bm25 import BM25Index
from knowledge.chunking import search_text
from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.filters import Filters
from knowledge.sanitize import sanitize_passage
from knowledge.store import IndexReport, index_documents

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "vector", "bm25"]
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """One retrieved passage, its text sanitised (see ``knowledge.sanitize``)."""

    chunk_id: str
    doc_id: str
    title: str
    heading: str | None
    product_type: str | None
    text: str
    score: float
    """Fused RRF score in ``hybrid`` mode, cosine similarity in ``vector``, BM25 in ``bm25``."""
    flagged: bool = False
    """The raw passage reads like instructions to an assistant."""


@dataclass(frozen=True)
class _StoredChunk:
    chunk_id: str
    text: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class _Snapshot:
    """The chunks and their BM25 index, swapped as one value so readers never mix two."""

    chunks: list[_StoredChunk]
    by_id: dict[str, int]
    bm25: BM25Index

    @classmethod
    def of(cls, chunks: list[_StoredChunk]) -> _Snapshot:
        chunks = sorted(chunks, key=lambda chunk: chunk.chunk_id)
        texts = [
            search_text(str(c.metadata.get("title", "")), _heading(c.metadata), c.text)
            for c in chunks
        ]
        by_id = {chunk.chunk_id: i for i, chunk in enumerate(chunks)}
        return cls(chunks, by_id, BM25Index(texts))


def reciprocal_rank_fusion(
    rankings: Iterable[list[str]], *, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Fuse rankings of ids: each id scores ``sum 1 / (k + rank)`` (rank from 1); best first,
    ties broken by id so the order is deterministic."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class Retriever:
    """Searches one chromadb collection; keeps a BM25 index of its chunks in memory.

    The in-memory copy is loaded at construction and refreshed after ``index`` (or by
    ``refresh()`` when another process changed the collection).
    """

    def __init__(
        self,
        collection: Collection,
        embedder: Embedder,
        *,
        candidates: int = 30,
        max_per_doc: int = 2,
    ):
        """Args:
        candidates: how many chunks each ranker contributes before fusion (at least
            three times ``top_k``).
        max_per_doc: passages from one document at most, so a list answer ("which cards
            have no annual fee") is not filled by one long document.
        """
        self.collection = collection
        self.embedder = embedder
        self._candidates = candidates
        self._max_per_doc = max_per_doc
        self._snapshot = _Snapshot.of([])
        self.refresh()

    def refresh(self) -> None:
        """Reload the chunks and rebuild BM25 from the collection."""
        result = self.collection.get(include=["documents", "metadatas"])
        chunks = [
            _StoredChunk(chunk_id, text or "", metadata or {})
            for chunk_id, text, metadata in zip(
                result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True
            )
        ]
        self._snapshot = _Snapshot.of(chunks)

    def index(self, documents: Iterable[Document], *, origin: str, **kwargs: Any) -> IndexReport:
        """``store.index_documents`` into this collection, then refresh BM25."""
        report = index_documents(self.collection, self.embedder, documents, origin=origin, **kwargs)
        self.refresh()
        return report

    def __len__(self) -> int:
        return len(self._snapshot.chunks)

    def search(
        self,
        query: str,
        *,
        filters: Filters | None = None,
        top_k: int = 5,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """The ``top_k`` best passages for ``query`` among chunks that pass ``filters``."""
        filters = filters or Filters()
        # enough candidates to fill top_k even when the per-document cap skips some
        n = max(self._candidates, 3 * top_k)
        if mode == "vector":
            ranked = self._vector_ranking(query, filters, n)
        elif mode == "bm25":
            ranked = self._bm25_ranking(query, filters, n)
        elif mode == "hybrid":
            ranked = reciprocal_rank_fusion(
                [
                    [chunk_id for chunk_id, _ in self._vector_ranking(query, filters, n)],
                    [chunk_id for chunk_id, _ in self._bm25_ranking(query, filters, n)],
                ]
            )
        else:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        return self._hits(ranked, top_k)

    def _vector_ranking(self, query: str, filters: Filters, n: int) -> list[tuple[str, float]]:
        count = len(self._snapshot.chunks)
        if count == 0:
            return []
        result = self.collection.query(
            query_embeddings=self.embedder.embed([query]),
            n_results=min(n, count),
            where=filters.where(),
            include=["distances"],
        )
        distances = (result["distances"] or [[]])[0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(result["ids"][0], distances, strict=True)]

    def _bm25_ranking(self, query: str, filters: Filters, n: int) -> list[tuple[str, float]]:
        snapshot = self._snapshot
        chunks = snapshot.chunks
        allowed = None if filters == Filters() else (lambda i: filters.matches(chunks[i].metadata))
        ranked = snapshot.bm25.top(query, n, allowed=allowed)
        return [(chunks[i].chunk_id, score) for i, score in ranked]

    def _hits(self, ranked: list[tuple[str, float]], top_k: int) -> list[Hit]:
        if any(chunk_id not in self._snapshot.by_id for chunk_id, _ in ranked):
            logger.info("collection changed under the retriever; reloading its chunks")
            self.refresh()
        snapshot = self._snapshot
        hits: list[Hit] = []
        per_doc: dict[str, int] = defaultdict(int)
        for chunk_id, score in ranked:
            position = snapshot.by_id.get(chunk_id)
            if position is None:
                continue
            chunk = snapshot.chunks[position]
            doc_id = str(chunk.metadata.get("doc_id", ""))
            if per_doc[doc_id] >= self._max_per_doc:
                continue
            per_doc[doc_id] += 1
            hits.append(_hit(chunk, score))
            if len(hits) == top_k:
                break
        return hits


def _heading(metadata: Mapping[str, Any]) -> str | None:
    heading = metadata.get("heading")
    return str(heading) if heading else None


def _hit(chunk: _StoredChunk, score: float) -> Hit:
    safe = sanitize_passage(chunk.text)
    product_type = chunk.metadata.get("product_type")
    return Hit(
        chunk_id=chunk.chunk_id,
        doc_id=str(chunk.metadata.get("doc_id", "")),
        title=str(chunk.metadata.get("title", "")),
        heading=_heading(chunk.metadata),
        product_type=str(product_type) if product_type else None,
        text=safe.text,
        score=score,
        flagged=safe.flagged,
    )
