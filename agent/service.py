"""`Agent.ask`: the one call front ends make."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent.citations import Citation
from agent.graph import build_graph
from agent.records import TurnRecorder
from agent.state import Deps, Handover, Route, ToolCallRecord
from tools.search_docs import DocHit

MAX_QUESTION_CHARS = 4000


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


class Agent:
    """A compiled graph bound to its dependencies, memory and turn recorder."""

    def __init__(self, deps: Deps, checkpointer: Any = None, recorder: TurnRecorder | None = None):
        self.deps = deps
        self.recorder = recorder
        self._graph = build_graph(checkpointer)

    def ask(
        self, question: str, thread_id: str | None = None, route: Route | None = None
    ) -> Answer:
        """Answer one question in a thread (new thread if none); `route` forces DIRECT/DEEP."""
        question = validate_question(question)
        thread_id = thread_id or uuid.uuid4().hex
        started = time.perf_counter()
        state = self._graph.invoke(
            {"question": question, "route_override": route},
            config={"configurable": {"thread_id": thread_id}},
            context=self.deps,
        )
        timings = dict(state.get("timings_ms", {}))
        timings["total"] = (time.perf_counter() - started) * 1000
        answer = Answer(
            question=question,
            text=state["answer"],
            citations=state.get("citations", []),
            hits=state.get("hits", []),
            abstained=state.get("abstained", False),
            thread_id=thread_id,
            route=state["route"],
            route_reason=state.get("route_reason", ""),
            route_confidence=state.get("route_confidence", 1.0),
            tool_calls=state.get("tool_calls", []),
            handover=state.get("handover"),
            timings_ms=timings,
            usage=state.get("usage", {}),
        )
        if self.recorder is not None:
            answer.turn_id = self.recorder.record(thread_id, answer)
        return answer


def validate_question(question: str) -> str:
    question = question.strip()
    if not question:
        raise ValueError("the question is empty: ask something, e.g. oncall ask 'how do I ...'")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(
            f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}. "
            "Shorten it, or put long logs in a file and ask about the relevant part"
        )
    return question


def answer_question(question: str, deps: Deps, route: Route | None = None) -> Answer:
    """One question, no memory, no recording (tests and one-off scripts)."""
    return Agent(deps).ask(question, route=route)
