"""The agent graph: route -> (answer_direct | compute | plan <-> act) -> finalize -> [escalate].

`build_graph()` compiles a fresh graph; nothing is compiled at import. Dependencies arrive
through the runtime context (`Deps`), so the same graph runs on fakes in tests. Routing
functions are pure functions of the state.

Every answer is grounded or silent: DIRECT and DEEP both answer as claims checked against
the evidence they cite (agent/answering.py, agent/grounding.py); a turn with no supported
claim abstains and hands over. DEEP steps are schema-constrained actions (agent/deep.py);
computation questions write and run a program (agent/compute.py).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.acting import CallResult, run_calls
from agent.answering import answer_with_claims, number_evidence, render, tool_hit
from agent.compute import compute_update, wants_computation
from agent.deep import action_update, add_usage, queued_update, seed_update, step_log
from agent.escalation import build_handover, wants_human
from agent.history import conversation_history, retrieval_query
from agent.live_state import asks_live_state
from agent.prompts import NOT_IN_DOCS, clip_middle, wrap_document
from agent.state import AgentState, Deps, ToolCallRecord
from agent.tooling import TOOLS_BY_NAME, tools_for
from oncall.core.redact import redact_text
from tools.search_docs import DocHit


def route(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    started = time.perf_counter()
    question = state["question"]
    router = runtime.context.router
    override = state.get("route_override")
    source = "override" if override else "none"
    if router is not None:
        decision = router.decide(question, override=override)
        chosen, reason, confidence = decision.route, decision.reason, decision.confidence
        source = decision.source
    else:
        chosen = override or "direct"
        reason = "user override" if override else "no router configured"
        confidence = 1.0
    live = chosen == "direct" and source != "override" and asks_live_state(question)
    if live and has_internal_tools(runtime.context):
        chosen, reason = "deep", "asks about live state: the internal tools answer it"
    mode = "docs"
    computes = override != "direct" and code_allowed(runtime.context)
    if computes and wants_computation(question, state.get("attachments") or []):
        chosen, mode = "deep", "compute"
        reason = "a computation: a program runs it in the sandbox"
    return {
        "messages": [HumanMessage(question)],
        "route": chosen,
        "mode": mode,
        "route_reason": reason,
        "route_confidence": confidence,
        "hits": [],
        "steps": 0,
        "tool_calls": [],
        "answer": "",
        "citations": [],
        "dropped": [],
        "actions": [],
        "llm_steps": [],
        "stop": "",
        "queued": [],
        "computation": None,
        "failure": "",
        "abstained": False,
        "escalate_requested": wants_human(question),
        "handover": None,
        "timings_ms": {"route": _ms_since(started)},
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0},
    }


def has_internal_tools(deps: Deps) -> bool:
    """Whether the asker may call any internal tool (catalogue tools its groups allow)."""
    return any(t.name not in TOOLS_BY_NAME for t in tools_for(deps))


def code_allowed(deps: Deps) -> bool:
    """Whether this asker's front end lets code run (a Slack channel's `tools` list may
    leave run_python out). Without a sandbox the compute path still runs, to say so."""
    return deps.allowed_tools is None or "run_python" in deps.allowed_tools


def choose_path(state: AgentState) -> Literal["answer_direct", "plan", "compute"]:
    if state.get("mode") == "compute" and state["route"] == "deep":
        return "compute"
    return "plan" if state["route"] == "deep" else "answer_direct"


def answer_direct(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """One search, one schema-constrained answer, the grounding check."""
    deps = runtime.context
    question = state["question"]
    history = conversation_history(state["messages"], deps.agent_settings.history_turns)
    started = time.perf_counter()
    hits = deps.search(retrieval_query(question, history))
    timings = {**state["timings_ms"], "retrieval": _ms_since(started)}
    if not covers_question(hits, deps.retrieval.min_similarity):
        return {"hits": hits, "answer": "", "timings_ms": timings}
    items = number_evidence(hits)
    outcome = answer_with_claims(deps.chat_model, question, items, history)
    answer, citations = render(outcome.grounded, items)
    usage, steps, llm_ms = state["usage"], list(state.get("llm_steps", [])), 0.0
    for attempt in outcome.attempts:
        usage = add_usage(usage, attempt.reply)
        steps.append(step_log("answer", attempt.reply, attempt.ms))
        llm_ms += attempt.ms
    return {
        "hits": hits,
        "answer": answer,
        "citations": citations,
        "dropped": [f"{v.claim.text} ({v.reason})" for v in outcome.grounded.dropped],
        "timings_ms": {**timings, "llm": llm_ms},
        "usage": usage,
        "llm_steps": steps,
    }


def covers_question(hits: list[DocHit], min_similarity: float) -> bool:
    """Some chunk is close enough to the question to plausibly hold the answer; if none is,
    DIRECT says so without an LLM call."""
    return bool(hits) and max(h.similarity for h in hits) >= min_similarity


def plan(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The seed step first; then one action per step until an answer (agent/deep.py)."""
    deps = runtime.context
    settings = deps.agent_settings
    if state["steps"] == 0:
        return seed_update(state, deps)
    if state.get("queued"):
        return queued_update(state)
    over_budget = state["usage"].get("completion_tokens", 0) >= settings.max_deep_tokens
    must_answer = bool(state.get("stop")) or state["steps"] >= settings.max_steps or over_budget
    return action_update(state, deps, must_answer)


def after_plan(state: AgentState) -> Literal["act", "finalize"]:
    last = state["messages"][-1]
    return "act" if isinstance(last, AIMessage) and last.tool_calls else "finalize"


def act(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Run the step's calls (agent/acting.py) and add what they found to the evidence."""
    deps = replace(runtime.context, thread_id=_thread_id(runtime))
    calls = [dict(c) for c in state["messages"][-1].tool_calls]  # type: ignore[union-attr]
    started = time.perf_counter()
    results = run_calls(deps, calls, state["tool_calls"], state["question"])
    hits = add_evidence(state["hits"], results, deps)
    progressed = any(r.output is not None for r in results)
    messages = [ToolMessage(_tool_note(r), tool_call_id=r.call["id"]) for r in results]
    return {
        "messages": messages,
        "tool_calls": [*state["tool_calls"], *(r.record for r in results)],
        "hits": hits,
        # Nothing new came back (every call refused, repeated or failed): answer now
        # from what was gathered instead of letting the model try again to max_steps.
        "stop": state.get("stop") or ("" if progressed else "no call made progress"),
        "timings_ms": {**state["timings_ms"], "tools": _ms_since(started)},
    }


def add_evidence(hits: list[DocHit], results: list[CallResult], deps: Deps) -> list[DocHit]:
    """`hits` plus new passages (each chunk once, within the passage and character budget)
    and each tool's result or error, in call order."""
    settings = deps.agent_settings
    out = list(hits)
    seen = {h.chunk_id for h in out}
    used = sum(len(h.text) for h in out)
    passages = sum(not h.chunk_id.startswith("tool:") for h in out)
    for result in results:
        if result.refused:  # never ran: nothing to show (the call record says why)
            continue
        if result.output is None:
            text = f"error: {result.error}"
        elif result.output.hits and result.call["name"] == "search_docs":
            for hit in result.output.hits:
                fits = used + len(hit.text) <= settings.context_chars
                if hit.chunk_id in seen or not fits or passages >= settings.max_passages:
                    continue
                out.append(hit)
                seen.add(hit.chunk_id)
                used += len(hit.text)
                passages += 1
            continue
        elif result.output.hits:  # papers: their notes are citable passages
            out.extend(h for h in result.output.hits if h.chunk_id not in seen)
            continue
        else:
            text = result.output.text
        text = clip_middle(redact_text(text, deps.known_secrets), settings.max_tool_output_chars)
        out.append(tool_hit(result.call["id"], result.call["name"], result.call["args"], text))
    return out


def tool_evidence(calls: list[ToolCallRecord]) -> list[str]:
    """Names of the non-search tools that answered (internal tools, computations)."""
    return list(dict.fromkeys(c.name for c in calls if c.ok and c.name != "search_docs"))


def format_hits(hits: list[DocHit]) -> str:
    return "\n\n".join(wrap_document(h.text, h.location) for h in hits)


def _tool_note(result: CallResult) -> str:
    if result.output is None:
        return f"Error: {result.error}"
    if result.output.hits:
        return f"{len(result.output.hits)} passages"
    return "ok"


def finalize(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The checked answer, or an abstention; both decide whether to escalate. Secrets the
    model repeated (from a document, a tool, or made up) are cut before anyone sees it."""
    text = redact_text(state.get("answer", "").strip(), runtime.context.known_secrets)
    if state.get("failure"):
        failure = redact_text(state["failure"], runtime.context.known_secrets)
        return {"answer": failure, "abstained": True, "messages": [AIMessage(failure)]}
    if not text or not state.get("citations"):
        return {
            "answer": NOT_IN_DOCS,
            "abstained": True,
            "citations": [],
            "messages": [AIMessage(NOT_IN_DOCS)],
        }
    return {"answer": text, "abstained": False, "messages": [AIMessage(text)]}


def needs_escalation(state: AgentState) -> Literal["escalate", "__end__"]:
    """Hand over when no claim was supported or the user asked for a human."""
    if state["abstained"] or not state["citations"] or state["escalate_requested"]:
        return "escalate"
    return "__end__"


def escalate(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    return {"handover": build_handover(state, runtime.context.agent_settings.escalation_contact)}


def compute(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = replace(runtime.context, thread_id=_thread_id(runtime))
    return compute_update(state, deps)


def build_graph(checkpointer: Any = None) -> Any:
    graph = StateGraph(AgentState, context_schema=Deps)
    graph.add_node("route", route)
    graph.add_node("answer_direct", answer_direct)
    graph.add_node("compute", compute)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("finalize", finalize)
    graph.add_node("escalate", escalate)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", choose_path)
    graph.add_edge("answer_direct", "finalize")
    graph.add_edge("compute", "finalize")
    graph.add_conditional_edges("plan", after_plan)
    graph.add_edge("act", "plan")
    graph.add_conditional_edges("finalize", needs_escalation)
    graph.add_edge("escalate", END)
    return graph.compile(checkpointer=checkpointer)


def _thread_id(runtime: Runtime[Deps]) -> str:
    """The LangGraph thread id; a graph run without one gets a kernel for this step only."""
    info = runtime.execution_info
    return (info.thread_id if info else None) or f"run-{__import__('uuid').uuid4().hex}"


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


__all__ = ["build_graph", "covers_question", "render"]
