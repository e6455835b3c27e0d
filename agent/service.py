"""`answer_question`: the one call front ends make."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.citations import Citation
from agent.graph import build_graph
from agent.state import Deps
from tools.search_docs import DocHit


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation]
    hits: list[DocHit]
    abstained: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)


def answer_question(question: str, deps: Deps) -> Answer:
    """Retrieve and answer one question with citations (or say the docs do not cover it)."""
    question = question.strip()
    if not question:
        raise ValueError("the question is empty: ask something, e.g. oncall ask 'how do I ...'")
    state = build_graph().invoke({"question": question}, context=deps)
    return Answer(
        question=question,
        text=state["answer"],
        citations=state.get("citations", []),
        hits=state.get("hits", []),
        abstained=state.get("abstained", False),
        timings_ms=state.get("timings_ms", {}),
        usage=state.get("usage", {}),
    )
