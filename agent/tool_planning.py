"""Choosing internal-tool calls from the user's own words, with one schema-constrained reply.

Native tool calling asks the model to decide, name and format calls unprompted; the small
embedded model mostly answers "I don't know" instead, or writes calls like
`get_oncall(team: 'payments')`. Here the model fills in a JSON object whose schema lists
exactly the offered tools and their argument schemas; the server turns the schema into a
grammar (llama.cpp) or guided decoding (vLLM), so every reply parses and names a real tool.

The planner sees the question and the tool list, never a retrieved document or a tool's
output: it is the only step that may choose a write tool (which then still waits for a
human's approval), so text from elsewhere cannot ask for a write (SECURITY.md).
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agent.actions import MAX_CALLS_PER_ACTION, call_item_schema, valid_calls
from agent.tooling import Tool
from oncall.core.errors import OncallError
from oncall.llm.client import invoke_chat
from oncall.llm.structured import json_schema_bind

log = logging.getLogger(__name__)

MAX_PLANNED_CALLS = MAX_CALLS_PER_ACTION

PLANNER_SYSTEM = """\
You choose which internal tools to call for an engineer's message. Tools:
{tools}

Reply with JSON: {{"calls": [{{"tool": NAME, "args": {{...}}}}]}}. Take argument values from \
the message (service and team names as written there; enum values as listed). Call a tool \
only if it answers part of the message or does what the engineer asks for, once per \
service or team asked about. Reply {{"calls": []}} when no tool is needed: a question \
about documentation or procedures, a calculation, small talk."""


def plan_schema(tools: list[Tool]) -> dict[str, Any]:
    """JSON schema of a plan: up to MAX_PLANNED_CALLS calls, each one of `tools` with its
    own argument schema."""
    return {
        "type": "object",
        "properties": {
            "calls": {
                "type": "array",
                "items": {"anyOf": [call_item_schema(t) for t in tools]},
                "maxItems": MAX_PLANNED_CALLS,
            }
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
    listing = "\n".join(describe_tool(t) for t in tools)
    bound = json_schema_bind(model, "tool_plan", plan_schema(tools))
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
    import json

    try:
        plan = json.loads(text)
    except ValueError:
        return []
    raw = plan.get("calls", []) if isinstance(plan, dict) else []
    return valid_calls(raw, tools, prefix="plan")[:MAX_PLANNED_CALLS]


def describe_tool(tool: Tool) -> str:
    """`- name(arg: type, ...): description`, enum values spelled out, for the prompt."""
    schema = tool.args_model.model_json_schema()
    defs = schema.get("$defs", {})
    args = []
    for name, prop in schema.get("properties", {}).items():
        if "$ref" in prop:
            prop = defs.get(str(prop["$ref"]).split("/")[-1], prop)
        kind = "|".join(map(str, prop["enum"])) if "enum" in prop else prop.get("type", "object")
        optional = "" if name in schema.get("required", []) else "?"
        args.append(f"{name}{optional}: {kind}")
    doc = " ".join((tool.args_model.__doc__ or "").split())[:300] or tool.name
    return f"- {tool.name}({', '.join(args)}): {doc}"
