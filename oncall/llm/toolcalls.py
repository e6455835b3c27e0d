"""Recover tool calls that small models write as JSON text instead of `tool_calls`.

Qwen2.5 0.5B/1.5B often answer a tools request with ```json {"name": ..., "arguments": ...}```
or a `<tool_call>` block in `content`. Only names of tools actually offered are accepted, so
a JSON answer that merely looks like a call is left alone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from typing import Any

from langchain_core.messages import AIMessage

_BLOCK = re.compile(r"```(?:json)?\s*(.*?)```|<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def parse_json_tool_calls(content: str, tool_names: Collection[str]) -> list[dict[str, Any]]:
    """Tool calls found in `content`, in LangChain's `{"name", "args", "id"}` form."""
    candidates = [a or b for a, b in _BLOCK.findall(content)] or [content]
    calls: list[dict[str, Any]] = []
    for text in candidates:
        for obj in _json_objects(text.strip()):
            name = obj.get("name") or obj.get("tool") or obj.get("function")
            args = obj.get("arguments", obj.get("args", obj.get("parameters", {})))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    continue
            if name in tool_names and isinstance(args, dict):
                calls.append({"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}"})
    return calls


def with_fallback_tool_calls(reply: AIMessage, tool_names: Collection[str]) -> AIMessage:
    """The reply itself when it has tool calls (or none can be recovered), else a copy with
    the recovered calls and the JSON removed from its content."""
    if reply.tool_calls or not isinstance(reply.content, str):
        return reply
    calls = parse_json_tool_calls(reply.content, tool_names)
    if not calls:
        return reply
    return AIMessage(content="", tool_calls=calls, usage_metadata=reply.usage_metadata)


MALFORMED = "__malformed__"  # argument key marking a call whose arguments did not parse


def with_malformed_tool_calls(reply: AIMessage) -> AIMessage:
    """A reply whose only tool calls were malformed (arguments not a JSON object: the
    OpenAI client puts those in `invalid_tool_calls`) as one whose calls carry the parse
    error under `MALFORMED`: the graph answers each with an error the model can correct,
    instead of taking the empty reply for the final answer."""
    if reply.tool_calls or not reply.invalid_tool_calls:
        return reply
    calls = [
        {
            "name": str(bad.get("name") or "unknown"),
            "args": {MALFORMED: str(bad.get("error") or "arguments are not a JSON object")},
            "id": bad.get("id") or f"call_{uuid.uuid4().hex[:12]}",
        }
        for bad in reply.invalid_tool_calls
    ]
    return AIMessage(content=reply.content, tool_calls=calls, usage_metadata=reply.usage_metadata)


def _json_objects(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        # One object per line is the other common shape.
        value = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    value.append(json.loads(line))
                except ValueError:
                    continue
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]
