"""Graph state and the dependencies that travel with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from agent.citations import Citation
from agent.settings import RetrievalSettings
from ingest.embed import Embedder
from ingest.store import DocStore
from tools.search_docs import DocHit


class AnswerState(TypedDict, total=False):
    """One question's way through the graph."""

    question: str
    hits: list[DocHit]
    answer: str
    citations: list[Citation]
    abstained: bool
    timings_ms: dict[str, float]
    usage: dict[str, int]


@dataclass
class Deps:
    """Everything nodes need from outside, passed as LangGraph runtime context.

    Built once per entry point by `agent.deps.build_deps`; tests build it from fakes.
    """

    store: DocStore
    embedder: Embedder
    chat_model: Any  # a LangChain chat model (ChatOpenAI in production, a fake in tests)
    retrieval: RetrievalSettings
