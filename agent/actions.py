"""A DEEP step as one schema-constrained action: call tools, or answer with claims.

The schema is built from the tools offered to this asker at this step: each call names one
of them (`const`) with that tool's own argument schema, so a grammar-constrained reply can
only name an offered tool with well-typed arguments; the answer branch is the claims schema
of agent/answering.py over the evidence shown so far. Nothing is parsed out of free text.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.answering import claims_schema, parse_claims
from agent.grounding import Claim

if TYPE_CHECKING:
    from agent.tooling import Tool

MAX_CALLS_PER_ACTION = 3


@dataclass
class Action:
    kind: str  # "call" or "answer"
    calls: list[dict[str, Any]] = field(default_factory=list)  # LangChain tool-call dicts
    claims: list[Claim] = field(default_factory=list)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every local `$ref` replaced by its definition and `$defs` removed, so
    it can be nested inside another schema (pydantic puts nested models under `$defs`)."""
    defs = schema.get("$defs", {})

    def resolve(node: Any, depth: int = 0) -> Any:
        if depth > 20:  # our argument models are not recursive; stop a cycle anyway
            return {}
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = copy.deepcopy(defs.get(ref.split("/")[-1], {}))
                merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
                return resolve(merged, depth + 1)
            return {k: resolve(v, depth) for k, v in node.items() if k not in ("$defs", "title")}
        if isinstance(node, list):
            return [resolve(v, depth) for v in node]
        return node

    return resolve(schema)


def call_item_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "tool": {"const": tool.name},
            "args": inline_refs(tool.args_model.model_json_schema()),
        },
        "required": ["tool", "args"],
    }


def calls_schema(tools: list[Tool], max_calls: int = MAX_CALLS_PER_ACTION) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": max_calls,
        "items": {"anyOf": [call_item_schema(t) for t in tools]},
    }


def action_schema(tools: list[Tool], n_evidence: int) -> dict[str, Any]:
    """Either `{"action": "call", "calls": [...]}` over `tools`, or `{"action": "answer",
    "claims": [...]}` over evidence 1..n_evidence. No tools: answering is the only action."""
    answer = {
        "type": "object",
        "properties": {
            "action": {"const": "answer"},
            "claims": claims_schema(n_evidence)["properties"]["claims"],
        },
        "required": ["action", "claims"],
    }
    if not tools:
        return answer
    call = {
        "type": "object",
        "properties": {"action": {"const": "call"}, "calls": calls_schema(tools)},
        "required": ["action", "calls"],
    }
    return {"anyOf": [call, answer]}


def parse_action(
    text: str, tools: list[Tool], native_calls: list[dict[str, Any]] | None = None
) -> Action:
    """The action in a reply. Calls to tools not offered, or with arguments their schema
    refuses, are dropped (a server without constrained decoding may send them). A model
    that answers with native tool calls instead (OpenAI-style `tool_calls`) is understood
    too; a prose reply is an answer read sentence by sentence (answering.parse_claims)."""
    if native_calls:
        raw = [{"tool": c.get("name"), "args": c.get("args")} for c in native_calls]
        calls = valid_calls(raw, tools)
        if calls:
            return Action("call", calls=calls)
    try:
        data = json.loads(text)
    except ValueError:
        return Action("answer", claims=parse_claims(text))
    if not isinstance(data, dict):
        return Action("answer")
    if data.get("action") == "call":
        return Action("call", calls=valid_calls(data.get("calls"), tools))
    return Action("answer", claims=parse_claims(json.dumps({"claims": data.get("claims", [])})))


def valid_calls(raw: Any, tools: list[Tool], prefix: str = "call") -> list[dict[str, Any]]:
    """LangChain tool-call dicts for the well-formed, distinct items of `raw`."""
    by_name = {t.name: t for t in tools}
    calls: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw if isinstance(raw, list) else []:
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
        key = call_key(tool.name, args)
        if key not in seen:
            seen.add(key)
            calls.append(
                {"name": tool.name, "args": args, "id": f"{prefix}_{uuid.uuid4().hex[:8]}"}
            )
    return calls


def call_key(name: str, args: dict[str, Any]) -> str:
    """Identity of a call, for "this exact call was already made"."""
    return json.dumps([name, args], sort_keys=True)
