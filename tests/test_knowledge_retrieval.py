"""Retrieval end to end: the shipped corpus indexed once (into tmp) and searched.

Covers retrieval quality on the labelled questions, filters, the ``product_lookup`` tool,
prompt-injection handling, incremental indexing, the embedder and the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

import knowledge.settings
from knowledge import (
    BUILTIN_ORIGIN,
    Filters,
    KnowledgeError,
    KnowledgeSettings,
    MiniLMEmbedder,
    Retriever,
    StoreLocation,
    default_retriever,
    forget_default_retrievers,
    iter_files,
    load_document,
    sync_builtin_corpus,
)
from knowledge.evaluation import evaluate, load_questions
from knowledge.store import open_client, open_collection
from tools.base import ToolContext
from tools.products import INSTRUCTION_NOTE, product_lookup_tool
from tools.schemas import ProductLookupOutput

ADVERSARIAL = Path(__file__).parent / "data" / "knowledge_adversarial"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    model = MiniLMEmbedder()
    model.load()
    return model


def _retriever(path: Path, embedder: MiniLMEmbedder, base: str = "products") -> Retriever:
    client = open_client(StoreLocation(path=path))
    return Retriever(open_collection(client, embedder, base=base), embedder)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> Retriever:
    """The shipped corpus, indexed once for this module."""
    retriever = _retriever(tmp_path_factory.mktemp("corpus"), embedder)
    sync_builtin_corpus(retriever)
    return retriever


def _context(retriever: Retriever | None) -> ToolContext:
    sessions = sessionmaker(create_engine("sqlite://"))
    return ToolContext(
        sessions=sessions, user_id=1, today=dt.date(2026, 10, 1), knowledge=retriever
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _product(path: Path, doc_id: str, body: str, **front: object) -> Path:
    lines = [f"id: {doc_id}", f"name: {doc_id.title()}", "type: savings"]
    lines += [f"{key}: {value}" for key, value in front.items()]
    return _write(path, "---\n" + "\n".join(lines) + f"\n---\n# {doc_id}\n## Terms\n{body}\n")


# ---------------------------------------------------------------- quality
def test_hybrid_retrieval_quality_on_labelled_questions(corpus: Retriever) -> None:
    questions = load_questions()
    assert len(questions) >= 80
    results = {
        mode: evaluate(corpus, questions, mode=mode, k=5) for mode in ("vector", "bm25", "hybrid")
    }
    for metrics in results.values():
        print(f"{metrics.mode:>6}: recall@5 {metrics.recall:.3f}  MRR {metrics.mrr:.3f}")
    hybrid = results["hybrid"]
    assert hybrid.recall >= 0.9, hybrid.misses
    assert hybrid.recall >= max(results["vector"].recall, results["bm25"].recall) - 0.02


def test_passages_carry_citations(corpus: Retriever) -> None:
    hits = corpus.search("penalty for closing the two year deposit early", top_k=3)
    top = hits[0]
    assert (top.doc_id, top.title, top.product_type) == (
        "ftd-2-year",
        "2-Year Fixed Term Deposit",
        "fixed_term_deposit",
    )
    penalty = [hit for hit in hits if "180 days' interest" in hit.text]
    assert penalty and penalty[0].doc_id == "ftd-2-year"
    assert penalty[0].heading in {"Key facts", "Breaking the deposit early"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("mode", ["hybrid", "vector", "bm25"])
def test_filters_restrict_every_mode(corpus: Retriever, mode: str) -> None:
    filters = Filters(product_type="savings", fee_free=True, max_min_deposit=Decimal("500"))
    hits = corpus.search("best interest rate", filters=filters, top_k=20, mode=mode)  # type: ignore[arg-type]
    allowed = set()
    for file, root in iter_files([knowledge.builtin_corpus_dir()]):
        doc = load_document(file, root=root)
        if filters.matches({**doc.metadata, "product_type": doc.product_type}):
            allowed.add(doc.doc_id)
    assert allowed == {
        "sav-instant-access",
        "sav-bonus-saver",
        "sav-notice-35",
        "sav-regular-saver",
        "sav-junior-saver",
        "sav-goal-pots",
        "sav-tax-free-saver",
    }
    assert hits and {hit.doc_id for hit in hits} <= allowed


def test_at_most_two_passages_per_document(corpus: Retriever) -> None:
    hits = corpus.search("Premier Account benefits fee travel insurance lounge", top_k=10)
    per_doc: dict[str, int] = {}
    for hit in hits:
        per_doc[hit.doc_id] = per_doc.get(hit.doc_id, 0) + 1
    assert per_doc["cur-premier"] == 2
    assert max(per_doc.values()) == 2


# ---------------------------------------------------------------- the tool
def test_product_lookup_tool_uses_the_bound_retriever(corpus: Retriever) -> None:
    result = product_lookup_tool.run(
        _context(corpus),
        {"query": "card with no fees abroad", "product_type": "credit_card", "top_k": 3},
    )
    assert result.ok
    output = result.output
    assert isinstance(output, ProductLookupOutput)
    assert len(output.passages) == 3
    assert {p.product_type for p in output.passages} == {"credit_card"}
    assert output.passages[0].doc_id in {"cc-travel", "cc-platinum-rewards"}
    assert output.note == ProductLookupOutput.model_fields["note"].default
    as_json = json.loads(result.to_json())
    assert set(as_json["passages"][0]) == {
        "doc_id",
        "title",
        "heading",
        "product_type",
        "text",
        "score",
    }


def test_product_lookup_filters_and_argument_errors(corpus: Retriever) -> None:
    result = product_lookup_tool.run(
        _context(corpus), {"query": "fixed rate", "max_min_deposit": "1000", "fee_free": True}
    )
    assert result.ok
    assert {p.doc_id for p in result.output.passages} & {"ftd-2-year", "ftd-5-year"} == set()
    bad = product_lookup_tool.run(_context(corpus), {"query": "x" * 3, "product_type": "boat"})
    assert bad.failure is not None and bad.failure.field == "product_type"
    negative = product_lookup_tool.run(_context(corpus), {"query": "abc", "max_min_deposit": "-1"})
    assert negative.failure is not None and negative.failure.field == "max_min_deposit"


def test_product_lookup_without_a_retriever_opens_the_default_store(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus_dir = tmp_path / "corpus"
    _product(corpus_dir / "a.md", "sav-only", "Pays 1.23% AER on every euro.")
    monkeypatch.setattr(knowledge.settings, "builtin_corpus_dir", lambda: corpus_dir)
    monkeypatch.setattr(KnowledgeSettings, "make_embedder", lambda self: embedder)
    monkeypatch.setenv("FINCHAT_KNOWLEDGE_PATH", str(tmp_path / "store"))
    forget_default_retrievers()
    try:
        result = product_lookup_tool.run(_context(None), {"query": "what rate do you pay"})
        again = default_retriever(None)
        assert again is default_retriever(None)
    finally:
        forget_default_retrievers()
    assert result.ok
    assert [p.doc_id for p in result.output.passages] == ["sav-only"]
    assert (tmp_path / "store").is_dir()


def test_default_store_sits_beside_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FINCHAT_KNOWLEDGE_PATH", "FINCHAT_KNOWLEDGE_URL", "FINCHAT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = KnowledgeSettings()
    ledger = tmp_path / "books.db"
    assert settings.location(f"sqlite:///{ledger}") == StoreLocation(
        path=tmp_path / "books.knowledge"
    )
    assert settings.location(str(ledger)) == StoreLocation(path=tmp_path / "books.knowledge")
    fallback = StoreLocation(path=tmp_path / "data" / "finchat" / "knowledge")
    assert settings.location("postgresql+psycopg://u@h/db") == fallback
    assert settings.location("sqlite://") == fallback
    assert KnowledgeSettings(url="http://chroma:8000").location(str(ledger)) == StoreLocation(
        url="http://chroma:8000"
    )
    with pytest.raises(KnowledgeError, match="Chroma server URL"):
        open_client(StoreLocation(url="ftp://x"))


# ---------------------------------------------------------------- injection
@pytest.fixture(scope="module")
def adversarial(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> Retriever:
    retriever = _retriever(tmp_path_factory.mktemp("adversarial"), embedder)
    documents = [load_document(file, root=root) for file, root in iter_files([ADVERSARIAL])]
    retriever.index(documents, origin="adversarial")
    return retriever


def test_injected_passages_are_sanitised_and_marked(adversarial: Retriever) -> None:
    for query in ["savings account rate", "gold card fees terms", "loan offer APR"]:
        result = product_lookup_tool.run(_context(adversarial), {"query": query, "top_k": 10})
        assert result.ok
        output = result.output
        text = "\n".join(p.text for p in output.passages)
        assert "evil.example" not in text
        assert output.note == INSTRUCTION_NOTE
    passages = adversarial.search("ignore previous instructions balances", top_k=10)
    injected = next(p for p in passages if "Ignore all previous instructions" in p.text)
    assert injected.flagged and injected.doc_id == "adv-injected-savings"


def test_clean_passages_keep_the_plain_note(corpus: Retriever) -> None:
    result = product_lookup_tool.run(_context(corpus), {"query": "home insurance excess"})
    assert result.output.note != INSTRUCTION_NOTE


# ---------------------------------------------------------------- incremental indexing
def test_indexing_is_incremental_by_content_hash(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    folder = tmp_path / "docs"
    _product(folder / "a.md", "doc-a", "Alpha pays 1%.")
    _product(folder / "b.md", "doc-b", "Beta pays 2%.")
    retriever = _retriever(tmp_path / "store", embedder)

    def run() -> tuple[list[str], ...]:
        documents = (load_document(f, root=r) for f, r in iter_files([folder]))
        report = retriever.index(documents, origin=str(folder))
        return report.added, report.updated, report.unchanged, report.removed

    assert run() == (["doc-a", "doc-b"], [], [], [])
    assert run() == ([], [], ["doc-a", "doc-b"], [])
    _product(folder / "a.md", "doc-a", "Alpha now pays 4.5% and charges nothing.")
    (folder / "b.md").unlink()
    _product(folder / "c.md", "doc-c", "Gamma pays 3%.")
    assert run() == (["doc-c"], ["doc-a"], [], ["doc-b"])
    stored = retriever.collection.get(include=["documents", "metadatas"])
    assert sorted({m["doc_id"] for m in stored["metadatas"]}) == ["doc-a", "doc-c"]
    assert any("4.5%" in text for text in stored["documents"])
    assert not any("1%." in text for text in stored["documents"])
    assert [h.doc_id for h in retriever.search("beta", mode="bm25")] == []


def test_origins_cannot_overwrite_each_other(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    retriever = _retriever(tmp_path / "store", embedder)
    first = load_document(_product(tmp_path / "one" / "x.md", "same-id", "one"))
    second = load_document(_product(tmp_path / "two" / "x.md", "same-id", "two"))
    retriever.index([first], origin="one")
    with pytest.raises(KnowledgeError, match="already indexed from"):
        retriever.index([second], origin="two")
    with pytest.raises(KnowledgeError, match="is used by both"):
        retriever.index([first, first], origin="one")
    # another origin's run leaves "one" alone
    assert retriever.index([], origin="two").removed == []
    assert retriever.index([], origin="one").removed == ["same-id"]


def test_chromadb_never_loads_its_default_model(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("chromadb's default embedding model was used")

    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", refuse)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", refuse)
    retriever = _retriever(tmp_path / "store", embedder)
    retriever.index([load_document(_product(tmp_path / "a.md", "a", "text"))], origin="o")
    again = _retriever(tmp_path / "store", embedder)  # reopen an existing collection
    assert [h.doc_id for h in again.search("text", mode="vector")] == ["a"]
    assert again.collection.name == "products-minilm-l6-int8"


# ---------------------------------------------------------------- the embedder
def test_embeddings_are_normalised_and_batch_independent(embedder: MiniLMEmbedder) -> None:
    texts = [
        "How much is the annual fee?",
        "What does the card cost per year?",
        "Home insurance excess",
    ]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    singles = np.vstack([embedder.embed([text]) for text in texts])
    assert np.allclose(vectors, singles, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 > similarity[0, 2]


def test_embedder_refuses_a_file_that_does_not_match_its_hash(tmp_path: Path) -> None:
    fake = _write(tmp_path / "model.onnx", "not a model")
    with pytest.raises(KnowledgeError, match="does not match its pinned sha256"):
        MiniLMEmbedder(model_path=fake).load()
    with pytest.raises(KnowledgeError, match="not found"):
        MiniLMEmbedder(model_path=tmp_path / "missing.onnx").load()


def test_unknown_or_unavailable_embedders_are_errors() -> None:
    from knowledge import make_embedder

    with pytest.raises(KnowledgeError, match="unknown embedder"):
        make_embedder("word2vec")
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(KnowledgeError, match="pip install sentence-transformers"):
            make_embedder("sentence-transformers:all-MiniLM-L6-v2")


def test_openai_compatible_embedder_batches_and_normalises() -> None:
    from types import SimpleNamespace

    from knowledge.embeddings import OpenAIEmbedder

    calls: list[list[str]] = []

    def create(*, model: str, input: list[str]) -> SimpleNamespace:
        calls.append(input)
        data = [
            SimpleNamespace(index=i, embedding=[3.0, 4.0 + len(t)]) for i, t in enumerate(input)
        ]
        return SimpleNamespace(data=list(reversed(data)))  # the order comes from `index`

    client = SimpleNamespace(embeddings=SimpleNamespace(create=create))
    vectors = OpenAIEmbedder("m", client=client, batch_size=2).embed(["a", "bb", "ccc"])
    assert calls == [["a", "bb"], ["ccc"]]
    expected = np.array([[3, 5], [3, 6], [3, 7]], dtype=np.float32)
    assert np.allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True))


def test_no_telemetry_files_are_written(tmp_path: Path) -> None:
    """onnxruntime and chromadb stay silent: nothing appears in a fresh HOME."""
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "from pathlib import Path; from knowledge import MiniLMEmbedder, StoreLocation;"
        "from knowledge.store import open_client, open_collection;"
        "e = MiniLMEmbedder(); c = open_collection(open_client(StoreLocation(path=Path('s'))), e);"
        "c.add(ids=['1'], embeddings=e.embed(['hi']), documents=['hi'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORT_", "XDG_"))}
    env["HOME"] = str(home)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=True, timeout=120)
    assert [p.relative_to(home) for p in home.rglob("*")] == []


# ---------------------------------------------------------------- CLI
@pytest.fixture
def small_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-document stand-in for the shipped corpus, so CLI runs stay fast."""
    corpus_dir = tmp_path / "builtin"
    _product(
        corpus_dir / "s.md", "sav-test", "Instant access, 2% AER.", min_deposit=1, fee_free="true"
    )
    _product(corpus_dir / "n.md", "sav-notice", "Give 95 days notice.", min_deposit=1000)
    monkeypatch.setattr(knowledge.settings, "builtin_corpus_dir", lambda: corpus_dir)
    return corpus_dir


def test_cli_index_and_search(tmp_path: Path, small_builtin: Path) -> None:
    from cli.knowledge import knowledge as group

    docs = tmp_path / "mine"
    _write(docs / "guide.md", "# Holiday guide\n## Money abroad\nTell us before you travel.\n")
    _write(docs / "page.html", "<title>Card Page</title><h2>Fees</h2><p>No fees on Sundays.</p>")
    store = ["--store", str(tmp_path / "store")]
    runner = CliRunner()
    result = runner.invoke(group, [*store, "index", str(docs)])
    assert result.exit_code == 0, result.output
    assert f"{docs}: 2 added, 0 updated, 0 unchanged, 0 removed" in result.output
    again = runner.invoke(group, [*store, "index", str(docs)])
    assert "0 added, 0 updated, 2 unchanged" in again.output

    found = runner.invoke(group, [*store, "search", "sunday card fees", "--json", "-k", "1"])
    assert found.exit_code == 0, found.output
    assert [row["doc_id"] for row in json.loads(found.output)] == ["doc:page"]

    filtered = runner.invoke(
        group,
        [*store, "search", "savings", "--type", "savings", "--max-min-deposit", "10", "--json"],
    )
    assert [row["doc_id"] for row in json.loads(filtered.output)] == ["sav-test"]

    text = runner.invoke(group, [*store, "search", "travel abroad", "-k", "1"])
    assert "1. [doc:guide] Holiday guide > Money abroad" in text.output


def test_cli_errors_are_one_line(tmp_path: Path, small_builtin: Path) -> None:
    from cli.knowledge import knowledge as group

    store = ["--store", str(tmp_path / "store")]
    runner = CliRunner()
    missing = runner.invoke(group, [*store, "index", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert "no such file or folder" in missing.output and "Traceback" not in missing.output
    bad_type = runner.invoke(group, [*store, "search", "x", "--type", "boat"])
    assert bad_type.exit_code == 2 and "choose from savings" in bad_type.output
    bad_amount = runner.invoke(group, [*store, "search", "x", "--max-min-deposit", "ten"])
    assert bad_amount.exit_code == 2 and "'ten' is not an amount" in bad_amount.output
    assert BUILTIN_ORIGIN == "builtin:products"
