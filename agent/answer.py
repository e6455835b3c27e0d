"""`Answer`: what a turn gives back to a front end (and what the recorder stores)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.approvals import PendingAction
from agent.citations import Citation
from agent.state import Handover, Route, ToolCallRecord
from tools.search_docs import DocHit


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation]
    hits: list[DocHit]
    abstained: bool
    thread_id: str = ""
    route: Route = "direct"
    route_reason: str = ""
    route_confidence: float = 1.0
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    handover: Handover | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    turn_id: str | None = None
    # A write action waiting for a human (agent/approvals.py): show it with Approve /
    # Reject and answer with `Agent.resume`; `text` is empty until the turn completes.
    pending: PendingAction | None = None
    # The computation path (agent/compute.py): {code, output, ok, error, attempts, files};
    # front ends show the code and its output beside the answer. None on other paths.
    computation: dict[str, Any] | None = None
    # Claims the grounding check refused, with why (for --explain and the eval reports).
    dropped: list[str] = field(default_factory=list)
    # Per model call: kind, ms, prompt tokens evaluated / reused from the cache, generated.
    llm_steps: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "docs"
