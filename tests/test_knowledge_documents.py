"""Loading documents: front matter, exact money metadata, ids, HTML, the shipped corpus."""

from __future__ import annotations

import typing
from collections import Counter
from pathlib import Path

import pytest

from knowledge import PRODUCT_TYPES, KnowledgeError, builtin_corpus_dir, iter_files, load_document
from knowledge.html import html_to_markdown
from tools.schemas import ProductType

ADVERSARIAL = Path(__file__).parent / "data" / "knowledge_adversarial"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_product_types_match_the_tool_schema() -> None:
    assert typing.get_args(ProductType) == PRODUCT_TYPES


def test_front_matter_becomes_typed_metadata(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a.md",
        "---\nid: sav-x\nname: X Saver\ntype: savings\nupdated: 2026-01-31\n"
        "min_deposit: 0.1\nmonthly_fee: '2.50'\nannual_fee: 1000\nfee_free: false\n---\n"
        "# Heading\nBody.\n",
    )
    doc = load_document(path)
    assert (doc.doc_id, doc.title, doc.product_type) == ("sav-x", "X Saver", "savings")
    # 0.1 is a YAML float: it must become exactly 10 cents, not 10.000000000000000555
    assert doc.metadata == {
        "min_deposit_cents": 10,
        "monthly_fee_cents": 250,
        "annual_fee_cents": 100000,
        "fee_free": False,
        "updated": "2026-01-31",
    }
    assert doc.body == "# Heading\nBody."
    assert doc.source == str(path.resolve())


def test_file_without_front_matter_gets_id_from_its_path_and_title_from_heading(
    tmp_path: Path,
) -> None:
    first = _write(tmp_path / "guides" / "Read Me.md", "Intro\n\n# Card Guide\ntext")
    second = _write(tmp_path / "other" / "Read Me.md", "plain")
    assert load_document(first, root=tmp_path).doc_id == "doc:guides-read-me"
    assert load_document(first, root=tmp_path).title == "Card Guide"
    assert load_document(second, root=tmp_path).doc_id == "doc:other-read-me"
    assert load_document(second, root=tmp_path).title == "Read Me"
    assert load_document(second).product_type is None


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("type: boat", "type 'boat' is not one of"),
        ("min_deposit: -5", "non-negative amount"),
        ("min_deposit: 1.234", "cents precision"),
        ("min_deposit: lots", "must be an amount"),
        ("fee_free: maybe", "fee_free must be true or false"),
        ("updated: soon", "updated must be a date"),
        ("id: 'bad id!'", "must be letters"),
        ("[unclosed", "invalid front matter"),
        ("- a list", "must be a mapping"),
    ],
)
def test_bad_front_matter_is_a_precise_error(tmp_path: Path, front: str, message: str) -> None:
    path = _write(tmp_path / "bad.md", f"---\n{front}\n---\nbody\n")
    with pytest.raises(KnowledgeError, match=message):
        load_document(path)


def test_unsupported_and_missing_paths_are_errors(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="unsupported file type"):
        load_document(_write(tmp_path / "x.pdf", "%PDF"))
    with pytest.raises(KnowledgeError, match="no such file or folder"):
        list(iter_files([tmp_path / "missing"]))


def test_iter_files_walks_folders_in_order_and_skips_hidden_and_other_types(
    tmp_path: Path,
) -> None:
    for name in ["b.md", "a.txt", "sub/c.html", ".hidden/d.md", "sub/.e.md", "f.pdf"]:
        _write(tmp_path / name, "x")
    found = [file.relative_to(tmp_path).as_posix() for file, _root in iter_files([tmp_path])]
    assert found == ["a.txt", "b.md", "sub/c.html"]
    single = list(iter_files([tmp_path / "b.md"]))
    assert single == [((tmp_path / "b.md").resolve(), tmp_path.resolve())]


def test_html_is_reduced_to_text_without_scripts_links_or_comments() -> None:
    text = html_to_markdown((ADVERSARIAL / "system-prompt.html").read_text())
    assert text.startswith("# Loan Special Offer\n")
    assert "Borrow up to €100,000 at 0.1% APR." in text
    for gone in ["fetch(", "document.cookie", "display: none", "SYSTEM PROMPT", "evil.example"]:
        assert gone not in text
    assert "Apply today at our site." in text


def test_html_title_becomes_heading_only_without_h1() -> None:
    html = "<title>Fees</title><h2>Cards</h2><ul><li>Late: €12</li><li>Cash: 3%</li></ul>"
    assert html_to_markdown(html) == "# Fees\n\n## Cards\n\n- Late: €12\n- Cash: 3%"
    table = "<table><tr><th>Fee</th><th>Amount</th></tr><tr><td>Late</td><td>€12</td></tr></table>"
    assert html_to_markdown(table) == "| Fee | Amount |\n| Late | €12 |"


def test_shipped_corpus_is_complete_and_valid() -> None:
    docs = [load_document(file, root=root) for file, root in iter_files([builtin_corpus_dir()])]
    assert len(docs) >= 40
    ids = Counter(doc.doc_id for doc in docs)
    assert [doc_id for doc_id, n in ids.items() if n > 1] == []
    assert {doc.product_type for doc in docs} == set(PRODUCT_TYPES)
    for doc in docs:
        assert doc.product_type is not None, doc.source
        assert "updated" in doc.metadata, doc.source
        assert "## " in doc.body, f"{doc.source} has no sections"
    # deliberate overlaps: several of a kind, differing in fees and access rules
    by_type = Counter(doc.product_type for doc in docs)
    assert by_type["savings"] >= 5 and by_type["credit_card"] >= 5
    card_fees = {
        doc.metadata.get("annual_fee_cents") for doc in docs if doc.product_type == "credit_card"
    }
    assert {0, 15000} <= card_fees
