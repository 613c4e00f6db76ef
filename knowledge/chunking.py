"""Documents into chunks: split on Markdown headings first, then by size.

Headings become metadata (the passage's ``heading``), so a chunk stays a self-contained
section of a key-facts sheet and a citation can name the section. The text that is embedded
and BM25-indexed is prefixed with the document title and heading ("Everyday Saver > Fees"),
because a section body alone often never names the product it belongs to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from knowledge.documents import Document

CHUNK_SIZE = 900
"""Characters per chunk: about 200 word pieces, inside MiniLM's 256-token window once the
title and heading are prefixed."""
CHUNK_OVERLAP = 120
CHUNKER_VERSION = "md-h3-900-120"
"""Part of each chunk's hash: changing the chunking re-indexes every document."""

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage of a document."""

    chunk_id: str
    doc_id: str
    title: str
    heading: str | None
    text: str
    """The passage as shown to the model (no title prefix)."""
    product_type: str | None
    metadata: dict[str, str | int | bool]

    @property
    def search_text(self) -> str:
        return search_text(self.title, self.heading, self.text)


def search_text(title: str, heading: str | None, text: str) -> str:
    """What is embedded and BM25-indexed: title and heading give the passage context."""
    context = title if not heading else f"{title} > {heading}"
    return f"{context}\n{text}"


def chunk_document(doc: Document) -> list[Chunk]:
    """Split ``doc`` into chunks whose ids are stable across runs for the same content."""
    sections = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True).split_text(doc.body)
    sizer = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks: list[Chunk] = []
    for section in sections:
        heading = _heading(section.metadata, doc.title)
        content = "\n".join(line.rstrip() for line in section.page_content.splitlines())
        for piece in sizer.split_text(content):
            if not piece.strip():
                continue
            index = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}#{index}",
                    doc_id=doc.doc_id,
                    title=doc.title,
                    heading=heading,
                    text=piece.strip(),
                    product_type=doc.product_type,
                    metadata=_chunk_metadata(doc, heading, index),
                )
            )
    return chunks


def document_fingerprint(doc: Document) -> str:
    """Changes when the file or the chunking changes: the key of incremental indexing."""
    return hashlib.sha256(f"{doc.content_hash}:{CHUNKER_VERSION}".encode()).hexdigest()


def _heading(headers: dict[str, str], title: str) -> str | None:
    """The section path below the document title ("Fees > Overdraft"); ``None`` for the
    text before the first sub-heading."""
    parts = [headers[key] for key in ("h1", "h2", "h3") if headers.get(key)]
    if parts and parts[0].strip().lower() == title.strip().lower():
        parts = parts[1:]
    return " > ".join(parts) or None


def _chunk_metadata(doc: Document, heading: str | None, index: int) -> dict[str, str | int | bool]:
    metadata: dict[str, str | int | bool] = {
        **doc.metadata,
        "doc_id": doc.doc_id,
        "title": doc.title,
        "source": doc.source,
        "doc_hash": document_fingerprint(doc),
        "chunk_index": index,
    }
    if heading:
        metadata["heading"] = heading
    if doc.product_type:
        metadata["product_type"] = doc.product_type
    return metadata
