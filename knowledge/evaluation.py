"""Retrieval quality on labelled questions: recall@k and MRR per retrieval mode.

Scored on what ``product_lookup`` returns (its top ``k`` passages), at document level: a
question's recall is the share of its relevant documents that own at least one of those
passages; its reciprocal rank is 1 / the rank of the first passage from a relevant document
(0 when none is in the top ``k``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from knowledge.errors import KnowledgeError
from knowledge.retriever import Mode, Retriever

QUESTIONS_FILE = Path(__file__).resolve().parent.parent / "evals" / "retrieval_questions.yaml"


@dataclass(frozen=True)
class Question:
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class Metrics:
    mode: str
    k: int
    recall: float
    mrr: float
    misses: tuple[str, ...]
    """Questions with a relevant document missing from the top ``k``."""


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    """The labelled questions of ``path`` (``questions: [{q, relevant: [ids]}]``)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [Question(str(item["q"]), frozenset(item["relevant"])) for item in data["questions"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise KnowledgeError(f"{path}: not a retrieval question file ({exc})") from exc


def evaluate(retriever: Retriever, questions: list[Question], *, mode: Mode, k: int = 5) -> Metrics:
    """Mean recall@k and MRR of ``retriever`` in ``mode`` over ``questions``."""
    recall_sum = 0.0
    rr_sum = 0.0
    misses: list[str] = []
    for question in questions:
        docs = [hit.doc_id for hit in retriever.search(question.text, top_k=k, mode=mode)]
        found = question.relevant & set(docs)
        recall_sum += len(found) / len(question.relevant)
        first = next((rank for rank, doc in enumerate(docs, 1) if doc in question.relevant), None)
        rr_sum += 1.0 / first if first else 0.0
        if found != question.relevant:
            misses.append(question.text)
    n = len(questions)
    return Metrics(mode, k, recall_sum / n, rr_sum / n, tuple(misses))
