"""The agent graph: route -> (answer_direct | plan <-> act) -> finalize -> [escalate].

`build_graph()` compiles a fresh graph; nothing is compiled at import. Dependencies arrive
through the runtime context (`Deps`), so the same graph runs on fakes in tests. Routing
functions are pure functions of the state.

DEEP starts with a planned step that searches the docs for the question and each of its
parts in parallel, so there is evidence even when the model cannot call tools itself (the
0.5B default mostly cannot); the model then may call more tools until it answers, the step
limit or the token budget is reached.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.approvals import rejection_message, request_approvals
from agent.citations import attribute
from agent.escalation import build_handover, wants_human
from agent.prompts import (
    ANSWER_NOW,
    DEEP_SYSTEM,
    DIRECT_SYSTEM,
    NOT_IN_DOCS,
    direct_user_message,
    wrap_document,
    wrap_tool_output,
)
from agent.state import AgentState, Deps, ToolCallRecord
from agent.tool_planning import plan_tool_calls
from agent.tooling import TOOLS_BY_NAME, Tool, ToolOutput, execute_tool_call, tools_for
from oncall.core.errors import ToolError
from oncall.core.redact import redact_text
from oncall.llm.client import invoke_chat
from oncall.llm.toolcalls import MALFORMED, with_fallback_tool_calls, with_malformed_tool_calls
from tools.search_docs import DocHit

FOLLOW_UP_WORDS = 8  # a question this short after earlier turns is read with the last one


def route(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    started = time.perf_counter()
    question = state["question"]
    router = runtime.context.router
    override = state.get("route_override")
    if router is not None:
        decision = router.decide(question, override=override)
        chosen, reason, confidence = decision.route, decision.reason, decision.confidence
    else:
        chosen = override or "direct"
        reason = "user override" if override else "no router configured"
        confidence = 1.0
    return {
        "messages": [HumanMessage(question)],
        "route": chosen,
        "route_reason": reason,
        "route_confidence": confidence,
        "hits": [],
        "steps": 0,
        "tool_calls": [],
        "answer": "",
        "citations": [],
        "abstained": False,
        "escalate_requested": wants_human(question),
        "handover": None,
        "timings_ms": {"route": _ms_since(started)},
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
    }


def choose_path(state: AgentState) -> Literal["answer_direct", "plan"]:
    return "plan" if state["route"] == "deep" else "answer_direct"


def answer_direct(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    question = state["question"]
    history = conversation_history(state["messages"], deps.agent_settings.history_turns)
    started = time.perf_counter()
    hits = deps.search(retrieval_query(question, history))
    timings = {**state["timings_ms"], "retrieval": _ms_since(started)}
    if not covers_question(hits, deps.retrieval.min_similarity):
        return {"hits": hits, "answer": NOT_IN_DOCS, "timings_ms": timings}
    messages = [
        SystemMessage(DIRECT_SYSTEM),
        *history,
        HumanMessage(direct_user_message(question, hits)),
    ]
    reply, llm_ms = _timed_chat(deps.chat_model, messages)
    text = str(reply.content).strip()
    return {
        "hits": hits,
        "answer": text,
        "messages": [AIMessage(text)],
        "timings_ms": {**timings, "llm": llm_ms},
        "usage": _add_usage(state["usage"], reply),
    }


def covers_question(hits: list[DocHit], min_similarity: float) -> bool:
    """Some chunk is close enough to the question to plausibly hold the answer; if none is,
    DIRECT says so without an LLM call."""
    return bool(hits) and max(h.similarity for h in hits) >= min_similarity


def plan(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    settings = deps.agent_settings
    steps = state["steps"]
    if steps == 0:
        return _seed_step(state, deps)
    history = conversation_history(state["messages"], settings.history_turns)
    turn = _current_turn(state["messages"])
    budget_left = settings.max_deep_tokens - state["usage"]["completion_tokens"]
    may_call_tools = steps < settings.max_steps and budget_left > 0
    model: Any = deps.deep_model or deps.chat_model
    messages: list[AnyMessage] = [SystemMessage(DEEP_SYSTEM), *history, *turn]
    offered = tools_for(deps)  # only what this asker may use
    if may_call_tools:
        model = model.bind_tools([t.schema for t in offered])
    else:
        messages.append(HumanMessage(ANSWER_NOW))
    reply, llm_ms = _timed_chat(model, messages)
    if may_call_tools:
        reply = with_fallback_tool_calls(reply, {t.name for t in offered})
        reply = with_malformed_tool_calls(reply)
    else:
        reply = AIMessage(str(reply.content), usage_metadata=reply.usage_metadata)
    timings = dict(state["timings_ms"])
    timings["llm"] = timings.get("llm", 0.0) + llm_ms
    update: dict[str, Any] = {
        "messages": [reply],
        "steps": steps + 1,
        "timings_ms": timings,
        "usage": _add_usage(state["usage"], reply),
    }
    if not reply.tool_calls:
        update["answer"] = str(reply.content).strip()
    return update


def _seed_step(state: AgentState, deps: Deps) -> dict[str, Any]:
    """The first DEEP step, made without the model deciding: search the docs for the
    question and each of its parts, plus (when a catalogue offers read-only internal tools)
    the calls a schema-constrained planning reply picks. All run in parallel in `act`."""
    calls: list[Any] = [
        {"name": "search_docs", "args": {"query": q}, "id": f"seed_{uuid.uuid4().hex[:8]}"}
        for q in sub_questions(state["question"])
    ]
    update: dict[str, Any] = {"steps": 1}
    readable = [t for t in tools_for(deps) if t.name not in TOOLS_BY_NAME and not t.write]
    if readable and deps.agent_settings.plan_internal_tools:
        started = time.perf_counter()
        model = deps.deep_model or deps.chat_model
        planned, reply = plan_tool_calls(model, state["question"], readable)
        calls += planned
        timings = dict(state["timings_ms"])
        timings["llm"] = timings.get("llm", 0.0) + _ms_since(started)
        update["timings_ms"] = timings
        if reply is not None:
            update["usage"] = _add_usage(state["usage"], reply)
    update["messages"] = [AIMessage("", tool_calls=calls)]
    return update


def after_plan(state: AgentState) -> Literal["act", "finalize"]:
    last = state["messages"][-1]
    return "act" if isinstance(last, AIMessage) and last.tool_calls else "finalize"


def act(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Run the last message's tool calls in parallel; errors go back to the model."""
    deps = replace(runtime.context, thread_id=_thread_id(runtime))
    calls = state["messages"][-1].tool_calls  # type: ignore[union-attr]
    cap = deps.agent_settings.max_tool_calls_per_step
    # Writes wait for a human before anything runs (the node re-runs on resume).
    writes = _writes_to_approve(calls[:cap], {t.name: t for t in tools_for(deps)})
    decisions = request_approvals(writes, deps, state["question"])
    _audit_decisions(deps, writes, decisions)
    started = time.perf_counter()

    done = {(c.name, json.dumps(c.args, sort_keys=True)) for c in state["tool_calls"]}

    def run_one(call: dict[str, Any]) -> tuple[ToolCallRecord, ToolOutput | str]:
        t0 = time.perf_counter()
        try:
            _check_call(call, calls, cap)
            if (call["name"], json.dumps(call["args"], sort_keys=True)) in done:
                raise ToolError("this exact call was already made; use its result above")
            decision = decisions.get(call["id"])
            if decision is not None and decision["status"] != "approved":
                raise ToolError(rejection_message(call["name"], decision))
            out = execute_tool_call(deps, call["name"], call["args"], approved=decision is not None)
        except ToolError as exc:
            return ToolCallRecord(call["name"], call["args"], False, _ms_since(t0), []), str(exc)
        ids = [h.chunk_id for h in out.hits]
        files = [str(f) for f in out.files]
        return ToolCallRecord(call["name"], call["args"], True, _ms_since(t0), ids, files), out

    with ThreadPoolExecutor(max_workers=deps.agent_settings.max_parallel_tools) as pool:
        results = list(pool.map(run_one, calls))

    # Each chunk is shown to the model once per question, within the context budget.
    hits = list(state["hits"])
    seen = {h.chunk_id for h in hits}
    used = sum(
        len(str(m.content)) for m in _current_turn(state["messages"]) if isinstance(m, ToolMessage)
    )
    budget = max(0, deps.agent_settings.context_chars - used)
    messages = []
    for call, (_, out) in zip(calls, results, strict=True):
        if isinstance(out, str):
            text = f"Error: {out}"
        elif out.hits:
            new = [h for h in out.hits if h.chunk_id not in seen]
            shown, budget = _fit_hits(new, budget)
            seen.update(h.chunk_id for h in shown)
            hits.extend(shown)
            text = format_hits(shown) or "Nothing new: the matching passages are shown above."
        elif call["name"] == "search_docs":
            text = out.text  # "No passages found": our own words
        else:  # data from elsewhere: bounded, tagged as data
            text = wrap_tool_output(
                call["name"], out.text, deps.agent_settings.max_tool_output_chars
            )
        content = redact_text(text, deps.known_secrets)
        messages.append(ToolMessage(content, tool_call_id=call["id"]))
    timings = dict(state["timings_ms"])
    timings["tools"] = timings.get("tools", 0.0) + _ms_since(started)
    return {
        "messages": messages,
        "tool_calls": [*state["tool_calls"], *(r for r, _ in results)],
        "hits": hits,
        "timings_ms": timings,
    }


def _check_call(call: dict[str, Any], calls: list[Any], cap: int) -> None:
    """Refuse, as an error for the model, a call past the per-step cap or one whose
    arguments did not parse."""
    if MALFORMED in call["args"]:
        raise ToolError(
            f"the arguments of this {call['name']} call are not a valid JSON object "
            f"({call['args'][MALFORMED]}); call it again with a JSON object"
        )
    if cap < len(calls) and call in calls[cap:]:
        raise ToolError(
            f"not run: {len(calls)} tool calls in one step, at most {cap} run; "
            "call again only what you still need"
        )


def _thread_id(runtime: Runtime[Deps]) -> str:
    """The LangGraph thread id; a graph run without one gets a kernel for this step only."""
    info = runtime.execution_info
    return (info.thread_id if info else None) or f"run-{uuid.uuid4().hex}"


def _writes_to_approve(calls: list[Any], tools: dict[str, Tool]) -> list[tuple[Any, str]]:
    """(call, description) for each write call with valid arguments: invalid ones go back
    to the model as errors without bothering a human."""
    writes = []
    for call in calls:
        tool = tools.get(call["name"])
        if tool is None or not tool.write or MALFORMED in call["args"]:
            continue
        try:
            tool.args_model.model_validate(call["args"])
        except ValueError:
            continue
        writes.append((call, tool.args_model.__doc__ or ""))
    return writes


def _audit_decisions(
    deps: Deps, writes: list[tuple[Any, str]], decisions: dict[str, dict[str, Any]]
) -> None:
    if deps.catalogue is None:
        return
    for call, _ in writes:
        decision = decisions[call["id"]]
        deps.catalogue.record_decision(
            call["name"], call["args"], deps.principal, decision["status"], decision["approver"]
        )


def finalize(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Citations for the answer, or an abstention; both decide whether to escalate. Secrets
    the model repeated (from a document, a tool, or made up) are cut before anyone sees it."""
    text = redact_text(state.get("answer", "").strip(), runtime.context.known_secrets)
    abstained = not text or NOT_IN_DOCS.lower().rstrip(".") in text.lower()
    if abstained:
        return {"answer": text or NOT_IN_DOCS, "abstained": True, "citations": []}
    text, citations = attribute(text, state["hits"], state["question"])
    return {"answer": text, "citations": citations, "abstained": False}


def needs_escalation(state: AgentState) -> Literal["escalate", "__end__"]:
    """Hand over when the docs did not answer, no source supports the answer (a cited
    chunk, or a successful internal-tool result), or the user asked for a human."""
    supported = bool(state["citations"]) or bool(tool_evidence(state["tool_calls"]))
    if state["abstained"] or not supported or state["escalate_requested"]:
        return "escalate"
    return "__end__"


def tool_evidence(calls: list[ToolCallRecord]) -> list[str]:
    """Names of the non-search tools that answered (internal tools, computations): their
    results are evidence even though they have no chunk to cite."""
    return list(dict.fromkeys(c.name for c in calls if c.ok and c.name != "search_docs"))


def escalate(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    return {"handover": build_handover(state, runtime.context.agent_settings.escalation_contact)}


def build_graph(checkpointer: Any = None) -> Any:
    graph = StateGraph(AgentState, context_schema=Deps)
    graph.add_node("route", route)
    graph.add_node("answer_direct", answer_direct)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("finalize", finalize)
    graph.add_node("escalate", escalate)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", choose_path)
    graph.add_edge("answer_direct", "finalize")
    graph.add_conditional_edges("plan", after_plan)
    graph.add_edge("act", "plan")
    graph.add_conditional_edges("finalize", needs_escalation)
    graph.add_edge("escalate", END)
    return graph.compile(checkpointer=checkpointer)


# --- helpers (pure) -----------------------------------------------------------------


def conversation_history(messages: list[AnyMessage], turns: int) -> list[AnyMessage]:
    """Earlier questions and final answers (no tool traffic), at most `turns` pairs; the
    current question (the last human message) is excluded."""
    earlier = messages[: _last_human_index(messages)]
    pairs: list[AnyMessage] = [
        m
        for m in earlier
        if isinstance(m, HumanMessage)
        or (isinstance(m, AIMessage) and not m.tool_calls and str(m.content).strip())
    ]
    return pairs[-2 * turns :] if turns else []


def retrieval_query(question: str, history: list[AnyMessage]) -> str:
    """A short follow-up ("and how long does it take?") is searched together with the
    previous question, which names what "it" is."""
    previous = [m for m in history if isinstance(m, HumanMessage)]
    if previous and len(question.split()) <= FOLLOW_UP_WORDS:
        return f"{previous[-1].content} {question}"
    return question


_PARTS = re.compile(r"(?<=[?？])\s*|\s*[;；]\s*|\s+and (?=(?:who|what|when|where|which|how)\b)")


def sub_questions(question: str, limit: int = 3) -> list[str]:
    """The question and, when it asks several things, each part (searched in parallel)."""
    # Fragments under five words ("what is the command?") lose their subject: not searched.
    parts = [p.strip(" ,") for p in _PARTS.split(question) if p and len(p.split()) >= 5]
    unique = [question] + [p for p in parts if p != question]
    return unique[: limit + 1] if len(parts) > 1 else [question]


def format_hits(hits: list[DocHit]) -> str:
    return "\n\n".join(wrap_document(h.text, h.location) for h in hits)


def _fit_hits(hits: list[DocHit], budget: int) -> tuple[list[DocHit], int]:
    """The leading hits whose text fits in `budget` characters, and the budget left."""
    shown = []
    for hit in hits:
        cost = len(hit.text) + len(hit.location) + 16
        if cost > budget:
            break
        shown.append(hit)
        budget -= cost
    return shown, budget


def _current_turn(messages: list[AnyMessage]) -> list[AnyMessage]:
    return messages[_last_human_index(messages) :]


def _last_human_index(messages: list[AnyMessage]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return i
    return 0


def _timed_chat(model: Any, messages: list[AnyMessage]) -> tuple[AIMessage, float]:
    started = time.perf_counter()
    reply = invoke_chat(model, messages)
    return reply, _ms_since(started)


def _add_usage(usage: dict[str, int], reply: AIMessage) -> dict[str, int]:
    meta: dict[str, Any] = dict(reply.usage_metadata or {})
    return {
        "prompt_tokens": usage["prompt_tokens"] + int(meta.get("input_tokens", 0)),
        "completion_tokens": usage["completion_tokens"] + int(meta.get("output_tokens", 0)),
    }


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
