"""Retrieval quality on a corpus with gold documents: BM25-only, dense-only, hybrid side by side.

    .venv/bin/python benchmarks/retrieval_bench.py \
        [--corpus ../shared/data/rhdh_docs/corpus] \
        [--questions ../shared/data/rhdh_docs/questions_dev.jsonl] [--neighbours 1]

The corpus is ingested once with the real pipeline (unstructured, MiniLM, Qdrant Edge) into
`benchmarks/results/index-<corpus>` and reused while its files are unchanged (the sync skips
them). Each question is searched in every mode over the same index; the chunk ranking is
collapsed to a document ranking (first occurrence wins), and gold-document hit@1/5/10 and
MRR@10 are reported, with search latency p50/p95, as a table and as JSON
(`benchmarks/results/retrieval-<corpus>.json`). Questions name gold docs by file stem.

`--zh FILE` adds a multilingual check: a JSONL of questions (same fields) in another
language over the same English corpus.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

from ingest.embed import SentenceTransformerEmbedder  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402
from ingest.store import DocStore  # noqa: E402
from oncall.core.settings import IngestSettings, Settings, StoreSettings  # noqa: E402
from tools.search_docs import search_docs  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "rhdh_docs"
MODES = ("bm25", "dense", "hybrid")
CHUNKS_PER_QUERY = 30  # enough chunks to rank 10 distinct documents


def doc_ranking(hits: list[Any]) -> list[str]:
    ranked: list[str] = []
    for h in hits:
        if h.doc_id not in ranked:
            ranked.append(h.doc_id)
    return ranked


def score(ranked: list[str], gold: set[str]) -> dict[str, float]:
    """Gold docs are named by doc id (path under the corpus) or by file stem."""
    first = next(
        (i for i, d in enumerate(ranked[:10]) if d in gold or d.rsplit("/", 1)[-1] in gold), None
    )
    return {
        "hit@1": float(first is not None and first < 1),
        "hit@5": float(first is not None and first < 5),
        "hit@10": float(first is not None),
        "mrr": 0.0 if first is None else 1.0 / (first + 1),
    }


def run_questions(
    questions: list[dict[str, Any]], store: DocStore, embedder: Any, prefetch: int, neighbours: int
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        rows, latencies = [], []
        for q in questions:
            started = time.perf_counter()
            hits = search_docs(
                q["question"], store, embedder, CHUNKS_PER_QUERY, prefetch, mode=mode,
                neighbours=neighbours,
            )  # fmt: skip
            latencies.append((time.perf_counter() - started) * 1000)
            rows.append(score(doc_ranking(hits), set(q["gold_doc_ids"])))
        summary = {k: round(statistics.fmean(r[k] for r in rows), 4) for k in rows[0]}
        latencies.sort()
        summary["p50_ms"] = round(latencies[len(latencies) // 2], 1)
        summary["p95_ms"] = round(latencies[int(len(latencies) * 0.95)], 1)
        results[mode] = summary
    return results


def print_table(title: str, results: dict[str, dict[str, float]], n: int) -> None:
    print(f"\n{title} ({n} questions)")
    print(
        f"{'mode':8} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR':>6} {'p50 ms':>7} {'p95 ms':>7}"
    )
    for mode, r in results.items():
        print(
            f"{mode:8} {r['hit@1']:6.3f} {r['hit@5']:6.3f} {r['hit@10']:6.3f} {r['mrr']:6.3f} "
            f"{r['p50_ms']:7.1f} {r['p95_ms']:7.1f}"
        )


def load(path: Path, limit: int | None) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [q for q in items if q.get("gold_doc_ids")][:limit]  # unanswerable ones: no gold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--corpus", type=Path, nargs="+", default=[DATA / "corpus"], help="folder(s) to index"
    )
    ap.add_argument("--questions", type=Path, default=DATA / "questions_dev.jsonl")
    ap.add_argument("--zh", type=Path, help="extra questions in another language")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--neighbours", type=int, default=0)
    args = ap.parse_args()

    settings = Settings()
    embedder = SentenceTransformerEmbedder(settings.embedding)
    name = "+".join(
        p.resolve().parent.name if p.name == "corpus" else p.resolve().name for p in args.corpus
    )
    data_dir = REPO / "benchmarks" / "results" / f"index-{name}"
    with DocStore(StoreSettings(), data_dir) as store:
        started = time.perf_counter()
        report = ingest_paths(args.corpus, store, embedder, IngestSettings())
        ingest_s = time.perf_counter() - started
        print(
            f"index: {len(report.added) + len(report.updated)} files indexed, "
            f"{len(report.unchanged)} unchanged, {len(report.failed)} failed, "
            f"{store.count()} chunks ({ingest_s:.0f} s)"
        )
        out: dict[str, Any] = {"corpus": [str(p) for p in args.corpus], "chunks": store.count()}
        questions = load(args.questions, args.limit)
        prefetch = settings.retrieval.prefetch_k
        out["dev"] = run_questions(questions, store, embedder, prefetch, args.neighbours)
        print_table(args.questions.name, out["dev"], len(questions))
        if args.zh:
            zh = load(args.zh, args.limit)
            out["zh"] = run_questions(zh, store, embedder, prefetch, args.neighbours)
            print_table(args.zh.name, out["zh"], len(zh))
    target = REPO / "benchmarks" / "results" / f"retrieval-{name}.json"
    target.write_text(json.dumps(out, indent=2))
    print(f"\nwritten {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
