"""Graph state and the dependencies that travel with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from agent.citations import Citation
from agent.router import Route
from agent.settings import AgentSettings, RetrievalSettings
from ingest.embed import Embedder
from ingest.store import DocStore
from tools.search_docs import DocHit

__all__ = ["AgentState", "Deps", "Handover", "Route", "ToolCallRecord"]


@dataclass(frozen=True)
class Handover:
    """What the human on call gets when the agent cannot answer with evidence."""

    question: str
    reason: str
    searched: list[str]  # queries that were run
    leads: list[str]  # best locations found, best first
    attempt: str  # the agent's answer attempt, possibly "I don't know"
    contact: str


@dataclass(frozen=True)
class ToolCallRecord:
    name: str
    args: dict[str, Any]
    ok: bool
    ms: float
    result_ids: list[str]  # chunk ids returned (search tools)


class AgentState(TypedDict, total=False):
    """One thread. `messages` accumulates across turns (memory); the rest is per turn and
    is reset by the `route` node at the start of each question."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    route_override: Route | None
    route: Route
    route_reason: str
    route_confidence: float
    hits: list[DocHit]
    steps: int
    tool_calls: list[ToolCallRecord]
    answer: str
    citations: list[Citation]
    abstained: bool
    escalate_requested: bool
    handover: Handover | None
    timings_ms: dict[str, float]
    usage: dict[str, int]


@dataclass
class Deps:
    """Everything nodes need from outside, passed as LangGraph runtime context.

    Built once per entry point by `agent.deps.build_deps`; tests build it from fakes.
    """

    store: DocStore
    embedder: Embedder
    chat_model: Any  # thinking off (DIRECT)
    retrieval: RetrievalSettings
    deep_model: Any = None  # thinking on (DEEP); defaults to chat_model
    router: Any = None  # agent.router.Router; None routes every question DIRECT
    agent: AgentSettings | None = None

    @property
    def agent_settings(self) -> AgentSettings:
        return self.agent or AgentSettings()
