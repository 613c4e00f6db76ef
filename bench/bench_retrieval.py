"""Retrieval benchmark: one command, one table.

    python bench/bench_retrieval.py [--rounds 3] [--json]

Measures, in one process and on the same collection:
- the embedder: load time and resident memory (RSS) it adds once loaded and used;
- index build time for the shipped corpus (cold), and a no-change re-sync (incremental);
- ``product_lookup`` latency (p50/p95 over the labelled questions) next to a raw chromadb
  ``collection.query`` with the same embedding function, and their ratio (target <= 1.5x);
- retrieval quality (recall@5, MRR) for vector-only, BM25-only and hybrid.
Everything is offline and written under a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge import MiniLMEmbedder, Retriever, StoreLocation, sync_builtin_corpus
from knowledge.evaluation import evaluate, load_questions
from knowledge.store import open_client, open_collection
from tools.base import ToolContext
from tools.products import product_lookup_tool


def rss_bytes() -> int:
    """Current resident set size (Linux ``/proc``; peak RSS elsewhere, a rough stand-in)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: object, *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start


def run(rounds: int) -> dict[str, float]:
    results: dict[str, float] = {}
    embedder = MiniLMEmbedder()
    before = rss_bytes()
    results["embedder_load_s"] = timed(embedder.load)
    embedder.embed(["warm up the session"] * 8)
    results["embedder_rss_mb"] = (rss_bytes() - before) / 2**20

    with tempfile.TemporaryDirectory() as folder:
        client = open_client(StoreLocation(path=Path(folder)))
        collection = open_collection(client, embedder)
        retriever = Retriever(collection, embedder)
        results["index_build_s"] = timed(sync_builtin_corpus, retriever)
        results["index_resync_s"] = timed(sync_builtin_corpus, retriever)
        results["chunks"] = len(retriever)

        questions = load_questions()
        ctx = ToolContext(
            sessions=sessionmaker(create_engine("sqlite://")),
            user_id=1,
            today=dt.date.today(),
            knowledge=retriever,
        )
        lookup: list[float] = []
        raw: list[float] = []
        for _ in range(rounds):
            for question in questions:  # interleaved, so load on the machine hits both alike
                lookup.append(timed(product_lookup_tool.run, ctx, {"query": question.text}))
                raw.append(timed(collection.query, query_texts=[question.text], n_results=5))
        results["lookup_p50_ms"] = statistics.median(lookup) * 1000
        results["lookup_p95_ms"] = percentile(lookup, 0.95) * 1000
        results["raw_query_p50_ms"] = statistics.median(raw) * 1000
        results["raw_query_p95_ms"] = percentile(raw, 0.95) * 1000
        results["ratio_p50"] = results["lookup_p50_ms"] / results["raw_query_p50_ms"]

        for mode in ("vector", "bm25", "hybrid"):
            metrics = evaluate(retriever, questions, mode=mode, k=5)
            results[f"{mode}_recall@5"] = metrics.recall
            results[f"{mode}_mrr"] = metrics.mrr
        results["questions"] = len(questions)
    return results


def table(results: dict[str, float]) -> str:
    rows = [
        ("embedder load (int8 MiniLM, sha256 checked)", f"{results['embedder_load_s']:.2f} s"),
        ("embedder RSS delta (loaded + used)", f"{results['embedder_rss_mb']:.0f} MB"),
        (
            f"index build, shipped corpus ({results['chunks']:.0f} chunks)",
            f"{results['index_build_s']:.2f} s",
        ),
        ("re-sync, nothing changed", f"{results['index_resync_s']:.2f} s"),
        (
            "product_lookup p50 / p95",
            f"{results['lookup_p50_ms']:.1f} / {results['lookup_p95_ms']:.1f} ms",
        ),
        (
            "raw chromadb query p50 / p95",
            f"{results['raw_query_p50_ms']:.1f} / {results['raw_query_p95_ms']:.1f} ms",
        ),
        ("ratio p50 (target <= 1.5x)", f"{results['ratio_p50']:.2f}x"),
    ]
    for mode in ("vector", "bm25", "hybrid"):
        rows.append(
            (
                f"{mode} recall@5 / MRR ({results['questions']:.0f} questions)",
                f"{results[f'{mode}_recall@5']:.3f} / {results[f'{mode}_mrr']:.3f}",
            )
        )
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | value |", f"| {'-' * width} | --- |"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    results = run(args.rounds)
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
