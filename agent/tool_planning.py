"""Choosing internal-tool calls with one schema-constrained reply, for models too small to
call tools on their own.

Native tool calling asks the model to decide, name and format calls unprompted; the small
embedded model mostly answers "I don't know" instead, or writes calls like
`get_oncall(team: 'payments')`. Here the model fills in a JSON object whose schema lists
exactly the offered tools and their argument schemas; the server turns the schema into a
grammar (llama.cpp) or guided decoding (vLLM), so every reply parses and names a real tool.
The planned calls join the first DEEP step's searches, run through the normal `act` node,
and writes among them still wait for a human.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agent.tooling import Tool
from oncall.core.errors import OncallError
from oncall.llm.client import invoke_chat

log = logging.getLogger(__name__)

MAX_PLANNED_CALLS = 3

PLANNER_SYSTEM = """\
You pick which internal tools to call to answer an engineer's question. Tools:
{tools}

Reply with JSON: {{"calls": [{{"tool": NAME, "args": {{...}}}}]}}. Take argument values from \
the question (service and team names as written there). Only call a tool that directly \
answers part of the question; reply {{"calls": []}} when none does."""


def plan_schema(tools: list[Tool]) -> dict[str, Any]:
    """JSON schema of a plan: up to MAX_PLANNED_CALLS calls, each one of `tools` with its
    own argument schema."""
    variants = []
    for tool in tools:
        args = tool.args_model.model_json_schema()
        args.pop("title", None)
        variants.append(
            {
                "type": "object",
                "properties": {"tool": {"const": tool.name}, "args": args},
                "required": ["tool", "args"],
            }
        )
    return {
        "type": "object",
        "properties": {
            "calls": {"type": "array", "items": {"anyOf": variants}, "maxItems": MAX_PLANNED_CALLS}
        },
        "required": ["calls"],
    }


def plan_tool_calls(
    model: Any, question: str, tools: list[Tool]
) -> tuple[list[dict[str, Any]], AIMessage | None]:
    """Tool calls (LangChain dicts) the model plans for `question`, and its raw reply (for
    usage accounting). Any failure plans nothing: the DEEP loop still runs."""
    if not tools:
        return [], None
    listing = "\n".join(f"- {t.name}: {_describe(t)}" for t in tools)
    schema = plan_schema(tools)
    bound = model.bind(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "tool_plan", "schema": schema, "strict": True},
        }
    )
    messages = [SystemMessage(PLANNER_SYSTEM.format(tools=listing)), HumanMessage(question)]
    try:
        reply = invoke_chat(bound, messages)
    except OncallError as exc:
        if exc.code in {"llm_unreachable", "llm_timeout"}:
            raise  # the loop's own call would fail the same way: say so once
        log.warning("tool planning failed (%s); continuing without planned calls", exc)
        return [], None
    return parse_plan(str(reply.content), tools), reply


def parse_plan(text: str, tools: list[Tool]) -> list[dict[str, Any]]:
    """Valid calls from a plan reply; unknown tools and invalid arguments are dropped."""
    try:
        plan = json.loads(text)
    except ValueError:
        return []
    by_name = {t.name: t for t in tools}
    calls: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in plan.get("calls", []) if isinstance(plan, dict) else []:
        if not isinstance(item, dict):
            continue
        tool = by_name.get(str(item.get("tool")))
        args = item.get("args")
        if tool is None or not isinstance(args, dict):
            continue
        try:
            tool.args_model.model_validate(args)
        except ValueError:
            continue
        key = json.dumps([tool.name, args], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        calls.append({"name": tool.name, "args": args, "id": f"plan_{uuid.uuid4().hex[:8]}"})
    return calls[:MAX_PLANNED_CALLS]


def _describe(tool: Tool) -> str:
    doc = " ".join((tool.args_model.__doc__ or "").split())
    return doc[:300] or tool.name
