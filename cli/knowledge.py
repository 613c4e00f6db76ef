"""``finchat knowledge index`` and ``finchat knowledge search``: the product-document store.

The store is the one ``product_lookup`` reads: a folder beside the ledger unless
``--store``/``FINCHAT_KNOWLEDGE_PATH`` or ``--url``/``FINCHAT_KNOWLEDGE_URL`` say otherwise.
Indexing is incremental, so running ``index`` again on the same folder only re-embeds what
changed and drops what was deleted.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from cli import UserError

_MODES = ("hybrid", "vector", "bm25")


@click.group()
@click.option("--db", help="Ledger whose store to use [env FINCHAT_DATABASE_URL].")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    help="Index folder [env FINCHAT_KNOWLEDGE_PATH; default: beside the ledger].",
)
@click.option(
    "--url", help="A Chroma server instead, http://host:8000 [env FINCHAT_KNOWLEDGE_URL]."
)
@click.option(
    "--embedder", help="minilm (default, offline), openai:<model> or sentence-transformers:<name>."
)
@click.pass_context
def knowledge(
    ctx: click.Context, db: str | None, store: Path | None, url: str | None, embedder: str | None
) -> None:
    """Product documents: index your own, search them."""
    overrides: dict[str, Any] = {"path": store, "url": url, "embedder": embedder}
    ctx.obj = {"db": db, "overrides": {k: v for k, v in overrides.items() if v is not None}}


def _open(ctx: click.Context) -> Any:
    """The retriever for the chosen store, the shipped corpus synced into it."""
    from knowledge import KnowledgeError, KnowledgeSettings, open_retriever, sync_builtin_corpus

    try:
        settings = KnowledgeSettings(**ctx.obj["overrides"])
        retriever = open_retriever(settings, ctx.obj["db"])
        sync_builtin_corpus(retriever)
    except KnowledgeError as exc:
        raise UserError(str(exc)) from exc
    return retriever


@knowledge.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def index(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Index Markdown, text and HTML files under PATHS (files or folders).

    Unchanged files are skipped, changed ones replaced, and files deleted from a folder since
    its last indexing leave the store. Without PATHS, only the shipped product documents are
    (re)indexed.
    """
    from knowledge import KnowledgeError, iter_files, load_document

    retriever = _open(ctx)
    try:
        plan = [(path, list(iter_files([path]))) for path in paths]
        total = sum(len(files) for _, files in plan)
        with click.progressbar(length=total, label="Indexing", file=sys.stderr) as bar:
            for path, files in plan:
                documents = (load_document(file, root=root) for file, root in files)
                report = retriever.index(
                    documents,
                    origin=str(path.expanduser().resolve()),
                    on_document=lambda _d: bar.update(1),
                )
                click.echo(f"{path}: {report.summary()}")
    except KnowledgeError as exc:
        raise UserError(str(exc)) from exc
    click.echo(f"{len(retriever)} chunks in the store")


def _amount(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise click.BadParameter(
            f"{value!r} is not an amount", param_hint="--max-min-deposit"
        ) from exc
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter("must be zero or more", param_hint="--max-min-deposit")
    return amount


@knowledge.command()
@click.argument("query")
@click.option("--type", "product_type", help="Only this product type (savings, credit_card...).")
@click.option("--fee-free/--with-fee", default=None, help="Only products without / with a fee.")
@click.option("--max-min-deposit", help="Only products you can open with this amount.")
@click.option("-k", "--top-k", default=5, show_default=True, type=click.IntRange(1, 20))
@click.option("--mode", type=click.Choice(_MODES), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the passages as JSON.")
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    product_type: str | None,
    fee_free: bool | None,
    max_min_deposit: str | None,
    top_k: int,
    mode: str,
    as_json: bool,
) -> None:
    """Search the store for QUERY and print the best passages with their sources."""
    from knowledge import PRODUCT_TYPES, Filters

    if product_type is not None and product_type not in PRODUCT_TYPES:
        raise click.BadParameter(
            f"{product_type!r}; choose from {', '.join(PRODUCT_TYPES)}", param_hint="--type"
        )
    filters = Filters(product_type, fee_free, _amount(max_min_deposit))
    hits = _open(ctx).search(query, filters=filters, top_k=top_k, mode=mode)  # type: ignore[arg-type]
    if as_json:
        rows = [
            {
                key: getattr(hit, key)
                for key in ("doc_id", "title", "heading", "product_type", "score", "text")
            }
            for hit in hits
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("No passages match.")
    for rank, hit in enumerate(hits, start=1):
        where = hit.title if not hit.heading else f"{hit.title} > {hit.heading}"
        click.echo(
            click.style(f"{rank}. [{hit.doc_id}] {where}", bold=True) + f"  ({hit.score:.4f})"
        )
        click.echo("   " + hit.text.replace("\n", "\n   "))


COMMANDS: tuple[click.Command, ...] = (knowledge,)
