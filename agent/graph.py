"""The answer graph: retrieve -> (answer | not_in_docs).

`build_graph()` compiles a fresh graph; nothing is compiled at import. Dependencies arrive
through the runtime context (`Deps`), so the same graph runs on fakes in tests.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.citations import Citation, attribute
from agent.llm import invoke_chat
from agent.prompts import DIRECT_SYSTEM, NOT_IN_DOCS, direct_user_message
from agent.state import AnswerState, Deps
from tools.search_docs import DocHit, search_docs


def retrieve(state: AnswerState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    started = time.perf_counter()
    hits = search_docs(
        state["question"],
        deps.store,
        deps.embedder,
        k=deps.retrieval.top_k,
        prefetch_k=deps.retrieval.prefetch_k,
    )
    return {"hits": hits, "timings_ms": {"retrieval": _ms_since(started)}}


def after_retrieve(hits: list[DocHit], min_similarity: float) -> Literal["answer", "not_in_docs"]:
    """Answer only when some chunk is close enough to the question to plausibly hold it."""
    if hits and max(h.similarity for h in hits) >= min_similarity:
        return "answer"
    return "not_in_docs"


def answer(state: AnswerState, runtime: Runtime[Deps]) -> dict[str, Any]:
    hits = state["hits"]
    messages = [
        SystemMessage(DIRECT_SYSTEM),
        HumanMessage(direct_user_message(state["question"], hits)),
    ]
    started = time.perf_counter()
    reply = invoke_chat(runtime.context.chat_model, messages)
    llm_ms = _ms_since(started)
    text = str(reply.content).strip()
    abstained = not text or NOT_IN_DOCS.lower().rstrip(".") in text.lower()
    citations: list[Citation] = []
    if not abstained:
        text, citations = attribute(text, hits, state["question"])
    usage: dict[str, Any] = dict(reply.usage_metadata or {})
    return {
        "answer": text or NOT_IN_DOCS,
        "citations": citations,
        "abstained": abstained,
        "timings_ms": {**state.get("timings_ms", {}), "llm": llm_ms},
        "usage": {
            "prompt_tokens": int(usage.get("input_tokens", 0)),
            "completion_tokens": int(usage.get("output_tokens", 0)),
        },
    }


def not_in_docs(state: AnswerState) -> dict[str, Any]:
    return {"answer": NOT_IN_DOCS, "citations": [], "abstained": True}


def build_graph(checkpointer: Any = None) -> Any:
    graph = StateGraph(AnswerState, context_schema=Deps)
    graph.add_node("retrieve", retrieve)
    graph.add_node("answer", answer)
    graph.add_node("not_in_docs", not_in_docs)
    graph.add_edge(START, "retrieve")
    graph.add_conditional_edges("retrieve", _route_after_retrieve)
    graph.add_edge("answer", END)
    graph.add_edge("not_in_docs", END)
    return graph.compile(checkpointer=checkpointer)


def _route_after_retrieve(
    state: AnswerState, runtime: Runtime[Deps]
) -> Literal["answer", "not_in_docs"]:
    return after_retrieve(state["hits"], runtime.context.retrieval.min_similarity)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
