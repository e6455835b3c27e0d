"""The DEEP loop's model steps: the seed step, then schema-constrained actions.

1. **Seed** (no free choice for the model): search the docs for the question and each of
   its parts, and let the planner (agent/tool_planning.py) pick internal-tool calls from
   the question alone. All of it runs in parallel in the `act` node.
2. **Action** steps: the model sees the evidence so far, numbered, and replies with one
   JSON action (agent/actions.py): more calls to read-only tools, or an answer as claims,
   which agent/grounding.py checks. A step whose calls were all refused or repeated ends
   the loop: the next step must answer from what was gathered.

The action conversation is rebuilt from state at each step in the same order (system,
question with the first evidence, then each reply and the evidence that followed it), so
the prompt of step n is a prefix of the prompt of step n+1 and the server's prompt cache
reuses it; `llm_steps` records how many prompt tokens each step evaluated and reused.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage

from agent.actions import action_schema, parse_action
from agent.answering import CLAIMS_RULES, EvidenceItem, format_evidence, number_evidence, render
from agent.grounding import check_claims
from agent.history import conversation_history
from agent.prompts import ANSWER_NOW, DEEP_SYSTEM, NEXT_STEP, NO_NEW_EVIDENCE
from agent.state import AgentState, Deps
from agent.tool_facts import add_uncited_tool_results
from agent.tool_planning import describe_tool, plan_tool_calls
from agent.tooling import TOOLS_BY_NAME, Tool, tools_for
from oncall.llm.client import invoke_chat
from oncall.llm.structured import json_schema_bind, llm_usage

_PARTS = re.compile(r"(?<=[?？])\s*|\s*[;；]\s*|\s+and (?=(?:who|what|when|where|which|how)\b)")


def sub_questions(question: str, limit: int = 3) -> list[str]:
    """The question and, when it asks several things, each part (searched in parallel)."""
    # Fragments under five words ("what is the command?") lose their subject: not searched.
    parts = [p.strip(" ,") for p in _PARTS.split(question) if p and len(p.split()) >= 5]
    unique = [question] + [p for p in parts if p != question]
    return unique[: limit + 1] if len(parts) > 1 else [question]


def planner_tools(deps: Deps) -> list[Tool]:
    """What the seed planner may choose: the asker's internal tools, writes included (they
    wait for approval), and summarize_paper. Never run_python: code runs only on the
    computation path, which the question itself selects (agent/compute.py)."""
    offered = tools_for(deps)
    return [t for t in offered if t.name not in TOOLS_BY_NAME or t.name == "summarize_paper"]


def action_tools(deps: Deps) -> list[Tool]:
    """What an action step may call once documents and tool output are in the prompt:
    read-only tools only (search_docs, summarize_paper, read-only internal tools). Text
    from elsewhere must not be able to choose a write or run code (SECURITY.md)."""
    return [t for t in tools_for(deps) if not t.write and t.name != "run_python"]


def seed_update(state: AgentState, deps: Deps) -> dict[str, Any]:
    """The first DEEP step: searches for the question's parts plus the planned calls."""
    calls: list[dict[str, Any]] = [
        {"name": "search_docs", "args": {"query": q}, "id": f"seed_{uuid.uuid4().hex[:8]}"}
        for q in sub_questions(state["question"])
    ]
    update: dict[str, Any] = {"steps": 1}
    tools = planner_tools(deps)
    if tools and deps.agent_settings.plan_internal_tools:
        started = time.perf_counter()
        model = deps.deep_model or deps.chat_model
        planned, reply = plan_tool_calls(model, state["question"], tools)
        writes = {t.name for t in tools if t.write}
        calls += [c for c in planned if c["name"] not in writes]
        # Writes run in a step of their own, after the reads: their approval then comes
        # with the evidence gathered, and a resumed step never re-runs a read.
        update["queued"] = [c for c in planned if c["name"] in writes]
        ms = (time.perf_counter() - started) * 1000
        update["timings_ms"] = _add_ms(state["timings_ms"], "llm", ms)
        if reply is not None:
            update["usage"] = add_usage(state["usage"], reply)
            update["llm_steps"] = [*state.get("llm_steps", []), step_log("plan", reply, ms)]
    update["messages"] = [AIMessage("", tool_calls=calls)]
    return update


def queued_update(state: AgentState) -> dict[str, Any]:
    """The planned writes, as a step of their own (no model call)."""
    return {"messages": [AIMessage("", tool_calls=state["queued"])], "queued": []}


def action_update(state: AgentState, deps: Deps, must_answer: bool) -> dict[str, Any]:
    """One action step (module docstring); `must_answer`: the loop is over, answer now."""
    tools = [] if must_answer else action_tools(deps)
    items = number_evidence(state["hits"])
    messages = action_messages(state, deps, must_answer)
    model = deps.deep_model or deps.chat_model
    bound = json_schema_bind(model, "deep_action", action_schema(tools, len(items)))
    started = time.perf_counter()
    reply = invoke_chat(bound, messages)
    ms = (time.perf_counter() - started) * 1000
    text = str(reply.content)
    action = parse_action(text, tools, [dict(c) for c in reply.tool_calls])
    update: dict[str, Any] = {
        "steps": state["steps"] + 1,
        "timings_ms": _add_ms(state["timings_ms"], "llm", ms),
        "usage": add_usage(state["usage"], reply),
        "llm_steps": [*state.get("llm_steps", []), step_log("action", reply, ms)],
        "actions": [*state.get("actions", []), {"reply": text, "shown": len(items)}],
    }
    if action.kind == "call" and action.calls:
        update["messages"] = [AIMessage("", tool_calls=action.calls)]
        return update
    grounded = check_claims(action.claims, [i.evidence for i in items], state["question"])
    answer, citations = add_uncited_tool_results(*render(grounded, items), items)
    update.update(
        answer=answer,
        citations=citations,
        dropped=[f"{v.claim.text} ({v.reason})" for v in grounded.dropped],
    )
    return update


def action_messages(state: AgentState, deps: Deps, must_answer: bool) -> list[AnyMessage]:
    """The action conversation so far, rebuilt in a prefix-stable order."""
    items = number_evidence(state["hits"])
    listing = "\n".join(describe_tool(t) for t in action_tools(deps)) or "(none)"
    system = DEEP_SYSTEM.format(tools=listing, rules=CLAIMS_RULES)
    history = conversation_history(state["messages"], deps.agent_settings.history_turns)
    limit = deps.agent_settings.max_tool_output_chars
    messages: list[AnyMessage] = [SystemMessage(system), *history]
    shown = 0
    for entry in state.get("actions", []):
        step = _step_text(items[shown : entry["shown"]], state["question"], shown, limit)
        messages += [HumanMessage(step), AIMessage(entry["reply"])]
        shown = entry["shown"]
    tail = _step_text(items[shown:], state["question"], shown, limit)
    messages.append(HumanMessage(f"{tail}\n\n{ANSWER_NOW}" if must_answer else tail))
    return messages


def _step_text(items: list[EvidenceItem], question: str, shown: int, limit: int) -> str:
    evidence = format_evidence(items, limit) if items else NO_NEW_EVIDENCE
    if shown == 0:
        return f"{evidence}\n\nQuestion: {question}"
    return f"{evidence}\n\n{NEXT_STEP}"


def step_log(kind: str, reply: AIMessage, ms: float) -> dict[str, Any]:
    """One model call's cost: prompt tokens evaluated vs reused from the cache."""
    return {"kind": kind, "ms": round(ms, 1), **llm_usage(reply)}


def add_usage(usage: dict[str, int], reply: AIMessage) -> dict[str, int]:
    used = llm_usage(reply)
    return {
        "prompt_tokens": usage.get("prompt_tokens", 0) + used["prompt_tokens"],
        "completion_tokens": usage.get("completion_tokens", 0) + used["completion_tokens"],
        "cached_tokens": usage.get("cached_tokens", 0) + used["cached_tokens"],
    }


def _add_ms(timings: dict[str, float], key: str, ms: float) -> dict[str, float]:
    return {**timings, key: timings.get(key, 0.0) + ms}
