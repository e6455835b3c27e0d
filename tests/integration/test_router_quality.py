"""The shipped router with the configured real embedder: accuracy on the dev routing sets and
per-question cost.

The artefact was trained on these dev files, so this accuracy is optimistic (the honest,
cross-validated figure is in the artefact's metadata); the test guards against a broken or
stale artefact, or features that drifted from the ones it was trained on.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from agent.router import Router, load_router_artefact
from ingest.embed import Embedder

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/routing"
MIN_ACCURACY = 0.85
# decide() costs one query embedding plus the router's own work. The embedding's cost
# depends on the embedder (multilingual-e5-small costs more than MiniLM did; see
# docs/retrieval.md) and on how busy the CPUs are, so the bound is relative: decide() may
# take at most 1.5x one embedding of the same text (a second embedding would double it),
# and the router's own work beyond the embedding is checked tightly on its own.
EMBEDDINGS_PER_DECISION = 1.5
OVERHEAD_BOUND_MS = 3.0


needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"routing dev data not found at {DATA} (kept outside the repo)"
)


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / f"routing_dev_{name}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def router(embedder: Embedder) -> Router:
    # Uncached: the timing below measures one real embedding per question.
    raw = getattr(embedder, "inner", embedder)
    return Router(raw, load_router_artefact(embedder=embedder.name))


@needs_data
@pytest.mark.parametrize("name", ["en", "zh"])
def test_dev_set_accuracy(router: Router, name: str) -> None:
    rows = load(name)
    correct = sum(
        (router.decide(r["question"]).route == "deep") == r["needs_deep_reasoning"] for r in rows
    )
    accuracy = correct / len(rows)
    assert accuracy >= MIN_ACCURACY, f"{name}: accuracy {accuracy:.3f} < {MIN_ACCURACY}"


class CachedEmbedder:
    """Remembers vectors so that timing it measures the router's own work only."""

    def __init__(self, inner: Embedder):
        self._inner = inner
        self._cache: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        if text not in self._cache:
            self._cache[text] = self._inner.embed_query(text)
        return self._cache[text]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


def median_ms(router: Router, questions: list[str]) -> float:
    """Median over questions of the best of three runs (resists bursts from other jobs)."""
    for q in questions[:10]:
        router.decide(q)
    per_question = []
    for q in questions:
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            router.decide(q)
            runs.append((time.perf_counter() - start) * 1000)
        per_question.append(min(runs))
    return statistics.median(per_question)


@needs_data
def test_decide_latency(router: Router, embedder: Embedder) -> None:
    rows = load("en") + load("zh")
    questions = [r["question"] for r in rows[::8]][:60]
    assert len(questions) >= 50
    raw = getattr(embedder, "inner", embedder)
    one_embedding = median_ms(Router(OnlyEmbeds(raw), load_router_artefact()), questions)
    total = median_ms(router, questions)
    bound = EMBEDDINGS_PER_DECISION * one_embedding + OVERHEAD_BOUND_MS
    assert total < bound, f"median decide() {total:.1f} ms, one embedding {one_embedding:.1f} ms"
    artefact = load_router_artefact(embedder=embedder.name)
    own = median_ms(Router(CachedEmbedder(embedder), artefact), questions)
    assert own < OVERHEAD_BOUND_MS, f"median router overhead {own:.2f} ms beyond the embedding"


class OnlyEmbeds:
    """Times one real embedding per question through the same call path (no caching)."""

    def __init__(self, inner: Embedder):
        self._inner = inner

    def embed_query(self, text: str) -> list[float]:
        self._inner.embed_query(text)
        return [0.0] * self._inner.dim
