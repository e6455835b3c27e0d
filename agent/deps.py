"""Build the runtime dependencies once per entry point, from settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from agent.llm import build_chat_model
from agent.local_llm import embedded_server, read_running_server
from agent.settings import Settings
from agent.state import Deps
from ingest.embed import SentenceTransformerEmbedder
from ingest.store import DocStore


@contextlib.contextmanager
def llm_endpoint(
    settings: Settings, on_progress: Callable[[int, int], None] | None = None
) -> Iterator[str]:
    """The chat server's base URL: the configured one, a running embedded one, or one
    started for the duration of the block (and stopped after it)."""
    if settings.llm.base_url:
        yield settings.llm.base_url
        return
    running = read_running_server(settings.data_dir)
    if running:
        yield running
        return
    with embedded_server(settings.llm.embedded, settings.data_dir, on_progress) as server:
        yield server.base_url


def build_deps(settings: Settings, base_url: str) -> Deps:
    """Real components: embedded or remote Qdrant, sentence-transformers, ChatOpenAI."""
    return Deps(
        store=DocStore(settings.store, settings.data_dir),
        embedder=SentenceTransformerEmbedder(settings.embedding),
        chat_model=build_chat_model(settings.llm, base_url),
        retrieval=settings.retrieval,
    )
