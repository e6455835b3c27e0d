"""Graph state and the dependencies that travel with it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from agent.citations import Citation
from agent.ports import CodeExecutor, PaperReading, RouteDecider, ToolCatalogue
from agent.progress import report_progress
from agent.router import Route
from ingest.embed import Embedder
from ingest.store import DocStore
from oncall.core.identity import Principal
from oncall.core.redact import redact_text
from oncall.core.settings import AgentSettings, RetrievalSettings
from tools.search_docs import DocHit, search_docs

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
    obtained: list[str] = field(default_factory=list)  # tool results, "tool(args): result"


@dataclass(frozen=True)
class ToolCallRecord:
    name: str
    args: dict[str, Any]
    ok: bool
    ms: float
    result_ids: list[str]  # chunk ids returned (search tools)
    files: list[str] = field(default_factory=list)  # files made (run_python figures)


class AgentState(TypedDict, total=False):
    """One thread. `messages` accumulates across turns (memory); the rest is per turn and
    is reset by the `route` node at the start of each question."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    route_override: Route | None
    attachments: list[dict[str, str]]  # data files from the front end: {name, content}
    route: Route
    mode: str  # "docs", or "compute" (agent/compute.py)
    route_reason: str
    route_confidence: float
    hits: list[DocHit]
    steps: int
    tool_calls: list[ToolCallRecord]
    answer: str
    citations: list[Citation]
    dropped: list[str]  # claims the grounding check refused, with the reason
    actions: list[dict[str, Any]]  # DEEP action replies and how much evidence each saw
    llm_steps: list[dict[str, Any]]  # per model call: kind, ms, tokens evaluated/reused
    stop: str  # why the DEEP loop must answer now ("" while it may go on)
    queued: list[dict[str, Any]]  # planned writes, run in a step after the reads
    computation: dict[str, Any] | None  # the computation path's code, output, error
    failure: str  # what went wrong, told to the user instead of an answer
    abstained: bool
    escalate_requested: bool
    handover: Handover | None
    timings_ms: dict[str, float]
    usage: dict[str, int]


@dataclass
class Deps:
    """Everything nodes need from outside, passed as LangGraph runtime context.

    Built once per entry point by `oncall.cli.compose.build_deps`; tests build it from fakes.
    """

    store: DocStore
    embedder: Embedder
    chat_model: BaseChatModel  # thinking off (DIRECT)
    retrieval: RetrievalSettings
    deep_model: BaseChatModel | None = None  # thinking on (DEEP); defaults to chat_model
    router: RouteDecider | None = None  # None routes every question DIRECT
    agent: AgentSettings | None = None
    # Who asks this turn: `Agent.ask` passes a copy of Deps with the asker filled in, so
    # the identity (and any pass-through token) never enters checkpointed state.
    principal: Principal = field(default_factory=Principal.local)
    # Internal tools (tools.internal.Catalogue): the model sees the asker's permitted ones.
    catalogue: ToolCatalogue | None = None
    # The sandbox for run_python; None: the tool is not offered.
    sandbox: CodeExecutor | None = None
    # The reader for summarize_paper; None: the tool is not offered.
    papers: PaperReading | None = None
    # The conversation this turn belongs to (set by the `act` node from LangGraph's
    # execution info): it selects the conversation's sandbox kernel.
    thread_id: str = ""
    # Tool names the DEEP loop may offer (e.g. a Slack channel's `tools`); None: all.
    allowed_tools: frozenset[str] | None = None
    # Known secret values of this deployment (settings' SecretStr values, catalogue API
    # keys; oncall/core/redact.py): cut from retrieved text, tool output and answers.
    secrets: tuple[str, ...] = ()

    @property
    def agent_settings(self) -> AgentSettings:
        return self.agent or AgentSettings()

    @property
    def known_secrets(self) -> tuple[str, ...]:
        """`secrets` plus the asker's own pass-through token."""
        token = self.principal.token
        return (*self.secrets, token) if token else self.secrets

    def search(self, query: str, k: int | None = None) -> list[DocHit]:
        """search_docs as the asker (only documents their groups may read); `k` chunks,
        default `retrieval.top_k`."""
        r = self.retrieval
        report_progress("search", query=query)  # live step in a streamed turn
        hits = search_docs(
            query,
            self.store,
            self.embedder,
            k or r.top_k,
            r.prefetch_k,
            groups=self.principal.read_groups,
            mode=r.mode,
            neighbours=r.neighbours,
            rrf_k=r.rrf_k,
            title_boost=r.title_boost,
        )
        # A token pasted into a runbook must not reach the model, citations or the user.
        known = self.known_secrets
        report_progress("retrieval", query=query, hits=len(hits))
        return [replace(h, text=redact_text(h.text, known)) for h in hits]
