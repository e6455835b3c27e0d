"""Hybrid search quality on the shipped handbook and its question set."""

from __future__ import annotations

import json

from ingest.embed import Embedder
from ingest.store import DocStore
from tests.conftest import HANDBOOK_QUESTIONS, REPO
from tools.search_docs import search_docs

HANDBOOK_QUESTIONS_ZH = REPO / "examples" / "handbook_questions_zh.jsonl"


def test_hybrid_search_finds_the_gold_doc(handbook_store: DocStore, embedder: Embedder) -> None:
    questions = [json.loads(line) for line in HANDBOOK_QUESTIONS.read_text().splitlines()]
    answerable = [q for q in questions if q["gold_doc_ids"]]
    assert len(answerable) >= 30
    hits_at_5, reciprocal_ranks, misses = 0, 0.0, []
    for q in answerable:
        ranked = [h.doc_id for h in search_docs(q["question"], handbook_store, embedder, k=5)]
        rank = next((i for i, d in enumerate(ranked, 1) if d in q["gold_doc_ids"]), None)
        if rank is None:
            misses.append(q["id"])
        else:
            hits_at_5 += 1
            reciprocal_ranks += 1 / rank
    assert hits_at_5 / len(answerable) >= 0.9, misses
    assert reciprocal_ranks / len(answerable) >= 0.75


def test_hits_carry_citation_fields(handbook_store: DocStore, embedder: Embedder) -> None:
    (top,) = search_docs("When do Postgres base backups run?", handbook_store, embedder, k=1)
    assert top.doc_id == "architecture/data-stores"
    assert top.source.endswith("architecture/data-stores.pdf")
    assert top.page is not None and top.page >= 1
    assert top.title and top.section
    assert f"(p. {top.page})" in top.location
    assert 0.0 < top.similarity <= 1.0


def test_blank_query_returns_nothing(handbook_store: DocStore, embedder: Embedder) -> None:
    assert search_docs("   ", handbook_store, embedder) == []


def test_chinese_questions_find_the_english_handbook_pages(
    handbook_store: DocStore, embedder: Embedder
) -> None:
    """The handbook is English; the people asking write Chinese as often as English."""
    questions = [json.loads(line) for line in HANDBOOK_QUESTIONS_ZH.read_text().splitlines()]
    assert len(questions) >= 20 and all(q["language"] == "zh" for q in questions)
    hits_at_5, reciprocal_ranks, misses = 0, 0.0, []
    for q in questions:
        ranked = [h.doc_id for h in search_docs(q["question"], handbook_store, embedder, k=5)]
        rank = next((i for i, d in enumerate(ranked, 1) if d in q["gold_doc_ids"]), None)
        if rank is None:
            misses.append(q["id"])
        else:
            hits_at_5 += 1
            reciprocal_ranks += 1 / rank
    # MiniLM (English-only) reached hit@5 0.90 and MRR 0.76 here, mostly through the English
    # identifiers in the questions; multilingual-e5-small 0.95 and 0.86 (docs/retrieval.md).
    assert hits_at_5 / len(questions) >= 0.9, misses
    assert reciprocal_ranks / len(questions) >= 0.8
