"""Build the runtime dependencies once per entry point, from settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from agent.llm import build_chat_model
from agent.local_llm import embedded_server, read_running_server
from agent.memory import open_checkpointer
from agent.records import TurnRecorder
from agent.router import Router, load_router_artefact
from agent.service import Agent
from agent.settings import Settings
from agent.state import Deps
from ingest.embed import Embedder, SentenceTransformerEmbedder
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


def build_deps(settings: Settings, base_url: str, embedder: Embedder | None = None) -> Deps:
    """Real components: embedded or remote Qdrant, sentence-transformers, ChatOpenAI (one
    with thinking off for DIRECT, one with thinking on for DEEP), the trained router."""
    embedder = embedder or SentenceTransformerEmbedder(settings.embedding)
    return Deps(
        store=DocStore(settings.store, settings.data_dir),
        embedder=embedder,
        chat_model=build_chat_model(settings.llm, base_url, thinking=False),
        deep_model=build_chat_model(settings.llm, base_url, thinking=True),
        router=Router(embedder, load_router_artefact()),
        retrieval=settings.retrieval,
        agent=settings.agent,
    )


@contextlib.contextmanager
def running_agent(settings: Settings, base_url: str) -> Iterator[Agent]:
    """An `Agent` with memory (checkpointer) and turn records, closed after the block."""
    deps = build_deps(settings, base_url)
    recorder = TurnRecorder(settings.data_dir / "turns.sqlite")
    try:
        with open_checkpointer(settings.data_dir, settings.agent.checkpoint_url) as saver:
            yield Agent(deps, checkpointer=saver, recorder=recorder)
    finally:
        recorder.close()
        deps.store.close()
