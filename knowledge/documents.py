"""Documents to index: the shipped product corpus and a user's Markdown, text or HTML files.

A product document is Markdown with YAML front matter (``id``, ``name``, ``type``,
``updated`` and filterable facts such as ``min_deposit``, ``monthly_fee``, ``fee_free``). A
user's file may have no front matter: its id then comes from its path and its title from its
first heading. Money in front matter is read as ``Decimal`` and kept as integer cents, the
only exact numeric type a vector store's metadata offers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from knowledge.errors import KnowledgeError
from knowledge.html import html_to_markdown

PRODUCT_TYPES: tuple[str, ...] = (
    "savings",
    "current_account",
    "fixed_term_deposit",
    "credit_card",
    "personal_loan",
    "mortgage",
    "investment",
    "retirement",
    "insurance",
)
"""The product types a document may declare; equal to ``tools.schemas.ProductType``."""

MONEY_FIELDS: tuple[str, ...] = ("min_deposit", "monthly_fee", "annual_fee")
"""Front-matter amounts stored as ``<name>_cents`` metadata for filtering."""

SUFFIXES: frozenset[str] = frozenset({".md", ".markdown", ".txt", ".html", ".htm"})
"""File types ``finchat knowledge index`` reads; anything else in a folder is skipped."""

MAX_FILE_BYTES = 2_000_000
"""Larger files are refused: product documents are pages, not data dumps."""

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FIRST_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_ID_UNSAFE = re.compile(r"[^a-z0-9]+")


def builtin_corpus_dir() -> Path:
    """The shipped product documents (``knowledge/products``)."""
    return Path(__file__).parent / "products"


@dataclass(frozen=True)
class Document:
    """One source document, ready to chunk."""

    doc_id: str
    title: str
    body: str
    """Markdown text without front matter (HTML already converted)."""
    source: str
    """Absolute path of the file it came from."""
    content_hash: str
    """sha256 of the file's bytes: equal hashes mean nothing to re-index."""
    product_type: str | None = None
    metadata: dict[str, str | int | bool] = field(default_factory=dict)
    """Filterable facts (``fee_free``, ``min_deposit_cents``, ``updated``...)."""


def load_document(path: Path, *, root: Path | None = None) -> Document:
    """Read one file into a ``Document``.

    Args:
        path: A ``.md``, ``.markdown``, ``.txt``, ``.html`` or ``.htm`` file.
        root: The folder it was found under; a file without an ``id`` gets one from its path
            relative to it, so two ``README.md`` in different folders stay distinct.

    Raises:
        KnowledgeError: unreadable file, bad front matter, unknown product type.
    """
    path = path.resolve()
    if path.suffix.lower() not in SUFFIXES:
        raise KnowledgeError(f"{path}: unsupported file type (use {', '.join(sorted(SUFFIXES))})")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise KnowledgeError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    text = raw.decode("utf-8", errors="replace")
    front, body = _split_front_matter(text, path)
    if path.suffix.lower() in {".html", ".htm"}:
        body = html_to_markdown(body)
    doc_id = _doc_id(front, path, root)
    title = str(front.get("name") or front.get("title") or _first_heading(body) or path.stem)
    product_type = _product_type(front, path)
    return Document(
        doc_id=doc_id,
        title=title.strip(),
        body=body.strip(),
        source=str(path),
        content_hash=hashlib.sha256(raw).hexdigest(),
        product_type=product_type,
        metadata=_filterable_metadata(front, path),
    )


def iter_files(paths: Iterable[Path]) -> Iterator[tuple[Path, Path]]:
    """Every indexable file under ``paths`` as ``(file, root)``, in a stable order.

    Hidden files and folders are skipped. A path that does not exist is an error, so a
    typo never silently means "remove everything indexed from there".
    """
    for given in paths:
        root = given.expanduser().resolve()
        if not root.exists():
            raise KnowledgeError(f"{given}: no such file or folder")
        if root.is_file():
            yield root, root.parent
            continue
        for file in sorted(root.rglob("*")):
            relative = file.relative_to(root).parts
            if any(part.startswith(".") for part in relative):
                continue
            if file.is_file() and file.suffix.lower() in SUFFIXES:
                yield file, root


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    try:
        front = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: invalid front matter ({exc.__class__.__name__})") from exc
    if not isinstance(front, dict):
        raise KnowledgeError(f"{path}: front matter must be a mapping")
    return front, text[match.end() :]


def _doc_id(front: dict[str, Any], path: Path, root: Path | None) -> str:
    if front.get("id"):
        doc_id = str(front["id"]).strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", doc_id):
            raise KnowledgeError(f"{path}: id {doc_id!r} must be letters, digits, . _ : -")
        return doc_id
    relative = path.relative_to(root) if root is not None else Path(path.name)
    slug = _ID_UNSAFE.sub("-", str(relative.with_suffix("")).lower()).strip("-")
    return f"doc:{slug or 'untitled'}"


def _first_heading(body: str) -> str | None:
    match = _FIRST_HEADING.search(body)
    return match.group(1) if match else None


def _product_type(front: dict[str, Any], path: Path) -> str | None:
    value = front.get("type")
    if value is None:
        return None
    if value not in PRODUCT_TYPES:
        raise KnowledgeError(f"{path}: type {value!r} is not one of {', '.join(PRODUCT_TYPES)}")
    return str(value)


def _filterable_metadata(front: dict[str, Any], path: Path) -> dict[str, str | int | bool]:
    metadata: dict[str, str | int | bool] = {}
    for name in MONEY_FIELDS:
        if front.get(name) is not None:
            metadata[f"{name}_cents"] = _cents(front[name], name, path)
    if "fee_free" in front:
        if not isinstance(front["fee_free"], bool):
            raise KnowledgeError(f"{path}: fee_free must be true or false")
        metadata["fee_free"] = front["fee_free"]
    updated = front.get("updated")
    if isinstance(updated, dt.date):
        metadata["updated"] = updated.isoformat()
    elif updated is not None:
        raise KnowledgeError(f"{path}: updated must be a date (YYYY-MM-DD)")
    return metadata


def _cents(value: Any, name: str, path: Path) -> int:
    """Exact cents from a YAML number or string; YAML floats go through ``str``, not binary."""
    if isinstance(value, bool):
        raise KnowledgeError(f"{path}: {name} must be an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise KnowledgeError(f"{path}: {name} must be an amount, got {value!r}") from exc
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise KnowledgeError(f"{path}: {name} must be a non-negative amount in cents precision")
    return int(amount * 100)
