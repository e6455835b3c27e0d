"""`Answer`: what a turn gives back to a front end (and what the recorder stores)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
